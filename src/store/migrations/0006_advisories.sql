-- 0006: advisories (issue 14). An advisory is fed by one or more reports; its
-- credits are never stored here: they are read from each report's recorded
-- consent (reports.credit) whenever the advisory is shown or exported.
CREATE TABLE advisories (
    id                INTEGER PRIMARY KEY,
    advisory_id       TEXT NOT NULL UNIQUE,          -- PREFIX-YYYY-NNNN
    year              INTEGER NOT NULL,
    seq               INTEGER NOT NULL,
    status            TEXT NOT NULL DEFAULT 'draft', -- draft | review | published
    title             TEXT NOT NULL,
    product           TEXT NOT NULL,
    component         TEXT,
    affected_versions TEXT NOT NULL DEFAULT '[]',    -- JSON array of version texts ("2.3.0", "<2.4.1")
    fixed_versions    TEXT NOT NULL DEFAULT '[]',    -- JSON array
    cwe               TEXT,                          -- CWE-NNN
    cwe_name          TEXT,
    cvss_v31          TEXT,                          -- canonical vector
    cvss_v40          TEXT,
    description       TEXT,
    remediation       TEXT,
    cve_id            TEXT,
    disclosure_at     TEXT NOT NULL,                 -- agreed disclosure date (embargo end)
    published_at      TEXT,
    revisions         TEXT NOT NULL DEFAULT '[]',    -- JSON [{number, date, summary}] of published revisions
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (year, seq)
);

CREATE TABLE advisory_reports (
    advisory_row INTEGER NOT NULL REFERENCES advisories(id),
    report_id    INTEGER NOT NULL REFERENCES reports(id),
    PRIMARY KEY (advisory_row, report_id)
);
CREATE INDEX advisory_reports_report ON advisory_reports(report_id);

-- The agreed disclosure date of a report; NULL = received_at + advisory.disclosure_days.
ALTER TABLE reports ADD COLUMN disclosure_at TEXT;

-- Which advisory an outbox row (publish notice, disclosure reminder) is about.
ALTER TABLE outbox ADD COLUMN advisory_row INTEGER REFERENCES advisories(id);
-- Milestone mails, publish notices and disclosure reminders go out once per
-- report (and advisory): the database refuses a second row.
CREATE UNIQUE INDEX outbox_once ON outbox(report_id, kind, COALESCE(advisory_row, 0))
    WHERE kind IN ('milestone_triaged', 'milestone_fixing', 'milestone_fixed',
                   'advisory_published', 'disclosure_reminder');

-- 0001: the initial schema. Migrations run in order at startup; never edit a
-- shipped migration, add a new numbered file instead.

-- The exact bytes as fetched. For an encrypted report this is the ciphertext:
-- plaintext of an encrypted report is never stored.
CREATE TABLE raw_messages (
    id       INTEGER PRIMARY KEY,
    sha256   TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    bytes    BLOB NOT NULL
);

CREATE TABLE reporters (
    id              INTEGER PRIMARY KEY,
    address         TEXT NOT NULL UNIQUE,          -- lower-case
    display_name    TEXT,
    key_fingerprint TEXT,                          -- pinned OpenPGP key
    key_armored     TEXT,
    key_source      TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE reports (
    id                     INTEGER PRIMARY KEY,
    tracking_id            TEXT NOT NULL UNIQUE,
    year                   INTEGER NOT NULL,
    seq                    INTEGER NOT NULL,
    reporter_id            INTEGER REFERENCES reporters(id),
    status                 TEXT NOT NULL DEFAULT 'new',
    subject                TEXT,                   -- NULL when the report was encrypted
    encrypted              INTEGER NOT NULL DEFAULT 0,
    thread_message_id      TEXT,                   -- Message-ID of the first report mail
    component              TEXT,
    component_evidence     TEXT NOT NULL DEFAULT '[]',
    out_of_scope           TEXT,
    out_of_scope_evidence  TEXT NOT NULL DEFAULT '[]',
    missing                TEXT NOT NULL DEFAULT '[]',
    signals                TEXT NOT NULL DEFAULT '[]',
    cvss_version           TEXT,
    cvss_vector            TEXT,
    cvss_score             REAL,
    severity               TEXT NOT NULL DEFAULT 'unknown',
    critical               INTEGER NOT NULL DEFAULT 0,
    fingerprint            TEXT,                   -- JSON, for near-duplicate detection
    body_sha256            TEXT,                   -- exact-duplicate detection
    possible_duplicate_of  TEXT,                   -- tracking id; never shown to the reporter
    references_report      TEXT,                   -- tracking id a stranger's mail referenced
    needs_review           INTEGER NOT NULL DEFAULT 0,
    review_reason          TEXT,
    assignee               TEXT,
    credit                 TEXT,                   -- JSON Credit
    received_at            TEXT NOT NULL,
    ack_due                TEXT NOT NULL,
    assessment_due         TEXT NOT NULL,
    acked_at               TEXT,
    assessed_at            TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX reports_status ON reports(status);
CREATE INDEX reports_thread ON reports(thread_message_id);
CREATE INDEX reports_body ON reports(body_sha256);

CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    raw_id             INTEGER NOT NULL REFERENCES raw_messages(id),
    source             TEXT NOT NULL,              -- imap | ingest | import
    mailbox            TEXT,
    uidvalidity        INTEGER,
    uid                INTEGER,
    imap_marked        INTEGER NOT NULL DEFAULT 0, -- 1 once the keyword/move is done
    message_id         TEXT,
    from_address       TEXT,
    subject            TEXT,                       -- NULL when encrypted
    status             TEXT NOT NULL,              -- report | followup | duplicate | ignored | quarantined
    reason             TEXT,
    report_id          INTEGER REFERENCES reports(id),
    encrypted          INTEGER NOT NULL DEFAULT 0,
    signature          TEXT NOT NULL DEFAULT 'none',
    signer_fingerprint TEXT,
    body_text          TEXT,                       -- NULL when encrypted
    received_at        TEXT NOT NULL,
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_report ON messages(report_id);
CREATE INDEX messages_unmarked ON messages(imap_marked) WHERE imap_marked = 0;

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_row  INTEGER NOT NULL REFERENCES messages(id),
    filename     TEXT,                             -- sanitised; NULL when encrypted
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL
);

-- Append-only, hash-chained audit trail.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER REFERENCES reports(id),
    message_row INTEGER REFERENCES messages(id),
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    at          TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX events_report ON events(report_id);

-- Replies to send. The Message-ID is fixed when the row is written (in the
-- same transaction as the report), so a resend can never be a different ack.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    report_id       INTEGER REFERENCES reports(id),
    kind            TEXT NOT NULL,                 -- ack | notice | alert
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    in_reply_to     TEXT,
    "references"    TEXT,
    copy_folder     TEXT,
    status          TEXT NOT NULL DEFAULT 'queued', -- queued | sending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    rendered        BLOB,                          -- exact bytes sent; fixed at first attempt
    sending_at      TEXT,                          -- start of the latest SMTP attempt
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    appended_at     TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_rate ON outbox(kind, created_at, recipient);

CREATE TABLE imap_cursor (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL
);

CREATE TABLE daemon_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

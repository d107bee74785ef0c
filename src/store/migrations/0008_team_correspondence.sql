-- 0008: team correspondence (issue 12). Team replies and notices carry their
-- text in the outbox row until the bytes are fixed: in clear only when
-- neither the report nor the team mail was encrypted (and for the daemon's
-- own notice words), otherwise only sealed to the team key. Notes rest the
-- same way. A team mail's message row names the member.
ALTER TABLE outbox ADD COLUMN body TEXT;
ALTER TABLE outbox ADD COLUMN body_sealed TEXT;
ALTER TABLE outbox ADD COLUMN member TEXT;
ALTER TABLE messages ADD COLUMN team_member TEXT;

CREATE TABLE team_notes (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL REFERENCES reports(id),
    member      TEXT NOT NULL,          -- member name, or the CLI actor
    fingerprint TEXT,                   -- the member key that signed it (mail)
    message_row INTEGER REFERENCES messages(id),
    body        TEXT,                   -- clear only for a report and note that came in clear
    body_sealed TEXT,                   -- sealed to the team key otherwise
    created_at  TEXT NOT NULL
);
CREATE INDEX team_notes_report ON team_notes(report_id, id);

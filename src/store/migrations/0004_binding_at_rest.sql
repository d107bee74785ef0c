-- 0004: follow-ups bound to their reporter, and nothing of an encrypted report readable at rest.
-- A duplicate delivery must have the same content, not only the same Message-ID and sender.
ALTER TABLE messages ADD COLUMN content_digest TEXT;
-- Label evidence, signals and the CVSS vector of an encrypted report, sealed to the team key.
ALTER TABLE reports ADD COLUMN sealed_details TEXT;
-- Keys a mail offered without proof (not signed by them): shown to the team, never used.
CREATE TABLE key_candidates (
    id            INTEGER PRIMARY KEY,
    reporter_id   INTEGER NOT NULL REFERENCES reporters(id),
    fingerprint   TEXT NOT NULL,
    armored       TEXT NOT NULL,
    source        TEXT NOT NULL,
    message_row   INTEGER REFERENCES messages(id),
    first_seen_at TEXT NOT NULL,
    UNIQUE (reporter_id, fingerprint)
);

-- 0003: a reply copy the IMAP server refuses for good (NO/BAD on APPEND: an invalid folder name,
-- over quota, too big) is marked failed with the server's reason and no longer blocks the others.
ALTER TABLE outbox ADD COLUMN copy_failed_at TEXT;
ALTER TABLE outbox ADD COLUMN copy_error TEXT;
-- outbox_copies keeps meaning "still to file": failed copies leave it.
DROP INDEX outbox_copies;
CREATE INDEX outbox_copies ON outbox(id)
    WHERE status = 'sent' AND appended_at IS NULL AND copy_folder IS NOT NULL AND copy_failed_at IS NULL;
-- `status` counts failed copies without reading every reply.
CREATE INDEX outbox_copies_failed ON outbox(id) WHERE copy_failed_at IS NOT NULL;

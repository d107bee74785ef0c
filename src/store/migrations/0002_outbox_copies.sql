-- 0002: indexes for the hot paths. Reply copies still to file are found through an index, not by
-- reading every sent reply (whose rendered bytes sit before appended_at).
CREATE INDEX outbox_copies ON outbox(id)
    WHERE status = 'sent' AND appended_at IS NULL AND copy_folder IS NOT NULL;
-- Per-sender rate limit: that sender's recent acks, not everyone's.
CREATE INDEX outbox_sender ON outbox(kind, recipient, created_at);
-- Deadline warnings look up a report's replies by report.
CREATE INDEX outbox_report ON outbox(report_id, kind);

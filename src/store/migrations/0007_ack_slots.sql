-- 0007: the global rate limit delays acks instead of dropping them.
-- Each ack draws on a share of the global budget ('open' for anyone,
-- 'authenticated' reserved for senders with a pinned-key signature or
-- DKIM/DMARC pass) and gets a slot (send_at): now, or later when the window
-- is full. Acks from before this migration count as 'open' at their creation.
ALTER TABLE outbox ADD COLUMN ack_class TEXT;
ALTER TABLE outbox ADD COLUMN send_at TEXT;
UPDATE outbox SET ack_class = 'open', send_at = created_at WHERE kind = 'ack';
CREATE INDEX outbox_slots ON outbox(kind, ack_class, send_at);

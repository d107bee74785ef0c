-- Issue 13: every triage label carries a confidence (plain columns) and its evidence (JSON),
-- and the ack states only the confident labels (ack_claims, fixed at ingest).
ALTER TABLE reports ADD COLUMN component_confidence REAL;
ALTER TABLE reports ADD COLUMN out_of_scope_confidence REAL;
ALTER TABLE reports ADD COLUMN missing_confidence REAL;
ALTER TABLE reports ADD COLUMN critical_confidence REAL;
-- JSON {component_candidates, missing_evidence, critical_evidence}; may hold report-derived
-- strings, like component_evidence
ALTER TABLE reports ADD COLUMN triage_evidence TEXT NOT NULL DEFAULT '{}';
-- JSON triage::AckClaims (labels only); NULL for reports filed before 0004: the ack then
-- uses the labels themselves, as it did
ALTER TABLE reports ADD COLUMN ack_claims TEXT;

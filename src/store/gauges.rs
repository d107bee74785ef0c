//! The store-derived operator gauges (`hexon_triage_acks_queued`,
//! `…_outbox_oldest_queued_age_seconds`, `…_overdue_reports`), read in one
//! cheap call: a count and MIN over the queued outbox rows (the `outbox_due`
//! index) and a count over report metadata (no bodies).
//!
//! I/O: reads SQLite. Must not: write, or return anything from a message
//! (counts and an age only).

use chrono::{DateTime, Utc};

use super::{parse_ts, ts, Result, Store};
use crate::metrics::StoreGauges;

impl Store {
    /// Outbox rows queued or sending, the age of the oldest (0 when none),
    /// and open reports past a deadline at `now` (the predicate of
    /// `reports overdue` and `status`).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn metrics_gauges(&self, now: DateTime<Utc>) -> Result<StoreGauges> {
        let (queued, oldest): (i64, Option<String>) = self.conn.query_row(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status IN ('queued', 'sending')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let overdue: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM reports WHERE status NOT IN ('fixed', 'disclosed', 'rejected', 'duplicate')
             AND ((acked_at IS NULL AND ack_due < ?1) OR (assessed_at IS NULL AND assessment_due < ?1))",
            [ts(now)],
            |r| r.get(0),
        )?;
        let age = oldest
            .as_deref()
            .and_then(parse_ts)
            .map_or(0, |at| (now - at).num_seconds().max(0));
        Ok(StoreGauges {
            outbox_queued: queued,
            oldest_queued_age_secs: age,
            overdue_reports: overdue,
        })
    }
}

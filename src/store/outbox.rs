//! Outbox rows: what the sender worker needs, and its state transitions
//! queued → sending (bytes fixed) → sent (→ copy appended, or copy failed) or failed.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{append_event, parse_ts, ts, Cached, Result, Store};
use crate::model::{OutboxKind, OutboxStatus};
use crate::triage::Section;

/// One reply to send.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub report_id: Option<i64>,
    pub kind: OutboxKind,
    pub recipient: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub copy_folder: Option<String>,
    pub status: OutboxStatus,
    pub attempts: u32,
    /// Set once the first attempt rendered the message: every retry sends these exact bytes.
    pub rendered: Option<Vec<u8>>,
    /// When the latest SMTP attempt started (status `sending`).
    pub sending_at: Option<DateTime<Utc>>,
    /// Team reply / notice text in clear (issue 12; see migration 0008).
    pub body: Option<String>,
    /// Team reply text sealed to the team key.
    pub body_sealed: Option<String>,
    /// The team member who wrote a team reply.
    pub member: Option<String>,
}

/// What an acknowledgement may say about its report. Deliberately no body,
/// no subject: the template gets derived facts only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AckFacts {
    pub tracking_id: String,
    pub received_at: DateTime<Utc>,
    pub ack_due: DateTime<Utc>,
    pub assessment_due: DateTime<Utc>,
    pub encrypted: bool,
    pub component: Option<String>,
    pub out_of_scope: Option<String>,
    pub missing: Vec<Section>,
    pub severity: String,
    pub critical: bool,
    pub needs_review: bool,
    pub reporter_address: String,
    pub reporter_key: Option<String>,
}

impl Store {
    /// Rows whose next attempt is due, oldest first.
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, report_id, kind, recipient, message_id, in_reply_to, \"references\", copy_folder, status,
                    attempts, rendered, sending_at, body, body_sealed, member
             FROM outbox WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    report_id: r.get(1)?,
                    kind: r.get(2)?,
                    recipient: r.get(3)?,
                    message_id: r.get(4)?,
                    in_reply_to: r.get(5)?,
                    references: r
                        .get::<_, Option<String>>(6)?
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    copy_folder: r.get(7)?,
                    status: r.get(8)?,
                    attempts: r.get(9)?,
                    rendered: r.get(10)?,
                    sending_at: r
                        .get::<_, Option<String>>(11)?
                        .as_deref()
                        .and_then(parse_ts),
                    body: r.get(12)?,
                    body_sealed: r.get(13)?,
                    member: r.get(14)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The next time any queued row becomes due.
    pub fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self
            .conn
            .query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('queued', 'sending')",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(next.as_deref().and_then(parse_ts))
    }

    /// Fix the bytes of a reply before its first SMTP attempt.
    pub fn outbox_sending(&mut self, id: i64, rendered: &[u8], at: DateTime<Utc>) -> Result<()> {
        self.conn.exec_cached(
            "UPDATE outbox SET status = 'sending', rendered = COALESCE(rendered, ?1), sending_at = ?2 WHERE id = ?3",
            params![rendered, ts(at), id],
        )?;
        Ok(())
    }

    /// The SMTP server accepted the reply.
    pub fn outbox_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let (report_id, kind, message_id): (Option<i64>, OutboxKind, String) = tx.row_cached(
            "SELECT report_id, kind, message_id FROM outbox WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        tx.exec_cached(
            "UPDATE outbox SET status = 'sent', sent_at = ?1, attempts = attempts + 1, last_error = NULL WHERE id = ?2",
            params![ts(at), id],
        )?;
        if kind == OutboxKind::Ack {
            if let Some(rid) = report_id {
                tx.exec_cached(
                    "UPDATE reports SET acked_at = COALESCE(acked_at, ?1), updated_at = ?1 WHERE id = ?2",
                    params![ts(at), rid],
                )?;
            }
        }
        append_event(
            &tx,
            report_id,
            None,
            &format!("{kind}_sent"),
            "daemon",
            &serde_json::json!({ "outbox": id, "message_id": message_id }),
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A transient failure: try again at `next`.
    pub fn outbox_retry(&mut self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.conn.exec_cached(
            "UPDATE outbox SET status = 'queued', attempts = attempts + 1, last_error = ?1, next_attempt_at = ?2 WHERE id = ?3",
            params![error, ts(next), id],
        )?;
        Ok(())
    }

    /// Try again later without touching the state (e.g. an interrupted send
    /// that could not be resolved yet).
    pub fn outbox_retry_keep(&mut self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.conn.exec_cached(
            "UPDATE outbox SET last_error = ?1, next_attempt_at = ?2 WHERE id = ?3",
            params![error, ts(next), id],
        )?;
        Ok(())
    }

    /// A permanent failure (rejected, or out of attempts): keep the reason.
    pub fn outbox_failed(&mut self, id: i64, error: &str, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let (report_id, kind): (Option<i64>, OutboxKind) = tx.row_cached(
            "SELECT report_id, kind FROM outbox WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.exec_cached(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?1 WHERE id = ?2",
            params![error, id],
        )?;
        append_event(
            &tx,
            report_id,
            None,
            &format!("{kind}_failed"),
            "daemon",
            &serde_json::json!({ "outbox": id, "error": error }),
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Sent replies whose copy is not yet in the team's mailbox.
    pub fn pending_copies(&self, limit: usize) -> Result<Vec<(i64, String, Vec<u8>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, copy_folder, rendered FROM outbox INDEXED BY outbox_copies
             WHERE status = 'sent' AND appended_at IS NULL AND copy_folder IS NOT NULL AND copy_failed_at IS NULL
               AND rendered IS NOT NULL
             ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Record that the copies of these sent replies are filed (one transaction).
    pub fn outbox_appended_all(&mut self, ids: &[i64], at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.exec_cached(
                "UPDATE outbox SET appended_at = ?1 WHERE id = ?2",
                params![ts(at), id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The server refused the copy of this sent reply for good: keep the
    /// reason, take it out of the copy queue, and record a `copy_failed` event.
    pub fn outbox_copy_failed(&mut self, id: i64, error: &str, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let (report_id, folder): (Option<i64>, Option<String>) = tx.row_cached(
            "SELECT report_id, copy_folder FROM outbox WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.exec_cached(
            "UPDATE outbox SET copy_failed_at = ?1, copy_error = ?2 WHERE id = ?3",
            params![ts(at), error, id],
        )?;
        append_event(
            &tx,
            report_id,
            None,
            "copy_failed",
            "daemon",
            &serde_json::json!({ "outbox": id, "folder": folder, "error": error }),
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Queue a warning to `team` for every open, unassessed report whose
    /// assessment deadline falls before `horizon` and has not been warned about.
    pub fn queue_deadline_warnings(
        &mut self,
        team: &str,
        message_id_domain: &str,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let due: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT r.id FROM reports r
                 WHERE r.status IN ('new', 'triaging') AND r.assessed_at IS NULL AND r.assessment_due <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.report_id = r.id AND o.kind = 'deadline')",
            )?;
            let rows = stmt
                .query_map([ts(horizon)], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        for report_id in &due {
            let message_id = super::new_message_id(message_id_domain);
            tx.exec_cached(
                "INSERT INTO outbox(report_id, kind, recipient, message_id, status, next_attempt_at, created_at)
                 VALUES (?1, 'deadline', ?2, ?3, 'queued', ?4, ?4)",
                params![report_id, team, message_id, ts(now)],
            )?;
            let outbox = tx.last_insert_rowid();
            append_event(
                &tx,
                Some(*report_id),
                None,
                "deadline_warning_queued",
                "daemon",
                &serde_json::json!({ "outbox": outbox }),
                now,
            )?;
        }
        tx.commit()?;
        Ok(due.len())
    }

    /// The facts an ack for `report_id` may carry.
    pub fn ack_facts(&self, report_id: i64) -> Result<AckFacts> {
        let facts = self.conn.row_cached(
            "SELECT r.tracking_id, r.received_at, r.ack_due, r.assessment_due, r.encrypted, r.component,
                    r.out_of_scope, r.missing, r.severity, r.critical, r.needs_review, p.address, p.key_armored,
                    r.ack_claims
             FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1",
            [report_id],
            |r| {
                let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
                    let text: String = r.get(i)?;
                    Ok(parse_ts(&text).unwrap_or_default())
                };
                let claims: Option<crate::triage::AckClaims> = r
                    .get::<_, Option<String>>(13)?
                    .and_then(|j| serde_json::from_str(&j).ok());
                let facts = AckFacts {
                    tracking_id: r.get(0)?,
                    received_at: time(1)?,
                    ack_due: time(2)?,
                    assessment_due: time(3)?,
                    encrypted: r.get(4)?,
                    component: r.get(5)?,
                    out_of_scope: r.get(6)?,
                    missing: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                    severity: r.get(8)?,
                    critical: r.get(9)?,
                    needs_review: r.get(10)?,
                    reporter_address: r.get(11)?,
                    reporter_key: r.get(12)?,
                };
                Ok(match claims {
                    // only the confident labels reach the reporter
                    Some(c) => AckFacts {
                        component: c.component,
                        out_of_scope: c.out_of_scope,
                        missing: c.missing,
                        critical: c.critical,
                        ..facts
                    },
                    None => facts,
                })
            },
        )?;
        Ok(facts)
    }
}

//! Reporter keys by hand: the candidates a report's reporter was offered
//! (never used), and the operator's pin and unpin (audited). The daemon
//! pins a key itself only from a mail signed by it (see `crate::decide`).

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{append_event, ts, Result, Store, StoreError};
use crate::model::KeySource;

/// A key offered for a reporter without proof.
#[derive(Debug, Clone, Serialize)]
pub struct KeyCandidate {
    pub fingerprint: String,
    pub source: String,
    pub first_seen_at: String,
}

/// The key to pin: a stored candidate (by fingerprint) or one the operator
/// brings (fingerprint and armored public cert, checked by the caller).
#[derive(Debug, Clone)]
pub enum PinKey {
    Candidate(String),
    Given {
        fingerprint: String,
        armored: String,
    },
}

impl Store {
    /// The candidate keys of the reporter of `report_id`.
    pub(crate) fn key_candidates_of(&self, report_id: i64) -> Result<Vec<KeyCandidate>> {
        let mut stmt = self.conn.prepare(
            "SELECT k.fingerprint, k.source, k.first_seen_at FROM key_candidates k
             JOIN reports r ON r.reporter_id = k.reporter_id WHERE r.id = ?1 ORDER BY k.id",
        )?;
        let rows = stmt
            .query_map([report_id], |r| {
                Ok(KeyCandidate {
                    fingerprint: r.get(0)?,
                    source: r.get(1)?,
                    first_seen_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Pin `key` to the reporter of `tracking_id` (replacing any pin),
    /// audited with `actor`. Returns the reporter's address.
    ///
    /// # Errors
    /// No such report, or no such candidate.
    pub fn pin_reporter_key(
        &mut self,
        tracking_id: &str,
        key: &PinKey,
        actor: &str,
    ) -> Result<String> {
        let report_id = self.report_id(tracking_id)?;
        let tx = self.conn.transaction()?;
        let (reporter_id, address, old): (i64, String, Option<String>) = tx.query_row(
            "SELECT p.id, p.address, p.key_fingerprint FROM reports r JOIN reporters p ON p.id = r.reporter_id
             WHERE r.id = ?1",
            [report_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (fingerprint, armored) = match key {
            PinKey::Given {
                fingerprint,
                armored,
            } => (fingerprint.clone(), armored.clone()),
            PinKey::Candidate(fpr) => {
                let fpr = fpr.to_ascii_uppercase().replace(' ', "");
                let armored: Option<String> = tx
                    .query_row(
                        "SELECT armored FROM key_candidates WHERE reporter_id = ?1 AND fingerprint = ?2",
                        params![reporter_id, fpr],
                        |r| r.get(0),
                    )
                    .optional()?;
                let armored = armored.ok_or_else(|| {
                    StoreError::Invalid(format!("{fpr} is not a candidate key of {address}"))
                })?;
                (fpr, armored)
            }
        };
        tx.execute(
            "UPDATE reporters SET key_fingerprint = ?1, key_armored = ?2, key_source = ?3 WHERE id = ?4",
            params![fingerprint, armored, KeySource::Operator, reporter_id],
        )?;
        tx.execute(
            "DELETE FROM key_candidates WHERE reporter_id = ?1 AND fingerprint = ?2",
            params![reporter_id, fingerprint],
        )?;
        // Issue 12: team replies kept for want of a key may go now (sealed to it).
        let released = tx.execute(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ?1
             WHERE status = 'needs_key' AND report_id IN (SELECT id FROM reports WHERE reporter_id = ?2)",
            params![super::ts(Utc::now()), reporter_id],
        )?;
        let detail = serde_json::json!({ "reporter": address, "fingerprint": fingerprint, "source": KeySource::Operator, "replaces": old, "released_replies": released });
        append_event(
            &tx,
            Some(report_id),
            None,
            "reporter_key_pinned",
            actor,
            &detail,
            Utc::now(),
        )?;
        tx.commit()?;
        Ok(address)
    }

    /// Remove the pinned key of the reporter of `tracking_id` (audited);
    /// the key becomes a candidate again. Returns the removed fingerprint.
    ///
    /// # Errors
    /// No such report.
    pub fn unpin_reporter_key(&mut self, tracking_id: &str, actor: &str) -> Result<Option<String>> {
        let report_id = self.report_id(tracking_id)?;
        let tx = self.conn.transaction()?;
        let (reporter_id, address, fingerprint, armored, source): (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = tx.query_row(
            "SELECT p.id, p.address, p.key_fingerprint, p.key_armored, p.key_source FROM reports r
                 JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1",
            [report_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let Some(fingerprint) = fingerprint else {
            return Ok(None);
        };
        if let Some(armored) = armored {
            tx.execute(
                "INSERT INTO key_candidates(reporter_id, fingerprint, armored, source, first_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(reporter_id, fingerprint) DO NOTHING",
                params![reporter_id, fingerprint, armored, source.unwrap_or_default(), ts(Utc::now())],
            )?;
        }
        tx.execute(
            "UPDATE reporters SET key_fingerprint = NULL, key_armored = NULL, key_source = NULL WHERE id = ?1",
            [reporter_id],
        )?;
        let detail = serde_json::json!({ "reporter": address, "fingerprint": fingerprint });
        append_event(
            &tx,
            Some(report_id),
            None,
            "reporter_key_unpinned",
            actor,
            &detail,
            Utc::now(),
        )?;
        tx.commit()?;
        Ok(Some(fingerprint))
    }
}

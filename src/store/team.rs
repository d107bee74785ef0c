//! `reports reply` / `reports note` (issue 12): a reply or note written at
//! the CLI takes the same path as one mailed in by a team member: the same
//! relay rule (`decide::reply_plan`: the reporter's thread, `needs_key` for
//! an encrypted report without a pinned key), the same outbox row kind and
//! text columns (clear only for a report that came in clear), the same
//! notes table, `assessed_at`, and audit events. One short transaction.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::ingest::{team_report_facts, team_write};
use super::{append_event, new_message_id, ts, Result, Store, StoreError};
use crate::decide::{reply_plan, ReportRef};
use crate::model::OutboxKind;

/// What `reports reply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Queued for sending (outbox row id).
    Queued(i64),
    /// Kept as `needs_key`: the report came encrypted and the reporter has no pinned key.
    NeedsKey(i64),
    /// A note, stored on the report.
    Note,
}

/// A reply or note from the CLI.
pub struct CliTeamText<'a> {
    pub tracking_id: &'a str,
    /// Who writes it ($USER or `--as`).
    pub actor: &'a str,
    pub text: &'a str,
    /// `text` sealed to the team key (`None` without one).
    pub sealed: Option<&'a str>,
    pub note: bool,
    pub message_id_domain: &'a str,
}

impl Store {
    /// Queue a reply to the reporter, or store a note.
    ///
    /// # Errors
    /// No such report, no reporter address, an encrypted report without a
    /// team key to seal the text with, database errors.
    pub fn team_submit(&mut self, t: &CliTeamText<'_>, now: DateTime<Utc>) -> Result<Submitted> {
        let tx = self.conn.transaction()?;
        let tracking_id = t.tracking_id.to_ascii_uppercase();
        let id: i64 = tx
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1",
                [&tracking_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchReport(t.tracking_id.to_string()))?;
        let report = ReportRef {
            id,
            tracking_id: tracking_id.clone(),
        };
        let facts = team_report_facts(&tx, report.clone())?;
        if facts.encrypted && t.sealed.is_none() {
            return Err(StoreError::Invalid(format!(
                "{tracking_id} came encrypted: its text must be sealed, and there is no team key (openpgp.team_keys)"
            )));
        }
        let resting = team_write::resting_text(facts.encrypted, t.text, t.sealed);
        if t.note {
            team_write::insert_note(
                &tx,
                id,
                t.actor,
                None,
                None,
                (resting.0.as_deref(), resting.1.as_deref()),
                now,
            )?;
            tx.commit()?;
            return Ok(Submitted::Note);
        }
        if facts.key_changed {
            return Err(StoreError::Invalid(format!(
                "the reporter of {tracking_id} offered a different key than the pinned one: review it (reports key) before replying"
            )));
        }
        let reply = reply_plan(&facts).ok_or_else(|| {
            StoreError::Invalid(format!("{tracking_id} has no reporter address to reply to"))
        })?;
        let message_id = new_message_id(t.message_id_domain);
        tx.execute(
            "INSERT INTO outbox(report_id, kind, recipient, message_id, in_reply_to, \"references\",
                 status, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7)",
            params![
                id,
                OutboxKind::TeamReply,
                reply.recipient,
                message_id,
                reply.in_reply_to,
                reply.references.join(" "),
                ts(now)
            ],
        )?;
        let row = tx.last_insert_rowid();
        team_write::set_outbox_text(&tx, row, &reply, t.actor, resting)?;
        append_event(
            &tx,
            Some(id),
            None,
            "team_reply_queued",
            t.actor,
            &serde_json::json!({ "outbox": row, "message_id": message_id, "via": "cli",
                "needs_key": reply.needs_key }),
            now,
        )?;
        team_write::mark_answered(&tx, id, now)?;
        tx.commit()?;
        Ok(if reply.needs_key {
            Submitted::NeedsKey(row)
        } else {
            Submitted::Queued(row)
        })
    }
}

/// One entry of a report's conversation (`reports show`), in time order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConversationEntry {
    pub at: String,
    /// `reporter`, `ack`, `team reply`, `team notice`, `note`, `team mail`,
    /// `rejected team mail`, `quick action`, or another outbox kind.
    pub what: String,
    /// The member, reporter address or recipient.
    pub who: String,
    /// Delivery state of a reply (queued, sending, sent, failed, needs_key);
    /// the message status for a mail; empty for notes and actions.
    pub state: String,
    /// Short detail (a quick action's field and value).
    pub detail: Option<String>,
}

impl Store {
    /// The conversation of one report: its mails (reporter and team),
    /// replies with their delivery state, notes and quick actions, oldest
    /// first. Never any text.
    ///
    /// # Errors
    /// No such report, database errors.
    pub fn conversation(&self, tracking_id: &str) -> Result<Vec<ConversationEntry>> {
        let id: i64 = self
            .conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1",
                [tracking_id.to_ascii_uppercase()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchReport(tracking_id.to_string()))?;
        let mut stmt = self.conn.prepare(
            "SELECT received_at, CASE WHEN team_member IS NOT NULL THEN 'team mail'
                        WHEN status = 'quarantined' AND reason LIKE 'team mail rejected%' THEN 'rejected team mail'
                        ELSE 'reporter' END,
                    COALESCE(team_member, from_address, ''), status, NULL, 0, id
               FROM messages WHERE report_id = ?1
             UNION ALL
             SELECT created_at, REPLACE(kind, '_', ' '), COALESCE(member, recipient), status,
                    CASE WHEN last_error IS NULL THEN NULL ELSE 'last error: ' || last_error END, 1, id
               FROM outbox WHERE report_id = ?1
             UNION ALL
             SELECT created_at, 'note', member, '', NULL, 2, id FROM team_notes WHERE report_id = ?1
             UNION ALL
             SELECT at, 'quick action', actor, '', kind || ' ' || detail, 3, id FROM events
               WHERE report_id = ?1 AND json_extract(detail, '$.via') = 'team mail'
             ORDER BY 1, 6, 7",
        )?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(ConversationEntry {
                    at: r.get(0)?,
                    what: r.get(1)?,
                    who: r.get(2)?,
                    state: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

//! The writes of a team mail (issue 12), inside the ingest transaction: the
//! message row (naming the member; no text in clear when the report or the
//! mail was encrypted), quick actions with the member's fingerprint as the
//! audit actor, notes, the relay row (`team_reply`, or `needs_key`),
//! `assessed_at`, and notices to the member. Takes no decision: the rules
//! are in `decide/team.rs`.

use rusqlite::params;

use super::super::super::{append_event, ts, Cached, Result};
use super::Writer;
use crate::decide::{ReplyPlan, ReportRef, TeamPlan, TeamWork};
use crate::model::{
    IngestPolicy, IngestResult, MessageStatus, OutboxKind, OutboxStatus, PreparedMail,
};
use crate::team::QuickAction;

/// The text of a team mail as it may rest: (clear, sealed).
pub(crate) fn resting_text(
    hide_text: bool,
    body: &str,
    sealed: Option<&str>,
) -> (Option<String>, Option<String>) {
    if hide_text {
        (None, sealed.map(str::to_string))
    } else {
        (Some(body.to_string()), sealed.map(str::to_string))
    }
}

impl Writer<'_, '_> {
    pub(super) fn team(
        &self,
        mail: &PreparedMail,
        plan: &TeamPlan,
        policy: &IngestPolicy,
    ) -> Result<IngestResult> {
        match plan {
            TeamPlan::Rejected {
                report,
                reasons,
                notify,
                hide_text,
            } => {
                let reason = format!("team mail rejected: {}", reasons.join("; "));
                let report_id = report.as_ref().map(|r| r.id);
                let row = self.team_message(
                    mail,
                    MessageStatus::Quarantined,
                    Some(&reason),
                    report_id,
                    None,
                    *hide_text,
                )?;
                self.event(
                    report_id,
                    Some(row),
                    "team_mail_rejected",
                    &serde_json::json!({ "reasons": reasons, "signature": mail.signature,
                        "signer": mail.signer_fingerprint }),
                )?;
                if let Some(r) = report {
                    self.flag_review(r.id, &reason)?;
                }
                if let Some(address) = notify {
                    self.team_notice(report.as_ref(), address, mail, &reason, policy)?;
                }
                Ok(IngestResult::Quarantined { message_row: row })
            }
            TeamPlan::Accepted(work) => self.team_work(mail, work, policy),
        }
    }

    fn team_work(
        &self,
        mail: &PreparedMail,
        work: &TeamWork,
        policy: &IngestPolicy,
    ) -> Result<IngestResult> {
        let report = &work.report;
        let member = &work.member;
        let row = self.team_message(
            mail,
            MessageStatus::Team,
            None,
            Some(report.id),
            Some(&member.name),
            work.hide_text,
        )?;
        append_event(
            self.tx,
            Some(report.id),
            Some(row),
            "team_mail",
            &member.fingerprint,
            &serde_json::json!({ "member": member.name, "note": work.note,
                "actions": work.actions.len(), "reply": work.reply.is_some() }),
            self.at,
        )?;
        for action in &work.actions {
            self.quick_action(report, row, action, &member.fingerprint, policy)?;
        }
        let Some(claim) = &mail.team else {
            return Ok(IngestResult::Team {
                message_row: row,
                tracking_id: report.tracking_id.clone(),
            });
        };
        let (clear, sealed) = resting_text(
            work.hide_text,
            &claim.commands.body,
            claim.sealed_body.as_deref(),
        );
        if work.note && !claim.commands.body.trim().is_empty() {
            insert_note(
                self.tx,
                report.id,
                &member.name,
                Some(&member.fingerprint),
                Some(row),
                (clear.as_deref(), sealed.as_deref()),
                self.at,
            )?;
        }
        if let Some(reply) = &work.reply {
            let copy_folder = policy
                .append_copies
                .then(|| policy.copy_folder.clone())
                .flatten()
                .or_else(|| {
                    policy
                        .append_copies
                        .then(|| self.p.source.imap().map(|(m, _, _)| m.to_string()))
                        .flatten()
                });
            let id = self.enqueue(
                report.id,
                OutboxKind::TeamReply,
                &reply.recipient,
                reply.in_reply_to.as_deref(),
                &reply.references,
                copy_folder.as_deref(),
                None,
                policy,
            )?;
            set_outbox_text(self.tx, id, reply, &member.name, (clear, sealed))?;
        }
        if work.assess {
            mark_answered(self.tx, report.id, self.at)?;
        }
        if let Some(notice) = &work.notice {
            self.team_notice(Some(report), &member.address, mail, notice, policy)?;
        }
        Ok(IngestResult::Team {
            message_row: row,
            tracking_id: report.tracking_id.clone(),
        })
    }

    /// The message row of a team mail.
    fn team_message(
        &self,
        mail: &PreparedMail,
        status: MessageStatus,
        reason: Option<&str>,
        report_id: Option<i64>,
        member: Option<&str>,
        hide_text: bool,
    ) -> Result<i64> {
        let h = &mail.headers;
        let imap = self.p.source.imap();
        self.tx.exec_cached(
            "INSERT INTO messages(raw_id, source, mailbox, uidvalidity, uid, imap_marked, message_id, from_address,
                 subject, status, reason, report_id, encrypted, signature, signer_fingerprint, body_text, received_at,
                 content_digest, team_member)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            params![
                self.raw_id,
                self.p.source.kind(),
                imap.map(|i| i.0),
                imap.map(|i| i.1),
                imap.map(|i| i.2),
                imap.is_none(),
                h.message_id,
                h.from_address,
                (!hide_text).then_some(h.subject.as_str()),
                status,
                reason,
                report_id,
                mail.encrypted,
                mail.signature,
                mail.signer_fingerprint,
                (!hide_text).then_some(mail.text.as_str()),
                ts(self.at),
                mail.content_digest,
                member,
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn quick_action(
        &self,
        report: &ReportRef,
        row: i64,
        action: &QuickAction,
        actor: &str,
        policy: &IngestPolicy,
    ) -> Result<()> {
        apply_action(self.tx, report.id, Some(row), action, actor, self.at)?;
        // A status the reporter should hear about: the templated notice (once per change).
        if let QuickAction::Status(status) = action {
            if policy.status_notices.iter().any(|s| s == status) {
                crate::store::advisory::queue_reporter_mail(
                    self.tx,
                    report.id,
                    OutboxKind::StatusNotice,
                    None,
                    &policy.message_id_domain,
                    actor,
                    self.at,
                )
                .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// A short notice to a team member (our own words, never report content).
    fn team_notice(
        &self,
        report: Option<&ReportRef>,
        address: &str,
        mail: &PreparedMail,
        reason: &str,
        policy: &IngestPolicy,
    ) -> Result<()> {
        let Some(report) = report else {
            // NOTE: an outbox row needs a report; without one the rejection is
            // in the quarantine list and the audit trail.
            return Ok(());
        };
        let mut references = mail.headers.references.clone();
        references.extend(mail.headers.message_id.clone());
        let id = self.enqueue(
            report.id,
            OutboxKind::TeamNotice,
            address,
            mail.headers.message_id.as_deref(),
            &references,
            None,
            None,
            policy,
        )?;
        self.tx.exec_cached(
            "UPDATE outbox SET body = ?1 WHERE id = ?2",
            params![reason, id],
        )?;
        Ok(())
    }
}

/// Write one quick action on the report, audited with `actor` (the
/// member's fingerprint).
pub(crate) fn apply_action(
    tx: &rusqlite::Transaction<'_>,
    report_id: i64,
    row: Option<i64>,
    action: &QuickAction,
    actor: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let now = ts(at);
    let (column, value) = action.column();
    let value = match action {
        QuickAction::Credit(name) => {
            serde_json::to_string(&crate::triage::Credit::Name(name.clone())).unwrap_or_default()
        }
        _ => value.to_string(),
    };
    // NOTE: `column` comes from QuickAction::column, a closed set of column names.
    tx.execute(
        &format!("UPDATE reports SET {column} = ?1, updated_at = ?2 WHERE id = ?3"),
        params![value, now, report_id],
    )?;
    match action {
        QuickAction::Duplicate(_) => {
            tx.execute(
                "UPDATE reports SET status = 'duplicate' WHERE id = ?1",
                [report_id],
            )?;
        }
        QuickAction::Status(s) if s != "new" => mark_assessed(tx, report_id, at)?,
        _ => {}
    }
    let kind = match action {
        QuickAction::Credit(_) => "credit_recorded".to_string(),
        QuickAction::Duplicate(_) => "duplicate_marked".to_string(),
        _ => format!("{}_changed", column),
    };
    append_event(
        tx,
        Some(report_id),
        row,
        &kind,
        actor,
        &serde_json::json!({ column: value, "via": "team mail" }),
        at,
    )
}

/// The first assessment: `assessed_at` if it is empty.
pub(crate) fn mark_assessed(
    tx: &rusqlite::Connection,
    report_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    tx.exec_cached(
        "UPDATE reports SET assessed_at = COALESCE(assessed_at, ?1) WHERE id = ?2",
        params![ts(at), report_id],
    )?;
    Ok(())
}

/// A team reply to the reporter: the first assessment, and the
/// acknowledgement when no automatic ack went out (withheld by the loop
/// guard or a rate limit, or an import): a human answer acknowledges too.
pub(crate) fn mark_answered(
    tx: &rusqlite::Connection,
    report_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    tx.exec_cached(
        "UPDATE reports SET assessed_at = COALESCE(assessed_at, ?1), acked_at = COALESCE(acked_at, ?1)
         WHERE id = ?2",
        params![ts(at), report_id],
    )?;
    Ok(())
}

/// A note on the report (text clear or sealed, see the migration).
pub(crate) fn insert_note(
    tx: &rusqlite::Transaction<'_>,
    report_id: i64,
    member: &str,
    fingerprint: Option<&str>,
    row: Option<i64>,
    (clear, sealed): (Option<&str>, Option<&str>),
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    tx.exec_cached(
        "INSERT INTO team_notes(report_id, member, fingerprint, message_row, body, body_sealed, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![report_id, member, fingerprint, row, clear, sealed, ts(at)],
    )?;
    append_event(
        tx,
        Some(report_id),
        row,
        "team_note",
        fingerprint.unwrap_or(member),
        &serde_json::json!({ "member": member }),
        at,
    )
}

/// The text, member and status of a relay row.
pub(crate) fn set_outbox_text(
    tx: &rusqlite::Connection,
    id: i64,
    reply: &ReplyPlan,
    member: &str,
    (clear, sealed): (Option<String>, Option<String>),
) -> Result<()> {
    let status = if reply.needs_key {
        OutboxStatus::NeedsKey
    } else {
        OutboxStatus::Queued
    };
    tx.exec_cached(
        "UPDATE outbox SET body = ?1, body_sealed = ?2, member = ?3, status = ?4 WHERE id = ?5",
        params![clear, sealed, member, status, id],
    )?;
    Ok(())
}

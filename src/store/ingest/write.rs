//! `write_plan`: carries out a [`Plan`] inside the ingest transaction (raw
//! bytes, message row, report, attachments, reporter and key pin, audit
//! events, outbox rows). Takes no decision of its own: every rule is in
//! [`crate::decide`].

use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction};

use super::super::{append_event, new_message_id, ts, Cached, Result};

pub(crate) mod team;
use crate::decide::{AckClass, AckPlan, KeyPin, MailPlan, NewReportPlan, Plan, ReportRef};
use crate::model::{
    IngestPolicy, IngestResult, MessageStatus, OutboxKind, Prepared, PreparedKind, PreparedMail,
    Signature,
};

/// Write what `plan` says about `p`.
pub(super) fn write_plan(
    tx: &Transaction<'_>,
    p: &Prepared,
    plan: &Plan,
    policy: &IngestPolicy,
) -> Result<IngestResult> {
    if *plan == Plan::Known {
        return Ok(IngestResult::Known);
    }
    let w = Writer {
        tx,
        p,
        raw_id: store_raw(tx, p)?,
        at: p.received_at,
    };
    match (plan, &p.kind) {
        (
            Plan::Quarantine { reason },
            PreparedKind::Quarantine {
                message_id,
                from_address,
                ..
            },
        ) => {
            let row = w.message(
                MessageStatus::Quarantined,
                Some(reason),
                message_id.as_deref(),
                from_address.as_deref(),
                None,
                None,
            )?;
            w.event(
                None,
                Some(row),
                "quarantined",
                &serde_json::json!({ "reason": reason }),
            )?;
            Ok(IngestResult::Quarantined { message_row: row })
        }
        (Plan::Ignore { reason }, PreparedKind::Ignore { headers, .. }) => {
            let row = w.message(
                MessageStatus::Ignored,
                Some(reason),
                headers.message_id.as_deref(),
                headers.from_address.as_deref(),
                None,
                None,
            )?;
            w.event(
                None,
                Some(row),
                "ignored",
                &serde_json::json!({ "reason": reason }),
            )?;
            Ok(IngestResult::Ignored { message_row: row })
        }
        (Plan::Mail(plan), PreparedKind::Mail(mail)) => w.mail(mail, plan, policy),
        // NOTE: decide() derives the plan's shape from the prepared kind; a
        // mismatch is a programming error, stored as a quarantine rather than lost.
        _ => {
            let reason = "internal error: plan does not fit the message";
            let row = w.message(
                MessageStatus::Quarantined,
                Some(reason),
                None,
                None,
                None,
                None,
            )?;
            Ok(IngestResult::Quarantined { message_row: row })
        }
    }
}

/// The raw bytes, once per distinct SHA-256.
fn store_raw(tx: &Transaction<'_>, p: &Prepared) -> Result<i64> {
    let existing: Option<i64> = rusqlite::OptionalExtension::optional(tx.row_cached(
        "SELECT id FROM raw_messages WHERE sha256 = ?1",
        [&p.sha256],
        |r| r.get(0),
    ))?;
    if let Some(id) = existing {
        return Ok(id);
    }
    tx.exec_cached(
        "INSERT INTO raw_messages(sha256, size, bytes) VALUES (?1, ?2, ?3)",
        params![p.sha256, p.raw.len() as i64, p.raw],
    )?;
    Ok(tx.last_insert_rowid())
}

struct Writer<'t, 'c> {
    tx: &'t Transaction<'c>,
    p: &'t Prepared,
    raw_id: i64,
    at: DateTime<Utc>,
}

impl Writer<'_, '_> {
    fn event(
        &self,
        report_id: Option<i64>,
        message_row: Option<i64>,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        append_event(
            self.tx,
            report_id,
            message_row,
            kind,
            "daemon",
            detail,
            self.at,
        )
    }

    /// One `messages` row; `mail` supplies the OpenPGP columns and the body
    /// (stored only when the mail was not encrypted).
    fn message(
        &self,
        status: MessageStatus,
        reason: Option<&str>,
        message_id: Option<&str>,
        from: Option<&str>,
        report_id: Option<i64>,
        mail: Option<&PreparedMail>,
    ) -> Result<i64> {
        let (encrypted, signature, signer, body, subject) = match mail {
            Some(m) => (
                m.encrypted,
                m.signature,
                m.signer_fingerprint.as_deref(),
                (!m.encrypted).then_some(m.text.as_str()),
                (!m.encrypted).then_some(m.headers.subject.as_str()),
            ),
            None => (false, Signature::None, None, None, None),
        };
        let digest = mail.map(|m| m.content_digest.as_str());
        let imap = self.p.source.imap();
        self.tx.exec_cached(
            "INSERT INTO messages(raw_id, source, mailbox, uidvalidity, uid, imap_marked, message_id, from_address,
                 subject, status, reason, report_id, encrypted, signature, signer_fingerprint, body_text, received_at,
                 content_digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                self.raw_id,
                self.p.source.kind(),
                imap.map(|i| i.0),
                imap.map(|i| i.1),
                imap.map(|i| i.2),
                imap.is_none(),
                message_id,
                from,
                subject,
                status,
                reason,
                report_id,
                encrypted,
                signature,
                signer,
                body,
                ts(self.at),
                digest
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn mail(
        &self,
        mail: &PreparedMail,
        plan: &MailPlan,
        policy: &IngestPolicy,
    ) -> Result<IngestResult> {
        let h = &mail.headers;
        // NOTE: the parser guarantees a sender for PreparedKind::Mail; be defensive anyway.
        let from = h.from_address.clone().unwrap_or_default();
        let mid = h.message_id.as_deref();
        match plan {
            MailPlan::DuplicateDelivery { report } => {
                let report_id = report.as_ref().map(|r| r.id);
                let reason = "same Message-ID from the same sender";
                let row = self.message(
                    MessageStatus::Duplicate,
                    Some(reason),
                    mid,
                    Some(&from),
                    report_id,
                    Some(mail),
                )?;
                self.event(
                    report_id,
                    Some(row),
                    "duplicate_delivery",
                    &serde_json::json!({}),
                )?;
                Ok(IngestResult::Duplicate {
                    message_row: row,
                    tracking_id: report
                        .as_ref()
                        .map(|r| r.tracking_id.clone())
                        .unwrap_or_default(),
                })
            }
            MailPlan::FollowUp {
                report,
                pin,
                candidates,
                credit,
                review,
            } => {
                let reporter_id = self.reporter(&from, h.from_name.as_deref())?;
                self.pin(reporter_id, &from, pin.as_ref())?;
                let row = self.message(
                    MessageStatus::FollowUp,
                    None,
                    mid,
                    Some(&from),
                    Some(report.id),
                    Some(mail),
                )?;
                self.attachments(row, mail)?;
                self.candidates(reporter_id, &from, row, candidates)?;
                self.event(
                    Some(report.id),
                    Some(row),
                    "followup",
                    &serde_json::json!({ "signature": mail.signature, "credit_recorded": credit.is_some() }),
                )?;
                if let Some(credit) = credit {
                    self.credit(report, row, credit)?;
                }
                for reason in review {
                    self.flag_review(report.id, reason)?;
                }
                Ok(IngestResult::FollowUp {
                    message_row: row,
                    tracking_id: report.tracking_id.clone(),
                })
            }
            MailPlan::NewReport {
                pin,
                candidates,
                report,
            } => {
                let reporter_id = self.reporter(&from, h.from_name.as_deref())?;
                self.pin(reporter_id, &from, pin.as_ref())?;
                let result = self.new_report(mail, &from, reporter_id, report, policy)?;
                if let IngestResult::NewReport { message_row, .. } = &result {
                    self.candidates(reporter_id, &from, *message_row, candidates)?;
                }
                Ok(result)
            }
            MailPlan::Team(plan) => self.team(mail, plan, policy),
        }
    }

    fn reporter(&self, address: &str, name: Option<&str>) -> Result<i64> {
        self.tx.exec_cached(
            "INSERT INTO reporters(address, display_name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(address) DO NOTHING",
            params![address, name, ts(self.at)],
        )?;
        Ok(self.tx.row_cached(
            "SELECT id FROM reporters WHERE address = ?1",
            [address],
            |r| r.get(0),
        )?)
    }

    fn pin(&self, reporter_id: i64, address: &str, pin: Option<&KeyPin>) -> Result<()> {
        let Some(pin) = pin else {
            return Ok(());
        };
        self.tx.exec_cached(
            "UPDATE reporters SET key_fingerprint = ?1, key_armored = ?2, key_source = ?3 WHERE id = ?4",
            params![pin.fingerprint, pin.armored, pin.source, reporter_id],
        )?;
        self.event(
            None,
            None,
            "reporter_key_pinned",
            &serde_json::json!({ "reporter": address, "fingerprint": pin.fingerprint, "source": pin.source }),
        )
    }

    /// Keys offered without proof: kept for the team (`reports show`,
    /// `reports key pin`), never used to encrypt or verify.
    fn candidates(
        &self,
        reporter_id: i64,
        address: &str,
        row: i64,
        candidates: &[KeyPin],
    ) -> Result<()> {
        for key in candidates {
            let added = self.tx.exec_cached(
                "INSERT INTO key_candidates(reporter_id, fingerprint, armored, source, message_row, first_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(reporter_id, fingerprint) DO NOTHING",
                params![reporter_id, key.fingerprint, key.armored, key.source, row, ts(self.at)],
            )?;
            if added > 0 {
                self.event(
                    None,
                    Some(row),
                    "key_candidate",
                    &serde_json::json!({ "reporter": address, "fingerprint": key.fingerprint, "source": key.source }),
                )?;
            }
        }
        Ok(())
    }

    fn credit(&self, report: &ReportRef, row: i64, credit: &crate::triage::Credit) -> Result<()> {
        let credit_json = serde_json::to_string(credit).unwrap_or_default();
        self.tx.exec_cached(
            "UPDATE reports SET credit = ?1, updated_at = ?2 WHERE id = ?3",
            params![credit_json, ts(self.at), report.id],
        )?;
        append_event(
            self.tx,
            Some(report.id),
            Some(row),
            "credit_recorded",
            "reporter",
            &serde_json::json!({ "credit": credit }),
            self.at,
        )
    }

    fn flag_review(&self, report_id: i64, reason: &str) -> Result<()> {
        self.tx.exec_cached(
            "UPDATE reports SET needs_review = 1,
                 review_reason = CASE WHEN review_reason IS NULL THEN ?1 ELSE review_reason || '; ' || ?1 END,
                 updated_at = ?2 WHERE id = ?3",
            params![reason, ts(self.at), report_id],
        )?;
        self.event(
            Some(report_id),
            None,
            "flagged_for_review",
            &serde_json::json!({ "reason": reason }),
        )
    }

    fn new_report(
        &self,
        mail: &PreparedMail,
        from: &str,
        reporter_id: i64,
        plan: &NewReportPlan,
        policy: &IngestPolicy,
    ) -> Result<IngestResult> {
        let h = &mail.headers;
        let report_id = self.insert_report(mail, reporter_id, plan)?;
        let row = self.message(
            MessageStatus::Report,
            None,
            h.message_id.as_deref(),
            Some(from),
            Some(report_id),
            Some(mail),
        )?;
        self.attachments(row, mail)?;
        let c = &mail.classification;
        self.event(
            Some(report_id),
            Some(row),
            "ingested",
            &serde_json::json!({ "tracking_id": plan.tracking_id, "encrypted": mail.encrypted, "signature": mail.signature }),
        )?;
        self.event(
            Some(report_id),
            Some(row),
            "classified",
            &serde_json::json!({
                "component": c.component, "out_of_scope": c.out_of_scope, "missing": c.missing,
                "severity": c.severity.as_str(), "critical": c.critical,
                "possible_duplicate_of": plan.duplicate_of, "references_report": plan.references_report,
            }),
        )?;
        let ack = match &plan.ack {
            AckPlan::Withhold { reason } => {
                self.event(
                    Some(report_id),
                    Some(row),
                    "ack_suppressed",
                    &serde_json::json!({ "reason": reason }),
                )?;
                None
            }
            AckPlan::Send {
                copy_folder,
                references,
                class,
                delay_until,
            } => {
                let slot = delay_until.unwrap_or(self.at);
                let id = self.enqueue(
                    report_id,
                    OutboxKind::Ack,
                    from,
                    h.message_id.as_deref(),
                    references,
                    copy_folder.as_deref(),
                    Some((*class, slot)),
                    policy,
                )?;
                if let Some(until) = delay_until {
                    self.event(
                        Some(report_id),
                        Some(row),
                        "ack_delayed",
                        &serde_json::json!({
                            "outbox": id, "until": ts(*until), "class": class.as_str(),
                            "reason": "global rate limit: the window is full; queued, not dropped",
                        }),
                    )?;
                }
                Some(id)
            }
        };
        if let Some(team) = &plan.alert_to {
            self.enqueue(
                report_id,
                OutboxKind::Alert,
                team,
                None,
                &[],
                None,
                None,
                policy,
            )?;
        }
        Ok(IngestResult::NewReport {
            message_row: row,
            tracking_id: plan.tracking_id.clone(),
            ack,
        })
    }

    fn insert_report(
        &self,
        mail: &PreparedMail,
        reporter_id: i64,
        plan: &NewReportPlan,
    ) -> Result<i64> {
        let h = &mail.headers;
        let c = &mail.classification;
        let json = |v: &dyn erased::Json| v.to_json();
        let review = &plan.review;
        self.tx.exec_cached(
            "INSERT INTO reports(tracking_id, year, seq, reporter_id, subject, encrypted, thread_message_id, component,
                 component_evidence, out_of_scope, out_of_scope_evidence, missing, signals, cvss_version, cvss_vector,
                 cvss_score, severity, critical, fingerprint, body_sha256, possible_duplicate_of, references_report,
                 needs_review, review_reason, credit, received_at, ack_due, assessment_due, created_at, updated_at,
                 sealed_details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 ?23, ?24, ?25, ?26, ?27, ?28, ?26, ?26, ?29)",
            params![
                plan.tracking_id,
                plan.year,
                plan.seq,
                reporter_id,
                (!mail.encrypted).then_some(h.subject.as_str()),
                mail.encrypted,
                h.message_id,
                c.component,
                json(&c.component_evidence),
                c.out_of_scope,
                json(&c.out_of_scope_evidence),
                json(&c.missing),
                json(&c.signals),
                c.cvss.as_ref().map(|v| v.version.clone()),
                c.cvss.as_ref().map(|v| v.vector.clone()).filter(|v| !v.is_empty()),
                c.cvss.as_ref().map(|v| v.score),
                c.severity.as_str(),
                c.critical,
                serde_json::to_string(&mail.fingerprint).ok(),
                mail.body_sha256,
                plan.duplicate_of,
                plan.references_report,
                !review.is_empty(),
                (!review.is_empty()).then(|| review.join("; ")),
                mail.credit.as_ref().and_then(|cr| serde_json::to_string(cr).ok()),
                ts(self.at),
                ts(mail.ack_due),
                ts(mail.assessment_due),
                mail.sealed_details,
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        self.write_review(id, &c.review)?;
        Ok(id)
    }

    /// Confidences (plain columns), evidence (JSON) and the ack's claims of a new report.
    fn write_review(&self, id: i64, review: &crate::triage::Review) -> Result<()> {
        let cf = &review.confidence;
        let evidence = serde_json::json!({
            "component_candidates": review.component_candidates,
            "missing_evidence": review.missing_evidence,
            "critical_evidence": review.critical_evidence,
        });
        self.tx.exec_cached(
            "UPDATE reports SET component_confidence = ?2, out_of_scope_confidence = ?3,
                 missing_confidence = ?4, critical_confidence = ?5, triage_evidence = ?6, ack_claims = ?7
             WHERE id = ?1",
            params![
                id,
                cf.component,
                cf.out_of_scope,
                cf.missing,
                cf.critical,
                evidence.to_string(),
                serde_json::to_string(&review.ack).ok(),
            ],
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        report_id: i64,
        kind: OutboxKind,
        recipient: &str,
        in_reply_to: Option<&str>,
        references: &[String],
        copy_folder: Option<&str>,
        slot: Option<(AckClass, DateTime<Utc>)>,
        policy: &IngestPolicy,
    ) -> Result<i64> {
        let message_id = new_message_id(&policy.message_id_domain);
        // An ack's first attempt is its slot under the global limit.
        let send_at = slot.map(|(_, at)| ts(at));
        self.tx.exec_cached(
            "INSERT INTO outbox(report_id, kind, recipient, message_id, in_reply_to, \"references\", copy_folder,
                 status, next_attempt_at, created_at, ack_class, send_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', COALESCE(?10, ?8), ?8, ?9, ?10)",
            params![
                report_id,
                kind,
                recipient,
                message_id,
                in_reply_to,
                references.join(" "),
                copy_folder,
                ts(self.at),
                slot.map(|(class, _)| class.as_str()),
                send_at,
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        self.event(
            Some(report_id),
            None,
            &format!("{kind}_queued"),
            &serde_json::json!({ "outbox": id, "message_id": message_id }),
        )?;
        Ok(id)
    }

    fn attachments(&self, message_row: i64, mail: &PreparedMail) -> Result<()> {
        for a in &mail.attachments {
            self.tx.exec_cached(
                "INSERT INTO attachments(message_row, filename, content_type, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    message_row,
                    if mail.encrypted { None } else { a.filename.as_deref() },
                    a.content_type,
                    a.size as i64,
                    a.sha256
                ],
            )?;
        }
        Ok(())
    }
}

/// Tiny helper so `params!` can take JSON of several types.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
        }
    }
}

//! Read side for the CLI (list, show, overdue, status, audit verify) and the
//! few updates a person makes (status, assignee, severity, component, note,
//! credit). Short transactions: safe while the daemon runs.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{append_event, ts, Result, Store, StoreError};
use crate::model::{MessageStatus, OutboxKind, OutboxStatus, Signature};

pub const STATUSES: &[&str] = crate::model::REPORT_STATUSES;

/// Filters for `reports list`.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub status: Option<String>,
    pub component: Option<String>,
    pub severity: Option<String>,
    pub reporter: Option<String>,
    pub text: Option<String>,
    pub overdue_at: Option<DateTime<Utc>>,
    pub sort: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub tracking_id: String,
    pub status: String,
    pub reporter: String,
    pub subject: Option<String>,
    pub encrypted: bool,
    pub component: Option<String>,
    pub out_of_scope: Option<String>,
    pub missing: Vec<String>,
    pub severity: String,
    pub cvss_score: Option<f64>,
    pub critical: bool,
    pub received_at: String,
    pub ack_due: String,
    pub assessment_due: String,
    pub acked_at: Option<String>,
    pub assessed_at: Option<String>,
    pub possible_duplicate_of: Option<String>,
    pub references_report: Option<String>,
    pub needs_review: bool,
    pub review_reason: Option<String>,
    pub assignee: Option<String>,
    pub credit: Option<serde_json::Value>,
    /// per-label confidence (absent for reports filed before it was recorded)
    pub confidence: Option<crate::triage::Confidence>,
    /// what the ack was allowed to state (the confident labels)
    pub ack_claims: Option<crate::triage::AckClaims>,
    /// labels the ack did not state because they were uncertain: `out_of_scope`, `critical`,
    /// `component`, `missing:impact` ...
    pub uncertain: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub status: MessageStatus,
    pub reason: Option<String>,
    pub from_address: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub encrypted: bool,
    pub signature: Signature,
    pub signer_fingerprint: Option<String>,
    pub received_at: String,
    pub body_text: Option<String>,
    pub attachments: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub detail: serde_json::Value,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: OutboxKind,
    pub recipient: String,
    pub message_id: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub appended_at: Option<String>,
    /// Why the IMAP server refused the team's copy (the copy is then not filed).
    pub copy_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDetail {
    #[serde(flatten)]
    pub report: ReportRow,
    pub component_evidence: Vec<String>,
    pub out_of_scope_evidence: Vec<String>,
    pub signals: Vec<String>,
    pub cvss_vector: Option<String>,
    pub reporter_key: Option<String>,
    /// Keys offered for the reporter without proof (never used).
    pub key_candidates: Vec<super::KeyCandidate>,
    /// Evidence, signals and CVSS vector of an encrypted report, sealed to
    /// the team key (opened by `reports show --decrypt`).
    pub sealed_details: Option<String>,
    /// `{component_candidates, missing_evidence, critical_evidence}` (see migration 0004)
    pub triage_evidence: serde_json::Value,
    pub messages: Vec<MessageRow>,
    pub outbox: Vec<OutboxRow>,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusSummary {
    pub reports: i64,
    pub open_reports: i64,
    pub quarantined: i64,
    pub outbox_queued: i64,
    pub outbox_failed: i64,
    pub outbox_copies_pending: i64,
    /// Reply copies the IMAP server refused for good (see `copy_error`).
    pub outbox_copies_failed: i64,
    pub overdue: i64,
    pub imap_unmarked: i64,
    pub last_poll: Option<String>,
    pub last_error: Option<String>,
    pub cursors: Vec<(String, u32, u32)>,
}

const REPORT_COLUMNS: &str = "r.tracking_id, r.status, p.address, r.subject, r.encrypted, r.component, r.out_of_scope,
    r.missing, r.severity, r.cvss_score, r.critical, r.received_at, r.ack_due, r.assessment_due, r.acked_at,
    r.assessed_at, r.possible_duplicate_of, r.references_report, r.needs_review, r.review_reason, r.assignee, r.credit,
    r.component_confidence, r.out_of_scope_confidence, r.missing_confidence, r.critical_confidence, r.ack_claims";

fn report_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
    let missing: String = r.get(7)?;
    let credit: Option<String> = r.get(21)?;
    let confidence = match (r.get(22)?, r.get(23)?, r.get(24)?, r.get(25)?) {
        (Some(component), Some(out_of_scope), Some(missing), Some(critical)) => {
            Some(crate::triage::Confidence {
                component,
                out_of_scope,
                missing,
                critical,
            })
        }
        _ => None,
    };
    let ack_claims: Option<crate::triage::AckClaims> = r
        .get::<_, Option<String>>(26)?
        .and_then(|j| serde_json::from_str(&j).ok());
    let mut row = ReportRow {
        tracking_id: r.get(0)?,
        status: r.get(1)?,
        reporter: r.get(2)?,
        subject: r.get(3)?,
        encrypted: r.get(4)?,
        component: r.get(5)?,
        out_of_scope: r.get(6)?,
        missing: serde_json::from_str(&missing).unwrap_or_default(),
        severity: r.get(8)?,
        cvss_score: r.get(9)?,
        critical: r.get(10)?,
        received_at: r.get(11)?,
        ack_due: r.get(12)?,
        assessment_due: r.get(13)?,
        acked_at: r.get(14)?,
        assessed_at: r.get(15)?,
        possible_duplicate_of: r.get(16)?,
        references_report: r.get(17)?,
        needs_review: r.get(18)?,
        review_reason: r.get(19)?,
        assignee: r.get(20)?,
        credit: credit.and_then(|c| serde_json::from_str(&c).ok()),
        confidence,
        ack_claims,
        uncertain: Vec::new(),
    };
    row.uncertain = uncertain(&row);
    Ok(row)
}

/// The labels of `row` its ack did not state (see [`ReportRow::uncertain`]).
fn uncertain(row: &ReportRow) -> Vec<String> {
    let Some(ack) = &row.ack_claims else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if row.component.is_some() && ack.component.is_none() {
        out.push("component".to_string());
    }
    if row.out_of_scope.is_some() && ack.out_of_scope.is_none() {
        out.push("out_of_scope".to_string());
    }
    if row.critical && !ack.critical {
        out.push("critical".to_string());
    }
    let stated: Vec<String> = ack
        .missing
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for m in &row.missing {
        if !stated.contains(m) {
            out.push(format!("missing:{m}"));
        }
    }
    out
}

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

impl Store {
    pub fn list_reports(&self, filter: &ReportFilter) -> Result<Vec<ReportRow>> {
        let mut sql = format!("SELECT {REPORT_COLUMNS} FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE 1=1");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(s) = &filter.status {
            sql.push_str(" AND r.status = ?");
            args.push(Box::new(s.clone()));
        }
        if let Some(c) = &filter.component {
            sql.push_str(
                " AND lower(COALESCE(r.component, 'unknown')) LIKE '%' || lower(?) || '%'",
            );
            args.push(Box::new(c.clone()));
        }
        if let Some(s) = &filter.severity {
            sql.push_str(" AND r.severity = ?");
            args.push(Box::new(s.clone()));
        }
        if let Some(s) = &filter.reporter {
            sql.push_str(" AND p.address LIKE '%' || lower(?) || '%'");
            args.push(Box::new(s.clone()));
        }
        if let Some(s) = &filter.text {
            sql.push_str(" AND (r.tracking_id LIKE '%' || upper(?) || '%' OR lower(COALESCE(r.subject, '')) LIKE '%' || lower(?) || '%')");
            args.push(Box::new(s.clone()));
            args.push(Box::new(s.clone()));
        }
        if let Some(now) = filter.overdue_at {
            let now = ts(now);
            sql.push_str(
                " AND r.status NOT IN ('fixed', 'disclosed', 'rejected', 'duplicate')
                  AND ((r.acked_at IS NULL AND r.ack_due < ?) OR (r.assessed_at IS NULL AND r.assessment_due < ?))",
            );
            args.push(Box::new(now.clone()));
            args.push(Box::new(now));
        }
        let order = match filter.sort.as_deref() {
            Some("severity") => "CASE r.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, r.id",
            Some("due") => "r.assessment_due, r.id",
            Some("oldest") => "r.id",
            _ => "r.id DESC",
        };
        sql.push_str(&format!(" ORDER BY {order}"));
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                report_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn report_id(&self, tracking_id: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1",
                [tracking_id.to_ascii_uppercase()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchReport(tracking_id.to_string()))
    }

    pub fn report_detail(&self, tracking_id: &str) -> Result<ReportDetail> {
        let id = self.report_id(tracking_id)?;
        let report = self.conn.query_row(
            &format!("SELECT {REPORT_COLUMNS} FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1"),
            [id],
            report_row,
        )?;
        let triage_evidence: String = self.conn.query_row(
            "SELECT triage_evidence FROM reports WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let (component_evidence, out_of_scope_evidence, signals, cvss_vector, reporter_key, sealed_details) = self.conn.query_row(
            "SELECT r.component_evidence, r.out_of_scope_evidence, r.signals, r.cvss_vector, p.key_fingerprint,
                    r.sealed_details
             FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1",
            [id],
            |r| {
                Ok((
                    json_list(r.get(0)?),
                    json_list(r.get(1)?),
                    json_list(r.get(2)?),
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?;
        Ok(ReportDetail {
            report,
            component_evidence,
            out_of_scope_evidence,
            signals,
            cvss_vector,
            reporter_key,
            key_candidates: self.key_candidates_of(id)?,
            sealed_details,
            triage_evidence: serde_json::from_str(&triage_evidence).unwrap_or_default(),
            messages: self.messages_of(id)?,
            outbox: self.outbox_of(id)?,
            events: self.events_of(id)?,
        })
    }
    /// A report's messages in order, with their attachments.
    fn messages_of(&self, id: i64) -> Result<Vec<MessageRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, status, reason, from_address, message_id, subject, encrypted, signature, signer_fingerprint,
                    received_at, body_text FROM messages WHERE report_id = ?1 ORDER BY id",
        )?;
        let mut messages = stmt
            .query_map([id], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    status: r.get(1)?,
                    reason: r.get(2)?,
                    from_address: r.get(3)?,
                    message_id: r.get(4)?,
                    subject: r.get(5)?,
                    encrypted: r.get(6)?,
                    signature: r.get(7)?,
                    signer_fingerprint: r.get(8)?,
                    received_at: r.get(9)?,
                    body_text: r.get(10)?,
                    attachments: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut attach = self
            .conn
            .prepare("SELECT filename, content_type, size, sha256 FROM attachments WHERE message_row = ?1 ORDER BY id")?;
        for m in &mut messages {
            m.attachments = attach
                .query_map([m.id], |r| {
                    Ok(serde_json::json!({
                        "filename": r.get::<_, Option<String>>(0)?,
                        "content_type": r.get::<_, String>(1)?,
                        "size": r.get::<_, i64>(2)?,
                        "sha256": r.get::<_, String>(3)?,
                    }))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(messages)
    }

    /// A report's outbox rows in order.
    fn outbox_of(&self, id: i64) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, recipient, message_id, status, attempts, last_error, sent_at, appended_at,
                    copy_error
             FROM outbox WHERE report_id = ?1 ORDER BY id",
        )?;
        let outbox = stmt
            .query_map([id], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    recipient: r.get(2)?,
                    message_id: r.get(3)?,
                    status: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    sent_at: r.get(7)?,
                    appended_at: r.get(8)?,
                    copy_error: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(outbox)
    }

    /// A report's audit events in order.
    fn events_of(&self, id: i64) -> Result<Vec<EventRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, actor, detail, at FROM events WHERE report_id = ?1 ORDER BY id",
        )?;
        let events = stmt
            .query_map([id], |r| {
                let detail: String = r.get(3)?;
                Ok(EventRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    actor: r.get(2)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(events)
    }

    /// Quarantined messages (id, reason, from, received).
    pub fn quarantined(&self) -> Result<Vec<MessageRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, status, reason, from_address, message_id, subject, encrypted, signature, signer_fingerprint,
                    received_at FROM messages WHERE status = 'quarantined' ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    status: r.get(1)?,
                    reason: r.get(2)?,
                    from_address: r.get(3)?,
                    message_id: r.get(4)?,
                    subject: r.get(5)?,
                    encrypted: r.get(6)?,
                    signature: r.get(7)?,
                    signer_fingerprint: r.get(8)?,
                    received_at: r.get(9)?,
                    body_text: None,
                    attachments: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A person changes a report field; an audit event records who and what.
    pub fn set_report_field(
        &mut self,
        tracking_id: &str,
        field: &str,
        value: &str,
        actor: &str,
    ) -> Result<()> {
        let column = match field {
            "status" => {
                if !STATUSES.contains(&value) {
                    return Err(StoreError::Invalid(format!(
                        "status `{value}` is not one of {}",
                        STATUSES.join(", ")
                    )));
                }
                "status"
            }
            "assignee" => "assignee",
            "severity" => {
                if crate::triage::Severity::parse(value).is_none() {
                    return Err(StoreError::Invalid(format!(
                        "severity `{value}` is not known"
                    )));
                }
                "severity"
            }
            "component" => "component",
            "credit" => "credit",
            "note" => "",
            other => {
                return Err(StoreError::Invalid(format!(
                    "field `{other}` cannot be set"
                )))
            }
        };
        let now = Utc::now();
        let tx = self.conn.transaction()?;
        let id: i64 = tx
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1",
                [tracking_id.to_ascii_uppercase()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchReport(tracking_id.to_string()))?;
        if !column.is_empty() {
            tx.execute(
                &format!("UPDATE reports SET {column} = ?1, updated_at = ?2 WHERE id = ?3"),
                params![value, ts(now), id],
            )?;
            if field == "status" && value != "new" {
                tx.execute(
                    "UPDATE reports SET assessed_at = COALESCE(assessed_at, ?1) WHERE id = ?2",
                    params![ts(now), id],
                )?;
            }
        }
        let kind = match field {
            "note" => "note".to_string(),
            "credit" => "credit_recorded".to_string(),
            _ => format!("{field}_changed"),
        };
        append_event(
            &tx,
            Some(id),
            None,
            &kind,
            actor,
            &serde_json::json!({ field: value }),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn status_summary(&self, now: DateTime<Utc>) -> Result<StatusSummary> {
        let count = |sql: &str| -> Result<i64> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        let now_ts = ts(now);
        let overdue: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM reports WHERE status NOT IN ('fixed', 'disclosed', 'rejected', 'duplicate')
             AND ((acked_at IS NULL AND ack_due < ?1) OR (assessed_at IS NULL AND assessment_due < ?1))",
            [&now_ts],
            |r| r.get(0),
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT mailbox, uidvalidity, last_uid FROM imap_cursor ORDER BY mailbox")?;
        let cursors = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u32,
                    r.get::<_, i64>(2)? as u32,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(StatusSummary {
            reports: count("SELECT COUNT(*) FROM reports")?,
            open_reports: count("SELECT COUNT(*) FROM reports WHERE status IN ('new', 'triaging', 'accepted')")?,
            quarantined: count("SELECT COUNT(*) FROM messages WHERE status = 'quarantined'")?,
            outbox_queued: count("SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")?,
            outbox_failed: count("SELECT COUNT(*) FROM outbox WHERE status = 'failed'")?,
            outbox_copies_pending: count(
                "SELECT COUNT(*) FROM outbox INDEXED BY outbox_copies WHERE status = 'sent' AND appended_at IS NULL AND copy_folder IS NOT NULL AND copy_failed_at IS NULL",
            )?,
            outbox_copies_failed: count(
                "SELECT COUNT(*) FROM outbox INDEXED BY outbox_copies_failed WHERE copy_failed_at IS NOT NULL",
            )?,
            overdue,
            imap_unmarked: count("SELECT COUNT(*) FROM messages WHERE imap_marked = 0")?,
            last_poll: self.state("last_poll")?,
            last_error: self.state("last_error")?,
            cursors,
        })
    }
}

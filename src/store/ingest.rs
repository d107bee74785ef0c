//! The ingest transaction: one message in, message + report + audit events +
//! outbox row + IMAP cursor out, all in ONE SQLite transaction.
//!
//! The decisions that need the database (is this a follow-up of a report by
//! the same reporter? a duplicate delivery? over the rate limit?) are taken
//! here, inside the transaction; everything else arrives already derived in
//! [`Prepared`].

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{append_event, new_message_id, set_cursor, ts, Cached, Result, Store};
use crate::loopguard::Verdict;
use crate::parse::{Attachment, Headers};
use crate::threading::{format_tracking_id, ThreadRefs};
use crate::triage::{self, Classification, Credit, Fingerprint};

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    Imap {
        mailbox: String,
        uidvalidity: u32,
        uid: u32,
    },
    Ingest,
    Import,
}

impl SourceRef {
    fn kind(&self) -> &'static str {
        match self {
            SourceRef::Imap { .. } => "imap",
            SourceRef::Ingest => "ingest",
            SourceRef::Import => "import",
        }
    }
}

/// Everything derived from one message without the database.
#[derive(Debug)]
pub struct Prepared {
    pub raw: Vec<u8>,
    pub sha256: String,
    pub source: SourceRef,
    pub received_at: DateTime<Utc>,
    pub kind: PreparedKind,
}

#[derive(Debug)]
pub enum PreparedKind {
    /// Could not be opened or parsed: keep it with the reason.
    Quarantine {
        reason: String,
        message_id: Option<String>,
        from_address: Option<String>,
    },
    /// Not a report (bounce, auto-reply, our own mail).
    Ignore {
        reason: String,
        headers: Box<Headers>,
    },
    Mail(Box<PreparedMail>),
}

/// A parsed, opened and classified message.
#[derive(Debug)]
pub struct PreparedMail {
    pub headers: Headers,
    /// The report's text; stored only when the message was not encrypted.
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub encrypted: bool,
    pub signature: String,
    pub signer_fingerprint: Option<String>,
    /// (fingerprint, addresses, armored public key, source)
    pub discovered_keys: Vec<(String, Vec<String>, String, String)>,
    pub classification: Classification,
    pub fingerprint: Fingerprint,
    pub body_sha256: String,
    pub credit: Option<Credit>,
    pub verdict: Verdict,
    pub refs: ThreadRefs,
    pub ack_due: DateTime<Utc>,
    pub assessment_due: DateTime<Utc>,
}

/// Settings that shape the transaction.
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    pub tracking_prefix: String,
    pub message_id_domain: String,
    /// Where the ack copy goes; `None` = the message's own folder (or none for offline ingest).
    pub copy_folder: Option<String>,
    /// False when copies travel as an SMTP envelope recipient (no APPEND).
    pub append_copies: bool,
    pub team_address: Option<String>,
    pub per_sender_per_hour: u32,
    pub global_per_hour: u32,
    /// False for historical imports: store, but never reply.
    pub send_acks: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestResult {
    /// Already stored (same UID, same bytes, or same Message-ID from the same sender).
    Known,
    Quarantined {
        message_row: i64,
    },
    Ignored {
        message_row: i64,
    },
    Duplicate {
        message_row: i64,
        tracking_id: String,
    },
    NewReport {
        message_row: i64,
        tracking_id: String,
        ack: Option<i64>,
    },
    FollowUp {
        message_row: i64,
        tracking_id: String,
    },
}

impl IngestResult {
    pub fn message_row(&self) -> Option<i64> {
        match self {
            IngestResult::Known => None,
            IngestResult::Quarantined { message_row }
            | IngestResult::Ignored { message_row }
            | IngestResult::Duplicate { message_row, .. }
            | IngestResult::NewReport { message_row, .. }
            | IngestResult::FollowUp { message_row, .. } => Some(*message_row),
        }
    }
}

impl Store {
    /// Commit one message. Idempotent: a message already stored yields [`IngestResult::Known`].
    ///
    /// # Errors
    /// Database errors; the transaction is rolled back and nothing is written.
    pub fn ingest(&mut self, prepared: &Prepared, policy: &IngestPolicy) -> Result<IngestResult> {
        let result = self.ingest_one(prepared, policy);
        self.forget_caches_on_error(result)
    }

    /// The caches may hold rows of a rolled-back transaction: drop them.
    fn forget_caches_on_error<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.caches = Caches::default();
        }
        result
    }

    fn ingest_one(&mut self, prepared: &Prepared, policy: &IngestPolicy) -> Result<IngestResult> {
        let Store { conn, caches } = self;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let result = ingest_tx(&tx, prepared, policy, caches)?;
        if let SourceRef::Imap {
            mailbox,
            uidvalidity,
            uid,
        } = &prepared.source
        {
            set_cursor(&tx, mailbox, *uidvalidity, *uid)?;
        }
        tx.commit()?;
        Ok(result)
    }
}

impl Store {
    /// Group commit: several fetched messages of one mailbox in ONE
    /// transaction, with the cursor set to the highest UID. `None` items are
    /// UIDs that need no storing (our own reply copies). All or nothing: on
    /// an error nothing of the batch is written.
    ///
    /// # Errors
    /// Database errors (the caller may retry message by message).
    pub fn ingest_batch(
        &mut self,
        items: &[(u32, Option<Prepared>)],
        policy: &IngestPolicy,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<IngestResult>> {
        let result = self.ingest_batch_tx(items, policy, mailbox, uidvalidity);
        self.forget_caches_on_error(result)
    }

    fn ingest_batch_tx(
        &mut self,
        items: &[(u32, Option<Prepared>)],
        policy: &IngestPolicy,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<IngestResult>> {
        let Store { conn, caches } = self;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(items.len());
        let mut max_uid = 0;
        for (uid, prepared) in items {
            max_uid = max_uid.max(*uid);
            results.push(match prepared {
                Some(p) => ingest_tx(&tx, p, policy, caches)?,
                None => IngestResult::Known,
            });
        }
        if max_uid > 0 {
            set_cursor(&tx, mailbox, uidvalidity, max_uid)?;
        }
        tx.commit()?;
        Ok(results)
    }
}

/// How many recent reports a new one is compared with.
const DUPLICATE_WINDOW: usize = 300;

/// What the ingest transaction keeps between messages (both are dropped on a
/// rollback, as they may hold rows of the rolled-back transaction).
#[derive(Default)]
pub(crate) struct Caches {
    pub(crate) dups: DupCache,
    pub(crate) acks: AckWindow,
}

/// Creation times of recent acks, read incrementally (rows past the last
/// seen id), so the global rate limit does not count every ack of the last
/// hour for every message.
#[derive(Default)]
pub(crate) struct AckWindow {
    loaded: bool,
    last_id: i64,
    times: std::collections::BTreeMap<String, u32>,
}

impl AckWindow {
    /// Acks created at or after `since`; times before `keep_from` are
    /// forgotten (both RFC 3339 UTC timestamps, `keep_from` <= `since`).
    fn count_since(&mut self, tx: &Transaction<'_>, since: &str, keep_from: &str) -> Result<i64> {
        if !self.loaded {
            self.last_id =
                tx.row_cached("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |r| r.get(0))?;
            let mut stmt = tx.prepare_cached(
                "SELECT created_at FROM outbox WHERE kind = 'ack' AND created_at >= ?1 AND id <= ?2",
            )?;
            let rows =
                stmt.query_map(params![keep_from, self.last_id], |r| r.get::<_, String>(0))?;
            for at in rows {
                *self.times.entry(at?).or_default() += 1;
            }
            self.loaded = true;
        } else {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind = 'ack', created_at FROM outbox WHERE id > ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([self.last_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (id, ack, at) = row?;
                self.last_id = self.last_id.max(id);
                if ack && at.as_str() >= keep_from {
                    *self.times.entry(at).or_default() += 1;
                }
            }
        }
        // NOTE: the daemon's checks move forward in time; a margin covers
        // batches prepared a little out of order.
        self.times = self.times.split_off(keep_from);
        Ok(self
            .times
            .range::<str, _>((std::ops::Bound::Included(since), std::ops::Bound::Unbounded))
            .map(|(_, n)| i64::from(*n))
            .sum())
    }
}

/// Parsed fingerprints of the most recent reports, refreshed incrementally
/// (only rows newer than the last seen id are read and parsed).
#[derive(Default)]
pub(crate) struct DupCache {
    last_id: i64,
    entries: std::collections::VecDeque<(i64, String, triage::Comparable)>,
}

impl DupCache {
    fn refresh(&mut self, tx: &Transaction<'_>) -> Result<()> {
        let mut stmt = tx.prepare_cached(
            "SELECT id, reporter_id, tracking_id, fingerprint FROM reports
             WHERE id > ?1 AND fingerprint IS NOT NULL ORDER BY id DESC LIMIT ?2",
        )?;
        let mut fresh: Vec<(i64, i64, String, String)> = stmt
            .query_map(params![self.last_id, DUPLICATE_WINDOW as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        fresh.reverse();
        for (id, reporter, tid, json) in fresh {
            self.last_id = self.last_id.max(id);
            if let Ok(fp) = serde_json::from_str::<Fingerprint>(&json) {
                self.entries
                    .push_back((reporter, tid, triage::Comparable::new(&fp)));
            }
        }
        while self.entries.len() > DUPLICATE_WINDOW {
            self.entries.pop_front();
        }
        Ok(())
    }
}

fn ingest_tx(
    tx: &Transaction<'_>,
    p: &Prepared,
    policy: &IngestPolicy,
    caches: &mut Caches,
) -> Result<IngestResult> {
    let (mailbox, uidvalidity, uid) = match &p.source {
        SourceRef::Imap {
            mailbox,
            uidvalidity,
            uid,
        } => (Some(mailbox.as_str()), Some(*uidvalidity), Some(*uid)),
        _ => (None, None, None),
    };
    if let (Some(mb), Some(v), Some(u)) = (mailbox, uidvalidity, uid) {
        let known: Option<i64> = tx
            .row_cached(
                "SELECT id FROM messages WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3",
                params![mb, v, u],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_some() {
            return Ok(IngestResult::Known);
        }
    }
    let raw_known: Option<i64> = tx
        .row_cached(
            "SELECT m.id FROM raw_messages r JOIN messages m ON m.raw_id = r.id WHERE r.sha256 = ?1 LIMIT 1",
            [&p.sha256],
            |r| r.get(0),
        )
        .optional()?;
    if raw_known.is_some() {
        return Ok(IngestResult::Known);
    }

    let raw_id: i64 = match tx
        .row_cached(
            "SELECT id FROM raw_messages WHERE sha256 = ?1",
            [&p.sha256],
            |r| r.get(0),
        )
        .optional()?
    {
        Some(id) => id,
        None => {
            tx.exec_cached(
                "INSERT INTO raw_messages(sha256, size, bytes) VALUES (?1, ?2, ?3)",
                params![p.sha256, p.raw.len() as i64, p.raw],
            )?;
            tx.last_insert_rowid()
        }
    };
    let at = p.received_at;
    let insert_message = |status: &str,
                          reason: Option<&str>,
                          message_id: Option<&str>,
                          from: Option<&str>,
                          subject: Option<&str>,
                          report_id: Option<i64>,
                          mail: Option<&PreparedMail>|
     -> Result<i64> {
        let (encrypted, signature, signer, body) = match mail {
            Some(m) => (
                m.encrypted,
                m.signature.as_str(),
                m.signer_fingerprint.as_deref(),
                (!m.encrypted).then_some(m.text.as_str()),
            ),
            None => (false, "none", None, None),
        };
        tx.exec_cached(
            "INSERT INTO messages(raw_id, source, mailbox, uidvalidity, uid, imap_marked, message_id, from_address,
                 subject, status, reason, report_id, encrypted, signature, signer_fingerprint, body_text, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                raw_id,
                p.source.kind(),
                mailbox,
                uidvalidity,
                uid,
                mailbox.is_none(),
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
                ts(at)
            ],
        )?;
        Ok(tx.last_insert_rowid())
    };

    let mail = match &p.kind {
        PreparedKind::Quarantine {
            reason,
            message_id,
            from_address,
        } => {
            let row = insert_message(
                "quarantined",
                Some(reason),
                message_id.as_deref(),
                from_address.as_deref(),
                None,
                None,
                None,
            )?;
            append_event(
                tx,
                None,
                Some(row),
                "quarantined",
                "daemon",
                &serde_json::json!({ "reason": reason }),
                at,
            )?;
            return Ok(IngestResult::Quarantined { message_row: row });
        }
        PreparedKind::Ignore { reason, headers } => {
            let row = insert_message(
                "ignored",
                Some(reason),
                headers.message_id.as_deref(),
                headers.from_address.as_deref(),
                None,
                None,
                None,
            )?;
            append_event(
                tx,
                None,
                Some(row),
                "ignored",
                "daemon",
                &serde_json::json!({ "reason": reason }),
                at,
            )?;
            return Ok(IngestResult::Ignored { message_row: row });
        }
        PreparedKind::Mail(mail) => mail.as_ref(),
    };
    let h = &mail.headers;
    // NOTE: the parser guarantees a sender for PreparedKind::Mail; be defensive anyway.
    let from = h.from_address.clone().unwrap_or_default();
    let stored_subject = (!mail.encrypted).then_some(h.subject.as_str());

    // Duplicate delivery: the same Message-ID from the same sender is the same mail.
    if let Some(mid) = &h.message_id {
        let dup: Option<(i64, Option<i64>)> = tx
            .row_cached(
                "SELECT id, report_id FROM messages WHERE message_id = ?1 AND from_address = ?2 LIMIT 1",
                params![mid, from],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((_, report_id)) = dup {
            let row = insert_message(
                "duplicate",
                Some("same Message-ID from the same sender"),
                Some(mid),
                Some(&from),
                stored_subject,
                report_id,
                Some(mail),
            )?;
            append_event(
                tx,
                report_id,
                Some(row),
                "duplicate_delivery",
                "daemon",
                &serde_json::json!({}),
                at,
            )?;
            let tracking_id = match report_id {
                Some(id) => tracking_of(tx, id)?,
                None => String::new(),
            };
            return Ok(IngestResult::Duplicate {
                message_row: row,
                tracking_id,
            });
        }
    }

    let reporter = upsert_reporter(tx, &from, h.from_name.as_deref(), at)?;
    let mut review: Vec<String> = Vec::new();
    pin_keys(tx, reporter, &from, mail, at, &mut review)?;

    // Follow-up binding: a referenced report joins only when the sender is its reporter.
    let mut references_report: Option<String> = None;
    if let Some((report_id, tracking_id, reporter_id)) = find_referenced_report(tx, &mail.refs)? {
        let same_reporter = reporter_id == Some(reporter.id)
            || (mail.signature == "good"
                && reporter_key_of(tx, reporter_id)?.is_some()
                && reporter_key_of(tx, reporter_id)? == mail.signer_fingerprint);
        if same_reporter {
            let row = insert_message(
                "followup",
                None,
                h.message_id.as_deref(),
                Some(&from),
                stored_subject,
                Some(report_id),
                Some(mail),
            )?;
            insert_attachments(tx, row, mail)?;
            append_event(
                tx,
                Some(report_id),
                Some(row),
                "followup",
                "daemon",
                &serde_json::json!({ "signature": mail.signature }),
                at,
            )?;
            if let Some(credit) = &mail.credit {
                let credit_json = serde_json::to_string(credit).unwrap_or_default();
                tx.exec_cached(
                    "UPDATE reports SET credit = ?1, updated_at = ?2 WHERE id = ?3",
                    params![credit_json, ts(at), report_id],
                )?;
                append_event(
                    tx,
                    Some(report_id),
                    Some(row),
                    "credit_recorded",
                    "reporter",
                    &serde_json::json!({ "credit": credit }),
                    at,
                )?;
            }
            for reason in &review {
                flag_review(tx, report_id, reason, at)?;
            }
            return Ok(IngestResult::FollowUp {
                message_row: row,
                tracking_id,
            });
        }
        review.push(format!(
            "references {tracking_id} but comes from a different sender"
        ));
        references_report = Some(tracking_id);
    }

    // A new report.
    let year: i32 = at.format("%Y").to_string().parse().unwrap_or(1970);
    let seq: i64 = tx.row_cached(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM reports WHERE year = ?1",
        [year],
        |r| r.get(0),
    )?;
    let tracking_id = format_tracking_id(&policy.tracking_prefix, year, seq);
    let c = &mail.classification;
    let duplicate_of = find_duplicate(
        tx,
        &mut caches.dups,
        reporter.id,
        &mail.body_sha256,
        &mail.fingerprint,
    )?;
    let json = |v: &dyn erased::Json| v.to_json();
    tx.exec_cached(
        "INSERT INTO reports(tracking_id, year, seq, reporter_id, subject, encrypted, thread_message_id, component,
             component_evidence, out_of_scope, out_of_scope_evidence, missing, signals, cvss_version, cvss_vector,
             cvss_score, severity, critical, fingerprint, body_sha256, possible_duplicate_of, references_report,
             needs_review, review_reason, credit, received_at, ack_due, assessment_due, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
             ?23, ?24, ?25, ?26, ?27, ?28, ?26, ?26)",
        params![
            tracking_id,
            year,
            seq,
            reporter.id,
            stored_subject,
            mail.encrypted,
            h.message_id,
            c.component,
            json(&c.component_evidence),
            c.out_of_scope,
            json(&c.out_of_scope_evidence),
            json(&c.missing),
            json(&c.signals),
            c.cvss.as_ref().map(|v| v.version.clone()),
            c.cvss.as_ref().map(|v| v.vector.clone()),
            c.cvss.as_ref().map(|v| v.score),
            c.severity.as_str(),
            c.critical,
            serde_json::to_string(&mail.fingerprint).ok(),
            mail.body_sha256,
            duplicate_of,
            references_report,
            !review.is_empty(),
            (!review.is_empty()).then(|| review.join("; ")),
            mail.credit.as_ref().and_then(|cr| serde_json::to_string(cr).ok()),
            ts(at),
            ts(mail.ack_due),
            ts(mail.assessment_due),
        ],
    )?;
    let report_id = tx.last_insert_rowid();
    let row = insert_message(
        "report",
        None,
        h.message_id.as_deref(),
        Some(&from),
        stored_subject,
        Some(report_id),
        Some(mail),
    )?;
    insert_attachments(tx, row, mail)?;
    append_event(
        tx,
        Some(report_id),
        Some(row),
        "ingested",
        "daemon",
        &serde_json::json!({ "tracking_id": tracking_id, "encrypted": mail.encrypted, "signature": mail.signature }),
        at,
    )?;
    append_event(
        tx,
        Some(report_id),
        Some(row),
        "classified",
        "daemon",
        &serde_json::json!({
            "component": c.component, "out_of_scope": c.out_of_scope, "missing": c.missing,
            "severity": c.severity.as_str(), "critical": c.critical,
            "possible_duplicate_of": duplicate_of, "references_report": references_report,
        }),
        at,
    )?;

    let mut ack = None;
    let suppressed = match &mail.verdict {
        _ if !policy.send_acks => Some("acks disabled for this source".to_string()),
        Verdict::NoReply(reason) | Verdict::Ignore(reason) => Some(reason.clone()),
        Verdict::Reply => rate_limited(tx, &mut caches.acks, &from, at, policy)?,
    };
    match suppressed {
        Some(reason) => {
            append_event(
                tx,
                Some(report_id),
                Some(row),
                "ack_suppressed",
                "daemon",
                &serde_json::json!({ "reason": reason }),
                at,
            )?;
        }
        None => {
            let copy_folder = if policy.append_copies {
                policy
                    .copy_folder
                    .clone()
                    .or_else(|| mailbox.map(str::to_string))
            } else {
                None
            };
            let mut references: Vec<String> = h.references.clone();
            if let Some(mid) = &h.message_id {
                references.push(mid.clone());
            }
            ack = Some(enqueue(
                tx,
                report_id,
                "ack",
                &from,
                h.message_id.as_deref(),
                &references,
                copy_folder.as_deref(),
                policy,
                at,
            )?);
        }
    }
    if c.critical {
        if let Some(team) = &policy.team_address {
            enqueue(tx, report_id, "alert", team, None, &[], None, policy, at)?;
        }
    }
    Ok(IngestResult::NewReport {
        message_row: row,
        tracking_id,
        ack,
    })
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

#[derive(Clone, Copy)]
struct ReporterRef {
    id: i64,
}

fn upsert_reporter(
    tx: &Transaction<'_>,
    address: &str,
    name: Option<&str>,
    at: DateTime<Utc>,
) -> Result<ReporterRef> {
    tx.exec_cached(
        "INSERT INTO reporters(address, display_name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(address) DO NOTHING",
        params![address, name, ts(at)],
    )?;
    let id = tx.row_cached(
        "SELECT id FROM reporters WHERE address = ?1",
        [address],
        |r| r.get(0),
    )?;
    Ok(ReporterRef { id })
}

fn reporter_key_of(tx: &Transaction<'_>, reporter_id: Option<i64>) -> Result<Option<String>> {
    let Some(id) = reporter_id else {
        return Ok(None);
    };
    Ok(tx
        .row_cached(
            "SELECT key_fingerprint FROM reporters WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// Pin a discovered key to the reporter, or flag a different one for review.
fn pin_keys(
    tx: &Transaction<'_>,
    reporter: ReporterRef,
    address: &str,
    mail: &PreparedMail,
    at: DateTime<Utc>,
    review: &mut Vec<String>,
) -> Result<()> {
    let pinned = reporter_key_of(tx, Some(reporter.id))?;
    let mut offered: Vec<(String, String, String)> = mail
        .discovered_keys
        .iter()
        .filter(|(_, addrs, _, _)| addrs.iter().any(|a| a.eq_ignore_ascii_case(address)))
        .map(|(fpr, _, armored, source)| (fpr.clone(), armored.clone(), source.clone()))
        .collect();
    offered.dedup_by(|a, b| a.0 == b.0);
    match pinned {
        None => {
            if let Some((fpr, armored, source)) = offered.first() {
                tx.exec_cached(
                    "UPDATE reporters SET key_fingerprint = ?1, key_armored = ?2, key_source = ?3 WHERE id = ?4",
                    params![fpr, armored, source, reporter.id],
                )?;
                append_event(
                    tx,
                    None,
                    None,
                    "reporter_key_pinned",
                    "daemon",
                    &serde_json::json!({ "reporter": address, "fingerprint": fpr, "source": source }),
                    at,
                )?;
            }
        }
        Some(pinned) => {
            for (fpr, _, source) in &offered {
                if *fpr != pinned {
                    review.push(format!(
                        "reporter offered a different key {fpr} via {source} (pinned {pinned})"
                    ));
                }
            }
            if let Some(signer) = &mail.signer_fingerprint {
                if mail.signature == "good"
                    && *signer != pinned
                    && !offered.iter().any(|o| &o.0 == signer)
                {
                    review.push(format!("signed with {signer}, not the pinned key {pinned}"));
                }
            }
        }
    }
    Ok(())
}

fn flag_review(
    tx: &Transaction<'_>,
    report_id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.exec_cached(
        "UPDATE reports SET needs_review = 1,
             review_reason = CASE WHEN review_reason IS NULL THEN ?1 ELSE review_reason || '; ' || ?1 END,
             updated_at = ?2 WHERE id = ?3",
        params![reason, ts(at), report_id],
    )?;
    append_event(
        tx,
        Some(report_id),
        None,
        "flagged_for_review",
        "daemon",
        &serde_json::json!({ "reason": reason }),
        at,
    )?;
    Ok(())
}

fn tracking_of(tx: &Transaction<'_>, report_id: i64) -> Result<String> {
    Ok(tx.row_cached(
        "SELECT tracking_id FROM reports WHERE id = ?1",
        [report_id],
        |r| r.get(0),
    )?)
}

/// The first report `refs` point at: by tracking id, then by any Message-ID
/// in the thread (the report's own mails or our replies).
fn find_referenced_report(
    tx: &Transaction<'_>,
    refs: &ThreadRefs,
) -> Result<Option<(i64, String, Option<i64>)>> {
    for tid in &refs.tracking_ids {
        let found = tx
            .row_cached(
                "SELECT id, tracking_id, reporter_id FROM reports WHERE tracking_id = ?1",
                [tid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    for mid in &refs.message_ids {
        let report_id: Option<i64> = tx
            .row_cached(
                "SELECT report_id FROM outbox WHERE message_id = ?1 AND report_id IS NOT NULL
                 UNION ALL SELECT report_id FROM messages WHERE message_id = ?1 AND report_id IS NOT NULL
                 LIMIT 1",
                [mid],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = report_id {
            let found = tx.row_cached(
                "SELECT id, tracking_id, reporter_id FROM reports WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// An earlier report by a DIFFERENT reporter with the same body or a similar fingerprint.
fn find_duplicate(
    tx: &Transaction<'_>,
    cache: &mut DupCache,
    reporter_id: i64,
    body_sha256: &str,
    fp: &Fingerprint,
) -> Result<Option<String>> {
    let exact: Option<String> = tx
        .row_cached(
            "SELECT tracking_id FROM reports WHERE body_sha256 = ?1 AND reporter_id <> ?2 ORDER BY id LIMIT 1",
            params![body_sha256, reporter_id],
            |r| r.get(0),
        )
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    if fp.indicators.is_empty() && fp.shingles.is_empty() {
        return Ok(None);
    }
    // NOTE: a bounded window of recent reports keeps ingest cost flat as the store grows.
    cache.refresh(tx)?;
    let fp = triage::Comparable::new(fp);
    let mut best: Option<(f64, &String)> = None;
    for (other_reporter, tid, other) in &cache.entries {
        if *other_reporter == reporter_id {
            continue;
        }
        let score = fp.similarity(other);
        if score >= triage::NEAR_DUPLICATE_THRESHOLD
            && best.as_ref().is_none_or(|(b, _)| score > *b)
        {
            best = Some((score, tid));
        }
    }
    Ok(best.map(|(_, tid)| tid.clone()))
}

/// Over a rate limit? Returns the reason if so.
fn rate_limited(
    tx: &Transaction<'_>,
    acks: &mut AckWindow,
    from: &str,
    at: DateTime<Utc>,
    policy: &IngestPolicy,
) -> Result<Option<String>> {
    let since = ts(at - ChronoDuration::hours(1));
    // NOTE: counts stop at the limit: past it the exact number does not matter.
    let per_sender: i64 = tx.row_cached(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox
           WHERE kind = 'ack' AND recipient = ?1 AND created_at >= ?2 LIMIT ?3)",
        params![from, since, policy.per_sender_per_hour as i64],
        |r| r.get(0),
    )?;
    if per_sender >= policy.per_sender_per_hour as i64 {
        return Ok(Some(format!(
            "rate limit: {per_sender} acks to this sender in the last hour"
        )));
    }
    // NOTE: the daemon's checks are about "now"; older dates (an import) ask the database.
    let recent = at >= Utc::now() - ChronoDuration::minutes(10);
    let global: i64 = if recent {
        acks.count_since(tx, &since, &ts(at - ChronoDuration::minutes(70)))?
    } else {
        tx.row_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM outbox
               WHERE kind = 'ack' AND created_at >= ?1 LIMIT ?2)",
            params![since, policy.global_per_hour as i64],
            |r| r.get(0),
        )?
    };
    if global >= policy.global_per_hour as i64 {
        return Ok(Some(format!(
            "global rate limit: {global} acks in the last hour"
        )));
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
fn enqueue(
    tx: &Transaction<'_>,
    report_id: i64,
    kind: &str,
    recipient: &str,
    in_reply_to: Option<&str>,
    references: &[String],
    copy_folder: Option<&str>,
    policy: &IngestPolicy,
    at: DateTime<Utc>,
) -> Result<i64> {
    let message_id = new_message_id(&policy.message_id_domain);
    tx.exec_cached(
        "INSERT INTO outbox(report_id, kind, recipient, message_id, in_reply_to, \"references\", copy_folder,
             status, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?8)",
        params![
            report_id,
            kind,
            recipient,
            message_id,
            in_reply_to,
            references.join(" "),
            copy_folder,
            ts(at)
        ],
    )?;
    let id = tx.last_insert_rowid();
    append_event(
        tx,
        Some(report_id),
        None,
        &format!("{kind}_queued"),
        "daemon",
        &serde_json::json!({ "outbox": id, "message_id": message_id }),
        at,
    )?;
    Ok(id)
}

fn insert_attachments(tx: &Transaction<'_>, message_row: i64, mail: &PreparedMail) -> Result<()> {
    for a in &mail.attachments {
        tx.exec_cached(
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

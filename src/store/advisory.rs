//! Advisories in SQLite: draft (linked to its reports), read, change, publish
//! (revision bump, audit, publish notices queued once), milestone mails, the
//! team's disclosure reminders, and the per-report disclosure date.
//!
//! I/O: the store's connection, short transactions. Every change checks all
//! its input first and writes in ONE transaction with its audit events, so a
//! bad field leaves nothing half-written. Credits are read from
//! `reports.credit` (recorded consent) and never stored on the advisory.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{append_event, new_message_id, parse_ts, ts, Store, StoreError};
use crate::advisory::model::{
    check_credit_name, check_cve, check_cvss, check_cwe, check_text, check_version, Advisory,
    AdvisoryStatus, CreditState, FeedingReport, FieldError, Revision,
};
use crate::advisory::AdvisoryConfig;
use crate::model::OutboxKind;
use crate::triage::Credit;

/// What can go wrong with an advisory change.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("no advisory {0}")]
    NoSuchAdvisory(String),
}

impl From<rusqlite::Error> for AdvisoryError {
    fn from(e: rusqlite::Error) -> Self {
        AdvisoryError::Store(StoreError::Sql(e))
    }
}

type Result<T, E = AdvisoryError> = std::result::Result<T, E>;

/// Fields of `advisory draft` / `advisory set`; `None` = keep (or derive from the reports).
#[derive(Debug, Clone, Default)]
pub struct AdvisoryFields {
    pub title: Option<String>,
    pub product: Option<String>,
    pub component: Option<String>,
    pub affected: Vec<String>,
    pub fixed: Vec<String>,
    pub cwe: Option<String>,
    pub cwe_name: Option<String>,
    pub cvss_v31: Option<String>,
    pub cvss_v40: Option<String>,
    pub description: Option<String>,
    pub remediation: Option<String>,
    pub cve: Option<String>,
    pub disclosure: Option<DateTime<Utc>>,
    pub status: Option<AdvisoryStatus>,
    /// More reports that feed the advisory.
    pub also: Vec<String>,
}

/// Checked, canonical field values, ready to write.
#[derive(Debug, Default)]
struct Checked {
    text: Vec<(&'static str, Option<String>)>,
    affected: Option<Vec<String>>,
    fixed: Option<Vec<String>>,
}

fn check_fields(f: &AdvisoryFields) -> Result<Checked, FieldError> {
    let mut c = Checked::default();
    for (col, field, value, max) in [
        ("title", "--title", &f.title, 200),
        ("product", "--product", &f.product, 120),
        ("component", "--component", &f.component, 120),
        ("description", "--description", &f.description, 20_000),
        ("remediation", "--remediation", &f.remediation, 20_000),
    ] {
        if let Some(v) = value {
            check_text(field, v, max)?;
            c.text.push((col, Some(v.trim().to_string())));
        }
    }
    if let Some(v) = &f.cvss_v31 {
        c.text
            .push(("cvss_v31", Some(check_cvss("--cvss-v31", v, "3.1")?)));
    }
    if let Some(v) = &f.cvss_v40 {
        c.text
            .push(("cvss_v40", Some(check_cvss("--cvss-v40", v, "4.0")?)));
    }
    if let Some(id) = &f.cwe {
        let (id, name) = check_cwe(id, f.cwe_name.as_deref())?;
        c.text.push(("cwe", Some(id)));
        c.text.push(("cwe_name", Some(name)));
    } else if f.cwe_name.is_some() {
        return Err(FieldError::new("--cwe-name", "needs --cwe"));
    }
    if let Some(v) = &f.cve {
        c.text.push(("cve_id", Some(check_cve(v)?)));
    }
    if let Some(d) = f.disclosure {
        c.text.push(("disclosure_at", Some(ts(d))));
    }
    let versions = |field: &str, list: &[String]| -> Result<Option<Vec<String>>, FieldError> {
        if list.is_empty() {
            return Ok(None);
        }
        list.iter()
            .map(|v| check_version(field, v))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    };
    c.affected = versions("--affected", &f.affected)?;
    c.fixed = versions("--fixed", &f.fixed)?;
    Ok(c)
}

/// A report row an advisory needs.
struct ReportFacts {
    id: i64,
    tracking_id: String,
    received_at: DateTime<Utc>,
    disclosure_at: Option<DateTime<Utc>>,
    component: Option<String>,
    cvss_version: Option<String>,
    cvss_vector: Option<String>,
    credit: Option<Credit>,
}

fn report_facts(tx: &Transaction<'_>, tracking_id: &str) -> Result<ReportFacts> {
    tx.query_row(
        "SELECT id, tracking_id, received_at, disclosure_at, component, cvss_version, cvss_vector, credit
         FROM reports WHERE tracking_id = ?1",
        [tracking_id.trim().to_ascii_uppercase()],
        |r| {
            Ok(ReportFacts {
                id: r.get(0)?,
                tracking_id: r.get(1)?,
                received_at: parse_ts(&r.get::<_, String>(2)?).unwrap_or_default(),
                disclosure_at: r.get::<_, Option<String>>(3)?.as_deref().and_then(parse_ts),
                component: r.get(4)?,
                cvss_version: r.get(5)?,
                cvss_vector: r.get(6)?,
                credit: r.get::<_, Option<String>>(7)?.and_then(|c| serde_json::from_str(&c).ok()),
            })
        },
    )
    .optional()?
    .ok_or_else(|| AdvisoryError::Store(StoreError::NoSuchReport(tracking_id.to_string())))
}

/// A recorded credit name must be publishable (no control characters, HTML or headers).
fn check_recorded_credit(r: &ReportFacts) -> Result<(), FieldError> {
    if let Some(Credit::Name(n)) = &r.credit {
        check_credit_name(&format!("credit of {}", r.tracking_id), n)?;
    }
    Ok(())
}

/// The agreed disclosure date of a report.
pub fn report_disclosure(
    received_at: DateTime<Utc>,
    set: Option<DateTime<Utc>>,
    days: u32,
) -> DateTime<Utc> {
    set.unwrap_or(received_at + Duration::days(i64::from(days)))
}

impl Store {
    /// `advisory draft ID [--also ID…]`: a new advisory fed by these reports.
    ///
    /// # Errors
    /// An unknown report, a bad field or a recorded credit name that cannot be published.
    pub fn draft_advisory(
        &mut self,
        reports: &[String],
        fields: &AdvisoryFields,
        config: &AdvisoryConfig,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Advisory> {
        let checked = check_fields(fields)?;
        let tx = self.conn.transaction()?;
        let mut facts = Vec::new();
        for id in reports.iter().chain(fields.also.iter()) {
            let f = report_facts(&tx, id)?;
            check_recorded_credit(&f)?;
            if !facts.iter().any(|x: &ReportFacts| x.id == f.id) {
                facts.push(f);
            }
        }
        let first = facts
            .first()
            .ok_or_else(|| FieldError::new("ID", "an advisory needs at least one report"))?;
        let product = fields
            .product
            .clone()
            .or_else(|| first.component.clone())
            .ok_or_else(|| {
                FieldError::new("--product", "the report names no component; give --product")
            })?;
        let title = fields
            .title
            .clone()
            .unwrap_or_else(|| format!("Vulnerability in {product}"));
        let disclosure = facts
            .iter()
            .map(|f| report_disclosure(f.received_at, f.disclosure_at, config.disclosure_days))
            .min()
            .unwrap_or(now);
        let year: i32 = chrono::Datelike::year(&now);
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM advisories WHERE year = ?1",
            [year],
            |r| r.get(0),
        )?;
        let advisory_id = format!("{}-{year}-{seq:04}", config.id_prefix);
        tx.execute(
            "INSERT INTO advisories(advisory_id, year, seq, title, product, component, disclosure_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![advisory_id, year, seq, title, product, first.component, ts(disclosure), ts(now)],
        )?;
        let row = tx.last_insert_rowid();
        seed_score(&tx, row, first)?;
        write_fields(&tx, row, &checked, now)?;
        for f in &facts {
            tx.execute(
                "INSERT INTO advisory_reports(advisory_row, report_id) VALUES (?1, ?2)",
                params![row, f.id],
            )?;
            append_event(
                &tx,
                Some(f.id),
                None,
                "advisory_drafted",
                actor,
                &serde_json::json!({ "advisory": advisory_id }),
                now,
            )?;
        }
        tx.commit()?;
        self.advisory(&advisory_id)
    }

    /// `advisory set ID …`: change fields, status (draft ↔ review), add reports.
    ///
    /// # Errors
    /// An unknown advisory or report, a bad field, a status change that is not allowed.
    pub fn update_advisory(
        &mut self,
        id: &str,
        fields: &AdvisoryFields,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Advisory> {
        let checked = check_fields(fields)?;
        let current = self.advisory(id)?;
        if let Some(to) = fields.status {
            if !current.status.may_become(to) {
                let hint = if to == AdvisoryStatus::Published {
                    " (use `advisory publish`)"
                } else {
                    ""
                };
                return Err(FieldError::new(
                    "--status",
                    format!(
                        "{} cannot become {}{hint}",
                        current.status.as_str(),
                        to.as_str()
                    ),
                )
                .into());
            }
        }
        let tx = self.conn.transaction()?;
        let row = advisory_row(&tx, &current.advisory_id)?;
        let mut new_reports = Vec::new();
        for rid in &fields.also {
            let f = report_facts(&tx, rid)?;
            check_recorded_credit(&f)?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO advisory_reports(advisory_row, report_id) VALUES (?1, ?2)",
                params![row, f.id],
            )?;
            if added > 0 {
                new_reports.push(f.id);
            }
        }
        write_fields(&tx, row, &checked, now)?;
        if let Some(to) = fields.status {
            tx.execute(
                "UPDATE advisories SET status = ?1 WHERE id = ?2",
                params![to.as_str(), row],
            )?;
        }
        let changed: Vec<&str> = checked.text.iter().map(|(c, _)| *c).collect();
        let detail = serde_json::json!({
            "advisory": current.advisory_id, "fields": changed,
            "status": fields.status.map(|s| s.as_str()), "affected": checked.affected, "fixed": checked.fixed,
        });
        for rid in feeding_ids(&tx, row)? {
            let kind = if new_reports.contains(&rid) {
                "advisory_drafted"
            } else {
                "advisory_changed"
            };
            append_event(&tx, Some(rid), None, kind, actor, &detail, now)?;
        }
        tx.commit()?;
        self.advisory(&current.advisory_id)
    }

    /// One advisory with its feeding reports and their credit answers.
    ///
    /// # Errors
    /// [`AdvisoryError::NoSuchAdvisory`].
    pub fn advisory(&self, id: &str) -> Result<Advisory> {
        let upper = id.trim().to_ascii_uppercase();
        let mut a = self
            .conn
            .query_row(
                &format!("SELECT {ADVISORY_COLUMNS} FROM advisories WHERE advisory_id = ?1"),
                [&upper],
                advisory_from_row,
            )
            .optional()?
            .ok_or(AdvisoryError::NoSuchAdvisory(upper))?;
        a.reports = self.feeding_reports(&a.advisory_id)?;
        Ok(a)
    }

    fn feeding_reports(&self, advisory_id: &str) -> Result<Vec<FeedingReport>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.tracking_id, r.received_at, r.credit FROM advisory_reports x
             JOIN advisories a ON a.id = x.advisory_row JOIN reports r ON r.id = x.report_id
             WHERE a.advisory_id = ?1 ORDER BY r.received_at, r.id",
        )?;
        let rows = stmt
            .query_map([advisory_id], |r| {
                let credit: Option<Credit> = r
                    .get::<_, Option<String>>(2)?
                    .and_then(|c| serde_json::from_str(&c).ok());
                Ok(FeedingReport {
                    tracking_id: r.get(0)?,
                    received_at: parse_ts(&r.get::<_, String>(1)?).unwrap_or_default(),
                    credit: CreditState::from_recorded(credit.as_ref()),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every advisory, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn list_advisories(&self) -> Result<Vec<Advisory>> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT advisory_id FROM advisories ORDER BY year DESC, seq DESC")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        ids.iter().map(|id| self.advisory(id)).collect()
    }

    /// Advisories a report feeds: (advisory id, status).
    ///
    /// # Errors
    /// Database errors.
    pub fn report_advisories(&self, tracking_id: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT a.advisory_id, a.status FROM advisories a JOIN advisory_reports x ON x.advisory_row = a.id
             JOIN reports r ON r.id = x.report_id WHERE r.tracking_id = ?1 ORDER BY a.year, a.seq",
        )?;
        let rows = stmt
            .query_map([tracking_id.to_ascii_uppercase()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Valid reports (accepted or fixed) that no advisory covers yet.
    ///
    /// # Errors
    /// Database errors.
    pub fn uncovered_reports(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT tracking_id FROM reports r WHERE r.status IN ('accepted', 'fixed')
             AND NOT EXISTS (SELECT 1 FROM advisory_reports x WHERE x.report_id = r.id) ORDER BY r.received_at",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Set the agreed disclosure date of one report (`reports set --disclosure`).
    ///
    /// # Errors
    /// No such report.
    pub fn set_report_disclosure(
        &mut self,
        tracking_id: &str,
        at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let f = report_facts(&tx, tracking_id)?;
        tx.execute(
            "UPDATE reports SET disclosure_at = ?1, updated_at = ?2 WHERE id = ?3",
            params![ts(at), ts(now), f.id],
        )?;
        append_event(
            &tx,
            Some(f.id),
            None,
            "disclosure_date_set",
            actor,
            &serde_json::json!({ "disclosure_at": ts(at) }),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The agreed disclosure date of a report (set, or received + `days`).
    ///
    /// # Errors
    /// No such report.
    pub fn report_disclosure_date(
        &mut self,
        tracking_id: &str,
        days: u32,
    ) -> Result<DateTime<Utc>> {
        let tx = self.conn.transaction()?;
        let f = report_facts(&tx, tracking_id)?;
        Ok(report_disclosure(f.received_at, f.disclosure_at, days))
    }
}

const ADVISORY_COLUMNS: &str = "advisory_id, status, title, product, component, affected_versions, fixed_versions,
    cwe, cwe_name, cvss_v31, cvss_v40, description, remediation, cve_id, disclosure_at, published_at, revisions,
    created_at, updated_at";

fn advisory_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Advisory> {
    let json_list = |i: usize| -> rusqlite::Result<Vec<String>> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or_default())
    };
    let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
        Ok(parse_ts(&r.get::<_, String>(i)?).unwrap_or_default())
    };
    let status: String = r.get(1)?;
    Ok(Advisory {
        advisory_id: r.get(0)?,
        status: AdvisoryStatus::parse(&status).unwrap_or(AdvisoryStatus::Draft),
        title: r.get(2)?,
        product: r.get(3)?,
        component: r.get(4)?,
        affected_versions: json_list(5)?,
        fixed_versions: json_list(6)?,
        cwe: r.get(7)?,
        cwe_name: r.get(8)?,
        cvss_v31: r.get(9)?,
        cvss_v40: r.get(10)?,
        description: r.get(11)?,
        remediation: r.get(12)?,
        cve_id: r.get(13)?,
        disclosure_at: time(14)?,
        published_at: r
            .get::<_, Option<String>>(15)?
            .as_deref()
            .and_then(parse_ts),
        revisions: serde_json::from_str::<Vec<Revision>>(&r.get::<_, String>(16)?)
            .unwrap_or_default(),
        created_at: time(17)?,
        updated_at: time(18)?,
        reports: Vec::new(),
    })
}

/// The first report's (valid, scored) vector seeds the advisory's score; the team may change it.
fn seed_score(tx: &Transaction<'_>, row: i64, first: &ReportFacts) -> Result<()> {
    let column = match first.cvss_version.as_deref() {
        Some("3.1") => "cvss_v31",
        Some("4.0") => "cvss_v40",
        _ => return Ok(()),
    };
    tx.execute(
        &format!("UPDATE advisories SET {column} = ?1 WHERE id = ?2"),
        params![first.cvss_vector, row],
    )?;
    Ok(())
}

fn advisory_row(tx: &Transaction<'_>, advisory_id: &str) -> Result<i64> {
    tx.query_row(
        "SELECT id FROM advisories WHERE advisory_id = ?1",
        [advisory_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| AdvisoryError::NoSuchAdvisory(advisory_id.to_string()))
}

fn feeding_ids(tx: &Transaction<'_>, row: i64) -> Result<Vec<i64>> {
    let mut stmt = tx.prepare(
        "SELECT report_id FROM advisory_reports WHERE advisory_row = ?1 ORDER BY report_id",
    )?;
    let rows = stmt
        .query_map([row], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn write_fields(tx: &Transaction<'_>, row: i64, c: &Checked, now: DateTime<Utc>) -> Result<()> {
    for (col, value) in &c.text {
        // NOTE: `col` comes from the fixed list in `check_fields`, never from input.
        tx.execute(
            &format!("UPDATE advisories SET {col} = ?1 WHERE id = ?2"),
            params![value, row],
        )?;
    }
    for (col, list) in [
        ("affected_versions", &c.affected),
        ("fixed_versions", &c.fixed),
    ] {
        if let Some(list) = list {
            let json = serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
            tx.execute(
                &format!("UPDATE advisories SET {col} = ?1 WHERE id = ?2"),
                params![json, row],
            )?;
        }
    }
    tx.execute(
        "UPDATE advisories SET updated_at = ?1 WHERE id = ?2",
        params![ts(now), row],
    )?;
    Ok(())
}

/// Queue one reply of `kind` about report `report_id` to its reporter, unless
/// one was queued before (the unique index `outbox_once`). True when queued.
pub(super) fn queue_reporter_mail(
    tx: &Transaction<'_>,
    report_id: i64,
    kind: OutboxKind,
    advisory_row: Option<i64>,
    domain: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let target: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT p.address, r.thread_message_id FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1",
            [report_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((recipient, thread)) = target else {
        return Ok(false);
    };
    let queued = tx.execute(
        "INSERT OR IGNORE INTO outbox(report_id, kind, recipient, message_id, in_reply_to, \"references\", status,
             next_attempt_at, created_at, advisory_row)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'queued', ?6, ?6, ?7)",
        params![report_id, kind.as_str(), recipient, new_message_id(domain), thread, ts(now), advisory_row],
    )?;
    if queued > 0 {
        let outbox = tx.last_insert_rowid();
        append_event(
            tx,
            Some(report_id),
            None,
            &format!("{kind}_queued"),
            actor,
            &serde_json::json!({ "outbox": outbox }),
            now,
        )?;
    }
    Ok(queued > 0)
}

impl Store {
    /// Queue the templated status notice to the reporter of `tracking_id`
    /// (`team.status_notices`, issue 12), audited with `actor`. Returns
    /// whether a row was queued.
    ///
    /// # Errors
    /// No such report; database errors.
    pub fn queue_status_notice(
        &mut self,
        tracking_id: &str,
        domain: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<bool, StoreError> {
        let id = self.report_id(tracking_id)?;
        let tx = self.conn.transaction()?;
        let queued =
            queue_reporter_mail(&tx, id, OutboxKind::StatusNotice, None, domain, actor, now)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
        tx.commit()?;
        Ok(queued)
    }
}

/// Check that `a` may be published now and return its next revision number
/// and revision history.
fn next_revision(
    a: &Advisory,
    summary: Option<&str>,
    allow_unanswered: bool,
    now: DateTime<Utc>,
) -> Result<(u32, Vec<Revision>)> {
    if a.status == AdvisoryStatus::Draft {
        return Err(FieldError::new(
            "--status",
            format!(
                "{} is a draft: move it to review first (`advisory set {} --status review`)",
                a.advisory_id, a.advisory_id
            ),
        )
        .into());
    }
    a.check_exportable()?;
    if let Some(t) = a.unanswered().first().filter(|_| !allow_unanswered) {
        return Err(FieldError::new(format!("credit of {t}"), "the reporter never answered the credit question: record it with `reports credit` or publish with --allow-unanswered (they are then not credited)").into());
    }
    if let Some(s) = summary {
        check_text("--summary", s, 500)?;
    }
    let number = a.revisions.last().map(|r| r.number + 1).unwrap_or(1);
    let summary = summary.map(str::to_string).unwrap_or_else(|| {
        if number == 1 {
            "Initial public release".into()
        } else {
            format!("Revision {number}")
        }
    });
    let mut revisions = a.revisions.clone();
    revisions.push(Revision {
        number,
        date: now,
        summary,
    });
    Ok((number, revisions))
}

/// A reporter milestone (`advisory milestone ID M`); `published` is the publish notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    Triaged,
    Fixing,
    Fixed,
    Published,
}

impl Milestone {
    pub fn parse(text: &str) -> Option<Milestone> {
        match text {
            "triaged" => Some(Milestone::Triaged),
            "fixing" | "fix-in-progress" => Some(Milestone::Fixing),
            "fixed" => Some(Milestone::Fixed),
            "published" => Some(Milestone::Published),
            _ => None,
        }
    }

    pub fn kind(self) -> OutboxKind {
        match self {
            Milestone::Triaged => OutboxKind::MilestoneTriaged,
            Milestone::Fixing => OutboxKind::MilestoneFixing,
            Milestone::Fixed => OutboxKind::MilestoneFixed,
            Milestone::Published => OutboxKind::AdvisoryPublished,
        }
    }

    /// Is this milestone's mail switched on in `[advisory.milestones]`?
    pub fn enabled(self, config: &AdvisoryConfig) -> bool {
        let m = &config.milestones;
        match self {
            Milestone::Triaged => m.triaged,
            Milestone::Fixing => m.fixing,
            Milestone::Fixed => m.fixed,
            Milestone::Published => m.published,
        }
    }
}

/// What `advisory publish` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub revision: u32,
    /// Publish notices queued now (a reporter already notified is not mailed again).
    pub notices: usize,
}

/// What a milestone mail, publish notice or reminder may say: ids and dates only.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NoticeFacts {
    pub advisory_id: Option<String>,
    pub advisory_year: Option<i32>,
    pub advisory_file: Option<String>,
    pub disclosure_at: Option<DateTime<Utc>>,
    /// The report's status now (for a status notice).
    pub status: Option<String>,
}

impl Store {
    /// `advisory publish ID`: review → published (or a new revision of a
    /// published advisory): stamps the date, bumps the revision, audits it on
    /// every feeding report and, when `notify`, queues one notice per
    /// credited reporter (never a second one for the same advisory).
    ///
    /// # Errors
    /// Not in review, no affected version, or a feeding report without a
    /// credit answer (unless `allow_unanswered`).
    #[allow(clippy::too_many_arguments)]
    pub fn publish_advisory(
        &mut self,
        id: &str,
        summary: Option<&str>,
        notify: bool,
        allow_unanswered: bool,
        domain: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Published> {
        let a = self.advisory(id)?;
        let (number, revisions) = next_revision(&a, summary, allow_unanswered, now)?;
        let tx = self.conn.transaction()?;
        let row = advisory_row(&tx, &a.advisory_id)?;
        tx.execute(
            "UPDATE advisories SET status = 'published', published_at = COALESCE(published_at, ?1), revisions = ?2, updated_at = ?1 WHERE id = ?3",
            params![ts(now), serde_json::to_string(&revisions).unwrap_or_else(|_| "[]".into()), row],
        )?;
        let credited: Vec<String> = a
            .reports
            .iter()
            .filter(|r| matches!(r.credit, CreditState::Name(_) | CreditState::Anonymous))
            .map(|r| r.tracking_id.clone())
            .collect();
        let mut notices = 0;
        for rid in feeding_ids(&tx, row)? {
            append_event(
                &tx,
                Some(rid),
                None,
                "advisory_published",
                actor,
                &serde_json::json!({ "advisory": a.advisory_id, "revision": number }),
                now,
            )?;
            let tracking: String = tx.query_row(
                "SELECT tracking_id FROM reports WHERE id = ?1",
                [rid],
                |r| r.get(0),
            )?;
            if notify
                && credited.contains(&tracking)
                && queue_reporter_mail(
                    &tx,
                    rid,
                    OutboxKind::AdvisoryPublished,
                    Some(row),
                    domain,
                    actor,
                    now,
                )?
            {
                notices += 1;
            }
        }
        tx.commit()?;
        Ok(Published {
            revision: number,
            notices,
        })
    }

    /// Queue the `milestone` mail to the reporter of every report feeding
    /// advisory `id` (once per report). Returns how many were queued.
    ///
    /// # Errors
    /// No such advisory.
    pub fn queue_milestone(
        &mut self,
        id: &str,
        milestone: Milestone,
        domain: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let id = id.trim().to_ascii_uppercase();
        // An advisory id: every report that feeds it; a tracking id: that
        // report alone (a valid report no advisory covers yet).
        let (advisory_row, reports) = match advisory_row(&tx, &id) {
            Ok(row) => (
                (milestone == Milestone::Published).then_some(row),
                feeding_ids(&tx, row)?,
            ),
            Err(AdvisoryError::NoSuchAdvisory(_)) => {
                let report: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM reports WHERE tracking_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()?;
                match report {
                    Some(rid) if milestone != Milestone::Published => (None, vec![rid]),
                    _ => return Err(AdvisoryError::NoSuchAdvisory(id)),
                }
            }
            Err(e) => return Err(e),
        };
        let mut n = 0;
        for rid in reports {
            if queue_reporter_mail(&tx, rid, milestone.kind(), advisory_row, domain, actor, now)? {
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Queue one reminder to `team` for every unpublished advisory, and every
    /// valid report no advisory covers, whose disclosure date is within
    /// `config.remind_before_days` (once each). Returns how many were queued.
    ///
    /// # Errors
    /// Database errors.
    pub fn queue_disclosure_reminders(
        &mut self,
        team: &str,
        domain: &str,
        config: &AdvisoryConfig,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if config.remind_before_days == 0 {
            return Ok(0);
        }
        let horizon = now + Duration::days(i64::from(config.remind_before_days));
        let tx = self.conn.transaction()?;
        let mut due: Vec<(i64, Option<i64>)> = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT a.id, MIN(x.report_id) FROM advisories a JOIN advisory_reports x ON x.advisory_row = a.id
                 WHERE a.status <> 'published' AND a.disclosure_at <= ?1 GROUP BY a.id",
            )?;
            for r in stmt.query_map([ts(horizon)], |r| {
                Ok((r.get::<_, i64>(1)?, Some(r.get::<_, i64>(0)?)))
            })? {
                due.push(r?);
            }
            let mut stmt = tx.prepare(
                "SELECT r.id, r.received_at, r.disclosure_at FROM reports r WHERE r.status IN ('accepted', 'fixed')
                 AND NOT EXISTS (SELECT 1 FROM advisory_reports x WHERE x.report_id = r.id)",
            )?;
            for r in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })? {
                let (id, received, set) = r?;
                let at = report_disclosure(
                    parse_ts(&received).unwrap_or_default(),
                    set.as_deref().and_then(parse_ts),
                    config.disclosure_days,
                );
                if at <= horizon {
                    due.push((id, None));
                }
            }
        }
        let mut n = 0;
        for (report_id, advisory_row) in due {
            let queued = tx.execute(
                "INSERT OR IGNORE INTO outbox(report_id, kind, recipient, message_id, status, next_attempt_at, created_at, advisory_row)
                 VALUES (?1, 'disclosure_reminder', ?2, ?3, 'queued', ?4, ?4, ?5)",
                params![report_id, team, new_message_id(domain), ts(now), advisory_row],
            )?;
            if queued > 0 {
                let outbox = tx.last_insert_rowid();
                append_event(
                    &tx,
                    Some(report_id),
                    None,
                    "disclosure_reminder_queued",
                    "daemon",
                    &serde_json::json!({ "outbox": outbox }),
                    now,
                )?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// The facts a milestone mail, publish notice or reminder may carry.
    ///
    /// # Errors
    /// Database errors (no such row gives empty facts).
    pub fn notice_facts(
        &self,
        outbox_id: i64,
        disclosure_days: u32,
    ) -> Result<NoticeFacts, StoreError> {
        let row: Option<(Option<i64>, String, Option<String>, String)> = self
            .conn
            .query_row(
                "SELECT o.advisory_row, r.received_at, r.disclosure_at, r.status FROM outbox o JOIN reports r ON r.id = o.report_id WHERE o.id = ?1",
                [outbox_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((advisory, received, set, status)) = row else {
            return Ok(NoticeFacts::default());
        };
        let mut facts = NoticeFacts {
            status: Some(status),
            disclosure_at: Some(report_disclosure(
                parse_ts(&received).unwrap_or_default(),
                set.as_deref().and_then(parse_ts),
                disclosure_days,
            )),
            ..NoticeFacts::default()
        };
        if let Some(arow) = advisory {
            let id: String = self.conn.query_row(
                "SELECT advisory_id FROM advisories WHERE id = ?1",
                [arow],
                |r| r.get(0),
            )?;
            let a = self.advisory(&id).map_err(|e| match e {
                AdvisoryError::Store(s) => s,
                other => StoreError::Invalid(other.to_string()),
            })?;
            facts.advisory_year = Some(a.csaf_year());
            facts.advisory_file = Some(a.csaf_file_name());
            facts.disclosure_at = Some(a.published_at.unwrap_or(a.disclosure_at));
            facts.advisory_id = Some(a.advisory_id);
        }
        Ok(facts)
    }
}

#[cfg(test)]
#[path = "advisory_tests.rs"]
mod tests;

//! `advisory …`: draft an advisory from reports, change it, move it draft →
//! review → published, queue milestone mails, and export it as CSAF 2.0, CVE
//! JSON 5.1, OSV or Markdown (optionally the whole `/.well-known/csaf/` tree).
//!
//! I/O: the store (from `--database` or the peeked `store.path`) and the
//! `[advisory]` table of the config (peeked, no secrets); writes export files.
//! Mails are only queued here; the daemon's outbox sends and seals them.
//! Must not hold rules: checks live in `advisory::model`, writes in `store::advisory`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};

use super::{exit, open_store, ExitError};
use crate::advisory::{self, AdvisoryConfig, AdvisoryStatus, Format};
use crate::store::advisory::{AdvisoryError, AdvisoryFields, Milestone};
use crate::store::StoreError;

#[derive(Subcommand, Debug)]
pub enum AdvisoryCommand {
    /// Draft an advisory fed by report ID (and --also ID…); credits come from the reporters' recorded answers.
    Draft {
        /// Tracking id of the first report.
        id: String,
        #[command(flatten)]
        fields: FieldArgs,
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Change an advisory's fields or status (draft ↔ review), or add reports with --also.
    Set {
        /// Advisory id, e.g. HEXON-SA-2026-0001.
        id: String,
        #[command(flatten)]
        fields: FieldArgs,
        /// draft or review (publishing is `advisory publish`).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// List advisories.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one advisory with its reports and their credit answers.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Export as csaf, cve, osv or markdown.
    Export {
        id: String,
        /// csaf, cve, osv or markdown
        #[arg(long)]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// With --format csaf: (re)write the /.well-known/csaf/ tree in DIR from every published advisory.
        #[arg(long, value_name = "DIR")]
        well_known: Option<PathBuf>,
    },
    /// Publish (from review): stamp the date, bump the revision, audit, and mail each credited reporter once.
    Publish {
        id: String,
        /// Revision summary (default "Initial public release" / "Revision N").
        #[arg(long)]
        summary: Option<String>,
        /// Do not queue the publish notice.
        #[arg(long)]
        no_notice: bool,
        /// Publish although a reporter never answered the credit question (they are not credited).
        #[arg(long)]
        allow_unanswered: bool,
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Queue a milestone mail (triaged, fixing, fixed) to the reporters of
    /// the advisory's reports, or of one report (tracking id) no advisory covers yet.
    Milestone {
        /// Advisory id (HEXON-SA-…) or tracking id (HEXON-…).
        id: String,
        /// triaged, fixing or fixed
        milestone: String,
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
}

#[derive(Args, Debug, Default)]
pub struct FieldArgs {
    #[arg(long)]
    pub title: Option<String>,
    /// Product name (default: the report's component).
    #[arg(long)]
    pub product: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// Affected version (repeatable): 2.3.0, or a bound like <2.4.1.
    #[arg(long = "affected")]
    pub affected: Vec<String>,
    /// Fixed version (repeatable).
    #[arg(long = "fixed")]
    pub fixed: Vec<String>,
    /// CWE id, e.g. CWE-22.
    #[arg(long)]
    pub cwe: Option<String>,
    /// The CWE's catalogue name (needed for ids outside the built-in list).
    #[arg(long)]
    pub cwe_name: Option<String>,
    /// CVSS v3.1 vector (CVSS:3.1/…).
    #[arg(long = "cvss-v31")]
    pub cvss_v31: Option<String>,
    /// CVSS v4.0 vector (CVSS:4.0/…).
    #[arg(long = "cvss-v40")]
    pub cvss_v40: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub remediation: Option<String>,
    /// CVE id, e.g. CVE-2026-12345.
    #[arg(long)]
    pub cve: Option<String>,
    /// Agreed disclosure date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub disclosure: Option<String>,
    /// More reports feeding the advisory.
    #[arg(long, num_args = 1..)]
    pub also: Vec<String>,
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339, for `field`.
pub(super) fn parse_date(field: &str, text: &str) -> Result<DateTime<Utc>> {
    if let Some(t) = crate::store::parse_ts(text) {
        return Ok(t);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| usage(format!("{field}: `{text}` is not a date (YYYY-MM-DD)")))
}

fn usage(message: String) -> anyhow::Error {
    ExitError {
        code: exit::USAGE,
        message,
    }
    .into()
}

impl FieldArgs {
    fn to_fields(&self, status: Option<AdvisoryStatus>) -> Result<AdvisoryFields> {
        Ok(AdvisoryFields {
            title: self.title.clone(),
            product: self.product.clone(),
            component: self.component.clone(),
            affected: self.affected.clone(),
            fixed: self.fixed.clone(),
            cwe: self.cwe.clone(),
            cwe_name: self.cwe_name.clone(),
            cvss_v31: self.cvss_v31.clone(),
            cvss_v40: self.cvss_v40.clone(),
            description: self.description.clone(),
            remediation: self.remediation.clone(),
            cve: self.cve.clone(),
            disclosure: self
                .disclosure
                .as_deref()
                .map(|d| parse_date("--disclosure", d))
                .transpose()?,
            status,
            also: self.also.clone(),
        })
    }
}

/// An advisory error as an exit code: 3 for unknown ids, 2 for a bad field.
fn fail(e: AdvisoryError) -> anyhow::Error {
    let code = match &e {
        AdvisoryError::NoSuchAdvisory(_) | AdvisoryError::Store(StoreError::NoSuchReport(_)) => {
            exit::NOT_FOUND
        }
        AdvisoryError::Field(_) => exit::USAGE,
        AdvisoryError::Store(_) => exit::FAILURE,
    };
    ExitError {
        code,
        message: e.to_string(),
    }
    .into()
}

/// The `[ack] message_id_domain` of the config (for the Message-IDs of queued mails).
fn message_id_domain(config: &Path) -> Result<String> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", config.display(), e.message()))?;
    table
        .get("ack")
        .and_then(|a| a.get("message_id_domain"))
        .and_then(|d| d.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ExitError {
                code: exit::CONFIG,
                message: format!("{}: key `ack.message_id_domain`: missing", config.display()),
            }
            .into()
        })
}

fn advisory_config(config: &Path) -> Result<AdvisoryConfig> {
    advisory::config::peek(config).map_err(|e| {
        ExitError {
            code: exit::CONFIG,
            message: e.to_string(),
        }
        .into()
    })
}

/// `advisory …`.
pub(super) fn dispatch(
    config: &Path,
    database: Option<&Path>,
    command: AdvisoryCommand,
) -> Result<i32> {
    let settings = advisory_config(config)?;
    let mut store = open_store(config, database)?;
    let now = Utc::now();
    match command {
        AdvisoryCommand::Draft { id, fields, actor } => {
            let a = store
                .draft_advisory(&[id], &fields.to_fields(None)?, &settings, &actor, now)
                .map_err(fail)?;
            println!(
                "{}: drafted from {}",
                a.advisory_id,
                a.reports
                    .iter()
                    .map(|r| r.tracking_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            print_credit_notes(&a);
        }
        AdvisoryCommand::Set {
            id,
            fields,
            status,
            actor,
        } => {
            let status = status
                .map(|s| {
                    AdvisoryStatus::parse(&s)
                        .ok_or_else(|| usage(format!("--status: `{s}` is not draft or review")))
                })
                .transpose()?;
            let a = store
                .update_advisory(&id, &fields.to_fields(status)?, &actor, now)
                .map_err(fail)?;
            println!("{}: {} (updated)", a.advisory_id, a.status.as_str());
            if a.cvss_v40.is_some() && a.cvss_v31.is_none() {
                eprintln!("note: scored with CVSS v4.0 only; CSAF 2.0 has no v4.0 slot (the CSAF export carries it in a note); add --cvss-v31 for a CSAF score");
            }
        }
        AdvisoryCommand::List { json } => list(&store, json)?,
        AdvisoryCommand::Show { id, json } => show(&store, &id, json)?,
        AdvisoryCommand::Export {
            id,
            format,
            output,
            well_known,
        } => export(
            &store,
            &settings,
            &id,
            &format,
            output.as_deref(),
            well_known.as_deref(),
        )?,
        AdvisoryCommand::Publish {
            id,
            summary,
            no_notice,
            allow_unanswered,
            actor,
        } => {
            let options = PublishOptions {
                summary: summary.as_deref(),
                no_notice,
                allow_unanswered,
            };
            publish(&mut store, config, &settings, &id, options, &actor, now)?
        }
        AdvisoryCommand::Milestone {
            id,
            milestone,
            actor,
        } => milestone_mails(&mut store, config, &settings, &id, &milestone, &actor, now)?,
    }
    Ok(exit::OK)
}

/// `advisory publish` options besides the id.
struct PublishOptions<'a> {
    summary: Option<&'a str>,
    no_notice: bool,
    allow_unanswered: bool,
}

/// `advisory publish ID`: review → published, notices queued once.
fn publish(
    store: &mut crate::store::Store,
    config: &Path,
    settings: &advisory::AdvisoryConfig,
    id: &str,
    o: PublishOptions<'_>,
    actor: &str,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let domain = message_id_domain(config)?;
    let notify = !o.no_notice && settings.milestones.published;
    let p = store
        .publish_advisory(
            id,
            o.summary,
            notify,
            o.allow_unanswered,
            &domain,
            actor,
            now,
        )
        .map_err(fail)?;
    println!(
        "{}: published, revision {}; {} publish notice(s) queued",
        id.to_ascii_uppercase(),
        p.revision,
        p.notices
    );
    if !settings.milestones.published && !o.no_notice {
        println!("(publish notices are off: advisory.milestones.published = false)");
    }
    Ok(())
}

/// `advisory milestone ID triaged|fixing|fixed`.
fn milestone_mails(
    store: &mut crate::store::Store,
    config: &Path,
    settings: &advisory::AdvisoryConfig,
    id: &str,
    milestone: &str,
    actor: &str,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let m = Milestone::parse(milestone)
        .filter(|m| *m != Milestone::Published)
        .ok_or_else(|| {
            usage(format!(
                "milestone `{milestone}` is not triaged, fixing or fixed"
            ))
        })?;
    if !m.enabled(settings) {
        println!("{}: milestone mails `{milestone}` are off (advisory.milestones.{milestone} = false); nothing queued", id.to_ascii_uppercase());
        return Ok(());
    }
    let domain = message_id_domain(config)?;
    let n = store
        .queue_milestone(id, m, &domain, actor, now)
        .map_err(fail)?;
    println!(
        "{}: {n} `{milestone}` mail(s) queued (reporters already told are not mailed again)",
        id.to_ascii_uppercase()
    );
    Ok(())
}

fn print_credit_notes(a: &advisory::Advisory) {
    for r in &a.reports {
        let what = match &r.credit {
            advisory::CreditState::Name(n) => format!("credited as {n:?}"),
            advisory::CreditState::Anonymous => "credited as anonymous".into(),
            advisory::CreditState::Declined => "declined credit (not listed)".into(),
            advisory::CreditState::NoAnswer => {
                "never answered the credit question (not credited)".into()
            }
        };
        println!("  {}: {what}", r.tracking_id);
    }
}

fn list(store: &crate::store::Store, json: bool) -> Result<()> {
    let all = store.list_advisories().map_err(fail)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|a| {
            vec![
                a.advisory_id.clone(),
                a.status.as_str().into(),
                a.disclosure_at.format("%Y-%m-%d").to_string(),
                a.reports
                    .iter()
                    .map(|r| r.tracking_id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                super::table::truncate(&a.title, 50),
            ]
        })
        .collect();
    super::print_table(
        &["ADVISORY", "STATUS", "DISCLOSURE", "REPORTS", "TITLE"],
        &rows,
    );
    Ok(())
}

fn show(store: &crate::store::Store, id: &str, json: bool) -> Result<()> {
    let a = store.advisory(id).map_err(fail)?;
    if json {
        let mut v = serde_json::to_value(&a)?;
        v["credits"] = serde_json::to_value(a.credits())?;
        v["unanswered"] = serde_json::to_value(a.unanswered())?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}  {}  {}", a.advisory_id, a.status.as_str(), a.title);
    println!(
        "  product:     {}{}",
        a.product,
        a.component
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    println!("  affected:    {}", a.affected_versions.join(", "));
    println!("  fixed:       {}", a.fixed_versions.join(", "));
    for (label, v) in [
        ("cwe", &a.cwe),
        ("cvss v3.1", &a.cvss_v31),
        ("cvss v4.0", &a.cvss_v40),
        ("cve", &a.cve_id),
    ] {
        if let Some(v) = v {
            println!("  {label:<12} {v}");
        }
    }
    println!("  disclosure:  {}", a.disclosure_at.format("%Y-%m-%d"));
    if let Some(r) = a.revisions.last() {
        println!(
            "  revision:    {} ({}, {})",
            r.number,
            r.date.format("%Y-%m-%d"),
            r.summary
        );
    }
    println!("  reports:");
    print_credit_notes(&a);
    Ok(())
}

fn export(
    store: &crate::store::Store,
    settings: &AdvisoryConfig,
    id: &str,
    format: &str,
    output: Option<&Path>,
    well_known: Option<&Path>,
) -> Result<()> {
    let format = Format::parse(format).ok_or_else(|| {
        usage(format!(
            "--format: `{format}` is not csaf, cve, osv or markdown"
        ))
    })?;
    let a = store.advisory(id).map_err(fail)?;
    let (text, warnings) = advisory::export(&a, format, settings).map_err(|e| fail(e.into()))?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if let Some(dir) = well_known {
        if format != Format::Csaf {
            return Err(usage("--well-known needs --format csaf".into()));
        }
        if a.status != AdvisoryStatus::Published {
            return Err(usage(format!(
                "--well-known: {} is not published; the tree holds published advisories only",
                a.advisory_id
            )));
        }
        let published: Vec<_> = store
            .list_advisories()
            .map_err(fail)?
            .into_iter()
            .filter(|x| x.status == AdvisoryStatus::Published && x.check_exportable().is_ok())
            .collect();
        let files = advisory::wellknown::build(&published, settings, Utc::now());
        advisory::wellknown::write(dir, &files).map_err(|e| anyhow::anyhow!(e))?;
        eprintln!("wrote {} files under {}", files.len(), dir.display());
    }
    match output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None if well_known.is_none() => print!("{text}"),
        None => {}
    }
    Ok(())
}

//! `reports …`: work the report queue — list, show, set, credit, export,
//! overdue.
//!
//! I/O: reads and updates the store (opened from `--database` or the peeked
//! `store.path`); `show --decrypt` also loads the full config and team keys.
//! Prints tables, text, JSON or CSV to stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};

use super::table::{print_table, truncate};
use super::{exit, open_store, ExitError};
use crate::store::{ReportFilter, Store, StoreError};

mod export;
mod key;
mod reply;
mod show;

pub use key::KeyAction;

#[derive(Subcommand, Debug)]
pub enum ReportsCommand {
    /// List reports (newest first unless --sort).
    List(ListArgs),
    /// Show one report: labels, deadlines, messages, replies, audit trail.
    Show {
        /// Tracking id, e.g. HEXON-2026-0001.
        id: String,
        /// Decrypt encrypted messages on demand with the team key (needs the
        /// full config and its key files; the plaintext is only printed).
        #[arg(long)]
        decrypt: bool,
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
    /// Change a report's status, assignee, severity, component, or add a note.
    Set(SetArgs),
    /// Record how the reporter wants to be credited.
    Credit {
        /// Tracking id.
        id: String,
        /// Credit under this name or handle.
        #[arg(long, conflicts_with_all = ["anonymous", "declined"])]
        name: Option<String>,
        /// Credit as "anonymous".
        #[arg(long, conflicts_with = "declined")]
        anonymous: bool,
        /// The reporter does not want credit.
        #[arg(long)]
        declined: bool,
        /// Who records it (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Export reports as JSON or CSV (same filters as `list`).
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// json or csv
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Pin or unpin the reporter's OpenPGP key by hand (audited).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Answer the reporter (issue 12): sealed like every reply, in their
    /// thread, From the security address; kept as needs_key when the report
    /// came encrypted and no reporter key is pinned.
    Reply(TeamTextArgs),
    /// An internal note on the report: stored, never sent.
    Note(TeamTextArgs),
    /// Reports past their acknowledgement or assessment deadline.
    Overdue {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
}

/// `reports reply` / `reports note`.
#[derive(Args, Debug)]
pub struct TeamTextArgs {
    /// Tracking id.
    pub id: String,
    /// Read the text from this file (`-`: standard input); default:
    /// standard input, or `$EDITOR` on a terminal.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Who writes it (default: $USER).
    #[arg(long, env = "USER", default_value = "unknown")]
    pub actor: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// `none`: only valid (accepted or fixed) reports that no advisory covers yet.
    #[arg(long, value_name = "none")]
    pub advisory: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// new, triaging, accepted, fixed, disclosed, rejected, duplicate
    #[arg(long)]
    pub status: Option<String>,
    /// Substring of the component name ("unknown" for none).
    #[arg(long)]
    pub component: Option<String>,
    /// unknown, none, low, medium, high, critical
    #[arg(long)]
    pub severity: Option<String>,
    /// Substring of the reporter's address.
    #[arg(long)]
    pub reporter: Option<String>,
    /// Substring of the tracking id or subject.
    #[arg(long)]
    pub text: Option<String>,
    /// Only reports past a deadline.
    #[arg(long)]
    pub overdue: bool,
    /// newest (default), oldest, severity, due
    #[arg(long)]
    pub sort: Option<String>,
    /// At most this many reports.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl FilterArgs {
    pub(super) fn to_filter(&self) -> ReportFilter {
        ReportFilter {
            status: self.status.clone(),
            component: self.component.clone(),
            severity: self.severity.clone(),
            reporter: self.reporter.clone(),
            text: self.text.clone(),
            overdue_at: self.overdue.then(Utc::now),
            sort: self.sort.clone(),
            limit: self.limit,
        }
    }
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Tracking id.
    pub id: String,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub assignee: Option<String>,
    #[arg(long)]
    pub severity: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// A free-text note for the audit trail.
    #[arg(long)]
    pub note: Option<String>,
    /// Agreed disclosure date (YYYY-MM-DD or RFC 3339; default: 90 days after receipt, `advisory.disclosure_days`).
    #[arg(long)]
    pub disclosure: Option<String>,
    /// Who makes the change (default: $USER).
    #[arg(long, env = "USER", default_value = "unknown")]
    pub actor: String,
}

/// `reports …`: opens the store, and the team keys for `show --decrypt`.
pub(super) fn dispatch(
    config: &Path,
    database: Option<&Path>,
    command: ReportsCommand,
) -> Result<i32> {
    let mut store = open_store(config, database)?;
    match command {
        ReportsCommand::List(args) => match args.advisory.as_deref() {
            None => list(&store, &args.filter.to_filter(), args.json),
            Some("none") => {
                let uncovered = store
                    .uncovered_reports()
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut filter = args.filter.to_filter();
                filter.limit = None;
                list_only(&store, &filter, &uncovered, args.json)
            }
            Some(other) => Err(ExitError {
                code: exit::USAGE,
                message: format!("--advisory: `{other}` is not `none`"),
            }
            .into()),
        },
        ReportsCommand::Export {
            filter,
            format,
            output,
        } => export::export(&store, &filter.to_filter(), &format, output.as_ref()),
        ReportsCommand::Credit {
            id,
            name,
            anonymous,
            declined,
            actor,
        } => credit(&mut store, &id, name, anonymous, declined, &actor),
        ReportsCommand::Overdue { json } => {
            let filter = ReportFilter {
                overdue_at: Some(Utc::now()),
                sort: Some("due".into()),
                ..ReportFilter::default()
            };
            list(&store, &filter, json)
        }
        ReportsCommand::Show { id, decrypt, json } => {
            let decryptor = if decrypt {
                Some(show::Decryptor::new(config)?)
            } else {
                None
            };
            show::show(&store, &id, decryptor.as_ref(), json)
        }
        ReportsCommand::Set(args) => set(&mut store, config, args),
        ReportsCommand::Key { action } => key::key(&mut store, action),
        ReportsCommand::Reply(a) => reply::reply(
            &mut store,
            config,
            &a.id,
            a.file.as_deref(),
            &a.actor,
            false,
        ),
        ReportsCommand::Note(a) => {
            reply::reply(&mut store, config, &a.id, a.file.as_deref(), &a.actor, true)
        }
    }
}

/// The error for an unknown tracking id (exit 3).
fn no_such_report(id: String) -> anyhow::Error {
    ExitError {
        code: exit::NOT_FOUND,
        message: format!("no report {id}"),
    }
    .into()
}

/// `reports credit ID --name N | --anonymous | --declined`.
fn credit(
    store: &mut Store,
    id: &str,
    name: Option<String>,
    anonymous: bool,
    declined: bool,
    actor: &str,
) -> Result<i32> {
    let credit = match (name, anonymous, declined) {
        (Some(n), _, _) if !n.trim().is_empty() => {
            // Issue 14: a name that will go into advisories and mails.
            crate::advisory::model::check_credit_name("--name", &n).map_err(|e| ExitError {
                code: exit::USAGE,
                message: e.to_string(),
            })?;
            crate::triage::Credit::Name(n.trim().to_string())
        }
        (None, true, _) => crate::triage::Credit::Anonymous,
        (None, false, true) => crate::triage::Credit::Declined,
        _ => {
            return Err(ExitError {
                code: exit::USAGE,
                message: "give --name NAME, --anonymous or --declined".into(),
            }
            .into())
        }
    };
    let value = serde_json::to_string(&credit)?;
    match store.set_report_field(id, "credit", &value, actor) {
        Ok(()) => {
            println!("{}: credit = {value}", id.to_ascii_uppercase());
            Ok(exit::OK)
        }
        Err(StoreError::NoSuchReport(id)) => Err(no_such_report(id)),
        Err(e) => Err(e.into()),
    }
}

/// `reports set ID --status … --assignee … --severity … --component … --note …`.
fn set(store: &mut Store, config: &Path, args: SetArgs) -> Result<i32> {
    if let Some(d) = &args.disclosure {
        let at = super::advisory::parse_date("--disclosure", d)?;
        store
            .set_report_disclosure(&args.id, at, &args.actor, Utc::now())
            .map_err(|e| match e {
                crate::store::advisory::AdvisoryError::Store(StoreError::NoSuchReport(id)) => {
                    no_such_report(id)
                }
                other => anyhow::anyhow!("{other}"),
            })?;
        println!(
            "{}: disclosure = {}",
            args.id.to_ascii_uppercase(),
            crate::store::ts(at)
        );
    }
    let changes: Vec<(&str, String)> = [
        ("status", args.status),
        ("assignee", args.assignee),
        ("severity", args.severity),
        ("component", args.component),
        ("note", args.note),
    ]
    .into_iter()
    .filter_map(|(field, value)| Some((field, value?)))
    .collect();
    let new_status = changes
        .iter()
        .find(|(field, _)| *field == "status")
        .map(|(_, v)| v.clone());
    if changes.is_empty() && args.disclosure.is_some() {
        return Ok(exit::OK);
    }
    if changes.is_empty() {
        return Err(ExitError {
            code: exit::USAGE,
            message: "nothing to set: give --status, --assignee, --severity, --component or --note"
                .into(),
        }
        .into());
    }
    for (field, value) in changes {
        match store.set_report_field(&args.id, field, &value, &args.actor) {
            Ok(()) => println!("{}: {field} = {value}", args.id.to_ascii_uppercase()),
            Err(StoreError::NoSuchReport(id)) => return Err(no_such_report(id)),
            Err(StoreError::Invalid(message)) => {
                return Err(ExitError {
                    code: exit::USAGE,
                    message,
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(status) = new_status {
        status_notice(store, config, &args.id, &status, &args.actor)?;
    }
    Ok(exit::OK)
}

/// A status listed in `team.status_notices`: queue the templated notice to
/// the reporter (sent by the daemon, sealed like every reply).
fn status_notice(
    store: &mut Store,
    config: &Path,
    id: &str,
    status: &str,
    actor: &str,
) -> Result<()> {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => {
            // NOTE: the status is set; only the notice needs the full config.
            eprintln!("status notice not queued: {e:#}");
            return Ok(());
        }
    };
    if !config.team.status_notices.iter().any(|s| s == status) {
        return Ok(());
    }
    let domain = &config.ack.message_id_domain;
    if store.queue_status_notice(id, domain, actor, Utc::now())? {
        println!(
            "{}: status notice to the reporter queued",
            id.to_ascii_uppercase()
        );
    }
    Ok(())
}

/// `reports list --advisory none`: the listed reports among `only`.
fn list_only(store: &Store, filter: &ReportFilter, only: &[String], json: bool) -> Result<i32> {
    let mut rows = store.list_reports(filter)?;
    rows.retain(|r| only.contains(&r.tracking_id));
    print_rows(&rows, json)
}

fn list(store: &Store, filter: &ReportFilter, json: bool) -> Result<i32> {
    let rows = store.list_reports(filter)?;
    print_rows(&rows, json)
}

fn print_rows(rows: &[crate::store::ReportRow], json: bool) -> Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(exit::OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut flags = String::new();
            if r.critical {
                flags.push('!');
            }
            if r.encrypted {
                flags.push('E');
            }
            if r.needs_review {
                flags.push('R');
            }
            if r.possible_duplicate_of.is_some() {
                flags.push('D');
            }
            vec![
                r.tracking_id.clone(),
                r.status.clone(),
                flags,
                r.severity.clone(),
                r.component.clone().unwrap_or_else(|| "unknown".into()),
                r.out_of_scope.clone().unwrap_or_default(),
                r.reporter.clone(),
                r.received_at
                    .get(..16)
                    .unwrap_or(&r.received_at)
                    .replace('T', " "),
                r.assessment_due
                    .get(..10)
                    .unwrap_or(&r.assessment_due)
                    .to_string(),
                truncate(r.subject.as_deref().unwrap_or("(encrypted)"), 40),
            ]
        })
        .collect();
    print_table(
        &[
            "TRACKING",
            "STATUS",
            "FLAGS",
            "SEVERITY",
            "COMPONENT",
            "OUT-OF-SCOPE",
            "REPORTER",
            "RECEIVED",
            "DUE",
            "SUBJECT",
        ],
        &table,
    );
    if std::io::stdout().is_terminal() {
        println!(
            "{} report(s). Flags: ! critical, E encrypted, R needs review, D possible duplicate",
            rows.len()
        );
    }
    Ok(exit::OK)
}

//! Command line: `run`, `ingest`, `reports …`, `quarantine`, `status`,
//! `audit verify`, `check-config`, `completions`.
//!
//! I/O: through the library (store, daemon); prints tables or `--json`.
//! Errors are `anyhow` here, mapped to exit codes in `main.rs`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::Utc;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::Config;
use crate::daemon::{self, Context, RunOptions};
use crate::store::{ReportFilter, SourceRef, Store, StoreError};

mod ops;

/// Exit codes (sysexits-style where one fits).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const AUDIT_BROKEN: i32 = 4;
    pub const CONFIG: i32 = 78;
}

/// An error that carries its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

#[derive(Parser, Debug)]
#[command(
    name = "hexon-triage",
    version,
    about = "Runs the security@ mailbox: IMAP intake, OpenPGP, policy-aware triage into SQLite, acknowledgements over SMTP"
)]
pub struct Cli {
    /// Config file (TOML).
    #[arg(
        long,
        short,
        global = true,
        env = "HEXON_TRIAGE_CONFIG",
        default_value = "/etc/hexon-triage/hexon-triage.toml"
    )]
    pub config: PathBuf,
    /// Database file; overrides `store.path` for the read/update commands.
    #[arg(long, global = true, env = "HEXON_TRIAGE_DATABASE")]
    pub database: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (SIGTERM/SIGINT drain and exit cleanly).
    Run {
        /// One intake pass and one outbox pass, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Ingest .eml files offline through the same pipeline (acks are queued for the next `run`).
    Ingest {
        /// Files holding one RFC 5322 message each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Store only; queue no acknowledgement.
        #[arg(long)]
        no_ack: bool,
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
    /// Work the report queue.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// List quarantined messages with their reasons.
    Quarantine {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
    /// Daemon health: last poll, backlog, outbox queue, failures.
    Status {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Validate the config file and the secrets/templates/keys it names.
    CheckConfig {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
    /// Write security.txt (RFC 9116) from the [security_txt] config, clear-signed if configured.
    SecurityTxt {
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import an existing security@ archive (mbox file or Maildir directory) through the pipeline; idempotent.
    Import {
        /// An mbox file or a Maildir directory (with cur/ and new/).
        path: PathBuf,
        /// Also queue acknowledgements (off by default: historical mail gets none).
        #[arg(long)]
        send_acks: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Online backup of the database (safe while the daemon runs).
    Backup {
        /// Destination file (must not exist).
        dest: PathBuf,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

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
    /// Reports past their acknowledgement or assessment deadline.
    Overdue {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
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
    fn to_filter(&self) -> ReportFilter {
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
    /// Who makes the change (default: $USER).
    #[arg(long, env = "USER", default_value = "unknown")]
    pub actor: String,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain; exit 4 and name the events if anything was edited or deleted.
    Verify {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
}

/// Run the parsed command line. Returns the process exit code.
///
/// # Errors
/// Anything that went wrong, with context; [`ExitError`] carries a specific code.
pub async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run { once } => {
            let config = load_config(&cli.config)?;
            // NOTE: handlers are installed before start-up work, so an early SIGTERM drains too.
            let shutdown = shutdown_signal()?;
            let summary = daemon::run(config, RunOptions { once }, shutdown).await?;
            if once {
                println!(
                    "fetched {} · new reports {} · follow-ups {} · quarantined {} · ignored {} · already stored {} · replies sent {}",
                    summary.fetched,
                    summary.new_reports,
                    summary.followups,
                    summary.quarantined,
                    summary.ignored,
                    summary.known,
                    summary.acks_sent
                );
            }
            Ok(exit::OK)
        }
        Command::Ingest {
            files,
            no_ack,
            json,
        } => {
            let config = load_config(&cli.config)?;
            let ctx = Context::new(config, !no_ack)?;
            let mut results = Vec::new();
            for file in files {
                let raw = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let result = ctx.process(raw, SourceRef::Ingest).await?;
                results.push((file.display().to_string(), format!("{result:?}")));
            }
            if json {
                let list: Vec<_> = results
                    .iter()
                    .map(|(f, r)| serde_json::json!({ "file": f, "result": r }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for (file, result) in results {
                    println!("{file}: {result}");
                }
            }
            Ok(exit::OK)
        }
        Command::Reports(command) => {
            let mut store = open_store(&cli.config, cli.database.as_deref())?;
            let decryptor = match &command {
                ReportsCommand::Show { decrypt: true, .. } => Some(Decryptor::new(&cli.config)?),
                _ => None,
            };
            reports(&mut store, command, decryptor.as_ref())
        }
        Command::Quarantine { json } => {
            let store = open_store(&cli.config, cli.database.as_deref())?;
            let rows = store.quarantined()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            m.received_at.clone(),
                            m.from_address.clone().unwrap_or_default(),
                            m.reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_table(&["MESSAGE", "RECEIVED", "FROM", "REASON"], &table);
            }
            Ok(exit::OK)
        }
        Command::Status { json } => {
            let store = open_store(&cli.config, cli.database.as_deref())?;
            let summary = store.status_summary(Utc::now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "last successful poll:  {}",
                    summary.last_poll.as_deref().unwrap_or("never")
                );
                println!(
                    "last error:            {}",
                    summary
                        .last_error
                        .as_deref()
                        .filter(|e| !e.is_empty())
                        .unwrap_or("none")
                );
                println!(
                    "reports:               {} ({} open, {} overdue)",
                    summary.reports, summary.open_reports, summary.overdue
                );
                println!("quarantined messages:  {}", summary.quarantined);
                println!("outbox queued:         {}", summary.outbox_queued);
                println!("outbox failed:         {}", summary.outbox_failed);
                println!("copies to file:        {}", summary.outbox_copies_pending);
                println!("unmarked on server:    {}", summary.imap_unmarked);
                for (mailbox, validity, uid) in &summary.cursors {
                    println!("cursor {mailbox}:  UIDVALIDITY {validity}, last UID {uid}");
                }
            }
            Ok(exit::OK)
        }
        Command::Audit(AuditCommand::Verify { json }) => {
            let store = open_store(&cli.config, cli.database.as_deref())?;
            let (count, problems) = store.audit_verify()?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "events": count, "problems": problems })
                );
            } else if problems.is_empty() {
                println!("audit chain intact: {count} events");
            } else {
                for p in &problems {
                    println!("event {}: {}", p.event_id, p.problem);
                }
                println!(
                    "audit chain BROKEN: {} problem(s) in {count} events",
                    problems.len()
                );
            }
            Ok(if problems.is_empty() {
                exit::OK
            } else {
                exit::AUDIT_BROKEN
            })
        }
        Command::CheckConfig { json } => check_config(&cli.config, json),
        Command::SecurityTxt { output } => ops::security_txt(&cli.config, output.as_deref()),
        Command::Import {
            path,
            send_acks,
            json,
        } => ops::import(&cli.config, &path, send_acks, json).await,
        Command::Backup { dest } => {
            let store = open_store(&cli.config, cli.database.as_deref())?;
            ops::backup(&store, &dest)
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "hexon-triage", &mut std::io::stdout());
            Ok(exit::OK)
        }
    }
}

fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|e| {
        ExitError {
            code: exit::CONFIG,
            message: e.to_string(),
        }
        .into()
    })
}

/// Open the database named by `--database` or by the config's `store.path`
/// (read without the secrets, so team members need no access to passwords).
fn open_store(config: &Path, database: Option<&Path>) -> Result<Store> {
    let path = match database {
        Some(p) => p.to_path_buf(),
        None => database_path_of(config)?,
    };
    if !path.exists() {
        return Err(ExitError {
            code: exit::FAILURE,
            message: format!(
                "database {} does not exist (has the daemon run yet?)",
                path.display()
            ),
        }
        .into());
    }
    Ok(Store::open(&path)?)
}

fn database_path_of(config: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(config).map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!("cannot read config file {}: {e}", config.display()),
    })?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!("{}: {}", config.display(), e.message()),
    })?;
    let raw = value
        .get("store")
        .and_then(|s| s.get("path"))
        .and_then(|p| p.as_str())
        .ok_or_else(|| ExitError {
            code: exit::CONFIG,
            message: format!("{}: key `store.path`: missing", config.display()),
        })?;
    let p = PathBuf::from(raw);
    Ok(if p.is_absolute() {
        p
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    })
}

/// Opens stored ciphertext on demand (`reports show --decrypt`).
struct Decryptor {
    pipeline: crate::pipeline::Pipeline,
}

impl Decryptor {
    fn new(config: &Path) -> Result<Decryptor> {
        let config = load_config(config)?;
        let pipeline = crate::pipeline::Pipeline::from_config(&config).map_err(|e| ExitError {
            code: exit::CONFIG,
            message: format!("cannot load team keys: {}", e.reason()),
        })?;
        Ok(Decryptor { pipeline })
    }

    /// The decrypted text of a stored message, or why not.
    fn text(&self, raw: &[u8]) -> String {
        let p = &self.pipeline;
        match crate::open::open(raw, &p.team_keys, &[], &p.open_limits) {
            Err(e) => format!("(cannot decrypt: {})", e.reason()),
            Ok(opened) => {
                if let Some(text) = opened.inline_text {
                    return text;
                }
                let mut text = match crate::parse::parse_entity(&opened.entity, &p.parse_limits) {
                    Ok((text, _)) => text,
                    Err(e) => format!("(cannot parse decrypted content: {e})"),
                };
                if let Some(subject) = opened.protected_subject {
                    text = format!("Subject: {subject}\n\n{text}");
                }
                for (name, bytes) in opened.decrypted_attachments {
                    text.push_str(&format!(
                        "\n\n--- {name} ---\n{}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
                text
            }
        }
    }
}

fn reports(
    store: &mut Store,
    command: ReportsCommand,
    decryptor: Option<&Decryptor>,
) -> Result<i32> {
    match command {
        ReportsCommand::List(args) => list(store, &args.filter.to_filter(), args.json),
        ReportsCommand::Export {
            filter,
            format,
            output,
        } => ops::export(store, &filter.to_filter(), &format, output.as_ref()),
        ReportsCommand::Credit {
            id,
            name,
            anonymous,
            declined,
            actor,
        } => {
            let credit = match (name, anonymous, declined) {
                (Some(n), _, _) if !n.trim().is_empty() => {
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
            match store.set_report_field(&id, "credit", &value, &actor) {
                Ok(()) => {
                    println!("{}: credit = {value}", id.to_ascii_uppercase());
                    Ok(exit::OK)
                }
                Err(StoreError::NoSuchReport(id)) => Err(ExitError {
                    code: exit::NOT_FOUND,
                    message: format!("no report {id}"),
                }
                .into()),
                Err(e) => Err(e.into()),
            }
        }
        ReportsCommand::Overdue { json } => {
            let filter = ReportFilter {
                overdue_at: Some(Utc::now()),
                sort: Some("due".into()),
                ..ReportFilter::default()
            };
            list(store, &filter, json)
        }
        ReportsCommand::Show { id, json, .. } => {
            let mut detail = match store.report_detail(&id) {
                Ok(d) => d,
                Err(StoreError::NoSuchReport(id)) => {
                    return Err(ExitError {
                        code: exit::NOT_FOUND,
                        message: format!("no report {id}"),
                    }
                    .into())
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(decryptor) = decryptor {
                for m in detail.messages.iter_mut().filter(|m| m.encrypted) {
                    if let Some(raw) = store.raw_message(m.id)? {
                        m.body_text = Some(decryptor.text(&raw));
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(exit::OK);
            }
            let r = &detail.report;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}  [{}]", r.tracking_id, r.status)?;
            writeln!(out, "  reporter:        {}", r.reporter)?;
            writeln!(
                out,
                "  subject:         {}",
                r.subject.as_deref().unwrap_or("(encrypted)")
            )?;
            writeln!(
                out,
                "  encrypted:       {}",
                if r.encrypted { "yes" } else { "no" }
            )?;
            writeln!(
                out,
                "  component:       {}  {:?}",
                r.component.as_deref().unwrap_or("unknown"),
                detail.component_evidence
            )?;
            if let Some(oos) = &r.out_of_scope {
                writeln!(
                    out,
                    "  out of scope:    {oos}  {:?}",
                    detail.out_of_scope_evidence
                )?;
            }
            writeln!(
                out,
                "  missing:         {}",
                if r.missing.is_empty() {
                    "nothing".into()
                } else {
                    r.missing.join(", ")
                }
            )?;
            writeln!(
                out,
                "  severity:        {}{}{}",
                r.severity,
                r.cvss_score
                    .map(|s| format!(
                        " (CVSS {s:.1} {})",
                        detail.cvss_vector.as_deref().unwrap_or("")
                    ))
                    .unwrap_or_default(),
                if r.critical { "  CRITICAL" } else { "" }
            )?;
            if !detail.signals.is_empty() {
                writeln!(out, "  signals:         {}", detail.signals.join(", "))?;
            }
            writeln!(out, "  received:        {}", r.received_at)?;
            writeln!(
                out,
                "  ack due:         {}  (acked {})",
                r.ack_due,
                r.acked_at.as_deref().unwrap_or("not yet")
            )?;
            writeln!(
                out,
                "  assessment due:  {}  (assessed {})",
                r.assessment_due,
                r.assessed_at.as_deref().unwrap_or("not yet")
            )?;
            if let Some(d) = &r.possible_duplicate_of {
                writeln!(out, "  possible duplicate of: {d}")?;
            }
            if let Some(d) = &r.references_report {
                writeln!(out, "  references:      {d} (from a different sender)")?;
            }
            if r.needs_review {
                writeln!(
                    out,
                    "  NEEDS REVIEW:    {}",
                    r.review_reason.as_deref().unwrap_or("")
                )?;
            }
            if let Some(a) = &r.assignee {
                writeln!(out, "  assignee:        {a}")?;
            }
            if let Some(c) = &r.credit {
                writeln!(out, "  credit:          {c}")?;
            }
            if let Some(k) = &detail.reporter_key {
                writeln!(out, "  reporter key:    {k}")?;
            }
            writeln!(out, "\nmessages:")?;
            for m in &detail.messages {
                writeln!(
                    out,
                    "  #{} {} {} from {} signature={}{}",
                    m.id,
                    m.received_at,
                    m.status,
                    m.from_address.as_deref().unwrap_or("?"),
                    m.signature,
                    m.signer_fingerprint
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default()
                )?;
                for a in &m.attachments {
                    writeln!(out, "     attachment {a}")?;
                }
                match &m.body_text {
                    Some(body) => {
                        for line in body.lines().take(200) {
                            writeln!(out, "     | {}", printable(line))?;
                        }
                    }
                    None if m.encrypted => writeln!(
                        out,
                        "     | (encrypted; not stored in clear; use --decrypt)"
                    )?,
                    None => {}
                }
            }
            writeln!(out, "\nreplies:")?;
            for o in &detail.outbox {
                writeln!(
                    out,
                    "  {} to {} [{}] attempts={} {}{}",
                    o.kind,
                    o.recipient,
                    o.status,
                    o.attempts,
                    o.sent_at.as_deref().unwrap_or(""),
                    o.last_error
                        .as_deref()
                        .map(|e| format!(" error: {e}"))
                        .unwrap_or_default()
                )?;
            }
            writeln!(out, "\naudit trail:")?;
            for e in &detail.events {
                writeln!(out, "  {} {:<22} {:<8} {}", e.at, e.kind, e.actor, e.detail)?;
            }
            Ok(exit::OK)
        }
        ReportsCommand::Set(args) => {
            let mut changes: Vec<(&str, String)> = Vec::new();
            if let Some(v) = args.status {
                changes.push(("status", v));
            }
            if let Some(v) = args.assignee {
                changes.push(("assignee", v));
            }
            if let Some(v) = args.severity {
                changes.push(("severity", v));
            }
            if let Some(v) = args.component {
                changes.push(("component", v));
            }
            if let Some(v) = args.note {
                changes.push(("note", v));
            }
            if changes.is_empty() {
                return Err(ExitError {
                    code: exit::USAGE,
                    message: "nothing to set: give --status, --assignee, --severity, --component or --note".into(),
                }
                .into());
            }
            for (field, value) in changes {
                match store.set_report_field(&args.id, field, &value, &args.actor) {
                    Ok(()) => println!("{}: {field} = {value}", args.id.to_ascii_uppercase()),
                    Err(StoreError::NoSuchReport(id)) => {
                        return Err(ExitError {
                            code: exit::NOT_FOUND,
                            message: format!("no report {id}"),
                        }
                        .into())
                    }
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
            Ok(exit::OK)
        }
    }
}

fn list(store: &Store, filter: &ReportFilter, json: bool) -> Result<i32> {
    let rows = store.list_reports(filter)?;
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

/// Report text for a terminal: control characters (escape sequences that
/// could rewrite the analyst's screen) become U+FFFD; tabs stay.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A plain aligned table (no colours; safe for pipes).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

fn check_config(path: &Path, json: bool) -> Result<i32> {
    let config = load_config(path)?;
    let keys = crate::open::TeamKeys::load(
        &config.openpgp.team_keys,
        config.openpgp.passphrase.as_ref().map(|s| s.expose()),
    )
    .map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!(
            "{}: key `openpgp.team_keys`: {}",
            path.display(),
            e.reason()
        ),
    })?;
    crate::outbox::render::Templates::load(&config.ack.template_dir).map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!("{}: key `ack.template_dir`: {e}", path.display()),
    })?;
    let infos = keys.describe(Utc::now());
    let mut warnings = Vec::new();
    for k in &infos {
        if k.expires_within_30_days {
            warnings.push(format!("team key {} expires within 30 days", k.fingerprint));
        }
        if k.encryption_subkeys.is_empty() {
            warnings.push(format!(
                "team key {} has no usable encryption subkey",
                k.fingerprint
            ));
        }
    }
    if infos.is_empty() {
        warnings.push("no team keys configured: encrypted reports will be quarantined".into());
    }
    if let Some(t) = &config.security_txt {
        warnings.extend(ops::security_txt_text(t, Utc::now()).1);
        if t.expires <= Utc::now() {
            warnings.push("security_txt.expires is in the past".into());
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "config": path.display().to_string(), "valid": true, "team_keys": infos, "warnings": warnings })
        );
    } else {
        println!("{}: OK", path.display());
        println!(
            "  IMAP  {}:{} ({:?}) mailbox {}",
            config.imap.host, config.imap.port, config.imap.tls, config.imap.mailbox
        );
        println!(
            "  SMTP  {}:{} ({:?}) from {}",
            config.smtp.host, config.smtp.port, config.smtp.tls, config.smtp.from
        );
        println!("  store {}", config.database.display());
        println!(
            "  {} components in scope, {} out-of-scope classes",
            config.triage.components.len(),
            config.triage.out_of_scope.len()
        );
        for k in &infos {
            println!(
                "  team key {} {:?} encryption subkeys {:?} expires {}",
                k.fingerprint,
                k.user_ids,
                k.encryption_subkeys,
                k.expires
                    .map(|e| e.to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
        }
        for w in &warnings {
            println!("  warning: {w}");
        }
    }
    Ok(exit::OK)
}

/// Resolves on SIGTERM or SIGINT. The handlers are registered when this is
/// called, not when the future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

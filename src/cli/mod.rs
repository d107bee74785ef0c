//! Command line: `run`, `ingest`, `import`, `reports …`, `advisory …`, `quarantine`,
//! `status`, `audit verify`, `check-config`, `security-txt`, `backup`,
//! `completions` — one file per noun; this file holds the clap surface, the
//! exit codes and a short [`dispatch`].
//!
//! I/O: through the library (store, daemon); prints tables or `--json`.
//! Errors are `anyhow` here, mapped to exit codes in `main.rs`. Must not hold
//! rules of its own: config checks live in [`crate::config`].

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::Store;

mod advisory;
mod audit;
mod backup;
mod check_config;
mod completions;
mod ingest;
mod outfile;
mod quarantine;
mod reports;
mod run;
mod securitytxt;
mod status;
mod table;

pub use advisory::AdvisoryCommand;
pub use audit::AuditCommand;
pub use reports::{FilterArgs, ListArgs, ReportsCommand, SetArgs};
pub use table::print_table;

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
    /// Advisories: draft from reports, review, publish, export (CSAF 2.0, CVE 5.1, OSV, Markdown).
    #[command(subcommand)]
    Advisory(AdvisoryCommand),
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
        /// Also log in to IMAP and SMTP and check each step (nothing is sent).
        #[arg(long)]
        connect: bool,
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

/// Run the parsed command line. Returns the process exit code.
///
/// # Errors
/// Anything that went wrong, with context; [`ExitError`] carries a specific code.
pub async fn dispatch(cli: Cli) -> Result<i32> {
    let config = cli.config.as_path();
    let database = cli.database.as_deref();
    match cli.command {
        Command::Run { once } => run::run(config, once).await,
        Command::Ingest {
            files,
            no_ack,
            json,
        } => ingest::ingest(config, &files, no_ack, json).await,
        Command::Import {
            path,
            send_acks,
            json,
        } => ingest::import(config, &path, send_acks, json).await,
        Command::Reports(command) => reports::dispatch(config, database, command),
        Command::Advisory(command) => advisory::dispatch(config, database, command),
        Command::Quarantine { json } => quarantine::list(&open_store(config, database)?, json),
        Command::Status { json } => status::show(&open_store(config, database)?, json),
        Command::Audit(command) => audit::dispatch(config, database, command),
        Command::CheckConfig { json, connect } => check_config::check(config, json, connect).await,
        Command::SecurityTxt { output } => securitytxt::write(config, output.as_deref()),
        Command::Backup { dest } => backup::backup(&open_store(config, database)?, &dest),
        Command::Completions { shell } => completions::print(shell),
    }
}

/// A config error as exit code 78 (`EX_CONFIG`).
fn config_error(e: crate::config::ConfigError) -> anyhow::Error {
    ExitError {
        code: exit::CONFIG,
        message: e.to_string(),
    }
    .into()
}

/// The full config (secrets included), or exit 78.
fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).map_err(config_error)
}

/// Open the database named by `--database` or by the config's `store.path`
/// (peeked without the secrets, so team members need no access to passwords).
fn open_store(config: &Path, database: Option<&Path>) -> Result<Store> {
    let path: PathBuf = match database {
        Some(p) => p.to_path_buf(),
        None => crate::config::peek(config)
            .and_then(|p| p.database().map(Path::to_path_buf))
            .map_err(config_error)?,
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

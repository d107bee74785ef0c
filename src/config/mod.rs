//! Configuration: one TOML file turned into a validated [`Config`], in phases:
//!
//! 1. `raw`: parse TOML into serde shapes (dotted key on type errors and
//!    unknown keys) — pure;
//! 2. `validate`: one small check per section, reporting every problem at
//!    once — pure;
//! 3. `resolve`: expand `$CREDENTIALS_DIRECTORY`, anchor relative paths,
//!    read the secret files, check that named files exist — the only I/O;
//! 4. the template directory is checked by the template loader
//!    ([`crate::outbox::render::check_template_dir`]); this module does not
//!    know template names.
//!
//! [`peek()`] reads the database path and log format without the rest.
//!
//! I/O: reads the config file and the files it names. Every error names the
//! file and the dotted key. Secrets are held in [`Secret`], whose `Debug`
//! prints `[redacted]`; nothing here logs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sla::BusinessCalendar;
use crate::triage::TriageConfig;

mod peek;
mod raw;
mod resolve;
#[cfg(test)]
mod tests;
mod validate;

pub use crate::net::TlsPin;
pub use peek::{peek, Peeked};
pub use validate::parse_mailbox_address;

/// A configuration error: always names the file, and the key where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML at all (from [`peek()`]; a full load names the key).
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// More than one problem: each is one [`ConfigError::Invalid`], and
    /// `Display` prints each on its own line.
    #[error("{}", lines(.0))]
    Several(Vec<ConfigError>),
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// One error for `problems` in the file at `path`: the problem itself if
    /// there is one, [`ConfigError::Several`] otherwise.
    fn from_problems(path: &Path, problems: validate::Problems) -> ConfigError {
        let mut errors: Vec<ConfigError> = problems
            .0
            .into_iter()
            .map(|p| ConfigError::Invalid {
                path: path.to_path_buf(),
                key: p.key,
                message: p.message,
            })
            .collect();
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ConfigError::Several(errors)
        }
    }

    /// Every single error this one stands for (itself unless [`ConfigError::Several`]).
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(list) => list.iter().collect(),
            other => vec![other],
        }
    }
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A secret read from a file. `Debug` and `Display` never show it.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is handed to a protocol library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS before any credential is sent.
    Starttls,
    /// No TLS at all. Refused unless `allow_plaintext = true`.
    None,
}

/// What the daemon does to a message on the server once it is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkMode {
    /// Set a keyword (default `$Triaged`) and leave the message where it is.
    Keyword,
    /// Move the message into `move_to`.
    Move,
}

/// How the team's copy of each reply reaches the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CopyMode {
    /// APPEND over IMAP after the SMTP server accepted the reply. Opt-in: a
    /// crash between SMTP acceptance and the "sent" mark sends the reply again.
    Append,
    /// The default: an extra envelope recipient (`copy_address`) in the same
    /// SMTP transaction. Lets a restart after a crash between SMTP acceptance
    /// and the "sent" mark find the copy and not send twice (exactly one ack).
    #[default]
    Bcc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    /// `imap.tls_pin`: the server's certificate must match it.
    pub tls_pin: Option<TlsPin>,
    pub user: String,
    pub password: Secret,
    pub mailbox: String,
    pub poll_interval: Duration,
    pub idle: bool,
    pub mark: MarkMode,
    pub keyword: String,
    pub move_to: String,
    pub quarantine_folder: Option<String>,
    pub timeout: Duration,
    pub fetch_batch: u32,
    /// The authserv-id of the receiving server's `Authentication-Results`
    /// (the only ones trusted; `None`: the header is ignored).
    pub authserv_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    /// `smtp.tls_pin`: the server's certificate must match it.
    pub tls_pin: Option<TlsPin>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// `From:` of every reply, e.g. `Hexon Security <security@hexon.io>`.
    pub from: String,
    /// The bare address in `from`, used as envelope sender and loop guard.
    pub from_address: String,
    pub reply_to: Option<String>,
    pub timeout: Duration,
    /// SMTP connections used in parallel (and kept open for reuse).
    pub connections: usize,
}

#[derive(Debug, Clone)]
pub struct AckConfig {
    pub template_dir: PathBuf,
    pub message_id_domain: String,
    pub tracking_prefix: String,
    pub policy_url: String,
    pub security_txt_url: String,
    /// Folder the ack copy is APPENDed to; `None` = the folder the report came from.
    pub copy_folder: Option<String>,
    pub copy_mode: CopyMode,
    /// Envelope recipient of the copy in `bcc` mode (default: the watched
    /// mailbox's address, `imap.user` when it is an address, else `smtp.from`).
    pub copy_address: String,
    /// In `bcc` mode: how long a restart looks for the copy of a reply whose
    /// send was interrupted before resending it.
    pub ambiguity_wait: Duration,
    pub team_address: Option<String>,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub ack_business_days: u32,
    pub assessment_business_days: u32,
    /// Mail the team this long before an assessment deadline passes.
    pub warn_before: Duration,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_attachments: usize,
    pub max_mime_depth: usize,
    pub max_decrypted_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub per_sender_per_hour: u32,
    pub global_per_hour: u32,
    /// Of `global_per_hour`, the acks reserved for authenticated senders.
    pub reserved_authenticated_per_hour: u32,
    /// The window the global limit counts in (3600 s but in tests).
    pub global_window_secs: u32,
}

/// `[team]` (issue 12): who may answer reporters through the daemon.
#[derive(Debug, Clone, Default)]
pub struct TeamConfig {
    /// A signed team mail older than this is a replay.
    pub max_signature_age_days: u32,
    pub members: Vec<TeamMemberConfig>,
    /// Statuses whose change sends the reporter a templated notice
    /// (`status-notice.txt.j2`); none by default.
    pub status_notices: Vec<String>,
}

/// One `[[team.members]]` entry.
#[derive(Debug, Clone)]
pub struct TeamMemberConfig {
    pub name: String,
    /// Lowercase address.
    pub address: String,
    /// Public certificate file (resolved).
    pub cert: PathBuf,
}

#[derive(Debug, Clone)]
pub struct OpenPgpConfig {
    pub team_keys: Vec<PathBuf>,
    pub passphrase: Option<Secret>,
    pub sign_plain_acks: bool,
}

/// What `security-txt` publishes (RFC 9116).
#[derive(Debug, Clone)]
pub struct SecurityTxt {
    pub contact: Vec<String>,
    pub expires: chrono::DateTime<chrono::Utc>,
    pub encryption: Vec<String>,
    pub policy: Option<String>,
    pub preferred_languages: Vec<String>,
    pub canonical: Vec<String>,
    pub acknowledgments: Option<String>,
    pub sign: bool,
}

/// Where the OpenMetrics endpoint listens (`metrics.listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsListen {
    /// A loopback TCP address (validation refuses any other).
    Tcp(std::net::SocketAddr),
    /// A unix socket path (relative paths are relative to the config file).
    Unix(PathBuf),
}

impl fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsListen::Tcp(addr) => write!(f, "{addr}"),
            MetricsListen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[metrics]`: the opt-in OpenMetrics/Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub listen: MetricsListen,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub database: PathBuf,
    /// The audit chain's head, written by the daemon (`store.audit_anchor`).
    pub audit_anchor: PathBuf,
    pub ack: AckConfig,
    pub calendar: BusinessCalendar,
    pub triage: TriageConfig,
    pub limits: Limits,
    pub rate_limits: RateLimits,
    pub openpgp: OpenPgpConfig,
    pub security_txt: Option<SecurityTxt>,
    pub log_format: LogFormat,
    /// `None`: no metrics endpoint (the default).
    pub metrics: Option<MetricsConfig>,
    /// `[advisory]` (defaults when the table is absent).
    pub advisory: crate::advisory::AdvisoryConfig,
    /// `[team]` (issue 12; no members when the table is absent).
    pub team: TeamConfig,
}

impl Config {
    /// Read, parse and validate a config file, and read the secret files it names.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and key of every problem found (a
    /// syntax or type error stops the load before validation).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parse and validate config text; `path` is used for messages and to
    /// resolve relative paths (relative to the config file's directory).
    ///
    /// # Errors
    /// As [`Config::load`], except that the file itself is not read.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let raw = raw::parse(text, path)?;
        let validated =
            validate::validate(raw, path).map_err(|p| ConfigError::from_problems(path, p))?;
        let (config, mut problems) = resolve::resolve(validated);
        if let Err(message) = crate::outbox::render::check_template_dir(&config.ack.template_dir) {
            problems.push("ack.template_dir", message);
        }
        if !problems.0.is_empty() {
            return Err(ConfigError::from_problems(path, problems));
        }
        Ok(config)
    }
}

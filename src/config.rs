//! Configuration: one TOML file turned into a validated [`Config`].
//!
//! I/O: reads the config file and the secret files it names (passwords, key
//! passphrase). Every error names the file and the dotted key. Secrets are
//! held in [`Secret`], whose `Debug` prints `[redacted]`; nothing here logs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sla::BusinessCalendar;
use crate::triage::TriageConfig;

/// A configuration error: always names the file, and the key where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
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
    /// APPEND over IMAP after the SMTP server accepted the reply.
    #[default]
    Append,
    /// An extra envelope recipient (`copy_address`) in the same SMTP
    /// transaction. Lets a restart after a crash between SMTP acceptance and
    /// the "sent" mark find the copy and not send twice.
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
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
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
    /// Envelope recipient of the copy in `bcc` mode.
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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub database: PathBuf,
    pub ack: AckConfig,
    pub calendar: BusinessCalendar,
    pub triage: TriageConfig,
    pub limits: Limits,
    pub rate_limits: RateLimits,
    pub openpgp: OpenPgpConfig,
    pub security_txt: Option<SecurityTxt>,
    pub log_format: LogFormat,
}

// ---- raw (serde) shapes -------------------------------------------------

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    imap: RawImap,
    smtp: RawSmtp,
    store: RawStore,
    ack: RawAck,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    triage: Option<TriageConfig>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    rate_limits: RawRateLimits,
    #[serde(default)]
    openpgp: RawOpenPgp,
    #[serde(default)]
    security_txt: Option<RawSecurityTxt>,
    #[serde(default)]
    log: RawLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurityTxt {
    contact: Vec<String>,
    expires: String,
    #[serde(default)]
    encryption: Vec<String>,
    policy: Option<String>,
    #[serde(default)]
    preferred_languages: Vec<String>,
    #[serde(default)]
    canonical: Vec<String>,
    acknowledgments: Option<String>,
    #[serde(default)]
    sign: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    host: String,
    port: u16,
    tls: TlsMode,
    #[serde(default)]
    allow_plaintext: bool,
    ca_file: Option<PathBuf>,
    user: String,
    password_file: PathBuf,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    #[serde(default = "default_poll")]
    poll_interval_secs: u64,
    #[serde(default = "default_true")]
    idle: bool,
    #[serde(default = "default_mark")]
    mark: MarkMode,
    #[serde(default = "default_keyword")]
    keyword: String,
    #[serde(default = "default_move_to")]
    move_to: String,
    quarantine_folder: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_fetch_batch")]
    fetch_batch: u32,
}

fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_poll() -> u64 {
    60
}
fn default_mark() -> MarkMode {
    MarkMode::Keyword
}
fn default_keyword() -> String {
    "$Triaged".into()
}
fn default_move_to() -> String {
    "Triaged".into()
}
fn default_timeout() -> u64 {
    30
}
fn default_fetch_batch() -> u32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: u16,
    tls: TlsMode,
    #[serde(default)]
    allow_plaintext: bool,
    ca_file: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    from: String,
    reply_to: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_connections")]
    connections: usize,
}

fn default_connections() -> usize {
    8
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAck {
    template_dir: PathBuf,
    message_id_domain: String,
    #[serde(default = "default_prefix")]
    tracking_prefix: String,
    policy_url: String,
    #[serde(default)]
    security_txt_url: Option<String>,
    #[serde(default)]
    copy_folder: Option<String>,
    #[serde(default)]
    copy_mode: CopyMode,
    #[serde(default)]
    copy_address: Option<String>,
    #[serde(default = "default_ambiguity_wait")]
    ambiguity_wait_secs: u64,
    #[serde(default)]
    team_address: Option<String>,
    #[serde(default = "default_attempts")]
    max_attempts: u32,
    #[serde(default = "default_retry_base")]
    retry_base_secs: u64,
    #[serde(default = "default_retry_max")]
    retry_max_secs: u64,
}

fn default_prefix() -> String {
    "HEXON".into()
}
fn default_ambiguity_wait() -> u64 {
    30
}
fn default_attempts() -> u32 {
    12
}
fn default_retry_base() -> u64 {
    5
}
fn default_retry_max() -> u64 {
    1800
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default = "default_tz")]
    time_zone: String,
    #[serde(default = "default_work_days")]
    work_days: Vec<String>,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default = "default_ack_days")]
    ack_business_days: u32,
    #[serde(default = "default_assessment_days")]
    assessment_business_days: u32,
    #[serde(default = "default_warn_before")]
    warn_before_hours: u64,
}

impl Default for RawCalendar {
    fn default() -> Self {
        RawCalendar {
            time_zone: default_tz(),
            work_days: default_work_days(),
            holidays: Vec::new(),
            ack_business_days: default_ack_days(),
            assessment_business_days: default_assessment_days(),
            warn_before_hours: default_warn_before(),
        }
    }
}

fn default_tz() -> String {
    "UTC".into()
}
fn default_work_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| d.to_string())
        .collect()
}
fn default_warn_before() -> u64 {
    24
}
fn default_ack_days() -> u32 {
    2
}
fn default_assessment_days() -> u32 {
    5
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_max_message")]
    max_message_bytes: usize,
    #[serde(default = "default_max_attachments")]
    max_attachments: usize,
    #[serde(default = "default_max_depth")]
    max_mime_depth: usize,
    #[serde(default = "default_max_decrypted")]
    max_decrypted_bytes: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_message_bytes: default_max_message(),
            max_attachments: default_max_attachments(),
            max_mime_depth: default_max_depth(),
            max_decrypted_bytes: default_max_decrypted(),
        }
    }
}

fn default_max_message() -> usize {
    64 * 1024 * 1024
}
fn default_max_attachments() -> usize {
    64
}
fn default_max_depth() -> usize {
    16
}
fn default_max_decrypted() -> usize {
    32 * 1024 * 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    #[serde(default = "default_per_sender")]
    per_sender_per_hour: u32,
    #[serde(default = "default_global")]
    global_per_hour: u32,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawRateLimits {
            per_sender_per_hour: default_per_sender(),
            global_per_hour: default_global(),
        }
    }
}

fn default_per_sender() -> u32 {
    10
}
fn default_global() -> u32 {
    2000
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOpenPgp {
    #[serde(default)]
    team_keys: Vec<PathBuf>,
    passphrase_file: Option<PathBuf>,
    #[serde(default)]
    sign_plain_acks: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    format: LogFormat,
}

// ---- loading --------------------------------------------------------------

impl Config {
    /// Read, parse and validate a config file, and read the secret files it names.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and key of the first problem found.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parse and validate config text; `path` is used for messages and to
    /// resolve relative paths (relative to the config file's directory).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let deserializer = toml::Deserializer::new(text);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            // NOTE: toml's message carries a line/column excerpt; keep its first line.
            let message = inner.message().trim().to_string();
            invalid(if key == "." { "(top level)" } else { &key }, message)
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| -> PathBuf {
            let p = &expand_credentials(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let read_secret = |key: &str, p: &Path| -> Result<Secret> {
            let full = resolve(p);
            let value = std::fs::read_to_string(&full).map_err(|e| {
                invalid(
                    key,
                    format!("cannot read secret file {}: {e}", full.display()),
                )
            })?;
            let value = value.trim_end_matches(['\r', '\n']).to_string();
            if value.is_empty() {
                return Err(invalid(
                    key,
                    format!("secret file {} is empty", full.display()),
                ));
            }
            Ok(Secret(value))
        };

        // IMAP
        let i = raw.imap;
        check_host(&i.host).map_err(|m| invalid("imap.host", m))?;
        check_port(i.port).map_err(|m| invalid("imap.port", m))?;
        if i.tls == TlsMode::None && !i.allow_plaintext {
            return Err(invalid(
                "imap.tls",
                "plaintext IMAP is refused; use \"implicit\" or \"starttls\", or set imap.allow_plaintext = true".into(),
            ));
        }
        if i.user.trim().is_empty() {
            return Err(invalid("imap.user", "must not be empty".into()));
        }
        if i.poll_interval_secs == 0 {
            return Err(invalid(
                "imap.poll_interval_secs",
                "must be at least 1".into(),
            ));
        }
        if i.timeout_secs == 0 {
            return Err(invalid("imap.timeout_secs", "must be at least 1".into()));
        }
        if !(1..=10_000).contains(&i.fetch_batch) {
            return Err(invalid(
                "imap.fetch_batch",
                "must be between 1 and 10000".into(),
            ));
        }
        check_mailbox_name(&i.mailbox).map_err(|m| invalid("imap.mailbox", m))?;
        check_mailbox_name(&i.move_to).map_err(|m| invalid("imap.move_to", m))?;
        if let Some(q) = &i.quarantine_folder {
            check_mailbox_name(q).map_err(|m| invalid("imap.quarantine_folder", m))?;
        }
        if !i.keyword.starts_with('$')
            && !i
                .keyword
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || i.keyword.is_empty()
            || i.keyword
                .chars()
                .any(|c| " ()\\\"{%*]".contains(c) || c.is_control())
        {
            return Err(invalid(
                "imap.keyword",
                "must be an IMAP keyword atom such as $Triaged".into(),
            ));
        }
        let imap_ca = i.ca_file.as_deref().map(resolve);
        if let Some(ca) = &imap_ca {
            if !ca.is_file() {
                return Err(invalid(
                    "imap.ca_file",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        let imap = ImapConfig {
            password: read_secret("imap.password_file", &i.password_file)?,
            host: i.host,
            port: i.port,
            tls: i.tls,
            ca_file: imap_ca,
            user: i.user,
            mailbox: i.mailbox,
            poll_interval: Duration::from_secs(i.poll_interval_secs),
            idle: i.idle,
            mark: i.mark,
            keyword: i.keyword,
            move_to: i.move_to,
            quarantine_folder: i.quarantine_folder,
            timeout: Duration::from_secs(i.timeout_secs),
            fetch_batch: i.fetch_batch,
        };

        // SMTP
        let s = raw.smtp;
        check_host(&s.host).map_err(|m| invalid("smtp.host", m))?;
        check_port(s.port).map_err(|m| invalid("smtp.port", m))?;
        if s.tls == TlsMode::None && !s.allow_plaintext {
            return Err(invalid(
                "smtp.tls",
                "plaintext SMTP is refused; use \"implicit\" or \"starttls\", or set smtp.allow_plaintext = true".into(),
            ));
        }
        let from_address = parse_mailbox_address(&s.from).map_err(|m| invalid("smtp.from", m))?;
        if let Some(r) = &s.reply_to {
            parse_mailbox_address(r).map_err(|m| invalid("smtp.reply_to", m))?;
        }
        let password = match (&s.user, &s.password_file) {
            (Some(_), Some(p)) => Some(read_secret("smtp.password_file", p)?),
            (Some(_), None) => {
                return Err(invalid(
                    "smtp.password_file",
                    "required when smtp.user is set".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "smtp.user",
                    "required when smtp.password_file is set".into(),
                ))
            }
            (None, None) => None,
        };
        if s.timeout_secs == 0 {
            return Err(invalid("smtp.timeout_secs", "must be at least 1".into()));
        }
        if !(1..=64).contains(&s.connections) {
            return Err(invalid(
                "smtp.connections",
                "must be between 1 and 64".into(),
            ));
        }
        let smtp_ca = s.ca_file.as_deref().map(resolve);
        if let Some(ca) = &smtp_ca {
            if !ca.is_file() {
                return Err(invalid(
                    "smtp.ca_file",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        let smtp = SmtpConfig {
            host: s.host,
            port: s.port,
            tls: s.tls,
            ca_file: smtp_ca,
            user: s.user,
            password,
            from: s.from,
            from_address,
            reply_to: s.reply_to,
            timeout: Duration::from_secs(s.timeout_secs),
            connections: s.connections,
        };

        // Store
        if raw.store.path.as_os_str().is_empty() {
            return Err(invalid("store.path", "must not be empty".into()));
        }
        let database = resolve(&raw.store.path);

        // Ack
        let a = raw.ack;
        let template_dir = resolve(&a.template_dir);
        for name in crate::outbox::render::TEMPLATE_FILES {
            if !template_dir.join(name).is_file() {
                return Err(invalid(
                    "ack.template_dir",
                    format!("{} has no template {name}", template_dir.display()),
                ));
            }
        }
        if a.message_id_domain.is_empty()
            || !a
                .message_id_domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(invalid(
                "ack.message_id_domain",
                "must be a domain name such as hexon.io".into(),
            ));
        }
        if a.tracking_prefix.is_empty()
            || a.tracking_prefix.len() > 16
            || !a
                .tracking_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(invalid(
                "ack.tracking_prefix",
                "must be 1-16 upper-case letters or digits, e.g. HEXON".into(),
            ));
        }
        if a.policy_url.trim().is_empty() {
            return Err(invalid("ack.policy_url", "must not be empty".into()));
        }
        if let Some(folder) = &a.copy_folder {
            check_mailbox_name(folder).map_err(|m| invalid("ack.copy_folder", m))?;
        }
        if let Some(team) = &a.team_address {
            parse_mailbox_address(team).map_err(|m| invalid("ack.team_address", m))?;
        }
        if a.max_attempts == 0 {
            return Err(invalid("ack.max_attempts", "must be at least 1".into()));
        }
        if a.retry_base_secs == 0 || a.retry_max_secs < a.retry_base_secs {
            return Err(invalid(
                "ack.retry_max_secs",
                "retry_base_secs must be >= 1 and retry_max_secs >= retry_base_secs".into(),
            ));
        }
        let c = raw.calendar;
        let calendar = BusinessCalendar::new(&c.time_zone, &c.work_days, &c.holidays)
            .map_err(|m| invalid("calendar", m))?;
        if c.ack_business_days == 0 || c.assessment_business_days < c.ack_business_days {
            return Err(invalid(
                "calendar.assessment_business_days",
                "ack_business_days must be >= 1 and assessment_business_days >= ack_business_days"
                    .into(),
            ));
        }
        let copy_address = match &a.copy_address {
            Some(addr) => {
                parse_mailbox_address(addr).map_err(|m| invalid("ack.copy_address", m))?
            }
            None if imap.user.contains('@') => imap.user.to_ascii_lowercase(),
            None => smtp.from_address.clone(),
        };
        let security_txt_url = a
            .security_txt_url
            .unwrap_or_else(|| format!("https://{}/.well-known/security.txt", a.message_id_domain));
        let ack = AckConfig {
            template_dir,
            message_id_domain: a.message_id_domain,
            tracking_prefix: a.tracking_prefix,
            policy_url: a.policy_url,
            security_txt_url,
            copy_folder: a.copy_folder,
            copy_mode: a.copy_mode,
            copy_address,
            ambiguity_wait: Duration::from_secs(a.ambiguity_wait_secs),
            team_address: a.team_address,
            max_attempts: a.max_attempts,
            retry_base: Duration::from_secs(a.retry_base_secs),
            retry_max: Duration::from_secs(a.retry_max_secs),
            ack_business_days: c.ack_business_days,
            assessment_business_days: c.assessment_business_days,
            warn_before: Duration::from_secs(c.warn_before_hours * 3600),
        };

        let triage = raw.triage.unwrap_or_default();
        triage.validate().map_err(|m| invalid("triage", m))?;

        let l = raw.limits;
        if l.max_message_bytes < 1024 {
            return Err(invalid(
                "limits.max_message_bytes",
                "must be at least 1024".into(),
            ));
        }
        if l.max_mime_depth == 0 {
            return Err(invalid(
                "limits.max_mime_depth",
                "must be at least 1".into(),
            ));
        }
        if l.max_decrypted_bytes < 1024 {
            return Err(invalid(
                "limits.max_decrypted_bytes",
                "must be at least 1024".into(),
            ));
        }
        let limits = Limits {
            max_message_bytes: l.max_message_bytes,
            max_attachments: l.max_attachments,
            max_mime_depth: l.max_mime_depth,
            max_decrypted_bytes: l.max_decrypted_bytes,
        };
        let rate_limits = RateLimits {
            per_sender_per_hour: raw.rate_limits.per_sender_per_hour,
            global_per_hour: raw.rate_limits.global_per_hour,
        };

        let o = raw.openpgp;
        let team_keys: Vec<PathBuf> = o.team_keys.iter().map(|p| resolve(p)).collect();
        for (n, key) in team_keys.iter().enumerate() {
            if !key.is_file() {
                return Err(invalid(
                    &format!("openpgp.team_keys[{n}]"),
                    format!("{} is not a readable file", key.display()),
                ));
            }
        }
        let passphrase = match &o.passphrase_file {
            Some(p) => Some(read_secret("openpgp.passphrase_file", p)?),
            None => None,
        };
        let openpgp = OpenPgpConfig {
            team_keys,
            passphrase,
            sign_plain_acks: o.sign_plain_acks,
        };

        let security_txt = match raw.security_txt {
            None => None,
            Some(t) => {
                if t.contact.is_empty() {
                    return Err(invalid(
                        "security_txt.contact",
                        "needs at least one mailto:, https: or tel: URI".into(),
                    ));
                }
                for (n, c) in t.contact.iter().enumerate() {
                    if !(c.starts_with("mailto:")
                        || c.starts_with("https://")
                        || c.starts_with("tel:"))
                        || c.contains(['\r', '\n'])
                    {
                        return Err(invalid(
                            &format!("security_txt.contact[{n}]"),
                            format!("`{c}` is not a mailto:, https: or tel: URI"),
                        ));
                    }
                }
                let uris = [
                    ("security_txt.encryption", &t.encryption),
                    ("security_txt.canonical", &t.canonical),
                ];
                for (key, list) in uris {
                    for (n, u) in list.iter().enumerate() {
                        if !u.starts_with("https://") || u.contains(['\r', '\n']) {
                            return Err(invalid(
                                &format!("{key}[{n}]"),
                                format!("`{u}` must be an https:// URI"),
                            ));
                        }
                    }
                }
                for (key, value) in [
                    ("security_txt.policy", &t.policy),
                    ("security_txt.acknowledgments", &t.acknowledgments),
                ] {
                    if let Some(u) = value {
                        if !u.starts_with("https://") || u.contains(['\r', '\n']) {
                            return Err(invalid(key, format!("`{u}` must be an https:// URI")));
                        }
                    }
                }
                let expires = chrono::DateTime::parse_from_rfc3339(&t.expires)
                    .map_err(|e| {
                        invalid(
                            "security_txt.expires",
                            format!("`{}` is not an RFC 3339 time: {e}", t.expires),
                        )
                    })?
                    .with_timezone(&chrono::Utc);
                if t.sign && openpgp.team_keys.is_empty() {
                    return Err(invalid(
                        "security_txt.sign",
                        "signing needs openpgp.team_keys".into(),
                    ));
                }
                Some(SecurityTxt {
                    contact: t.contact,
                    expires,
                    encryption: t.encryption,
                    policy: t.policy,
                    preferred_languages: t.preferred_languages,
                    canonical: t.canonical,
                    acknowledgments: t.acknowledgments,
                    sign: t.sign,
                })
            }
        };

        Ok(Config {
            path: path.to_path_buf(),
            imap,
            smtp,
            database,
            ack,
            calendar,
            triage,
            limits,
            rate_limits,
            openpgp,
            security_txt,
            log_format: raw.log.format,
        })
    }
}

/// `${CREDENTIALS_DIRECTORY}/name` (or `$CREDENTIALS_DIRECTORY/name`) → the
/// directory systemd's `LoadCredential=` filled for this service.
fn expand_credentials(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    for prefix in ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
                return PathBuf::from(dir).join(rest.trim_start_matches('/'));
            }
        }
    }
    path.to_path_buf()
}

fn check_host(host: &str) -> std::result::Result<(), String> {
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("must be a host name or IP address".into());
    }
    Ok(())
}

fn check_port(port: u16) -> std::result::Result<(), String> {
    if port == 0 {
        return Err("must be between 1 and 65535".into());
    }
    Ok(())
}

fn check_mailbox_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(
            "must be a non-empty mailbox name without quotes, backslashes or control characters"
                .into(),
        );
    }
    Ok(())
}

/// `Name <a@b>` or `a@b` → lower-cased `a@b`.
pub fn parse_mailbox_address(value: &str) -> std::result::Result<String, String> {
    let addr = match (value.rfind('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value,
    }
    .trim();
    let valid = addr.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !addr
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    });
    if !valid || value.contains(['\r', '\n']) {
        return Err(format!(
            "`{value}` is not a mail address such as `Security <security@example.com>`"
        ));
    }
    Ok(addr.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let path = example_dir().join("hexon-triage.example.toml");
        let config = Config::load(&path).expect("the shipped example must validate");
        assert_eq!(config.ack.tracking_prefix, "HEXON");
        assert!(config.triage.components.len() >= 4);
        assert_eq!(format!("{:?}", config.imap.password), "[redacted]");
    }

    fn example_text() -> String {
        std::fs::read_to_string(example_dir().join("hexon-triage.example.toml")).unwrap()
    }

    fn error_of(text: &str) -> String {
        let path = example_dir().join("broken.toml");
        Config::from_toml(text, &path).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_is_named_with_its_table() {
        let text = example_text().replace("poll_interval_secs", "poll_intervall_secs");
        let err = error_of(&text);
        assert!(err.contains("imap"), "{err}");
        assert!(err.contains("poll_intervall_secs"), "{err}");
        assert!(err.contains("broken.toml"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_dotted_key() {
        let text = example_text().replace("port = 993", "port = \"nine\"");
        let err = error_of(&text);
        assert!(err.contains("imap.port"), "{err}");
    }

    #[test]
    fn plaintext_imap_is_refused_unless_allowed() {
        let text = example_text().replace("tls = \"implicit\"", "tls = \"none\"");
        let err = error_of(&text);
        assert!(err.contains("imap.tls"), "{err}");
    }

    #[test]
    fn missing_password_file_names_the_key() {
        let text = example_text().replace("secrets/imap-password", "secrets/nope");
        let err = error_of(&text);
        assert!(err.contains("imap.password_file"), "{err}");
        assert!(!err.contains("example-password"), "{err}");
    }

    #[test]
    fn bad_time_zone_names_the_calendar() {
        let text = example_text().replace("Europe/Berlin", "Mars/Olympus");
        let err = error_of(&text);
        assert!(err.contains("calendar"), "{err}");
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn parses_mailbox_addresses() {
        assert_eq!(
            parse_mailbox_address("Sec <Security@Hexon.io>").unwrap(),
            "security@hexon.io"
        );
        assert_eq!(parse_mailbox_address("a@b").unwrap(), "a@b");
        assert!(parse_mailbox_address("nobody").is_err());
        assert!(parse_mailbox_address("x <a@b>\r\nBcc: c@d").is_err());
    }
}

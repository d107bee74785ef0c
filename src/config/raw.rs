//! Phase 1 of loading: TOML text → the raw serde shapes, defaults filled in.
//!
//! Pure: no I/O, no checks beyond what serde enforces (types, unknown keys).
//! Errors name the dotted key via `serde_path_to_error`. Must not validate
//! values, resolve paths or read secrets: that is [`super::validate`] and
//! [`super::resolve`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, CopyMode, LogFormat, MarkMode, Result, TlsMode};
use crate::triage::TriageConfig;

/// Parse config text; `path` only names the file in errors.
///
/// # Errors
/// [`ConfigError::Invalid`] with the dotted key of the first type error or
/// unknown key (`(top level)` for a syntax error outside any table).
pub(super) fn parse(text: &str, path: &Path) -> Result<RawConfig> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        // NOTE: toml's message carries a line/column excerpt; keep its first line.
        let message = inner.message().trim().to_string();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message,
        }
    })
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) imap: RawImap,
    pub(super) smtp: RawSmtp,
    pub(super) store: RawStore,
    pub(super) ack: RawAck,
    #[serde(default)]
    pub(super) calendar: RawCalendar,
    #[serde(default)]
    pub(super) triage: Option<TriageConfig>,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) rate_limits: RawRateLimits,
    #[serde(default)]
    pub(super) openpgp: RawOpenPgp,
    #[serde(default)]
    pub(super) security_txt: Option<RawSecurityTxt>,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) metrics: Option<RawMetrics>,
    /// `[advisory]` (issue 14): checked by [`crate::advisory::AdvisoryConfig::problems`].
    #[serde(default)]
    pub(super) advisory: Option<crate::advisory::AdvisoryConfig>,
    /// `[team]` (issue 12): team members who work reports from their mail client.
    #[serde(default)]
    pub(super) team: RawTeam,
}

/// `[team]` and its `[[team.members]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    #[serde(default = "default_signature_age")]
    pub(super) max_signature_age_days: u32,
    #[serde(default)]
    pub(super) members: Vec<RawTeamMember>,
    #[serde(default)]
    pub(super) status_notices: Vec<String>,
}

fn default_signature_age() -> u32 {
    14
}

impl Default for RawTeam {
    fn default() -> Self {
        RawTeam {
            max_signature_age_days: default_signature_age(),
            members: Vec::new(),
            status_notices: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeamMember {
    pub(super) name: String,
    pub(super) address: String,
    /// The member's public OpenPGP certificate (file).
    pub(super) cert: PathBuf,
}

/// `[metrics]`: the opt-in OpenMetrics endpoint.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    /// `"127.0.0.1:9187"`, `"[::1]:9187"` or `"unix:/run/hexon-triage/metrics.sock"`.
    pub(super) listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurityTxt {
    pub(super) contact: Vec<String>,
    pub(super) expires: String,
    #[serde(default)]
    pub(super) encryption: Vec<String>,
    pub(super) policy: Option<String>,
    #[serde(default)]
    pub(super) preferred_languages: Vec<String>,
    #[serde(default)]
    pub(super) canonical: Vec<String>,
    pub(super) acknowledgments: Option<String>,
    #[serde(default)]
    pub(super) sign: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImap {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: TlsMode,
    #[serde(default)]
    pub(super) allow_plaintext: bool,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) tls_pin: Option<String>,
    pub(super) user: String,
    pub(super) password_file: PathBuf,
    #[serde(default = "default_mailbox")]
    pub(super) mailbox: String,
    #[serde(default = "default_poll")]
    pub(super) poll_interval_secs: u64,
    #[serde(default = "default_true")]
    pub(super) idle: bool,
    #[serde(default = "default_mark")]
    pub(super) mark: MarkMode,
    #[serde(default = "default_keyword")]
    pub(super) keyword: String,
    #[serde(default = "default_move_to")]
    pub(super) move_to: String,
    pub(super) quarantine_folder: Option<String>,
    #[serde(default = "default_timeout")]
    pub(super) timeout_secs: u64,
    #[serde(default = "default_fetch_batch")]
    pub(super) fetch_batch: u32,
    pub(super) authserv_id: Option<String>,
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
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: TlsMode,
    #[serde(default)]
    pub(super) allow_plaintext: bool,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) tls_pin: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) from: String,
    pub(super) reply_to: Option<String>,
    #[serde(default = "default_timeout")]
    pub(super) timeout_secs: u64,
    #[serde(default = "default_connections")]
    pub(super) connections: usize,
}

fn default_connections() -> usize {
    8
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: PathBuf,
    /// Where the daemon keeps the audit chain's head (default: beside `path`).
    #[serde(default)]
    pub(super) audit_anchor: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAck {
    pub(super) template_dir: PathBuf,
    pub(super) message_id_domain: String,
    #[serde(default = "default_prefix")]
    pub(super) tracking_prefix: String,
    pub(super) policy_url: String,
    #[serde(default)]
    pub(super) security_txt_url: Option<String>,
    #[serde(default)]
    pub(super) copy_folder: Option<String>,
    #[serde(default)]
    pub(super) copy_mode: CopyMode,
    #[serde(default)]
    pub(super) copy_address: Option<String>,
    #[serde(default = "default_ambiguity_wait")]
    pub(super) ambiguity_wait_secs: u64,
    #[serde(default)]
    pub(super) team_address: Option<String>,
    #[serde(default = "default_attempts")]
    pub(super) max_attempts: u32,
    #[serde(default = "default_retry_base")]
    pub(super) retry_base_secs: u64,
    #[serde(default = "default_retry_max")]
    pub(super) retry_max_secs: u64,
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
pub(super) struct RawCalendar {
    #[serde(default = "default_tz")]
    pub(super) time_zone: String,
    #[serde(default = "default_work_days")]
    pub(super) work_days: Vec<String>,
    #[serde(default)]
    pub(super) holidays: Vec<String>,
    #[serde(default = "default_ack_days")]
    pub(super) ack_business_days: u32,
    #[serde(default = "default_assessment_days")]
    pub(super) assessment_business_days: u32,
    #[serde(default = "default_warn_before")]
    pub(super) warn_before_hours: u64,
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
pub(super) struct RawLimits {
    #[serde(default = "default_max_message")]
    pub(super) max_message_bytes: usize,
    #[serde(default = "default_max_attachments")]
    pub(super) max_attachments: usize,
    #[serde(default = "default_max_depth")]
    pub(super) max_mime_depth: usize,
    #[serde(default = "default_max_decrypted")]
    pub(super) max_decrypted_bytes: usize,
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
pub(super) struct RawRateLimits {
    #[serde(default = "default_per_sender")]
    pub(super) per_sender_per_hour: u32,
    #[serde(default = "default_global")]
    pub(super) global_per_hour: u32,
    /// Share of the global budget only authenticated senders may use
    /// (default: a quarter of `global_per_hour`).
    #[serde(default)]
    pub(super) reserved_authenticated_per_hour: Option<u32>,
    /// The global limit's window (default 3600 s; shorter only for tests).
    #[serde(default = "default_global_window")]
    pub(super) global_window_secs: u32,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawRateLimits {
            per_sender_per_hour: default_per_sender(),
            global_per_hour: default_global(),
            reserved_authenticated_per_hour: None,
            global_window_secs: default_global_window(),
        }
    }
}

fn default_global_window() -> u32 {
    3600
}

fn default_per_sender() -> u32 {
    10
}
fn default_global() -> u32 {
    2000
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpenPgp {
    #[serde(default)]
    pub(super) team_keys: Vec<PathBuf>,
    pub(super) passphrase_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) sign_plain_acks: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    #[serde(default)]
    pub(super) format: LogFormat,
}

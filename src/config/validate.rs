//! Phase 2 of loading: the raw shapes → a [`Validated`] config, one small
//! function per section, collecting every problem instead of stopping at the
//! first.
//!
//! Pure: no I/O, no environment. Paths stay exactly as written (resolving
//! them, expanding `$CREDENTIALS_DIRECTORY` and reading secrets is
//! [`super::resolve`]); secret fields hold [`Secret::default`] until then.
//! Must not know template names (the template loader checks its directory).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{
    RawAck, RawCalendar, RawConfig, RawImap, RawLimits, RawOpenPgp, RawSecurityTxt, RawSmtp,
    RawTeam,
};
use super::{
    AckConfig, Config, ImapConfig, Limits, MetricsConfig, MetricsListen, OpenPgpConfig, RateLimits,
    Secret, SecurityTxt, SmtpConfig, TeamConfig, TeamMemberConfig, TlsMode,
};
use crate::sla::BusinessCalendar;

/// One problem: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub key: String,
    pub message: String,
}

/// The problems found so far, in the order found.
#[derive(Debug, Default)]
pub(super) struct Problems(pub Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Record `message` under `key` unless `ok`.
    pub(super) fn require(&mut self, ok: bool, key: &str, message: &str) {
        if !ok {
            self.push(key, message);
        }
    }

    /// The value, or `None` with the error recorded under `key`.
    pub(super) fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.push(key, m)).ok()
    }
}

/// Secret files named by the config, as written; read by [`super::resolve`].
#[derive(Debug, Clone)]
pub(super) struct SecretFiles {
    pub imap_password: PathBuf,
    pub smtp_password: Option<PathBuf>,
    pub passphrase: Option<PathBuf>,
}

/// A config whose values passed every check; paths not yet resolved.
#[derive(Debug, Clone)]
pub(super) struct Validated {
    pub config: Config,
    pub secrets: SecretFiles,
}

/// Check every section of `raw`; `path` is only stored in the result.
///
/// # Errors
/// Every problem found, in file order.
pub(super) fn validate(raw: RawConfig, path: &Path) -> Result<Validated, Problems> {
    let mut p = Problems::default();
    let secrets = SecretFiles {
        imap_password: raw.imap.password_file.clone(),
        smtp_password: raw.smtp.password_file.clone(),
        passphrase: raw.openpgp.passphrase_file.clone(),
    };
    let imap = imap(raw.imap, &mut p);
    let smtp = smtp(raw.smtp, &mut p);
    p.require(
        !raw.store.path.as_os_str().is_empty(),
        "store.path",
        "must not be empty",
    );
    let calendar = calendar(&raw.calendar, &mut p);
    let ack = ack(raw.ack, &raw.calendar, &imap, &smtp, &mut p);
    let triage = raw.triage.unwrap_or_default();
    p.check("triage", triage.validate());
    let limits = limits(&raw.limits, &mut p);
    let r = &raw.rate_limits;
    let reserved = r
        .reserved_authenticated_per_hour
        .unwrap_or(r.global_per_hour / 4);
    if r.global_per_hour == 0 {
        p.push("rate_limits.global_per_hour", "must be at least 1");
    } else if reserved >= r.global_per_hour {
        p.push(
            "rate_limits.reserved_authenticated_per_hour",
            format!(
                "must be below rate_limits.global_per_hour ({})",
                r.global_per_hour
            ),
        );
    }
    if r.global_window_secs == 0 {
        p.push("rate_limits.global_window_secs", "must be at least 1");
    }
    let rate_limits = RateLimits {
        per_sender_per_hour: r.per_sender_per_hour,
        global_per_hour: r.global_per_hour,
        reserved_authenticated_per_hour: reserved,
        global_window_secs: r.global_window_secs,
    };
    let openpgp = openpgp(raw.openpgp);
    let metrics = raw.metrics.and_then(|m| {
        p.check("metrics.listen", check_metrics_listen(&m.listen))
            .map(|listen| MetricsConfig { listen })
    });
    let security_txt = raw
        .security_txt
        .and_then(|t| security_txt(t, !openpgp.team_keys.is_empty(), &mut p));
    let advisory = raw.advisory.unwrap_or(crate::advisory::AdvisoryConfig {
        // NOTE: no [advisory] table: do not announce a CSAF provider that does not exist.
        security_txt_csaf: false,
        ..Default::default()
    });
    for (key, message) in advisory.problems() {
        p.push(key, message);
    }
    let team = team(raw.team, &mut p);
    if !p.0.is_empty() {
        return Err(p);
    }
    let config = Config {
        path: path.to_path_buf(),
        imap,
        smtp,
        audit_anchor: raw.store.audit_anchor.unwrap_or_else(|| {
            let mut name = raw.store.path.as_os_str().to_owned();
            name.push(".audit-anchor");
            name.into()
        }),
        database: raw.store.path,
        ack,
        // NOTE: only a placeholder when `calendar` failed, and then `p` is not empty.
        calendar: calendar.unwrap_or_else(|| BusinessCalendar::weekdays(chrono_tz::UTC)),
        triage,
        limits,
        rate_limits,
        openpgp,
        security_txt,
        log_format: raw.log.format,
        metrics,
        advisory,
        team,
    };
    Ok(Validated { config, secrets })
}

/// `[team]`: names unique and non-empty, addresses valid and unique, a
/// signature window of at least a day (issue 12).
fn team(t: RawTeam, p: &mut Problems) -> TeamConfig {
    p.require(
        t.max_signature_age_days >= 1,
        "team.max_signature_age_days",
        "must be at least 1",
    );
    let mut members: Vec<TeamMemberConfig> = Vec::new();
    for (n, m) in t.members.into_iter().enumerate() {
        let key = |field: &str| format!("team.members[{n}].{field}");
        let name = m.name.trim().to_string();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            p.push(key("name"), "must be one word, e.g. `alice`");
        } else if members.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            p.push(key("name"), format!("`{name}` is named twice"));
        }
        let address = p
            .check(&key("address"), parse_mailbox_address(&m.address))
            .unwrap_or_default();
        if !address.is_empty() && members.iter().any(|o| o.address == address) {
            p.push(key("address"), format!("`{address}` is listed twice"));
        }
        p.require(
            !m.cert.as_os_str().is_empty(),
            &key("cert"),
            "must name the member's public key file",
        );
        members.push(TeamMemberConfig {
            name,
            address,
            cert: m.cert,
        });
    }
    for (n, status) in t.status_notices.iter().enumerate() {
        if status == "new" || !crate::model::REPORT_STATUSES.contains(&status.as_str()) {
            p.push(
                format!("team.status_notices[{n}]"),
                format!(
                    "`{status}` is not a report status one can change to (one of {})",
                    crate::model::REPORT_STATUSES[1..].join(", ")
                ),
            );
        }
    }
    TeamConfig {
        max_signature_age_days: t.max_signature_age_days,
        members,
        status_notices: t.status_notices,
    }
}

fn imap(i: RawImap, p: &mut Problems) -> ImapConfig {
    p.check("imap.host", check_host(&i.host));
    p.check("imap.port", check_port(i.port));
    p.require(
        i.tls != TlsMode::None || i.allow_plaintext,
        "imap.tls",
        "plaintext IMAP is refused; use \"implicit\" or \"starttls\", or set imap.allow_plaintext = true",
    );
    p.require(
        i.tls != TlsMode::None || !i.allow_plaintext || is_loopback_host(&i.host),
        "imap.allow_plaintext",
        &format!(
            "plaintext IMAP is only allowed to a loopback host (localhost, 127.0.0.0/8, ::1), not {}",
            i.host
        ),
    );
    p.require(!i.user.trim().is_empty(), "imap.user", "must not be empty");
    p.require(
        i.poll_interval_secs != 0,
        "imap.poll_interval_secs",
        "must be at least 1",
    );
    p.require(
        i.timeout_secs != 0,
        "imap.timeout_secs",
        "must be at least 1",
    );
    p.require(
        (1..=10_000).contains(&i.fetch_batch),
        "imap.fetch_batch",
        "must be between 1 and 10000",
    );
    if let Some(id) = &i.authserv_id {
        p.require(
            !id.trim().is_empty() && !id.contains([';', ' ', '(', ')']),
            "imap.authserv_id",
            "must be the receiving server's authserv-id (a host name such as mx.example.com)",
        );
    }
    p.check("imap.mailbox", check_mailbox_name(&i.mailbox));
    p.check("imap.move_to", check_mailbox_name(&i.move_to));
    if let Some(q) = &i.quarantine_folder {
        p.check("imap.quarantine_folder", check_mailbox_name(q));
    }
    p.require(
        is_keyword_atom(&i.keyword),
        "imap.keyword",
        "must be an IMAP keyword atom such as $Triaged",
    );
    ImapConfig {
        host: i.host,
        port: i.port,
        tls: i.tls,
        ca_file: i.ca_file,
        tls_pin: tls_pin("imap", i.tls_pin.as_deref(), i.tls, p),
        user: i.user,
        password: Secret::default(),
        mailbox: i.mailbox,
        poll_interval: Duration::from_secs(i.poll_interval_secs),
        idle: i.idle,
        mark: i.mark,
        keyword: i.keyword,
        move_to: i.move_to,
        quarantine_folder: i.quarantine_folder,
        timeout: Duration::from_secs(i.timeout_secs),
        fetch_batch: i.fetch_batch,
        authserv_id: i.authserv_id,
    }
}

/// `<section>.tls_pin`, parsed; a pin without TLS is a mistake.
fn tls_pin(
    section: &str,
    pin: Option<&str>,
    tls: TlsMode,
    p: &mut Problems,
) -> Option<crate::net::TlsPin> {
    let key = format!("{section}.tls_pin");
    let pin = p.check(&key, crate::net::TlsPin::parse(pin?))?;
    p.require(
        tls != TlsMode::None,
        &key,
        "a pin needs TLS; set the tls key to \"implicit\" or \"starttls\"",
    );
    Some(pin)
}

/// `$Name` or a plain atom, without IMAP specials.
fn is_keyword_atom(keyword: &str) -> bool {
    let plain_or_dollar = keyword.starts_with('$')
        || keyword
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain_or_dollar
        && !keyword.is_empty()
        && !keyword
            .chars()
            .any(|c| " ()\\\"{%*]".contains(c) || c.is_control())
}

fn smtp(s: RawSmtp, p: &mut Problems) -> SmtpConfig {
    p.check("smtp.host", check_host(&s.host));
    p.check("smtp.port", check_port(s.port));
    p.require(
        s.tls != TlsMode::None || s.allow_plaintext,
        "smtp.tls",
        "plaintext SMTP is refused; use \"implicit\" or \"starttls\", or set smtp.allow_plaintext = true",
    );
    p.require(
        s.tls != TlsMode::None || !s.allow_plaintext || is_loopback_host(&s.host),
        "smtp.allow_plaintext",
        &format!(
            "plaintext SMTP is only allowed to a loopback host (localhost, 127.0.0.0/8, ::1), not {}",
            s.host
        ),
    );
    let from_address = p
        .check("smtp.from", parse_mailbox_address(&s.from))
        .unwrap_or_default();
    if let Some(r) = &s.reply_to {
        p.check("smtp.reply_to", parse_mailbox_address(r));
    }
    match (&s.user, &s.password_file) {
        (Some(_), None) => p.push("smtp.password_file", "required when smtp.user is set"),
        (None, Some(_)) => p.push("smtp.user", "required when smtp.password_file is set"),
        _ => {}
    }
    p.require(
        s.timeout_secs != 0,
        "smtp.timeout_secs",
        "must be at least 1",
    );
    p.require(
        (1..=64).contains(&s.connections),
        "smtp.connections",
        "must be between 1 and 64",
    );
    SmtpConfig {
        host: s.host,
        port: s.port,
        tls: s.tls,
        ca_file: s.ca_file,
        tls_pin: tls_pin("smtp", s.tls_pin.as_deref(), s.tls, p),
        password: (s.user.is_some() && s.password_file.is_some()).then(Secret::default),
        user: s.user,
        from: s.from,
        from_address,
        reply_to: s.reply_to,
        timeout: Duration::from_secs(s.timeout_secs),
        connections: s.connections,
    }
}

fn calendar(c: &RawCalendar, p: &mut Problems) -> Option<BusinessCalendar> {
    let calendar = p.check(
        "calendar",
        BusinessCalendar::new(&c.time_zone, &c.work_days, &c.holidays),
    );
    p.require(
        c.ack_business_days != 0 && c.assessment_business_days >= c.ack_business_days,
        "calendar.assessment_business_days",
        "ack_business_days must be >= 1 and assessment_business_days >= ack_business_days",
    );
    calendar
}

/// `[ack]`, with the deadlines from `[calendar]` and the copy address
/// defaulted from the IMAP user or the SMTP sender.
fn ack(
    a: RawAck,
    c: &RawCalendar,
    imap: &ImapConfig,
    smtp: &SmtpConfig,
    p: &mut Problems,
) -> AckConfig {
    p.require(
        is_domain(&a.message_id_domain),
        "ack.message_id_domain",
        "must be a domain name such as hexon.io",
    );
    p.require(
        is_tracking_prefix(&a.tracking_prefix),
        "ack.tracking_prefix",
        "must be 1-16 upper-case letters or digits, e.g. HEXON",
    );
    p.require(
        !a.policy_url.trim().is_empty(),
        "ack.policy_url",
        "must not be empty",
    );
    if let Some(folder) = &a.copy_folder {
        p.check("ack.copy_folder", check_mailbox_name(folder));
    }
    if let Some(team) = &a.team_address {
        p.check("ack.team_address", parse_mailbox_address(team));
    }
    p.require(
        a.max_attempts != 0,
        "ack.max_attempts",
        "must be at least 1",
    );
    p.require(
        a.retry_base_secs != 0 && a.retry_max_secs >= a.retry_base_secs,
        "ack.retry_max_secs",
        "retry_base_secs must be >= 1 and retry_max_secs >= retry_base_secs",
    );
    let copy_address = match &a.copy_address {
        Some(addr) => p
            .check("ack.copy_address", parse_mailbox_address(addr))
            .unwrap_or_default(),
        None if imap.user.contains('@') => imap.user.to_ascii_lowercase(),
        None => smtp.from_address.clone(),
    };
    let security_txt_url = a
        .security_txt_url
        .unwrap_or_else(|| format!("https://{}/.well-known/security.txt", a.message_id_domain));
    AckConfig {
        template_dir: a.template_dir,
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
    }
}

fn is_domain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn is_tracking_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 16
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn limits(l: &RawLimits, p: &mut Problems) -> Limits {
    p.require(
        l.max_message_bytes >= 1024,
        "limits.max_message_bytes",
        "must be at least 1024",
    );
    p.require(
        l.max_mime_depth != 0,
        "limits.max_mime_depth",
        "must be at least 1",
    );
    p.require(
        l.max_decrypted_bytes >= 1024,
        "limits.max_decrypted_bytes",
        "must be at least 1024",
    );
    Limits {
        max_message_bytes: l.max_message_bytes,
        max_attachments: l.max_attachments,
        max_mime_depth: l.max_mime_depth,
        max_decrypted_bytes: l.max_decrypted_bytes,
    }
}

/// `[openpgp]` has nothing to check before its files are resolved.
fn openpgp(o: RawOpenPgp) -> OpenPgpConfig {
    OpenPgpConfig {
        team_keys: o.team_keys,
        passphrase: o.passphrase_file.as_ref().map(|_| Secret::default()),
        sign_plain_acks: o.sign_plain_acks,
    }
}

/// `[security_txt]` (RFC 9116); `None` only when a problem was recorded.
fn security_txt(t: RawSecurityTxt, has_team_keys: bool, p: &mut Problems) -> Option<SecurityTxt> {
    p.require(
        !t.contact.is_empty(),
        "security_txt.contact",
        "needs at least one mailto:, https: or tel: URI",
    );
    for (n, c) in t.contact.iter().enumerate() {
        let scheme_ok =
            c.starts_with("mailto:") || c.starts_with("https://") || c.starts_with("tel:");
        if !scheme_ok || c.contains(['\r', '\n']) {
            p.push(
                format!("security_txt.contact[{n}]"),
                format!("`{c}` is not a mailto:, https: or tel: URI"),
            );
        }
    }
    let lists = [
        ("security_txt.encryption", &t.encryption),
        ("security_txt.canonical", &t.canonical),
    ];
    for (key, list) in lists {
        for (n, u) in list.iter().enumerate() {
            p.check(&format!("{key}[{n}]"), check_https(u));
        }
    }
    for (key, value) in [
        ("security_txt.policy", &t.policy),
        ("security_txt.acknowledgments", &t.acknowledgments),
    ] {
        if let Some(u) = value {
            p.check(key, check_https(u));
        }
    }
    let expires = p.check(
        "security_txt.expires",
        chrono::DateTime::parse_from_rfc3339(&t.expires)
            .map(|at| at.with_timezone(&chrono::Utc))
            .map_err(|e| format!("`{}` is not an RFC 3339 time: {e}", t.expires)),
    );
    p.require(
        !t.sign || has_team_keys,
        "security_txt.sign",
        "signing needs openpgp.team_keys",
    );
    Some(SecurityTxt {
        contact: t.contact,
        expires: expires?,
        encryption: t.encryption,
        policy: t.policy,
        preferred_languages: t.preferred_languages,
        canonical: t.canonical,
        acknowledgments: t.acknowledgments,
        sign: t.sign,
    })
}

/// `unix:PATH`, or an IP literal and port on loopback: the endpoint is for
/// a local scraper (or a reverse proxy), never the network.
fn check_metrics_listen(value: &str) -> Result<MetricsListen, String> {
    if let Some(path) = value.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(
                "`unix:` needs a socket path, e.g. \"unix:/run/hexon-triage/metrics.sock\"".into(),
            );
        }
        return Ok(MetricsListen::Unix(PathBuf::from(path)));
    }
    let addr: std::net::SocketAddr = value.parse().map_err(|_| {
        format!("{value:?} is not \"IP:PORT\" (e.g. \"127.0.0.1:9187\") or \"unix:PATH\"")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; the metrics endpoint listens only on 127.0.0.0/8, [::1] or a unix socket"
        ));
    }
    if addr.port() == 0 {
        return Err("port must not be 0".into());
    }
    Ok(MetricsListen::Tcp(addr))
}

fn check_https(uri: &str) -> Result<(), String> {
    if !uri.starts_with("https://") || uri.contains(['\r', '\n']) {
        return Err(format!("`{uri}` must be an https:// URI"));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("must be a host name or IP address".into());
    }
    Ok(())
}

/// `localhost` (and `*.localhost`, RFC 6761) or a loopback IP address; no
/// name is resolved.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_port(port: u16) -> Result<(), String> {
    if port == 0 {
        return Err("must be between 1 and 65535".into());
    }
    Ok(())
}

fn check_mailbox_name(name: &str) -> Result<(), String> {
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
///
/// # Errors
/// The value is not a single mail address (or carries a line break).
pub fn parse_mailbox_address(value: &str) -> Result<String, String> {
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

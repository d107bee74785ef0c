//! `check-config --connect`: log in to the configured IMAP and SMTP servers
//! and check, step by step, what the daemon will need: TCP, TLS (with the
//! certificate rules of `crate::net`), login, the mailbox, IDLE, the
//! keyword or MOVE for `imap.mark`; SMTP TLS, AUTH, and that the sender is
//! accepted (MAIL FROM, then RSET and QUIT).
//!
//! I/O: network only, every step bounded by the section's `timeout_secs`.
//! Must not: send or change any message (no STORE, no APPEND, no DATA), or
//! print a password.

use std::time::Duration;

use async_imap::types::Flag;
use serde::Serialize;

use crate::config::{Config, ImapConfig, MarkMode, SmtpConfig, TlsMode};
use crate::outbox::smtp::{SmtpSender, SmtpStep};
use crate::source::imap::{self, ImapError, Session};

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    Ok,
    /// Works, but not as configured (e.g. no IDLE: the daemon polls).
    Warning,
    Failed,
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Step {
    pub service: &'static str,
    pub step: String,
    pub status: Status,
    /// What went wrong (or a note); empty when there is nothing to say.
    pub detail: String,
    /// The config keys to fix when it failed.
    pub keys: &'static str,
}

fn step(service: &'static str, name: impl Into<String>, status: Status) -> Step {
    Step {
        service,
        step: name.into(),
        status,
        detail: String::new(),
        keys: "",
    }
}

fn failed(
    service: &'static str,
    name: impl Into<String>,
    detail: String,
    keys: &'static str,
) -> Step {
    Step {
        detail,
        keys,
        ..step(service, name, Status::Failed)
    }
}

/// Every IMAP step, then every SMTP step; a service stops at its first failure.
pub(super) async fn check(config: &Config) -> Vec<Step> {
    let mut steps = imap_steps(&config.imap).await;
    steps.extend(smtp_steps(&config.smtp).await);
    steps
}

/// The steps `imap::connect` took before `error`, and the failed one.
fn imap_connect_failure(c: &ImapConfig, error: &ImapError) -> Vec<Step> {
    let tls = c.tls != TlsMode::None;
    let (passed, name, keys): (usize, &str, &'static str) = match error {
        ImapError::Connect { .. } => (0, "connect", "imap.host / imap.port"),
        ImapError::CaFile { .. } => (1, "TLS", "imap.ca_file"),
        ImapError::Tls { .. } | ImapError::Starttls { .. } => {
            (1, "TLS", "imap.tls / imap.ca_file / imap.tls_pin")
        }
        ImapError::Login { .. } => (3, "LOGIN", "imap.user / imap.password_file"),
        ImapError::Timeout {
            operation: "LOGIN", ..
        } => (3, "LOGIN", "imap.timeout_secs"),
        _ => (2, "greeting", "imap.port / imap.tls"),
    };
    let label = |s: &str| match s {
        "connect" => format!("connect {}:{}", c.host, c.port),
        "TLS" => format!("TLS ({:?})", c.tls),
        "LOGIN" => format!("LOGIN as {}", c.user),
        other => other.to_string(),
    };
    let mut steps: Vec<Step> = ["connect", "TLS", "greeting"]
        .into_iter()
        .take(passed)
        .filter(|s| tls || *s != "TLS")
        .map(|s| step("IMAP", label(s), Status::Ok))
        .collect();
    steps.push(failed("IMAP", label(name), error.to_string(), keys));
    steps
}

async fn imap_steps(c: &ImapConfig) -> Vec<Step> {
    let mut session = match imap::connect(c).await {
        Ok(session) => session,
        Err(e) => return imap_connect_failure(c, &e),
    };
    let mut steps = vec![step(
        "IMAP",
        format!("connect {}:{}", c.host, c.port),
        Status::Ok,
    )];
    if c.tls != TlsMode::None {
        steps.push(step("IMAP", format!("TLS ({:?})", c.tls), Status::Ok));
    }
    steps.push(step("IMAP", format!("LOGIN as {}", c.user), Status::Ok));
    let more = mailbox_steps(c, &mut session).await;
    imap::logout(session, c.timeout).await;
    steps.extend(more);
    steps
}

/// SELECT, IDLE, and what `imap.mark` needs.
async fn mailbox_steps(c: &ImapConfig, session: &mut Session) -> Vec<Step> {
    let timeout = c.timeout;
    let select = format!("SELECT {}", c.mailbox);
    let mailbox = match bounded(timeout, session.select(&c.mailbox)).await {
        Ok(mailbox) => mailbox,
        Err(e) => return vec![failed("IMAP", select, e, "imap.mailbox")],
    };
    let mut steps = vec![step("IMAP", select, Status::Ok)];
    let caps = match bounded(timeout, session.capabilities()).await {
        Ok(caps) => caps,
        Err(e) => {
            steps.push(failed("IMAP", "CAPABILITY", e, "imap.host"));
            return steps;
        }
    };
    steps.push(match (c.idle, caps.has_str("IDLE")) {
        (false, _) => step("IMAP", "IDLE (imap.idle = false)", Status::Skipped),
        (true, true) => step("IMAP", "IDLE offered", Status::Ok),
        (true, false) => Step {
            detail: format!(
                "the server does not offer IDLE; the daemon polls every {}s",
                c.poll_interval.as_secs()
            ),
            keys: "imap.poll_interval_secs",
            ..step("IMAP", "IDLE offered", Status::Warning)
        },
    });
    steps.push(match c.mark {
        MarkMode::Keyword => keyword_step(c, &mailbox.permanent_flags),
        MarkMode::Move if caps.has_str("MOVE") => step("IMAP", "MOVE offered", Status::Ok),
        MarkMode::Move => failed(
            "IMAP",
            "MOVE offered",
            "the server does not offer MOVE (RFC 6851)".into(),
            "imap.mark",
        ),
    });
    steps
}

/// Can `imap.keyword` be stored in the selected mailbox (PERMANENTFLAGS)?
fn keyword_step(c: &ImapConfig, flags: &[Flag<'_>]) -> Step {
    let name = format!("keyword {} storable", c.keyword);
    let storable = flags.iter().any(|f| match f {
        Flag::MayCreate => true,
        Flag::Custom(k) => k.eq_ignore_ascii_case(&c.keyword),
        _ => false,
    });
    if storable {
        return step("IMAP", name, Status::Ok);
    }
    failed(
        "IMAP",
        name,
        format!(
            "{} allows neither {} nor new keywords (\\*) in PERMANENTFLAGS",
            c.mailbox, c.keyword
        ),
        "imap.mark / imap.keyword",
    )
}

async fn bounded<T, E: std::fmt::Display>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(v)) => Ok(v),
    }
}

async fn smtp_steps(c: &SmtpConfig) -> Vec<Step> {
    let sender = match SmtpSender::new(c) {
        Ok(sender) => sender,
        Err(e) => return vec![failed("SMTP", "TLS setup", e.to_string(), "smtp.ca_file")],
    };
    let all = [
        SmtpStep::Connect,
        SmtpStep::Tls,
        SmtpStep::Ehlo,
        SmtpStep::Auth,
        SmtpStep::Sender,
    ];
    let failure = sender.probe().await.err();
    let mut steps = Vec::new();
    for s in all {
        let name = match s {
            SmtpStep::Connect => format!("connect {}:{}", c.host, c.port),
            SmtpStep::Tls => format!("TLS ({:?})", c.tls),
            SmtpStep::Auth => format!("AUTH as {}", c.user.as_deref().unwrap_or("")),
            SmtpStep::Sender => format!("MAIL FROM:<{}>", c.from_address),
            SmtpStep::Ehlo => s.name().to_string(),
        };
        let skipped = (s == SmtpStep::Tls && c.tls == TlsMode::None)
            || (s == SmtpStep::Auth && c.user.is_none());
        match &failure {
            Some((at, reason)) if *at == s => {
                steps.push(failed("SMTP", name, reason.clone(), s.keys()));
                break;
            }
            _ if skipped => {}
            _ => steps.push(step("SMTP", name, Status::Ok)),
        }
    }
    steps
}

//! `check-config [--json] [--connect]`: load the config and everything it
//! names (secrets, team keys, templates), then summarise it with warnings;
//! with `--connect`, also try the servers step by step (`connect`).
//!
//! I/O: reads the config, its secrets, key files and templates; with
//! `--connect` the network. Prints text or JSON to stdout. Exit 78 on any
//! config problem, 1 when a `--connect` step fails.

use std::path::Path;

use anyhow::Result;
use chrono::Utc;

use super::{exit, load_config, securitytxt, ExitError};
use crate::config::Config;
use crate::open::KeyInfo;

mod connect;

/// `check-config [--json] [--connect]`.
pub(super) async fn check(path: &Path, json: bool, connect: bool) -> Result<i32> {
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
    let warnings = warnings(&config, &infos);
    let steps = match connect {
        true => Some(connect::check(&config).await),
        false => None,
    };
    let connected = steps
        .iter()
        .flatten()
        .all(|s| s.status != connect::Status::Failed);
    if json {
        let mut out = serde_json::json!({ "config": path.display().to_string(), "valid": true, "team_keys": infos, "warnings": warnings });
        if let Some(steps) = &steps {
            out["connect"] = serde_json::json!(steps);
            out["connected"] = serde_json::json!(connected);
        }
        println!("{out}");
    } else {
        print_summary(path, &config, &infos, &warnings);
        if let Some(steps) = &steps {
            print_steps(steps);
        }
    }
    Ok(if connected { exit::OK } else { exit::FAILURE })
}

fn print_steps(steps: &[connect::Step]) {
    println!("connect:");
    for s in steps {
        let line = format!("  {} {:<36}", s.service, s.step);
        match s.status {
            connect::Status::Ok => println!("{line} OK"),
            connect::Status::Skipped => println!("{line} skipped"),
            connect::Status::Warning => println!("{line} WARNING: {} ({})", s.detail, s.keys),
            connect::Status::Failed => println!("{line} FAILED: {} (check {})", s.detail, s.keys),
        }
    }
}

/// What is valid but likely wrong: expiring or unusable keys, none at all,
/// security.txt about to expire.
fn warnings(config: &Config, infos: &[KeyInfo]) -> Vec<String> {
    let mut warnings = Vec::new();
    for k in infos {
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
        warnings.extend(securitytxt::security_txt_text(t, Utc::now()).1);
        if t.expires <= Utc::now() {
            warnings.push("security_txt.expires is in the past".into());
        }
    }
    warnings
}

fn pinned(pin: Option<&crate::config::TlsPin>) -> String {
    pin.map(|p| format!(" pinned {p}")).unwrap_or_default()
}

fn print_summary(path: &Path, config: &Config, infos: &[KeyInfo], warnings: &[String]) {
    println!("{}: OK", path.display());
    println!(
        "  IMAP  {}:{} ({:?}) mailbox {}{}",
        config.imap.host,
        config.imap.port,
        config.imap.tls,
        config.imap.mailbox,
        pinned(config.imap.tls_pin.as_ref())
    );
    println!(
        "  SMTP  {}:{} ({:?}) from {}{}",
        config.smtp.host,
        config.smtp.port,
        config.smtp.tls,
        config.smtp.from,
        pinned(config.smtp.tls_pin.as_ref())
    );
    println!("  store {}", config.database.display());
    println!(
        "  {} components in scope, {} out-of-scope classes",
        config.triage.components.len(),
        config.triage.out_of_scope.len()
    );
    for k in infos {
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
    for w in warnings {
        println!("  warning: {w}");
    }
}

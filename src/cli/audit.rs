//! `audit verify [--json] [--anchor FILE]`: check the store's audit chain:
//! links and hashes, the MACs (with the audit key derived from the team key
//! in the config), and the anchor (the head the daemon wrote outside the
//! database, default `store.audit_anchor`), which catches a truncated tail
//! and a chain recomputed without the key.
//!
//! I/O: reads the config, the team keys, the anchor file and the store;
//! prints text or JSON to stdout. Exit 4 when the chain is broken. Must not
//! print the key.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use super::{exit, load_config, open_store, ExitError};
use crate::store::{AuditProblem, AuditSummary};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the chain; exit 4 and name the events if anything was edited, recomputed or cut off.
    Verify {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
        /// The anchor to check against (`<event id>:<mac>`, as the daemon
        /// writes it or a copy's X-Hexon-Audit-Head); default `store.audit_anchor`.
        #[arg(long)]
        anchor: Option<PathBuf>,
    },
}

/// `audit …`.
pub(super) fn dispatch(
    config: &Path,
    database: Option<&Path>,
    command: AuditCommand,
) -> Result<i32> {
    match command {
        AuditCommand::Verify { json, anchor } => verify(config, database, anchor, json),
    }
}

/// `audit verify`.
fn verify(
    config_path: &Path,
    database: Option<&Path>,
    anchor: Option<PathBuf>,
    json: bool,
) -> Result<i32> {
    let config = load_config(config_path)?;
    let keys = crate::open::TeamKeys::load(
        &config.openpgp.team_keys,
        config.openpgp.passphrase.as_ref().map(|s| s.expose()),
    )
    .map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!(
            "{}: key `openpgp.team_keys`: {}",
            config_path.display(),
            e.reason()
        ),
    })?;
    let at_rest = crate::atrest::AtRest::from_team(&keys);
    let key = at_rest.audit_key();
    let store = open_store(config_path, database)?;
    let explicit = anchor.is_some();
    let anchor_path = anchor.unwrap_or_else(|| config.audit_anchor.clone());
    let head = match crate::store::read_anchor(&anchor_path) {
        Ok(head) => Some(head),
        Err(e) if explicit => {
            return Err(ExitError {
                code: exit::USAGE,
                message: format!("cannot read the anchor: {e}"),
            }
            .into())
        }
        Err(_) => None,
    };
    let mut summary = store.audit_check(key, head.as_ref())?;
    if summary.keyed > 0 && head.is_none() {
        summary.problems.push(AuditProblem {
            event_id: 0,
            problem: format!(
                "no anchor at {}: a truncated tail cannot be detected",
                anchor_path.display()
            ),
        });
    }
    if summary.unchecked > 0 {
        summary.problems.push(AuditProblem {
            event_id: 0,
            problem: format!(
                "{} events carry a MAC, but no team key is configured (openpgp.team_keys): cannot check them",
                summary.unchecked
            ),
        });
    }
    print_summary(
        &summary,
        head.is_some().then_some(anchor_path.as_path()),
        json,
    );
    Ok(if summary.problems.is_empty() {
        exit::OK
    } else {
        exit::AUDIT_BROKEN
    })
}

fn print_summary(summary: &AuditSummary, anchor: Option<&Path>, json: bool) {
    let count = summary.events;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "events": count, "keyed": summary.keyed,
                "unkeyed_before_migration": summary.unkeyed_before,
                "unkeyed_without_key": summary.unkeyed_after,
                "uncovered_tail": summary.uncovered_tail,
                "anchor": anchor.map(|p| p.display().to_string()),
                "problems": summary.problems,
            })
        );
        return;
    }
    for p in &summary.problems {
        println!("event {}: {}", p.event_id, p.problem);
    }
    if summary.problems.is_empty() {
        println!(
            "audit chain intact: {count} events ({} with a MAC, {} unkeyed (before migration), {} unkeyed written without the key){}",
            summary.keyed,
            summary.unkeyed_before,
            summary.unkeyed_after,
            anchor.map(|p| format!("; anchor {} matches", p.display())).unwrap_or_default()
        );
    } else {
        println!(
            "audit chain BROKEN: {} problem(s) in {count} events",
            summary.problems.len()
        );
    }
}

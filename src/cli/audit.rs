//! `audit verify [--json]`: check the store's hash-chained audit log.
//!
//! I/O: reads the store; prints text or JSON to stdout. Exit 4 when the
//! chain is broken.

use anyhow::Result;
use clap::Subcommand;

use super::exit;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain; exit 4 and name the events if anything was edited or deleted.
    Verify {
        /// Print JSON instead of a table/text.
        #[arg(long)]
        json: bool,
    },
}

/// `audit …`.
pub(super) fn dispatch(store: &Store, command: AuditCommand) -> Result<i32> {
    match command {
        AuditCommand::Verify { json } => verify(store, json),
    }
}

/// `audit verify [--json]`.
fn verify(store: &Store, json: bool) -> Result<i32> {
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

//! `status [--json]`: daemon health from the store — last poll, backlog,
//! outbox queue, failures (sends and reply copies).
//!
//! I/O: reads the store; prints text or JSON to stdout.

use anyhow::Result;
use chrono::Utc;

use super::exit;
use crate::store::Store;

/// `status [--json]`.
pub(super) fn show(store: &Store, json: bool) -> Result<i32> {
    let summary = store.status_summary(Utc::now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(exit::OK);
    }
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
    println!("copies failed:         {}", summary.outbox_copies_failed);
    println!("unmarked on server:    {}", summary.imap_unmarked);
    for (mailbox, validity, uid) in &summary.cursors {
        println!("cursor {mailbox}:  UIDVALIDITY {validity}, last UID {uid}");
    }
    Ok(exit::OK)
}

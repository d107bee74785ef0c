//! `backup DEST`: an online, consistent copy of the database (safe while the
//! daemon runs), checked by verifying its audit chain.
//!
//! I/O: reads the store, writes DEST (never overwrites); prints one line.

use std::path::Path;

use anyhow::Result;

use super::{exit, ExitError};
use crate::store::Store;

/// `backup DEST`: an online, consistent copy of the database.
pub(super) fn backup(store: &Store, dest: &Path) -> Result<i32> {
    if dest.exists() {
        return Err(ExitError {
            code: exit::USAGE,
            message: format!("{} exists; refusing to overwrite it", dest.display()),
        }
        .into());
    }
    store.backup_to(dest)?;
    let check = Store::open(dest)?;
    let (events, problems) = check.audit_verify()?;
    println!(
        "backup written to {} ({} events, audit chain {})",
        dest.display(),
        events,
        if problems.is_empty() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    Ok(exit::OK)
}

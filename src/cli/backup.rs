//! `backup DEST`: an online, consistent copy of the database (safe while the
//! daemon runs), checked by verifying its audit chain.
//!
//! I/O: reads the store, writes DEST: a new 0600 file beside it, linked into
//! place (never overwrites, never through a symlink, dangling or not:
//! `super::outfile`); prints one line.

use std::path::Path;

use anyhow::Result;

use super::outfile::{self, Existing};
use crate::store::Store;

/// `backup DEST`: an online, consistent copy of the database.
pub(super) fn backup(store: &Store, dest: &Path) -> Result<i32> {
    outfile::with_private(dest, Existing::Refuse, |_, temp| {
        store.backup_to(temp)?;
        Ok(())
    })?;
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
    Ok(super::exit::OK)
}

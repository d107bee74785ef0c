//! `quarantine [--json]`: quarantined messages with their reasons.
//!
//! I/O: reads the store; prints a table or JSON to stdout.

use anyhow::Result;

use super::{exit, print_table};
use crate::store::Store;

/// `quarantine [--json]`.
pub(super) fn list(store: &Store, json: bool) -> Result<i32> {
    let rows = store.quarantined()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    m.received_at.clone(),
                    m.from_address.clone().unwrap_or_default(),
                    m.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_table(&["MESSAGE", "RECEIVED", "FROM", "REASON"], &table);
    }
    Ok(exit::OK)
}

//! `reports key pin|unpin`: the operator pins a reporter's key (a candidate
//! the reporter offered, or a key file checked out of band) or removes it.
//! Audited with the actor. I/O: the store; `--file` reads one public key.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::super::{exit, ExitError};
use super::no_such_report;
use crate::store::{PinKey, Store, StoreError};

#[derive(Subcommand, Debug)]
pub enum KeyAction {
    /// Pin a key to the report's reporter: a candidate by fingerprint (see
    /// `reports show`), or a public key file (`--file`).
    Pin {
        /// Tracking id.
        id: String,
        /// Fingerprint of one of the reporter's candidate keys.
        #[arg(required_unless_present = "file")]
        fingerprint: Option<String>,
        /// An ASCII-armored public key that names the reporter's address.
        #[arg(long, conflicts_with = "fingerprint")]
        file: Option<PathBuf>,
        /// Who pins it (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Remove the reporter's pinned key (it becomes a candidate again).
    Unpin {
        /// Tracking id.
        id: String,
        /// Who removes it (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
}

pub(super) fn key(store: &mut Store, action: KeyAction) -> Result<i32> {
    let usage = |message: String| -> anyhow::Error {
        ExitError {
            code: exit::USAGE,
            message,
        }
        .into()
    };
    let result = match action {
        KeyAction::Pin {
            id,
            fingerprint,
            file,
            actor,
        } => {
            let key = match (fingerprint, file) {
                (Some(f), _) => PinKey::Candidate(f),
                (None, Some(path)) => given_key(store, &id, &path).map_err(usage)?,
                (None, None) => return Err(usage("give a FINGERPRINT or --file".into())),
            };
            store.pin_reporter_key(&id, &key, &actor).map(|address| {
                println!("{}: key pinned for {address}", id.to_ascii_uppercase());
            })
        }
        KeyAction::Unpin { id, actor } => store.unpin_reporter_key(&id, &actor).map(|f| match f {
            Some(f) => println!("{}: key {f} unpinned", id.to_ascii_uppercase()),
            None => println!("{}: no key was pinned", id.to_ascii_uppercase()),
        }),
    };
    match result {
        Ok(()) => Ok(exit::OK),
        Err(StoreError::NoSuchReport(id)) => Err(no_such_report(id)),
        Err(StoreError::Invalid(message)) => Err(usage(message)),
        Err(e) => Err(e.into()),
    }
}

/// A public key file for the reporter of `id`: it must parse, hold no
/// secrets in what is stored, and name the reporter's address.
fn given_key(store: &Store, id: &str, path: &PathBuf) -> std::result::Result<PinKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let cert = crate::open::parse_cert(&bytes)
        .map_err(|e| format!("{}: not an OpenPGP key: {}", path.display(), e.reason()))?;
    let address = store
        .report_detail(id)
        .map_err(|e| e.to_string())?
        .report
        .reporter;
    if !crate::open::cert_has_address(&cert, &address) {
        return Err(format!(
            "{}: the key does not name {address}",
            path.display()
        ));
    }
    let armored = crate::open::armor_public(&cert).map_err(|e| e.reason())?;
    Ok(PinKey::Given {
        fingerprint: cert.fingerprint().to_hex(),
        armored,
    })
}

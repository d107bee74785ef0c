//! `reports reply ID` and `reports note ID` (issue 12): the team answers a
//! reporter, or notes something on the report, from the command line.
//!
//! I/O: reads the text from `--file`, standard input, or `$EDITOR` (a new
//! 0600 file in the temp directory, removed afterwards); loads the full
//! config and the team keys to seal the text; writes one outbox row or note
//! (`Store::team_submit`). The reply itself goes out with the daemon's
//! outbox, sealed like every reply (never in clear for an encrypted report).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::Utc;

use super::super::{exit, load_config, ExitError};
use super::no_such_report;
use crate::store::team::{CliTeamText, Submitted};
use crate::store::{Store, StoreError};

/// Most bytes of text a reply or note may have.
const MAX_TEXT: u64 = 1024 * 1024;

/// `reports reply` / `reports note`.
pub(super) fn reply(
    store: &mut Store,
    config: &Path,
    id: &str,
    file: Option<&Path>,
    actor: &str,
    note: bool,
) -> Result<i32> {
    let text = read_text(file)?;
    if text.trim().is_empty() {
        return Err(ExitError {
            code: exit::USAGE,
            message: "empty text: nothing sent".into(),
        }
        .into());
    }
    let config = load_config(config)?;
    let keys = crate::open::TeamKeys::load(
        &config.openpgp.team_keys,
        config.openpgp.passphrase.as_ref().map(|s| s.expose()),
    )
    .map_err(|e| ExitError {
        code: exit::CONFIG,
        message: format!("cannot load team keys: {}", e.reason()),
    })?;
    let sealed = crate::atrest::AtRest::from_team(&keys).seal(&text);
    let submitted = store.team_submit(
        &CliTeamText {
            tracking_id: id,
            actor,
            text: &text,
            sealed: sealed.as_deref(),
            note,
            message_id_domain: &config.ack.message_id_domain,
        },
        Utc::now(),
    );
    let id = id.to_ascii_uppercase();
    match submitted {
        Ok(Submitted::Note) => println!("{id}: note stored (never sent)"),
        Ok(Submitted::Queued(row)) => {
            println!("{id}: reply queued (outbox {row}); the daemon sends it sealed like every reply")
        }
        Ok(Submitted::NeedsKey(row)) => println!(
            "{id}: reply kept as needs_key (outbox {row}): the report came encrypted and the reporter has no pinned key; pin one with `reports key pin`"
        ),
        Err(StoreError::NoSuchReport(id)) => return Err(no_such_report(id)),
        Err(StoreError::Invalid(message)) => {
            return Err(ExitError {
                code: exit::USAGE,
                message,
            }
            .into())
        }
        Err(e) => return Err(e.into()),
    }
    Ok(exit::OK)
}

/// The text from `file` (`-`: standard input), else standard input when it
/// is not a terminal, else what the user writes in `$EDITOR`.
fn read_text(file: Option<&Path>) -> Result<String> {
    let mut text = String::new();
    match file {
        Some(p) if p != Path::new("-") => {
            std::fs::File::open(p)
                .map_err(|e| ExitError {
                    code: exit::USAGE,
                    message: format!("--file {}: {e}", p.display()),
                })?
                .take(MAX_TEXT)
                .read_to_string(&mut text)?;
        }
        None if std::io::stdin().is_terminal() => return edit(),
        _ => {
            std::io::stdin().take(MAX_TEXT).read_to_string(&mut text)?;
        }
    }
    Ok(text)
}

/// Write the text in `$EDITOR` (or `vi`).
fn edit() -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
    let path: PathBuf = std::env::temp_dir().join(format!(
        "hexon-triage-reply-{}-{}.txt",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(MAX_TEXT).read_to_string(&mut text));
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(s) if s.success() => {
            read?;
            Ok(text)
        }
        _ => Err(ExitError {
            code: exit::USAGE,
            message: format!("{editor} did not exit cleanly: nothing sent"),
        }
        .into()),
    }
}

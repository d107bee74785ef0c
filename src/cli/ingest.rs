//! `ingest FILE…` and `import PATH`: mail from files through the same
//! pipeline as the daemon (acks queued for the next `run`, if any).
//!
//! I/O: reads .eml files, mbox files and Maildir directories; writes the
//! store. Prints results to stdout and import progress to stderr.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::Utc;

use super::{exit, load_config};
use crate::daemon::Context;
use crate::store::{IngestResult, SourceRef};

/// `ingest FILE… [--no-ack] [--json]`.
pub(super) async fn ingest(
    config_path: &Path,
    files: &[PathBuf],
    no_ack: bool,
    json: bool,
) -> Result<i32> {
    let config = load_config(config_path)?;
    let ctx = Context::new(config, !no_ack)?;
    let mut results = Vec::new();
    for file in files {
        let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let result = ctx.process(raw, SourceRef::Ingest).await?;
        results.push((file.display().to_string(), format!("{result:?}")));
    }
    ctx.anchor_audit().await;
    if json {
        let list: Vec<_> = results
            .iter()
            .map(|(f, r)| serde_json::json!({ "file": f, "result": r }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for (file, result) in results {
            println!("{file}: {result}");
        }
    }
    Ok(exit::OK)
}

/// `import PATH`: an mbox file or a Maildir directory through the pipeline.
pub(super) async fn import(
    config_path: &Path,
    path: &Path,
    send_acks: bool,
    json: bool,
) -> Result<i32> {
    let config = load_config(config_path)?;
    let ctx = Context::new(config, send_acks)?;
    let messages = read_archive(path)?;
    let total = messages.len();
    let terminal = std::io::stderr().is_terminal();
    let mut counts = std::collections::BTreeMap::<&'static str, usize>::new();
    for (n, raw) in messages.into_iter().enumerate() {
        let date = crate::pipeline::guarded(|| {
            crate::parse::parse_headers(&raw, &ctx.pipeline.parse_limits)
        })
        .and_then(Result::ok)
        .and_then(|h| h.date)
        .filter(|d| *d <= Utc::now());
        let result = ctx.process_at(raw, SourceRef::Import, date).await?;
        let key = match result {
            IngestResult::Known => "already stored",
            IngestResult::NewReport { .. } => "new reports",
            IngestResult::FollowUp { .. } => "follow-ups",
            IngestResult::Team { .. } => "team mails",
            IngestResult::Quarantined { .. } => "quarantined",
            IngestResult::Ignored { .. } | IngestResult::Duplicate { .. } => "ignored",
        };
        *counts.entry(key).or_default() += 1;
        progress(n + 1, total, terminal);
    }
    ctx.anchor_audit().await;
    if json {
        println!(
            "{}",
            serde_json::json!({ "messages": total, "counts": counts })
        );
    } else {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("{total} messages: {}", parts.join(" · "));
    }
    Ok(exit::OK)
}

/// Import progress on stderr: a bar on a terminal, every 100th line otherwise.
fn progress(done: usize, total: usize, terminal: bool) {
    if terminal {
        let width = 30;
        let filled = done * width / total.max(1);
        eprint!(
            "\rimporting [{}{}] {done}/{total}",
            "#".repeat(filled),
            " ".repeat(width - filled)
        );
        if done == total {
            eprintln!();
        }
    } else if done.is_multiple_of(100) || done == total {
        eprintln!("imported {done}/{total}");
    }
}

/// Every message of an mbox file or a Maildir (cur/ and new/, and its
/// sub-folders) — via mail-parser's mailbox readers.
fn read_archive(path: &Path) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if path.is_dir() {
        let iter =
            mail_parser::mailbox::maildir::FolderIterator::new(path, None).with_context(|| {
                format!("{} is not a Maildir (needs cur/ and new/)", path.display())
            })?;
        for folder in iter {
            let folder =
                folder.with_context(|| format!("cannot read Maildir {}", path.display()))?;
            for message in folder {
                let message = message
                    .with_context(|| format!("cannot read a message in {}", path.display()))?;
                out.push(message.unwrap_contents());
            }
        }
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        for message in
            mail_parser::mailbox::mbox::MessageIterator::new(std::io::BufReader::new(file))
        {
            let message =
                message.with_context(|| format!("cannot read mbox {}", path.display()))?;
            out.push(message.unwrap_contents());
        }
    }
    Ok(out)
}

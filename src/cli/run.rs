//! `run [--once]`: the daemon, with SIGTERM/SIGINT draining it.
//!
//! I/O: everything the daemon does (IMAP, SMTP, the store); installs signal
//! handlers. Prints one summary line with `--once`, nothing otherwise.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{exit, load_config};
use crate::daemon::{self, RunOptions};

/// `run [--once]`.
pub(super) async fn run(config_path: &Path, once: bool) -> Result<i32> {
    let config = load_config(config_path)?;
    // NOTE: handlers are installed before start-up work, so an early SIGTERM drains too.
    let shutdown = shutdown_signal()?;
    let summary = daemon::run(config, RunOptions { once }, shutdown).await?;
    if once {
        println!(
            "fetched {} · new reports {} · follow-ups {} · quarantined {} · ignored {} · already stored {} · replies sent {}",
            summary.fetched,
            summary.new_reports,
            summary.followups,
            summary.quarantined,
            summary.ignored,
            summary.known,
            summary.acks_sent
        );
    }
    Ok(exit::OK)
}

/// Resolves on SIGTERM or SIGINT. The handlers are registered when this is
/// called, not when the future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

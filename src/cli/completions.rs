//! `completions SHELL`: shell completions generated from the clap surface.
//!
//! I/O: prints the script to stdout; reads no config.

use anyhow::Result;
use clap::CommandFactory;

use super::{exit, Cli};

/// `completions SHELL`.
pub(super) fn print(shell: clap_complete::Shell) -> Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "hexon-triage", &mut std::io::stdout());
    Ok(exit::OK)
}

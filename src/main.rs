//! Binary entry point: parse the command line, set up logging, run, and map
//! the outcome to an exit code.
//!
//! I/O: peeks at the config for the log format, logs to stderr, prints the
//! final error to stderr. Must not interpret the config beyond that.

use clap::Parser;
use hexon_triage::cli::{self, exit, Cli, ExitError};
use tracing_subscriber::EnvFilter;

fn init_tracing(json: bool) {
    let filter =
        EnvFilter::try_from_env("HEXON_TRIAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // NOTE: under systemd, journald adds its own timestamps.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    if json {
        builder.json().flatten_event(true).init();
    } else if journald {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// `log.format = "json"` in the config switches to JSON lines; peeked
/// leniently here so a broken config is still reported by the command itself.
fn wants_json_logs(cli: &Cli) -> bool {
    hexon_triage::config::peek(&cli.config)
        .is_ok_and(|p| p.log_format == hexon_triage::config::LogFormat::Json)
}

fn main() {
    hexon_triage::heap::limit_arenas();
    let cli = Cli::parse();
    init_tracing(wants_json_logs(&cli));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hexon-triage: cannot start runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let code = match runtime.block_on(cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<ExitError>()
                .map(|x| x.code)
                .unwrap_or(exit::FAILURE);
            eprintln!("hexon-triage: {e:#}");
            code
        }
    };
    drop(runtime);
    std::process::exit(code);
}

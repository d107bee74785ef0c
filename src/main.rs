//! Binary entry point: parse the command line, set up logging, run, and map
//! the outcome to an exit code.
//!
//! I/O: peeks at the config for the log format, logs to stderr, prints the
//! final error to stderr. Sets the umask to 077 first (every file it
//! creates is private). Must not interpret the config beyond that, or let
//! the IMAP/SMTP protocol crates log below info (they log commands with
//! passwords and fetched bodies at trace), whatever `HEXON_TRIAGE_LOG` says.

use clap::Parser;
use hexon_triage::cli::{self, exit, Cli, ExitError};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// Crates that speak IMAP or SMTP: at debug/trace they log the wire
/// (`LOGIN "user" "password"`, AUTH, message bodies).
const PROTOCOL_CRATES: [&str; 3] = ["async_imap", "imap_proto", "lettre"];

/// A cap on top of the user's filter: the protocol crates never log below
/// info (both filters must let an event through).
fn protocol_cap() -> Targets {
    PROTOCOL_CRATES
        .iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |t, c| {
            t.with_target(*c, LevelFilter::INFO)
        })
}

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
        builder
            .json()
            .flatten_event(true)
            .finish()
            .with(protocol_cap())
            .init();
    } else if journald {
        builder.without_time().finish().with(protocol_cap()).init();
    } else {
        builder.finish().with(protocol_cap()).init();
    }
}

/// `log.format = "json"` in the config switches to JSON lines; peeked
/// leniently here so a broken config is still reported by the command itself.
fn wants_json_logs(cli: &Cli) -> bool {
    hexon_triage::config::peek(&cli.config)
        .is_ok_and(|p| p.log_format == hexon_triage::config::LogFormat::Json)
}

fn main() {
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
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

//! Fault injection for the crash-safety tests: `HEXON_TRIAGE_FAULTS` names
//! points in the pipeline and a probability, e.g.
//! `after_commit:0.05,after_smtp:0.05`. At a hit the process aborts on the
//! spot, exactly like `kill -9` at that instruction.
//!
//! Unset in production: then [`hit`] is a cheap no-op after the first call.

use std::sync::OnceLock;

fn faults() -> &'static Vec<(String, f64)> {
    static FAULTS: OnceLock<Vec<(String, f64)>> = OnceLock::new();
    FAULTS.get_or_init(|| {
        std::env::var("HEXON_TRIAGE_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let (name, p) = item.split_once(':')?;
                Some((name.trim().to_string(), p.trim().parse().ok()?))
            })
            .collect()
    })
}

fn fires(name: &str) -> bool {
    let list = faults();
    !list.is_empty() && list.iter().any(|(n, p)| n == name && fastrand::f64() < *p)
}

/// Abort the process with the configured probability at fault point `name`.
pub fn hit(name: &str) {
    if fires(name) {
        eprintln!("hexon-triage: injected fault at {name}: aborting");
        std::process::abort();
    }
}

/// Hang forever with the configured probability at fault point `name`
/// (a stuck loop, for the watchdog test).
pub async fn hang(name: &str) {
    if fires(name) {
        eprintln!("hexon-triage: injected fault at {name}: hanging");
        std::future::pending::<()>().await;
    }
}

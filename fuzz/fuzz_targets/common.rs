//! Panic bookkeeping shared by the targets.
//!
//! libfuzzer-sys aborts on *every* panic, even one the daemon catches on
//! purpose (`open::open` and the CVSS v4 scorer run under `catch_unwind` so a
//! dependency's panic becomes a quarantine / an invalid vector). Here:
//!
//! * a panic that escapes the code under test is a crash (abort, artifact);
//! * a panic the code under test contains is logged once per location and its
//!   input saved as `artifacts/<target>/contained-<hash>` — unless
//!   `HEXON_FUZZ_STRICT=1` is set, which makes it a crash too (use that to
//!   `tmin` a contained panic);
//! * `HEXON_FUZZ_CONTINUE=1` logs uncaught panics the same way instead of
//!   aborting (input saved as `artifacts/<target>/uncaught-<hash>`): replay a
//!   whole corpus with `-runs=0` and get every distinct panic location at once.

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

thread_local! {
    static LAST: RefCell<Option<(String, String, Backtrace)>> = const { RefCell::new(None) };
}
static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "?".into());
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic payload".into());
            let bt = Backtrace::force_capture();
            LAST.with(|l| *l.borrow_mut() = Some((message, at, bt)));
        }));
    });
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v != "0")
}

/// Run one input through `f` with the bookkeeping above.
pub fn run(target: &str, data: &[u8], f: impl FnOnce()) {
    install_hook();
    LAST.with(|l| l.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let last = LAST.with(|l| l.borrow_mut().take());
    match (result, last) {
        (Err(_), last) => {
            let (message, at, bt) =
                last.unwrap_or_else(|| ("(no message)".into(), "?".into(), Backtrace::disabled()));
            if env_flag("HEXON_FUZZ_CONTINUE") {
                save_once(target, "uncaught", data, &at, &message, &bt);
                return;
            }
            eprintln!("\n==== UNCAUGHT PANIC at {at}\n{message}\n{bt}");
            std::process::abort();
        }
        (Ok(()), Some((message, at, bt))) => {
            if env_flag("HEXON_FUZZ_STRICT") {
                eprintln!("\n==== CONTAINED PANIC (HEXON_FUZZ_STRICT) at {at}\n{message}\n{bt}");
                std::process::abort();
            }
            save_once(target, "contained", data, &at, &message, &bt);
        }
        (Ok(()), None) => {}
    }
}

/// Log a panic location the first time it is seen and save its input.
fn save_once(target: &str, kind: &str, data: &[u8], at: &str, message: &str, bt: &Backtrace) {
    let new = SEEN
        .lock()
        .map(|mut s| s.insert(format!("{kind} {at}")))
        .unwrap_or(false);
    if !new {
        return;
    }
    let hash = data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    });
    let dir = format!("{}/artifacts/{target}", env!("CARGO_MANIFEST_DIR"));
    let path = format!("{dir}/{kind}-{hash:016x}");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, data);
    eprintln!("\n==== {kind} panic at {at}\n{message}\ninput saved: {path}\n{bt}");
}

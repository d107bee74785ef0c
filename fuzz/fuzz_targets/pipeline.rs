//! Raw mail bytes → `Pipeline::prepare` (open OpenPGP → parse → loop guard →
//! triage) → `Store::ingest` into a fresh in-memory SQLite store.
//!
//! Checks: no panic, no hang (libFuzzer `-timeout`), no runaway memory
//! (`-rss_limit_mb`), ingest always returns `Ok` (hostile input is quarantined,
//! ignored or triaged — never an error, never lost).
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use hexon_triage::config::Config;
use hexon_triage::pipeline::Pipeline;
use hexon_triage::store::{IngestPolicy, SourceRef, Store};
use libfuzzer_sys::fuzz_target;

mod common;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/hexon-triage.example.toml"
);

struct Shared {
    pipeline: Pipeline,
    policy: IngestPolicy,
    now: DateTime<Utc>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let config = Config::load(Path::new(CONFIG)).expect("example config loads");
    let pipeline = Pipeline::from_config(&config).expect("pipeline from example config");
    let policy = Pipeline::policy(&config, true);
    Shared {
        pipeline,
        policy,
        // A Wednesday, inside the example calendar's work week.
        now: Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
    }
});

fuzz_target!(|data: &[u8]| {
    common::run("pipeline", data, || {
        let shared = &*SHARED;
        let _ = shared.pipeline.sender_of(data);
        let prepared = shared
            .pipeline
            .prepare(data.to_vec(), SourceRef::Ingest, shared.now, &[]);
        // A fresh store per input keeps every crash reproducible from its input alone.
        let mut store = Store::open_in_memory().expect("in-memory store");
        if let Err(e) = store.ingest(&prepared, &shared.policy) {
            panic!("ingest failed: {e:?}\nprepared kind: {:?}", prepared.kind);
        }
    });
});

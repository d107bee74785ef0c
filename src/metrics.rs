//! Per-stage cost counters (fetch, open, parse, triage, commit, render/seal,
//! send) for the benchmark's breakdown. Process-wide atomics: cheap enough to
//! stay on in production; logged once at shutdown. Every record is also one
//! observation of the stage's latency histogram in the operators' metrics.
//!
//! | submodule | owns | I/O |
//! |---|---|---|
//! | `registry` | the OpenMetrics registry: counters, gauges, stage histograms; hooks the daemon calls | none |
//! | [`http`] | the opt-in `[metrics]` endpoint: bind, and a strict, bounded `GET /metrics` responder | network |
//!
//! Must not carry message content or addresses (labels only from closed sets).

pub mod http;
mod registry;

pub use registry::{
    encode_text, fetched, imap_connected, polled, reply_outcome, set_store_gauges, stored,
    ReplyOutcome, StoreGauges,
};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A pipeline stage.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Fetch,
    Open,
    Parse,
    Triage,
    Commit,
    Render,
    Send,
}

const STAGES: [(&str, Stage); 7] = [
    ("fetch", Stage::Fetch),
    ("open", Stage::Open),
    ("parse", Stage::Parse),
    ("triage", Stage::Triage),
    ("commit", Stage::Commit),
    ("render", Stage::Render),
    ("send", Stage::Send),
];

static NANOS: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
static COUNTS: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];

/// Add `count` items that took `since.elapsed()` in `stage`.
pub fn record(stage: Stage, since: Instant, count: u64) {
    record_duration(stage, since.elapsed(), count);
}

/// Add `count` items that took `took` in `stage`.
pub fn record_duration(stage: Stage, took: Duration, count: u64) {
    let i = stage as usize;
    NANOS[i].fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    COUNTS[i].fetch_add(count, Ordering::Relaxed);
    registry::observe_stage(STAGES[i].0, took);
}

/// `{"fetch": {"items": n, "total_ms": t, "per_item_ms": p}, …}`
pub fn snapshot() -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, stage) in STAGES {
        let i = stage as usize;
        let nanos = NANOS[i].load(Ordering::Relaxed);
        let count = COUNTS[i].load(Ordering::Relaxed);
        let total_ms = nanos as f64 / 1e6;
        map.insert(
            name.to_string(),
            serde_json::json!({
                "items": count,
                "total_ms": (total_ms * 1000.0).round() / 1000.0,
                "per_item_ms": if count > 0 { ((total_ms / count as f64) * 1000.0).round() / 1000.0 } else { 0.0 },
            }),
        );
    }
    serde_json::Value::Object(map)
}

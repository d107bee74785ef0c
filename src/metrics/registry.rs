//! The operators' metrics: one process-wide `prometheus-client` registry
//! (counters, gauges, per-stage latency histograms) and its OpenMetrics
//! text encoding for the endpoint in [`super::http`].
//!
//! No I/O: the daemon's loops call the small hook functions below; the
//! store-derived gauges are set by the daemon's gauge loop. Must not carry
//! report content, subjects, addresses, tracking ids or anything else from
//! a message: every label value is a `&'static str` from a closed set
//! defined in this crate (stage names, [`MessageStatus`], [`OutboxKind`]).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{Column, IngestResult, MessageStatus, OutboxKind};

/// One label whose value comes from a closed set of this crate.
type Label = [(&'static str, &'static str); 1];

/// Upper bounds (seconds) of the stage latency buckets: 0.5 ms … 60 s.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

fn stage_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// What a reply attempt came to (see [`reply_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Accepted by the SMTP server (or found already delivered).
    Sent,
    /// Not sent this time; will be retried.
    Retry,
    /// Given up on (permanent error, attempts used up, cannot be sealed).
    Failed,
}

struct Metrics {
    registry: Registry,
    fetched: Counter,
    stored: Family<Label, Counter>,
    quarantined: Counter,
    replies: [Family<Label, Counter>; 3],
    outbox_queued: Gauge,
    outbox_oldest_age: Gauge,
    imap_connected: Gauge,
    last_poll: Gauge,
    overdue: Gauge,
    stages: Family<Label, Histogram, fn() -> Histogram>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("hexon_triage");
        let results: Vec<&'static str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
        let kinds: Vec<&'static str> = OutboxKind::ALL.iter().map(|k| k.as_str()).collect();
        let stages = stage_family(&mut r);
        Metrics {
            fetched: counter(
                &mut r,
                "messages_fetched",
                "Messages fetched from IMAP (including ones already stored, e.g. after a crash)",
            ),
            stored: family(
                &mut r,
                "messages_stored",
                "Messages committed to the store, by result",
                "result",
                &results,
            ),
            quarantined: counter(
                &mut r,
                "messages_quarantined",
                "Messages quarantined (could not be opened or parsed; stored with the reason)",
            ),
            replies: [
                family(
                    &mut r,
                    "acks_sent",
                    "Replies accepted by the SMTP server, by kind",
                    "kind",
                    &kinds,
                ),
                family(
                    &mut r,
                    "acks_retried",
                    "Reply attempts that failed and will be retried, by kind",
                    "kind",
                    &kinds,
                ),
                family(
                    &mut r,
                    "acks_failed",
                    "Replies given up on (marked failed with the reason), by kind",
                    "kind",
                    &kinds,
                ),
            ],
            outbox_queued: gauge(
                &mut r,
                "acks_queued",
                "Replies queued or being sent (from the store)",
                None,
            ),
            outbox_oldest_age: gauge(
                &mut r,
                "outbox_oldest_queued_age",
                "Age of the oldest queued reply, 0 when none (from the store)",
                Some(Unit::Seconds),
            ),
            imap_connected: gauge(
                &mut r,
                "imap_connected",
                "1 while the intake's IMAP session is up",
                None,
            ),
            last_poll: gauge(
                &mut r,
                "last_successful_poll_timestamp",
                "Unix time of the latest complete intake pass (0: none since start)",
                Some(Unit::Seconds),
            ),
            overdue: gauge(
                &mut r,
                "overdue_reports",
                "Open reports past their ack or assessment deadline (from the store)",
                None,
            ),
            stages,
            registry: r,
        }
    }
}

/// The stage latency histograms, one per stage name of [`super::STAGES`].
fn stage_family(r: &mut Registry) -> Family<Label, Histogram, fn() -> Histogram> {
    let stages =
        Family::<Label, Histogram, fn() -> Histogram>::new_with_constructor(stage_histogram);
    for (name, _) in super::STAGES {
        let _ = stages.get_or_create(&[("stage", name)]);
    }
    r.register_with_unit(
        "stage_duration",
        "Latency per pipeline stage: per message for open/parse/triage/render/send, per batch for fetch and commit",
        Unit::Seconds,
        stages.clone(),
    );
    stages
}

fn counter(r: &mut Registry, name: &str, help: &str) -> Counter {
    let c = Counter::default();
    r.register(name, help, c.clone());
    c
}

/// A labelled counter with every value of its closed set present from the start (at 0).
fn family(
    r: &mut Registry,
    name: &str,
    help: &str,
    key: &'static str,
    values: &[&'static str],
) -> Family<Label, Counter> {
    let f = Family::<Label, Counter>::default();
    for value in values {
        let _ = f.get_or_create(&[(key, value)]);
    }
    r.register(name, help, f.clone());
    f
}

fn gauge(r: &mut Registry, name: &str, help: &str, unit: Option<Unit>) -> Gauge {
    let g = Gauge::default();
    match unit {
        Some(unit) => r.register_with_unit(name, help, unit, g.clone()),
        None => r.register(name, help, g.clone()),
    }
    g
}

/// `n` messages came back from a UID FETCH.
pub fn fetched(n: usize) {
    METRICS.fetched.inc_by(n as u64);
}

/// A message was committed with `result` (a re-read of one already stored is not counted).
pub fn stored(result: &IngestResult) {
    let Some(status) = result.status() else {
        return;
    };
    if status == MessageStatus::Quarantined {
        METRICS.quarantined.inc();
    }
    METRICS
        .stored
        .get_or_create(&[("result", status.as_str())])
        .inc();
}

/// A reply of outbox kind `kind` ended an attempt with `outcome`.
pub fn reply_outcome(kind: OutboxKind, outcome: ReplyOutcome) {
    let family = match outcome {
        ReplyOutcome::Sent => &METRICS.replies[0],
        ReplyOutcome::Retry => &METRICS.replies[1],
        ReplyOutcome::Failed => &METRICS.replies[2],
    };
    family.get_or_create(&[("kind", kind.as_str())]).inc();
}

/// The intake's IMAP session went up (`true`) or down.
pub fn imap_connected(up: bool) {
    METRICS.imap_connected.set(i64::from(up));
}

/// An intake pass completed at `unix_seconds`.
pub fn polled(unix_seconds: i64) {
    METRICS.last_poll.set(unix_seconds);
}

/// The gauges read from the store (see `Store::metrics_gauges`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGauges {
    pub outbox_queued: i64,
    pub oldest_queued_age_secs: i64,
    pub overdue_reports: i64,
}

/// Publish the latest store-derived gauges.
pub fn set_store_gauges(g: StoreGauges) {
    METRICS.outbox_queued.set(g.outbox_queued);
    METRICS
        .outbox_oldest_age
        .set(g.oldest_queued_age_secs.max(0));
    METRICS.overdue.set(g.overdue_reports);
}

/// One latency observation for the stage called `stage`.
pub(super) fn observe_stage(stage: &'static str, took: Duration) {
    METRICS
        .stages
        .get_or_create(&[("stage", stage)])
        .observe(took.as_secs_f64());
}

/// The registry as OpenMetrics text (ends with `# EOF`).
pub fn encode_text() -> String {
    let mut out = String::with_capacity(8 * 1024);
    // NOTE: writing into a String cannot fail; an encoder error would be a bug in a metric.
    if encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_with_closed_labels() {
        fetched(2);
        polled(1_700_000_000);
        reply_outcome(OutboxKind::Ack, ReplyOutcome::Sent);
        reply_outcome(OutboxKind::Deadline, ReplyOutcome::Failed);
        observe_stage("open", Duration::from_millis(3));
        let text = encode_text();
        for needle in [
            "hexon_triage_messages_fetched_total ",
            "hexon_triage_messages_stored_total{result=\"followup\"} ",
            "hexon_triage_messages_quarantined_total ",
            "hexon_triage_acks_sent_total{kind=\"ack\"} ",
            "hexon_triage_acks_failed_total{kind=\"deadline\"} ",
            "hexon_triage_acks_queued ",
            "hexon_triage_outbox_oldest_queued_age_seconds ",
            "hexon_triage_imap_connected ",
            "hexon_triage_last_successful_poll_timestamp_seconds 1700000000",
            "hexon_triage_overdue_reports ",
            "hexon_triage_stage_duration_seconds_bucket{le=\"0.005\",stage=\"open\"} ",
            "hexon_triage_stage_duration_seconds_count{stage=\"send\"} 0",
        ] {
            assert!(text.contains(needle), "no {needle:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            !text.contains("acks_failed_total{kind=\"deadline\"} 0"),
            "{text}"
        );
    }
}

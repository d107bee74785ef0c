//! The supervisor of a long-running daemon: spawns the intake, outbox,
//! deadline and watchdog tasks (and the `[metrics]` endpoint with its gauge
//! loop when configured), tells systemd READY / STOPPING, pings the
//! watchdog only while the loops make progress, and on shutdown cancels
//! the tasks and drains them within a bound.
//!
//! I/O: the sd_notify socket. Must not: process mail or touch the store
//! itself (the tasks do), or wait unboundedly at shutdown (committed work is
//! safe; what is in flight is redone at the next start).

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::{intake, loops, Context};
use crate::config::Config;
use crate::outbox::Outbox;

/// How long the tasks get to finish after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(20);

/// Liveness of the loops, for the systemd watchdog.
pub(super) struct Progress {
    pub(super) intake: Arc<AtomicI64>,
    pub(super) outbox: Arc<AtomicI64>,
}

impl Progress {
    pub(super) fn touch(slot: &AtomicI64) {
        slot.store(Utc::now().timestamp(), Ordering::Relaxed);
    }
}

/// Run the loops until `shutdown` resolves, then cancel and drain them.
pub(super) async fn supervise(
    ctx: Arc<Context>,
    outbox: Arc<Outbox>,
    metrics: Option<crate::metrics::http::Listener>,
    shutdown: impl Future<Output = ()>,
) {
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let wake_outbox = Arc::new(Notify::new());
    let progress = Arc::new(Progress {
        intake: ctx.heartbeat.clone(),
        outbox: outbox.heartbeat(),
    });
    Progress::touch(&progress.intake);
    Progress::touch(&progress.outbox);

    tracker.spawn(intake::intake_loop(
        ctx.clone(),
        cancel.clone(),
        wake_outbox.clone(),
        progress.clone(),
    ));
    tracker.spawn(loops::outbox_loop(
        ctx.clone(),
        outbox,
        cancel.clone(),
        wake_outbox.clone(),
        progress.clone(),
    ));
    tracker.spawn(loops::sla_loop(
        ctx.clone(),
        cancel.clone(),
        wake_outbox.clone(),
    ));
    tracker.spawn(watchdog_loop(
        ctx.config.clone(),
        cancel.clone(),
        progress.clone(),
    ));
    if let Some(listener) = metrics {
        tracker.spawn(crate::metrics::http::serve(listener, cancel.clone()));
        tracker.spawn(loops::gauge_loop(ctx.clone(), cancel.clone()));
    }
    tracker.close();
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    info!(mailbox = %ctx.config.imap.mailbox, "daemon started");

    shutdown.await;
    info!("shutting down: finishing the message in hand");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        warn!("tasks did not stop within 20s; exiting anyway (committed work is safe)");
    }
    info!(stages = %crate::metrics::snapshot(), "stopped");
}

/// Ping the systemd watchdog only while both loops make progress.
async fn watchdog_loop(config: Arc<Config>, cancel: CancellationToken, progress: Arc<Progress>) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let interval = Duration::from_micros(usec / 2);
    // A loop is stuck when it has not come round for this long.
    // NOTE: both loops come round at least every poll interval, and touch the
    // heartbeat per message/reply while working through a backlog.
    let stale = (config.imap.poll_interval + config.imap.timeout * 6 + Duration::from_secs(5))
        .as_secs() as i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = cancel.cancelled() => return,
        }
        let now = Utc::now().timestamp();
        let intake_age = now - progress.intake.load(Ordering::Relaxed);
        let outbox_age = now - progress.outbox.load(Ordering::Relaxed);
        if intake_age <= stale && outbox_age <= stale {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        } else {
            warn!(
                intake_age,
                outbox_age, "a loop made no progress; withholding the watchdog ping"
            );
        }
    }
}

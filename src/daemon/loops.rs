//! The daemon's two timer-driven loops: the outbox loop (send due replies,
//! file copies, sleep until the next is due or intake wakes it) and the
//! deadline loop (queue assessment-deadline warnings and disclosure-date
//! reminders for the team).
//!
//! I/O: the store, and SMTP/IMAP through [`Outbox::run_once`]. Must not:
//! stop on an error (a failed pass is logged and retried at the next turn),
//! or build replies itself (the outbox does).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::supervisor::Progress;
use super::Context;
use crate::outbox::{self, Outbox};
use crate::store::StoreError;

pub(super) async fn outbox_loop(
    ctx: Arc<Context>,
    outbox: Arc<Outbox>,
    cancel: CancellationToken,
    wake: Arc<Notify>,
    progress: Arc<Progress>,
) {
    while !cancel.is_cancelled() {
        Progress::touch(&progress.outbox);
        match outbox.run_once(&ctx.store, Utc::now()).await {
            Ok(pass) if pass != outbox::Pass::default() => {
                info!(?pass, "outbox pass");
                crate::heap::trim();
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "outbox pass failed"),
        }
        ctx.anchor_audit().await;
        let next = ctx.store.run(|s| s.next_outbox_due()).await.ok().flatten();
        let wait = next
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(30))
            .clamp(
                Duration::from_millis(200),
                ctx.config.imap.poll_interval.min(Duration::from_secs(30)),
            );
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

/// Queue deadline warnings for the team; returns how many were queued.
pub(super) async fn sla_check(ctx: &Context) -> Result<usize, StoreError> {
    let Some(team) = ctx.config.ack.team_address.clone() else {
        return Ok(0);
    };
    let domain = ctx.config.ack.message_id_domain.clone();
    let now = Utc::now();
    let horizon = now + chrono::Duration::from_std(ctx.config.ack.warn_before).unwrap_or_default();
    let advisory = ctx.config.advisory.clone();
    let queued = ctx
        .store
        .run(move |s| {
            let warnings = s.queue_deadline_warnings(&team, &domain, now, horizon)?;
            // Issue 14: disclosure dates within `advisory.remind_before_days`.
            let reminders = s
                .queue_disclosure_reminders(&team, &domain, &advisory, now)
                .map_err(|e| match e {
                    crate::store::advisory::AdvisoryError::Store(e) => e,
                    other => StoreError::Invalid(other.to_string()),
                })?;
            Ok(warnings + reminders)
        })
        .await?;
    if queued > 0 {
        info!(queued, "assessment deadline warnings queued for the team");
    }
    Ok(queued)
}

pub(super) async fn sla_loop(
    ctx: Arc<Context>,
    cancel: CancellationToken,
    wake_outbox: Arc<Notify>,
) {
    let mut interval = tokio::time::interval(Duration::from_secs(300));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = cancel.cancelled() => return,
        }
        match sla_check(&ctx).await {
            Ok(n) if n > 0 => wake_outbox.notify_one(),
            Ok(_) => {}
            Err(e) => error!(error = %e, "deadline check failed"),
        }
    }
}

/// How often the store-derived metrics gauges are refreshed.
pub(super) const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// Refresh the queued-replies, oldest-queued-age and overdue gauges from the
/// store (one cheap read, see `Store::metrics_gauges`) until cancelled.
pub(super) async fn gauge_loop(ctx: Arc<Context>, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(GAUGE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = cancel.cancelled() => return,
        }
        match ctx.store.run(|s| s.metrics_gauges(Utc::now())).await {
            Ok(gauges) => crate::metrics::set_store_gauges(gauges),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the metrics gauges"),
        }
    }
}

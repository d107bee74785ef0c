//! Supervisor: the intake loop (IMAP → pipeline → store → mark) and the
//! outbox loop, cancellation, bounded drain, sd_notify READY/WATCHDOG.
//!
//! I/O: IMAP, SMTP (through the outbox), the store. One bad message is
//! recorded and skipped; it never stops the daemon. A lost connection is
//! retried with capped exponential backoff and jitter.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::open::{self, OpenError};
use crate::outbox::{self, Outbox, OutboxError};
use crate::pipeline::Pipeline;
use crate::source::imap::{self, ImapError, Session, Wake};
use crate::store::{IngestPolicy, IngestResult, SharedStore, SourceRef, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot load team keys: {0}")]
    Keys(#[from] OpenError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Imap(#[from] ImapError),
}

/// What a run did (for `run --once` and tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub fetched: usize,
    pub new_reports: usize,
    pub followups: usize,
    pub quarantined: usize,
    pub ignored: usize,
    pub known: usize,
    pub acks_sent: usize,
}

impl Summary {
    fn add(&mut self, result: &IngestResult) {
        match result {
            IngestResult::Known => self.known += 1,
            IngestResult::Quarantined { .. } => self.quarantined += 1,
            IngestResult::Ignored { .. } | IngestResult::Duplicate { .. } => self.ignored += 1,
            IngestResult::NewReport { .. } => self.new_reports += 1,
            IngestResult::FollowUp { .. } => self.followups += 1,
        }
    }
}

/// Shared state of a running daemon.
pub struct Context {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub pipeline: Arc<Pipeline>,
    pub policy: IngestPolicy,
    /// Unix time of the intake's latest sign of life (watchdog).
    pub heartbeat: Arc<AtomicI64>,
    /// WAL checkpoints off the commit path (stops when the context is dropped).
    _checkpointer: crate::store::Checkpointer,
}

impl Context {
    /// Open the store and build the pipeline.
    ///
    /// # Errors
    /// The store cannot be opened or the team keys cannot be loaded.
    pub fn new(config: Config, send_acks: bool) -> Result<Context, DaemonError> {
        let store = Store::open(&config.database)?;
        store.defer_checkpoints()?;
        let checkpointer =
            crate::store::Checkpointer::start(&config.database, Duration::from_millis(250))?;
        let pipeline = Pipeline::from_config(&config)?;
        let policy = Pipeline::policy(&config, send_acks);
        Ok(Context {
            config: Arc::new(config),
            store: SharedStore::new(store),
            pipeline: Arc::new(pipeline),
            policy,
            heartbeat: Arc::new(AtomicI64::new(Utc::now().timestamp())),
            _checkpointer: checkpointer,
        })
    }

    /// Run one message through the whole pipeline and commit it.
    ///
    /// # Errors
    /// Store errors only (the message is then not committed and will be retried).
    pub async fn process(
        &self,
        raw: Vec<u8>,
        source: SourceRef,
    ) -> Result<IngestResult, StoreError> {
        self.process_at(raw, source, None).await
    }

    /// [`Context::process`] with an explicit receipt time (historical imports
    /// use the message's Date so deadlines are those it had).
    ///
    /// # Errors
    /// Store errors only.
    pub async fn process_at(
        &self,
        raw: Vec<u8>,
        source: SourceRef,
        received_at: Option<chrono::DateTime<Utc>>,
    ) -> Result<IngestResult, StoreError> {
        let headers = crate::parse::parse_headers(&raw, &self.pipeline.parse_limits).ok();
        if let Some(mid) = headers.as_ref().and_then(|h| h.message_id.clone()) {
            let own = self.store.run(move |s| s.is_own_message_id(&mid)).await?;
            if own {
                // NOTE: our own reply copy: nothing to store, just move the cursor past it.
                if let SourceRef::Imap {
                    mailbox,
                    uidvalidity,
                    uid,
                } = source
                {
                    self.store
                        .run(move |s| s.advance_cursor(&mailbox, uidvalidity, uid))
                        .await?;
                }
                return Ok(IngestResult::Known);
            }
        }
        let sender_certs = match headers.and_then(|h| h.from_address) {
            Some(address) => {
                let armored = self.store.run(move |s| s.reporter_key(&address)).await?;
                armored
                    .and_then(|a| open::parse_cert(a.as_bytes()).ok())
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        };
        let pipeline = self.pipeline.clone();
        let at = received_at.unwrap_or_else(Utc::now);
        let prepared =
            tokio::task::spawn_blocking(move || pipeline.prepare(raw, source, at, &sender_certs))
                .await
                .map_err(|e| StoreError::Invalid(format!("pipeline task failed: {e}")))?;
        let prepared = Arc::new(prepared);
        let policy = self.policy.clone();
        let t_commit = std::time::Instant::now();
        let result = self
            .store
            .run(move |s| s.ingest(&prepared, &policy))
            .await?;
        crate::metrics::record(crate::metrics::Stage::Commit, t_commit, 1);
        log_result(&result);
        Ok(result)
    }
}

impl Context {
    /// Process one fetched batch: header lookups in one store call, open /
    /// parse / triage in parallel on the blocking pool (order kept), and
    /// group commits of up to `COMMIT_MESSAGES` messages while the rest is
    /// still being prepared (see `Context::commit_chunk`).
    ///
    /// # Errors
    /// Store errors that persist message by message.
    pub async fn process_batch(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        messages: Vec<imap::Fetched>,
    ) -> Result<Vec<(u32, IngestResult)>, StoreError> {
        let limits = self.pipeline.parse_limits.clone();
        let heads: Vec<(Option<String>, Option<String>)> = messages
            .iter()
            .map(|m| match crate::parse::parse_headers(&m.raw, &limits) {
                Ok(h) => (h.message_id, h.from_address),
                Err(_) => (None, None),
            })
            .collect();
        let lookups = self
            .store
            .run(move |s| {
                heads
                    .iter()
                    .map(|(mid, from)| {
                        let own = match mid {
                            Some(mid) => s.is_own_message_id(mid)?,
                            None => false,
                        };
                        let key = match from {
                            Some(from) if !own => s.reporter_key(from)?,
                            _ => None,
                        };
                        Ok((own, key))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let now = Utc::now();
        // Prepared messages stream (in order) into commits of a few messages
        // each: committing overlaps with preparing the rest, and the store is
        // free between commits for the outbox.
        let (chunk_tx, mut chunk_rx) =
            tokio::sync::mpsc::channel::<Vec<(u32, Option<crate::store::Prepared>)>>(2);
        let produce = async move {
            let mut prepared = futures::StreamExt::buffered(
                futures::stream::iter(messages.into_iter().zip(lookups).map(|(m, (own, key))| {
                    let pipeline = self.pipeline.clone();
                    let source = SourceRef::Imap {
                        mailbox: mailbox.to_string(),
                        uidvalidity,
                        uid: m.uid,
                    };
                    tokio::task::spawn_blocking(move || {
                        if own {
                            return (m.uid, None);
                        }
                        let certs: Vec<_> = key
                            .and_then(|a| open::parse_cert(a.as_bytes()).ok())
                            .into_iter()
                            .collect();
                        (m.uid, Some(pipeline.prepare(m.raw, source, now, &certs)))
                    })
                })),
                workers,
            );
            let (mut chunk, mut bytes) = (Vec::new(), 0usize);
            while let Some(item) = futures::StreamExt::next(&mut prepared).await {
                let item =
                    item.map_err(|e| StoreError::Invalid(format!("pipeline task failed: {e}")))?;
                bytes += item.1.as_ref().map_or(0, |p| p.raw.len());
                chunk.push(item);
                if chunk.len() >= COMMIT_MESSAGES || bytes >= COMMIT_BYTES {
                    bytes = 0;
                    if chunk_tx.send(std::mem::take(&mut chunk)).await.is_err() {
                        return Ok(()); // the committer stopped on an error; it reports it
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = chunk_tx.send(chunk).await;
            }
            Ok::<(), StoreError>(())
        };
        let consume = async move {
            let mut results = Vec::new();
            while let Some(chunk) = chunk_rx.recv().await {
                results.extend(self.commit_chunk(mailbox, uidvalidity, chunk).await?);
            }
            Ok::<_, StoreError>(results)
        };
        let (produced, committed) = tokio::join!(produce, consume);
        let results = committed?;
        produced?;
        Ok(results)
    }

    /// ONE transaction for a run of prepared messages (group commit). A run
    /// the store refuses is retried message by message so one bad message
    /// cannot block the others.
    async fn commit_chunk(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        prepared: Vec<(u32, Option<crate::store::Prepared>)>,
    ) -> Result<Vec<(u32, IngestResult)>, StoreError> {
        let uids: Vec<u32> = prepared.iter().map(|(uid, _)| *uid).collect();
        let prepared = Arc::new(prepared);
        let policy = self.policy.clone();
        let mb = mailbox.to_string();
        let t_commit = std::time::Instant::now();
        let batch = {
            let prepared = prepared.clone();
            let policy = policy.clone();
            self.store
                .run(move |s| s.ingest_batch(&prepared, &policy, &mb, uidvalidity))
                .await
        };
        crate::metrics::record(crate::metrics::Stage::Commit, t_commit, uids.len() as u64);
        let results = match batch {
            Ok(results) => results,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                warn!(error = %e, "group commit refused; committing message by message");
                let mut results = Vec::with_capacity(prepared.len());
                for n in 0..prepared.len() {
                    let (prepared, policy, mb) =
                        (prepared.clone(), policy.clone(), mailbox.to_string());
                    results.push(
                        self.store
                            .run(move |s| {
                                s.ingest_batch(&prepared[n..n + 1], &policy, &mb, uidvalidity)
                            })
                            .await?
                            .remove(0),
                    );
                }
                results
            }
        };
        results.iter().for_each(log_result);
        Ok(uids.into_iter().zip(results).collect())
    }
}

/// Bytes of mail per fetched batch (besides `imap.fetch_batch` messages).
const FETCH_BYTES: usize = 16 * 1024 * 1024;

/// Messages per group commit: enough to share the transaction's fixed cost,
/// few enough that the outbox never waits long for the store.
const COMMIT_MESSAGES: usize = 16;
/// Raw bytes per group commit (large mail commits in smaller groups).
const COMMIT_BYTES: usize = 8 * 1024 * 1024;

/// One structured log line per stored message (never its content).
fn log_result(result: &IngestResult) {
    match result {
        IngestResult::NewReport {
            tracking_id, ack, ..
        } => {
            info!(tracking_id = %tracking_id, ack_queued = ack.is_some(), "report stored")
        }
        IngestResult::FollowUp { tracking_id, .. } => {
            info!(tracking_id = %tracking_id, "follow-up stored")
        }
        IngestResult::Quarantined { message_row } => {
            warn!(message = message_row, "message quarantined")
        }
        IngestResult::Ignored { message_row } => {
            info!(message = message_row, "message ignored (not a report)")
        }
        IngestResult::Duplicate { message_row, .. } => {
            info!(message = message_row, "duplicate delivery stored")
        }
        IngestResult::Known => debug!("message already stored"),
    }
}

/// Liveness of the loops, for the systemd watchdog.
struct Progress {
    intake: Arc<AtomicI64>,
    outbox: Arc<AtomicI64>,
}

impl Progress {
    fn touch(slot: &AtomicI64) {
        slot.store(Utc::now().timestamp(), Ordering::Relaxed);
    }
}

/// Options for [`run`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// One intake pass and one outbox pass, then return.
    pub once: bool,
}

/// Run the daemon until `shutdown` resolves (or one pass with `once`).
///
/// # Errors
/// Start-up failures (store, keys, templates, SMTP setup). Runtime network
/// errors are retried, never returned.
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let ctx = Arc::new(Context::new(config, true)?);
    // NOTE: the keys the pipeline loaded; they are read from disk once.
    let outbox = Arc::new(Outbox::new(
        ctx.config.clone(),
        ctx.pipeline.team_keys.clone(),
    )?);

    if options.once {
        let mut summary = Summary::default();
        let mut session = imap::connect(&ctx.config.imap).await?;
        intake_pass(
            &ctx,
            &mut session,
            &mut summary,
            &CancellationToken::new(),
            None,
        )
        .await?;
        imap::logout(session, ctx.config.imap.timeout).await;
        sla_check(&ctx).await?;
        let pass = outbox.run_once(&ctx.store, Utc::now()).await?;
        summary.acks_sent = pass.sent;
        info!(?summary, "single pass done");
        return Ok(summary);
    }

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let wake_outbox = Arc::new(Notify::new());
    let progress = Arc::new(Progress {
        intake: ctx.heartbeat.clone(),
        outbox: outbox.heartbeat(),
    });
    Progress::touch(&progress.intake);
    Progress::touch(&progress.outbox);

    tracker.spawn(intake_loop(
        ctx.clone(),
        cancel.clone(),
        wake_outbox.clone(),
        progress.clone(),
    ));
    tracker.spawn(outbox_loop(
        ctx.clone(),
        outbox,
        cancel.clone(),
        wake_outbox.clone(),
        progress.clone(),
    ));
    tracker.spawn(sla_loop(ctx.clone(), cancel.clone(), wake_outbox.clone()));
    tracker.spawn(watchdog_loop(
        ctx.config.clone(),
        cancel.clone(),
        progress.clone(),
    ));
    tracker.close();
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    info!(mailbox = %ctx.config.imap.mailbox, "daemon started");

    shutdown.await;
    info!("shutting down: finishing the message in hand");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    if tokio::time::timeout(Duration::from_secs(20), tracker.wait())
        .await
        .is_err()
    {
        warn!("tasks did not stop within 20s; exiting anyway (committed work is safe)");
    }
    info!(stages = %crate::metrics::snapshot(), "stopped");
    Ok(Summary::default())
}

async fn intake_loop(
    ctx: Arc<Context>,
    cancel: CancellationToken,
    wake_outbox: Arc<Notify>,
    progress: Arc<Progress>,
) {
    let mut failures: u32 = 0;
    while !cancel.is_cancelled() {
        Progress::touch(&progress.intake);
        crate::fault::hang("hang_intake").await;
        let result = session_loop(&ctx, &cancel, &wake_outbox, &progress).await;
        match result {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                let delay = crate::net::backoff(
                    Duration::from_secs(1),
                    Duration::from_secs(300),
                    failures.min(12),
                );
                error!(error = %e, retry_in_secs = delay.as_secs_f32(), "IMAP session failed; reconnecting");
                let text = e.to_string();
                let _ = ctx
                    .store
                    .run(move |s| s.set_state("last_error", &text))
                    .await;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => {}
                }
            }
        }
    }
}

/// One connection's life: select, catch up, then IDLE (or poll) until it breaks.
async fn session_loop(
    ctx: &Context,
    cancel: &CancellationToken,
    wake_outbox: &Notify,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let config = &ctx.config.imap;
    let mut session = imap::connect(config).await?;
    let use_idle = config.idle && imap::supports_idle(&mut session, config.timeout).await?;
    info!(idle = use_idle, "IMAP connected");
    let mut summary = Summary::default();
    loop {
        Progress::touch(&progress.intake);
        let fetched_before = summary.fetched;
        intake_pass(ctx, &mut session, &mut summary, cancel, Some(wake_outbox)).await?;
        if summary.fetched > fetched_before {
            // NOTE: going idle after work: hand the batches' memory back.
            crate::heap::trim();
        }
        if cancel.is_cancelled() {
            imap::logout(session, config.timeout).await;
            return Ok(());
        }
        if use_idle {
            let (s, wake) =
                imap::idle(session, config.poll_interval, config.timeout, cancel).await?;
            session = s;
            debug!(?wake, "IDLE ended");
            if wake == Wake::Cancelled {
                imap::logout(session, config.timeout).await;
                return Ok(());
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = cancel.cancelled() => {
                    imap::logout(session, config.timeout).await;
                    return Ok(());
                }
            }
            // NOTE: a NOOP keeps the connection honest; a dead one fails here and reconnects.
            tokio::time::timeout(config.timeout, session.noop())
                .await
                .map_err(|_| ImapError::Timeout {
                    operation: "NOOP",
                    seconds: config.timeout.as_secs(),
                })?
                .map_err(|e| ImapError::Protocol {
                    operation: "NOOP",
                    reason: e.to_string(),
                })?;
        }
    }
}

/// Catch up with the mailbox: re-mark committed-but-unmarked messages, then
/// fetch, process, commit and mark everything past the cursor.
async fn intake_pass(
    ctx: &Context,
    session: &mut Session,
    summary: &mut Summary,
    cancel: &CancellationToken,
    wake_outbox: Option<&Notify>,
) -> Result<(), DaemonError> {
    let config = &ctx.config.imap;
    let mailbox = config.mailbox.clone();
    let selected = imap::select(session, &mailbox, config.timeout).await?;
    let uidvalidity = selected.uidvalidity;
    let mb = mailbox.clone();
    let cursor = ctx.store.run(move |s| s.cursor(&mb)).await?;
    let mut last_uid = match cursor {
        Some((v, uid)) if v == uidvalidity => uid,
        Some((old, _)) => {
            warn!(old, new = uidvalidity, "UIDVALIDITY changed; re-reading the mailbox (stored messages are recognised by content)");
            let mb = mailbox.clone();
            ctx.store
                .run(move |s| {
                    s.reset_cursor(&mb, uidvalidity)?;
                    s.forget_stale_marks(&mb, uidvalidity)
                })
                .await?;
            0
        }
        None => 0,
    };

    // Messages committed before a crash but never marked on the server.
    let mb = mailbox.clone();
    let unmarked = ctx.store.run(move |s| s.unmarked(&mb, uidvalidity)).await?;
    if !unmarked.is_empty() {
        mark_rows(ctx, session, &unmarked).await?;
    }

    // Pipelined: the next batch is fetched while the one in hand is opened,
    // parsed, triaged and committed.
    let mut in_hand: Option<(Vec<u32>, Vec<imap::Fetched>)> = None;
    let mut listed_to = last_uid;
    loop {
        let next_uids = if cancel.is_cancelled() {
            Vec::new()
        } else {
            let listed = imap::uids_after(
                session,
                listed_to,
                config.fetch_batch as usize,
                config.timeout,
            )
            .await?;
            // NOTE: two batches are in memory at once; a byte budget bounds them.
            imap::within_budget(session, &listed, FETCH_BYTES, config.timeout).await?
        };
        if let Some(max) = next_uids.iter().max() {
            listed_to = *max;
        }
        let Some((uids, fetched)) = in_hand.take() else {
            if next_uids.is_empty() {
                break;
            }
            let fetched = fetch_batch(ctx, session, &next_uids).await?;
            in_hand = Some((next_uids, fetched));
            continue;
        };
        summary.fetched += fetched.len();
        Progress::touch(&ctx.heartbeat);
        let (next_fetched, results) = tokio::join!(
            fetch_batch(ctx, session, &next_uids),
            ctx.process_batch(&mailbox, uidvalidity, fetched)
        );
        // NOTE: results first: what was committed is marked even if the next fetch failed.
        let results = results?;
        Progress::touch(&ctx.heartbeat);
        let mut committed: Vec<(i64, u32, String)> = Vec::new();
        let mut known_uids: Vec<u32> = Vec::new();
        for (uid, result) in results {
            summary.add(&result);
            match result.message_row() {
                Some(row) => {
                    let status = if matches!(result, IngestResult::Quarantined { .. }) {
                        "quarantined"
                    } else {
                        "ok"
                    };
                    committed.push((row, uid, status.to_string()));
                }
                None => known_uids.push(uid),
            }
            last_uid = last_uid.max(uid);
        }
        crate::fault::hit("after_commit");
        // Rule 1: marks only after the commit above.
        if !known_uids.is_empty() {
            imap::mark(session, &known_uids, config, None).await?;
        }
        mark_rows(ctx, session, &committed).await?;
        if let Some(notify) = wake_outbox {
            notify.notify_one();
        }
        // UIDs the server listed but did not return (expunged meanwhile) are skipped.
        if let Some(max) = uids.iter().max() {
            if *max > last_uid {
                last_uid = *max;
                let mb = mailbox.clone();
                ctx.store
                    .run(move |s| s.advance_cursor(&mb, uidvalidity, last_uid))
                    .await?;
            }
        }
        if !next_uids.is_empty() {
            in_hand = Some((next_uids, next_fetched?));
        }
    }
    let now = crate::store::ts(Utc::now());
    ctx.store
        .run(move |s| {
            s.set_state("last_poll", &now)?;
            s.set_state("last_error", "")
        })
        .await?;
    Ok(())
}

/// UID FETCH one batch (nothing for no UIDs), counted as the fetch stage.
async fn fetch_batch(
    ctx: &Context,
    session: &mut Session,
    uids: &[u32],
) -> Result<Vec<imap::Fetched>, DaemonError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let t_fetch = std::time::Instant::now();
    let fetched = imap::fetch(session, uids, ctx.config.imap.timeout).await?;
    crate::metrics::record(crate::metrics::Stage::Fetch, t_fetch, fetched.len() as u64);
    Ok(fetched)
}

async fn mark_rows(
    ctx: &Context,
    session: &mut Session,
    rows: &[(i64, u32, String)],
) -> Result<(), DaemonError> {
    if rows.is_empty() {
        return Ok(());
    }
    let config = &ctx.config.imap;
    let (quarantined, normal): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|(_, _, status)| status == "quarantined");
    let normal_uids: Vec<u32> = normal.iter().map(|r| r.1).collect();
    imap::mark(session, &normal_uids, config, None).await?;
    let quarantine_uids: Vec<u32> = quarantined.iter().map(|r| r.1).collect();
    imap::mark(
        session,
        &quarantine_uids,
        config,
        config.quarantine_folder.as_deref(),
    )
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    ctx.store.run(move |s| s.mark_done(&ids)).await?;
    Ok(())
}

async fn outbox_loop(
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
async fn sla_check(ctx: &Context) -> Result<usize, StoreError> {
    let Some(team) = ctx.config.ack.team_address.clone() else {
        return Ok(0);
    };
    let domain = ctx.config.ack.message_id_domain.clone();
    let now = Utc::now();
    let horizon = now + chrono::Duration::from_std(ctx.config.ack.warn_before).unwrap_or_default();
    let queued = ctx
        .store
        .run(move |s| s.queue_deadline_warnings(&team, &domain, now, horizon))
        .await?;
    if queued > 0 {
        info!(queued, "assessment deadline warnings queued for the team");
    }
    Ok(queued)
}

async fn sla_loop(ctx: Arc<Context>, cancel: CancellationToken, wake_outbox: Arc<Notify>) {
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

//! Intake: keep an IMAP session, and in each pass catch up with the mailbox:
//! re-mark what was committed but never marked, list and fetch batches
//! (the next one fetched while the one in hand is prepared and committed),
//! group commits, then marks.
//!
//! I/O: IMAP and the store. Rule 1 lives here: a message is marked or moved
//! on the server only after its commit; a crash in between re-marks it at
//! the next pass. Must not: lose a message to an error (a store error
//! aborts the pass before any mark; a refused group commit is retried
//! message by message), or prepare a message other than through
//! [`super::prepare_one`].

use crate::model::MessageStatus;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::supervisor::Progress;
use super::unreturned;
use super::{head_of, log_result, lookup, prepare_one, Context, DaemonError, Head, Summary};
use crate::source::imap::{self, ImapError, Session, Wake};
use crate::store::{IngestResult, Prepared, SourceRef, StoreError};

/// Bytes of mail per fetched batch (besides `imap.fetch_batch` messages).
const FETCH_BYTES: usize = 16 * 1024 * 1024;

/// Messages per group commit: enough to share the transaction's fixed cost,
/// few enough that the outbox never waits long for the store.
const COMMIT_MESSAGES: usize = 16;
/// Raw bytes per group commit (large mail commits in smaller groups).
const COMMIT_BYTES: usize = 8 * 1024 * 1024;

/// Prepared messages of one group commit, by UID (`None`: our own reply copy).
type Chunk = Vec<(u32, Option<Prepared>)>;

/// Reconnect for as long as the daemon runs, with capped backoff after failures.
pub(super) async fn intake_loop(
    ctx: Arc<Context>,
    cancel: CancellationToken,
    wake_outbox: Arc<Notify>,
    progress: Arc<Progress>,
) {
    let mut failures: u32 = 0;
    while !cancel.is_cancelled() {
        Progress::touch(&progress.intake);
        crate::fault::hang("hang_intake").await;
        let result = match imap::connect(&ctx.config.imap).await {
            Ok(session) => {
                failures = 0;
                crate::metrics::imap_connected(true);
                session_loop(&ctx, session, &cancel, &wake_outbox, &progress).await
            }
            Err(e) => Err(DaemonError::from(e)),
        };
        crate::metrics::imap_connected(false);
        match result {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                let delay = crate::net::backoff(
                    Duration::from_secs(1),
                    Duration::from_secs(300),
                    failures.min(12),
                );
                // NOTE: only the first failure of a run is an error; a connect
                // that keeps failing backs off quietly until one succeeds.
                if failures == 1 {
                    error!(error = %e, retry_in_secs = delay.as_secs_f32(), "IMAP session failed; reconnecting (further failures are logged at debug level until it works)");
                } else {
                    debug!(error = %e, failures, retry_in_secs = delay.as_secs_f32(), "IMAP still failing; reconnecting");
                }
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
    mut session: Session,
    cancel: &CancellationToken,
    wake_outbox: &Notify,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let config = &ctx.config.imap;
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
pub(super) async fn intake_pass(
    ctx: &Context,
    session: &mut Session,
    summary: &mut Summary,
    cancel: &CancellationToken,
    wake_outbox: Option<&Notify>,
) -> Result<(), DaemonError> {
    let config = &ctx.config.imap;
    let mailbox = config.mailbox.clone();
    let (uidvalidity, mut last_uid) = resume(ctx, session, &mailbox).await?;
    retry_unreturned(ctx, session, &mailbox, uidvalidity, summary).await?;

    // Pipelined: the next batch is fetched while the one in hand is opened,
    // parsed, triaged and committed.
    let mut in_hand: Option<(Vec<u32>, Vec<imap::Fetched>)> = None;
    let mut listed_to = last_uid;
    loop {
        let next_uids = if cancel.is_cancelled() {
            Vec::new()
        } else {
            list_batch(ctx, session, listed_to).await?
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
        record_unreturned(ctx, &mailbox, uidvalidity, &uids, &fetched).await?;
        Progress::touch(&ctx.heartbeat);
        let (next_fetched, results) = tokio::join!(
            fetch_batch(ctx, session, &next_uids),
            ctx.process_batch(&mailbox, uidvalidity, fetched)
        );
        // NOTE: results first: what was committed is marked even if the next fetch failed.
        let results = results?;
        Progress::touch(&ctx.heartbeat);
        last_uid = mark_results(ctx, session, summary, results, last_uid).await?;
        if let Some(notify) = wake_outbox {
            notify.notify_one();
        }
        // NOTE: UIDs listed but not returned are on record (above) and
        // fetched again next pass; the cursor moves past them.
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
    let polled_at = Utc::now();
    let now = crate::store::ts(polled_at);
    ctx.store
        .run(move |s| {
            s.set_state("last_poll", &now)?;
            s.set_state("last_error", "")
        })
        .await?;
    crate::metrics::polled(polled_at.timestamp());
    Ok(())
}

/// SELECT the mailbox, find where the cursor stands (from the start after a
/// UIDVALIDITY change) and re-mark messages committed before a crash but
/// never marked on the server. Returns the UIDVALIDITY and the last UID done.
async fn resume(
    ctx: &Context,
    session: &mut Session,
    mailbox: &str,
) -> Result<(u32, u32), DaemonError> {
    let selected = imap::select(session, mailbox, ctx.config.imap.timeout).await?;
    let uidvalidity = selected.uidvalidity;
    let mb = mailbox.to_string();
    let cursor = ctx.store.run(move |s| s.cursor(&mb)).await?;
    let last_uid = match cursor {
        Some((v, uid)) if v == uidvalidity => uid,
        Some((old, _)) => {
            warn!(old, new = uidvalidity, "UIDVALIDITY changed; re-reading the mailbox (stored messages are recognised by content)");
            let mb = mailbox.to_string();
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
    let mb = mailbox.to_string();
    let unmarked = ctx.store.run(move |s| s.unmarked(&mb, uidvalidity)).await?;
    if !unmarked.is_empty() {
        mark_rows(ctx, session, &unmarked).await?;
    }
    Ok((uidvalidity, last_uid))
}

/// The next UIDs past `listed_to`: at most `imap.fetch_batch`, and within
/// the byte budget.
async fn list_batch(
    ctx: &Context,
    session: &mut Session,
    listed_to: u32,
) -> Result<Vec<u32>, DaemonError> {
    let config = &ctx.config.imap;
    let listed = imap::uids_after(
        session,
        listed_to,
        config.fetch_batch as usize,
        config.timeout,
    )
    .await?;
    // NOTE: two batches are in memory at once; a byte budget bounds them.
    Ok(imap::within_budget(session, &listed, FETCH_BYTES, config.timeout).await?)
}

/// Count the committed batch and mark it on the server (rule 1: only after
/// the commit). Returns the highest UID done.
async fn mark_results(
    ctx: &Context,
    session: &mut Session,
    summary: &mut Summary,
    results: Vec<(u32, IngestResult)>,
    mut last_uid: u32,
) -> Result<u32, DaemonError> {
    let mut committed: Vec<(i64, u32, MessageStatus)> = Vec::new();
    let mut known_uids: Vec<u32> = Vec::new();
    for (uid, result) in results {
        summary.add(&result);
        match (result.message_row(), result.status()) {
            (Some(row), Some(status)) => committed.push((row, uid, status)),
            _ => known_uids.push(uid),
        }
        last_uid = last_uid.max(uid);
    }
    crate::fault::hit("after_commit");
    // Rule 1: marks only after the commit above.
    if !known_uids.is_empty() {
        imap::mark(session, &known_uids, &ctx.config.imap, None).await?;
    }
    mark_rows(ctx, session, &committed).await?;
    Ok(last_uid)
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
    let max_bytes = ctx.config.limits.max_message_bytes;
    let fetched = imap::fetch(session, uids, max_bytes, ctx.config.imap.timeout).await?;
    crate::metrics::record(crate::metrics::Stage::Fetch, t_fetch, fetched.len() as u64);
    for f in fetched.iter().filter(|f| f.oversize.is_some()) {
        warn!(
            uid = f.uid,
            size = f.oversize,
            limit = max_bytes,
            "message past limits.max_message_bytes: headers fetched, body not; it is quarantined"
        );
    }
    crate::metrics::fetched(fetched.len());
    Ok(fetched)
}

/// Put the UIDs of `listed` the server did not return in `fetched` on
/// record (see `super::unreturned`), with a warning naming how many.
async fn record_unreturned(
    ctx: &Context,
    mailbox: &str,
    uidvalidity: u32,
    listed: &[u32],
    fetched: &[imap::Fetched],
) -> Result<(), DaemonError> {
    let missing = unreturned::missing(listed, fetched);
    if missing.is_empty() {
        return Ok(());
    }
    warn!(
        count = missing.len(),
        first = missing[0],
        "UIDs listed but not returned by FETCH; recorded, fetched again next pass"
    );
    let key = unreturned::key(mailbox);
    ctx.store
        .run(move |s| {
            let old = unreturned::decode(&s.state(&key)?.unwrap_or_default(), uidvalidity);
            let merged = unreturned::merge(&old, &missing);
            let dropped = old.len() + missing.len() - merged.len();
            if merged.len() == unreturned::MAX_KEPT && dropped > 0 {
                warn!(
                    dropped,
                    "too many unreturned UIDs on record; the oldest were dropped"
                );
            }
            s.set_state(&key, &unreturned::encode(uidvalidity, &merged))
        })
        .await?;
    Ok(())
}

/// Fetch again the UIDs an earlier pass listed but did not get back:
/// commit and mark what comes back now, keep on record what the server
/// still lists but does not return, forget what it no longer lists.
async fn retry_unreturned(
    ctx: &Context,
    session: &mut Session,
    mailbox: &str,
    uidvalidity: u32,
    summary: &mut Summary,
) -> Result<(), DaemonError> {
    let key = unreturned::key(mailbox);
    let k = key.clone();
    let value = ctx.store.run(move |s| s.state(&k)).await?;
    let pending = unreturned::decode(&value.unwrap_or_default(), uidvalidity);
    if pending.is_empty() {
        return Ok(());
    }
    let present = imap::uids_present(session, &pending, ctx.config.imap.timeout).await?;
    let fetched = fetch_batch(ctx, session, &present).await?;
    let still = unreturned::missing(&present, &fetched);
    info!(
        on_record = pending.len(),
        returned = fetched.len(),
        still_missing = still.len(),
        gone = pending.len() - present.len(),
        "UIDs not returned earlier fetched again"
    );
    if !fetched.is_empty() {
        summary.fetched += fetched.len();
        let results = ctx.process_batch(mailbox, uidvalidity, fetched).await?;
        mark_results(ctx, session, summary, results, 0).await?;
    }
    let value = unreturned::encode(uidvalidity, &still);
    ctx.store.run(move |s| s.set_state(&key, &value)).await?;
    Ok(())
}

/// Mark committed rows on the server (quarantined ones into the quarantine
/// folder, if any), then record them as marked.
async fn mark_rows(
    ctx: &Context,
    session: &mut Session,
    rows: &[(i64, u32, MessageStatus)],
) -> Result<(), DaemonError> {
    if rows.is_empty() {
        return Ok(());
    }
    let config = &ctx.config.imap;
    let (quarantined, normal): (Vec<&(i64, u32, MessageStatus)>, Vec<_>) = rows
        .iter()
        .partition(|(_, _, status)| *status == MessageStatus::Quarantined);
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
        let heads: Vec<Head> = messages
            .iter()
            .map(|m| head_of(&m.raw, &self.pipeline))
            .collect();
        let lookups = self
            .store
            .run(move |s| {
                heads
                    .iter()
                    .map(|head| lookup(s, head))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        // Prepared messages stream (in order) into commits of a few messages
        // each: committing overlaps with preparing the rest, and the store is
        // free between commits for the outbox.
        let (chunk_tx, mut chunk_rx) = mpsc::channel::<Chunk>(2);
        let produce = self.prepare_chunks(mailbox, uidvalidity, messages, lookups, chunk_tx);
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

    /// Prepare `messages` with [`prepare_one`], as many at once as there are
    /// CPUs, in order, and send them on in chunks of at most
    /// `COMMIT_MESSAGES` messages or `COMMIT_BYTES` bytes. Own reply copies
    /// (by `lookups`) are passed on unprepared.
    async fn prepare_chunks(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        messages: Vec<imap::Fetched>,
        lookups: Vec<(bool, Vec<String>)>,
        chunk_tx: mpsc::Sender<Chunk>,
    ) -> Result<(), StoreError> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let now = Utc::now();
        let jobs = messages.into_iter().zip(lookups).map(|(m, (own, key))| {
            let pipeline = self.pipeline.clone();
            let uid = m.uid;
            let source = SourceRef::Imap {
                mailbox: mailbox.to_string(),
                uidvalidity,
                uid,
            };
            async move {
                if own {
                    return Ok((uid, None));
                }
                if let Some(size) = m.oversize {
                    return Ok((
                        uid,
                        Some(pipeline.prepare_oversize(m.raw, size, source, now)),
                    ));
                }
                let prepared = prepare_one(pipeline, m.raw, source, now, key).await?;
                Ok::<_, StoreError>((uid, Some(prepared)))
            }
        });
        let mut prepared = futures::StreamExt::buffered(futures::stream::iter(jobs), workers);
        let (mut chunk, mut bytes) = (Vec::new(), 0usize);
        while let Some(item) = futures::StreamExt::next(&mut prepared).await {
            let item = item?;
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
        Ok(())
    }

    /// ONE transaction for a run of prepared messages (group commit). A run
    /// the store refuses is retried message by message so one bad message
    /// cannot block the others.
    async fn commit_chunk(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        prepared: Chunk,
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

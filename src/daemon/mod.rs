//! The daemon: its shared state ([`Context`]), the one way a message is
//! prepared and committed, and [`run`] (one pass, or the supervised loops).
//!
//! I/O: IMAP, SMTP (through the outbox), the store. One bad message is
//! recorded and skipped; it never stops the daemon. A lost connection is
//! retried with capped exponential backoff and jitter. Must not: touch IMAP
//! for a message before its commit (rule 1), or decide anything about a
//! message itself (the pure pipeline does).
//!
//! | submodule | owns |
//! |---|---|
//! | `supervisor` | task spawn, cancellation, sd_notify READY/STOPPING/WATCHDOG, bounded drain |
//! | `intake` | reconnects, the IMAP session, intake passes, fetch, group commits, marks |
//! | `loops` | the outbox loop and the deadline (SLA) loop |

mod intake;
mod loops;
mod supervisor;

use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::open::{self, OpenError};
use crate::outbox::{Outbox, OutboxError};
use crate::pipeline::Pipeline;
use crate::source::imap::{self, ImapError};
use crate::store::{
    IngestPolicy, IngestResult, Prepared, SharedStore, SourceRef, Store, StoreError,
};

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
    /// The `[metrics]` endpoint cannot be bound.
    #[error("{path}: key `metrics.listen`: cannot listen on {listen}: {source}")]
    Metrics {
        path: std::path::PathBuf,
        listen: String,
        #[source]
        source: std::io::Error,
    },
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
        crate::metrics::stored(result);
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
    /// Open the store and build the pipeline (which loads the team keys,
    /// once: the outbox shares them through `pipeline.team_keys`).
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
        received_at: Option<DateTime<Utc>>,
    ) -> Result<IngestResult, StoreError> {
        let head = head_of(&raw, &self.pipeline);
        let (own, reporter_key) = self.store.run(move |s| lookup(s, &head)).await?;
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
        let at = received_at.unwrap_or_else(Utc::now);
        let prepared = prepare_one(self.pipeline.clone(), raw, source, at, reporter_key).await?;
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

/// What the store is asked about a message before it is prepared: its
/// Message-ID (is it our own reply?) and its sender (a pinned key?).
type Head = (Option<String>, Option<String>);

/// The [`Head`] of `raw`; unreadable headers give none (the pipeline then
/// quarantines the message with the reason).
fn head_of(raw: &[u8], pipeline: &Pipeline) -> Head {
    match crate::parse::parse_headers(raw, &pipeline.parse_limits) {
        Ok(h) => (h.message_id, h.from_address),
        Err(_) => (None, None),
    }
}

/// Is the message one of our own replies, and else the sender's pinned key
/// (armored) if there is one.
fn lookup(s: &mut Store, (mid, from): &Head) -> Result<(bool, Option<String>), StoreError> {
    let own = match mid {
        Some(mid) => s.is_own_message_id(mid)?,
        None => false,
    };
    let key = match from {
        Some(from) if !own => s.reporter_key(from)?,
        _ => None,
    };
    Ok((own, key))
}

/// THE way a message is prepared: open, parse and triage on the blocking
/// pool with the reporter's pinned key (an unparsable key counts as none).
/// Both [`Context::process_at`] and [`Context::process_batch`] use it.
///
/// # Errors
/// Only when the blocking task itself fails; a bad message is a quarantine.
async fn prepare_one(
    pipeline: Arc<Pipeline>,
    raw: Vec<u8>,
    source: SourceRef,
    at: DateTime<Utc>,
    reporter_key: Option<String>,
) -> Result<Prepared, StoreError> {
    tokio::task::spawn_blocking(move || {
        let certs: Vec<_> = reporter_key
            .and_then(|a| open::parse_cert(a.as_bytes()).ok())
            .into_iter()
            .collect();
        pipeline.prepare(raw, source, at, &certs)
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("pipeline task failed: {e}")))
}

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
        return single_pass(&ctx, &outbox).await;
    }
    let metrics = bind_metrics(&ctx.config).await?;
    supervisor::supervise(ctx, outbox, metrics, shutdown).await;
    Ok(Summary::default())
}

/// Bind the `[metrics]` endpoint, if configured (a start-up error naming `metrics.listen`).
async fn bind_metrics(
    config: &Config,
) -> Result<Option<crate::metrics::http::Listener>, DaemonError> {
    let Some(metrics) = &config.metrics else {
        return Ok(None);
    };
    let listener = crate::metrics::http::bind(&metrics.listen)
        .await
        .map_err(|source| DaemonError::Metrics {
            path: config.path.clone(),
            listen: metrics.listen.to_string(),
            source,
        })?;
    info!(listen = %metrics.listen, "metrics endpoint listening");
    Ok(Some(listener))
}

/// `run --once`: one intake pass, one deadline check, one outbox pass.
async fn single_pass(ctx: &Context, outbox: &Outbox) -> Result<Summary, DaemonError> {
    let mut summary = Summary::default();
    let mut session = imap::connect(&ctx.config.imap).await?;
    intake::intake_pass(
        ctx,
        &mut session,
        &mut summary,
        &CancellationToken::new(),
        None,
    )
    .await?;
    imap::logout(session, ctx.config.imap.timeout).await;
    loops::sla_check(ctx).await?;
    let pass = outbox.run_once(&ctx.store, Utc::now()).await?;
    summary.acks_sent = pass.sent;
    info!(?summary, "single pass done");
    Ok(summary)
}

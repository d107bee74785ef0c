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
//! | `unreturned` | UIDs listed but not returned by FETCH: the record, retried next pass |

mod intake;
mod loops;
mod supervisor;
mod unreturned;

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
            IngestResult::FollowUp { .. } | IngestResult::Team { .. } => self.followups += 1,
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
        let mut store = Store::open(&config.database)?;
        store.defer_checkpoints()?;
        let checkpointer =
            crate::store::Checkpointer::start(&config.database, Duration::from_millis(250))?;
        let pipeline = Pipeline::from_config(&config)?;
        // Audit events are MACed with the key derived from the team key.
        store.set_audit_key(pipeline.at_rest.audit_key().copied())?;
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

    /// Write the audit chain's head to the anchor file (`store.audit_anchor`)
    /// when it moved. A failure is logged, never fatal: the chain itself is
    /// intact, only its outside anchor is stale.
    pub async fn anchor_audit(&self) {
        let head = match self.store.run(|s| s.audit_head()).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "cannot read the audit chain's head");
                return;
            }
        };
        let path = self.config.audit_anchor.clone();
        let unchanged = crate::store::read_anchor(&path).is_ok_and(|a| a == head);
        if unchanged {
            return;
        }
        let id = head.id;
        match tokio::task::spawn_blocking(move || crate::store::write_anchor(&path, &head)).await {
            Ok(Ok(())) => debug!(event = id, "audit anchor written"),
            Ok(Err(e)) => {
                warn!(error = %e, path = %self.config.audit_anchor.display(), "cannot write the audit anchor")
            }
            Err(e) => warn!(error = %e, "audit anchor task failed"),
        }
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

/// What the store is asked about a message before it is prepared: is it
/// our own reply copy (its Message-ID, and for an id of our domain the
/// digest of its body), and which keys the store trusts for it (its sender,
/// the report its thread refers to).
#[derive(Debug, Default)]
struct Head {
    message_id: Option<String>,
    from: Option<String>,
    refs: crate::threading::ThreadRefs,
    body_digest: Option<[u8; 32]>,
}

/// The [`Head`] of `raw`; unreadable headers give none (the pipeline then
/// quarantines the message with the reason). Parsed under the panic guard:
/// this runs on the intake's own task, where a panic would end the pass.
fn head_of(raw: &[u8], pipeline: &Pipeline) -> Head {
    let Some(Ok(h)) =
        crate::pipeline::guarded(|| crate::parse::parse_headers(raw, &pipeline.parse_limits))
    else {
        return Head::default();
    };
    let ours = format!("@{}", pipeline.message_id_domain);
    let body_digest = h
        .message_id
        .as_deref()
        .filter(|mid| mid.ends_with(&ours))
        .and_then(|_| crate::store::body_digest(raw));
    let mut refs = crate::threading::refs_of(&h, &pipeline.tracking_prefix);
    for id in crate::threading::tracking_ids_in(&h.subject, &pipeline.tracking_prefix) {
        if !refs.tracking_ids.contains(&id) {
            refs.tracking_ids.push(id);
        }
    }
    Head {
        message_id: h.message_id,
        from: h.from_address,
        refs,
        body_digest,
    }
}

/// Is the message really one of our own replies (same Message-ID and the
/// exact body we sent), and else the keys the store trusts for it (armored).
fn lookup(s: &mut Store, head: &Head) -> Result<(bool, Vec<String>), StoreError> {
    let own = match (&head.message_id, &head.body_digest) {
        (Some(mid), Some(digest)) => s.is_own_copy(mid, digest)?,
        _ => false,
    };
    if own {
        return Ok((true, Vec::new()));
    }
    Ok((false, s.trusted_keys(head.from.as_deref(), &head.refs)?))
}

/// THE way a message is prepared: open, parse and triage on the blocking
/// pool with the keys the store trusts for it (an unparsable key counts as
/// none).
/// Both [`Context::process_at`] and [`Context::process_batch`] use it.
///
/// # Errors
/// Only when the blocking task itself fails; a bad message is a quarantine.
async fn prepare_one(
    pipeline: Arc<Pipeline>,
    raw: Vec<u8>,
    source: SourceRef,
    at: DateTime<Utc>,
    trusted_keys: Vec<String>,
) -> Result<Prepared, StoreError> {
    tokio::task::spawn_blocking(move || {
        let certs: Vec<_> = trusted_keys
            .iter()
            .filter_map(|a| open::parse_cert(a.as_bytes()).ok())
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
        IngestResult::Team { tracking_id, .. } => {
            info!(tracking_id = %tracking_id, "team mail stored")
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
    ctx.anchor_audit().await;
    info!(?summary, "single pass done");
    Ok(summary)
}

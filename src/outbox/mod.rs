//! The outbox worker: render → seal → SMTP → mark sent → APPEND a copy
//! (`copies`).
//!
//! I/O: SMTP (send), IMAP (copies), the store. Rule 2 lives here: a row's
//! bytes are fixed before the first attempt and every retry sends them
//! unchanged; rule 3 too: an ack to an encrypted report is encrypted to the
//! reporter, or is a neutral notice; a sealing error never falls back to
//! cleartext.

pub mod compose;
mod copies;
pub mod render;
pub mod smtp;
mod team;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::{Config, CopyMode};
use crate::model::{OutboxKind, OutboxStatus};
use crate::open::{self, TeamKeys};
use crate::source::imap;
use crate::store::advisory::NoticeFacts;
use crate::store::{AckFacts, OutboxItem, SharedStore, StoreError};
use compose::{Body, Envelope};
use render::{Site, Templates};
use smtp::{SendError, SmtpSender};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("cannot seal reply: {0}")]
    Seal(String),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Imap(#[from] imap::ImapError),
}

/// Counts from one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub copied: usize,
    /// Copies the IMAP server refused for good (marked failed, not retried).
    pub copies_failed: usize,
}

pub struct Outbox {
    config: Arc<Config>,
    templates: Arc<Templates>,
    team_keys: Arc<TeamKeys>,
    sender: SmtpSender,
    site: Site,
    heartbeat: Arc<std::sync::atomic::AtomicI64>,
}

impl Outbox {
    /// # Errors
    /// Templates that do not load or an unusable SMTP setup.
    pub fn new(config: Arc<Config>, team_keys: Arc<TeamKeys>) -> Result<Outbox, OutboxError> {
        let templates = Arc::new(Templates::load(&config.ack.template_dir)?);
        let sender = SmtpSender::new(&config.smtp)?;
        let site = Site {
            policy_url: config.ack.policy_url.clone(),
            security_txt_url: config.ack.security_txt_url.clone(),
            from_address: config.smtp.from_address.clone(),
            time_zone: config.calendar.time_zone_name().to_string(),
        };
        Ok(Outbox {
            config,
            templates,
            team_keys,
            sender,
            site,
            heartbeat: Arc::new(std::sync::atomic::AtomicI64::new(Utc::now().timestamp())),
        })
    }

    /// Unix time of the worker's latest sign of life (watchdog).
    pub fn heartbeat(&self) -> Arc<std::sync::atomic::AtomicI64> {
        self.heartbeat.clone()
    }

    /// Send every due row once; then file copies of sent replies.
    ///
    /// # Errors
    /// Store errors only; SMTP/IMAP problems are recorded on the rows.
    pub async fn run_once(
        &self,
        store: &SharedStore,
        now: DateTime<Utc>,
    ) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        loop {
            let items = store.run(move |s| s.due_outbox(now, 100)).await?;
            if items.is_empty() {
                break;
            }
            let mut progressed = false;
            // Several replies at once, one pooled SMTP connection each; a slow
            // one does not hold up the others.
            self.heartbeat
                .store(Utc::now().timestamp(), std::sync::atomic::Ordering::Relaxed);
            let sends: Vec<_> = items
                .iter()
                .map(|item| Box::pin(self.send_counted(store, item)))
                .collect();
            let outcomes: Vec<Result<Outcome, StoreError>> =
                futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
                    futures::stream::iter(sends),
                    self.sender.concurrency().max(1),
                ))
                .await;
            for outcome in outcomes {
                match outcome? {
                    Outcome::Sent => {
                        pass.sent += 1;
                        progressed = true;
                    }
                    Outcome::Retry => pass.retried += 1,
                    Outcome::Failed => {
                        pass.failed += 1;
                        progressed = true;
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        match self.append_copies(store).await {
            Ok(filed) => {
                pass.copied = filed.filed;
                pass.copies_failed = filed.failed;
            }
            Err(e) => warn!(error = %e, "cannot file reply copies yet; will retry"),
        }
        Ok(pass)
    }

    /// [`Outbox::send_one`], with its outcome counted in the operators' metrics.
    async fn send_counted(
        &self,
        store: &SharedStore,
        item: &OutboxItem,
    ) -> Result<Outcome, StoreError> {
        let outcome = self.send_one(store, item).await;
        if let Ok(o) = &outcome {
            let counted = match o {
                Outcome::Sent => crate::metrics::ReplyOutcome::Sent,
                Outcome::Retry => crate::metrics::ReplyOutcome::Retry,
                Outcome::Failed => crate::metrics::ReplyOutcome::Failed,
            };
            crate::metrics::reply_outcome(item.kind, counted);
        }
        outcome
    }

    /// A previous process died during this send: did the SMTP server take it?
    /// `Some` when the row is settled (sent, or to look again later).
    async fn resume_interrupted(
        &self,
        store: &SharedStore,
        item: &OutboxItem,
    ) -> Result<Option<Outcome>, StoreError> {
        let id = item.id;
        // A previous process died during this send: did the SMTP server take it?
        if self.config.ack.copy_mode == CopyMode::Bcc {
            let wait =
                chrono::Duration::from_std(self.config.ack.ambiguity_wait).unwrap_or_default();
            let settle = item.sending_at.unwrap_or_default() + wait;
            match self.find_copy(&item.message_id).await {
                Ok(true) => {
                    info!(
                        outbox = id,
                        "interrupted send had gone through (copy found); not resending"
                    );
                    store.run(move |s| s.outbox_sent(id, Utc::now())).await?;
                    return Ok(Some(Outcome::Sent));
                }
                Ok(false) if Utc::now() < settle => {
                    // NOTE: the copy may still be in the MTA's queue; look again later
                    // without blocking the other replies.
                    store
                        .run(move |s| {
                            s.outbox_retry_keep(
                                id,
                                "interrupted send: waiting for its copy",
                                settle,
                            )
                        })
                        .await?;
                    return Ok(Some(Outcome::Retry));
                }
                Ok(false) => info!(
                    outbox = id,
                    "interrupted send had not gone through; sending"
                ),
                Err(e) => {
                    warn!(outbox = id, error = %e, "cannot look for the copy of an interrupted send; will retry");
                    let next = Utc::now() + chrono::Duration::seconds(10);
                    let reason = e.to_string();
                    store
                        .run(move |s| s.outbox_retry_keep(id, &reason, next))
                        .await?;
                    return Ok(Some(Outcome::Retry));
                }
            }
        } else {
            warn!(
                outbox = id,
                "resending a reply whose send was interrupted (same bytes, same Message-ID)"
            );
        }
        Ok(None)
    }

    /// The reply's bytes: fixed by an earlier attempt, or built (and sealed)
    /// now; `Err(Failed)` when it cannot be built (never sent in clear).
    async fn bytes_of(
        &self,
        store: &SharedStore,
        item: &OutboxItem,
    ) -> Result<Result<Vec<u8>, Outcome>, StoreError> {
        let id = item.id;
        Ok(Ok(match &item.rendered {
            Some(bytes) => bytes.clone(),
            None => {
                let facts = match item.report_id {
                    Some(rid) => Some(store.run(move |s| s.ack_facts(rid)).await?),
                    None => None,
                };
                let notice = if is_notice(item.kind) {
                    let days = self.config.advisory.disclosure_days;
                    Some(store.run(move |s| s.notice_facts(id, days)).await?)
                } else {
                    None
                };
                let t_render = std::time::Instant::now();
                let built = {
                    let this = self.builder();
                    let item = item.clone();
                    tokio::task::spawn_blocking(move || {
                        this.build(&item, facts.as_ref(), notice.as_ref(), Utc::now())
                    })
                    .await
                    .unwrap_or_else(|e| Err(OutboxError::Seal(format!("build task failed: {e}"))))
                };
                crate::metrics::record(crate::metrics::Stage::Render, t_render, 1);
                match built {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        // NOTE: fail closed: a reply that cannot be built/sealed is never sent in clear.
                        let reason = e.to_string();
                        warn!(outbox = id, error = %reason, "cannot build reply; marked failed");
                        store
                            .run(move |s| s.outbox_failed(id, &reason, Utc::now()))
                            .await?;
                        return Ok(Err(Outcome::Failed));
                    }
                }
            }
        }))
    }

    async fn send_one(
        &self,
        store: &SharedStore,
        item: &OutboxItem,
    ) -> Result<Outcome, StoreError> {
        let id = item.id;
        if item.status == OutboxStatus::Sending {
            if let Some(outcome) = self.resume_interrupted(store, item).await? {
                return Ok(outcome);
            }
        }
        let bytes = match self.bytes_of(store, item).await? {
            Ok(bytes) => bytes,
            Err(outcome) => return Ok(outcome),
        };
        // Every attempt is marked first, so a crash during it is recognised at restart.
        let b = bytes.clone();
        store
            .run(move |s| s.outbox_sending(id, &b, Utc::now()))
            .await?;
        let mut recipients = vec![item.recipient.as_str()];
        // NOTE: a relayed team reply travels with its copy like an ack, so a
        // crash after SMTP acceptance does not send it twice (issue 12).
        if self.config.ack.copy_mode == CopyMode::Bcc
            && matches!(item.kind, OutboxKind::Ack | OutboxKind::TeamReply)
        {
            recipients.push(self.config.ack.copy_address.as_str());
        }
        let t_send = std::time::Instant::now();
        let sent = self.sender.send(&recipients, &bytes).await;
        crate::metrics::record(crate::metrics::Stage::Send, t_send, 1);
        match sent {
            Ok(()) => {
                crate::fault::hit("after_smtp");
                store.run(move |s| s.outbox_sent(id, Utc::now())).await?;
                info!(outbox = id, kind = %item.kind, "reply sent");
                Ok(Outcome::Sent)
            }
            Err(e) if e.is_permanent() || item.attempts + 1 >= self.config.ack.max_attempts => {
                let reason = e.to_string();
                warn!(outbox = id, error = %reason, "reply failed permanently");
                store
                    .run(move |s| s.outbox_failed(id, &reason, Utc::now()))
                    .await?;
                Ok(Outcome::Failed)
            }
            Err(e) => {
                let delay = crate::net::backoff(
                    self.config.ack.retry_base,
                    self.config.ack.retry_max,
                    item.attempts,
                );
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                let reason = e.to_string();
                if self.sender.is_failing() {
                    // NOTE: the sender logged the failure once already.
                    tracing::debug!(outbox = id, error = %reason, retry_in_secs = delay.as_secs(), "reply not sent; will retry");
                } else {
                    warn!(outbox = id, error = %reason, retry_in_secs = delay.as_secs(), "reply not sent; will retry");
                }
                store
                    .run(move |s| s.outbox_retry(id, &reason, next))
                    .await?;
                Ok(Outcome::Retry)
            }
        }
    }

    fn builder(&self) -> Builder {
        Builder {
            config: self.config.clone(),
            templates: self.templates.clone(),
            team_keys: self.team_keys.clone(),
            site: self.site.clone(),
        }
    }

    /// Is a copy of `message_id` in the watched mailbox (or, with
    /// `mark = "move"`, already moved on by intake to `move_to`)?
    async fn find_copy(&self, message_id: &str) -> Result<bool, OutboxError> {
        let imap_config = &self.config.imap;
        let mut folders = vec![imap_config.mailbox.as_str()];
        if imap_config.mark == crate::config::MarkMode::Move {
            folders.push(imap_config.move_to.as_str());
        }
        let mut session = imap::connect(imap_config).await?;
        let mut found = false;
        for folder in folders {
            match imap::select(&mut session, folder, imap_config.timeout).await {
                Ok(_) => {}
                // NOTE: `move_to` may not exist yet: then nothing was moved there.
                Err(imap::ImapError::Refused { .. }) if folder != imap_config.mailbox => continue,
                Err(e) => return Err(e.into()),
            }
            found = imap::has_message_id(&mut session, message_id, imap_config.timeout).await?;
            if found {
                break;
            }
        }
        imap::logout(session, imap_config.timeout).await;
        Ok(found)
    }
}

/// Rows built by [`Builder::build_notice`] (issue 14).
fn is_notice(kind: OutboxKind) -> bool {
    matches!(
        kind,
        OutboxKind::MilestoneTriaged
            | OutboxKind::MilestoneFixing
            | OutboxKind::MilestoneFixed
            | OutboxKind::AdvisoryPublished
            | OutboxKind::DisclosureReminder
            | OutboxKind::StatusNotice
    )
}

enum Outcome {
    Sent,
    Retry,
    Failed,
}

/// The outer (cleartext) Subject of a reply. A team alert or deadline mail
/// about an ENCRYPTED report says only that there is a notice: its rendered
/// subject (which names the severity or the deadline) travels in the
/// protected inner header of the sealed body. Acks keep their subject (it
/// never names the report's content).
pub fn outer_subject(kind: OutboxKind, facts: &AckFacts, rendered: &str) -> String {
    match kind {
        OutboxKind::Alert | OutboxKind::Deadline if facts.encrypted => {
            format!("Security report notice {}", facts.tracking_id)
        }
        _ => rendered.to_string(),
    }
}

/// The CPU side of a reply: render, compose, seal. Runs on the blocking pool.
struct Builder {
    config: Arc<Config>,
    templates: Arc<Templates>,
    team_keys: Arc<TeamKeys>,
    site: Site,
}

impl Builder {
    fn build(
        &self,
        item: &OutboxItem,
        facts: Option<&AckFacts>,
        notice: Option<&NoticeFacts>,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, OutboxError> {
        let facts = facts.ok_or_else(|| OutboxError::Seal("reply has no report".into()))?;
        let calendar = &self.config.calendar;
        let team_public = self.team_keys.public_certs();
        let (rendered, body) = match item.kind {
            kind if is_notice(kind) => self.build_notice(kind, facts, notice, now)?,
            OutboxKind::TeamReply => self.build_team_reply(item, facts, now)?,
            OutboxKind::TeamNotice => self.build_team_notice(item, facts)?,
            kind @ (OutboxKind::Alert | OutboxKind::Deadline) => {
                let template = if kind == OutboxKind::Alert {
                    "alert.txt.j2"
                } else {
                    "deadline.txt.j2"
                };
                let rendered = self
                    .templates
                    .render(template, facts, &self.site, calendar)?;
                let body = if team_public.is_empty() {
                    Body::Plain(compose::text_entity(&rendered.body))
                } else {
                    let inner = compose::protected_entity(&rendered.body, &rendered.subject);
                    Body::Sealed(
                        open::seal_pgp_mime(&inner, &team_public, &self.team_keys)
                            .map_err(|e| OutboxError::Seal(e.reason()))?,
                    )
                };
                (rendered, body)
            }
            _ if facts.encrypted => {
                let reporter_cert = facts
                    .reporter_key
                    .as_deref()
                    .and_then(|armored| open::parse_cert(armored.as_bytes()).ok())
                    .filter(|cert| open::usable_for_encryption(cert, now));
                match reporter_cert {
                    Some(cert) if !self.team_keys.is_empty() => {
                        let rendered =
                            self.templates
                                .render("ack.txt.j2", facts, &self.site, calendar)?;
                        let inner = compose::protected_entity(&rendered.body, &rendered.subject);
                        let mut recipients = vec![cert];
                        recipients.extend(team_public);
                        let sealed = open::seal_pgp_mime(&inner, &recipients, &self.team_keys)
                            .map_err(|e| OutboxError::Seal(e.reason()))?;
                        (rendered, Body::Sealed(sealed))
                    }
                    _ => {
                        let rendered = self.templates.render(
                            "ack-neutral.txt.j2",
                            facts,
                            &self.site,
                            calendar,
                        )?;
                        let body = self.maybe_signed(&rendered.body)?;
                        (rendered, body)
                    }
                }
            }
            _ => {
                let rendered = self
                    .templates
                    .render("ack.txt.j2", facts, &self.site, calendar)?;
                let body = self.maybe_signed(&rendered.body)?;
                (rendered, body)
            }
        };
        let subject = outer_subject(item.kind, facts, &rendered.subject);
        let envelope = Envelope {
            from: &self.config.smtp.from,
            reply_to: self.config.smtp.reply_to.as_deref(),
            to: &item.recipient,
            subject: &subject,
            message_id: &item.message_id,
            in_reply_to: item.in_reply_to.as_deref(),
            references: &item.references,
            tracking_id: Some(&facts.tracking_id),
            date: now,
        };
        Ok(compose::compose(&envelope, body))
    }

    /// A milestone mail, publish notice (to the reporter: encrypted to their
    /// pinned key and the team's when both are known, else plain and signed
    /// as configured; ids and dates only) or disclosure reminder (to the team).
    fn build_notice(
        &self,
        kind: OutboxKind,
        facts: &AckFacts,
        notice: Option<&NoticeFacts>,
        now: DateTime<Utc>,
    ) -> Result<(render::Rendered, Body), OutboxError> {
        let calendar = &self.config.calendar;
        let n = notice.cloned().unwrap_or_default();
        let base = &self.config.advisory.base_url;
        let url = match (&n.advisory_year, &n.advisory_file) {
            (Some(y), Some(f)) => Some(format!("{base}/{y}/{f}")),
            _ => None,
        };
        let value = serde_json::json!({
            "advisory_id": n.advisory_id,
            "advisory_url": url,
            "disclosure_at": n.disclosure_at.map(|d| calendar.format_local(d)),
            "status": n.status,
        });
        let template = match kind {
            OutboxKind::MilestoneTriaged => "milestone-triaged.txt.j2",
            OutboxKind::MilestoneFixing => "milestone-fixing.txt.j2",
            OutboxKind::MilestoneFixed => "milestone-fixed.txt.j2",
            OutboxKind::AdvisoryPublished => "advisory-published.txt.j2",
            OutboxKind::StatusNotice => "status-notice.txt.j2",
            _ => "disclosure-reminder.txt.j2",
        };
        let rendered = self
            .templates
            .render_with(template, facts, &self.site, calendar, &value)?;
        let team_public = self.team_keys.public_certs();
        if kind == OutboxKind::DisclosureReminder {
            let body = if team_public.is_empty() {
                Body::Plain(compose::text_entity(&rendered.body))
            } else {
                let inner = compose::protected_entity(&rendered.body, &rendered.subject);
                Body::Sealed(
                    open::seal_pgp_mime(&inner, &team_public, &self.team_keys)
                        .map_err(|e| OutboxError::Seal(e.reason()))?,
                )
            };
            return Ok((rendered, body));
        }
        let reporter_cert = facts
            .reporter_key
            .as_deref()
            .and_then(|armored| open::parse_cert(armored.as_bytes()).ok())
            .filter(|cert| open::usable_for_encryption(cert, now));
        let body = match reporter_cert {
            Some(cert) if !self.team_keys.is_empty() => {
                let inner = compose::protected_entity(&rendered.body, &rendered.subject);
                let mut recipients = vec![cert];
                recipients.extend(team_public);
                Body::Sealed(
                    open::seal_pgp_mime(&inner, &recipients, &self.team_keys)
                        .map_err(|e| OutboxError::Seal(e.reason()))?,
                )
            }
            _ => self.maybe_signed(&rendered.body)?,
        };
        Ok((rendered, body))
    }

    fn maybe_signed(&self, text: &str) -> Result<Body, OutboxError> {
        let entity = compose::text_entity(text);
        if self.config.openpgp.sign_plain_acks && !self.team_keys.is_empty() {
            let sealed = open::sign_pgp_mime(&entity, &self.team_keys)
                .map_err(|e| OutboxError::Seal(e.reason()))?;
            Ok(Body::Sealed(sealed))
        } else {
            Ok(Body::Plain(entity))
        }
    }
}

//! The rules of ingest in one pure function: given a prepared message, the
//! facts the store holds about it ([`Facts`], read in one go by
//! `store::ingest`), and the [`IngestPolicy`], [`decide`] returns the
//! [`Plan`] that `store::ingest` writes in ONE transaction.
//!
//! Every "who may do what to a report" rule lives here and nowhere else:
//! already known or a duplicate delivery (same Message-ID, sender and
//! content), follow-up binding (a reply joins a report only from its
//! reporter's address or signed by their pinned key, and changes it only
//! when signed by that key once there is one), key pinning (only from a
//! mail signed by the offered key; other keys are candidates) and key-change
//! review flags, the tracking id of a new report,
//! ack or withhold (loop guard, per-sender rate limit), the ack's slot under
//! the global limit (delayed, never dropped; a share reserved for
//! authenticated senders), the team alert for critical reports, credit writes, and team mail (who is a
//! team member, replays, notes, quick actions, relay or `needs_key`: in
//! `decide/team.rs`). No I/O, no clock.

use chrono::{DateTime, Datelike, Utc};

use crate::loopguard::Verdict;
use crate::model::{
    IngestPolicy, KeySource, Prepared, PreparedKind, PreparedMail, SenderAuth, Signature,
};
use crate::threading::format_tracking_id;
use crate::triage::Credit;

mod team;
pub use team::{reply_plan, ReplyPlan, TeamFacts, TeamPlan, TeamReportFacts, TeamWork};

/// A report as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRef {
    pub id: i64,
    pub tracking_id: String,
}

/// The reporter row of the sender's address, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderFacts {
    pub reporter_id: i64,
    /// The key pinned to the sender's address.
    pub pinned_key: Option<String>,
}

/// The report a mail's thread references (tracking id or Message-ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedReport {
    pub report: ReportRef,
    pub reporter_id: Option<i64>,
    /// The key pinned to that report's reporter.
    pub reporter_key: Option<String>,
}

/// What the store knows about one message, read before any rule is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Already stored: the same (mailbox, UIDVALIDITY, UID) or the same raw bytes.
    pub known: bool,
    /// The same Message-ID from the same sender is stored.
    pub earlier_delivery: Option<EarlierDelivery>,
    pub sender: Option<SenderFacts>,
    pub referenced: Option<ReferencedReport>,
    /// The next free sequence number in the year the message was received.
    pub next_seq: i64,
    /// An earlier report by a different reporter with the same body or a
    /// similar fingerprint (its tracking id).
    pub similar_report: Option<String>,
    /// Acks queued to this sender in the last hour (counted up to the limit).
    pub acks_to_sender_last_hour: i64,
    /// The global limit's recent ack slots, per share of the budget.
    pub ack_slots: AckSlots,
    /// For a mail that claims to come from the team (issue 12).
    pub team: Option<TeamFacts>,
}

/// Which share of the global ack budget an ack draws on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AckClass {
    /// `global_per_hour - reserved_authenticated_per_hour`: anyone.
    #[default]
    Open,
    /// `reserved_authenticated_per_hour`: only authenticated senders.
    Authenticated,
}

impl AckClass {
    /// The `outbox.ack_class` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            AckClass::Open => "open",
            AckClass::Authenticated => "authenticated",
        }
    }
}

/// The slots (send times) of one class's acks, as far as the global limit
/// needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassSlots {
    /// The class budget's n-th latest slot inside the window ending at the
    /// mail's receipt (and after it): `None` while the window has room.
    pub nth_latest: Option<DateTime<Utc>>,
    /// The class's latest slot: a new ack never goes before it (FIFO).
    pub latest: Option<DateTime<Utc>>,
}

/// Slots per class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckSlots {
    pub open: ClassSlots,
    pub authenticated: ClassSlots,
}

/// A stored message with the same Message-ID and sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierDelivery {
    /// The report it belongs to, if any.
    pub report: Option<ReportRef>,
    /// Its content digest equals this mail's: a real second delivery. A
    /// different content under a known Message-ID is a forgery or an edit
    /// and is never filed as a duplicate.
    pub same_content: bool,
}

/// Pin this key to the sender's reporter row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPin {
    pub fingerprint: String,
    pub armored: String,
    pub source: KeySource,
}

/// Send the ack, or withhold it with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckPlan {
    Send {
        /// The folder the team's copy is APPENDed to (`None`: no APPEND).
        copy_folder: Option<String>,
        /// The reporter's References plus their Message-ID (threading).
        references: Vec<String>,
        /// The share of the global budget it draws on.
        class: AckClass,
        /// Past the global limit: queued, sent at this time (never dropped).
        delay_until: Option<DateTime<Utc>>,
    },
    Withhold {
        reason: String,
    },
}

/// A new report to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReportPlan {
    pub year: i32,
    pub seq: i64,
    pub tracking_id: String,
    pub duplicate_of: Option<String>,
    /// The report the mail referenced although it does not belong to it.
    pub references_report: Option<String>,
    /// Reasons for review; the report is flagged when there is any.
    pub review: Vec<String>,
    pub ack: AckPlan,
    /// Alert the team at this address (critical report).
    pub alert_to: Option<String>,
}

/// What to do with a mail that is neither known nor quarantined/ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailPlan {
    /// Store it as a duplicate delivery (of this report, if any); nothing else.
    DuplicateDelivery { report: Option<ReportRef> },
    /// Store it as a message of an existing report.
    FollowUp {
        report: ReportRef,
        pin: Option<KeyPin>,
        /// Keys offered without proof; kept for the team, never used.
        candidates: Vec<KeyPin>,
        /// The reporter's credit answer to record on the report.
        credit: Option<Credit>,
        /// Each reason flags the report for review.
        review: Vec<String>,
    },
    NewReport {
        pin: Option<KeyPin>,
        candidates: Vec<KeyPin>,
        report: Box<NewReportPlan>,
    },
    /// A mail that claims to come from the team (issue 12).
    Team(TeamPlan),
}

/// The writes for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Already stored: write nothing.
    Known,
    Quarantine {
        reason: String,
    },
    Ignore {
        reason: String,
    },
    Mail(MailPlan),
}

/// Apply every ingest rule to one prepared message.
pub fn decide(prepared: &Prepared, facts: &Facts, policy: &IngestPolicy) -> Plan {
    if facts.known {
        return Plan::Known;
    }
    match &prepared.kind {
        PreparedKind::Quarantine { reason, .. } => Plan::Quarantine {
            reason: reason.clone(),
        },
        PreparedKind::Ignore { reason, .. } => Plan::Ignore {
            reason: reason.clone(),
        },
        PreparedKind::Mail(mail) => Plan::Mail(decide_mail(prepared, mail, facts, policy)),
    }
}

fn decide_mail(
    prepared: &Prepared,
    mail: &PreparedMail,
    facts: &Facts,
    policy: &IngestPolicy,
) -> MailPlan {
    let mut review = Vec::new();
    if let Some(earlier) = &facts.earlier_delivery {
        // Duplicate delivery: the same Message-ID from the same sender with the same content.
        if earlier.same_content {
            return MailPlan::DuplicateDelivery {
                report: earlier.report.clone(),
            };
        }
        review.push(
            "reuses the Message-ID of an earlier message from this address with different content"
                .to_string(),
        );
    }
    if let Some(claim) = &mail.team {
        // NOTE: a team claim never becomes a report or a follow-up: a forged
        // team mail must not open a report the team would answer.
        return MailPlan::Team(team::decide_team(prepared, mail, claim, facts, policy));
    }
    let from = mail.headers.from_address.as_deref().unwrap_or_default();
    let pinned = facts.sender.as_ref().and_then(|s| s.pinned_key.as_deref());
    let keys = decide_keys(mail, from, pinned);
    review.extend(keys.review);

    let mut references_report = None;
    if let Some(referenced) = &facts.referenced {
        match binding(mail, facts, referenced) {
            Binding::Bound { may_change, why } => {
                review.extend(why);
                return MailPlan::FollowUp {
                    report: referenced.report.clone(),
                    pin: keys.pin.filter(|_| may_change),
                    candidates: keys.candidates,
                    credit: mail.credit.clone().filter(|_| may_change),
                    review,
                };
            }
            Binding::Unbound => {}
        }
        review.push(format!(
            "references {} but comes from a different sender",
            referenced.report.tracking_id
        ));
        references_report = Some(referenced.report.tracking_id.clone());
    }

    let year = prepared.received_at.year();
    let report = Box::new(NewReportPlan {
        year,
        seq: facts.next_seq,
        tracking_id: format_tracking_id(&policy.tracking_prefix, year, facts.next_seq),
        duplicate_of: facts.similar_report.clone(),
        references_report,
        review,
        ack: decide_ack(prepared, mail, facts, policy),
        alert_to: policy
            .team_address
            .clone()
            .filter(|_| mail.classification.critical),
    });
    MailPlan::NewReport {
        pin: keys.pin,
        candidates: keys.candidates,
        report,
    }
}

/// Whether a mail that references a report joins it, and whether it may
/// change it.
#[derive(Debug, PartialEq, Eq)]
enum Binding {
    /// It joins as a message of the report. `may_change`: its credit answer
    /// and key may be written; otherwise `why` says why not (flags review).
    Bound {
        may_change: bool,
        why: Option<String>,
    },
    /// It is not the reporter's: a new report that references the old one.
    Unbound,
}

/// A referenced report takes the mail when the sender is its reporter:
/// a good signature by the reporter's pinned key (a key the store holds,
/// never one the mail brought), or the reporter's address. Once the reporter
/// has a pinned key, only a mail signed by it may change the report; an
/// unpinned reporter's mail may, unless the receiving server says DKIM/DMARC
/// failed for the From domain.
fn binding(mail: &PreparedMail, facts: &Facts, referenced: &ReferencedReport) -> Binding {
    let signed_by_pinned = mail.signature == Signature::Good
        && !mail.signer_offered
        && referenced.reporter_key.is_some()
        && referenced.reporter_key == mail.signer_fingerprint;
    if signed_by_pinned {
        return Binding::Bound {
            may_change: true,
            why: None,
        };
    }
    let same_address = referenced.reporter_id.is_some()
        && referenced.reporter_id == facts.sender.as_ref().map(|s| s.reporter_id);
    if !same_address {
        return Binding::Unbound;
    }
    if let Some(key) = &referenced.reporter_key {
        return Binding::Bound {
            may_change: false,
            why: Some(format!(
                "follow-up to {} not signed by the reporter's pinned key {key}: stored, nothing changed",
                referenced.report.tracking_id
            )),
        };
    }
    if mail.sender_auth == SenderAuth::Fail {
        return Binding::Bound {
            may_change: false,
            why: Some(format!(
                "follow-up to {}: the receiving server reports DKIM/DMARC failure for the From domain: stored, nothing changed",
                referenced.report.tracking_id
            )),
        };
    }
    Binding::Bound {
        may_change: true,
        why: None,
    }
}

/// What to do with the keys a mail offers for its sender.
#[derive(Debug, Default)]
struct KeyDecision {
    pin: Option<KeyPin>,
    candidates: Vec<KeyPin>,
    review: Vec<String>,
}

/// A key is pinned only from a mail signed (over all of its content) by
/// that very key, to an address that has none, and not when the receiving
/// server says DKIM/DMARC failed for the From domain. Every other offered
/// key is a candidate: kept for the team, never used to encrypt or verify.
/// A different key offered or signed with later is a reason for review.
fn decide_keys(mail: &PreparedMail, from: &str, pinned: Option<&str>) -> KeyDecision {
    let mut offered: Vec<KeyPin> = mail
        .discovered_keys
        .iter()
        .filter(|k| k.addresses.iter().any(|a| a.eq_ignore_ascii_case(from)))
        .map(|k| KeyPin {
            fingerprint: k.fingerprint.clone(),
            armored: k.armored.clone(),
            source: k.source,
        })
        .collect();
    offered.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    let Some(pinned) = pinned else {
        let proven = |k: &KeyPin| {
            mail.signature == Signature::Good
                && mail.signer_offered
                && mail.signer_fingerprint.as_deref() == Some(k.fingerprint.as_str())
                && mail.sender_auth != SenderAuth::Fail
        };
        let (proven, candidates): (Vec<_>, Vec<_>) = offered.into_iter().partition(proven);
        return KeyDecision {
            pin: proven.into_iter().next(),
            candidates,
            review: Vec::new(),
        };
    };
    let candidates: Vec<KeyPin> = offered
        .into_iter()
        .filter(|k| k.fingerprint != pinned)
        .collect();
    let mut review: Vec<String> = candidates
        .iter()
        .map(|k| {
            format!(
                "reporter offered a different key {} via {} (pinned {pinned})",
                k.fingerprint, k.source
            )
        })
        .collect();
    if let Some(signer) = &mail.signer_fingerprint {
        if mail.signature == Signature::Good
            && signer != pinned
            && !candidates.iter().any(|k| &k.fingerprint == signer)
        {
            review.push(format!("signed with {signer}, not the pinned key {pinned}"));
        }
    }
    KeyDecision {
        pin: None,
        candidates,
        review,
    }
}

/// Ack a new report unless the source, the loop guard or a rate limit says no.
fn decide_ack(
    prepared: &Prepared,
    mail: &PreparedMail,
    facts: &Facts,
    policy: &IngestPolicy,
) -> AckPlan {
    let withhold = |reason: String| AckPlan::Withhold { reason };
    if !policy.send_acks {
        return withhold("acks disabled for this source".into());
    }
    match &mail.verdict {
        Verdict::NoReply(reason) | Verdict::Ignore(reason) => return withhold(reason.clone()),
        Verdict::Reply => {}
    }
    if facts.acks_to_sender_last_hour >= i64::from(policy.per_sender_per_hour) {
        return withhold(format!(
            "rate limit: {} acks to this sender in the last hour",
            facts.acks_to_sender_last_hour
        ));
    }
    let (class, delay_until) = global_slot(prepared.received_at, mail, facts, policy);
    let copy_folder = if policy.append_copies {
        policy.copy_folder.clone().or_else(|| {
            prepared
                .source
                .imap()
                .map(|(mailbox, _, _)| mailbox.to_string())
        })
    } else {
        None
    };
    let mut references = mail.headers.references.clone();
    references.extend(mail.headers.message_id.clone());
    AckPlan::Send {
        copy_folder,
        references,
        class,
        delay_until,
    }
}

/// Budgets per class: (open, authenticated).
pub fn class_budgets(policy: &IngestPolicy) -> (u32, u32) {
    let reserved = policy
        .reserved_authenticated_per_hour
        .min(policy.global_per_hour.saturating_sub(1));
    (policy.global_per_hour - reserved, reserved)
}

/// Is the sender authenticated for the reserved share: a good signature by
/// the key pinned to their address, or DKIM/DMARC pass for the From domain
/// from the trusted receiving server. (Forged senders have neither; a
/// rotating attacker with a DKIM-signing domain of their own is limited to
/// the reserved share.)
fn authenticated(mail: &PreparedMail, facts: &Facts) -> bool {
    let pinned = facts.sender.as_ref().and_then(|s| s.pinned_key.as_deref());
    let signed_by_pinned = mail.signature == Signature::Good
        && !mail.signer_offered
        && pinned.is_some()
        && pinned == mail.signer_fingerprint.as_deref();
    signed_by_pinned || mail.sender_auth == SenderAuth::Pass
}

/// The global circuit breaker DELAYS, never drops: an ack goes out now
/// while its class's window has room, else at the earliest slot that keeps
/// every window within the class budget, after every ack of its class
/// already queued (FIFO). An authenticated sender's ack takes a free open
/// slot first, else the reserved share, so forged senders filling the open
/// share (rotating addresses past the per-sender limit) cannot starve it.
fn global_slot(
    at: DateTime<Utc>,
    mail: &PreparedMail,
    facts: &Facts,
    policy: &IngestPolicy,
) -> (AckClass, Option<DateTime<Utc>>) {
    let window = chrono::Duration::seconds(i64::from(policy.global_window_secs));
    let slot = |s: &ClassSlots| {
        let base = s.nth_latest.map_or(at, |n| n + window);
        let slot = base.max(s.latest.unwrap_or(at)).max(at);
        (slot > at).then_some(slot)
    };
    let open = slot(&facts.ack_slots.open);
    let (_, reserved) = class_budgets(policy);
    if open.is_none() || reserved == 0 || !authenticated(mail, facts) {
        return (AckClass::Open, open);
    }
    (
        AckClass::Authenticated,
        slot(&facts.ack_slots.authenticated),
    )
}

#[cfg(test)]
mod tests;

//! The rules of ingest in one pure function: given a prepared message, the
//! facts the store holds about it ([`Facts`], read in one go by
//! `store::ingest`), and the [`IngestPolicy`], [`decide`] returns the
//! [`Plan`] that `store::ingest` writes in ONE transaction.
//!
//! Every "who may do what to a report" rule lives here and nowhere else:
//! already known or a duplicate delivery, follow-up binding (a reply joins a
//! report only from its reporter's address or pinned key), first-seen key
//! pinning and key-change review flags, the tracking id of a new report,
//! ack or withhold (loop guard, per-sender and global rate limits), the
//! team alert for critical reports, and credit writes. No I/O, no clock.

use chrono::Datelike;

use crate::loopguard::Verdict;
use crate::model::{IngestPolicy, KeySource, Prepared, PreparedKind, PreparedMail, Signature};
use crate::threading::format_tracking_id;
use crate::triage::Credit;

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
    /// The same Message-ID from the same sender is stored: `Some(report it
    /// belongs to, if any)`.
    pub earlier_delivery: Option<Option<ReportRef>>,
    pub sender: Option<SenderFacts>,
    pub referenced: Option<ReferencedReport>,
    /// The next free sequence number in the year the message was received.
    pub next_seq: i64,
    /// An earlier report by a different reporter with the same body or a
    /// similar fingerprint (its tracking id).
    pub similar_report: Option<String>,
    /// Acks queued to this sender in the last hour (counted up to the limit).
    pub acks_to_sender_last_hour: i64,
    /// Acks queued to anyone in the last hour.
    pub acks_last_hour: i64,
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
        /// The reporter's credit answer to record on the report.
        credit: Option<Credit>,
        /// Each reason flags the report for review.
        review: Vec<String>,
    },
    NewReport {
        pin: Option<KeyPin>,
        report: Box<NewReportPlan>,
    },
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
    // Duplicate delivery: the same Message-ID from the same sender is the same mail.
    if let Some(report) = &facts.earlier_delivery {
        return MailPlan::DuplicateDelivery {
            report: report.clone(),
        };
    }
    let from = mail.headers.from_address.as_deref().unwrap_or_default();
    let pinned = facts.sender.as_ref().and_then(|s| s.pinned_key.as_deref());
    let (pin, mut review) = decide_keys(mail, from, pinned);

    let mut references_report = None;
    if let Some(referenced) = &facts.referenced {
        if belongs_to_reporter(mail, facts, referenced) {
            return MailPlan::FollowUp {
                report: referenced.report.clone(),
                pin,
                credit: mail.credit.clone(),
                review,
            };
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
    MailPlan::NewReport { pin, report }
}

/// A referenced report takes the mail when the sender is its reporter: the
/// same address, or a good signature by the reporter's pinned key.
fn belongs_to_reporter(mail: &PreparedMail, facts: &Facts, referenced: &ReferencedReport) -> bool {
    let same_address = referenced.reporter_id.is_some()
        && referenced.reporter_id == facts.sender.as_ref().map(|s| s.reporter_id);
    let same_key = mail.signature == Signature::Good
        && referenced.reporter_key.is_some()
        && referenced.reporter_key == mail.signer_fingerprint;
    same_address || same_key
}

/// First seen key for the sender's address is pinned; a different key
/// offered or signed with later is a reason for review.
fn decide_keys(
    mail: &PreparedMail,
    from: &str,
    pinned: Option<&str>,
) -> (Option<KeyPin>, Vec<String>) {
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
        return (offered.into_iter().next(), Vec::new());
    };
    let mut review: Vec<String> = offered
        .iter()
        .filter(|k| k.fingerprint != pinned)
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
            && !offered.iter().any(|k| &k.fingerprint == signer)
        {
            review.push(format!("signed with {signer}, not the pinned key {pinned}"));
        }
    }
    (None, review)
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
    if facts.acks_last_hour >= i64::from(policy.global_per_hour) {
        return withhold(format!(
            "global rate limit: {} acks in the last hour",
            facts.acks_last_hour
        ));
    }
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
    }
}

#[cfg(test)]
mod tests;

//! The rules of team mail (issue 12): a mail From a member address or
//! signed by a member key is team mail only with a good signature, over the
//! whole content, by that member's key (verified with the configured member
//! certs, never a key the mail brings), made within
//! `team.max_signature_age_days`, with a Message-ID not seen before, on a
//! report that exists. Anything else is stored, flagged, audited, relayed
//! to nobody, and the member (at their configured address, never the From
//! header) gets a short notice. Pure: no I/O, no clock.

use chrono::Duration;

use super::{Facts, ReportRef};
use crate::model::{IngestPolicy, Prepared, PreparedMail, Signature, TeamClaim, TeamMember};
use crate::team::QuickAction;

/// What the store knows about a team mail's report and Message-ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamFacts {
    /// A message with this Message-ID is already stored (from anyone).
    pub message_id_seen: bool,
    pub report: Option<TeamReportFacts>,
    /// The `/duplicate` targets that exist.
    pub existing_targets: Vec<String>,
}

/// The report a team mail is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamReportFacts {
    pub report: ReportRef,
    pub encrypted: bool,
    pub reporter_address: Option<String>,
    /// The reporter's pinned key (fingerprint).
    pub reporter_key: Option<String>,
    /// The reporter offered a different key than the pinned one (a key
    /// change under review): replies wait for the team to decide.
    pub key_changed: bool,
    /// The Message-ID of the report's first mail (threading).
    pub thread_message_id: Option<String>,
}

/// A reply to relay to the reporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPlan {
    pub recipient: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The report came encrypted and the reporter has no pinned key: keep
    /// the row as `needs_key`, send nothing.
    pub needs_key: bool,
}

/// What an authenticated team mail does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamWork {
    pub member: TeamMember,
    pub report: ReportRef,
    pub actions: Vec<QuickAction>,
    /// An internal note: stored on the report, never sent.
    pub note: bool,
    pub reply: Option<ReplyPlan>,
    /// Set `assessed_at` if it is empty (the first reply that is not a note).
    pub assess: bool,
    /// Tell the member this (e.g. why the reply waits for a key).
    pub notice: Option<String>,
    /// Keep no text of this mail in clear (the report or the mail was encrypted).
    pub hide_text: bool,
}

/// The writes of a team mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamPlan {
    Accepted(Box<TeamWork>),
    /// Stored and flagged with the reasons; nothing relayed, nothing changed.
    Rejected {
        report: Option<ReportRef>,
        reasons: Vec<String>,
        /// The configured address of the member the mail claims or is signed by.
        notify: Option<String>,
        hide_text: bool,
    },
}

/// Apply the team-mail rules to a mail that claims to come from the team.
pub(super) fn decide_team(
    prepared: &Prepared,
    mail: &PreparedMail,
    claim: &TeamClaim,
    facts: &Facts,
    policy: &IngestPolicy,
) -> TeamPlan {
    let tf = facts.team.clone().unwrap_or_default();
    let report = tf.report.as_ref();
    let hide_text = mail.encrypted || report.is_none_or(|r| r.encrypted);
    let notify = claim
        .by_address
        .as_ref()
        .or(claim.by_key.as_ref())
        .map(|m| m.address.clone());
    let reject = |reasons: Vec<String>| TeamPlan::Rejected {
        report: report.map(|r| r.report.clone()),
        reasons,
        notify: notify.clone(),
        hide_text,
    };
    let member = match authenticated(mail, claim) {
        Ok(m) => m,
        Err(reason) => return reject(vec![reason]),
    };
    let mut reasons = Vec::new();
    if tf.message_id_seen {
        reasons.push("replay: a message with this Message-ID is already stored".to_string());
    }
    let window = Duration::days(i64::from(policy.team_max_signature_age_days));
    match claim.signed_at {
        Some(at) if at >= prepared.received_at - window => {}
        _ => reasons.push(format!(
            "replay: the signature is older than team.max_signature_age_days ({} days)",
            policy.team_max_signature_age_days
        )),
    }
    let Some(report) = report else {
        reasons.push("references no known report (tracking id or thread)".into());
        return reject(reasons);
    };
    reasons.extend(claim.commands.errors.iter().cloned());
    for action in &claim.commands.actions {
        if let QuickAction::Duplicate(target) = action {
            if !tf.existing_targets.contains(target) || *target == report.report.tracking_id {
                reasons.push(format!("/duplicate {target}: no such other report"));
            }
        }
    }
    let note = claim.note_address || claim.commands.note;
    let replies = !note && !claim.commands.body.trim().is_empty();
    if replies && report.key_changed {
        reasons.push(format!(
            "the reporter of {} offered a different key than the pinned one: review it (reports key) before replying",
            report.report.tracking_id
        ));
    }
    let reply = if replies { reply_plan(report) } else { None };
    if replies && reply.is_none() {
        reasons.push(format!(
            "{} has no reporter address to reply to",
            report.report.tracking_id
        ));
    }
    if !reasons.is_empty() {
        return reject(reasons);
    }
    let notice = reply.as_ref().filter(|r| r.needs_key).map(|_| {
        format!(
            "your reply to {} is kept, not sent: the report came encrypted and the reporter has no pinned key (pin one with `reports key pin`)",
            report.report.tracking_id
        )
    });
    TeamPlan::Accepted(Box::new(TeamWork {
        member,
        report: report.report.clone(),
        actions: claim.commands.actions.clone(),
        note,
        assess: reply.is_some(),
        reply,
        notice,
        hide_text,
    }))
}

/// The member whose key made a good signature over the whole mail (a key
/// the store trusts, never one the mail offered), and, when the From is a
/// member address, that very member.
fn authenticated(mail: &PreparedMail, claim: &TeamClaim) -> Result<TeamMember, String> {
    let signer = match (&mail.signature, &claim.by_key) {
        (Signature::Good, Some(m)) if !mail.signer_offered => m,
        (Signature::Good, _) => {
            return Err("team mail not signed by a configured team member key".into())
        }
        (Signature::None, _) => {
            return Err("team mail is not signed (a From address alone is never enough)".into())
        }
        (Signature::Bad, _) => return Err("team mail has a bad signature".into()),
        (Signature::UnknownKey, _) => {
            return Err("team mail is signed by a key that is not a team member's".into())
        }
    };
    if let Some(claimed) = &claim.by_address {
        if claimed.fingerprint != signer.fingerprint {
            return Err(format!(
                "From {} but signed by the key of team member {}",
                claimed.address, signer.name
            ));
        }
    }
    Ok(signer.clone())
}

/// Where a reply goes: to the reporter, in their thread; `None` when the
/// report has no reporter address. Shared with `reports reply`.
pub fn reply_plan(report: &TeamReportFacts) -> Option<ReplyPlan> {
    let recipient = report.reporter_address.clone()?;
    Some(ReplyPlan {
        recipient,
        in_reply_to: report.thread_message_id.clone(),
        references: report.thread_message_id.iter().cloned().collect(),
        needs_key: report.encrypted && report.reporter_key.is_none(),
    })
}

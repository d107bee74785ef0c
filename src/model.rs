//! The domain values that flow between the pipeline stages: what the pure
//! pipeline makes of one message ([`Prepared`]), where it came from
//! ([`SourceRef`]), the settings of the ingest step ([`IngestPolicy`]), what
//! ingest did ([`IngestResult`]), and the closed sets of states that the
//! store keeps in text columns.
//!
//! No I/O and no behaviour beyond naming: each enum's [`as_str`](Signature::as_str)
//! is the exact text of its SQL column, and `store` maps them to and from
//! SQLite in one place (`store/columns.rs`). Pure modules import these types
//! from here, never from `store`.

use chrono::{DateTime, Utc};

use crate::loopguard::Verdict;
use crate::parse::{Attachment, Headers};
use crate::threading::ThreadRefs;
use crate::triage::{Classification, Credit, Fingerprint};

/// A closed set of states stored as text: the column value is [`Self::as_str`],
/// and [`Self::parse`] reads it back (`None` for a value this binary does not know).
pub trait Column: Sized + Copy + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// The text stored in the column.
    fn as_str(self) -> &'static str;
    /// The value whose column text is `text`.
    fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == text)
    }
}

/// Declares a [`Column`] enum: variants with their column texts.
macro_rules! column_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl Column for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $name {
            /// The text stored in the column (see [`Column`]).
            pub fn as_str(self) -> &'static str {
                <Self as Column>::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // NOTE: pad, so table output can align these with `{:<8}`.
                f.pad(self.as_str())
            }
        }
    };
}

column_enum! {
    /// The outcome of checking a mail's OpenPGP signatures (`messages.signature`).
    Signature {
        /// Not signed.
        None => "none",
        /// Verified by a known key.
        Good => "good",
        /// A signature that does not verify.
        Bad => "bad",
        /// Signed by a key we do not have.
        UnknownKey => "unknown_key",
    }
}

column_enum! {
    /// Where a reporter's key came from (`reporters.key_source`).
    KeySource {
        /// A public key attached to the mail.
        Attachment => "attachment",
        /// An `Autocrypt:` header.
        Autocrypt => "autocrypt",
        /// Pinned by the operator (`reports key pin`).
        Operator => "operator",
    }
}

/// What the receiving server's `Authentication-Results` (RFC 8601, only
/// headers with the configured `authserv-id`) say about the From domain.
/// A signal, not proof: it vouches for the domain, not for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderAuth {
    /// DMARC or an aligned DKIM signature passed for the From domain.
    Pass,
    /// DMARC or DKIM failed for the From domain.
    Fail,
    /// No trusted result (no header, other authserv-id, or none configured).
    #[default]
    Unknown,
}

column_enum! {
    /// What ingest made of a stored message (`messages.status`).
    MessageStatus {
        /// The first mail of a report.
        Report => "report",
        /// A follow-up bound to an existing report.
        FollowUp => "followup",
        /// The same mail delivered again.
        Duplicate => "duplicate",
        /// Not a report (bounce, auto-reply, our own mail).
        Ignored => "ignored",
        /// Could not be opened or parsed; kept with its reason.
        Quarantined => "quarantined",
        /// A team member's signed mail on a report (reply, note, quick actions; issue 12).
        Team => "team",
    }
}

column_enum! {
    /// What an outbox row is (`outbox.kind`).
    OutboxKind {
        /// The acknowledgement to the reporter.
        Ack => "ack",
        /// A neutral notice.
        Notice => "notice",
        /// A critical-report alert to the team.
        Alert => "alert",
        /// An assessment deadline warning to the team.
        Deadline => "deadline",
        /// Milestone mail to the reporter: the report was triaged (issue 14).
        MilestoneTriaged => "milestone_triaged",
        /// Milestone mail to the reporter: a fix is in progress.
        MilestoneFixing => "milestone_fixing",
        /// Milestone mail to the reporter: fixed.
        MilestoneFixed => "milestone_fixed",
        /// Publish notice to a credited reporter, with the advisory link.
        AdvisoryPublished => "advisory_published",
        /// Reminder to the team: a disclosure date is near.
        DisclosureReminder => "disclosure_reminder",
        /// A team member's reply relayed to the reporter (issue 12).
        TeamReply => "team_reply",
        /// A short notice to a team member about their mail (issue 12).
        TeamNotice => "team_notice",
        /// A templated notice to the reporter: their report's status changed
        /// to one listed in `team.status_notices` (issue 12).
        StatusNotice => "status_notice",
    }
}

column_enum! {
    /// Where an outbox row is in its life (`outbox.status`):
    /// queued → sending (bytes fixed) → sent, or failed.
    OutboxStatus {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        /// A team reply to an encrypted report whose reporter has no pinned
        /// key: never sent in clear, kept until a key is pinned (issue 12).
        NeedsKey => "needs_key",
    }
}

/// The statuses a report can have (`reports.status`).
pub const REPORT_STATUSES: &[&str] = &[
    "new",
    "triaging",
    "accepted",
    "fixed",
    "disclosed",
    "rejected",
    "duplicate",
];

/// A configured team member (issue 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub name: String,
    /// Lowercase configured address: notices go here, never to a From header.
    pub address: String,
    /// Primary fingerprint of the member's certificate, uppercase hex.
    pub fingerprint: String,
}

/// What the pipeline found that makes a mail claim to come from the team:
/// its From is a member address, or a signature names a member key. Only
/// `decide` says whether the claim holds (a good signature by that member's
/// key over the whole content, fresh, not replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamClaim {
    /// The member whose address is the From address.
    pub by_address: Option<TeamMember>,
    /// The member whose key made the mail's (good or bad) signature.
    pub by_key: Option<TeamMember>,
    /// When the oldest good signature in the mail was made.
    pub signed_at: Option<DateTime<Utc>>,
    /// Sent to the `+note` sub-address.
    pub note_address: bool,
    pub commands: crate::team::Commands,
    /// `commands.body` sealed to the team key (`None` without a team key).
    pub sealed_body: Option<String>,
}

/// Lowercase hex SHA-256 of `bytes` (raw mail, bodies, attachments).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    Imap {
        mailbox: String,
        uidvalidity: u32,
        uid: u32,
    },
    Ingest,
    Import,
}

impl SourceRef {
    /// The text of `messages.source`.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceRef::Imap { .. } => "imap",
            SourceRef::Ingest => "ingest",
            SourceRef::Import => "import",
        }
    }

    /// (mailbox, UIDVALIDITY, UID) of an IMAP message.
    pub fn imap(&self) -> Option<(&str, u32, u32)> {
        match self {
            SourceRef::Imap {
                mailbox,
                uidvalidity,
                uid,
            } => Some((mailbox, *uidvalidity, *uid)),
            _ => None,
        }
    }
}

/// Everything derived from one message without the database.
#[derive(Debug)]
pub struct Prepared {
    pub raw: Vec<u8>,
    pub sha256: String,
    pub source: SourceRef,
    pub received_at: DateTime<Utc>,
    pub kind: PreparedKind,
}

#[derive(Debug)]
pub enum PreparedKind {
    /// Could not be opened or parsed: keep it with the reason.
    Quarantine {
        reason: String,
        message_id: Option<String>,
        from_address: Option<String>,
    },
    /// Not a report (bounce, auto-reply, our own mail).
    Ignore {
        reason: String,
        headers: Box<Headers>,
    },
    Mail(Box<PreparedMail>),
}

/// A public key a mail offers for its sender (attached or in `Autocrypt:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedKey {
    /// Primary fingerprint, uppercase hex.
    pub fingerprint: String,
    /// Lowercase addresses the key names.
    pub addresses: Vec<String>,
    /// ASCII-armored public cert.
    pub armored: String,
    pub source: KeySource,
}

/// A parsed, opened and classified message.
#[derive(Debug)]
pub struct PreparedMail {
    pub headers: Headers,
    /// The report's text; stored only when the message was not encrypted.
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub encrypted: bool,
    pub signature: Signature,
    /// The verifying key of a good signature, or the key of a bad one when known.
    pub signer_fingerprint: Option<String>,
    /// The good signature is by a key the mail itself offered, not by one
    /// the store trusts (see `open::Opened::signed_by_offered_key`).
    pub signer_offered: bool,
    /// The receiving server's verdict on the From domain.
    pub sender_auth: SenderAuth,
    /// Keyed digest of the mail's content (its normalised text and
    /// attachments): the same mail delivered twice has the same one.
    pub content_digest: String,
    /// For an encrypted report: label evidence, signals and the CVSS vector,
    /// sealed to the team key (the clear copies are emptied).
    pub sealed_details: Option<String>,
    pub discovered_keys: Vec<OfferedKey>,
    pub classification: Classification,
    pub fingerprint: Fingerprint,
    pub body_sha256: String,
    pub credit: Option<Credit>,
    pub verdict: Verdict,
    pub refs: ThreadRefs,
    pub ack_due: DateTime<Utc>,
    pub assessment_due: DateTime<Utc>,
    /// The mail claims to come from the team (issue 12).
    pub team: Option<TeamClaim>,
}

/// Settings that shape the ingest step.
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    pub tracking_prefix: String,
    pub message_id_domain: String,
    /// Where the ack copy goes; `None` = the message's own folder (or none for offline ingest).
    pub copy_folder: Option<String>,
    /// False when copies travel as an SMTP envelope recipient (no APPEND).
    pub append_copies: bool,
    pub team_address: Option<String>,
    pub per_sender_per_hour: u32,
    pub global_per_hour: u32,
    /// Of `global_per_hour`, acks only authenticated senders may use.
    pub reserved_authenticated_per_hour: u32,
    /// The window of the global limit, in seconds (3600 but in tests).
    pub global_window_secs: u32,
    /// False for historical imports: store, but never reply.
    pub send_acks: bool,
    /// A signed team mail older than this many days is a replay (issue 12).
    pub team_max_signature_age_days: u32,
    /// Report statuses the reporter hears about (`team.status_notices`).
    pub status_notices: Vec<String>,
}

/// What ingest did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestResult {
    /// Already stored (same UID, same bytes, or same Message-ID from the same sender).
    Known,
    Quarantined {
        message_row: i64,
    },
    Ignored {
        message_row: i64,
    },
    Duplicate {
        message_row: i64,
        tracking_id: String,
    },
    NewReport {
        message_row: i64,
        tracking_id: String,
        ack: Option<i64>,
    },
    FollowUp {
        message_row: i64,
        tracking_id: String,
    },
    /// A team member's mail, accepted (issue 12).
    Team {
        message_row: i64,
        tracking_id: String,
    },
}

impl IngestResult {
    /// The status of the stored message row (`None` when nothing was stored).
    pub fn status(&self) -> Option<MessageStatus> {
        Some(match self {
            IngestResult::Known => return None,
            IngestResult::Quarantined { .. } => MessageStatus::Quarantined,
            IngestResult::Ignored { .. } => MessageStatus::Ignored,
            IngestResult::Duplicate { .. } => MessageStatus::Duplicate,
            IngestResult::NewReport { .. } => MessageStatus::Report,
            IngestResult::FollowUp { .. } => MessageStatus::FollowUp,
            IngestResult::Team { .. } => MessageStatus::Team,
        })
    }

    pub fn message_row(&self) -> Option<i64> {
        match self {
            IngestResult::Known => None,
            IngestResult::Quarantined { message_row }
            | IngestResult::Ignored { message_row }
            | IngestResult::Duplicate { message_row, .. }
            | IngestResult::NewReport { message_row, .. }
            | IngestResult::FollowUp { message_row, .. }
            | IngestResult::Team { message_row, .. } => Some(*message_row),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Column + PartialEq + std::fmt::Debug>() {
        for v in T::ALL {
            assert_eq!(T::parse(v.as_str()), Some(*v));
        }
        assert_eq!(T::parse("no such value"), None);
    }

    #[test]
    fn every_column_value_reads_back() {
        round_trips::<Signature>();
        round_trips::<KeySource>();
        round_trips::<MessageStatus>();
        round_trips::<OutboxKind>();
        round_trips::<OutboxStatus>();
    }

    #[test]
    fn column_texts_match_the_schema() {
        assert_eq!(Signature::UnknownKey.as_str(), "unknown_key");
        assert_eq!(MessageStatus::FollowUp.as_str(), "followup");
        assert_eq!(serde_json::to_string(&Signature::Good).unwrap(), "\"good\"");
        assert_eq!(OutboxKind::Deadline.to_string(), "deadline");
    }
}

//! OpenPGP core of hexon-triage: open incoming mail, seal outgoing mail.
//!
//! `open` takes a raw RFC 5322 message and removes OpenPGP protection:
//! PGP/MIME (`multipart/encrypted`, RFC 3156), inline armored messages (whole
//! body or blocks inside text), encrypted attachments, `multipart/signed` and
//! clear-signed text. It reports the signature status, protected subject,
//! keys found in the mail (attachments, `Autocrypt:`), and which team key
//! decrypted. `seal_pgp_mime`, `sign_pgp_mime` and `clearsign` produce
//! outgoing PGP/MIME and clear-signed text. `TeamKeys` holds the team's keys.
//!
//! The module is pure: bytes in, structs out, CPU only. It does no network
//! I/O and touches the disk only in `TeamKeys::load`.
//!
//! Must not: hand out plaintext before the integrity check (MDC/AEAD) and the
//! signature check have completed; accept ciphertext without integrity
//! protection; choose decryption keys from To/Cc/From; import or return
//! secret keys found in mail; log or put plaintext into errors or `Debug`
//! output; panic on any input (hostile mail is normal input).

mod coverage;
mod keys;
mod mime;
mod pgp;
mod seal;

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use openpgp::Cert;
use sequoia_openpgp as openpgp;

pub use keys::{armor_public, cert_has_address, parse_cert, usable_for_encryption, TeamKeys};
pub use seal::{clearsign, encrypt_armored, seal_pgp_mime, sign_pgp_mime, SealedMime};

use coverage::{combine_coverage, content_parts, outside_is_blank, Cover};
use keys::{cert_addresses, fpr_hex, parse_certs};
use mime::{find_blocks, first_part_range, parse_autocrypt, strip_pgp_suffix, to_crlf, BlockKind};
use pgp::{classify_bytes, process_cleartext, process_message, verify_detached, wipe, PgpKind};

/// How deep PGP/MIME may nest (encrypted inside encrypted).
const MAX_PGP_MIME_NESTING: usize = 3;
/// Longest error text kept in a quarantine reason.
const MAX_REASON_CHARS: usize = 400;

/// Errors of the OpenPGP core. Messages never contain plaintext.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Broken MIME or OpenPGP structure, corrupt packets.
    #[error("cannot parse message: {reason}")]
    Malformed { reason: String },
    /// None of the team keys matches a PKESK recipient (key ids in hex;
    /// "hidden" for wildcard recipients, "password" for SKESKs).
    #[error("cannot decrypt: no team key matches the recipients [{}]", recipients.join(", "))]
    NoDecryptionKey { recipients: Vec<String> },
    /// The MDC or AEAD check failed: the ciphertext was modified.
    #[error(
        "cannot trust decrypted data: integrity check failed (ciphertext modified or corrupted)"
    )]
    IntegrityCheckFailed,
    /// Legacy Symmetrically Encrypted Data packet without MDC.
    #[error("cannot decrypt: message has no integrity protection (SED packet without MDC)")]
    NoIntegrityProtection,
    /// Decrypted data exceeds `OpenLimits::max_decrypted_bytes`.
    #[error("cannot open message: decrypted data exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// More OpenPGP blocks than `OpenLimits::max_armored_blocks`.
    #[error("cannot open message: more than {limit} OpenPGP blocks")]
    TooManyBlocks { limit: usize },
    /// An algorithm or packet version this build does not support.
    #[error("cannot decrypt: unsupported {reason}")]
    Unsupported { reason: String },
    /// A team key file could not be read, parsed or unlocked.
    #[error("cannot load key file {path}: {reason}")]
    BadKeyFile { path: String, reason: String },
    /// A team cert cannot be used (no secrets, cannot unlock).
    #[error("cannot use team key {fingerprint}: {reason}")]
    BadKey { fingerprint: String, reason: String },
    /// A certificate (e.g. a reporter's key) cannot be parsed or armored.
    #[error("cannot parse certificate: {reason}")]
    BadCert { reason: String },
    /// Encryption or signing of outgoing mail failed.
    #[error("cannot seal message: {reason}")]
    Sealing { reason: String },
}

impl OpenError {
    /// Stable snake_case name of the variant.
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::Malformed { .. } => "malformed",
            OpenError::NoDecryptionKey { .. } => "no_decryption_key",
            OpenError::IntegrityCheckFailed => "integrity_check_failed",
            OpenError::NoIntegrityProtection => "no_integrity_protection",
            OpenError::TooLarge { .. } => "too_large",
            OpenError::TooManyBlocks { .. } => "too_many_blocks",
            OpenError::Unsupported { .. } => "unsupported",
            OpenError::BadKeyFile { .. } => "bad_key_file",
            OpenError::BadKey { .. } => "bad_key",
            OpenError::BadCert { .. } => "bad_cert",
            OpenError::Sealing { .. } => "sealing",
        }
    }

    /// One line, bounded, suitable for storing as a quarantine reason:
    /// `openpgp/<code>: <message>`.
    pub fn reason(&self) -> String {
        format!("openpgp/{}: {}", self.code(), one_line(&self.to_string()))
    }
}

/// Collapse whitespace/control characters and bound the length.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_REASON_CHARS));
    let mut last_space = false;
    for c in s.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if out.chars().count() >= MAX_REASON_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// A sequoia (anyhow) error as one bounded line, with its causes.
pub(crate) fn sq_reason<E: std::fmt::Display + ?Sized>(e: &E) -> String {
    one_line(&format!("{e:#}"))
}

/// Summary of one team cert.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    /// Fingerprints of alive, unrevoked keys flagged for encryption.
    pub encryption_subkeys: Vec<String>,
    /// An alive signing key with an unlocked secret exists.
    pub signing_capable: bool,
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Expires within 30 days of `now` (or already expired).
    pub expires_within_30_days: bool,
    /// At least one secret key is available (unlocked).
    pub has_secret: bool,
}

/// Resource limits for `open`, per message.
#[derive(Debug, Clone, Copy)]
pub struct OpenLimits {
    /// Total plaintext bytes that all decryptions/verifications of one mail
    /// may produce. Reading stops as soon as it is exceeded.
    pub max_decrypted_bytes: usize,
    /// OpenPGP objects (PGP/MIME payloads, inline blocks, attachments,
    /// detached signatures) processed per mail.
    pub max_armored_blocks: usize,
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits {
            max_decrypted_bytes: 32 * 1024 * 1024,
            max_armored_blocks: 16,
        }
    }
}

/// Result of signature verification for a mail.
///
/// `Good.fingerprint` and `Bad.fingerprint` are the *primary* fingerprint of
/// the cert whose key made the signature; `UnknownKey.issuer` is the issuer
/// fingerprint of the signing (sub)key (or its key id when the signature
/// carries only that). Several signatures over the same data: one good
/// signature suffices unless another is bad. A signature counts for the
/// mail only when it covers everything the text is read from (the PGP/MIME
/// payload, a root `multipart/signed`, or an inline block that is the whole
/// and only body); among those the weakest wins (Bad > UnknownKey > Good >
/// None); a bad signature anywhere makes the mail Bad; a good one over a
/// part only leaves it None.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    None,
    Good {
        fingerprint: String,
    },
    Bad {
        fingerprint: Option<String>,
        reason: String,
    },
    UnknownKey {
        issuer: String,
    },
}

impl SignatureStatus {
    /// The stored status, without its details.
    pub fn kind(&self) -> crate::model::Signature {
        use crate::model::Signature;
        match self {
            SignatureStatus::None => Signature::None,
            SignatureStatus::Good { .. } => Signature::Good,
            SignatureStatus::Bad { .. } => Signature::Bad,
            SignatureStatus::UnknownKey { .. } => Signature::UnknownKey,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// Where a discovered key came from.
pub use crate::model::KeySource;

/// A public key found in a mail (never with secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiscoveredKey {
    pub source: KeySource,
    /// Primary fingerprint, uppercase hex.
    pub fingerprint: String,
    /// Lowercase emails: the user ids' (attachment) or `addr=` (Autocrypt).
    pub addresses: Vec<String>,
    /// ASCII-armored public cert.
    pub armored: String,
}

/// An opened mail. Holds plaintext in memory only; `Debug` redacts it.
pub struct Opened {
    /// true if any OpenPGP encryption was removed (PGP/MIME, inline block, or
    /// encrypted attachment).
    pub encrypted: bool,
    /// The MIME entity to parse afterwards: for PGP/MIME the decrypted inner
    /// entity; for everything else the original bytes unchanged (left empty
    /// by [`open_with`], whose caller has them).
    pub entity: Vec<u8>,
    /// `entity` is the decrypted inner entity of a PGP/MIME message.
    pub pgp_mime: bool,
    /// For inline PGP: the text body with each armored block replaced by its
    /// decrypted (or verified clear-signed) text. None when no block found.
    pub inline_text: Option<String>,
    /// Decrypted attachments: (name without .asc/.gpg/.pgp, cleartext).
    pub decrypted_attachments: Vec<(String, Vec<u8>)>,
    pub signature: SignatureStatus,
    /// Encrypted Subject from protected headers (inner entity headers or a
    /// `text/rfc822-headers` legacy-display part).
    pub protected_subject: Option<String>,
    pub discovered_keys: Vec<DiscoveredKey>,
    /// The good signature was made by a key the mail itself offered
    /// (attachment or `Autocrypt:`), not by one the caller trusts: it shows
    /// the sender holds that key, never who the sender is.
    pub signed_by_offered_key: bool,
    /// Fingerprint of the team (sub)key that decrypted it.
    pub decrypted_with: Option<String>,
    /// When the oldest good signature in the mail was made (issue 12: team
    /// mail older than `team.max_signature_age_days` is a replay).
    pub oldest_good_signature: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("encrypted", &self.encrypted)
            .field("pgp_mime", &self.pgp_mime)
            .field(
                "entity",
                &format_args!("<{} bytes redacted>", self.entity.len()),
            )
            .field(
                "inline_text",
                &self
                    .inline_text
                    .as_ref()
                    .map(|t| format!("<{} bytes redacted>", t.len())),
            )
            .field(
                "decrypted_attachments",
                &self
                    .decrypted_attachments
                    .iter()
                    .map(|(_, d)| format!("<name and {} bytes redacted>", d.len()))
                    .collect::<Vec<_>>(),
            )
            .field("signature", &self.signature)
            .field(
                "protected_subject",
                &self.protected_subject.as_ref().map(|_| "<redacted>"),
            )
            .field("discovered_keys", &self.discovered_keys)
            .field("signed_by_offered_key", &self.signed_by_offered_key)
            .field("decrypted_with", &self.decrypted_with)
            .finish()
    }
}

/// Per-call state of `open`.
struct Ctx<'a> {
    keys: &'a TeamKeys,
    limits: &'a OpenLimits,
    /// sender_certs + discovered + team public certs.
    certs: Vec<Cert>,
    budget: usize,
    blocks: usize,
    encrypted: bool,
    decrypted_with: Option<String>,
    /// Each signed object's status, and whether it covers the whole content
    /// the mail's text is read from (see [`combine_coverage`]).
    statuses: Vec<(SignatureStatus, Cover)>,
    /// Primary fingerprints of the certs the caller trusts (sender + team):
    /// a good signature by any other cert was made by a key the mail offered.
    trusted: Vec<String>,
    discovered: Vec<DiscoveredKey>,
    attachments: Vec<(String, Vec<u8>)>,
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for (_, data) in self.attachments.iter_mut() {
            wipe(data);
        }
    }
}

/// Open a raw RFC 5322 message. `sender_certs`: certs the caller already
/// trusts for this sender. Keys discovered in the same message are also used
/// to verify; `SignatureStatus::Good` names the verifying cert, so the caller
/// can tell a pinned key from a key the mail brought along.
pub fn open(
    raw: &[u8],
    keys: &TeamKeys,
    sender_certs: &[Cert],
    limits: &OpenLimits,
) -> Result<Opened, OpenError> {
    let mut opened = if may_hold_openpgp(raw) {
        let outer = parse_mail(raw)?;
        open_with(raw, &outer, keys, sender_certs, limits, |_| ())?.0
    } else {
        plain_opened()
    };
    if !opened.pgp_mime {
        opened.entity = raw.to_vec();
    }
    Ok(opened)
}

/// [`open`] for a message the caller has already parsed (`outer` is `raw`
/// parsed), so no entity is parsed twice: `content` runs on the final entity
/// (the decrypted inner entity of PGP/MIME, otherwise `outer`) and its result
/// is returned alongside. `Opened::entity` holds the final entity only when
/// it came from PGP/MIME decryption (`Opened::pgp_mime`); otherwise it is
/// empty: the entity is `raw` itself.
///
/// # Errors
/// As [`open`]; `content` is not run when opening fails.
pub fn open_with<T>(
    raw: &[u8],
    outer: &Message<'_>,
    keys: &TeamKeys,
    sender_certs: &[Cert],
    limits: &OpenLimits,
    content: impl FnOnce(&Message<'_>) -> T,
) -> Result<(Opened, T), OpenError> {
    if !may_hold_openpgp(raw) {
        // Fast path: nothing in the raw bytes could be OpenPGP (no armor, no
        // pgp/gpg content types or file names, no Autocrypt header, and no
        // base64 part that could hide an armored block).
        return Ok((plain_opened(), content(outer)));
    }
    // Last line of defence against panics in the parsers (sequoia 2.4 has at
    // least one reachable `unwrap` on truncated nested ciphertext): a hostile
    // mail must become an error, never take the daemon down. All state is
    // local to the call (`keys` has no interior mutability), so nothing
    // half-updated survives an unwind.
    pgp::reset_oldest_good();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        open_inner(outer, keys, sender_certs, limits, content)
    }))
    .unwrap_or_else(|_| {
        Err(OpenError::Malformed {
            reason: "cannot process message: internal parser failure".into(),
        })
    })
}

/// Decrypt a value sealed at rest by [`encrypt_armored`] (at most `limit`
/// bytes of plaintext).
///
/// # Errors
/// No team key matches, the data is not an OpenPGP message, or it is too large.
pub fn open_sealed(armored: &[u8], keys: &TeamKeys, limit: usize) -> Result<Vec<u8>, OpenError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        process_message(armored, keys, &[], limit, limit, None).map(|p| p.plaintext)
    }))
    .unwrap_or_else(|_| {
        Err(OpenError::Malformed {
            reason: "cannot process sealed value: internal parser failure".into(),
        })
    })
}

fn plain_opened() -> Opened {
    Opened {
        encrypted: false,
        entity: Vec::new(),
        pgp_mime: false,
        inline_text: None,
        decrypted_attachments: Vec::new(),
        signature: SignatureStatus::None,
        protected_subject: None,
        discovered_keys: Vec::new(),
        signed_by_offered_key: false,
        decrypted_with: None,
        oldest_good_signature: None,
    }
}

/// Could `raw` contain anything [`open`] acts on? Conservative: any mention
/// of pgp/gpg/autocrypt, or any base64-encoded part, says yes.
fn may_hold_openpgp(raw: &[u8]) -> bool {
    static MARKERS: std::sync::LazyLock<Option<regex::bytes::Regex>> =
        std::sync::LazyLock::new(|| regex::bytes::Regex::new(r"(?i)pgp|gpg|autocrypt|base64").ok());
    match MARKERS.as_ref() {
        Some(re) => re.is_match(raw),
        // NOTE: the pattern is a literal and compiles; if it ever did not, take the slow path.
        None => true,
    }
}

fn open_inner<T>(
    outer: &Message<'_>,
    keys: &TeamKeys,
    sender_certs: &[Cert],
    limits: &OpenLimits,
    content: impl FnOnce(&Message<'_>) -> T,
) -> Result<(Opened, T), OpenError> {
    let mut cx = Ctx {
        keys,
        limits,
        certs: sender_certs
            .iter()
            .cloned()
            .chain(keys.public_certs())
            .collect(),
        budget: limits.max_decrypted_bytes,
        blocks: 0,
        encrypted: false,
        decrypted_with: None,
        statuses: Vec::new(),
        trusted: sender_certs
            .iter()
            .cloned()
            .chain(keys.public_certs())
            .map(|c| fpr_hex(&c.fingerprint()))
            .collect(),
        discovered: Vec::new(),
        attachments: Vec::new(),
    };
    cx.discover_in(outer);

    // PGP/MIME: replace the entity by the decrypted inner entity, at most
    // MAX_PGP_MIME_NESTING times. Each entity is parsed once.
    let Some(mut payload) = pgp_mime_payload(outer)?.map(<[u8]>::to_vec) else {
        let (protected_subject, inline_text) = cx.finish(outer, false)?;
        let value = content(outer);
        return Ok((cx.into_opened(None, inline_text, protected_subject), value));
    };
    let mut decrypted = 1;
    loop {
        let inner = cx.open_pgp_mime(&payload)?;
        let msg = parse_mail(&inner)?;
        let nested = if decrypted < MAX_PGP_MIME_NESTING {
            pgp_mime_payload(&msg)?.map(<[u8]>::to_vec)
        } else {
            None
        };
        match nested {
            Some(next) => {
                payload = next;
                decrypted += 1;
            }
            None => {
                let (protected_subject, inline_text) = cx.finish(&msg, true)?;
                let value = content(&msg);
                drop(msg);
                return Ok((
                    cx.into_opened(Some(inner), inline_text, protected_subject),
                    value,
                ));
            }
        }
    }
}

impl Ctx<'_> {
    /// Signatures, inline blocks and encrypted attachments of the final entity.
    fn finish(
        &mut self,
        msg: &Message<'_>,
        from_encryption: bool,
    ) -> Result<(Option<String>, Option<String>), OpenError> {
        let protected_subject = if from_encryption {
            protected_subject(msg)
        } else {
            None
        };
        self.verify_multipart_signed(msg)?;
        let inline_text = self.open_inline_and_attachments(msg)?;
        Ok((protected_subject, inline_text))
    }

    /// `inner`: the decrypted PGP/MIME entity, if that is where opening ended.
    fn into_opened(
        mut self,
        inner: Option<Vec<u8>>,
        inline_text: Option<String>,
        protected_subject: Option<String>,
    ) -> Opened {
        let signature = combine_coverage(self.statuses.drain(..));
        let signed_by_offered_key = match &signature {
            SignatureStatus::Good { fingerprint } => !self.trusted.contains(fingerprint),
            _ => false,
        };
        Opened {
            encrypted: self.encrypted,
            pgp_mime: inner.is_some(),
            entity: inner.unwrap_or_default(),
            inline_text,
            decrypted_attachments: std::mem::take(&mut self.attachments),
            signature,
            signed_by_offered_key,
            protected_subject,
            discovered_keys: std::mem::take(&mut self.discovered),
            decrypted_with: self.decrypted_with.take(),
            oldest_good_signature: pgp::take_oldest_good().map(chrono::DateTime::from),
        }
    }
}

fn parse_mail(raw: &[u8]) -> Result<crate::parse::Flat<'_>, OpenError> {
    crate::parse::parse_flat(raw).ok_or_else(|| OpenError::Malformed {
        reason: "cannot parse MIME structure".into(),
    })
}

fn content_type_is(part: &MessagePart<'_>, ctype: &str, subtype: &str) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
    })
}

fn sub_parts<'m, 'x>(msg: &'m Message<'x>, part: &'m MessagePart<'x>) -> Vec<&'m MessagePart<'x>> {
    match &part.body {
        PartType::Multipart(ids) => ids
            .iter()
            .filter_map(|id| msg.parts.get(*id as usize))
            .collect(),
        _ => Vec::new(),
    }
}

/// The encrypted payload if the root is RFC 3156 `multipart/encrypted`.
fn pgp_mime_payload<'m>(msg: &'m Message<'_>) -> Result<Option<&'m [u8]>, OpenError> {
    let root = msg.root_part();
    if !content_type_is(root, "multipart", "encrypted") {
        return Ok(None);
    }
    if let Some(protocol) = root.content_type().and_then(|ct| ct.attribute("protocol")) {
        if !protocol
            .trim()
            .eq_ignore_ascii_case("application/pgp-encrypted")
        {
            return Ok(None); // not OpenPGP (e.g. some other protocol)
        }
    }
    let payload = sub_parts(msg, root)
        .into_iter()
        .map(|p| p.contents())
        .find(|c| classify_bytes(c) == PgpKind::Message);
    match payload {
        Some(p) => Ok(Some(p)),
        None => Err(OpenError::Malformed {
            reason: "cannot find the encrypted part of multipart/encrypted".into(),
        }),
    }
}

/// Protected Subject: the inner entity's own Subject header, else a
/// `text/rfc822-headers` (or `protected-headers`) legacy-display part.
fn protected_subject(msg: &Message<'_>) -> Option<String> {
    if let Some(s) = msg.subject() {
        return Some(s.to_string());
    }
    for part in &msg.parts {
        let legacy = content_type_is(part, "text", "rfc822-headers")
            || part.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("text") && ct.has_attribute("protected-headers")
            });
        if !legacy {
            continue;
        }
        if let Some(text) = part.text_contents() {
            if let Some(s) = mime::subject_from_header_block(text) {
                return Some(s);
            }
        }
    }
    None
}

/// A body text part (not an attachment) that may carry inline PGP.
fn is_body_text(part: &MessagePart<'_>) -> bool {
    if !matches!(part.body, PartType::Text(_)) {
        return false;
    }
    let plain_type = match part.content_type() {
        None => true,
        Some(ct) => {
            (ct.ctype().eq_ignore_ascii_case("text")
                && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain")))
                || (ct.ctype().eq_ignore_ascii_case("application")
                    && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("pgp")))
        }
    };
    let attachment = part
        .content_disposition()
        .is_some_and(|d| d.is_attachment())
        || part.attachment_name().is_some();
    plain_type && !attachment
}

/// A part that may hold OpenPGP data by name or type.
fn is_pgp_candidate(part: &MessagePart<'_>) -> bool {
    content_type_is(part, "application", "pgp-encrypted")
        || content_type_is(part, "application", "pgp-keys")
        || content_type_is(part, "application", "pgp")
        || part.attachment_name().and_then(strip_pgp_suffix).is_some()
}

impl Ctx<'_> {
    fn take_block(&mut self) -> Result<(), OpenError> {
        self.blocks += 1;
        if self.blocks > self.limits.max_armored_blocks {
            return Err(OpenError::TooManyBlocks {
                limit: self.limits.max_armored_blocks,
            });
        }
        Ok(())
    }

    /// Decrypt/verify one OpenPGP message, charging the budget.
    fn process(&mut self, data: &[u8]) -> Result<pgp::Processed, OpenError> {
        self.take_block()?;
        let p = process_message(
            data,
            self.keys,
            &self.certs,
            self.budget,
            self.limits.max_decrypted_bytes,
            None,
        )?;
        self.budget = self.budget.saturating_sub(p.plaintext.len());
        self.encrypted |= p.encrypted;
        if self.decrypted_with.is_none() {
            self.decrypted_with.clone_from(&p.decrypted_with);
        }
        Ok(p)
    }

    /// Decrypt a PGP/MIME payload; returns the inner entity. Keys attached
    /// inside the encryption (as Thunderbird does) are discovered and, if
    /// the signature's issuer was unknown, used to verify again (with the
    /// cached session key: no second public-key operation).
    fn open_pgp_mime(&mut self, payload: &[u8]) -> Result<Vec<u8>, OpenError> {
        let mut p = self.process(payload)?;
        let before = self.discovered.len();
        if let Some(inner) = crate::parse::parse_flat(&p.plaintext[..]) {
            self.discover_in(&inner);
        }
        let mut signature = p.signature.clone();
        if matches!(signature, SignatureStatus::UnknownKey { .. }) && self.discovered.len() > before
        {
            if let Some(sk) = p.session_key.take() {
                let mut again = process_message(
                    payload,
                    self.keys,
                    &self.certs,
                    p.plaintext.len(),
                    self.limits.max_decrypted_bytes,
                    Some(sk),
                )?;
                signature = again.signature.clone();
                wipe(&mut again.plaintext);
            }
        }
        // The signature inside the encryption covers the whole inner entity.
        self.statuses.push((signature, Cover::Whole));
        Ok(std::mem::take(&mut p.plaintext))
    }

    /// Collect keys from `Autocrypt:` headers and key attachments.
    fn discover_in(&mut self, msg: &Message<'_>) {
        let raw = msg.raw_message();
        for header in &msg.root_part().headers {
            if !header.name.as_str().eq_ignore_ascii_case("autocrypt") {
                continue;
            }
            let (s, e) = (header.offset_start as usize, header.offset_end as usize);
            let Some(value) = raw.get(s..e) else { continue };
            let Some(ac) = parse_autocrypt(&String::from_utf8_lossy(value)) else {
                continue;
            };
            if let Some(cert) = parse_certs(&ac.keydata, 1).into_iter().next() {
                self.add_discovered(cert, KeySource::Autocrypt, vec![ac.addr]);
            }
        }
        for part in &msg.parts {
            if matches!(part.body, PartType::Multipart(_) | PartType::Message(_))
                || is_body_text(part)
            {
                continue;
            }
            if !is_pgp_candidate(part) {
                continue;
            }
            let data = part.contents();
            if classify_bytes(data) != PgpKind::Keys {
                continue;
            }
            for cert in parse_certs(data, self.limits.max_armored_blocks) {
                let addresses = cert_addresses(&cert);
                self.add_discovered(cert, KeySource::Attachment, addresses);
            }
        }
    }

    fn add_discovered(&mut self, cert: Cert, source: KeySource, addresses: Vec<String>) {
        let fingerprint = fpr_hex(&cert.fingerprint());
        if self.keys.has_cert(&cert.fingerprint())
            || self.discovered.iter().any(|d| d.fingerprint == fingerprint)
            || self.discovered.len() >= self.limits.max_armored_blocks
        {
            return;
        }
        let Ok(armored) = armor_public(&cert) else {
            return;
        };
        self.certs.push(cert);
        self.discovered.push(DiscoveredKey {
            source,
            fingerprint,
            addresses,
            armored,
        });
    }

    /// Verify every RFC 3156 `multipart/signed` over the exact bytes of its
    /// first part as they appear in the raw entity, canonicalized to CRLF.
    fn verify_multipart_signed(&mut self, msg: &Message<'_>) -> Result<(), OpenError> {
        let raw = msg.raw_message();
        for (index, part) in msg.parts.iter().enumerate() {
            if !content_type_is(part, "multipart", "signed") {
                continue;
            }
            let Some(ct) = part.content_type() else {
                continue;
            };
            let pgp = ct
                .attribute("protocol")
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("application/pgp-signature"));
            if !pgp {
                continue; // e.g. S/MIME: not ours
            }
            self.take_block()?;
            let status = match (ct.attribute("boundary"), sub_parts(msg, part).get(1)) {
                (Some(boundary), Some(sig_part)) => {
                    let body = raw.get(part.offset_body as usize..).unwrap_or(&[]);
                    match first_part_range(body, boundary) {
                        Some(range) => {
                            let signed = to_crlf(&body[range]);
                            verify_detached(sig_part.contents(), &signed, &self.certs)
                        }
                        None => SignatureStatus::Bad {
                            fingerprint: None,
                            reason: "cannot locate the signed part".into(),
                        },
                    }
                }
                _ => SignatureStatus::Bad {
                    fingerprint: None,
                    reason: "multipart/signed without boundary or signature part".into(),
                },
            };
            // Only a multipart/signed that is the entity's root covers what
            // the text is read from; one nested beside other parts does not.
            let cover = if index == 0 {
                Cover::Whole
            } else {
                Cover::Part
            };
            self.statuses.push((status, cover));
        }
        Ok(())
    }

    /// Inline blocks in text bodies and OpenPGP attachments. Returns the
    /// inline text (bodies with blocks replaced), if any block was found.
    fn open_inline_and_attachments(
        &mut self,
        msg: &Message<'_>,
    ) -> Result<Option<String>, OpenError> {
        let mut inline: Vec<String> = Vec::new();
        let sole_text = content_parts(msg) == 1;
        for part in &msg.parts {
            if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
                continue;
            }
            if is_body_text(part) {
                if let PartType::Text(text) = &part.body {
                    if let Some(replaced) = self.open_inline(text, sole_text)? {
                        inline.push(replaced);
                    }
                }
                continue;
            }
            if content_type_is(part, "application", "pgp-signature") || !is_pgp_candidate(part) {
                continue;
            }
            let data = part.contents();
            let kind = classify_bytes(data);
            let name = part
                .attachment_name()
                .map(|n| strip_pgp_suffix(n).unwrap_or(n).to_string())
                .unwrap_or_else(|| "attachment".to_string());
            match kind {
                // A signed attachment vouches for itself, not for the mail.
                PgpKind::Message => {
                    let p = self.process(data)?;
                    self.statuses.push((p.signature.clone(), Cover::Part));
                    self.attachments.push((name, p.plaintext));
                }
                PgpKind::SignedText => {
                    if let Some((text, status)) = self.cleartext(data)? {
                        self.statuses.push((status, Cover::Part));
                        self.attachments.push((name, text));
                    }
                }
                // Keys were collected by discover_in; detached signatures
                // of attachments and non-OpenPGP data are left alone.
                PgpKind::Keys | PgpKind::Signature | PgpKind::Other => {}
            }
        }
        Ok((!inline.is_empty()).then(|| inline.join("\n")))
    }

    /// Verify clear-signed text. The text is readable without OpenPGP, so a
    /// block that cannot be parsed is not fatal: it yields `None` and a
    /// `Bad` status. Limits still are.
    fn cleartext(&mut self, data: &[u8]) -> Result<Option<(Vec<u8>, SignatureStatus)>, OpenError> {
        self.take_block()?;
        match process_cleartext(
            data,
            &self.certs,
            self.budget,
            self.limits.max_decrypted_bytes,
        ) {
            Ok((text, status)) => {
                self.budget = self.budget.saturating_sub(text.len());
                Ok(Some((text, status)))
            }
            Err(OpenError::Malformed { reason }) => {
                let bad = SignatureStatus::Bad {
                    fingerprint: None,
                    reason,
                };
                self.statuses.push((bad, Cover::Part));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replace each armored block in `text` by its decrypted/verified text.
    /// `sole_text`: `text` is the mail's only content part; a block's
    /// signature then covers the mail when the block is all of `text`.
    fn open_inline(&mut self, text: &str, sole_text: bool) -> Result<Option<String>, OpenError> {
        let blocks = find_blocks(text);
        if blocks.is_empty() {
            return Ok(None);
        }
        let cover = match blocks.as_slice() {
            [only] if sole_text && outside_is_blank(text, &only.range) => Cover::Whole,
            _ => Cover::Part,
        };
        let mut out = String::with_capacity(text.len());
        let mut last = 0usize;
        for block in blocks {
            let Some(armored) = text.get(block.range.clone()) else {
                continue;
            };
            let mut armored = armored.as_bytes().to_vec();
            armored.push(b'\n');
            let mut plain = match block.kind {
                BlockKind::Message => {
                    let p = self.process(&armored)?;
                    self.statuses.push((p.signature.clone(), cover));
                    p.plaintext
                }
                BlockKind::SignedText => match self.cleartext(&armored)? {
                    Some((t, status)) => {
                        self.statuses.push((status, cover));
                        t
                    }
                    // Unparsable (e.g. mangled by a mail client): keep the
                    // block as it is; the status says why.
                    None => armored[..armored.len() - 1].to_vec(),
                },
            };
            out.push_str(text.get(last..block.range.start).unwrap_or(""));
            let s = String::from_utf8_lossy(&plain);
            let s = s
                .strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&s);
            out.push_str(s);
            wipe(&mut plain);
            last = block.range.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests;

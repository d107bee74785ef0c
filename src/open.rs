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

mod keys;
mod mime;
mod pgp;
mod seal;

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use openpgp::Cert;
use sequoia_openpgp as openpgp;

pub use keys::{armor_public, cert_has_address, parse_cert, usable_for_encryption, TeamKeys};
pub use seal::{clearsign, seal_pgp_mime, sign_pgp_mime, SealedMime};

use keys::{cert_addresses, fpr_hex, parse_certs};
use mime::{find_blocks, first_part_range, parse_autocrypt, strip_pgp_suffix, to_crlf, BlockKind};
use pgp::{
    classify_bytes, combine_objects, process_cleartext, process_message, verify_detached, wipe,
    PgpKind,
};

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
/// signature suffices unless another is bad. Several signed objects in one
/// mail (parts, blocks, attachments): the weakest status wins, in the order
/// Bad > UnknownKey > Good > None.
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
    /// Fingerprint of the team (sub)key that decrypted it.
    pub decrypted_with: Option<String>,
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
    statuses: Vec<SignatureStatus>,
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
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        open_inner(outer, keys, sender_certs, limits, content)
    }))
    .unwrap_or_else(|_| {
        Err(OpenError::Malformed {
            reason: "cannot process message: internal parser failure".into(),
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
        decrypted_with: None,
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
        Opened {
            encrypted: self.encrypted,
            pgp_mime: inner.is_some(),
            entity: inner.unwrap_or_default(),
            inline_text,
            decrypted_attachments: std::mem::take(&mut self.attachments),
            signature: combine_objects(self.statuses.drain(..)),
            protected_subject,
            discovered_keys: std::mem::take(&mut self.discovered),
            decrypted_with: self.decrypted_with.take(),
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
        self.statuses.push(signature);
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
        for part in &msg.parts {
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
            self.statuses.push(status);
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
        for part in &msg.parts {
            if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
                continue;
            }
            if is_body_text(part) {
                if let PartType::Text(text) = &part.body {
                    if let Some(replaced) = self.open_inline(text)? {
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
                PgpKind::Message => {
                    let p = self.process(data)?;
                    self.statuses.push(p.signature.clone());
                    self.attachments.push((name, p.plaintext));
                }
                PgpKind::SignedText => {
                    if let Some((text, status)) = self.cleartext(data)? {
                        self.statuses.push(status);
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
                self.statuses.push(SignatureStatus::Bad {
                    fingerprint: None,
                    reason,
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replace each armored block in `text` by its decrypted/verified text.
    fn open_inline(&mut self, text: &str) -> Result<Option<String>, OpenError> {
        let blocks = find_blocks(text);
        if blocks.is_empty() {
            return Ok(None);
        }
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
                    self.statuses.push(p.signature.clone());
                    p.plaintext
                }
                BlockKind::SignedText => match self.cleartext(&armored)? {
                    Some((t, status)) => {
                        self.statuses.push(status);
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
mod tests {
    use super::*;
    use openpgp::armor;
    use openpgp::cert::prelude::*;
    use openpgp::parse::Parse;
    use openpgp::policy::StandardPolicy;
    use openpgp::serialize::stream::{
        Compressor, Encryptor, LiteralWriter, Message as Sink, Recipient, Signer,
    };
    use openpgp::serialize::{Serialize, SerializeInto};
    use openpgp::types::Features;
    use std::io::Write;

    const CANARY: &str = "CANARY-unit-7f3a";

    fn gen(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .generate()
            .unwrap()
            .0
    }

    /// A v4 cert that only advertises SEIPDv1 (like GnuPG 2.2 keys).
    fn gen_v1_only(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .set_features(Features::empty().set_seipdv1())
            .unwrap()
            .generate()
            .unwrap()
            .0
    }

    fn keys_of(certs: &[&Cert]) -> TeamKeys {
        TeamKeys::from_certs(certs.iter().map(|c| (*c).clone()).collect(), None).unwrap()
    }

    fn public(c: &Cert) -> Cert {
        c.clone().strip_secret_key_material()
    }

    fn enc_subkey(c: &Cert) -> String {
        let p = StandardPolicy::new();
        let ka = c
            .keys()
            .with_policy(&p, None)
            .for_transport_encryption()
            .next()
            .unwrap();
        fpr_hex(&ka.key().fingerprint())
    }

    #[derive(Default, Clone, Copy)]
    struct Enc<'a> {
        signer: Option<&'a Cert>,
        hidden: bool,
        compress: bool,
        binary: bool,
    }

    /// Encrypt with sequoia (armored unless `binary`).
    fn encrypt(recipients: &[&Cert], plaintext: &[u8], opt: Enc<'_>) -> Vec<u8> {
        let p = StandardPolicy::new();
        let mut out = Vec::new();
        {
            let mut rcpts: Vec<Recipient> = Vec::new();
            for c in recipients {
                for ka in c.keys().with_policy(&p, None).for_transport_encryption() {
                    let r: Recipient = ka.into();
                    rcpts.push(if opt.hidden {
                        r.set_key_handle(None).unwrap()
                    } else {
                        r
                    });
                }
            }
            let mut m = Sink::new(&mut out);
            if !opt.binary {
                m = openpgp::serialize::stream::Armorer::new(m)
                    .kind(armor::Kind::Message)
                    .build()
                    .unwrap();
            }
            m = Encryptor::for_recipients(m, rcpts).build().unwrap();
            if opt.compress {
                m = Compressor::new(m).build().unwrap();
            }
            if let Some(s) = opt.signer {
                let kp = s
                    .keys()
                    .with_policy(&p, None)
                    .for_signing()
                    .secret()
                    .next()
                    .unwrap()
                    .key()
                    .clone()
                    .into_keypair()
                    .unwrap();
                m = Signer::new(m, kp).unwrap().build().unwrap();
            }
            let mut w = LiteralWriter::new(m).build().unwrap();
            w.write_all(plaintext).unwrap();
            w.finalize().unwrap();
        }
        out
    }

    fn armor_message(binary: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = armor::Writer::new(&mut out, armor::Kind::Message).unwrap();
        w.write_all(binary).unwrap();
        w.finalize().unwrap();
        out
    }

    const HEAD: &str = "From: Researcher <r@researcher.test>\r\nTo: security@hexon.test\r\nSubject: report\r\nMessage-ID: <t@researcher.test>\r\nMIME-Version: 1.0\r\n";

    fn pgp_mime_mail(armored: &[u8]) -> Vec<u8> {
        let mut m = format!(
            "{HEAD}Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
             --b\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n"
        )
        .into_bytes();
        m.extend_from_slice(armored);
        m.extend_from_slice(b"\r\n--b--\r\n");
        m
    }

    fn text_mail(body: &str) -> Vec<u8> {
        format!("{HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").into_bytes()
    }

    fn wrap(s: &SealedMime) -> Vec<u8> {
        let mut m = format!("{HEAD}Content-Type: {}\r\n\r\n", s.content_type).into_bytes();
        m.extend_from_slice(&s.body);
        m
    }

    fn entity() -> Vec<u8> {
        format!(
            "Content-Type: text/plain; charset=utf-8\r\nSubject: inner\r\n\r\n{CANARY} the report  \r\nline two\r\n"
        )
        .into_bytes()
    }

    fn open_default(raw: &[u8], keys: &TeamKeys, senders: &[Cert]) -> Result<Opened, OpenError> {
        open(raw, keys, senders, &OpenLimits::default())
    }

    fn assert_no_leak(err: &OpenError) {
        for t in [err.to_string(), format!("{err:?}"), err.reason()] {
            assert!(!t.contains(CANARY), "plaintext in error: {t}");
        }
    }

    #[test]
    fn seal_pgp_mime_round_trip_recovers_entity_and_good_signature() {
        let team = gen("Hexon Security <security@hexon.test>");
        let researcher = gen("Alice <alice@researcher.test>");
        let sealed = seal_pgp_mime(&entity(), &[public(&researcher)], &keys_of(&[&team])).unwrap();
        assert!(sealed.content_type.starts_with(
            "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\""
        ));
        let o = open_default(&wrap(&sealed), &keys_of(&[&researcher]), &[public(&team)]).unwrap();
        assert!(o.encrypted);
        assert_eq!(o.entity, entity());
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&team.fingerprint())
            }
        );
        assert_eq!(o.decrypted_with, Some(enc_subkey(&researcher)));
        assert!(o.inline_text.is_none());
        assert_eq!(o.protected_subject.as_deref(), Some("inner"));
    }

    #[test]
    fn seal_pgp_mime_canonicalizes_lf_entity_to_crlf() {
        let team = gen("T <security@hexon.test>");
        let r = gen_v1_only("R <r@researcher.test>");
        let lf = b"Content-Type: text/plain\n\nhello\n";
        let sealed = seal_pgp_mime(lf, &[public(&r)], &keys_of(&[&team])).unwrap();
        let o = open_default(&wrap(&sealed), &keys_of(&[&r]), &[public(&team)]).unwrap();
        assert_eq!(
            o.entity,
            b"Content-Type: text/plain\r\n\r\nhello\r\n".to_vec()
        );
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&team.fingerprint())
            }
        );
    }

    #[test]
    fn seal_rejects_empty_or_unusable_recipients() {
        let team = gen("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        assert!(matches!(
            seal_pgp_mime(b"x", &[], &keys),
            Err(OpenError::Sealing { .. })
        ));
        let (signing_only, _) = CertBuilder::new()
            .add_userid("S <s@x.test>")
            .add_signing_subkey()
            .generate()
            .unwrap();
        let err = seal_pgp_mime(b"x", &[public(&signing_only)], &keys).unwrap_err();
        assert!(
            err.to_string().contains("no usable encryption key"),
            "{err}"
        );
    }

    #[test]
    fn wrong_key_fails_with_no_decryption_key_error() {
        let team = gen("T <security@hexon.test>");
        let other = gen("O <other@x.test>");
        let armored = encrypt(&[&other], CANARY.as_bytes(), Enc::default());
        let err = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap_err();
        let OpenError::NoDecryptionKey { recipients } = &err else {
            panic!("expected NoDecryptionKey, got {err:?}");
        };
        let sub = enc_subkey(&other);
        assert_eq!(recipients.len(), 1);
        assert!(
            sub == recipients[0] || sub.ends_with(&recipients[0]),
            "{recipients:?} vs {sub}"
        );
        assert_no_leak(&err);
    }

    #[test]
    fn password_only_message_reports_no_decryption_key() {
        let team = gen("T <security@hexon.test>");
        let mut out = Vec::new();
        {
            let m = Sink::new(&mut out);
            let m = openpgp::serialize::stream::Armorer::new(m).build().unwrap();
            let m = Encryptor::with_passwords(m, Some("pw")).build().unwrap();
            let mut w = LiteralWriter::new(m).build().unwrap();
            w.write_all(CANARY.as_bytes()).unwrap();
            w.finalize().unwrap();
        }
        let err = open_default(&pgp_mime_mail(&out), &keys_of(&[&team]), &[]).unwrap_err();
        assert!(
            matches!(&err, OpenError::NoDecryptionKey { recipients } if recipients == &vec!["password".to_string()]),
            "{err:?}"
        );
    }

    fn tamper_case(recipient: &Cert) {
        // Larger than sequoia's 1 MiB hold-back buffer: without our own
        // buffering, most plaintext would be released before the check.
        let mut plain = CANARY.as_bytes().to_vec();
        plain.extend(std::iter::repeat_n(b'A', 3 * 1024 * 1024));
        let mut binary = encrypt(
            &[recipient],
            &plain,
            Enc {
                binary: true,
                ..Enc::default()
            },
        );
        let mid = binary.len() / 2;
        for b in &mut binary[mid..mid + 4] {
            *b ^= 0x5a;
        }
        let mail = pgp_mime_mail(&armor_message(&binary));
        let err = open_default(&mail, &keys_of(&[recipient]), &[]).unwrap_err();
        assert!(matches!(err, OpenError::IntegrityCheckFailed), "{err:?}");
        assert_no_leak(&err);
    }

    #[test]
    fn rejects_tampered_ciphertext_seipd_v1_mdc() {
        tamper_case(&gen_v1_only("T <security@hexon.test>"));
    }

    #[test]
    fn rejects_tampered_ciphertext_seipd_v2_aead() {
        tamper_case(&gen("T <security@hexon.test>"));
    }

    #[test]
    fn rejects_tampered_compressed_ciphertext() {
        // Tampering inside compressed data usually breaks inflate before the
        // MDC is reached; that is an integrity failure too.
        let team = gen_v1_only("T <security@hexon.test>");
        let mut x: u32 = 1;
        let plain: Vec<u8> = std::iter::once(CANARY.as_bytes().to_vec())
            .chain((0..20_000).map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                vec![b'a' + ((x >> 16) % 26) as u8]
            }))
            .flatten()
            .collect();
        let mut binary = encrypt(
            &[&team],
            &plain,
            Enc {
                binary: true,
                compress: true,
                ..Enc::default()
            },
        );
        let mid = binary.len() / 2;
        binary[mid] ^= 0xff;
        let err = open_default(
            &pgp_mime_mail(&armor_message(&binary)),
            &keys_of(&[&team]),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, OpenError::IntegrityCheckFailed), "{err:?}");
        assert_no_leak(&err);
    }

    #[test]
    fn rejects_truncated_ciphertext() {
        let team = gen_v1_only("T <security@hexon.test>");
        let mut plain = CANARY.as_bytes().to_vec();
        plain.extend(std::iter::repeat_n(b'B', 2 * 1024 * 1024));
        let binary = encrypt(
            &[&team],
            &plain,
            Enc {
                binary: true,
                ..Enc::default()
            },
        );
        let cut = &binary[..binary.len() - 30];
        let err =
            open_default(&pgp_mime_mail(&armor_message(cut)), &keys_of(&[&team]), &[]).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::IntegrityCheckFailed | OpenError::Malformed { .. }
            ),
            "{err:?}"
        );
        assert_no_leak(&err);
    }

    #[test]
    fn sed_packet_without_mdc_is_rejected() {
        let team = gen_v1_only("T <security@hexon.test>");
        let binary = encrypt(
            &[&team],
            b"x",
            Enc {
                binary: true,
                ..Enc::default()
            },
        );
        let pile = openpgp::PacketPile::from_bytes(&binary).unwrap();
        let mut msg = Vec::new();
        pile.path_ref(&[0]).unwrap().serialize(&mut msg).unwrap();
        // Tag 9 (SED), new-format header, 64 bytes of "ciphertext".
        msg.extend_from_slice(&[0xC0 | 9, 64]);
        msg.extend(std::iter::repeat_n(0x42u8, 64));
        let err = open_default(
            &pgp_mime_mail(&armor_message(&msg)),
            &keys_of(&[&team]),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, OpenError::NoIntegrityProtection), "{err:?}");
    }

    #[test]
    fn nested_truncated_ciphertext_is_an_error_not_a_panic() {
        // [PKESK, SEIPDv1 cut short]: sequoia 2.4 panics when decrypting
        // such a packet (unwrap in PacketParser::decrypt_); `open` must
        // return an error instead, at top level and nested.
        let team = gen_v1_only("T <security@hexon.test>");
        let real = encrypt(
            &[&team],
            b"inner",
            Enc {
                binary: true,
                ..Enc::default()
            },
        );
        let pile = openpgp::PacketPile::from_bytes(&real).unwrap();
        let mut inner = Vec::new();
        pile.path_ref(&[0]).unwrap().serialize(&mut inner).unwrap();
        let seip = &real[inner.len()..];
        assert_eq!(seip[0], 0xC0 | 18, "new-format SEIP header");
        assert!(seip[1] < 192, "one-octet length for a short message");
        let body = &seip[2..];
        // The header claims 60 bytes, only 30 follow (a cut-off mail).
        inner.extend_from_slice(&[0xC0 | 18, 60]);
        inner.extend_from_slice(&body[..30]);
        let mut outer = Vec::new();
        {
            let p = StandardPolicy::new();
            let rcpts: Vec<Recipient> = team
                .keys()
                .with_policy(&p, None)
                .for_transport_encryption()
                .map(Into::into)
                .collect();
            let m = Sink::new(&mut outer);
            let m = openpgp::serialize::stream::Armorer::new(m).build().unwrap();
            let mut m = Encryptor::for_recipients(m, rcpts).build().unwrap();
            m.write_all(&inner).unwrap();
            m.finalize().unwrap();
        }
        let result = open_default(&pgp_mime_mail(&outer), &keys_of(&[&team]), &[]);
        assert!(result.is_err(), "{:?}", result.map(|o| o.entity.len()));

        // The same truncated packet at top level (sequoia would panic in
        // `PacketParser::decrypt_`): rejected before decryption.
        let err = open_default(
            &pgp_mime_mail(&armor_message(&inner)),
            &keys_of(&[&team]),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(&err, OpenError::Malformed { reason } if reason.contains("truncated")),
            "{err:?}"
        );
    }

    #[test]
    fn decrypted_size_is_capped() {
        let team = gen("T <security@hexon.test>");
        let plain = vec![b'x'; 200 * 1024];
        let mail = pgp_mime_mail(&encrypt(&[&team], &plain, Enc::default()));
        let limits = OpenLimits {
            max_decrypted_bytes: 64 * 1024,
            ..OpenLimits::default()
        };
        let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
        assert!(
            matches!(err, OpenError::TooLarge { limit: 65536 }),
            "{err:?}"
        );
        // Exactly at the limit is fine.
        let limits = OpenLimits {
            max_decrypted_bytes: 200 * 1024,
            ..OpenLimits::default()
        };
        assert!(open(&mail, &keys_of(&[&team]), &[], &limits).is_ok());
    }

    #[test]
    fn compression_bomb_is_stopped_early() {
        let team = gen("T <security@hexon.test>");
        let zeros = vec![0u8; 16 * 1024 * 1024];
        let mail = pgp_mime_mail(&encrypt(
            &[&team],
            &zeros,
            Enc {
                compress: true,
                ..Enc::default()
            },
        ));
        assert!(mail.len() < 200 * 1024, "bomb is small: {}", mail.len());
        let limits = OpenLimits {
            max_decrypted_bytes: 1024 * 1024,
            ..OpenLimits::default()
        };
        let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
        assert!(
            matches!(err, OpenError::TooLarge { limit: 1048576 }),
            "{err:?}"
        );
    }

    #[test]
    fn budget_is_shared_by_all_blocks_of_one_mail() {
        let team = gen("T <security@hexon.test>");
        let block =
            String::from_utf8(encrypt(&[&team], &vec![b'y'; 40 * 1024], Enc::default())).unwrap();
        let mail = text_mail(&format!("a\r\n{block}\r\nb\r\n{block}\r\n"));
        let limits = OpenLimits {
            max_decrypted_bytes: 64 * 1024,
            ..OpenLimits::default()
        };
        let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
        assert!(matches!(err, OpenError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn hidden_recipient_is_found_by_trying_every_team_key() {
        let old = gen("Old <security@hexon.test>");
        let new = gen_v1_only("New <security@hexon.test>");
        for target in [&old, &new] {
            let armored = encrypt(
                &[target],
                CANARY.as_bytes(),
                Enc {
                    hidden: true,
                    ..Enc::default()
                },
            );
            let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&old, &new]), &[]).unwrap();
            assert_eq!(o.entity, CANARY.as_bytes());
            assert_eq!(o.decrypted_with, Some(enc_subkey(target)));
        }
    }

    #[test]
    fn rotated_keys_decrypt_with_the_matching_cert() {
        let old = gen("Old <security@hexon.test>");
        let new = gen("New <security@hexon.test>");
        let keys = keys_of(&[&new, &old]);
        let armored = encrypt(&[&old], CANARY.as_bytes(), Enc::default());
        let o = open_default(&pgp_mime_mail(&armored), &keys, &[]).unwrap();
        assert_eq!(o.decrypted_with, Some(enc_subkey(&old)));
    }

    #[test]
    fn signed_and_encrypted_inline_block_in_text_is_replaced() {
        let team = gen("T <security@hexon.test>");
        let alice = gen("Alice <alice@researcher.test>");
        let block = String::from_utf8(encrypt(
            &[&team],
            format!("{CANARY}\nsecret details\n").as_bytes(),
            Enc {
                signer: Some(&alice),
                compress: true,
                ..Enc::default()
            },
        ))
        .unwrap();
        let mail = text_mail(&format!("Hi team,\r\n\r\n{block}\r\nRegards\r\n"));
        let o = open_default(&mail, &keys_of(&[&team]), &[public(&alice)]).unwrap();
        let text = o.inline_text.as_deref().unwrap();
        assert!(text.starts_with("Hi team,"));
        assert!(text.contains(CANARY) && text.contains("secret details"));
        assert!(text.trim_end().ends_with("Regards"));
        assert!(!text.contains("BEGIN PGP"));
        assert!(o.encrypted);
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&alice.fingerprint())
            }
        );
        assert_eq!(o.entity, mail);
    }

    #[test]
    fn unknown_signer_reports_issuer_fingerprint() {
        let team = gen("T <security@hexon.test>");
        let alice = gen("Alice <alice@researcher.test>");
        let armored = encrypt(
            &[&team],
            CANARY.as_bytes(),
            Enc {
                signer: Some(&alice),
                ..Enc::default()
            },
        );
        let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
        let p = StandardPolicy::new();
        let signing = alice
            .keys()
            .with_policy(&p, None)
            .for_signing()
            .next()
            .unwrap()
            .key()
            .fingerprint();
        assert_eq!(
            o.signature,
            SignatureStatus::UnknownKey {
                issuer: fpr_hex(&signing)
            }
        );
    }

    #[test]
    fn clearsign_round_trip_is_good_and_text_is_recovered() {
        let team = gen("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        let text =
            "Contact: mailto:security@hexon.test\nExpires: 2030-01-01T00:00:00.000Z\n- dash line\n";
        let signed = clearsign(text, &keys).unwrap();
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
        let o = open_default(&text_mail(&signed), &keys, &[]).unwrap();
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&team.fingerprint())
            }
        );
        assert_eq!(
            o.inline_text.as_deref().map(|t| t.trim_end()),
            Some(text.trim_end())
        );
        let tampered = signed.replace("2030", "2031");
        let o = open_default(&text_mail(&tampered), &keys, &[]).unwrap();
        assert!(
            matches!(o.signature, SignatureStatus::Bad { .. }),
            "{:?}",
            o.signature
        );
    }

    #[test]
    fn mangled_clearsigned_block_is_bad_but_text_is_kept() {
        let team = gen("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        let signed = clearsign(&format!("{CANARY}\n"), &keys).unwrap();
        // A client re-wrapped the signature armor: base64 is garbage now.
        let start = signed.find("-----BEGIN PGP SIGNATURE-----").unwrap();
        let mangled = format!(
            "{}-----BEGIN PGP SIGNATURE-----\n\n!!not base64!!\n-----END PGP SIGNATURE-----\n",
            &signed[..start]
        );
        let o = open_default(&text_mail(&format!("before\n{mangled}after\n")), &keys, &[]).unwrap();
        assert!(
            matches!(o.signature, SignatureStatus::Bad { .. }),
            "{:?}",
            o.signature
        );
        let text = o.inline_text.unwrap();
        assert!(
            text.contains(CANARY)
                && text.starts_with("before")
                && text.trim_end().ends_with("after")
        );
    }

    #[test]
    fn sign_pgp_mime_verifies_in_lf_and_crlf_form_and_detects_changes() {
        let team = gen("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        let signed = sign_pgp_mime(&entity(), &keys).unwrap();
        assert!(signed.content_type.starts_with(
            "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\""
        ));
        let crlf = wrap(&signed);
        let good = SignatureStatus::Good {
            fingerprint: fpr_hex(&team.fingerprint()),
        };
        assert_eq!(open_default(&crlf, &keys, &[]).unwrap().signature, good);
        let lf = String::from_utf8(crlf.clone())
            .unwrap()
            .replace("\r\n", "\n");
        assert_eq!(
            open_default(lf.as_bytes(), &keys, &[]).unwrap().signature,
            good
        );
        let changed = String::from_utf8(crlf)
            .unwrap()
            .replace("line two", "line 2!!");
        let o = open_default(changed.as_bytes(), &keys, &[]).unwrap();
        assert!(
            matches!(o.signature, SignatureStatus::Bad { .. }),
            "{:?}",
            o.signature
        );
        assert_eq!(o.signature.as_str(), "bad");
    }

    #[test]
    fn garbage_signature_part_is_bad_not_an_error() {
        let team = gen("T <security@hexon.test>");
        let mail = format!(
            "{HEAD}Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"s\"\r\n\r\n\
             --s\r\nContent-Type: text/plain\r\n\r\nhello\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nnot a signature\r\n--s--\r\n"
        );
        let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
        assert!(
            matches!(
                o.signature,
                SignatureStatus::Bad {
                    fingerprint: None,
                    ..
                }
            ),
            "{:?}",
            o.signature
        );
    }

    #[test]
    fn encrypted_attachment_named_pgp_is_decrypted_and_suffix_stripped() {
        use base64::Engine as _;
        let team = gen("T <security@hexon.test>");
        let bin = encrypt(
            &[&team],
            CANARY.as_bytes(),
            Enc {
                binary: true,
                ..Enc::default()
            },
        );
        let armored = String::from_utf8(encrypt(&[&team], b"second", Enc::default())).unwrap();
        let mail = format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
             --m\r\nContent-Type: text/plain\r\n\r\nsee attachments\r\n\
             --m\r\nContent-Type: application/octet-stream; name=\"poc.tar.PGP\"\r\nContent-Disposition: attachment; filename=\"poc.tar.PGP\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
             --m\r\nContent-Type: application/pgp-encrypted\r\nContent-Disposition: attachment; filename=\"notes.txt.asc\"\r\n\r\n{armored}\r\n\
             --m\r\nContent-Type: text/plain; name=\"readme.asc\"\r\nContent-Disposition: attachment\r\n\r\njust text named .asc\r\n--m--\r\n",
            base64::engine::general_purpose::STANDARD.encode(&bin)
        );
        let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
        assert!(o.encrypted);
        assert!(o.inline_text.is_none());
        let names: Vec<&str> = o
            .decrypted_attachments
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, vec!["poc.tar", "notes.txt"]);
        assert_eq!(o.decrypted_attachments[0].1, CANARY.as_bytes());
        assert_eq!(o.decrypted_attachments[1].1, b"second");
    }

    #[test]
    fn attached_secret_key_is_discovered_public_only() {
        let team = gen("T <security@hexon.test>");
        let alice = gen("Alice <Alice@Researcher.test>");
        let tsk = String::from_utf8(alice.as_tsk().armored().to_vec().unwrap()).unwrap();
        let mail = format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nmy key\r\n\
             --m\r\nContent-Type: application/pgp-keys; name=\"key.asc\"\r\n\r\n{tsk}\r\n--m--\r\n"
        );
        let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
        assert_eq!(o.discovered_keys.len(), 1);
        let k = &o.discovered_keys[0];
        assert_eq!(k.fingerprint, fpr_hex(&alice.fingerprint()));
        assert_eq!(k.addresses, vec!["alice@researcher.test".to_string()]);
        assert!(!k.armored.contains("PRIVATE"));
        assert!(!parse_cert(k.armored.as_bytes()).unwrap().is_tsk());
        assert!(!o.encrypted);
    }

    #[test]
    fn team_key_is_not_reported_as_discovered() {
        let team = gen("T <security@hexon.test>");
        let pubkey = armor_public(&team).unwrap();
        let mail = format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nyour key\r\n\
             --m\r\nContent-Type: application/pgp-keys\r\n\r\n{pubkey}\r\n--m--\r\n"
        );
        let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
        assert!(o.discovered_keys.is_empty());
    }

    #[test]
    fn autocrypt_header_key_is_discovered_and_verifies() {
        use base64::Engine as _;
        let team = gen("T <security@hexon.test>");
        let alice = gen("Alice <alice@researcher.test>");
        let mut bin = Vec::new();
        public(&alice).serialize(&mut bin).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bin);
        let folded: Vec<String> = b64
            .as_bytes()
            .chunks(70)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let alice_keys = keys_of(&[&alice]);
        let signed = clearsign(&format!("{CANARY}\n"), &alice_keys).unwrap();
        let mail = format!(
            "Autocrypt: addr=ALICE@researcher.test; prefer-encrypt=mutual; keydata=\r\n {}\r\n{HEAD}Content-Type: text/plain\r\n\r\n{signed}",
            folded.join("\r\n ")
        );
        let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
        assert_eq!(o.discovered_keys.len(), 1);
        assert_eq!(o.discovered_keys[0].source, KeySource::Autocrypt);
        assert_eq!(
            o.discovered_keys[0].addresses,
            vec!["alice@researcher.test".to_string()]
        );
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&alice.fingerprint())
            }
        );
    }

    #[test]
    fn key_attached_inside_encryption_verifies_signature() {
        let team = gen("T <security@hexon.test>");
        let alice = gen("Alice <alice@researcher.test>");
        let inner = format!(
            "Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\n{CANARY}\r\n\
             --i\r\nContent-Type: application/pgp-keys; name=\"OpenPGP_0x1.asc\"\r\nContent-Disposition: attachment; filename=\"OpenPGP_0x1.asc\"\r\n\r\n{}\r\n--i--\r\n",
            armor_public(&alice).unwrap()
        );
        let armored = encrypt(
            &[&team],
            inner.as_bytes(),
            Enc {
                signer: Some(&alice),
                ..Enc::default()
            },
        );
        let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
        assert_eq!(o.discovered_keys.len(), 1);
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&alice.fingerprint())
            }
        );
        assert_eq!(o.entity, inner.as_bytes());
    }

    #[test]
    fn protected_subject_from_legacy_display_part() {
        let team = gen("T <security@hexon.test>");
        let inner = "Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n\
                     --i\r\nContent-Type: text/rfc822-headers; protected-headers=\"v1\"\r\n\r\nSubject: hidden\r\n  subject\r\n\r\n\
                     --i\r\nContent-Type: text/plain\r\n\r\nbody\r\n--i--\r\n";
        let armored = encrypt(&[&team], inner.as_bytes(), Enc::default());
        let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
        assert_eq!(o.protected_subject.as_deref(), Some("hidden subject"));
    }

    #[test]
    fn too_many_blocks_is_rejected() {
        let team = gen("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        let signed = clearsign("hi\n", &keys).unwrap();
        let mail = text_mail(&format!("{signed}\r\n{signed}\r\n{signed}\r\n"));
        let limits = OpenLimits {
            max_armored_blocks: 2,
            ..OpenLimits::default()
        };
        let err = open(&mail, &keys, &[], &limits).unwrap_err();
        assert!(
            matches!(err, OpenError::TooManyBlocks { limit: 2 }),
            "{err:?}"
        );
    }

    #[test]
    fn multipart_encrypted_without_payload_is_malformed() {
        let team = gen("T <security@hexon.test>");
        let mail = format!(
            "{HEAD}Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b--\r\n"
        );
        let err = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap_err();
        assert!(matches!(err, OpenError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn plain_mail_is_returned_unchanged() {
        let team = gen("T <security@hexon.test>");
        let mail = text_mail("just a report, no crypto\r\n");
        let o = open_default(&mail, &keys_of(&[&team]), &[]).unwrap();
        assert!(!o.encrypted);
        assert_eq!(o.entity, mail);
        assert_eq!(o.signature, SignatureStatus::None);
        assert!(
            o.inline_text.is_none() && o.discovered_keys.is_empty() && o.decrypted_with.is_none()
        );
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let team = gen_v1_only("T <security@hexon.test>");
        let keys = keys_of(&[&team]);
        let valid = pgp_mime_mail(&encrypt(&[&team], CANARY.as_bytes(), Enc::default()));
        let signed = wrap(&sign_pgp_mime(&entity(), &keys).unwrap());
        let mut inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\r\n\r\n".to_vec(),
            vec![0xff; 300],
            b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"\r\n\r\n".to_vec(),
            b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"\r\n\r\n--x\r\n".to_vec(),
            text_mail("-----BEGIN PGP MESSAGE-----\r\n\r\n!!!!\r\n-----END PGP MESSAGE-----\r\n"),
            text_mail("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nx\r\n-----END PGP SIGNATURE-----\r\n"),
            text_mail(&format!("{}\r\n", "-----BEGIN PGP MESSAGE-----\r\n".repeat(50))),
            format!("{HEAD}Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n{}", "--a\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n".repeat(200)).into_bytes(),
            format!("Autocrypt: addr=x@y.test; keydata=AAAA\r\n{HEAD}\r\nbody").into_bytes(),
            format!("{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: application/pgp-keys\r\n\r\n\u{80}\u{81}\u{82}\r\n--m--\r\n").into_bytes(),
        ];
        for cut in (0..valid.len()).step_by(valid.len() / 40 + 1) {
            inputs.push(valid[..cut].to_vec());
        }
        for pos in (valid.len() / 2..valid.len()).step_by(17) {
            let mut v = valid.clone();
            v[pos] ^= 0x01;
            inputs.push(v);
        }
        for pos in (0..signed.len()).step_by(23) {
            let mut v = signed.clone();
            v[pos] = b'\n';
            inputs.push(v);
        }
        for input in &inputs {
            match open(input, &keys, &[], &OpenLimits::default()) {
                Ok(o) => {
                    let _ = format!("{o:?}");
                }
                Err(e) => assert_no_leak(&e),
            }
        }
    }

    #[test]
    fn opened_debug_redacts_plaintext() {
        let team = gen("T <security@hexon.test>");
        let armored = encrypt(&[&team], entity().as_slice(), Enc::default());
        let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
        let dbg = format!("{o:?}");
        assert!(!dbg.contains(CANARY), "{dbg}");
        assert!(!dbg.contains("inner"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn error_reason_is_one_line_and_prefixed() {
        let e = OpenError::Malformed {
            reason: "a\nb\r\n  c".into(),
        };
        assert_eq!(e.reason(), "openpgp/malformed: cannot parse message: a b c");
        let e = OpenError::NoDecryptionKey {
            recipients: vec!["AB".into(), "hidden".into()],
        };
        assert_eq!(e.reason(), "openpgp/no_decryption_key: cannot decrypt: no team key matches the recipients [AB, hidden]");
        let long = OpenError::Malformed {
            reason: "x".repeat(5000),
        };
        assert!(long.reason().chars().count() < 500);
        for e in [
            OpenError::IntegrityCheckFailed,
            OpenError::NoIntegrityProtection,
            OpenError::TooLarge { limit: 1 },
        ] {
            assert!(e.to_string().starts_with("cannot "), "{e}");
        }
    }

    #[test]
    fn signature_status_names_are_stable() {
        assert_eq!(SignatureStatus::None.as_str(), "none");
        assert_eq!(
            SignatureStatus::Good {
                fingerprint: "A".into()
            }
            .as_str(),
            "good"
        );
        assert_eq!(
            SignatureStatus::Bad {
                fingerprint: None,
                reason: "r".into()
            }
            .as_str(),
            "bad"
        );
        assert_eq!(
            SignatureStatus::UnknownKey { issuer: "I".into() }.as_str(),
            "unknown_key"
        );
    }

    /// Post-quantum (RFC 9580 v6, ML-KEM-768+X25519 / ML-DSA-65+Ed25519):
    /// only the pure-Rust backend implements these algorithms.
    #[cfg(feature = "crypto-rust")]
    #[test]
    fn post_quantum_v6_pgp_mime_round_trip() {
        use openpgp::types::PublicKeyAlgorithm;
        use openpgp::Profile;
        assert!(PublicKeyAlgorithm::MLKEM768_X25519.is_supported());
        assert!(PublicKeyAlgorithm::MLDSA65_Ed25519.is_supported());
        let pq = |uid: &str| {
            CertBuilder::general_purpose(Some(uid))
                .set_profile(Profile::RFC9580)
                .unwrap()
                .set_cipher_suite(CipherSuite::MLDSA65_Ed25519)
                .generate()
                .unwrap()
                .0
        };
        let team = pq("Hexon Security PQ <security@hexon.test>");
        let researcher = pq("Alice PQ <alice@researcher.test>");
        assert_eq!(team.primary_key().key().version(), 6);
        let p = StandardPolicy::new();
        let enc = team
            .keys()
            .with_policy(&p, None)
            .for_transport_encryption()
            .next()
            .unwrap();
        assert_eq!(enc.key().pk_algo(), PublicKeyAlgorithm::MLKEM768_X25519);

        let sealed = seal_pgp_mime(&entity(), &[public(&team)], &keys_of(&[&researcher])).unwrap();
        let o = open_default(&wrap(&sealed), &keys_of(&[&team]), &[public(&researcher)]).unwrap();
        assert!(o.encrypted);
        assert_eq!(o.entity, entity());
        assert_eq!(o.decrypted_with, Some(fpr_hex(&enc.key().fingerprint())));
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&researcher.fingerprint())
            }
        );

        let signed = sign_pgp_mime(&entity(), &keys_of(&[&team])).unwrap();
        let o = open_default(&wrap(&signed), &keys_of(&[&researcher]), &[public(&team)]).unwrap();
        assert_eq!(
            o.signature,
            SignatureStatus::Good {
                fingerprint: fpr_hex(&team.fingerprint())
            }
        );
    }
}

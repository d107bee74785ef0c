//! OpenPGP message processing on byte buffers: decrypt, verify, classify.
//!
//! Runs sequoia's streaming `Decryptor` / `Verifier` / `DetachedVerifier`
//! with the StandardPolicy, reads the whole plaintext into a private buffer
//! under a size budget, and releases it only after the integrity protection
//! (SEIPD MDC or AEAD) and the signature check have completed without error
//! (the EFAIL lesson: sequoia streams data beyond its buffer before the final
//! check). Maps sequoia's errors to precise `OpenError`s.
//!
//! Must not: return or log any plaintext on error, accept packets without
//! integrity protection, choose decryption keys from mail headers (only the
//! PKESK recipients decide), or panic on hostile input.

use std::cell::Cell;
use std::io::Read;

use openpgp::crypto::SessionKey;
use openpgp::packet::{Tag, PKESK, SKESK};
use openpgp::parse::buffered_reader::BufferedReader as _;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure,
    VerificationError, VerificationHelper, VerificationResult, VerifierBuilder,
};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

use super::keys::{fpr_hex, handle_hex, TeamKeys};
use super::{sq_reason, OpenError, SignatureStatus};

/// Sequoia's internal hold-back buffer. The whole plaintext is buffered by us
/// anyway; ~1 MiB keeps per-message cost low (the 25 MiB default is slow).
const BUFFER_SIZE: usize = 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Most PKESK decryption attempts per message.
const MAX_PKESK_ATTEMPTS: usize = 32;

/// What one OpenPGP message (armored or binary) yielded.
pub(crate) struct Processed {
    pub(crate) plaintext: Vec<u8>,
    pub(crate) encrypted: bool,
    pub(crate) signature: SignatureStatus,
    pub(crate) decrypted_with: Option<String>,
    /// The session key, to re-verify (with more certs) without another
    /// public-key operation.
    pub(crate) session_key: Option<CachedSessionKey>,
}

#[derive(Clone)]
pub(crate) struct CachedSessionKey {
    algo: Option<SymmetricAlgorithm>,
    key: SessionKey,
    cert: Option<Cert>,
    decrypted_with: Option<String>,
}

/// Collects the verification outcome; shared by all helpers.
struct Verification<'a> {
    certs: &'a [Cert],
    checked: bool,
    encrypted: bool,
    results: Vec<SignatureStatus>,
}

impl<'a> Verification<'a> {
    fn new(certs: &'a [Cert]) -> Self {
        Verification {
            certs,
            checked: false,
            encrypted: false,
            results: Vec::new(),
        }
    }

    fn get_certs(&self, ids: &[KeyHandle]) -> Vec<Cert> {
        self.certs
            .iter()
            .filter(|c| {
                c.keys()
                    .any(|k| ids.iter().any(|id| id.aliases(k.key().key_handle())))
            })
            .cloned()
            .collect()
    }

    fn check(&mut self, structure: MessageStructure) {
        for layer in structure {
            match layer {
                MessageLayer::Encryption { .. } => self.encrypted = true,
                MessageLayer::Compression { .. } => {}
                MessageLayer::SignatureGroup { results } => {
                    let statuses: Vec<SignatureStatus> =
                        results.into_iter().map(classify).collect();
                    self.results.push(combine_same_data(statuses));
                }
            }
        }
        self.checked = true;
    }

    fn status(&self) -> SignatureStatus {
        combine_objects(self.results.iter().cloned())
    }
}

/// Several signatures over the same data: one good signature authenticates
/// it, unless another one is bad.
fn combine_same_data(statuses: Vec<SignatureStatus>) -> SignatureStatus {
    if let Some(bad) = statuses
        .iter()
        .find(|s| matches!(s, SignatureStatus::Bad { .. }))
    {
        return bad.clone();
    }
    if let Some(good) = statuses
        .iter()
        .find(|s| matches!(s, SignatureStatus::Good { .. }))
    {
        return good.clone();
    }
    statuses.into_iter().next().unwrap_or(SignatureStatus::None)
}

/// Signatures over different objects (parts, blocks) of one mail: the
/// weakest wins, so a good signature on one part cannot vouch for another
/// part signed by an unknown key. Bad > UnknownKey > Good > None.
pub(crate) fn combine_objects(
    statuses: impl IntoIterator<Item = SignatureStatus>,
) -> SignatureStatus {
    let rank = |s: &SignatureStatus| match s {
        SignatureStatus::Bad { .. } => 3,
        SignatureStatus::UnknownKey { .. } => 2,
        SignatureStatus::Good { .. } => 1,
        SignatureStatus::None => 0,
    };
    let mut best = SignatureStatus::None;
    for s in statuses {
        if rank(&s) > rank(&best) {
            best = s;
        }
    }
    best
}

thread_local! {
    /// The creation time of the oldest good signature verified on this
    /// thread since the last [`take_oldest_good`]. Sound because opening one
    /// mail runs on one thread from start to end, and [`super::open_with`]
    /// resets it first and takes it last (issue 12: replay window).
    static OLDEST_GOOD: Cell<Option<std::time::SystemTime>> = const { Cell::new(None) };
}

/// Forget the recorded signature times (start of opening a mail).
pub(crate) fn reset_oldest_good() {
    OLDEST_GOOD.with(|c| c.set(None));
}

/// The creation time of the oldest good signature seen since the reset.
pub(crate) fn take_oldest_good() -> Option<std::time::SystemTime> {
    OLDEST_GOOD.with(|c| c.take())
}

fn record_good(created: Option<std::time::SystemTime>) {
    // NOTE: a good signature without a creation time counts as the oldest possible.
    let created = created.unwrap_or(std::time::UNIX_EPOCH);
    OLDEST_GOOD.with(|c| {
        let oldest = c.get().map_or(created, |o| o.min(created));
        c.set(Some(oldest));
    });
}

fn classify(result: VerificationResult<'_>) -> SignatureStatus {
    match result {
        Ok(good) => {
            record_good(good.sig.signature_creation_time());
            SignatureStatus::Good {
                fingerprint: fpr_hex(&good.ka.cert().fingerprint()),
            }
        }
        Err(VerificationError::MissingKey { sig }) => {
            let issuers = sig.get_issuers();
            // Prefer a fingerprint over a key id.
            let issuer = issuers
                .iter()
                .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
                .or_else(|| issuers.first())
                .map(handle_hex)
                .unwrap_or_else(|| "unknown".into());
            SignatureStatus::UnknownKey { issuer }
        }
        Err(VerificationError::UnboundKey { cert, error, .. }) => SignatureStatus::Bad {
            fingerprint: Some(fpr_hex(&cert.fingerprint())),
            reason: format!("signing key is not bound: {}", sq_reason(&error)),
        },
        Err(VerificationError::BadKey { ka, error, .. }) => SignatureStatus::Bad {
            fingerprint: Some(fpr_hex(&ka.cert().fingerprint())),
            reason: format!("signing key is not usable: {}", sq_reason(&error)),
        },
        Err(VerificationError::BadSignature { ka, error, .. }) => SignatureStatus::Bad {
            fingerprint: Some(fpr_hex(&ka.cert().fingerprint())),
            reason: format!("signature does not verify: {}", sq_reason(&error)),
        },
        Err(VerificationError::MalformedSignature { error, .. }) => SignatureStatus::Bad {
            fingerprint: None,
            reason: format!("malformed signature: {}", sq_reason(&error)),
        },
        Err(VerificationError::UnknownSignature { sig }) => SignatureStatus::Bad {
            fingerprint: None,
            reason: format!("unparsable signature: {}", sig.error()),
        },
        Err(other) => SignatureStatus::Bad {
            fingerprint: None,
            reason: other.to_string(),
        },
    }
}

struct Helper<'a> {
    keys: &'a TeamKeys,
    verification: Verification<'a>,
    cached: Option<CachedSessionKey>,
    /// A session key was accepted.
    session_key: Option<CachedSessionKey>,
    /// Outlives the helper (which the decryptor drops on failure): whether
    /// decryption had started when an error occurred.
    decrypted: &'a Cell<bool>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.verification.get_certs(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        self.verification.check(structure);
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        if let Some(cached) = self.cached.take() {
            if decrypt(cached.algo, &cached.key) {
                self.decrypted.set(true);
                let cert = cached.cert.clone();
                self.session_key = Some(cached);
                return Ok(cert);
            }
        }

        // Named recipients first, then hidden (wildcard) recipients with
        // every team decryption key.
        let named = pkesks.iter().filter_map(|p| {
            let h = p.recipient()?;
            (!is_wildcard(&h)).then_some((p, Some(h)))
        });
        let hidden = pkesks
            .iter()
            .filter(|p| p.recipient().map(|h| is_wildcard(&h)).unwrap_or(true))
            .map(|p| (p, None));
        // Bound the public-key operations a hostile message can cause
        // (e.g. hundreds of wildcard PKESKs times every team key).
        let mut attempts = 0usize;
        for (pkesk, handle) in named.chain(hidden) {
            for candidate in self.keys.decryption_candidates(handle.as_ref()) {
                if candidate.key.pk_algo() != pkesk.pk_algo() {
                    continue;
                }
                attempts += 1;
                if attempts > MAX_PKESK_ATTEMPTS {
                    return Err(openpgp::Error::MissingSessionKey(
                        "too many recipient packets tried".into(),
                    )
                    .into());
                }
                let Ok(mut keypair) = candidate.key.clone().into_keypair() else {
                    continue;
                };
                let Some((algo, sk)) = pkesk.decrypt(&mut keypair, sym_algo) else {
                    continue;
                };
                if decrypt(algo, &sk) {
                    self.decrypted.set(true);
                    let cert = self.keys.cert(candidate.cert).cloned();
                    self.session_key = Some(CachedSessionKey {
                        algo,
                        key: sk,
                        cert: cert.clone(),
                        decrypted_with: Some(fpr_hex(&candidate.key.fingerprint())),
                    });
                    return Ok(cert);
                }
            }
        }
        Err(openpgp::Error::MissingSessionKey("no team key can decrypt this message".into()).into())
    }
}

fn is_wildcard(h: &KeyHandle) -> bool {
    match h {
        KeyHandle::KeyID(id) => id.is_wildcard(),
        KeyHandle::Fingerprint(_) => false,
    }
}

/// Find a sequoia `Error` anywhere in an error chain.
fn find_sq_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e openpgp::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(sq) = e.downcast_ref::<openpgp::Error>() {
            return Some(sq);
        }
        cur = e.source();
    }
    None
}

/// Whether an error (chain) is sequoia's `ManipulatedMessage`, also when it
/// was boxed into an `io::Error` (where the type is erased but the message is
/// kept).
fn is_manipulated(err: &(dyn std::error::Error + 'static)) -> bool {
    if matches!(find_sq_error(err), Some(openpgp::Error::ManipulatedMessage)) {
        return true;
    }
    let needle = openpgp::Error::ManipulatedMessage.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.to_string() == needle {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Reject a top-level SEIPDv1 packet too short to hold the IV prefix and
/// the MDC: sequoia 2.4 panics on those (`data_consume_hard(..).unwrap()` in
/// `PacketParser::decrypt_`). Only the packets up to the first container are
/// looked at, so this is cheap.
fn precheck(data: &[u8]) -> Result<(), OpenError> {
    // Largest supported block size (16) + 2 prefix bytes + 22 bytes MDC.
    const MIN_SEIPD_V1_BODY: usize = 16 + 2 + 22;
    let Ok(mut ppr) = PacketParser::from_bytes(data) else {
        return Ok(()); // the decryptor reports the parse error
    };
    let mut n = 0;
    while let PacketParserResult::Some(mut pp) = ppr {
        n += 1;
        if n > 1024 {
            break;
        }
        match &pp.packet {
            openpgp::Packet::SEIP(openpgp::packet::SEIP::V1(_)) => {
                let available = pp.data(MIN_SEIPD_V1_BODY).map(|d| d.len()).unwrap_or(0);
                if available < MIN_SEIPD_V1_BODY {
                    return Err(OpenError::Malformed {
                        reason: "encrypted data packet is truncated".into(),
                    });
                }
                return Ok(());
            }
            openpgp::Packet::SEIP(_)
            | openpgp::Packet::Literal(_)
            | openpgp::Packet::CompressedData(_) => return Ok(()),
            _ => {}
        }
        ppr = match pp.next() {
            Ok((_, next)) => next,
            Err(_) => return Ok(()),
        };
    }
    Ok(())
}

/// Top-level packet facts, gathered only after a failure to explain it.
#[derive(Default)]
struct TopLevel {
    sed: bool,
    aed: bool,
    skesk: bool,
    pkesk_recipients: Vec<String>,
}

fn scan_top_level(data: &[u8]) -> TopLevel {
    let mut out = TopLevel::default();
    let Ok(mut ppr) = PacketParser::from_bytes(data) else {
        return out;
    };
    let mut n = 0;
    while let PacketParserResult::Some(pp) = ppr {
        n += 1;
        if n > 1024 {
            break;
        }
        match pp.packet.tag() {
            Tag::SED => out.sed = true,
            Tag::AED => out.aed = true,
            Tag::SKESK => out.skesk = true,
            _ => {}
        }
        if let openpgp::Packet::PKESK(p) = &pp.packet {
            out.pkesk_recipients.push(match p.recipient() {
                Some(h) if !is_wildcard(&h) => handle_hex(&h),
                _ => "hidden".into(),
            });
        }
        ppr = match pp.next() {
            Ok((_, next)) => next,
            Err(_) => break,
        };
    }
    out
}

/// Map a failure of the decryptor (construction or read) to an OpenError.
///
/// Once a session key was accepted (`decrypted`), any failure other than an
/// unsupported algorithm is an integrity failure: the data inside the
/// container is not what the sender encrypted (MDC/AEAD mismatch, or
/// corruption that broke inflate or packet framing before the MDC could be
/// checked), and none of it is released. This also covers sequoia's
/// `ManipulatedMessage` arriving as a type-erased `io::Error` from `read`.
fn map_failure(err: &(dyn std::error::Error + 'static), data: &[u8], decrypted: bool) -> OpenError {
    let mut no_key = false;
    if is_manipulated(err) {
        return OpenError::IntegrityCheckFailed;
    }
    if let Some(sq) = find_sq_error(err) {
        match sq {
            openpgp::Error::MissingSessionKey(_) => no_key = true,
            openpgp::Error::UnsupportedSymmetricAlgorithm(a) => {
                return OpenError::Unsupported {
                    reason: format!("symmetric algorithm {a}"),
                }
            }
            openpgp::Error::UnsupportedAEADAlgorithm(a) => {
                return OpenError::Unsupported {
                    reason: format!("AEAD algorithm {a}"),
                }
            }
            openpgp::Error::UnsupportedCompressionAlgorithm(a) => {
                return OpenError::Unsupported {
                    reason: format!("compression algorithm {a}"),
                }
            }
            openpgp::Error::UnsupportedPublicKeyAlgorithm(a) => {
                return OpenError::Unsupported {
                    reason: format!("public key algorithm {a}"),
                }
            }
            _ => {}
        }
    }
    if decrypted {
        return OpenError::IntegrityCheckFailed;
    }
    let top = scan_top_level(data);
    if top.sed {
        return OpenError::NoIntegrityProtection;
    }
    if top.aed {
        return OpenError::Unsupported {
            reason: "AEAD encrypted data packet (tag 20, pre-RFC 9580 draft)".into(),
        };
    }
    if no_key {
        let mut recipients = top.pkesk_recipients;
        if top.skesk {
            recipients.push("password".into());
        }
        return OpenError::NoDecryptionKey { recipients };
    }
    OpenError::Malformed {
        reason: error_chain(err),
    }
}

/// A one-line description of an error chain (sequoia errors carry no
/// plaintext), bounded in length.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    super::one_line(&parts.join(": "))
}

/// Read a stream to the end into a private buffer, bounded by `budget`.
/// On error the partial plaintext is wiped and dropped.
fn read_bounded(r: &mut dyn Read, budget: usize, limit: usize) -> Result<Vec<u8>, ReadFailure> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n.min(chunk.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                wipe(&mut out);
                wipe(&mut chunk);
                return Err(ReadFailure::Io(e));
            }
        };
        if out.len().saturating_add(n) > budget {
            wipe(&mut out);
            wipe(&mut chunk);
            return Err(ReadFailure::TooLarge { limit });
        }
        out.extend_from_slice(&chunk[..n]);
    }
    wipe(&mut chunk);
    Ok(out)
}

enum ReadFailure {
    Io(std::io::Error),
    TooLarge { limit: usize },
}

/// Best-effort zeroing of plaintext we are about to drop.
pub(crate) fn wipe(buf: &mut Vec<u8>) {
    buf.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&buf);
    buf.clear();
}

/// The packets of an armored `PGP MESSAGE` block, decoded with the `base64`
/// crate (sequoia's armor reader filters byte by byte and was the largest
/// single cost of opening a big encrypted report). Only the plain shape is
/// taken: BEGIN line, `Key: value` headers, blank line, base64 lines, an
/// optional checksum line (ignored, as sequoia and RFC 9580 do), END line,
/// nothing but whitespace around. Anything else returns None and sequoia
/// reads the original bytes, so odd input behaves exactly as before.
pub(crate) fn dearmor(data: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    const BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
    const END: &[u8] = b"-----END PGP MESSAGE-----";
    let start = data.iter().position(|b| !b.is_ascii_whitespace())?;
    let mut lines = data[start..]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    if lines.next()?.trim_ascii_end() != BEGIN {
        return None;
    }
    // headers, up to the blank line
    loop {
        let line = lines.next()?.trim_ascii_end();
        if line.is_empty() {
            break;
        }
        if !line.windows(2).any(|w| w == b": ") {
            return None;
        }
    }
    let mut b64 = Vec::with_capacity(data.len() * 3 / 4 + 4);
    loop {
        let line = lines.next()?.trim_ascii();
        if line == END {
            break;
        }
        if line.first() == Some(&b'=') {
            if line.len() != 5 || lines.next()?.trim_ascii() != END {
                return None;
            }
            break;
        }
        b64.extend_from_slice(line);
    }
    if !lines.all(|l| l.iter().all(u8::is_ascii_whitespace)) {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(&b64).ok()
}

/// Decrypt and/or verify one OpenPGP message (armored or binary):
/// encrypted, signed, compressed, or any nesting of those.
///
/// `budget` is the number of plaintext bytes still allowed for this mail;
/// `limit` is the configured total, reported in `TooLarge`.
pub(crate) fn process_message(
    data: &[u8],
    keys: &TeamKeys,
    certs: &[Cert],
    budget: usize,
    limit: usize,
    cached: Option<CachedSessionKey>,
) -> Result<Processed, OpenError> {
    let binary = dearmor(data);
    let data = binary.as_deref().unwrap_or(data);
    precheck(data)?;
    let policy = StandardPolicy::new();
    let decrypted = Cell::new(false);
    let helper = Helper {
        keys,
        verification: Verification::new(certs),
        cached,
        session_key: None,
        decrypted: &decrypted,
    };
    let builder = DecryptorBuilder::from_bytes(data).map_err(|e| OpenError::Malformed {
        reason: sq_reason(&e),
    })?;
    // The helper is moved into the decryptor; on construction failure it is
    // gone, so failure facts come from the error and a packet scan.
    let mut decryptor = match builder
        .buffer_size(BUFFER_SIZE)
        .with_policy(&policy, None, helper)
    {
        Ok(d) => d,
        Err(e) => {
            let err: &(dyn std::error::Error + 'static) = e.as_ref();
            return Err(map_failure(err, data, decrypted.get()));
        }
    };
    let plaintext = match read_bounded(&mut decryptor, budget, limit) {
        Ok(p) => p,
        Err(ReadFailure::TooLarge { limit }) => return Err(OpenError::TooLarge { limit }),
        Err(ReadFailure::Io(e)) => return Err(map_failure(&e, data, decrypted.get())),
    };
    let processed = decryptor.message_processed();
    let helper = decryptor.into_helper();
    if !processed || !helper.verification.checked {
        let mut plaintext = plaintext;
        wipe(&mut plaintext);
        return Err(OpenError::Malformed {
            reason: "cannot finish processing the OpenPGP message".into(),
        });
    }
    let decrypted_with = helper
        .session_key
        .as_ref()
        .and_then(|s| s.decrypted_with.clone());
    Ok(Processed {
        plaintext,
        encrypted: helper.verification.encrypted,
        signature: helper.verification.status(),
        decrypted_with,
        session_key: helper.session_key,
    })
}

/// Verify an inline clear-signed (Cleartext Signature Framework) block and
/// return the signed text.
pub(crate) fn process_cleartext(
    data: &[u8],
    certs: &[Cert],
    budget: usize,
    limit: usize,
) -> Result<(Vec<u8>, SignatureStatus), OpenError> {
    let policy = StandardPolicy::new();
    let helper = VerifyOnly {
        verification: Verification::new(certs),
    };
    let mut verifier = VerifierBuilder::from_bytes(data)
        .and_then(|b| {
            b.buffer_size(BUFFER_SIZE)
                .with_policy(&policy, None, helper)
        })
        .map_err(|e| OpenError::Malformed {
            reason: format!("cannot parse clear-signed text: {}", sq_reason(&e)),
        })?;
    let text = match read_bounded(&mut verifier, budget, limit) {
        Ok(t) => t,
        Err(ReadFailure::TooLarge { limit }) => return Err(OpenError::TooLarge { limit }),
        Err(ReadFailure::Io(e)) => {
            return Err(OpenError::Malformed {
                reason: format!("cannot parse clear-signed text: {}", error_chain(&e)),
            })
        }
    };
    let processed = verifier.message_processed();
    let helper = verifier.into_helper();
    if !processed || !helper.verification.checked {
        return Err(OpenError::Malformed {
            reason: "cannot finish verifying clear-signed text".into(),
        });
    }
    Ok((text, helper.verification.status()))
}

struct VerifyOnly<'a> {
    verification: Verification<'a>,
}

impl VerificationHelper for VerifyOnly<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.verification.get_certs(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        self.verification.check(structure);
        Ok(())
    }
}

/// Verify a detached signature (`signature`, armored or binary) over
/// `data` (already canonicalized by the caller). A signature that cannot be
/// parsed is reported as `Bad`, not as an error: the data is still readable.
pub(crate) fn verify_detached(signature: &[u8], data: &[u8], certs: &[Cert]) -> SignatureStatus {
    let policy = StandardPolicy::new();
    let helper = VerifyOnly {
        verification: Verification::new(certs),
    };
    let mut verifier = match DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|b| b.with_policy(&policy, None, helper))
    {
        Ok(v) => v,
        Err(e) => {
            return SignatureStatus::Bad {
                fingerprint: None,
                reason: format!("cannot parse detached signature: {}", sq_reason(&e)),
            }
        }
    };
    if let Err(e) = verifier.verify_bytes(data) {
        return SignatureStatus::Bad {
            fingerprint: None,
            reason: format!("cannot verify detached signature: {}", sq_reason(&e)),
        };
    }
    let helper = verifier.into_helper();
    if !helper.verification.checked {
        return SignatureStatus::Bad {
            fingerprint: None,
            reason: "signature check did not run".into(),
        };
    }
    match helper.verification.status() {
        SignatureStatus::None => SignatureStatus::Bad {
            fingerprint: None,
            reason: "no signature in signature part".into(),
        },
        s => s,
    }
}

/// What an attachment or block holds, judged from its first bytes.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum PgpKind {
    /// PGP MESSAGE (encrypted/signed/compressed/literal), armored or binary.
    Message,
    /// Clear-signed text.
    SignedText,
    /// Public or secret key block.
    Keys,
    /// Detached signature.
    Signature,
    /// Anything else (not OpenPGP, or unrecognized).
    Other,
}

/// Classify bytes as an OpenPGP object by armor header or first packet tag.
pub(crate) fn classify_bytes(data: &[u8]) -> PgpKind {
    let head = &data[..data.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("-----BEGIN PGP ") {
            return match rest.trim_end_matches('-') {
                "MESSAGE" => PgpKind::Message,
                "SIGNED MESSAGE" => PgpKind::SignedText,
                "PUBLIC KEY BLOCK" | "PRIVATE KEY BLOCK" => PgpKind::Keys,
                "SIGNATURE" => PgpKind::Signature,
                _ => PgpKind::Other,
            };
        }
        // Armor may follow some leading text (e.g. a comment line); only
        // look a few lines in.
        if line.len() > 200 {
            break;
        }
    }
    let Some(&first) = data.first() else {
        return PgpKind::Other;
    };
    if first & 0x80 == 0 {
        return PgpKind::Other;
    }
    let tag = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        (first >> 2) & 0x0f
    };
    match tag {
        1 | 3 | 4 | 8 | 9 | 11 | 18 | 20 => PgpKind::Message,
        2 => PgpKind::Signature,
        5 | 6 => PgpKind::Keys,
        _ => PgpKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sequoia's own armor reader makes of `armored`.
    fn sequoia_dearmor(armored: &[u8]) -> Vec<u8> {
        let mut reader = openpgp::armor::Reader::from_bytes(
            armored,
            openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::Message)),
        );
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn dearmor_agrees_with_sequoia_on_the_plain_shape() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = openpgp::armor::Writer::with_headers(
            Vec::new(),
            openpgp::armor::Kind::Message,
            [("Comment", "test")],
        )
        .unwrap();
        std::io::Write::write_all(&mut w, &payload).unwrap();
        let armored = w.finalize().unwrap();
        assert_eq!(dearmor(&armored).unwrap(), payload);
        assert_eq!(sequoia_dearmor(&armored), payload);

        let crlf: Vec<u8> = String::from_utf8(armored.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        assert_eq!(dearmor(&crlf).unwrap(), payload);
        let padded = [b"\r\n  ".as_slice(), &crlf, b"\r\n\r\n"].concat();
        assert_eq!(dearmor(&padded).unwrap(), payload);

        // no checksum line, and a wrong one: both ignored, as sequoia does
        let text = String::from_utf8(armored).unwrap();
        let crc_line = text
            .lines()
            .find(|l| l.starts_with('='))
            .unwrap()
            .to_string();
        let no_crc = text.replace(&format!("{crc_line}\n"), "");
        assert_eq!(dearmor(no_crc.as_bytes()).unwrap(), payload);
        let bad_crc = text.replace(&crc_line, "=AAAA");
        assert_eq!(dearmor(bad_crc.as_bytes()).unwrap(), payload);
        assert_eq!(sequoia_dearmor(bad_crc.as_bytes()), payload);
    }

    #[test]
    fn dearmor_leaves_odd_shapes_to_sequoia() {
        let body = "-----BEGIN PGP MESSAGE-----\n\nwy4ECQMI\n-----END PGP MESSAGE-----\n";
        assert!(dearmor(body.as_bytes()).is_some());
        for odd in [
            "",
            "hello",
            "-----BEGIN PGP SIGNATURE-----\n\nwy4ECQMI\n-----END PGP SIGNATURE-----\n",
            "-----BEGIN PGP MESSAGE-----\nnot a header\n\nwy4ECQMI\n-----END PGP MESSAGE-----\n",
            "-----BEGIN PGP MESSAGE-----\n\nwy4ECQMI\n",
            "-----BEGIN PGP MESSAGE-----\n\nwy4E*QMI\n-----END PGP MESSAGE-----\n",
            "-----BEGIN PGP MESSAGE-----\n\nwy4ECQMI\n-----END PGP MESSAGE-----\ntrailing text\n",
            "> -----BEGIN PGP MESSAGE-----\n> \n> wy4ECQMI\n> -----END PGP MESSAGE-----\n",
            "-----BEGIN PGP MESSAGE-----\n\nwy4ECQMI\n=abc\n-----END PGP MESSAGE-----\n",
        ] {
            assert!(dearmor(odd.as_bytes()).is_none(), "{odd:?}");
        }
    }

    fn good(f: &str) -> SignatureStatus {
        SignatureStatus::Good {
            fingerprint: f.into(),
        }
    }

    fn bad() -> SignatureStatus {
        SignatureStatus::Bad {
            fingerprint: None,
            reason: "r".into(),
        }
    }

    fn unknown() -> SignatureStatus {
        SignatureStatus::UnknownKey { issuer: "I".into() }
    }

    #[test]
    fn combine_objects_lets_the_weakest_status_win() {
        assert_eq!(combine_objects(Vec::new()), SignatureStatus::None);
        assert_eq!(
            combine_objects(vec![SignatureStatus::None, good("A")]),
            good("A")
        );
        assert_eq!(combine_objects(vec![good("A"), unknown()]), unknown());
        assert_eq!(combine_objects(vec![unknown(), good("A"), bad()]), bad());
    }

    #[test]
    fn combine_same_data_accepts_one_good_signature_unless_one_is_bad() {
        assert_eq!(combine_same_data(vec![unknown(), good("A")]), good("A"));
        assert_eq!(combine_same_data(vec![good("A"), bad()]), bad());
        assert_eq!(combine_same_data(vec![unknown()]), unknown());
        assert_eq!(combine_same_data(Vec::new()), SignatureStatus::None);
    }

    #[test]
    fn classify_bytes_recognizes_armor_and_binary_packets() {
        assert_eq!(
            classify_bytes(b"-----BEGIN PGP MESSAGE-----\n"),
            PgpKind::Message
        );
        assert_eq!(
            classify_bytes(b"\r\n  -----BEGIN PGP SIGNED MESSAGE-----\r\n"),
            PgpKind::SignedText
        );
        assert_eq!(
            classify_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"),
            PgpKind::Keys
        );
        assert_eq!(
            classify_bytes(b"-----BEGIN PGP PRIVATE KEY BLOCK-----"),
            PgpKind::Keys
        );
        assert_eq!(
            classify_bytes(b"-----BEGIN PGP SIGNATURE-----"),
            PgpKind::Signature
        );
        assert_eq!(
            classify_bytes(&[0xC1, 0x5E]),
            PgpKind::Message,
            "new-format PKESK"
        );
        assert_eq!(
            classify_bytes(&[0x85, 0x01]),
            PgpKind::Message,
            "old-format PKESK"
        );
        assert_eq!(
            classify_bytes(&[0x99, 0x01]),
            PgpKind::Keys,
            "old-format public key"
        );
        assert_eq!(classify_bytes(&[0xC2, 0x01]), PgpKind::Signature);
        assert_eq!(classify_bytes(b"Version: 1\r\n"), PgpKind::Other);
        assert_eq!(classify_bytes(b""), PgpKind::Other);
        assert_eq!(classify_bytes(&[0xFF; 8]), PgpKind::Other);
    }

    #[test]
    fn is_manipulated_sees_through_io_error_boxing() {
        let e: openpgp::anyhow::Error = openpgp::Error::ManipulatedMessage.into();
        let io = std::io::Error::other(e);
        assert!(is_manipulated(&io));
        let other = std::io::Error::other("unexpected EOF");
        assert!(!is_manipulated(&other));
    }
}

//! Outgoing OpenPGP: RFC 3156 PGP/MIME encryption and signing, clear-signing.
//!
//! Produces the body and Content-Type value of `multipart/encrypted` and
//! `multipart/signed` entities (the caller adds its outer headers), and
//! clear-signed text (security.txt, RFC 9116). Signs with the team's primary
//! (first) cert.
//!
//! Must not: write anywhere but the returned buffers, encrypt to keys that
//! are expired/revoked/not encryption-capable, or sign anything other than the
//! exact canonical (CRLF) bytes it returns.

use std::io::Write;

use openpgp::armor;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use openpgp::types::HashAlgorithm;
use openpgp::Cert;
use sequoia_openpgp as openpgp;

use super::keys::{fpr_hex, TeamKeys};
use super::mime::to_crlf;
use super::{sq_reason, OpenError};

/// An RFC 3156 entity: the value for the outer `Content-Type:` header and the
/// body (preamble, parts, closing delimiter; CRLF line endings).
#[derive(Clone)]
pub struct SealedMime {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// `Debug` shows the size only: a signed body contains plaintext.
impl std::fmt::Debug for SealedMime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedMime")
            .field("content_type", &self.content_type)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

fn sealing(what: &str, e: impl std::fmt::Display) -> OpenError {
    OpenError::Sealing {
        reason: format!("{what}: {}", sq_reason(&e)),
    }
}

/// A random boundary that does not occur in `content`.
fn boundary_for(content: &[u8]) -> Result<String, OpenError> {
    for _ in 0..8 {
        let mut rnd = [0u8; 12];
        openpgp::crypto::random(&mut rnd).map_err(|e| sealing("no randomness", e))?;
        let b = format!("hexon-{}", hex::encode(rnd));
        if !content.windows(b.len()).any(|w| w == b.as_bytes()) {
            return Ok(b);
        }
    }
    Err(OpenError::Sealing {
        reason: "no unique MIME boundary found".into(),
    })
}

/// The transport-encryption keys of `recipients`; each must have one.
fn transport_keys<'a>(
    recipients: &'a [Cert],
    policy: &'a StandardPolicy<'a>,
) -> Result<Vec<Recipient<'a>>, OpenError> {
    let mut recipient_keys: Vec<Recipient<'_>> = Vec::new();
    for cert in recipients {
        let vc = cert
            .with_policy(policy, None)
            .map_err(|e| OpenError::Sealing {
                reason: format!(
                    "recipient {} is not valid: {}",
                    fpr_hex(&cert.fingerprint()),
                    sq_reason(&e)
                ),
            })?;
        let before = recipient_keys.len();
        for ka in vc
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .for_transport_encryption()
        {
            recipient_keys.push(ka.into());
        }
        if recipient_keys.len() == before {
            return Err(OpenError::Sealing {
                reason: format!(
                    "recipient {} has no usable encryption key",
                    fpr_hex(&cert.fingerprint())
                ),
            });
        }
    }
    Ok(recipient_keys)
}

/// `data` encrypted (not signed) to `recipients`, ASCII-armored: how values
/// of encrypted reports are kept at rest (see `crate::atrest`).
///
/// # Errors
/// No recipient, or one without a usable encryption key.
pub fn encrypt_armored(data: &[u8], recipients: &[Cert]) -> Result<String, OpenError> {
    let policy = StandardPolicy::new();
    if recipients.is_empty() {
        return Err(OpenError::Sealing {
            reason: "no recipients".into(),
        });
    }
    let recipient_keys = transport_keys(recipients, &policy)?;
    let mut armored = Vec::new();
    {
        let message = Message::new(&mut armored);
        let message = Armorer::new(message)
            .kind(armor::Kind::Message)
            .build()
            .map_err(|e| sealing("armor", e))?;
        let message = Encryptor::for_recipients(message, recipient_keys)
            .build()
            .map_err(|e| sealing("encrypt", e))?;
        let mut literal = LiteralWriter::new(message)
            .build()
            .map_err(|e| sealing("literal", e))?;
        literal.write_all(data).map_err(|e| sealing("write", e))?;
        literal.finalize().map_err(|e| sealing("finalize", e))?;
    }
    String::from_utf8(armored).map_err(|_| OpenError::Sealing {
        reason: "armor is not text".into(),
    })
}

/// RFC 3156 PGP/MIME encryption of a complete inner MIME entity (headers +
/// body; line endings are canonicalized to CRLF) to `recipients`, signed
/// inside the encryption by the team's primary key.
pub fn seal_pgp_mime(
    inner_entity: &[u8],
    recipients: &[Cert],
    signer: &TeamKeys,
) -> Result<SealedMime, OpenError> {
    let policy = StandardPolicy::new();
    if recipients.is_empty() {
        return Err(OpenError::Sealing {
            reason: "no recipients".into(),
        });
    }
    let recipient_keys = transport_keys(recipients, &policy)?;
    let keypair = signer.signing_keypair(&policy)?;
    let canonical = to_crlf(inner_entity);

    let mut armored = Vec::new();
    {
        let message = Message::new(&mut armored);
        let message = Armorer::new(message)
            .kind(armor::Kind::Message)
            .build()
            .map_err(|e| sealing("armor", e))?;
        let message = Encryptor::for_recipients(message, recipient_keys)
            .build()
            .map_err(|e| sealing("encrypt", e))?;
        let mut builder = Signer::new(message, keypair).map_err(|e| sealing("sign", e))?;
        for cert in recipients {
            builder = builder.add_intended_recipient(cert);
        }
        let message = builder.build().map_err(|e| sealing("sign", e))?;
        let mut literal = LiteralWriter::new(message)
            .build()
            .map_err(|e| sealing("literal", e))?;
        literal
            .write_all(&canonical)
            .map_err(|e| sealing("write", e))?;
        literal.finalize().map_err(|e| sealing("finalize", e))?;
    }
    let armored = to_crlf(&armored);

    let boundary = boundary_for(&armored)?;
    let mut body = Vec::with_capacity(armored.len() + 512);
    body.extend_from_slice(b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n");
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Type: application/pgp-encrypted\r\n\
          Content-Description: PGP/MIME version identification\r\n\
          \r\n\
          Version: 1\r\n\
          \r\n",
    );
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
          Content-Description: OpenPGP encrypted message\r\n\
          Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\
          \r\n",
    );
    body.extend_from_slice(&armored);
    if !armored.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(SealedMime {
        content_type: format!(
            "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"{boundary}\""
        ),
        body,
    })
}

/// `micalg` name (RFC 3156 section 5, RFC 4880 hash names) for a hash.
fn micalg(algo: HashAlgorithm) -> String {
    let name = match algo {
        HashAlgorithm::SHA256 => "sha256",
        HashAlgorithm::SHA384 => "sha384",
        HashAlgorithm::SHA512 => "sha512",
        HashAlgorithm::SHA224 => "sha224",
        HashAlgorithm::SHA3_256 => "sha3-256",
        HashAlgorithm::SHA3_512 => "sha3-512",
        HashAlgorithm::SHA1 => "sha1",
        other => return format!("pgp-{}", other.to_string().to_ascii_lowercase()),
    };
    format!("pgp-{name}")
}

/// RFC 3156 `multipart/signed` over the exact canonical (CRLF) bytes of
/// `inner_entity`, with a detached armored signature by the team's primary
/// key (SHA-256 when the key allows it; `micalg` follows the hash used).
///
/// The caller should use 7bit-safe transfer encodings (quoted-printable or
/// base64) inside `inner_entity`, so that transport cannot change the signed
/// bytes.
pub fn sign_pgp_mime(inner_entity: &[u8], signer: &TeamKeys) -> Result<SealedMime, OpenError> {
    let policy = StandardPolicy::new();
    let keypair = signer.signing_keypair(&policy)?;
    let canonical = to_crlf(inner_entity);
    let prefer_sha256 = {
        use openpgp::crypto::Signer as _;
        keypair.acceptable_hashes().contains(&HashAlgorithm::SHA256)
    };

    let mut sig_armored = Vec::new();
    {
        let message = Message::new(&mut sig_armored);
        let message = Armorer::new(message)
            .kind(armor::Kind::Signature)
            .build()
            .map_err(|e| sealing("armor", e))?;
        let mut builder = Signer::new(message, keypair)
            .map_err(|e| sealing("sign", e))?
            .detached();
        if prefer_sha256 {
            builder = builder
                .hash_algo(HashAlgorithm::SHA256)
                .map_err(|e| sealing("sign", e))?;
        }
        let mut w = builder.build().map_err(|e| sealing("sign", e))?;
        w.write_all(&canonical).map_err(|e| sealing("write", e))?;
        w.finalize().map_err(|e| sealing("finalize", e))?;
    }
    let sig =
        openpgp::Packet::from_bytes(&sig_armored).map_err(|e| sealing("reparse signature", e))?;
    let hash = match sig {
        openpgp::Packet::Signature(s) => s.hash_algo(),
        _ => {
            return Err(OpenError::Sealing {
                reason: "signer produced no signature packet".into(),
            })
        }
    };
    let sig_armored = to_crlf(&sig_armored);

    let mut all = canonical.clone();
    all.extend_from_slice(&sig_armored);
    let boundary = boundary_for(&all)?;
    let mut body = Vec::with_capacity(canonical.len() + sig_armored.len() + 512);
    body.extend_from_slice(b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n");
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(&canonical);
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
          Content-Description: OpenPGP digital signature\r\n\
          Content-Disposition: attachment; filename=\"signature.asc\"\r\n\
          \r\n",
    );
    body.extend_from_slice(&sig_armored);
    if !sig_armored.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(SealedMime {
        content_type: format!(
            "multipart/signed; micalg={}; protocol=\"application/pgp-signature\"; boundary=\"{boundary}\"",
            micalg(hash)
        ),
        body,
    })
}

/// Clear-sign `text` (Cleartext Signature Framework) with the team's primary
/// key, e.g. for security.txt (RFC 9116). Trailing whitespace is not part of
/// the signed text (as the framework requires).
pub fn clearsign(text: &str, signer: &TeamKeys) -> Result<String, OpenError> {
    let policy = StandardPolicy::new();
    let keypair = signer.signing_keypair(&policy)?;
    let mut out = Vec::new();
    {
        let message = Message::new(&mut out);
        let mut w = Signer::new(message, keypair)
            .map_err(|e| sealing("sign", e))?
            .cleartext()
            .build()
            .map_err(|e| sealing("sign", e))?;
        w.write_all(text.as_bytes())
            .map_err(|e| sealing("write", e))?;
        w.finalize().map_err(|e| sealing("finalize", e))?;
    }
    String::from_utf8(out).map_err(|_| OpenError::Sealing {
        reason: "clear-signed output is not utf-8".into(),
    })
}

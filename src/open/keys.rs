//! Team key material (certs with unlocked secret keys) and small cert helpers.
//!
//! Loads team TSKs from disk or memory, unlocks passphrase-protected secret
//! keys once, and answers which key decrypts or signs. Also parses, armors and
//! inspects other parties' certificates.
//!
//! Must not: keep passphrases, export secret key material anywhere (public
//! certs only leave this module), log anything, or panic on hostile key files.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use openpgp::cert::CertParser;
use openpgp::crypto::{KeyPair, Password, S2K};
use openpgp::packet::key::{SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::serialize::SerializeInto;
use openpgp::{Cert, Fingerprint, KeyHandle};
use sequoia_openpgp as openpgp;

use super::{sq_reason, KeyInfo, OpenError};

/// An unlocked secret (sub)key of a team cert.
#[derive(Clone)]
pub(crate) struct SecretKey {
    /// Index into `TeamKeys::certs`.
    pub(crate) cert: usize,
    pub(crate) key: Key<SecretParts, UnspecifiedRole>,
    /// Whether a binding signature flags it for encryption (tried first for
    /// hidden recipients).
    pub(crate) flagged_for_encryption: bool,
}

/// The team's certs with their (unlocked) secret keys. Several certs may be
/// loaded at once for key rotation; the first one signs outgoing mail.
/// Cheap enough to clone; share it behind an `Arc` in long-lived services.
#[derive(Clone)]
pub struct TeamKeys {
    /// Public certs (secrets stripped), in load order.
    certs: Vec<Cert>,
    /// Unlocked secret keys usable for decryption (algorithm can encrypt).
    decryption_keys: Vec<SecretKey>,
    /// Unlocked secret keys usable for signing (algorithm can sign).
    signing_keys: Vec<SecretKey>,
}

impl std::fmt::Debug for TeamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamKeys")
            .field(
                "certs",
                &self
                    .certs
                    .iter()
                    .map(|c| fpr_hex(&c.fingerprint()))
                    .collect::<Vec<_>>(),
            )
            .field("decryption_keys", &self.decryption_keys.len())
            .field("signing_keys", &self.signing_keys.len())
            .finish()
    }
}

impl TeamKeys {
    /// Load one or more files, each armored or binary, each may hold one or
    /// more TSKs (cert + secrets). `passphrase` unlocks encrypted secret keys.
    pub fn load(files: &[PathBuf], passphrase: Option<&str>) -> Result<Self, OpenError> {
        let mut certs = Vec::new();
        let mut unlocked = Vec::new();
        for path in files {
            let bad = |reason: String| OpenError::BadKeyFile {
                path: path.display().to_string(),
                reason,
            };
            let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
            let mut file_certs = Vec::new();
            for cert in CertParser::from_bytes(&bytes).map_err(|e| bad(sq_reason(&e)))? {
                file_certs.push(cert.map_err(|e| bad(sq_reason(&e)))?);
            }
            if file_certs.is_empty() {
                return Err(bad("no OpenPGP certificate in file".into()));
            }
            let keys = Self::unlock(&file_certs, passphrase).map_err(|e| match e {
                OpenError::BadKey {
                    fingerprint,
                    reason,
                } => bad(format!("key {fingerprint}: {reason}")),
                other => other,
            })?;
            certs.extend(file_certs);
            unlocked.extend(keys);
        }
        Ok(Self::build(certs, unlocked))
    }

    /// Build from certs that carry secret key material.
    pub fn from_certs(certs: Vec<Cert>, passphrase: Option<&str>) -> Result<Self, OpenError> {
        let unlocked = Self::unlock(&certs, passphrase)?;
        Ok(Self::build(certs, unlocked))
    }

    fn build(certs: Vec<Cert>, unlocked: Vec<Vec<Key<SecretParts, UnspecifiedRole>>>) -> Self {
        let policy = StandardPolicy::new();
        let mut decryption_keys = Vec::new();
        let mut signing_keys = Vec::new();
        for (idx, (cert, keys)) in certs.iter().zip(unlocked).enumerate() {
            let enc_flagged: HashSet<Fingerprint> = cert
                .keys()
                .with_policy(&policy, None)
                .for_transport_encryption()
                .chain(
                    cert.keys()
                        .with_policy(&policy, None)
                        .for_storage_encryption(),
                )
                .map(|ka| ka.key().fingerprint())
                .collect();
            for key in keys {
                let algo = key.pk_algo();
                if algo.for_encryption() {
                    decryption_keys.push(SecretKey {
                        cert: idx,
                        flagged_for_encryption: enc_flagged.contains(&key.fingerprint()),
                        key: key.clone(),
                    });
                }
                if algo.for_signing() {
                    signing_keys.push(SecretKey {
                        cert: idx,
                        flagged_for_encryption: false,
                        key,
                    });
                }
            }
        }
        // Keys flagged for encryption first: they are the likely match for
        // hidden recipients.
        decryption_keys.sort_by_key(|k| !k.flagged_for_encryption);
        TeamKeys {
            certs: certs
                .into_iter()
                .map(|c| c.strip_secret_key_material())
                .collect(),
            decryption_keys,
            signing_keys,
        }
    }

    /// Unlocks every secret key of every cert. Returns, per cert, the
    /// unlocked keys. gnu-dummy stubs (offline primary keys) are skipped.
    fn unlock(
        certs: &[Cert],
        passphrase: Option<&str>,
    ) -> Result<Vec<Vec<Key<SecretParts, UnspecifiedRole>>>, OpenError> {
        let password: Option<Password> = passphrase.map(Password::from);
        let mut out = Vec::with_capacity(certs.len());
        for cert in certs {
            let cert_fpr = fpr_hex(&cert.fingerprint());
            let mut keys = Vec::new();
            for ka in cert.keys().secret() {
                let key = ka.key().clone().role_into_unspecified();
                let key = match key.optional_secret() {
                    Some(SecretKeyMaterial::Unencrypted(_)) => key,
                    Some(SecretKeyMaterial::Encrypted(e)) => {
                        if matches!(e.s2k(), S2K::Private { .. } | S2K::Unknown { .. }) {
                            // A stub (e.g. gpg --export-secret-subkeys):
                            // there is no secret to unlock.
                            continue;
                        }
                        let Some(password) = password.as_ref() else {
                            return Err(OpenError::BadKey {
                                fingerprint: fpr_hex(&key.fingerprint()),
                                reason: "cannot unlock secret key: it is encrypted and no passphrase was given".into(),
                            });
                        };
                        let fpr = fpr_hex(&key.fingerprint());
                        key.decrypt_secret(password)
                            .map_err(|_| OpenError::BadKey {
                                fingerprint: fpr,
                                reason: "cannot unlock secret key: wrong passphrase".into(),
                            })?
                    }
                    None => continue,
                };
                keys.push(key);
            }
            if keys.is_empty() {
                return Err(OpenError::BadKey {
                    fingerprint: cert_fpr,
                    reason: "cannot use as team key: no secret key material".into(),
                });
            }
            out.push(keys);
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// A summary of every team cert, e.g. for `doctor`-style output.
    pub fn describe(&self, now: DateTime<Utc>) -> Vec<KeyInfo> {
        let policy = StandardPolicy::new();
        let t = SystemTime::from(now);
        self.certs
            .iter()
            .enumerate()
            .map(|(idx, cert)| {
                let user_ids = cert
                    .userids()
                    .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
                    .collect();
                let has_secret = self.decryption_keys.iter().any(|k| k.cert == idx)
                    || self.signing_keys.iter().any(|k| k.cert == idx);
                let (encryption_subkeys, signing_capable, expires) = match cert
                    .with_policy(&policy, t)
                {
                    Ok(vc) => {
                        let enc = vc
                            .keys()
                            .alive()
                            .revoked(false)
                            .supported()
                            .key_flags(
                                openpgp::types::KeyFlags::empty()
                                    .set_transport_encryption()
                                    .set_storage_encryption(),
                            )
                            .map(|ka| fpr_hex(&ka.key().fingerprint()))
                            .collect();
                        let signing = vc.keys().alive().revoked(false).for_signing().any(|ka| {
                            let fpr = ka.key().fingerprint();
                            self.signing_keys
                                .iter()
                                .any(|k| k.cert == idx && k.key.fingerprint() == fpr)
                        });
                        let expires = vc
                            .primary_key()
                            .key_expiration_time()
                            .map(DateTime::<Utc>::from);
                        (enc, signing, expires)
                    }
                    Err(_) => (Vec::new(), false, None),
                };
                let expires_within_30_days = expires
                    .map(|e| e - now <= chrono::Duration::days(30))
                    .unwrap_or(false);
                KeyInfo {
                    fingerprint: fpr_hex(&cert.fingerprint()),
                    user_ids,
                    encryption_subkeys,
                    signing_capable,
                    expires,
                    expires_within_30_days,
                    has_secret,
                }
            })
            .collect()
    }

    /// The public certs (no secrets), e.g. to encrypt the team's copy, or to
    /// publish.
    pub fn public_certs(&self) -> Vec<Cert> {
        self.certs.clone()
    }

    /// A 32-byte secret for `label`, derived (HMAC-SHA256) from the secret
    /// material of the first cert's first decryption key: whoever can read
    /// encrypted reports can recompute it, a copy of the database alone
    /// cannot. `None` without a usable secret key. The material itself never
    /// leaves this function.
    pub fn derive_secret(&self, label: &str) -> Option<[u8; 32]> {
        use hmac::{Hmac, Mac};
        use openpgp::serialize::MarshalInto;
        let key = self
            .decryption_keys
            .iter()
            .find(|k| k.cert == 0)
            .or_else(|| self.decryption_keys.first())?;
        let SecretKeyMaterial::Unencrypted(secret) = key.key.optional_secret()? else {
            return None;
        };
        let mut material = secret.map(|mpis| mpis.to_vec().ok())?;
        let mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&material).ok();
        for b in material.iter_mut() {
            *b = 0;
        }
        let mut mac = mac?;
        mac.update(b"hexon-triage/");
        mac.update(label.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// Fingerprint of the first cert, which signs replies.
    pub fn primary_fingerprint(&self) -> Option<String> {
        self.certs.first().map(|c| fpr_hex(&c.fingerprint()))
    }

    /// Secret keys that could decrypt a PKESK for `handle` (or, with `None`,
    /// every decryption key, for hidden recipients).
    pub(crate) fn decryption_candidates<'a>(
        &'a self,
        handle: Option<&'a KeyHandle>,
    ) -> impl Iterator<Item = &'a SecretKey> + 'a {
        self.decryption_keys.iter().filter(move |k| match handle {
            Some(h) => h.aliases(KeyHandle::from(k.key.fingerprint())),
            None => true,
        })
    }

    pub(crate) fn cert(&self, idx: usize) -> Option<&Cert> {
        self.certs.get(idx)
    }

    pub(crate) fn has_cert(&self, fpr: &Fingerprint) -> bool {
        self.certs.iter().any(|c| &c.fingerprint() == fpr)
    }

    /// A keypair of the first cert that is valid for signing now.
    pub(crate) fn signing_keypair(&self, policy: &dyn Policy) -> Result<KeyPair, OpenError> {
        let sealing = |reason: String| OpenError::Sealing { reason };
        let cert = self
            .certs
            .first()
            .ok_or_else(|| sealing("cannot sign: no team key loaded".into()))?;
        let vc = cert.with_policy(policy, None).map_err(|e| {
            sealing(format!(
                "cannot sign: team key is not valid: {}",
                sq_reason(&e)
            ))
        })?;
        for ka in vc.keys().alive().revoked(false).for_signing().supported() {
            let fpr = ka.key().fingerprint();
            if let Some(sk) = self
                .signing_keys
                .iter()
                .find(|k| k.cert == 0 && k.key.fingerprint() == fpr)
            {
                return sk
                    .key
                    .clone()
                    .into_keypair()
                    .map_err(|e| sealing(format!("cannot sign: {}", sq_reason(&e))));
            }
        }
        Err(sealing(format!(
            "cannot sign: team key {} has no usable signing key with secret",
            fpr_hex(&cert.fingerprint())
        )))
    }
}

/// Uppercase hex fingerprint without spaces.
pub(crate) fn fpr_hex(fpr: &Fingerprint) -> String {
    fpr.to_hex().to_ascii_uppercase()
}

/// Uppercase hex of a key handle (fingerprint or key id).
pub(crate) fn handle_hex(h: &KeyHandle) -> String {
    h.to_hex().to_ascii_uppercase()
}

/// Parse one cert (armored or binary); only the public parts are returned.
pub fn parse_cert(bytes: &[u8]) -> Result<Cert, OpenError> {
    Cert::from_bytes(bytes)
        .map(|c| c.strip_secret_key_material())
        .map_err(|e| OpenError::BadCert {
            reason: sq_reason(&e),
        })
}

/// Parse every cert in `bytes` (a keyring), public parts only, at most `max`.
pub(crate) fn parse_certs(bytes: &[u8], max: usize) -> Vec<Cert> {
    let Ok(parser) = CertParser::from_bytes(bytes) else {
        return Vec::new();
    };
    parser
        .take(max)
        .filter_map(Result::ok)
        .map(|c| c.strip_secret_key_material())
        .collect()
}

/// ASCII-armored public cert (secret key material is never serialized).
pub fn armor_public(cert: &Cert) -> Result<String, OpenError> {
    let public = cert.clone().strip_secret_key_material();
    let bytes = public.armored().to_vec().map_err(|e| OpenError::BadCert {
        reason: sq_reason(&e),
    })?;
    String::from_utf8(bytes).map_err(|_| OpenError::BadCert {
        reason: "cannot armor certificate: not utf-8".into(),
    })
}

/// Lowercase email addresses of all user ids (for discovered keys).
pub(crate) fn cert_addresses(cert: &Cert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ua in cert.userids() {
        if let Ok(Some(email)) = ua.userid().email() {
            let email = email.to_lowercase();
            if !out.contains(&email) {
                out.push(email);
            }
        }
    }
    out
}

/// Case-insensitive email match over the cert's valid (policy, now) user ids.
pub fn cert_has_address(cert: &Cert, address: &str) -> bool {
    let policy = StandardPolicy::new();
    let wanted = address.trim().to_lowercase();
    let Ok(vc) = cert.with_policy(&policy, None) else {
        return false;
    };
    vc.userids()
        .revoked(false)
        .any(|ua| matches!(ua.userid().email(), Ok(Some(e)) if e.to_lowercase() == wanted))
}

/// Whether the cert is valid at `now` and has an alive, unrevoked,
/// transport-encryption-capable key with a supported algorithm.
pub fn usable_for_encryption(cert: &Cert, now: DateTime<Utc>) -> bool {
    let policy = StandardPolicy::new();
    let Ok(vc) = cert.with_policy(&policy, SystemTime::from(now)) else {
        return false;
    };
    if vc.alive().is_err()
        || matches!(
            vc.revocation_status(),
            openpgp::types::RevocationStatus::Revoked(_)
        )
    {
        return false;
    }
    vc.keys()
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .next()
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::cert::prelude::*;
    use openpgp::serialize::Serialize;

    fn team_cert(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .generate()
            .unwrap()
            .0
    }

    #[test]
    fn loads_armored_and_binary_tsk_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = team_cert("Team A <a@hexon.test>");
        let b = team_cert("Team B <b@hexon.test>");
        let pa = dir.path().join("a.asc");
        let pb = dir.path().join("b.pgp");
        std::fs::write(&pa, a.as_tsk().armored().to_vec().unwrap()).unwrap();
        let mut bin = Vec::new();
        b.as_tsk().serialize(&mut bin).unwrap();
        std::fs::write(&pb, bin).unwrap();
        let keys = TeamKeys::load(&[pa, pb], None).unwrap();
        assert!(!keys.is_empty());
        assert_eq!(keys.primary_fingerprint(), Some(fpr_hex(&a.fingerprint())));
        let info = keys.describe(Utc::now());
        assert_eq!(info.len(), 2);
        assert!(info.iter().all(|i| i.has_secret && i.signing_capable));
        assert_eq!(
            info[0].encryption_subkeys.len(),
            1,
            "one subkey for transport + storage"
        );
        assert_eq!(info[0].user_ids, vec!["Team A <a@hexon.test>".to_string()]);
        assert!(keys.public_certs().iter().all(|c| !c.is_tsk()));
    }

    #[test]
    fn public_only_file_is_rejected_as_bad_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = team_cert("Team A <a@hexon.test>");
        let p = dir.path().join("pub.asc");
        std::fs::write(&p, armor_public(&a).unwrap()).unwrap();
        let err = TeamKeys::load(std::slice::from_ref(&p), None).unwrap_err();
        assert!(matches!(err, OpenError::BadKeyFile { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cannot"));
    }

    #[test]
    fn garbage_and_missing_key_files_are_bad_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.asc");
        std::fs::write(&p, b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n").unwrap();
        let err = TeamKeys::load(std::slice::from_ref(&p), None).unwrap_err();
        assert!(matches!(err, OpenError::BadKeyFile { .. }), "{err:?}");
        let err = TeamKeys::load(&[dir.path().join("missing.asc")], None).unwrap_err();
        assert!(matches!(err, OpenError::BadKeyFile { .. }), "{err:?}");
    }

    #[test]
    fn passphrase_protected_keys_need_the_right_passphrase() {
        let (cert, _) = CertBuilder::general_purpose(Some("Team <t@hexon.test>"))
            .set_password(Some("correct horse".into()))
            .generate()
            .unwrap();
        let err = TeamKeys::from_certs(vec![cert.clone()], None).unwrap_err();
        assert!(matches!(err, OpenError::BadKey { .. }), "{err:?}");
        let err = TeamKeys::from_certs(vec![cert.clone()], Some("wrong")).unwrap_err();
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        let keys = TeamKeys::from_certs(vec![cert], Some("correct horse")).unwrap();
        assert!(keys.describe(Utc::now())[0].has_secret);
        assert!(keys.signing_keypair(&StandardPolicy::new()).is_ok());
    }

    #[test]
    fn describe_flags_keys_expiring_within_30_days() {
        let (cert, _) = CertBuilder::general_purpose(Some("Team <t@hexon.test>"))
            .set_validity_period(std::time::Duration::from_secs(10 * 24 * 3600))
            .generate()
            .unwrap();
        let keys = TeamKeys::from_certs(vec![cert], None).unwrap();
        let info = &keys.describe(Utc::now())[0];
        assert!(info.expires.is_some());
        assert!(info.expires_within_30_days);
        let later = &keys.describe(Utc::now() + chrono::Duration::days(20))[0];
        assert!(
            later.encryption_subkeys.is_empty(),
            "expired keys cannot encrypt"
        );
    }

    #[test]
    fn cert_has_address_matches_case_insensitively() {
        let cert = team_cert("Alice <Alice@Researcher.test>");
        assert!(cert_has_address(&cert, "alice@researcher.TEST"));
        assert!(!cert_has_address(&cert, "bob@researcher.test"));
        assert_eq!(
            cert_addresses(&cert),
            vec!["alice@researcher.test".to_string()]
        );
    }

    #[test]
    fn usable_for_encryption_respects_expiry_and_capability() {
        let cert = team_cert("A <a@x.test>");
        assert!(usable_for_encryption(&cert, Utc::now()));
        let (signing_only, _) = CertBuilder::new()
            .add_userid("S <s@x.test>")
            .add_signing_subkey()
            .generate()
            .unwrap();
        assert!(!usable_for_encryption(&signing_only, Utc::now()));
        assert!(!usable_for_encryption(
            &cert,
            Utc::now() + chrono::Duration::days(365 * 4)
        ));
    }

    #[test]
    fn parse_cert_strips_secrets_and_armor_public_has_no_private_block() {
        let cert = team_cert("A <a@x.test>");
        let tsk = cert.as_tsk().armored().to_vec().unwrap();
        let parsed = parse_cert(&tsk).unwrap();
        assert!(!parsed.is_tsk());
        let armored = armor_public(&cert).unwrap();
        assert!(armored.contains("BEGIN PGP PUBLIC KEY BLOCK"));
        assert!(!armored.contains("PRIVATE"));
        assert!(matches!(
            parse_cert(b"not a key"),
            Err(OpenError::BadCert { .. })
        ));
    }
}

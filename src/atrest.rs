//! What of an encrypted report may rest in the database, and in what form.
//!
//! [`AtRest`] holds two secrets derived from the team's decryption key
//! (`TeamKeys::derive_secret`): a token key, with which plaintext-derived
//! values that must stay comparable (the duplicate fingerprint, body and
//! attachment digests) are stored as keyed HMAC-SHA256 tokens, and an audit
//! key that MACs the audit chain. Values that need only be read back (label
//! evidence, signals, the CVSS vector) are sealed to the team key as an
//! OpenPGP message (see [`AtRest::seal`]). A stolen database without the team
//! key confirms no guessed text and reverses no token.
//!
//! Pure apart from the sealing's public-key operation; no I/O. Must not keep
//! or log the derived secrets.

use hmac::{Hmac, Mac};
use sequoia_openpgp::Cert;

use crate::open::TeamKeys;
use crate::triage::Fingerprint;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Token and audit keys, and the certs sealed values are encrypted to.
#[derive(Clone, Default)]
pub struct AtRest {
    token_key: Option<[u8; 32]>,
    audit_key: Option<[u8; 32]>,
    seal_to: Vec<Cert>,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtRest")
            .field("keyed", &self.token_key.is_some())
            .field("seal_to", &self.seal_to.len())
            .finish()
    }
}

impl AtRest {
    /// Derive the keys from the team's key (none without one: then tokens
    /// are plain SHA-256 digests and nothing can be sealed, which is only
    /// possible when no encrypted report can arrive).
    pub fn from_team(keys: &TeamKeys) -> Self {
        AtRest {
            token_key: keys.derive_secret("at-rest tokens v1"),
            audit_key: keys.derive_secret("audit chain v1"),
            seal_to: keys.public_certs(),
        }
    }

    /// The key the audit chain is MACed with, if there is a team key.
    pub fn audit_key(&self) -> Option<&[u8; 32]> {
        self.audit_key.as_ref()
    }

    /// Is there a token key (values are keyed, not plain digests)?
    pub fn is_keyed(&self) -> bool {
        self.token_key.is_some()
    }

    /// A token for `data` in the domain `label`: hex HMAC-SHA256 with the
    /// token key, or plain SHA-256 hex without one.
    pub fn token(&self, label: &str, data: &[u8]) -> String {
        hex::encode(self.mac(label, data))
    }

    fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        match &self.token_key {
            Some(key) => {
                // NOTE: HMAC accepts keys of any length; a 32-byte key cannot fail.
                let mut mac = match HmacSha256::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => return [0; 32],
                };
                mac.update(label.as_bytes());
                mac.update(&[0]);
                mac.update(data);
                mac.finalize().into_bytes().into()
            }
            None => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(label.as_bytes());
                h.update([0]);
                h.update(data);
                h.finalize().into()
            }
        }
    }

    /// The duplicate fingerprint with every indicator and shingle replaced by
    /// its token: similarity between two keyed fingerprints is what it was
    /// between the plain ones, but no host, path or word can be read back.
    pub fn keyed_fingerprint(&self, fp: &Fingerprint) -> Fingerprint {
        let mut indicators: Vec<String> = fp
            .indicators
            .iter()
            .map(|i| {
                // The kind of an indicator (path of one or more segments, CVE
                // id, identifier, target host) weighs in the similarity and stays; the classified
                // component / class are queue labels and stay clear.
                if crate::triage::is_label_indicator(i) {
                    return i.clone();
                }
                let kind = crate::triage::indicator_kind(i);
                let t = self.token("fingerprint indicator", i.as_bytes());
                format!("{kind}{}", &t[..24])
            })
            .collect();
        indicators.sort();
        indicators.dedup();
        let mut shingles: Vec<u64> = fp
            .shingles
            .iter()
            .map(|s| {
                let m = self.mac("fingerprint shingle", &s.to_le_bytes());
                let mut b = [0u8; 8];
                b.copy_from_slice(&m[..8]);
                u64::from_le_bytes(b)
            })
            .collect();
        shingles.sort_unstable();
        shingles.dedup();
        Fingerprint {
            indicators,
            shingles,
        }
    }

    /// `text` encrypted to the team's certs (ASCII armor), or `None` when
    /// there is no team cert or sealing fails (the caller then stores
    /// nothing: a value that cannot be sealed is dropped, never kept clear).
    pub fn seal(&self, text: &str) -> Option<String> {
        if self.seal_to.is_empty() {
            return None;
        }
        crate::open::encrypt_armored(text.as_bytes(), &self.seal_to).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: u8) -> AtRest {
        AtRest {
            token_key: Some([key; 32]),
            audit_key: None,
            seal_to: Vec::new(),
        }
    }

    #[test]
    fn tokens_depend_on_key_and_label_and_hide_the_value() {
        let a = keyed(1);
        let t = a.token("body", b"api.hexon.io");
        assert_eq!(t, a.token("body", b"api.hexon.io"));
        assert_ne!(t, keyed(2).token("body", b"api.hexon.io"));
        assert_ne!(t, a.token("attachment", b"api.hexon.io"));
        assert!(!t.contains("hexon"));
        assert_ne!(t, AtRest::default().token("body", b"api.hexon.io"));
    }

    /// The store compares keyed fingerprints and weighs them by rarity among keyed ones: every
    /// rule of the similarity (one-segment endpoints, paths of several segments, lab hosts,
    /// rare hosts) must decide the same from the keyed form as from the plain one.
    #[test]
    fn keyed_similarity_among_the_store_is_the_plain_one() {
        use crate::triage::{classify, fingerprint, Comparable, Rarity, ReportText, TriageConfig};
        let cfg = TriageConfig::default();
        let fp = |subject: &str, body: &str| {
            let t = ReportText {
                subject,
                body,
                attachment_names: &[],
            };
            fingerprint(&t, &classify(&t, &cfg))
        };
        let mut plain = Vec::new();
        for i in 0..80 {
            plain.push(fp(
                &format!("Finding {i} on app{i}.hexon.io"),
                &format!("GET /area{i}/page{i}/item on app{i}.hexon.io"),
            ));
        }
        plain.push(fp(
            "MCP session ids are sequential",
            "curl http://mcp.lab.local:8931/mcp returns session 1001.",
        ));
        plain.push(fp(
            "MCP tool returns the client secret",
            "curl http://mcp.lab.local:8931/mcp prints the secret.",
        ));
        plain.push(fp(
            "Dangling CNAME old-status.hexon.io",
            "old-status.hexon.io points at an unclaimed bucket: subdomain takeover.",
        ));
        plain.push(fp(
            "old-status.hexon.io can be taken over",
            "The CNAME of old-status.hexon.io is dangling, anyone can claim it.",
        ));
        // a path a few reports share: rare enough for a path of several segments only
        for who in ["me", "you", "them", "us", "all"] {
            plain.push(fp(
                &format!("Blob mount by {who}"),
                &format!("POST /v2/me/x/blobs/uploads/?mount=sha256:1&from=hexon/{who}"),
            ));
        }
        let a = keyed(3);
        let keyed: Vec<Fingerprint> = plain.iter().map(|f| a.keyed_fingerprint(f)).collect();
        let sims = |fps: &[Fingerprint]| {
            let cs: Vec<Comparable> = fps.iter().map(Comparable::new).collect();
            let mut r = Rarity::default();
            cs.iter().for_each(|c| r.add(c));
            let n = cs.len();
            let mut out = Vec::new();
            for i in n - 9..n {
                for j in 0..n {
                    out.push(cs[i].similarity_among(&cs[j], &r));
                }
            }
            out
        };
        let (p, k) = (sims(&plain), sims(&keyed));
        // the text sketch of keyed shingles is another (as good) bottom-k sample, so the
        // figures may differ a little; the verdicts may not
        let t = crate::triage::NEAR_DUPLICATE_THRESHOLD;
        for (x, y) in p.iter().zip(&k) {
            assert_eq!(*x >= t, *y >= t, "plain {x} keyed {y}");
        }
    }

    #[test]
    fn keyed_fingerprints_keep_overlap_and_lose_the_text() {
        let a = keyed(7);
        let f1 = Fingerprint {
            indicators: vec![
                "api.hexon.io".into(),
                "/v1/login".into(),
                "CVE-2026-1234".into(),
                "id:parse_header".into(),
            ],
            shingles: vec![1, 2, 3, 4],
        };
        let f2 = Fingerprint {
            indicators: vec!["api.hexon.io".into(), "/v1/login".into(), "id:other".into()],
            shingles: vec![2, 3, 4, 5],
        };
        let (k1, k2) = (a.keyed_fingerprint(&f1), a.keyed_fingerprint(&f2));
        let common = |x: &Fingerprint, y: &Fingerprint| {
            (
                x.indicators
                    .iter()
                    .filter(|i| y.indicators.contains(i))
                    .count(),
                x.shingles.iter().filter(|s| y.shingles.contains(s)).count(),
            )
        };
        assert_eq!(common(&k1, &k2), common(&f1, &f2));
        let text = serde_json::to_string(&k1).unwrap();
        for canary in ["hexon", "login", "1234", "parse_header"] {
            assert!(!text.contains(canary), "{canary} in {text}");
        }
        assert!(k1.indicators.iter().any(|i| i.starts_with('/')));
        assert!(k1.indicators.iter().any(|i| i.starts_with("CVE-")));
    }
}

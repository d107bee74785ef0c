//! TEMPORARY placeholder: replaced by the real OpenPGP module.
use sequoia_openpgp::Cert;
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open: {reason}")]
    Malformed { reason: String },
}
impl OpenError {
    pub fn reason(&self) -> String {
        self.to_string()
    }
}
pub struct TeamKeys {
    certs: Vec<Cert>,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub encryption_subkeys: Vec<String>,
    pub signing_capable: bool,
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_within_30_days: bool,
    pub has_secret: bool,
}
impl TeamKeys {
    pub fn load(
        _files: &[std::path::PathBuf],
        _passphrase: Option<&str>,
    ) -> Result<Self, OpenError> {
        Ok(TeamKeys { certs: vec![] })
    }
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
    pub fn describe(&self, _now: chrono::DateTime<chrono::Utc>) -> Vec<KeyInfo> {
        vec![]
    }
    pub fn public_certs(&self) -> Vec<Cert> {
        self.certs.clone()
    }
    pub fn primary_fingerprint(&self) -> Option<String> {
        None
    }
}
pub struct OpenLimits {
    pub max_decrypted_bytes: usize,
    pub max_armored_blocks: usize,
}
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
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Good { .. } => "good",
            Self::Bad { .. } => "bad",
            Self::UnknownKey { .. } => "unknown_key",
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Attachment,
    Autocrypt,
}
#[derive(Debug, Clone)]
pub struct DiscoveredKey {
    pub source: KeySource,
    pub fingerprint: String,
    pub addresses: Vec<String>,
    pub armored: String,
}
#[derive(Debug)]
pub struct Opened {
    pub encrypted: bool,
    pub entity: Vec<u8>,
    pub inline_text: Option<String>,
    pub decrypted_attachments: Vec<(String, Vec<u8>)>,
    pub signature: SignatureStatus,
    pub protected_subject: Option<String>,
    pub discovered_keys: Vec<DiscoveredKey>,
    pub decrypted_with: Option<String>,
}
pub fn open(
    raw: &[u8],
    _keys: &TeamKeys,
    _sender_certs: &[Cert],
    _limits: &OpenLimits,
) -> Result<Opened, OpenError> {
    Ok(Opened {
        encrypted: false,
        entity: raw.to_vec(),
        inline_text: None,
        decrypted_attachments: vec![],
        signature: SignatureStatus::None,
        protected_subject: None,
        discovered_keys: vec![],
        decrypted_with: None,
    })
}
pub struct SealedMime {
    pub content_type: String,
    pub body: Vec<u8>,
}
pub fn seal_pgp_mime(
    _inner: &[u8],
    _recipients: &[Cert],
    _signer: &TeamKeys,
) -> Result<SealedMime, OpenError> {
    Err(OpenError::Malformed {
        reason: "stub".into(),
    })
}
pub fn sign_pgp_mime(_inner: &[u8], _signer: &TeamKeys) -> Result<SealedMime, OpenError> {
    Err(OpenError::Malformed {
        reason: "stub".into(),
    })
}
pub fn parse_cert(_bytes: &[u8]) -> Result<Cert, OpenError> {
    Err(OpenError::Malformed {
        reason: "stub".into(),
    })
}
pub fn armor_public(_cert: &Cert) -> Result<String, OpenError> {
    Err(OpenError::Malformed {
        reason: "stub".into(),
    })
}
pub fn cert_has_address(_cert: &Cert, _address: &str) -> bool {
    false
}
pub fn usable_for_encryption(_cert: &Cert, _now: chrono::DateTime<chrono::Utc>) -> bool {
    false
}
pub fn clearsign(_text: &str, _signer: &TeamKeys) -> Result<String, OpenError> {
    Err(OpenError::Malformed {
        reason: "stub".into(),
    })
}

//! The configured team members with their certificates, loaded once at
//! start-up (like the team keys) from `[[team.members]]`.
//!
//! I/O: reads each member's public certificate file once. Must not accept a
//! file holding secret key material (a member's private key never belongs on
//! this machine) and must not trust any key a mail brings.

use sequoia_openpgp::Cert;

use crate::config::TeamConfig;
use crate::model::TeamMember;
use crate::open;

/// A member certificate file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("team.members[{index}].cert: {path}: {reason}")]
pub struct MemberKeyError {
    pub index: usize,
    pub path: String,
    pub reason: String,
}

/// The members and their certificates (public only).
#[derive(Debug, Clone, Default)]
pub struct TeamMembers {
    members: Vec<(TeamMember, Cert)>,
    pub max_signature_age_days: u32,
}

impl TeamMembers {
    /// Read every member's certificate.
    ///
    /// # Errors
    /// A file that cannot be read, holds no certificate, or holds secret keys.
    pub fn load(config: &TeamConfig) -> Result<TeamMembers, MemberKeyError> {
        let mut members = Vec::new();
        for (index, m) in config.members.iter().enumerate() {
            let bad = |reason: String| MemberKeyError {
                index,
                path: m.cert.display().to_string(),
                reason,
            };
            let bytes = std::fs::read(&m.cert).map_err(|e| bad(format!("cannot read: {e}")))?;
            let cert = open::parse_cert(&bytes).map_err(|e| bad(e.reason()))?;
            if cert.is_tsk() {
                return Err(bad(
                    "holds secret key material: give the member's PUBLIC key only".into(),
                ));
            }
            let fingerprint = cert.fingerprint().to_hex().to_ascii_uppercase();
            members.push((
                TeamMember {
                    name: m.name.clone(),
                    address: m.address.clone(),
                    fingerprint,
                },
                cert,
            ));
        }
        Ok(TeamMembers {
            members,
            max_signature_age_days: config.max_signature_age_days,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member certificates, passed as trusted certs when a mail is opened.
    pub fn certs(&self) -> Vec<Cert> {
        self.members.iter().map(|(_, c)| c.clone()).collect()
    }

    /// The member whose configured address is `address`.
    pub fn by_address(&self, address: &str) -> Option<&TeamMember> {
        self.members
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.address.eq_ignore_ascii_case(address))
    }

    /// The member whose certificate has this primary fingerprint.
    pub fn by_fingerprint(&self, fingerprint: &str) -> Option<&TeamMember> {
        self.members
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.fingerprint.eq_ignore_ascii_case(fingerprint))
    }

    /// The member called `name`.
    pub fn by_name(&self, name: &str) -> Option<&TeamMember> {
        self.members
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// Every member's name (what `/assign` accepts).
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|(m, _)| m.name.clone()).collect()
    }
}

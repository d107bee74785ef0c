//! `[advisory]` settings: publisher, CSAF base URL, CNA ids for CVE records,
//! the default disclosure delay, team reminders, and which milestone mails
//! the reporter gets.
//!
//! Pure parsing and checks, plus [`peek`], which reads only the `[advisory]`
//! table of the config file (no secrets), for the CLI. Errors name the file
//! and the dotted key (`advisory.base_url`).

use std::path::Path;

use serde::Deserialize;

use crate::config::ConfigError;

fn default_prefix() -> String {
    "HEXON-SA".into()
}
fn default_vendor() -> String {
    "Hexon".into()
}
fn default_publisher() -> String {
    "Hexon Security".into()
}
fn default_namespace() -> String {
    "https://hexon.io".into()
}
fn default_base_url() -> String {
    "https://hexon.io/.well-known/csaf".into()
}
fn default_days() -> u32 {
    90
}
fn default_remind() -> u32 {
    7
}
fn default_true() -> bool {
    true
}

/// Which milestone mails go to the reporter (each on by default).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Milestones {
    #[serde(default = "default_true")]
    pub triaged: bool,
    #[serde(default = "default_true")]
    pub fixing: bool,
    #[serde(default = "default_true")]
    pub fixed: bool,
    #[serde(default = "default_true")]
    pub published: bool,
}

impl Default for Milestones {
    fn default() -> Self {
        Milestones {
            triaged: true,
            fixing: true,
            fixed: true,
            published: true,
        }
    }
}

/// The `[advisory]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryConfig {
    /// Advisory ids `PREFIX-YYYY-NNNN`.
    #[serde(default = "default_prefix")]
    pub id_prefix: String,
    /// Vendor name in the product tree and CVE `affected`.
    #[serde(default = "default_vendor")]
    pub vendor: String,
    /// CSAF `document.publisher.name`.
    #[serde(default = "default_publisher")]
    pub publisher_name: String,
    /// CSAF `document.publisher.namespace` (a URL of the publisher).
    #[serde(default = "default_namespace")]
    pub publisher_namespace: String,
    /// Where `/.well-known/csaf/` is served (provider-metadata.json and the year folders).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// CVE Numbering Authority organisation UUID (CVE export only).
    pub cna_org_id: Option<String>,
    /// CNA short name (CVE export only).
    pub cna_short_name: Option<String>,
    /// Default agreed disclosure date: this many days after receipt.
    #[serde(default = "default_days")]
    pub disclosure_days: u32,
    /// Remind the team this many days before a disclosure date (0 = never).
    #[serde(default = "default_remind")]
    pub remind_before_days: u32,
    #[serde(default)]
    pub milestones: Milestones,
    /// Add `CSAF: <base_url>/provider-metadata.json` to security.txt (on when
    /// the `[advisory]` table is present).
    #[serde(default = "default_true")]
    pub security_txt_csaf: bool,
}

impl Default for AdvisoryConfig {
    fn default() -> Self {
        AdvisoryConfig {
            id_prefix: default_prefix(),
            vendor: default_vendor(),
            publisher_name: default_publisher(),
            publisher_namespace: default_namespace(),
            base_url: default_base_url(),
            cna_org_id: None,
            cna_short_name: None,
            disclosure_days: default_days(),
            remind_before_days: default_remind(),
            milestones: Milestones::default(),
            security_txt_csaf: true,
        }
    }
}

impl AdvisoryConfig {
    /// Every problem as (dotted key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut need = |ok: bool, key: &str, message: &str| {
            if !ok {
                p.push((format!("advisory.{key}"), message.to_string()));
            }
        };
        need(
            !self.id_prefix.is_empty()
                && self
                    .id_prefix
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "id_prefix",
            "must be upper-case letters, digits and '-'",
        );
        need(
            !self.vendor.trim().is_empty(),
            "vendor",
            "must not be empty",
        );
        need(
            !self.publisher_name.trim().is_empty(),
            "publisher_name",
            "must not be empty",
        );
        need(
            self.publisher_namespace.starts_with("https://")
                || self.publisher_namespace.starts_with("http://"),
            "publisher_namespace",
            "must be an http(s) URL",
        );
        need(
            self.base_url.starts_with("https://") && !self.base_url.ends_with('/'),
            "base_url",
            "must be an https URL without a trailing '/'",
        );
        if let Some(id) = &self.cna_org_id {
            let ok = id.len() == 36
                && id.chars().enumerate().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            need(ok, "cna_org_id", "must be a UUID");
        }
        if let Some(n) = &self.cna_short_name {
            need(
                (2..=32).contains(&n.len()),
                "cna_short_name",
                "must be 2 to 32 characters",
            );
        }
        need(
            (1..=3650).contains(&self.disclosure_days),
            "disclosure_days",
            "must be between 1 and 3650",
        );
        p
    }

    /// The URL of the provider metadata (the security.txt `CSAF:` field).
    pub fn provider_metadata_url(&self) -> String {
        format!("{}/provider-metadata.json", self.base_url)
    }
}

/// Read and check only the `[advisory]` table of the config file at `path`
/// (defaults when it is absent).
///
/// # Errors
/// [`ConfigError`] naming the file and the dotted key.
pub fn peek(path: &Path) -> Result<AdvisoryConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let Some(value) = table.get("advisory").cloned() else {
        return Ok(AdvisoryConfig::default());
    };
    let config: AdvisoryConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            key: format!("advisory.{key}"),
            message: e.into_inner().message().trim().to_string(),
        }
    })?;
    match config.problems().into_iter().next() {
        Some((key, message)) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        }),
        None => Ok(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[advisory]\nbase_url = \"http://x\"\n").unwrap();
        let e = peek(&path).unwrap_err().to_string();
        assert!(
            e.contains("c.toml") && e.contains("advisory.base_url"),
            "{e}"
        );
        std::fs::write(&path, "[advisory]\ndisclosure_days = \"x\"\n").unwrap();
        let e = peek(&path).unwrap_err().to_string();
        assert!(e.contains("advisory.disclosure_days"), "{e}");
        std::fs::write(&path, "[advisory.milestones]\nfixing = false\n").unwrap();
        let c = peek(&path).unwrap();
        assert!(!c.milestones.fixing && c.milestones.fixed);
        std::fs::write(&path, "[store]\npath = \"x\"\n").unwrap();
        assert_eq!(peek(&path).unwrap(), AdvisoryConfig::default());
    }
}

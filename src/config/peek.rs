//! [`peek`]: the few settings needed before (or instead of) a full load —
//! the database path for the read/update commands, the log format for
//! `main.rs`.
//!
//! I/O: reads the config file only; never the secrets it names, so team
//! members need no access to passwords. Lenient: keys other than the peeked
//! ones may be wrong or missing (the full [`super::Config::load`] reports
//! those). Paths get the same `$CREDENTIALS_DIRECTORY` expansion and
//! relative-path rule as the full load.

use std::path::{Path, PathBuf};

use super::resolve::{base_dir, resolve_path};
use super::{ConfigError, LogFormat, Result};

/// What [`peek`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// The config file.
    pub path: PathBuf,
    /// `store.path`, resolved; `None` if missing or not a string.
    pub database: Option<PathBuf>,
    /// `log.format`; [`LogFormat::Text`] unless it says `"json"`.
    pub log_format: LogFormat,
}

impl Peeked {
    /// `store.path`, resolved.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `store.path` when it is missing.
    pub fn database(&self) -> Result<&Path> {
        self.database
            .as_deref()
            .ok_or_else(|| ConfigError::Invalid {
                path: self.path.clone(),
                key: "store.path".into(),
                message: "missing".into(),
            })
    }
}

/// Read the database path and log format from the config file at `path`.
///
/// # Errors
/// The file cannot be read ([`ConfigError::Read`]) or is not TOML
/// ([`ConfigError::Syntax`]).
pub fn peek(path: &Path) -> Result<Peeked> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    peek_toml(&text, path)
}

/// [`peek`] on config text; `path` names the file and anchors relative paths.
fn peek_toml(text: &str, path: &Path) -> Result<Peeked> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let database = table
        .get("store")
        .and_then(|s| s.get("path"))
        .and_then(|p| p.as_str())
        .map(|p| resolve_path(base_dir(path), Path::new(p)));
    let json = table
        .get("log")
        .and_then(|l| l.get("format"))
        .and_then(|f| f.as_str())
        == Some("json");
    Ok(Peeked {
        path: path.to_path_buf(),
        database,
        log_format: if json {
            LogFormat::Json
        } else {
            LogFormat::Text
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_database_and_log_format_leniently() {
        let text =
            "[store]\npath = \"db/triage.db\"\n[log]\nformat = \"json\"\n[imap]\nport = \"x\"\n";
        let p = peek_toml(text, Path::new("/etc/hexon/c.toml")).unwrap();
        assert_eq!(p.database().unwrap(), Path::new("/etc/hexon/db/triage.db"));
        assert_eq!(p.log_format, LogFormat::Json);
    }

    #[test]
    fn missing_database_names_the_key() {
        let p = peek_toml("[log]\nformat = \"text\"\n", Path::new("c.toml")).unwrap();
        assert_eq!(p.log_format, LogFormat::Text);
        let err = p.database().unwrap_err().to_string();
        assert_eq!(err, "c.toml: key `store.path`: missing");
    }

    #[test]
    fn broken_toml_names_the_file() {
        let err = peek_toml("[store\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml: "), "{err}");
    }
}

//! The `/.well-known/csaf/` tree of a CSAF provider (CSAF 2.0 section 7.1):
//! `provider-metadata.json`, each published advisory under its year folder
//! with a `.sha256` file, `index.txt` and `changes.csv`.
//!
//! [`build`] is pure (paths and bytes); [`write`] is the only I/O: it writes
//! the files under a directory, each through a temporary file and a rename,
//! so a reader never sees half a file. Only published advisories go in.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::config::AdvisoryConfig;
use super::model::{Advisory, AdvisoryStatus};
use crate::store::ts;

/// One file of the tree: path relative to the tree root, and its bytes.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The provider metadata (role `csaf_provider`, one distribution: the tree itself).
pub fn provider_metadata(config: &AdvisoryConfig, last_updated: DateTime<Utc>) -> Value {
    json!({
        "canonical_url": config.provider_metadata_url(),
        "distributions": [{ "directory_url": format!("{}/", config.base_url) }],
        "last_updated": ts(last_updated),
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "publisher": {
            "category": "vendor",
            "name": config.publisher_name,
            "namespace": config.publisher_namespace,
        },
        "role": "csaf_provider",
    })
}

/// Every file of the tree for the `published` advisories.
pub fn build(published: &[Advisory], config: &AdvisoryConfig, now: DateTime<Utc>) -> Vec<TreeFile> {
    let mut files = Vec::new();
    let mut changes: Vec<(DateTime<Utc>, String)> = Vec::new();
    for a in published
        .iter()
        .filter(|a| a.status == AdvisoryStatus::Published)
    {
        let rel = format!("{}/{}", a.csaf_year(), a.csaf_file_name());
        let doc = super::csaf::export(a, config).document;
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        bytes.push(b'\n');
        let hash = format!(
            "{}  {}\n",
            crate::model::sha256_hex(&bytes),
            a.csaf_file_name()
        );
        files.push(TreeFile {
            path: PathBuf::from(format!("{rel}.sha256")),
            bytes: hash.into_bytes(),
        });
        files.push(TreeFile {
            path: PathBuf::from(&rel),
            bytes,
        });
        let changed = a.revisions.last().map(|r| r.date).unwrap_or(a.updated_at);
        changes.push((changed, rel));
    }
    changes.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    let index: String = changes.iter().map(|(_, p)| format!("{p}\n")).collect();
    let csv: String = changes
        .iter()
        .map(|(at, p)| format!("\"{p}\",\"{}\"\n", ts(*at)))
        .collect();
    let last = changes.first().map(|c| c.0).unwrap_or(now);
    let mut meta = serde_json::to_vec_pretty(&provider_metadata(config, last)).unwrap_or_default();
    meta.push(b'\n');
    files.push(TreeFile {
        path: "index.txt".into(),
        bytes: index.into_bytes(),
    });
    files.push(TreeFile {
        path: "changes.csv".into(),
        bytes: csv.into_bytes(),
    });
    files.push(TreeFile {
        path: "provider-metadata.json".into(),
        bytes: meta,
    });
    files
}

/// Write `files` under `root` (created if needed).
///
/// # Errors
/// The first file that cannot be written, with its path.
pub fn write(root: &Path, files: &[TreeFile]) -> Result<(), String> {
    for f in files {
        let path = root.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let tmp = path.with_extension("tmp-hexon");
        std::fs::write(&tmp, &f.bytes)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

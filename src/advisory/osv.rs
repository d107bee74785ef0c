//! OSV entry (schema 1.6) from an [`Advisory`]: id, aliases (the CVE id),
//! summary, details, severity vectors, affected versions and ranges, credits.
//!
//! Pure. The product is not in an OSV ecosystem, so `package.ecosystem` is
//! left out and the versions are listed (OSV allows that for vendor products).

use serde_json::{json, Value};

use super::config::AdvisoryConfig;
use super::model::{version_bound, Advisory};
use crate::store::ts;

/// The OSV entry for `a`.
pub fn export(a: &Advisory, config: &AdvisoryConfig) -> Value {
    let mut severity = Vec::new();
    if let Some(s) = a.score_v31() {
        severity.push(json!({ "type": "CVSS_V3", "score": s.vector }));
    }
    if let Some(s) = a.score_v40() {
        severity.push(json!({ "type": "CVSS_V4", "score": s.vector }));
    }
    let exact: Vec<&str> = a
        .affected_versions
        .iter()
        .filter(|v| version_bound(v).is_none())
        .map(String::as_str)
        .collect();
    let mut events = Vec::new();
    for v in &a.affected_versions {
        if let Some(("<", upper)) = version_bound(v) {
            events.push(json!({ "introduced": "0" }));
            events.push(json!({ "fixed": upper }));
        }
    }
    let mut affected = json!({
        "package": { "name": format!("{} {}", config.vendor, a.product) },
        "versions": exact,
    });
    if !events.is_empty() {
        affected["ranges"] = json!([{ "type": "ECOSYSTEM", "events": events }]);
    }
    let credits: Vec<Value> = a
        .credits()
        .iter()
        .map(|c| json!({ "name": c.display(), "type": "FINDER" }))
        .collect();
    let url = format!(
        "{}/{}/{}",
        config.base_url,
        a.csaf_year(),
        a.csaf_file_name()
    );
    let mut entry = json!({
        "schema_version": "1.6.0",
        "id": a.advisory_id,
        "modified": ts(a.updated_at),
        "summary": a.title,
        "details": a.description.clone().unwrap_or_else(|| a.title.clone()),
        "affected": [affected],
        "references": [{ "type": "ADVISORY", "url": url }],
        "database_specific": { "cwe_ids": a.cwe.iter().collect::<Vec<_>>(), "status": a.status.as_str() },
    });
    if let Some(p) = a.published_at {
        entry["published"] = json!(ts(p));
    }
    if let Some(cve) = &a.cve_id {
        entry["aliases"] = json!([cve]);
    }
    if !severity.is_empty() {
        entry["severity"] = Value::Array(severity);
    }
    if !credits.is_empty() {
        entry["credits"] = Value::Array(credits);
    }
    entry
}

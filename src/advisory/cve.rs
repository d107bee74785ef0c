//! CVE JSON 5.1 record (a published CNA container) from an [`Advisory`]:
//! affected, descriptions, metrics (CVSS v3.1 and v4.0), problemTypes (CWE),
//! solutions, references and credits (`finder`), from recorded consent only.
//!
//! Pure. Needs the advisory's CVE id and `advisory.cna_org_id`.

use serde_json::{json, Value};

use super::config::AdvisoryConfig;
use super::model::{version_bound, Advisory, FieldError};
use crate::store::ts;

/// CVE `versions[]` entries for the advisory's affected and fixed versions.
fn versions(a: &Advisory) -> Vec<Value> {
    let mut out = Vec::new();
    for v in &a.affected_versions {
        out.push(match version_bound(v) {
            Some(("<", upper)) => {
                json!({ "version": "0", "lessThan": upper, "status": "affected", "versionType": "custom" })
            }
            Some(("<=", upper)) => json!({
                "version": "0", "lessThanOrEqual": upper, "status": "affected", "versionType": "custom"
            }),
            Some((_, lower)) => json!({ "version": lower, "status": "affected" }),
            None => json!({ "version": v, "status": "affected" }),
        });
    }
    for v in &a.fixed_versions {
        let v = version_bound(v).map(|(_, v)| v).unwrap_or(v);
        out.push(json!({ "version": v, "status": "unaffected" }));
    }
    out
}

/// The CVE record for `a`.
///
/// # Errors
/// [`FieldError`] when the advisory has no CVE id or the CNA is not configured.
pub fn export(a: &Advisory, config: &AdvisoryConfig) -> Result<Value, FieldError> {
    let cve_id = a.cve_id.as_deref().ok_or_else(|| {
        FieldError::new(
            "--cve",
            format!(
                "{} has no CVE id (set one with `advisory set {} --cve CVE-…`)",
                a.advisory_id, a.advisory_id
            ),
        )
    })?;
    let org = config.cna_org_id.as_deref().ok_or_else(|| {
        FieldError::new(
            "advisory.cna_org_id",
            "not configured (needed for CVE records)",
        )
    })?;
    let description = a.description.clone().unwrap_or_else(|| a.title.clone());
    let mut provider = json!({ "orgId": org });
    let mut meta = json!({ "cveId": cve_id, "assignerOrgId": org, "state": "PUBLISHED" });
    if let Some(short) = &config.cna_short_name {
        provider["shortName"] = json!(short);
        meta["assignerShortName"] = json!(short);
    }
    if let Some(p) = a.published_at {
        meta["datePublished"] = json!(ts(p));
        provider["dateUpdated"] = json!(ts(a.updated_at));
    }
    let mut affected = json!({
        "vendor": config.vendor,
        "product": a.product,
        "defaultStatus": "unaffected",
        "versions": versions(a),
    });
    if let Some(c) = &a.component {
        affected["modules"] = json!([c]);
    }
    let mut metrics = Vec::new();
    if let Some(s) = a.score_v31() {
        metrics.push(json!({ "format": "CVSS", "scenarios": [{ "lang": "en", "value": "GENERAL" }],
            "cvssV3_1": { "version": "3.1", "vectorString": s.vector, "baseScore": s.score, "baseSeverity": s.severity } }));
    }
    if let Some(s) = a.score_v40() {
        metrics.push(json!({ "format": "CVSS", "scenarios": [{ "lang": "en", "value": "GENERAL" }],
            "cvssV4_0": { "version": "4.0", "vectorString": s.vector, "baseScore": s.score, "baseSeverity": s.severity } }));
    }
    let url = format!(
        "{}/{}/{}",
        config.base_url,
        a.csaf_year(),
        a.csaf_file_name()
    );
    let mut cna = json!({
        "providerMetadata": provider,
        "title": a.title,
        "affected": [affected],
        "descriptions": [{ "lang": "en", "value": description }],
        "references": [{ "url": url, "name": a.advisory_id, "tags": ["vendor-advisory"] }],
    });
    if let (Some(id), Some(name)) = (&a.cwe, &a.cwe_name) {
        cna["problemTypes"] = json!([{ "descriptions": [{
            "lang": "en", "type": "CWE", "cweId": id, "description": format!("{id} {name}"),
        }]}]);
    }
    if !metrics.is_empty() {
        cna["metrics"] = Value::Array(metrics);
    }
    if let Some(r) = &a.remediation {
        cna["solutions"] = json!([{ "lang": "en", "value": r }]);
    }
    let credits: Vec<Value> = a
        .credits()
        .iter()
        .map(|c| json!({ "lang": "en", "value": c.display(), "type": "finder" }))
        .collect();
    if !credits.is_empty() {
        cna["credits"] = Value::Array(credits);
    }
    if let Some(p) = a.published_at {
        cna["datePublic"] = json!(ts(p));
    }
    Ok(json!({
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": meta,
        "containers": { "cna": cna },
    }))
}

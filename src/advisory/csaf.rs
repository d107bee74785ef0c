//! CSAF 2.0 (`csaf_security_advisory` profile) from an [`Advisory`]:
//! document tracking with the revision history, product tree, one
//! vulnerability with its scores, remediation and acknowledgments.
//!
//! Pure. CVSS v4.0: CSAF 2.0 has no slot for it (it came with CSAF 2.1), so a
//! v4.0 vector is carried in a vulnerability note and, when the advisory has
//! no v3.1 vector, the export says so in [`CsafExport::warnings`] (set
//! `--cvss-v31` to give the document a score).

use serde_json::{json, Value};

use super::config::AdvisoryConfig;
use super::model::{version_bound, Advisory, AdvisoryStatus, Credited};
use crate::store::ts;

/// A CSAF document and what the team should know about it.
#[derive(Debug, Clone)]
pub struct CsafExport {
    pub document: Value,
    pub warnings: Vec<String>,
}

/// Product ids: affected versions first, then fixed ones.
struct Products {
    affected: Vec<(String, String)>,
    fixed: Vec<(String, String)>,
}

fn products(a: &Advisory) -> Products {
    let mut n = 0;
    let mut next = |v: &str| {
        n += 1;
        (format!("CSAFPID-{n:04}"), v.to_string())
    };
    let affected = a.affected_versions.iter().map(|v| next(v)).collect();
    let fixed = a.fixed_versions.iter().map(|v| next(v)).collect();
    Products { affected, fixed }
}

fn product_name(a: &Advisory) -> String {
    match &a.component {
        Some(c) if !c.is_empty() && c != &a.product => format!("{} ({c})", a.product),
        _ => a.product.clone(),
    }
}

/// A `product_version` branch for an exact version, `product_version_range`
/// (vers syntax) for a bound like `<2.4.1`.
fn version_branch(a: &Advisory, (pid, version): &(String, String)) -> Value {
    let full = format!("{} {version}", product_name(a));
    match version_bound(version) {
        Some((op, v)) => json!({
            "category": "product_version_range",
            "name": format!("vers:generic/{op}{v}"),
            "product": { "product_id": pid, "name": full },
        }),
        None => json!({
            "category": "product_version",
            "name": version,
            "product": { "product_id": pid, "name": full },
        }),
    }
}

fn tracking(a: &Advisory) -> Value {
    let generator = json!({
        "engine": { "name": "hexon-triage", "version": env!("CARGO_PKG_VERSION") },
        "date": ts(a.updated_at),
    });
    if a.status == AdvisoryStatus::Published && !a.revisions.is_empty() {
        let history: Vec<Value> = a
            .revisions
            .iter()
            .map(|r| json!({ "number": r.number.to_string(), "date": ts(r.date), "summary": r.summary }))
            .collect();
        let (first, last) = (&a.revisions[0], &a.revisions[a.revisions.len() - 1]);
        json!({
            "id": a.advisory_id,
            "status": "final",
            "version": last.number.to_string(),
            "revision_history": history,
            "initial_release_date": ts(first.date),
            "current_release_date": ts(last.date),
            "generator": generator,
        })
    } else {
        // NOTE: a draft is version 0 (CSAF 6.1.17: version 0 means status draft).
        json!({
            "id": a.advisory_id,
            "status": "draft",
            "version": "0",
            "revision_history": [{ "number": "0", "date": ts(a.updated_at), "summary": "Draft" }],
            "initial_release_date": ts(a.created_at),
            "current_release_date": ts(a.updated_at),
            "generator": generator,
        })
    }
}

fn acknowledgments(credits: &[Credited]) -> Option<Value> {
    let names: Vec<&str> = credits
        .iter()
        .filter_map(|c| match c {
            Credited::Name(n) => Some(n.as_str()),
            Credited::Anonymous => None,
        })
        .collect();
    let anonymous = credits.contains(&Credited::Anonymous);
    let mut list = Vec::new();
    if !names.is_empty() {
        list.push(json!({ "names": names, "summary": "for reporting this vulnerability" }));
    }
    if anonymous {
        list.push(
            json!({ "summary": "an anonymous researcher, for reporting this vulnerability" }),
        );
    }
    (!list.is_empty()).then_some(Value::Array(list))
}

fn vulnerability(a: &Advisory, p: &Products, warnings: &mut Vec<String>) -> Value {
    let affected: Vec<&str> = p.affected.iter().map(|(id, _)| id.as_str()).collect();
    let fixed: Vec<&str> = p.fixed.iter().map(|(id, _)| id.as_str()).collect();
    let description = a.description.clone().unwrap_or_else(|| a.title.clone());
    let mut notes =
        vec![json!({ "category": "description", "title": "Description", "text": description })];
    let mut v = json!({
        "title": a.title,
        "product_status": { "known_affected": affected },
    });
    if !fixed.is_empty() {
        v["product_status"]["fixed"] = json!(fixed);
    }
    if let Some(cve) = &a.cve_id {
        v["cve"] = json!(cve);
    }
    if let (Some(id), Some(name)) = (&a.cwe, &a.cwe_name) {
        v["cwe"] = json!({ "id": id, "name": name });
    }
    if let Some(s) = a.score_v31() {
        v["scores"] = json!([{ "products": affected, "cvss_v3": {
            "version": "3.1", "vectorString": s.vector, "baseScore": s.score, "baseSeverity": s.severity,
        }}]);
    }
    if let Some(s4) = a.score_v40() {
        notes.push(json!({
            "category": "other",
            "title": "CVSS v4.0",
            "text": format!("CVSS v4.0 base score {} ({}): {}. CSAF 2.0 has no CVSS v4.0 field; the vector is given here.", s4.score, s4.severity, s4.vector),
        }));
        if a.cvss_v31.is_none() {
            warnings.push(format!(
                "{}: the advisory is scored with CVSS v4.0 only; CSAF 2.0 has no v4.0 slot, so the document carries the vector in a note and has no score (add one with `advisory set {} --cvss-v31 VECTOR`)",
                a.advisory_id, a.advisory_id
            ));
        }
    }
    v["notes"] = Value::Array(notes);
    let remediation = a.remediation.clone().unwrap_or_else(|| {
        if a.fixed_versions.is_empty() {
            "No fix is available yet.".into()
        } else {
            format!("Update to {}.", a.fixed_versions.join(" or "))
        }
    });
    let category = if a.fixed_versions.is_empty() {
        "none_available"
    } else {
        "vendor_fix"
    };
    v["remediations"] =
        json!([{ "category": category, "details": remediation, "product_ids": affected }]);
    if let Some(ack) = acknowledgments(&a.credits()) {
        v["acknowledgments"] = ack;
    }
    v
}

/// The CSAF 2.0 document for `a`.
pub fn export(a: &Advisory, config: &AdvisoryConfig) -> CsafExport {
    let mut warnings = Vec::new();
    let p = products(a);
    let branches: Vec<Value> = p
        .affected
        .iter()
        .chain(p.fixed.iter())
        .map(|pv| version_branch(a, pv))
        .collect();
    let self_url = format!(
        "{}/{}/{}",
        config.base_url,
        a.csaf_year(),
        a.csaf_file_name()
    );
    let summary = a.description.clone().unwrap_or_else(|| a.title.clone());
    let document = json!({
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "title": a.title,
        "lang": "en",
        "distribution": { "tlp": { "label": if a.status == AdvisoryStatus::Published { "WHITE" } else { "AMBER" } } },
        "publisher": {
            "category": "vendor",
            "name": config.publisher_name,
            "namespace": config.publisher_namespace,
        },
        "notes": [{ "category": "summary", "title": "Summary", "text": summary }],
        "references": [{ "category": "self", "summary": "This advisory (CSAF)", "url": self_url }],
        "tracking": tracking(a),
    });
    let mut document = document;
    let vulnerabilities = vec![vulnerability(a, &p, &mut warnings)];
    document = json!({
        "document": document,
        "product_tree": { "branches": [{
            "category": "vendor",
            "name": config.vendor,
            "branches": [{ "category": "product_name", "name": product_name(a), "branches": branches }],
        }]},
        "vulnerabilities": vulnerabilities,
    });
    CsafExport { document, warnings }
}

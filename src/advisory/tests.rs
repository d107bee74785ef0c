//! Exports checked against the official schemas shipped in `tests/schemas/`
//! (CSAF 2.0 with the FIRST CVSS v2.0/v3.0/v3.1 schemas it references, the
//! CSAF provider metadata schema, the CVE JSON 5.1.1 bundled record schema),
//! with the `jsonschema` crate and no network.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::{Advisory, AdvisoryStatus, CreditState, FeedingReport, Revision};
use super::*;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

fn load(rel: &str) -> Value {
    let text = std::fs::read_to_string(schema_dir().join(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Validate `doc` against the schema at `rel`; every other shipped schema is
/// registered under the URL documents refer to it by.
pub(crate) fn schema_errors(rel: &str, doc: &Value) -> Vec<String> {
    let registry = jsonschema::Registry::new()
        .add(
            "https://www.first.org/cvss/cvss-v2.0.json",
            load("csaf-2.0/cvss-v2.0.json"),
        )
        .unwrap()
        .add(
            "https://www.first.org/cvss/cvss-v3.0.json",
            load("csaf-2.0/cvss-v3.0.json"),
        )
        .unwrap()
        .add(
            "https://www.first.org/cvss/cvss-v3.1.json",
            load("csaf-2.0/cvss-v3.1.json"),
        )
        .unwrap()
        .add(
            "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json",
            load("csaf-2.0/csaf_json_schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&load(rel))
        .unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn sample(status: AdvisoryStatus) -> Advisory {
    let published = status == AdvisoryStatus::Published;
    Advisory {
        advisory_id: "HEXON-SA-2026-0001".into(),
        status,
        title: "Path traversal in the Hexon Gateway admin API".into(),
        product: "Hexon Gateway".into(),
        component: Some("admin API".into()),
        affected_versions: vec!["2.3.0".into(), "<2.4.1".into()],
        fixed_versions: vec!["2.4.1".into()],
        cwe: Some("CWE-22".into()),
        cwe_name: Some(
            "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')".into(),
        ),
        cvss_v31: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
        cvss_v40: Some("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".into()),
        description: Some("A crafted path lets an unauthenticated attacker read files.".into()),
        remediation: Some("Update to 2.4.1.".into()),
        cve_id: Some("CVE-2026-12345".into()),
        disclosure_at: at("2027-02-22T10:00:00Z"),
        published_at: published.then(|| at("2026-12-01T10:00:00Z")),
        revisions: if published {
            vec![Revision {
                number: 1,
                date: at("2026-12-01T10:00:00Z"),
                summary: "Initial public release".into(),
            }]
        } else {
            vec![]
        },
        created_at: at("2026-11-25T10:00:00Z"),
        updated_at: at("2026-11-26T10:00:00Z"),
        reports: vec![
            FeedingReport {
                tracking_id: "HEXON-2026-0001".into(),
                received_at: at("2026-11-24T10:00:00Z"),
                credit: CreditState::Name("Alice Example".into()),
            },
            FeedingReport {
                tracking_id: "HEXON-2026-0002".into(),
                received_at: at("2026-11-24T11:00:00Z"),
                credit: CreditState::Declined,
            },
            FeedingReport {
                tracking_id: "HEXON-2026-0003".into(),
                received_at: at("2026-11-24T12:00:00Z"),
                credit: CreditState::Anonymous,
            },
            FeedingReport {
                tracking_id: "HEXON-2026-0004".into(),
                received_at: at("2026-11-24T13:00:00Z"),
                credit: CreditState::NoAnswer,
            },
        ],
    }
}

fn config() -> AdvisoryConfig {
    AdvisoryConfig {
        cna_org_id: Some("8254265b-2729-46b6-b9e3-3dfca2d5bfca".into()),
        cna_short_name: Some("hexon".into()),
        ..AdvisoryConfig::default()
    }
}

#[test]
fn csaf_draft_and_final_pass_the_official_schema() {
    for status in [AdvisoryStatus::Draft, AdvisoryStatus::Published] {
        let e = csaf::export(&sample(status), &config());
        let errors = schema_errors("csaf-2.0/csaf_json_schema.json", &e.document);
        assert!(errors.is_empty(), "{status:?}: {errors:#?}");
        let tracking = &e.document["document"]["tracking"];
        let want = if status == AdvisoryStatus::Published {
            ("final", "1")
        } else {
            ("draft", "0")
        };
        assert_eq!(
            (
                tracking["status"].as_str().unwrap(),
                tracking["version"].as_str().unwrap()
            ),
            want
        );
    }
}

#[test]
fn the_schema_check_can_fail() {
    let mut doc = csaf::export(&sample(AdvisoryStatus::Draft), &config()).document;
    doc["document"]["category"] = Value::from(42);
    assert!(!schema_errors("csaf-2.0/csaf_json_schema.json", &doc).is_empty());
    doc = csaf::export(&sample(AdvisoryStatus::Draft), &config()).document;
    doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseSeverity"] = Value::from("SEVERE");
    assert!(
        !schema_errors("csaf-2.0/csaf_json_schema.json", &doc).is_empty(),
        "the CVSS schema is in force"
    );
    let mut cve = cve::export(&sample(AdvisoryStatus::Draft), &config()).unwrap();
    cve["containers"]["cna"]["credits"][0]["type"] = Value::from("hero");
    assert!(!schema_errors("cve-5.1.1/CVE_JSON_bundled_5.1.1.json", &cve).is_empty());
}

#[test]
fn exports_carry_exactly_the_consented_credits() {
    let a = sample(AdvisoryStatus::Published);
    let csaf = csaf::export(&a, &config()).document;
    let acks = &csaf["vulnerabilities"][0]["acknowledgments"];
    assert_eq!(acks[0]["names"], serde_json::json!(["Alice Example"]));
    assert_eq!(
        acks.as_array().unwrap().len(),
        2,
        "named + anonymous: {acks}"
    );
    let cve = cve::export(&a, &config()).unwrap();
    let credits: Vec<&str> = cve["containers"]["cna"]["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(credits, vec!["Alice Example", "Anonymous"]);
    assert!(cve["containers"]["cna"]["credits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["type"] == "finder"));
    let osv = osv::export(&a, &config());
    assert_eq!(osv["credits"].as_array().unwrap().len(), 2);
    let md = markdown::export(&sample(AdvisoryStatus::Draft), &config());
    assert!(
        md.contains("Alice Example") && md.contains("HEXON-2026-0004"),
        "{md}"
    );
}

#[test]
fn cve_record_passes_the_official_schema() {
    for status in [AdvisoryStatus::Draft, AdvisoryStatus::Published] {
        let record = cve::export(&sample(status), &config()).unwrap();
        let errors = schema_errors("cve-5.1.1/CVE_JSON_bundled_5.1.1.json", &record);
        assert!(errors.is_empty(), "{errors:#?}\n{record:#}");
    }
    let mut a = sample(AdvisoryStatus::Draft);
    a.cve_id = None;
    assert_eq!(cve::export(&a, &config()).unwrap_err().field, "--cve");
    assert_eq!(
        cve::export(&sample(AdvisoryStatus::Draft), &AdvisoryConfig::default())
            .unwrap_err()
            .field,
        "advisory.cna_org_id"
    );
}

#[test]
fn cvss_v4_only_is_said_and_carried_in_a_note() {
    let mut a = sample(AdvisoryStatus::Draft);
    a.cvss_v31 = None;
    let e = csaf::export(&a, &config());
    assert!(
        e.warnings.iter().any(|w| w.contains("CVSS v4.0 only")),
        "{:?}",
        e.warnings
    );
    let v = &e.document["vulnerabilities"][0];
    assert!(v.get("scores").is_none());
    assert!(v["notes"].to_string().contains("CVSS:4.0/AV:N"));
    assert!(schema_errors("csaf-2.0/csaf_json_schema.json", &e.document).is_empty());
}

#[test]
fn no_affected_version_is_refused() {
    let mut a = sample(AdvisoryStatus::Draft);
    a.affected_versions.clear();
    for f in [Format::Csaf, Format::Cve, Format::Osv, Format::Markdown] {
        assert_eq!(export(&a, f, &config()).unwrap_err().field, "--affected");
    }
}

#[test]
fn well_known_tree_has_metadata_year_folder_index_and_changes() {
    let files = wellknown::build(
        &[
            sample(AdvisoryStatus::Published),
            sample(AdvisoryStatus::Draft),
        ],
        &config(),
        Utc::now(),
    );
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(
        names,
        vec![
            "2026/hexon-sa-2026-0001.json.sha256",
            "2026/hexon-sa-2026-0001.json",
            "index.txt",
            "changes.csv",
            "provider-metadata.json"
        ]
    );
    let text = |n: &str| {
        String::from_utf8(
            files
                .iter()
                .find(|f| f.path.display().to_string() == n)
                .unwrap()
                .bytes
                .clone(),
        )
        .unwrap()
    };
    assert_eq!(text("index.txt"), "2026/hexon-sa-2026-0001.json\n");
    assert_eq!(
        text("changes.csv"),
        "\"2026/hexon-sa-2026-0001.json\",\"2026-12-01T10:00:00Z\"\n"
    );
    let meta: Value = serde_json::from_str(&text("provider-metadata.json")).unwrap();
    let errors = schema_errors("csaf-2.0/provider_json_schema.json", &meta);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        meta["canonical_url"],
        "https://hexon.io/.well-known/csaf/provider-metadata.json"
    );
}

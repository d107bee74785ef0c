//! The advisory record and the checks on every field the team can set:
//! credit names (no control characters, HTML or mail headers), CVSS vectors
//! (v3.1 and v4.0, scored with RustSec's `cvss` crate), CWE ids, versions,
//! CVE ids, status transitions.
//!
//! Pure: no I/O. Errors name the field (`--cvss-v31`, `credit of HEXON-2026-0001`)
//! so the CLI can say exactly what is wrong; nothing is written on an error.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::triage::Credit;

/// A field that failed its check, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where an advisory is in its life: draft → review → published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryStatus {
    Draft,
    Review,
    Published,
}

impl AdvisoryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryStatus::Draft => "draft",
            AdvisoryStatus::Review => "review",
            AdvisoryStatus::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<AdvisoryStatus> {
        match text {
            "draft" => Some(AdvisoryStatus::Draft),
            "review" => Some(AdvisoryStatus::Review),
            "published" => Some(AdvisoryStatus::Published),
            _ => None,
        }
    }

    /// May `self` become `to` through `advisory set --status`? Publishing is
    /// `advisory publish` (from review only); a published advisory stays published.
    pub fn may_become(self, to: AdvisoryStatus) -> bool {
        matches!(
            (self, to),
            (AdvisoryStatus::Draft, AdvisoryStatus::Review)
                | (AdvisoryStatus::Review, AdvisoryStatus::Draft)
                | (AdvisoryStatus::Draft, AdvisoryStatus::Draft)
                | (AdvisoryStatus::Review, AdvisoryStatus::Review)
        )
    }
}

/// One published revision (CSAF `revision_history` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub number: u32,
    pub date: DateTime<Utc>,
    pub summary: String,
}

/// How one feeding report's reporter is credited, from recorded consent only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "credit", content = "name", rename_all = "snake_case")]
pub enum CreditState {
    /// "credit me as …": this name, exactly as given.
    Name(String),
    /// "anonymous".
    Anonymous,
    /// "no credit": appears in no export.
    Declined,
    /// The reporter never answered: no credit, and the draft says so.
    NoAnswer,
}

impl CreditState {
    /// From the report's recorded credit answer (`reports.credit`).
    pub fn from_recorded(credit: Option<&Credit>) -> CreditState {
        match credit {
            Some(Credit::Name(n)) => CreditState::Name(n.clone()),
            Some(Credit::Anonymous) => CreditState::Anonymous,
            Some(Credit::Declined) => CreditState::Declined,
            None => CreditState::NoAnswer,
        }
    }
}

/// A report that feeds an advisory, with its reporter's credit.
#[derive(Debug, Clone, Serialize)]
pub struct FeedingReport {
    pub tracking_id: String,
    pub received_at: DateTime<Utc>,
    pub credit: CreditState,
}

/// The published credit of an advisory: a name, or an anonymous finder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Credited {
    Name(String),
    Anonymous,
}

impl Credited {
    /// The text an export shows.
    pub fn display(&self) -> &str {
        match self {
            Credited::Name(n) => n,
            Credited::Anonymous => "Anonymous",
        }
    }
}

/// One advisory as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Advisory {
    pub advisory_id: String,
    pub status: AdvisoryStatus,
    pub title: String,
    pub product: String,
    pub component: Option<String>,
    pub affected_versions: Vec<String>,
    pub fixed_versions: Vec<String>,
    pub cwe: Option<String>,
    pub cwe_name: Option<String>,
    pub cvss_v31: Option<String>,
    pub cvss_v40: Option<String>,
    pub description: Option<String>,
    pub remediation: Option<String>,
    pub cve_id: Option<String>,
    pub disclosure_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub revisions: Vec<Revision>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reports: Vec<FeedingReport>,
}

impl Advisory {
    /// The credits an export carries: named and anonymous reporters, in
    /// report order, each name once. Declined and unanswered reporters are not here.
    pub fn credits(&self) -> Vec<Credited> {
        let mut out: Vec<Credited> = Vec::new();
        for r in &self.reports {
            let c = match &r.credit {
                CreditState::Name(n) => Credited::Name(n.clone()),
                CreditState::Anonymous => Credited::Anonymous,
                CreditState::Declined | CreditState::NoAnswer => continue,
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// Feeding reports whose reporter never answered the credit question.
    pub fn unanswered(&self) -> Vec<&str> {
        self.reports
            .iter()
            .filter(|r| r.credit == CreditState::NoAnswer)
            .map(|r| r.tracking_id.as_str())
            .collect()
    }

    /// The CVSS v3.1 score of the advisory, if any.
    pub fn score_v31(&self) -> Option<Score> {
        self.cvss_v31.as_deref().and_then(|v| score(v).ok())
    }

    /// The CVSS v4.0 score of the advisory, if any.
    pub fn score_v40(&self) -> Option<Score> {
        self.cvss_v40.as_deref().and_then(|v| score(v).ok())
    }

    /// The CSAF file name (lowercase tracking id, other characters `_`, `.json`).
    pub fn csaf_file_name(&self) -> String {
        csaf_file_name(&self.advisory_id)
    }

    /// The year folder of the `/.well-known/csaf/` tree (initial release year).
    pub fn csaf_year(&self) -> i32 {
        use chrono::Datelike;
        self.revisions
            .first()
            .map(|r| r.date)
            .unwrap_or(self.created_at)
            .year()
    }

    /// Every field an export needs: at least one affected version.
    ///
    /// # Errors
    /// The first missing field.
    pub fn check_exportable(&self) -> Result<(), FieldError> {
        if self.affected_versions.is_empty() {
            return Err(FieldError::new(
                "--affected",
                "the advisory has no affected version (set one with `advisory set ID --affected VERSION`)",
            ));
        }
        Ok(())
    }
}

/// CSAF file name rule (CSAF 2.0 section 5.1).
pub fn csaf_file_name(tracking_id: &str) -> String {
    let name: String = tracking_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '+' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.json")
}

/// A scored CVSS vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// "3.1" or "4.0".
    pub version: String,
    pub vector: String,
    pub score: f64,
    /// NONE, LOW, MEDIUM, HIGH, CRITICAL.
    pub severity: &'static str,
}

/// Score a full vector (`CVSS:3.1/…` or `CVSS:4.0/…`).
///
/// # Errors
/// A message when the vector is not a complete, valid v3.1 or v4.0 vector.
pub fn score(vector: &str) -> Result<Score, String> {
    let v = vector.trim();
    let version = if v.starts_with("CVSS:3.1/") {
        "3.1"
    } else if v.starts_with("CVSS:4.0/") {
        "4.0"
    } else {
        return Err(format!(
            "`{v}` is not a CVSS v3.1 or v4.0 vector (it must start with CVSS:3.1/ or CVSS:4.0/)"
        ));
    };
    let parsed = crate::triage::parse_cvss(v)
        .filter(|c| c.version == version)
        .ok_or_else(|| format!("`{v}` is not a valid CVSS v{version} vector"))?;
    // NOTE: parse_cvss finds a vector inside text; here the whole input must be that vector.
    let metrics = |s: &str| {
        let mut m: Vec<String> = s.split('/').map(str::to_ascii_uppercase).collect();
        m.sort();
        m
    };
    if metrics(&parsed.vector) != metrics(v) {
        return Err(format!(
            "`{v}` is not a valid CVSS v{version} vector (only part of it parses)"
        ));
    }
    let severity = match parsed.score {
        0.0 => "NONE",
        s if s < 4.0 => "LOW",
        s if s < 7.0 => "MEDIUM",
        s if s < 9.0 => "HIGH",
        _ => "CRITICAL",
    };
    Ok(Score {
        version: version.to_string(),
        vector: parsed.vector,
        score: parsed.score,
        severity,
    })
}

/// Check a vector given for `field` and return it in canonical form.
///
/// # Errors
/// [`FieldError`] naming `field`, when the vector is invalid or of the wrong version.
pub fn check_cvss(field: &str, vector: &str, version: &str) -> Result<String, FieldError> {
    let s = score(vector).map_err(|m| FieldError::new(field, m))?;
    if s.version != version {
        return Err(FieldError::new(
            field,
            format!("`{vector}` is a v{} vector, not v{version}", s.version),
        ));
    }
    Ok(s.vector)
}

/// Names of common weaknesses (CWE 4.x, exact catalogue names), so a team
/// member can give only the id. Any other id needs `--cwe-name`.
const CWE_NAMES: &[(u32, &str)] = &[
    (20, "Improper Input Validation"),
    (22, "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')"),
    (77, "Improper Neutralization of Special Elements used in a Command ('Command Injection')"),
    (78, "Improper Neutralization of Special Elements used in an OS Command ('OS Command Injection')"),
    (79, "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"),
    (89, "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')"),
    (94, "Improper Control of Generation of Code ('Code Injection')"),
    (119, "Improper Restriction of Operations within the Bounds of a Memory Buffer"),
    (125, "Out-of-bounds Read"),
    (200, "Exposure of Sensitive Information to an Unauthorized Actor"),
    (269, "Improper Privilege Management"),
    (276, "Incorrect Default Permissions"),
    (284, "Improper Access Control"),
    (287, "Improper Authentication"),
    (295, "Improper Certificate Validation"),
    (306, "Missing Authentication for Critical Function"),
    (352, "Cross-Site Request Forgery (CSRF)"),
    (362, "Concurrent Execution using Shared Resource with Improper Synchronization ('Race Condition')"),
    (400, "Uncontrolled Resource Consumption"),
    (416, "Use After Free"),
    (434, "Unrestricted Upload of File with Dangerous Type"),
    (476, "NULL Pointer Dereference"),
    (502, "Deserialization of Untrusted Data"),
    (601, "URL Redirection to Untrusted Site ('Open Redirect')"),
    (611, "Improper Restriction of XML External Entity Reference"),
    (639, "Authorization Bypass Through User-Controlled Key"),
    (787, "Out-of-bounds Write"),
    (798, "Use of Hard-coded Credentials"),
    (862, "Missing Authorization"),
    (863, "Incorrect Authorization"),
    (918, "Server-Side Request Forgery (SSRF)"),
    (1321, "Improperly Controlled Modification of Object Prototype Attributes ('Prototype Pollution')"),
];

/// Check a CWE id (`CWE-79`) and find its name (`name` overrides the table).
///
/// # Errors
/// [`FieldError`] on `--cwe` for a malformed id, or an unknown one without a name.
pub fn check_cwe(id: &str, name: Option<&str>) -> Result<(String, String), FieldError> {
    let upper = id.trim().to_ascii_uppercase();
    let number: u32 = upper
        .strip_prefix("CWE-")
        .filter(|n| !n.is_empty() && n.len() <= 5 && !n.starts_with('0'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| FieldError::new("--cwe", format!("`{id}` is not a CWE id like CWE-79")))?;
    let canonical = format!("CWE-{number}");
    if let Some(n) = name {
        check_text("--cwe-name", n, 200)?;
        return Ok((canonical, n.trim().to_string()));
    }
    CWE_NAMES
        .iter()
        .find(|(k, _)| *k == number)
        .map(|(_, n)| (canonical.clone(), n.to_string()))
        .ok_or_else(|| {
            FieldError::new(
                "--cwe",
                format!("{canonical} is not in the built-in list; give its catalogue name with --cwe-name"),
            )
        })
}

/// Check a CVE id (`CVE-2026-12345`).
///
/// # Errors
/// [`FieldError`] on `--cve`.
pub fn check_cve(id: &str) -> Result<String, FieldError> {
    let upper = id.trim().to_ascii_uppercase();
    let ok = upper
        .strip_prefix("CVE-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(y, n)| {
            y.len() == 4
                && y.bytes().all(|b| b.is_ascii_digit())
                && (4..=19).contains(&n.len())
                && n.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(upper)
    } else {
        Err(FieldError::new(
            "--cve",
            format!("`{id}` is not a CVE id like CVE-2026-12345"),
        ))
    }
}

/// Check a version text: `2.3.0`, or a bound `<2.4.1`, `<=2.4.0`, `>=2.0.0`.
///
/// # Errors
/// [`FieldError`] on `field` for empty, overlong or odd text.
pub fn check_version(field: &str, version: &str) -> Result<String, FieldError> {
    let v = version.trim();
    let bare = v.trim_start_matches(['<', '>', '=']).trim();
    let ok = !bare.is_empty()
        && v.len() <= 64
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_' | '~'));
    if ok {
        Ok(v.replace(' ', ""))
    } else {
        Err(FieldError::new(
            field,
            format!("`{version}` is not a version like 2.3.0 or <2.4.1"),
        ))
    }
}

/// A version bound (`<2.4.1`) split into operator and version; `None` for an exact version.
pub fn version_bound(version: &str) -> Option<(&str, &str)> {
    ["<=", ">=", "<", ">"]
        .into_iter()
        .find_map(|op| version.strip_prefix(op).map(|rest| (op, rest)))
}

/// Check free text the team writes (title, description, remediation).
///
/// # Errors
/// [`FieldError`] for empty or overlong text or control characters other than newlines/tabs.
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

/// Check a credit name before it goes into an advisory or a mail: no control
/// characters, no HTML, nothing that looks like a mail header, not too long.
///
/// # Errors
/// [`FieldError`] on `field` with the reason.
pub fn check_credit_name(field: &str, name: &str) -> Result<(), FieldError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(FieldError::new(field, "credit name is empty"));
    }
    if n.chars().count() > 120 {
        return Err(FieldError::new(
            field,
            "credit name is longer than 120 characters",
        ));
    }
    if name.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
            )
    }) {
        return Err(FieldError::new(
            field,
            "credit name contains control characters",
        ));
    }
    if n.contains('<') || n.contains('>') || n.contains("&#") || n.contains("&lt") {
        return Err(FieldError::new(field, "credit name contains HTML"));
    }
    let header_like = regex::Regex::new(
        r"(?i)(^|\s)(bcc|cc|to|from|subject|reply-to|content-type|mime-version|x-[a-z0-9-]+)\s*:",
    )
    .map(|re| re.is_match(n))
    .unwrap_or(true);
    if header_like {
        return Err(FieldError::new(field, "credit name contains a mail header"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_names_refuse_control_characters_html_and_headers() {
        assert!(check_credit_name("n", "Alice Example (@alice)").is_ok());
        assert!(check_credit_name("n", "Zoë Müller").is_ok());
        for bad in [
            "Alice\r\nBcc: x@evil.test",
            "Alice\u{7}",
            "<script>alert(1)</script>",
            "Alice <b>bold</b>",
            "Bcc: victim@example.test",
            "Alice Subject: hello",
            "",
        ] {
            let e = check_credit_name("credit of HEXON-2026-0001", bad).unwrap_err();
            assert_eq!(e.field, "credit of HEXON-2026-0001", "{bad:?}");
        }
    }

    #[test]
    fn cvss_vectors_are_checked_by_version() {
        let v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let s = score(v31).unwrap();
        assert_eq!((s.score, s.severity), (9.8, "CRITICAL"));
        assert_eq!(check_cvss("--cvss-v31", v31, "3.1").unwrap(), v31);
        let e = check_cvss("--cvss-v40", v31, "4.0").unwrap_err();
        assert_eq!(e.field, "--cvss-v40");
        assert!(check_cvss("--cvss-v31", "CVSS:3.1/AV:N/AC:L", "3.1").is_err());
        assert!(check_cvss(
            "--cvss-v31",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "3.1"
        )
        .is_err());
        assert!(check_cvss("--cvss-v31", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1").is_err());
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let s = score(v4).unwrap();
        assert_eq!((s.version.as_str(), s.score), ("4.0", 9.3));
    }

    #[test]
    fn cwe_and_cve_ids() {
        assert_eq!(
            check_cwe("cwe-79", None).unwrap().1,
            "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"
        );
        assert_eq!(check_cwe("CWE-79x", None).unwrap_err().field, "--cwe");
        assert_eq!(check_cwe("CWE-0", None).unwrap_err().field, "--cwe");
        assert!(check_cwe("CWE-99999", None).is_err());
        assert_eq!(
            check_cwe(
                "CWE-1333",
                Some("Inefficient Regular Expression Complexity")
            )
            .unwrap()
            .0,
            "CWE-1333"
        );
        assert_eq!(check_cve("cve-2026-1234").unwrap(), "CVE-2026-1234");
        assert!(check_cve("CVE-26-1").is_err());
    }

    #[test]
    fn versions_and_file_names() {
        assert_eq!(check_version("--affected", "< 2.4.1").unwrap(), "<2.4.1");
        assert!(check_version("--affected", "all versions").is_err());
        assert_eq!(version_bound("<2.4.1"), Some(("<", "2.4.1")));
        assert_eq!(version_bound("2.4.1"), None);
        assert_eq!(
            csaf_file_name("HEXON-SA-2026-0001"),
            "hexon-sa-2026-0001.json"
        );
        assert_eq!(csaf_file_name("A/B.C"), "a_b_c.json");
    }

    #[test]
    fn status_transitions() {
        use AdvisoryStatus::*;
        assert!(Draft.may_become(Review));
        assert!(Review.may_become(Draft));
        assert!(!Draft.may_become(Published));
        assert!(!Published.may_become(Draft));
    }
}

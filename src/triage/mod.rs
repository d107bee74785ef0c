//! TEMPORARY placeholder: replaced by the real triage module.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct TriageConfig {
    pub components: Vec<ComponentRule>,
    pub out_of_scope: Vec<OutOfScopeRule>,
    #[serde(default)]
    pub critical_signals: Vec<String>,
}
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ComponentRule {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
}
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct OutOfScopeRule {
    pub class: String,
    pub keywords: Vec<String>,
}
impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            components: vec![],
            out_of_scope: vec![],
            critical_signals: vec![],
        }
    }
}
impl TriageConfig {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
pub struct ReportText<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    pub attachment_names: &'a [String],
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    pub component: Option<String>,
    pub component_evidence: Vec<String>,
    pub out_of_scope: Option<String>,
    pub out_of_scope_evidence: Vec<String>,
    pub missing: Vec<Section>,
    pub cvss: Option<Cvss>,
    pub signals: Vec<String>,
    pub severity: Severity,
    pub critical: bool,
    pub indicators: Vec<String>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Description,
    StepsToReproduce,
    Impact,
    ProofOfConcept,
}
impl Section {
    pub fn label(&self) -> &'static str {
        "x"
    }
}
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}
impl Severity {
    pub fn as_str(&self) -> &'static str {
        "unknown"
    }
    pub fn parse(_s: &str) -> Option<Self> {
        None
    }
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cvss {
    pub version: String,
    pub vector: String,
    pub score: f64,
    pub severity: Severity,
}
pub fn classify(_text: &ReportText, _cfg: &TriageConfig) -> Classification {
    Classification {
        component: None,
        component_evidence: vec![],
        out_of_scope: None,
        out_of_scope_evidence: vec![],
        missing: vec![],
        cvss: None,
        signals: vec![],
        severity: Severity::Unknown,
        critical: false,
        indicators: vec![],
    }
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub indicators: Vec<String>,
    pub shingles: Vec<u64>,
}
pub fn fingerprint(_text: &ReportText, c: &Classification) -> Fingerprint {
    Fingerprint {
        indicators: c.indicators.clone(),
        shingles: vec![],
    }
}
pub fn similarity(_a: &Fingerprint, _b: &Fingerprint) -> f64 {
    0.0
}
pub const NEAR_DUPLICATE_THRESHOLD: f64 = 0.5;
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Credit {
    Name(String),
    Anonymous,
    Declined,
}
pub fn parse_credit(_body: &str) -> Option<Credit> {
    None
}

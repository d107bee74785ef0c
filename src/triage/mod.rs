//! Policy-aware triage of vulnerability reports: component and scope, completeness against the
//! disclosure policy, CVSS parsing and severity hints, duplicate fingerprints, credit answers.
//! Pure code: no I/O, no clock, no global state beyond static compiled patterns; a
//! configuration is compiled explicitly, once, into a [`Triage`] (the pipeline holds one);
//! never panics on mail.
//!
//! Layout: [`TriageConfig`] and the shipped default policy (`config`, `default-policy.toml`),
//! the compiled classifier ([`Triage`], `classifier`), the rules it applies (`scope`,
//! `completeness`, `severity`), the context of words (`context`: negated, hedged, quoted,
//! aside, affected), label confidences and the ack's claims (`confidence`), duplicate
//! fingerprints (`duplicate`), credit answers (`credit`) and the text primitives they share
//! ([`text`]).
//!
//! Performance: every configured alias, keyword and signal is found in one pass over the
//! normalized text (a byte trie at word starts), the text is normalized once, and no regex
//! falls back to its slow NFA simulation on non-ASCII text. Equivalence with the
//! straightforward definitions is checked by differential tests in the submodules.

mod classifier;
mod completeness;
mod confidence;
mod config;
mod context;
mod credit;
mod duplicate;
mod scope;
mod severity;
pub mod text;

pub use classifier::{classify, Triage};
pub use completeness::is_poc_attachment;
pub use config::{
    ComponentRule, OutOfScopeRule, TriageConfig, DEFAULT_ACK_CONFIDENCE, DEFAULT_POLICY,
};
pub use duplicate::{
    fingerprint, indicator_kind, is_label_indicator, similarity, Comparable, Rarity,
    NEAR_DUPLICATE_THRESHOLD, SKETCH_SIZE,
};
pub use severity::{band as severity_band, SIGNALS};

/// Deterministic pseudo-random numbers (xorshift64) for the randomised
/// equivalence tests of the triage matchers.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Up to `max - 1` words drawn from `vocab` with `next` (a count, then one
/// draw per word), for the randomised equivalence tests.
#[cfg(test)]
pub(crate) fn random_words<'v>(
    next: &mut impl FnMut() -> u64,
    vocab: &[&'v str],
    max: u64,
) -> Vec<&'v str> {
    let n = (next() % max) as usize;
    (0..n)
        .map(|_| vocab[(next() % vocab.len() as u64) as usize])
        .collect()
}

/// The parts of a report the classifier reads.
pub struct ReportText<'a> {
    /// mail subject
    pub subject: &'a str,
    /// plain-text body (decrypted, decoded)
    pub body: &'a str,
    /// attachment file names
    pub attachment_names: &'a [String],
}

/// Result of [`Triage::classify`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    /// best-matching component; `None` = unknown
    pub component: Option<String>,
    /// matched words/hosts, e.g. `host:registry.hexon.io`, `word:helm`
    pub component_evidence: Vec<String>,
    /// out-of-scope class of the main finding, if any
    pub out_of_scope: Option<String>,
    /// matched keywords/hosts of that class
    pub out_of_scope_evidence: Vec<String>,
    /// what the report still lacks, in policy order
    pub missing: Vec<Section>,
    /// first valid CVSS vector in the subject or body
    pub cvss: Option<Cvss>,
    /// vulnerability classes recognised, most severe first
    pub signals: Vec<String>,
    /// severity hint: CVSS band if a vector is present, else from signals
    pub severity: Severity,
    /// severity is Critical or a configured critical signal is present
    pub critical: bool,
    /// normalized hosts, endpoint paths, CVE ids (sorted, deduplicated, at most 64)
    pub indicators: Vec<String>,
    /// how sure each label is, why, and what an ack may therefore say
    #[serde(default)]
    pub review: Review,
}

impl Classification {
    /// What the acknowledgement may tell the reporter: only the labels whose confidence
    /// reached the policy's `ack_confidence` when the report was classified.
    pub fn ack_claims(&self) -> AckClaims {
        self.review.ack.clone()
    }
}

/// Confidence (0.0..=1.0) of each label of a [`Classification`]: how sure the triage is
/// that the label is right (for `missing`: that every listed section is really absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Confidence {
    /// of `component` (or of `unknown`)
    pub component: f64,
    /// of `out_of_scope` (or of "in scope")
    pub out_of_scope: f64,
    /// that each section in `missing` is absent (the least sure one)
    pub missing: f64,
    /// of `critical` (either way)
    pub critical: f64,
}

/// The team-facing side of a [`Classification`]: confidences, evidence for every label,
/// close component candidates, and the claims an ack may make.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Review {
    /// per-label confidence
    pub confidence: Confidence,
    /// when no component won by a clear margin: the close candidates, best first
    pub component_candidates: Vec<String>,
    /// per section, what was found (`steps_to_reproduce: numbered list`) or `... absent`
    pub missing_evidence: Vec<String>,
    /// why the report is (or is not) critical: `cvss:9.8`, `signal:remote code execution`
    pub critical_evidence: Vec<String>,
    /// what the acknowledgement may state
    pub ack: AckClaims,
}

/// The labels confident enough for the reporter to see them in the ack; the rest of the
/// [`Classification`] is for the team only.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AckClaims {
    /// component, if confident
    pub component: Option<String>,
    /// out-of-scope class, if confident
    pub out_of_scope: Option<String>,
    /// the sections confidently missing
    pub missing: Vec<Section>,
    /// critical, if confident
    pub critical: bool,
}

/// A section the disclosure policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// description of the vulnerability and affected component
    Description,
    /// steps to reproduce
    StepsToReproduce,
    /// impact assessment
    Impact,
    /// proof of concept (if available)
    ProofOfConcept,
}

impl Section {
    /// Human label for templates: "steps to reproduce" etc.
    pub fn label(&self) -> &'static str {
        match self {
            Section::Description => "description",
            Section::StepsToReproduce => "steps to reproduce",
            Section::Impact => "impact assessment",
            Section::ProofOfConcept => "proof of concept",
        }
    }
}

/// Severity hint, ordered from `Unknown` to `Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// nothing to go on
    Unknown,
    /// CVSS 0.0
    None,
    /// CVSS 0.1-3.9
    Low,
    /// CVSS 4.0-6.9
    Medium,
    /// CVSS 7.0-8.9
    High,
    /// CVSS 9.0-10.0
    Critical,
}

impl Severity {
    /// Lowercase name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a name case-insensitively (also "moderate", "informational"/"info").
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "unknown" => Some(Severity::Unknown),
            "none" | "info" | "informational" => Some(Severity::None),
            "low" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// A parsed and scored CVSS vector.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cvss {
    /// "3.0" | "3.1" | "4.0"
    pub version: String,
    /// canonical vector string
    pub vector: String,
    /// base score (v3.x) or the v4.0 score (CVSS-B/BT/BE/BTE per the metrics given)
    pub score: f64,
    /// qualitative band of `score`
    pub severity: Severity,
}

/// Storable fingerprint for near-duplicate detection (see [`fingerprint`], [`similarity`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    /// classification indicators plus `id:`-prefixed technical identifiers, sorted
    pub indicators: Vec<String>,
    /// bottom-k MinHash sketch: the smallest FNV-1a hashes of word 3-grams, sorted
    pub shingles: Vec<u64>,
}

/// How a reporter wants to be credited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Credit {
    /// credit this name
    Name(String),
    /// credit "anonymous"
    Anonymous,
    /// no credit wanted
    Declined,
}

/// Most indicators kept per report.
pub const MAX_INDICATORS: usize = 64;

/// First valid CVSS v3.0/v3.1/v4.0 vector found anywhere in the text, scored. Prefixed vectors
/// (`CVSS:3.1/AV:N/...`, any case) and bare ones (`AV:N/AC:L/...`, v4.0 if it has `AT`/`VC`,
/// else v3.0 when "3.0" appears just before it, else v3.1) are accepted. Invalid or incomplete
/// vectors are skipped; a later valid one is used.
pub fn parse_cvss(text: &str) -> Option<Cvss> {
    severity::parse_cvss(text)
}

/// Parses a reporter's credit answer: `Name`, `Anonymous`, `Declined`, or `None` when the
/// text does not answer the question. Quoted lines and signatures are ignored.
pub fn parse_credit(body: &str) -> Option<Credit> {
    credit::parse_credit(body)
}

#[cfg(test)]
mod tests;

//! Confidence and evidence of the labels, and the claims an acknowledgement may make.
//! Precision first in what the reporter sees: the ack states an out-of-scope reading, a
//! missing section, the component or "critical" only when its confidence reaches the policy's
//! `ack_confidence`; the team sees every label with its confidence and evidence.
//! Pure functions over what the classifier already computed plus cheap text checks; no I/O,
//! never panics.

use super::scope::{ComponentMatch, OutOfScopeMatch};
use super::severity::SignalHit;
use super::{AckClaims, Confidence, Cvss, Review, Section, Severity, SIGNALS};

/// What [`critical`] decides from.
pub struct CriticalInputs<'a> {
    /// the first valid CVSS vector
    pub cvss: Option<&'a Cvss>,
    /// the main finding is out of scope (never critical by policy)
    pub out_of_scope: bool,
    /// built-in signals in the subject and in the *stated* body (no negated or hedged
    /// sentences: "I don't think this gives code execution" is not a claim of RCE)
    pub stated: &'a [SignalHit],
    /// a configured critical signal is in the subject
    pub configured_in_subject: bool,
    /// a configured critical signal is in a stated body sentence
    pub configured_stated: bool,
}

/// The critical verdict with its confidence and evidence.
#[derive(Debug, Default)]
pub struct CriticalMatch {
    /// critical or not
    pub critical: bool,
    /// how sure
    pub confidence: f64,
    /// why (`cvss:9.8`, `signal:remote code execution`, `out-of-scope`)
    pub evidence: Vec<String>,
}

/// Critical: a CVSS vector scoring >= 9.0 decides when present; without one, a critical
/// class stated in the subject, or a configured critical signal stated in the report. An
/// out-of-scope finding is never critical.
pub fn critical(inp: &CriticalInputs) -> CriticalMatch {
    let critical_signals: Vec<&SignalHit> = inp
        .stated
        .iter()
        .filter(|h| {
            SIGNALS
                .get(h.index)
                .is_some_and(|s| s.severity == Severity::Critical)
        })
        .collect();
    let mut evidence: Vec<String> = critical_signals
        .iter()
        .filter_map(|h| SIGNALS.get(h.index).map(|s| format!("signal:{}", s.name)))
        .collect();
    if inp.out_of_scope {
        evidence.push("out-of-scope".into());
        return CriticalMatch {
            critical: false,
            confidence: 0.9,
            evidence,
        };
    }
    let in_subject = critical_signals.iter().any(|h| h.subject > 0);
    if let Some(c) = inp.cvss {
        evidence.insert(0, format!("cvss:{}", c.score));
        if c.severity == Severity::Critical {
            return CriticalMatch {
                critical: true,
                confidence: 0.9,
                evidence,
            };
        }
        // the reporter's vector says less than what the subject names (cross-tenant reads,
        // push to official images): the team is alerted, the ack follows the vector
        if in_subject || inp.configured_in_subject {
            evidence.push("critical class in the subject".into());
            return CriticalMatch {
                critical: true,
                confidence: 0.6,
                evidence,
            };
        }
        return CriticalMatch {
            critical: false,
            confidence: 0.9,
            evidence,
        };
    }
    if inp.configured_in_subject || inp.configured_stated {
        evidence.push("configured critical signal".into());
    }
    // without a vector the ack stays neutral: the team decides (and is alerted)
    let (critical, confidence) = if in_subject || inp.configured_in_subject {
        (true, 0.65)
    } else if inp.configured_stated {
        (true, 0.6)
    } else {
        // a critical class named only in the body: the team decides
        (
            false,
            if critical_signals.is_empty() {
                0.9
            } else {
                0.5
            },
        )
    };
    CriticalMatch {
        critical,
        confidence,
        evidence,
    }
}

/// Weak cues of each section: a report that has one of them probably has the section in
/// some shape the detector does not recognise, so "missing" is then only a guess.
const STEPS_HINTS: &[&str] = &[
    "step", "reproduc", "1.", "1)", "go to", "open ", "send ", "click", "visit", "navigate",
    "request", "curl", "run ", "then ", "schritt", "étape", "paso", "passo", "手順", "http",
];
const IMPACT_HINTS: &[&str] = &[
    "impact",
    "attacker",
    "allows",
    "allow ",
    "lead to",
    "leads to",
    "risk",
    "could ",
    "can ",
    "able to",
    "access to",
    "leak",
    "expos",
    "takeover",
    "steal",
    "auswirkung",
    "angreifer",
    "attaquant",
    "atacante",
    "影響",
    "攻撃者",
];
const POC_HINTS: &[&str] = &[
    "poc",
    "proof",
    "payload",
    "exploit",
    "script",
    "attached",
    "attachment",
    "screenshot",
    "video",
    "curl",
    "http",
    "<",
    "{",
    "$ ",
    "```",
    "output",
    "response",
];

/// Per missing section, how sure the triage is that it is really absent, and the evidence
/// (`steps_to_reproduce: absent, no hint`). A long report, or one with a weak cue of the
/// section, only probably lacks it.
pub fn missing(body: &str, attachments: &[String], missing: &[Section]) -> (Vec<f64>, Vec<String>) {
    let lower = body.to_lowercase();
    let words = lower.split_whitespace().count();
    let mut conf = Vec::new();
    let mut evidence = Vec::new();
    for s in missing {
        let hints: &[&str] = match s {
            Section::Description => &[],
            Section::StepsToReproduce => STEPS_HINTS,
            Section::Impact => IMPACT_HINTS,
            Section::ProofOfConcept => POC_HINTS,
        };
        let hint = hints.iter().find(|h| lower.contains(*h));
        let attached = !attachments.is_empty() && *s != Section::Description;
        let c = match (s, hint) {
            (Section::Description, _) if words < 12 => 0.8,
            (Section::Description, _) => 0.4,
            _ if attached => 0.4,
            (_, None) if words < 60 => 0.85,
            (_, None) => 0.6,
            (_, Some(_)) => 0.4,
        };
        let name = serde_label(s);
        evidence.push(match hint {
            Some(h) => format!("{name}: absent, but hint {h:?}"),
            None if attached => format!("{name}: absent, but attachments"),
            None => format!("{name}: absent, no hint"),
        });
        conf.push(c);
    }
    (conf, evidence)
}

fn serde_label(s: &Section) -> &'static str {
    match s {
        Section::Description => "description",
        Section::StepsToReproduce => "steps_to_reproduce",
        Section::Impact => "impact",
        Section::ProofOfConcept => "proof_of_concept",
    }
}

/// Everything [`review`] combines.
pub struct Labels<'a> {
    /// the policy's `ack_confidence`
    pub threshold: f64,
    pub component: &'a ComponentMatch,
    pub out_of_scope: &'a OutOfScopeMatch,
    pub missing: &'a [Section],
    /// per entry of `missing`
    pub missing_confidence: &'a [f64],
    pub missing_evidence: Vec<String>,
    pub critical: &'a CriticalMatch,
}

/// Confidences, evidence and the ack's claims (only those at or above the threshold).
pub fn review(l: Labels) -> Review {
    let t = l.threshold;
    let ack_missing: Vec<Section> = l
        .missing
        .iter()
        .zip(l.missing_confidence)
        .filter(|(_, &c)| c >= t)
        .map(|(s, _)| *s)
        .collect();
    let missing_conf = l
        .missing_confidence
        .iter()
        .copied()
        .fold(if l.missing.is_empty() { 0.7 } else { 1.0 }, f64::min);
    let confident = |c: f64| c >= t;
    Review {
        confidence: Confidence {
            component: l.component.confidence,
            out_of_scope: l.out_of_scope.confidence,
            missing: missing_conf,
            critical: l.critical.confidence,
        },
        component_candidates: l.component.candidates.clone(),
        missing_evidence: l.missing_evidence,
        critical_evidence: l.critical.evidence.clone(),
        ack: AckClaims {
            component: l
                .component
                .name
                .clone()
                .filter(|_| confident(l.component.confidence)),
            out_of_scope: l
                .out_of_scope
                .class
                .clone()
                .filter(|_| confident(l.out_of_scope.confidence)),
            missing: ack_missing,
            critical: l.critical.critical && confident(l.critical.confidence),
        },
    }
}

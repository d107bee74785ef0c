//! The classifier: a [`TriageConfig`] compiled once into a [`Triage`] (single-pass phrase
//! matchers, prepared host patterns), then applied to every report with
//! [`Triage::classify`]: component and scope, completeness, CVSS, signals, severity,
//! indicators.
//! Pure code: no I/O, no clock, no global state (only the static built-in patterns of the
//! submodules); must never panic on mail.

use super::text::{self, Extracted};
use super::{
    completeness, confidence, context, scope, severity, Classification, ReportText, TriageConfig,
    MAX_INDICATORS, SIGNALS,
};
use std::collections::BTreeSet;
use std::ops::Range;

/// A triage policy compiled for classifying many reports: every alias, keyword and signal
/// of the configuration, the built-in signal phrases and the completeness cues in one
/// single-pass matcher. Build it once (the pipeline does so in `Pipeline::from_config`)
/// and call [`Triage::classify`] for every message; it is `Send + Sync`.
#[derive(Debug)]
pub struct Triage {
    config: TriageConfig,
    compiled: scope::Compiled,
}

impl Triage {
    /// Compiles `cfg` (entries that can never match, such as empty phrases, are dropped,
    /// exactly as the matching rules skip them).
    pub fn new(cfg: &TriageConfig) -> Self {
        Self {
            config: cfg.clone(),
            compiled: scope::Compiled::new(cfg),
        }
    }

    /// The configuration this was compiled from.
    pub fn config(&self) -> &TriageConfig {
        &self.config
    }

    /// Classifies a report against the compiled policy. Never panics; only the first
    /// 256 KiB of subject and body are analysed.
    pub fn classify(&self, report: &ReportText) -> Classification {
        let (cfg, compiled) = (&self.config, &self.compiled);
        let subject = text::clip(report.subject, text::MAX_ANALYSED_BYTES);
        let raw_body = text::clip(report.body, text::MAX_ANALYSED_BYTES);
        let lines: Vec<&str> = text::unquoted_lines(raw_body).collect();
        let body = lines.join("\n");
        let roles = context::roles(&lines);

        let ex_subject = text::extract(subject);
        let ex_body = text::extract(&body);
        let ex_affected = text::extract(&roles.affected);
        // one pass per text finds every phrase of the configuration, the built-in signals
        // and the completeness cues
        let count = |t: &str| compiled.phrases.counts(&text::normalize_prose(t));
        let (in_subject, in_body) = (count(subject), count(&body));
        let (in_asserted, in_stated) = (count(&roles.asserted), count(&roles.stated));
        let in_affected = count(&roles.affected);
        let sentences: Vec<String> = std::iter::once(subject)
            .chain(roles.asserted.lines())
            .map(text::normalize_prose)
            .collect();
        let views = scope::Views {
            subject_counts: scope::Counts { all: &in_subject },
            body_counts: scope::Counts { all: &in_body },
            subject_hosts: &ex_subject.hosts,
            body_hosts: &ex_body.hosts,
            affected_counts: scope::Counts { all: &in_affected },
            affected_hosts: &ex_affected.hosts,
            sentences: &sentences,
        };
        // out-of-scope words count only where the report asserts them
        let asserted = scope::Views {
            body_counts: scope::Counts { all: &in_asserted },
            ..views.clone()
        };
        let anywhere = |r: &Range<usize>| {
            let (s, b) = (views.subject_counts.of(r), views.body_counts.of(r));
            s.iter().chain(b).any(|&n| n > 0)
        };

        let mut comp = scope::component(&views, cfg, compiled);
        let hits = severity::signals_from_counts(
            views.subject_counts.of(&compiled.signals),
            views.body_counts.of(&compiled.signals),
        );
        // so are the vulnerability classes that speak for "in scope"
        let asserted_hits = severity::signals_from_counts(
            views.subject_counts.of(&compiled.signals),
            asserted.body_counts.of(&compiled.signals),
        );
        let mut oos = scope::out_of_scope(&asserted, cfg, compiled, &asserted_hits);
        let cvss = super::parse_cvss(subject).or_else(|| super::parse_cvss(&body));

        let missing = completeness::missing(&completeness::Inputs {
            lines: &lines,
            text: &body,
            mentions: completeness::Mentions {
                impact_cue: anywhere(&compiled.impact_cues),
                poc: anywhere(&compiled.poc),
            },
            attachments: report.attachment_names,
            has_component: comp.name.is_some(),
            has_class: !hits.is_empty() || oos.class.is_some(),
            has_cvss: cvss.is_some(),
            output_is_poc: !oos.class.as_ref().is_some_and(|c| {
                cfg.out_of_scope
                    .iter()
                    .any(|r| &r.class == c && r.unless_validated)
            }),
        });
        // a reporter who gives their own steps and proof of concept of a vulnerability (not
        // only the scanner's command and its output) has validated the finding
        // (a downgrade or weak-cipher claim is what TLS scanners print)
        let names_vulnerability = asserted_hits.iter().any(|h| {
            severity::SIGNALS
                .get(h.index)
                .is_some_and(|s| s.in_scope_class && s.name != "cryptographic weakness")
        });
        let reproduced = names_vulnerability
            && !missing.contains(&super::Section::StepsToReproduce)
            && !missing.contains(&super::Section::ProofOfConcept);
        let validated = roles.validated || context::says_validated(subject);
        apply_scope_rules(cfg, validated || reproduced, &mut oos, &mut comp);
        foreign_rule(cfg, &views, compiled, &mut oos, &mut comp);

        let severity = match &cvss {
            Some(c) => c.severity,
            None => severity::severity_from_signals(&hits),
        };
        let crit = critical_of(
            compiled,
            &in_subject,
            &in_stated,
            cvss.as_ref(),
            oos.class.is_some(),
        );
        let review = review_of(cfg, &comp, &oos, &missing, &crit, &body, report);

        Classification {
            component: comp.name,
            component_evidence: comp.evidence,
            out_of_scope: oos.class,
            out_of_scope_evidence: oos.evidence,
            missing,
            cvss,
            signals: signal_names(&hits),
            severity,
            critical: crit.critical,
            indicators: indicators(&[&ex_subject, &ex_body]),
            review,
        }
    }
}

/// Confidences, evidence and the ack's claims of the labels.
fn review_of(
    cfg: &TriageConfig,
    comp: &scope::ComponentMatch,
    oos: &scope::OutOfScopeMatch,
    missing: &[super::Section],
    crit: &confidence::CriticalMatch,
    body: &str,
    report: &ReportText,
) -> super::Review {
    let (missing_confidence, missing_evidence) =
        confidence::missing(body, report.attachment_names, missing);
    confidence::review(confidence::Labels {
        threshold: cfg.ack_confidence,
        component: comp,
        out_of_scope: oos,
        missing,
        missing_confidence: &missing_confidence,
        missing_evidence,
        critical: crit,
    })
}

/// The critical verdict from the CVSS vector and what the subject and the *stated* body
/// sentences (`in_stated`: no negated or hedged ones) say.
fn critical_of(
    compiled: &scope::Compiled,
    in_subject: &[usize],
    in_stated: &[usize],
    cvss: Option<&super::Cvss>,
    out_of_scope: bool,
) -> confidence::CriticalMatch {
    let (subject, stated) = (
        scope::Counts { all: in_subject },
        scope::Counts { all: in_stated },
    );
    let any = |c: &scope::Counts| c.of(&compiled.critical).iter().any(|&n| n > 0);
    let signals =
        severity::signals_from_counts(subject.of(&compiled.signals), stated.of(&compiled.signals));
    confidence::critical(&confidence::CriticalInputs {
        cvss,
        out_of_scope,
        stated: &signals,
        configured_in_subject: any(&subject),
        configured_stated: any(&stated),
    })
}

/// Rules on top of the scores: scanner output confirmed by hand (`validated`: the reporter
/// says so, or gives their own steps and proof of concept) is not "unvalidated scanner
/// output"; a class whose target is not ours (`not_ours`: a third party, a person, an
/// office) leaves no affected component.
fn apply_scope_rules(
    cfg: &TriageConfig,
    validated: bool,
    oos: &mut scope::OutOfScopeMatch,
    comp: &mut scope::ComponentMatch,
) {
    let rule = |class: &Option<String>| {
        class
            .as_ref()
            .and_then(|c| cfg.out_of_scope.iter().find(|r| &r.class == c))
    };
    if rule(&oos.class).is_some_and(|r| r.unless_validated) && validated {
        oos.evidence.push("validated-by-hand".into());
        *oos = scope::OutOfScopeMatch {
            class: None,
            evidence: std::mem::take(&mut oos.evidence),
            confidence: 0.6,
        };
    }
    if rule(&oos.class).is_some_and(|r| r.not_ours) {
        if let Some(name) = comp.name.take() {
            comp.candidates = vec![name];
        }
        comp.evidence.clear();
        comp.confidence = oos.confidence;
    }
}

/// A report that is in scope by its words but names none of our hosts and no component by
/// word, while naming another host (see [`scope::foreign_target`]), belongs to the first
/// class with `foreign_hosts`: with confidence 0.55 (the ack stays neutral) and no component.
fn foreign_rule(
    cfg: &TriageConfig,
    views: &scope::Views,
    compiled: &scope::Compiled,
    oos: &mut scope::OutOfScopeMatch,
    comp: &mut scope::ComponentMatch,
) {
    if oos.class.is_some() || comp.evidence.iter().any(|e| e.starts_with("word:")) {
        return;
    }
    let Some(rule) = cfg.out_of_scope.iter().find(|r| r.foreign_hosts) else {
        return;
    };
    let Some(host) = scope::foreign_target(views, compiled) else {
        return;
    };
    *oos = scope::OutOfScopeMatch {
        class: Some(rule.class.clone()),
        evidence: vec![format!("foreign-host:{host}")],
        confidence: 0.55,
    };
    if let Some(name) = comp.name.take() {
        comp.candidates = vec![name];
    }
    comp.evidence.clear();
    comp.confidence = 0.55;
}

/// Classifies a report against the policy in `cfg`. Never panics; only the first 256 KiB of
/// subject and body are analysed.
///
/// Convenience for tests, the corpus evaluation and the fuzz target: it compiles `cfg` on
/// every call, which costs more than classifying a typical report. Anything classifying
/// many reports builds a [`Triage`] once and calls [`Triage::classify`].
pub fn classify(report: &ReportText, cfg: &TriageConfig) -> Classification {
    Triage::new(cfg).classify(report)
}

/// The names of the recognised signals, most severe first (ties in table order).
fn signal_names(hits: &[severity::SignalHit]) -> Vec<String> {
    let mut ranked: Vec<&severity::SignalHit> = hits.iter().collect();
    ranked.sort_by(|a, b| {
        let sa = SIGNALS.get(a.index).map(|s| s.severity);
        let sb = SIGNALS.get(b.index).map(|s| s.severity);
        sb.cmp(&sa).then(a.index.cmp(&b.index))
    });
    ranked
        .iter()
        .filter_map(|h| SIGNALS.get(h.index).map(|s| s.name.to_string()))
        .collect()
}

/// Hosts, paths and CVE ids of the extractions, sorted, deduplicated, at most
/// [`MAX_INDICATORS`].
fn indicators(extracted: &[&Extracted]) -> Vec<String> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    for ex in extracted {
        all.extend(ex.hosts.keys().cloned());
        all.extend(ex.paths.iter().cloned());
        all.extend(ex.cves.iter().cloned());
    }
    all.into_iter().take(MAX_INDICATORS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_is_shareable_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Triage>();
    }

    #[test]
    fn one_compiled_triage_equals_compiling_per_report() {
        let cfg = TriageConfig::default();
        let triage = Triage::new(&cfg);
        assert_eq!(triage.config().components.len(), cfg.components.len());
        let reports = [
            ("SSRF in the gateway", "POST https://gw.hexon.io/api/v1/upstreams CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N"),
            ("Denial of service", "slowloris makes the gateway unresponsive"),
            ("hexonctl", "Steps to reproduce: 1. run hexonctl 2. see\nImpact: key extraction"),
            ("", ""),
        ];
        for (subject, body) in reports {
            let names = vec!["poc.py".to_string()];
            let t = ReportText {
                subject,
                body,
                attachment_names: &names,
            };
            assert_eq!(triage.classify(&t), classify(&t, &cfg));
        }
    }
}

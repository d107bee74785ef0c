//! Scope decisions: which configured component a report is about (aliases and host patterns),
//! and whether its main finding falls in an out-of-scope class.
//! Pure scoring over pre-normalized text; must not panic and must not consult anything but
//! the configuration and the report.

use super::severity::{SignalHit, SIGNALS};
use super::text::{is_host_pattern, HostPattern, Phrase, PhraseSet};
use super::TriageConfig;
use std::collections::BTreeMap;
use std::ops::Range;

/// Weight of one alias occurrence in the subject / in the body (body hits are capped at 3
/// per alias so a long report does not drown a specific subject).
const SUBJECT_WORD: f64 = 3.0;
const BODY_WORD: f64 = 1.0;
/// Hosts are stronger evidence than words.
const SUBJECT_HOST: f64 = 6.0;
const BODY_HOST: f64 = 3.0;
const BODY_CAP: usize = 3;
/// Minimum total for a component verdict: a single body mention of a generic one-word alias
/// ("gateway" in a quoted ticket title) is not enough; a multi-word alias, a subject hit or a
/// host is.
const COMPONENT_MIN: f64 = 1.5;

/// Normalized views of a report shared by the scope functions.
#[derive(Clone)]
pub struct Views<'a> {
    /// occurrences of the compiled phrases in the normalized prose of the subject
    pub subject_counts: Counts<'a>,
    /// occurrences of the compiled phrases in the normalized prose of the body
    pub body_counts: Counts<'a>,
    /// hosts in the subject with occurrences
    pub subject_hosts: &'a BTreeMap<String, usize>,
    /// hosts in the body with occurrences
    pub body_hosts: &'a BTreeMap<String, usize>,
    /// occurrences in the lines naming what is affected (`Affected component: ...`)
    pub affected_counts: Counts<'a>,
    /// hosts in those lines
    pub affected_hosts: &'a BTreeMap<String, usize>,
    /// the normalized subject, then every normalized asserted body sentence (for
    /// [`StrongCue`]s)
    pub sentences: &'a [String],
}

/// A strong out-of-scope cue ([`super::OutOfScopeRule::strong`]): groups of alternatives, all
/// of which must occur in one sentence.
#[derive(Debug, Clone)]
pub struct StrongCue {
    groups: Vec<Vec<Phrase>>,
    evidence: String,
    /// per group, where its alternatives are in the compiled phrase set (filled by
    /// [`Compiled::new`]): a cue none of whose alternatives of some group occurs anywhere in
    /// the report is skipped without looking at its sentences
    indices: Vec<Vec<usize>>,
}

impl StrongCue {
    /// Compiles `a | b + c | d`; `None` when a group or an alternative is empty.
    pub fn new(raw: &str) -> Option<Self> {
        let groups = raw
            .split('+')
            .map(|g| g.split('|').map(Phrase::new).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?;
        if groups.iter().any(Vec::is_empty) {
            return None;
        }
        Some(Self {
            groups,
            evidence: format!("strong:{}", raw.trim().to_lowercase()),
            indices: Vec::new(),
        })
    }

    /// Does the normalized sentence hold it?
    pub fn matches(&self, sentence: &str) -> bool {
        self.groups
            .iter()
            .all(|g| g.iter().any(|p| p.count(sentence, 1) > 0))
    }
}

/// Multi-word aliases are more specific than single words.
fn alias_weight(p: &Phrase) -> f64 {
    if p.raw.trim().contains([' ', '-']) {
        1.5
    } else {
        1.0
    }
}

/// A [`TriageConfig`] compiled for matching: every alias, keyword and critical signal
/// normalized once and put, together with the built-in signal phrases and the completeness
/// cues, into one single-pass [`PhraseSet`]; host patterns prepared. Built once per
/// configuration by [`super::Triage::new`], which holds it.
#[derive(Debug)]
pub struct Compiled {
    /// every phrase [`super::Triage::classify`] looks for, in the order of the ranges below
    pub phrases: PhraseSet,
    /// the components' aliases (those that compile), in configuration order
    pub aliases: Range<usize>,
    /// the word keywords of the out-of-scope rules (those that compile), in order
    pub oos: Range<usize>,
    /// the configured critical signals (those that compile)
    pub critical: Range<usize>,
    /// [`super::severity::signal_phrases`]
    pub signals: Range<usize>,
    /// [`super::completeness::IMPACT_CUES`]
    pub impact_cues: Range<usize>,
    /// [`super::completeness::POC_LABELS`]
    pub poc: Range<usize>,
    /// per alias: owning component, weight, evidence string
    alias_info: Vec<(usize, f64, String)>,
    /// (component, pattern) in configuration order
    hosts: Vec<(usize, HostPattern)>,
    /// per rule, its keywords in order
    oos_rules: Vec<Vec<OosKeyword>>,
    /// per rule, its strong cues
    oos_strong: Vec<Vec<StrongCue>>,
    /// evidence strings of the out-of-scope word keywords
    oos_evidence: Vec<String>,
}

#[derive(Debug)]
enum OosKeyword {
    /// a host-pattern keyword and its evidence string
    Host(HostPattern, String),
    /// index of the keyword within `Compiled::oos`
    Phrase(usize),
}

/// Occurrences of the phrases of a [`Compiled`] in one normalized text.
#[derive(Clone)]
pub struct Counts<'a> {
    /// all occurrences, indexed like `Compiled::phrases`
    pub all: &'a [usize],
}

impl Counts<'_> {
    /// The occurrences for one range of the compiled phrases (empty if out of bounds).
    pub fn of(&self, r: &Range<usize>) -> &[usize] {
        self.all.get(r.clone()).unwrap_or(&[])
    }
}

impl Compiled {
    /// Compiles `cfg`; entries that can never match (empty phrases) are dropped, exactly as
    /// the matching rules skip them.
    pub fn new(cfg: &TriageConfig) -> Self {
        let mut phrases = Vec::new();
        let mut alias_info = Vec::new();
        let mut hosts = Vec::new();
        for (i, c) in cfg.components.iter().enumerate() {
            for alias in &c.aliases {
                let Some(p) = Phrase::new(alias) else {
                    continue;
                };
                alias_info.push((
                    i,
                    alias_weight(&p),
                    format!("word:{}", p.raw.to_lowercase()),
                ));
                phrases.push(p);
            }
            for pat in &c.hosts {
                hosts.push((i, HostPattern::new(pat)));
            }
        }
        let aliases = 0..phrases.len();
        let mut oos_evidence = Vec::new();
        let mut oos_rules = Vec::new();
        let mut oos_strong = Vec::new();
        for rule in &cfg.out_of_scope {
            let mut kws = Vec::new();
            for kw in &rule.keywords {
                if is_host_pattern(kw) {
                    let pat = kw.trim().to_ascii_lowercase();
                    kws.push(OosKeyword::Host(
                        HostPattern::new(&pat),
                        format!("host:{pat}"),
                    ));
                    continue;
                }
                let Some(p) = Phrase::new(kw) else { continue };
                kws.push(OosKeyword::Phrase(oos_evidence.len()));
                oos_evidence.push(format!("word:{}", p.raw.to_lowercase()));
                phrases.push(p);
            }
            oos_rules.push(kws);
            oos_strong.push(
                rule.strong
                    .iter()
                    .filter_map(|k| StrongCue::new(k))
                    .collect::<Vec<_>>(),
            );
        }
        let oos = aliases.end..phrases.len();
        // every alternative of every strong cue, counted in the same single pass
        for cue in oos_strong.iter_mut().flatten() {
            cue.indices = cue
                .groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|p| {
                            phrases.push(p.clone());
                            phrases.len() - 1
                        })
                        .collect()
                })
                .collect();
        }
        let strong_end = phrases.len();
        phrases.extend(cfg.critical_signals.iter().filter_map(|s| Phrase::new(s)));
        let critical = strong_end..phrases.len();
        phrases.extend(super::severity::signal_phrases().iter().cloned());
        let signals = critical.end..phrases.len();
        phrases.extend(super::text::phrases(super::completeness::IMPACT_CUES));
        let impact_cues = signals.end..phrases.len();
        phrases.extend(super::text::phrases(super::completeness::POC_LABELS));
        let poc = impact_cues.end..phrases.len();
        Self {
            phrases: PhraseSet::new(phrases),
            aliases,
            oos,
            critical,
            signals,
            impact_cues,
            poc,
            alias_info,
            hosts,
            oos_rules,
            oos_strong,
            oos_evidence,
        }
    }
}

/// Result of component scoring.
#[derive(Debug, Default)]
pub struct ComponentMatch {
    /// chosen component name, if any
    pub name: Option<String>,
    /// evidence for the chosen component (`host:...`, `word:...`)
    pub evidence: Vec<String>,
    /// how clearly it won: `1 - runner-up / winner`, scaled down for a weak winner
    pub confidence: f64,
    /// when no component won by the margin: the close candidates, best first
    pub candidates: Vec<String>,
}

/// A winner needs this share more than the runner-up; closer is `unknown` + candidates.
const COMPONENT_MARGIN: f64 = 0.25;
/// Weight of an alias or host in an `Affected ...:` line, per occurrence (like the subject).
const AFFECTED_WORD: f64 = 4.0;
const AFFECTED_HOST: f64 = 8.0;

/// Picks the best-scoring component.
///
/// Each alias scores `weight * (3 * subject hits + min(body hits, 3))`, each host
/// `6 * subject + 3 * min(body, 3)`. A host is credited only to the component owning the most
/// specific matching pattern (exact `registry.hexon.io` beats `*.hexon.io`, a longer wildcard
/// suffix beats a shorter one). The highest total of at least 1.5 wins; ties go to the earlier
/// component.
pub fn component(v: &Views, cfg: &TriageConfig, cc: &Compiled) -> ComponentMatch {
    let n = cfg.components.len();
    let mut scores = vec![0.0f64; n];
    let mut evidence: Vec<Vec<String>> = vec![Vec::new(); n];
    // which components the subject names (by alias or host): the tie-breaker
    let mut in_subject_line = vec![false; n];

    let in_subject = v.subject_counts.of(&cc.aliases);
    let in_body = v.body_counts.of(&cc.aliases);
    let in_affected = v.affected_counts.of(&cc.aliases);
    for (k, (i, weight, ev)) in cc.alias_info.iter().enumerate() {
        let s = in_subject.get(k).map_or(0, |&c| c.min(BODY_CAP));
        let b = in_body.get(k).map_or(0, |&c| c.min(BODY_CAP));
        let a = in_affected.get(k).map_or(0, |&c| c.min(1));
        if s > 0 {
            if let Some(named) = in_subject_line.get_mut(*i) {
                *named = true;
            }
        }
        if s + b + a > 0 {
            if let (Some(score), Some(e)) = (scores.get_mut(*i), evidence.get_mut(*i)) {
                *score += weight
                    * (SUBJECT_WORD * s as f64 + BODY_WORD * b as f64 + AFFECTED_WORD * a as f64);
                e.push(ev.clone());
            }
        }
    }
    host_scores(v, cc, &mut scores, &mut evidence, &mut in_subject_line);
    pick(cfg, scores, evidence, &in_subject_line)
}

/// Adds the hosts of the report to the components owning their most specific pattern.
fn host_scores(
    v: &Views,
    cc: &Compiled,
    scores: &mut [f64],
    evidence: &mut [Vec<String>],
    in_subject_line: &mut [bool],
) {
    let mut all_hosts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for h in v.affected_hosts.keys() {
        all_hosts.entry(h.as_str()).or_default();
    }
    for (h, k) in v.subject_hosts {
        all_hosts.entry(h.as_str()).or_default().0 += k;
    }
    for (h, k) in v.body_hosts {
        all_hosts.entry(h.as_str()).or_default().1 += k;
    }
    for (host, (s, b)) in all_hosts {
        let mut best: Option<(usize, usize)> = None; // (specificity, component)
        for (i, pat) in &cc.hosts {
            if let Some(spec) = pat.matches(host) {
                if best.is_none_or(|(bs, _)| spec > bs) {
                    best = Some((spec, *i));
                }
            }
        }
        if let Some((_, i)) = best {
            if let (Some(score), Some(e)) = (scores.get_mut(i), evidence.get_mut(i)) {
                let a = v.affected_hosts.get(host).map_or(0, |_| 1);
                *score += SUBJECT_HOST * s as f64
                    + BODY_HOST * b.min(BODY_CAP) as f64
                    + AFFECTED_HOST * a as f64;
                e.push(format!("host:{host}"));
                if s > 0 {
                    if let Some(named) = in_subject_line.get_mut(i) {
                        *named = true;
                    }
                }
            }
        }
    }
}

/// The best component if it reaches [`COMPONENT_MIN`] and beats the runner-up by
/// [`COMPONENT_MARGIN`], or, among close candidates, the only one the subject names (with a
/// confidence below the ack's); otherwise `unknown` with the close candidates.
fn pick(
    cfg: &TriageConfig,
    scores: Vec<f64>,
    mut evidence: Vec<Vec<String>>,
    in_subject_line: &[bool],
) -> ComponentMatch {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // stable: ties keep configuration order
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top = order.first().map_or(0.0, |&i| scores[i]);
    let second = order.get(1).map_or(0.0, |&i| scores[i]);
    let name = |i: usize| cfg.components.get(i).map(|c| c.name.clone());
    if top < COMPONENT_MIN {
        return ComponentMatch {
            confidence: if top > 0.0 { 0.5 } else { 0.9 },
            ..ComponentMatch::default()
        };
    }
    let margin = 1.0 - second / top;
    if margin < COMPONENT_MARGIN {
        let close: Vec<usize> = order
            .iter()
            .copied()
            .take_while(|&i| scores[i] >= top * (1.0 - COMPONENT_MARGIN))
            .collect();
        let named: Vec<usize> = close
            .iter()
            .copied()
            .filter(|&i| in_subject_line.get(i).copied().unwrap_or(false))
            .collect();
        if let [i] = named[..] {
            let mut ev = evidence.get_mut(i).map(std::mem::take).unwrap_or_default();
            ev.dedup();
            ev.push("named in the subject".into());
            return ComponentMatch {
                name: name(i),
                evidence: ev,
                confidence: 0.55,
                candidates: close.iter().filter_map(|&c| name(c)).collect(),
            };
        }
        return ComponentMatch {
            confidence: 0.5,
            candidates: close.iter().filter_map(|&i| name(i)).collect(),
            ..ComponentMatch::default()
        };
    }
    let Some(&i) = order.first() else {
        return ComponentMatch::default();
    };
    let mut ev = evidence.get_mut(i).map(std::mem::take).unwrap_or_default();
    ev.dedup();
    ComponentMatch {
        name: name(i),
        evidence: ev,
        confidence: (margin * (top / 6.0).min(1.0)).clamp(0.0, 1.0),
        candidates: Vec::new(),
    }
}

/// Result of the out-of-scope decision.
#[derive(Debug, Default)]
pub struct OutOfScopeMatch {
    /// out-of-scope class, if the report's main finding is out of scope
    pub class: Option<String>,
    /// matched keywords / hosts of that class
    pub evidence: Vec<String>,
    /// how sure the verdict (either way) is
    pub confidence: f64,
}

/// A strong cue in the subject scores twice a body sentence.
const STRONG_SUBJECT: f64 = 6.0;
const STRONG_SENTENCE: f64 = 3.0;

/// The score of a class's strong cues: per cue, [`STRONG_SUBJECT`] if the subject (the first
/// of `v.sentences`) holds it, plus [`STRONG_SENTENCE`] for the first asserted body sentence
/// holding it and 1 for each further one (at most [`BODY_CAP`] sentences).
fn strong_score(v: &Views, cues: &[StrongCue], ev: &mut Vec<String>) -> f64 {
    let mut score = 0.0;
    let anywhere = |i: &usize| {
        let n = |c: &Counts| c.all.get(*i).copied().unwrap_or(0);
        n(&v.subject_counts) + n(&v.body_counts) > 0
    };
    for cue in cues {
        // the per-sentence check only for a cue whose every group occurs somewhere
        if !cue.indices.is_empty() && !cue.indices.iter().all(|g| g.iter().any(anywhere)) {
            continue;
        }
        let subject = v.sentences.first().is_some_and(|s| cue.matches(s));
        let body = v
            .sentences
            .iter()
            .skip(1)
            .filter(|s| cue.matches(s))
            .take(BODY_CAP)
            .count();
        if subject || body > 0 {
            score += if subject { STRONG_SUBJECT } else { 0.0 };
            score += if body > 0 {
                STRONG_SENTENCE + (body - 1) as f64
            } else {
                0.0
            };
            ev.push(cue.evidence.clone());
        }
    }
    score
}

/// Minimum class score for an out-of-scope verdict: one subject hit, or two asserted body hits.
const OOS_MIN: f64 = 2.0;

/// Decides whether the report's *main finding* is out of scope.
///
/// Rule: each class scores 3 per keyword found in the subject, plus the body occurrences of
/// each keyword (capped at 3), plus 3 per host of the report matching one of its host-pattern
/// keywords (`*.zendesk.com`). The in-scope evidence is scored the same way from the built-in
/// vulnerability classes (SQL injection, XSS, RCE..., excluding denial of service). The best
/// class wins if it reaches 3 (a subject hit or several body hits) and is at least as strong
/// as the in-scope evidence. So "Impact: ... could also cause a denial of service" in an SQL
/// injection report stays in scope, while a report titled "Denial of service via slowloris"
/// or mostly about flooding a host is out of scope.
pub fn out_of_scope(
    v: &Views,
    cfg: &TriageConfig,
    cc: &Compiled,
    signals: &[SignalHit],
) -> OutOfScopeMatch {
    let in_scope: f64 = signals
        .iter()
        .filter(|h| SIGNALS.get(h.index).is_some_and(|s| s.in_scope_class))
        .map(|h| SUBJECT_WORD * h.subject.min(1) as f64 + h.body.min(BODY_CAP) as f64)
        .sum();

    let in_subject = v.subject_counts.of(&cc.oos);
    let in_body = v.body_counts.of(&cc.oos);
    let mut best: Option<(f64, usize, Vec<String>)> = None;
    for (i, rule) in cc.oos_rules.iter().enumerate() {
        let mut score = 0.0;
        let mut ev = Vec::new();
        for kw in rule {
            match kw {
                OosKeyword::Host(pat, evidence) => {
                    let hits = v
                        .subject_hosts
                        .keys()
                        .chain(v.body_hosts.keys())
                        .filter(|h| pat.matches(h).is_some())
                        .count();
                    if hits > 0 {
                        score += BODY_HOST * hits.min(BODY_CAP) as f64;
                        ev.push(evidence.clone());
                    }
                }
                OosKeyword::Phrase(k) => {
                    let s = in_subject.get(*k).map_or(0, |&c| c.min(1));
                    let b = in_body.get(*k).map_or(0, |&c| c.min(BODY_CAP));
                    if s + b > 0 {
                        score += SUBJECT_WORD * s as f64 + BODY_WORD * b as f64;
                        ev.extend(cc.oos_evidence.get(*k).cloned());
                    }
                }
            }
        }
        score += strong_score(v, cc.oos_strong.get(i).map_or(&[], Vec::as_slice), &mut ev);
        if score > 0.0 && best.as_ref().is_none_or(|(bs, _, _)| score > *bs) {
            best = Some((score, i, ev));
        }
    }
    match best {
        Some((score, i, ev)) if score >= OOS_MIN && score >= in_scope => OutOfScopeMatch {
            class: cfg.out_of_scope.get(i).map(|r| r.class.clone()),
            evidence: ev,
            // a subject hit alone is 0.5; more evidence and less in-scope evidence, surer
            confidence: (1.0 - (OOS_MIN + in_scope) / (2.0 * score)).clamp(0.0, 1.0),
        },
        Some((score, _, _)) => OutOfScopeMatch {
            confidence: (1.0 - score / (2.0 * OOS_MIN.max(in_scope))).clamp(0.0, 1.0),
            ..OutOfScopeMatch::default()
        },
        None => OutOfScopeMatch {
            confidence: 1.0,
            ..OutOfScopeMatch::default()
        },
    }
}

/// Hosts that are placeholders, labs, the reporter's own tooling or references, never the
/// target of a third-party report.
const NOT_A_TARGET: &[&str] = &[
    "localhost",
    "example.com",
    "example.org",
    "example.net",
    "github.com",
    "gitlab.com",
    "nvd.nist.gov",
    "cve.org",
    "cve.mitre.org",
    "mitre.org",
    "owasp.org",
    "portswigger.net",
    "hackerone.com",
    "bugcrowd.com",
    "google.com",
    "webhook.site",
    "requestbin.com",
    "ngrok.io",
    "interact.sh",
    "oast.fun",
    "oastify.com",
    "burpcollaborator.net",
    "datatracker.ietf.org",
    "rfc-editor.org",
    "w3.org",
    "mozilla.org",
    "modelcontextprotocol.io",
];
/// Labels of hosts that belong to a reporter's lab or an attacker, not to a third party.
const OWN_LABELS: &[&str] = &[
    "evil",
    "attacker",
    "malicious",
    "collaborator",
    "oast",
    "burp",
    "lab",
    "test",
    "local",
    "internal",
    "lan",
    "corp",
    "localdomain",
    "home",
    "intranet",
    "my",
    "mine",
];

/// The host a report is about when it is none of ours: the most named host that no component
/// owns, not a placeholder, lab, reference or attacker host, named at least twice (a subject
/// mention counts twice) and more often than all hosts of ours together.
pub fn foreign_target(v: &Views, cc: &Compiled) -> Option<String> {
    let mut ours = 0usize;
    let mut foreign: BTreeMap<&str, usize> = BTreeMap::new();
    let weighted = v
        .subject_hosts
        .iter()
        .map(|(h, n)| (h, 2 * n))
        .chain(v.body_hosts.iter().map(|(h, n)| (h, *n)));
    for (host, n) in weighted {
        if cc.hosts.iter().any(|(_, p)| p.matches(host).is_some()) {
            ours += n;
        } else if is_foreign(host) {
            *foreign.entry(host.as_str()).or_default() += n;
        }
    }
    let (host, n) = foreign.into_iter().max_by_key(|&(_, n)| n)?;
    (n >= 2 && n > ours).then(|| host.to_string())
}

/// A host that could be a real target: not an IP, a placeholder/reference host, a lab or
/// attacker host, or a single label.
pub(super) fn is_foreign(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let ip = h.parse::<std::net::IpAddr>().is_ok();
    let reference = NOT_A_TARGET
        .iter()
        .any(|r| h == *r || h.ends_with(&format!(".{r}")));
    let own = h.split(['.', '-']).any(|label| OWN_LABELS.contains(&label));
    !(ip || reference || own || !h.contains('.'))
}

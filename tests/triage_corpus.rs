//! Corpus evaluation of the triage classifier: classifies every report in
//! `tests/fixtures/triage/`, compares with `labels.json` and prints per-field accuracy.
//! Asserts component >= 0.90, out-of-scope >= 0.90 and CVSS == 1.0; the rest is reported only.

use hexon_triage::triage::{
    classify, fingerprint, similarity, Classification, Fingerprint, ReportText, TriageConfig,
    NEAR_DUPLICATE_THRESHOLD,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct Label {
    component: Option<String>,
    out_of_scope: Option<String>,
    missing: Vec<String>,
    cvss_score: Option<f64>,
    cvss_version: Option<String>,
    critical: bool,
    duplicate_of: Option<String>,
}

struct Case {
    name: String,
    subject: String,
    attachments: Vec<String>,
    body: String,
    label: Label,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/triage")
}

/// `Subject: ...`, optional `Attachments: a, b`, blank line, body.
fn parse_case(name: &str, raw: &str, label: Label) -> Case {
    let mut lines = raw.lines();
    let first = lines.next().unwrap_or_default();
    let subject = first
        .strip_prefix("Subject:")
        .unwrap_or_else(|| panic!("{name}: first line must be 'Subject: ...'"))
        .trim()
        .to_string();
    let mut attachments = Vec::new();
    let mut rest: Vec<&str> = lines.collect();
    if let Some(a) = rest.first().and_then(|l| l.strip_prefix("Attachments:")) {
        attachments = a
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        rest.remove(0);
    }
    if rest.first().is_some_and(|l| l.trim().is_empty()) {
        rest.remove(0);
    }
    Case {
        name: name.to_string(),
        subject,
        attachments,
        body: rest.join("\n"),
        label,
    }
}

fn load() -> Vec<Case> {
    let dir = fixtures();
    let labels: BTreeMap<String, Label> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap();
    let mut cases = Vec::new();
    for (name, label) in labels {
        let raw = std::fs::read_to_string(dir.join(format!("{name}.txt")))
            .unwrap_or_else(|e| panic!("{name}.txt: {e}"));
        cases.push(parse_case(&name, &raw, label));
    }
    // every .txt must be labelled
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "txt") {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            assert!(
                cases.iter().any(|c| c.name == stem),
                "{stem}.txt has no entry in labels.json"
            );
        }
    }
    cases
}

fn missing_names(c: &Classification) -> Vec<String> {
    let mut v: Vec<String> = c
        .missing
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

#[derive(Default)]
struct Tally {
    ok: usize,
    total: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn check(&mut self, case: &str, ok: bool, expected: String, actual: String) {
        self.total += 1;
        if ok {
            self.ok += 1;
        } else {
            self.mismatches
                .push(format!("  {case}: expected {expected}, got {actual}"));
        }
    }
    fn accuracy(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.ok as f64 / self.total as f64
        }
    }
}

struct Report {
    fields: Vec<(&'static str, Tally)>,
    dup_precision: f64,
    dup_recall: f64,
    dup_lines: Vec<String>,
}

fn evaluate(cases: &[&Case]) -> Report {
    let cfg = TriageConfig::default();
    let mut component = Tally::default();
    let mut oos = Tally::default();
    let mut missing = Tally::default();
    let mut cvss = Tally::default();
    let mut critical = Tally::default();
    let mut fps: Vec<Fingerprint> = Vec::new();
    for case in cases {
        let text = ReportText {
            subject: &case.subject,
            body: &case.body,
            attachment_names: &case.attachments,
        };
        let c = classify(&text, &cfg);
        fps.push(fingerprint(&text, &c));
        let l = &case.label;
        component.check(
            &case.name,
            c.component == l.component,
            format!("{:?}", l.component),
            format!("{:?} {:?}", c.component, c.component_evidence),
        );
        oos.check(
            &case.name,
            c.out_of_scope == l.out_of_scope,
            format!("{:?}", l.out_of_scope),
            format!("{:?} {:?}", c.out_of_scope, c.out_of_scope_evidence),
        );
        let mut exp_missing = l.missing.clone();
        exp_missing.sort();
        let got_missing = missing_names(&c);
        missing.check(
            &case.name,
            got_missing == exp_missing,
            format!("{exp_missing:?}"),
            format!("{got_missing:?}"),
        );
        let cvss_ok = match (&c.cvss, l.cvss_score) {
            (None, None) => true,
            (Some(got), Some(score)) => {
                (got.score - score).abs() <= 0.05 && Some(&got.version) == l.cvss_version.as_ref()
            }
            _ => false,
        };
        cvss.check(
            &case.name,
            cvss_ok,
            format!("{:?} v{:?}", l.cvss_score, l.cvss_version),
            format!(
                "{:?}",
                c.cvss
                    .as_ref()
                    .map(|x| (x.score, x.version.clone(), x.vector.clone()))
            ),
        );
        critical.check(
            &case.name,
            c.critical == l.critical,
            format!("{}", l.critical),
            format!(
                "{} (severity {:?}, signals {:?})",
                c.critical, c.severity, c.signals
            ),
        );
    }

    // duplicates: every unordered pair, predicted by similarity >= threshold
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut dup_lines = Vec::new();
    for i in 0..cases.len() {
        for j in (i + 1)..cases.len() {
            let (a, b) = (cases[i], cases[j]);
            let actual = a.label.duplicate_of.as_deref() == Some(b.name.as_str())
                || b.label.duplicate_of.as_deref() == Some(a.name.as_str());
            let sim = similarity(&fps[i], &fps[j]);
            let predicted = sim >= NEAR_DUPLICATE_THRESHOLD;
            match (actual, predicted) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    dup_lines.push(format!(
                        "  false positive: {} ~ {} = {sim:.3}",
                        a.name, b.name
                    ));
                }
                (true, false) => {
                    fn_ += 1;
                    dup_lines.push(format!(
                        "  missed duplicate: {} ~ {} = {sim:.3}",
                        a.name, b.name
                    ));
                }
                (false, false) => {}
            }
            if actual && predicted {
                dup_lines.push(format!(
                    "  found duplicate: {} ~ {} = {sim:.3}",
                    a.name, b.name
                ));
            }
        }
    }
    let dup_precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let dup_recall = if tp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    Report {
        fields: vec![
            ("component", component),
            ("out_of_scope", oos),
            ("missing", missing),
            ("cvss", cvss),
            ("critical", critical),
        ],
        dup_precision,
        dup_recall,
        dup_lines,
    }
}

fn print(title: &str, r: &Report) {
    println!("\n== {title} ==");
    println!("{:<14} {:>7} {:>9}", "field", "correct", "accuracy");
    for (name, t) in &r.fields {
        println!(
            "{:<14} {:>3}/{:<3} {:>9.3}",
            name,
            t.ok,
            t.total,
            t.accuracy()
        );
    }
    println!(
        "{:<14} precision {:.3} recall {:.3} (threshold {NEAR_DUPLICATE_THRESHOLD})",
        "duplicates", r.dup_precision, r.dup_recall
    );
    for (name, t) in &r.fields {
        if !t.mismatches.is_empty() {
            println!("-- {name} mismatches:");
            for m in &t.mismatches {
                println!("{m}");
            }
        }
    }
    if !r.dup_lines.is_empty() {
        println!("-- duplicates:");
        for l in &r.dup_lines {
            println!("{l}");
        }
    }
}

#[test]
fn corpus_accuracy_meets_targets() {
    let cases = load();
    assert!(cases.len() >= 45, "corpus has only {} cases", cases.len());
    let all: Vec<&Case> = cases.iter().collect();
    let report = evaluate(&all);
    print(&format!("all {} cases", all.len()), &report);

    let held_out: Vec<&Case> = cases
        .iter()
        .filter(|c| c.name.starts_with("heldout_"))
        .collect();
    if !held_out.is_empty() {
        print(
            &format!("held-out subset ({} cases)", held_out.len()),
            &evaluate(&held_out),
        );
    }

    let acc = |field: &str| {
        report
            .fields
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, t)| t.accuracy())
            .unwrap_or(0.0)
    };
    assert!(
        acc("component") >= 0.90,
        "component accuracy {:.3} < 0.90",
        acc("component")
    );
    assert!(
        acc("out_of_scope") >= 0.90,
        "out-of-scope accuracy {:.3} < 0.90",
        acc("out_of_scope")
    );
    assert!(
        (acc("cvss") - 1.0).abs() < 1e-12,
        "CVSS accuracy {:.3} != 1.0",
        acc("cvss")
    );
}

#[test]
fn corpus_duplicate_pairs_are_labelled_consistently() {
    let cases = load();
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for c in &cases {
        if let Some(d) = &c.label.duplicate_of {
            assert!(
                names.contains(&d.as_str()),
                "{}: duplicate_of {d} does not exist",
                c.name
            );
            assert_ne!(d, &c.name);
        }
    }
}

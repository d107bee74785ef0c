//! Arbitrary text → the classifier and the text helpers around it:
//! `classify` (default `TriageConfig`), `parse_cvss`, `fingerprint` +
//! `similarity`, `parse_credit`, `tracking_ids_in`. Checks: no panic, no hang,
//! similarity finite and in [0, 1], at most 5 tracking ids.
#![no_main]

use std::sync::LazyLock;

use hexon_triage::threading::tracking_ids_in;
use hexon_triage::triage::{
    classify, fingerprint, parse_credit, parse_cvss, similarity, ReportText, TriageConfig,
};
use libfuzzer_sys::fuzz_target;

static CONFIG: LazyLock<TriageConfig> = LazyLock::new(TriageConfig::default);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Layout: first line = subject, `\0`-separated tail after the body = attachment names.
    let (subject, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let mut parts = rest.split('\0');
    let body = parts.next().unwrap_or("");
    let names: Vec<String> = parts.take(70).map(str::to_string).collect();

    let report = ReportText {
        subject,
        body,
        attachment_names: &names,
    };
    let cfg = &*CONFIG;
    let c = classify(&report, cfg);
    let fp = fingerprint(&report, &c);

    // The whole input as one body too (no subject), and compare the two.
    let whole = ReportText {
        subject: "",
        body: &text,
        attachment_names: &[],
    };
    let c2 = classify(&whole, cfg);
    let fp2 = fingerprint(&whole, &c2);
    let s = similarity(&fp, &fp2);
    assert!(s.is_finite() && (0.0..=1.0).contains(&s), "similarity {s}");
    let s_self = similarity(&fp, &fp);
    assert!(s_self.is_finite() && (0.0..=1.0).contains(&s_self), "self similarity {s_self}");

    let _ = parse_cvss(&text);
    let _ = parse_cvss(subject);
    let _ = parse_credit(&text);
    for prefix in ["HEXON", "hexon", ""] {
        let ids = tracking_ids_in(&text, prefix);
        assert!(ids.len() <= 5);
    }
    // A prefix taken from the input itself.
    let prefix: String = subject.chars().take(8).collect();
    let _ = tracking_ids_in(body, &prefix);
});

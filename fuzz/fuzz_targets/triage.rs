//! Arbitrary text → the classifier and the text helpers around it:
//! `classify` (default `TriageConfig`), `parse_cvss`, `fingerprint` +
//! `similarity`, `parse_credit`, `tracking_ids_in`. Checks: no panic, no hang,
//! similarity finite and in [0, 1], at most 5 tracking ids.
#![no_main]

use std::sync::LazyLock;

use hexon_triage::threading::tracking_ids_in;
use hexon_triage::triage::{
    classify, fingerprint, parse_credit, parse_cvss, similarity, Fingerprint, ReportText,
    TriageConfig,
};
use libfuzzer_sys::fuzz_target;

mod common;

static CONFIG: LazyLock<TriageConfig> = LazyLock::new(TriageConfig::default);

/// A typical report's fingerprint to compare every input against.
static REFERENCE: LazyLock<Fingerprint> = LazyLock::new(|| {
    let report = ReportText {
        subject: "Hexon Gateway: SSRF via upstream URL",
        body: "POST https://gw.hexon.io/api/v1/upstreams with url=http://169.254.169.254/ \
               returns cloud metadata. CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N. \
               Steps to reproduce: 1. log in 2. add upstream. Impact: credential theft. CVE-2024-1234",
        attachment_names: &[],
    };
    fingerprint(&report, &classify(&report, &CONFIG))
});

fuzz_target!(|data: &[u8]| {
    common::run("triage", data, || {
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

        let s = similarity(&fp, &REFERENCE);
        assert!(s.is_finite() && (0.0..=1.0).contains(&s), "similarity {s}");
        let s = similarity(&REFERENCE, &fp);
        assert!(
            s.is_finite() && (0.0..=1.0).contains(&s),
            "similarity (swapped) {s}"
        );
        let s_self = similarity(&fp, &fp);
        assert!(
            s_self.is_finite() && (0.0..=1.0).contains(&s_self),
            "self similarity {s_self}"
        );

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
});

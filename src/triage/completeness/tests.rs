//! Unit and differential tests of the completeness check: multilingual headings, content
//! cues, attachments, and the inline-label, line-prefilter and payload fast paths against
//! their reference definitions.
//! Pure; no I/O.

use super::*;

fn check(body: &str, attachments: &[String]) -> Vec<Section> {
    let lines: Vec<&str> = body.lines().collect();
    let norm = normalize(body);
    missing(&Inputs {
        lines: &lines,
        text: body,
        mentions: mentions(&norm),
        attachments,
        has_component: true,
        has_class: true,
        has_cvss: false,
        output_is_poc: true,
    })
}

#[test]
fn markdown_report_with_all_sections_is_complete() {
    let body = "## Description\nThe gateway leaks things.\n## Steps to reproduce\n1. a\n2. b\n## Impact\nBad.\n## PoC\n```\ncurl -k https://x.example/a\n```\n";
    assert!(check(body, &[]).is_empty());
}

#[test]
fn multilingual_headings_are_recognised() {
    let de = "### Beschreibung\nx\n### Schritte zur Reproduktion\nfoo\n### Auswirkung\nbar\n";
    assert_eq!(check(de, &[]), vec![Section::ProofOfConcept]);
    let fr = "Description : x\nÉtapes pour reproduire :\nfoo\nImpact : bar\n";
    assert_eq!(check(fr, &[]), vec![Section::ProofOfConcept]);
    let es =
        "Descripción: x\nPasos para reproducir:\nfoo\nImpacto: bar\nPrueba de concepto: adjunta\n";
    assert!(check(es, &[]).is_empty());
    let ja = "【概要】\nx\n【再現手順】\ny\n【影響】\nz\n";
    assert_eq!(check(ja, &[]), vec![Section::ProofOfConcept]);
}

#[test]
fn curl_command_counts_as_steps_and_poc() {
    let m = check(
        "The gateway is broken.\ncurl -X POST https://x.example/api",
        &[],
    );
    assert_eq!(m, vec![Section::Description, Section::Impact]);
}

#[test]
fn inline_labels_equal_reference() {
    fn reference_lower(line: &str) -> String {
        line.split_whitespace()
            .map(|w| {
                let colon = w.ends_with(':') || w.ends_with('：');
                let n = normalize(w);
                let n = n.trim();
                if colon {
                    format!("{n}:")
                } else {
                    n.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn reference_label(lower: &str, labels: &[&str]) -> bool {
        labels.iter().any(|l| {
            lower
                .match_indices(l)
                .any(|(i, _)| i == 0 || !lower[..i].ends_with(|c: char| c.is_alphanumeric()))
        })
    }
    let vocab = [
        "Repro:",
        "steps:",
        "to",
        "reproduce:",
        "Impact",
        ":",
        "：",
        "impacto：",
        "PoC:",
        "proof",
        "of",
        "concept:",
        "xpoc:",
        "é:",
        "exploit",
        " ",
        "\t",
        "--",
        "a:b",
        "https://x",
        "Étapes:",
        "Schritte :",
        "_poc:",
        "1.",
        "\u{a0}",
        "İmpact:",
        "auswirkung:",
    ];
    let mut next = crate::triage::xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let line: String = crate::triage::random_words(&mut next, &vocab, 12)
            .join(if next().is_multiple_of(3) { "" } else { " " });
        let lower = normalize_keep_colons(&line);
        assert_eq!(lower, reference_lower(&line), "{line:?}");
        for labels in [INLINE_STEPS, INLINE_IMPACT, INLINE_POC] {
            assert_eq!(
                has_inline_label(&lower, labels),
                reference_label(&lower, labels),
                "{line:?}"
            );
        }
        if !has_word_ending_in_colon(&line) {
            assert!(!lower.contains(':'), "{line:?}");
        }
    }
}

#[test]
fn line_prefilters_equal_reference() {
    fn reference_inline_command(line: &str) -> bool {
        let mut parts = line.split('`');
        parts.next();
        let mut in_code = true;
        for part in parts {
            if in_code {
                let mut w = part.split_whitespace();
                let first = w.next().unwrap_or("");
                let has_operand = w.any(|a| {
                    a.starts_with('-')
                        || a.contains('/')
                        || a.contains('=')
                        || a.starts_with("http")
                });
                if COMMANDS.contains(&first) && has_operand {
                    return true;
                }
            }
            in_code = !in_code;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(2).any(|w| {
            INLINE_TOOLS.contains(&w[0].trim_start_matches(['(', '"', '\'']))
                && (w[1].starts_with('-') || w[1].starts_with("http") || w[1].starts_with('\''))
        })
    }
    let vocab = [
        "curl",
        "(curl",
        "\"'wget",
        "nc",
        "ncat",
        "xnc",
        "-k",
        "http://x",
        "'a'",
        " ",
        "\t",
        "\u{a0}",
        "\u{3000}",
        "`",
        "hexonctl",
        "--server",
        "Impact",
        ":",
        "：",
        "】",
        "—",
        "(",
        "]",
        "*",
        "\n",
        "Steps",
        "to",
        "reproduce",
        "é",
        "İ",
        "日本",
        "repro:",
        "PoC：",
        "x:y",
        "concept:",
        "_",
        "1.",
        "##",
    ];
    let mut next = crate::triage::xorshift(0x0123_4567_89ab_cdef);
    for _ in 0..8000 {
        let line: String = crate::triage::random_words(&mut next, &vocab, 10)
            .join(if next().is_multiple_of(3) { "" } else { " " });
        assert_eq!(
            has_inline_command(&line, true),
            reference_inline_command(&line),
            "{line:?}"
        );
        assert_eq!(
            find_separator(&line),
            line.find([':', '：', '(', ']', '】', '*', '\n', '—']),
            "{line:?}"
        );
        let mut first = String::from("junk");
        first_normalized_word(&line, &mut first);
        assert_eq!(
            first,
            normalize(&line).split_whitespace().next().unwrap_or(""),
            "{line:?}"
        );
        if !may_have_inline_label(&line) {
            let lower = normalize_keep_colons(&line);
            for labels in [INLINE_STEPS, INLINE_IMPACT, INLINE_POC] {
                assert!(!has_inline_label(&lower, labels), "{line:?}");
            }
        }
    }
}

#[test]
fn payload_pattern_equals_lowercase_search() {
    let reference = |line: &str| {
        let lower = line.to_lowercase();
        PAYLOAD_MARKERS.iter().any(|m| lower.contains(m))
    };
    for line in [
        "GET /?q=<SCRIPT>alert(1)</script>",
        "x' OR 1=1 --",
        "' UNION SELECT password FROM users",
        "<scrİpt>",
        "<ſcript>",
        "\u{212A}onerror=",
        "onerror\u{130}=",
        "..%2F..%2Fetc",
        "${JNDI:ldap://x}",
        "ÜNION SELECT",
        "plain text",
        "",
    ] {
        assert_eq!(has_payload(line), reference(line), "{line:?}");
    }
}

#[test]
fn poc_attachment_names_count() {
    assert!(is_poc_attachment("poc.py"));
    assert!(is_poc_attachment("Exploit.rb"));
    assert!(is_poc_attachment("burp.har"));
    assert!(is_poc_attachment("trace.pcap"));
    assert!(is_poc_attachment("Screenshot 2026-01-01.png"));
    assert!(!is_poc_attachment("notes.txt"));
    assert!(!is_poc_attachment("logo.png"));
    let m = check("short", &["poc.py".to_string()]);
    assert!(!m.contains(&Section::ProofOfConcept));
}

#[test]
fn impact_cue_without_heading_counts() {
    let m = check("An attacker can read every invoice.", &[]);
    assert!(!m.contains(&Section::Impact));
}

#[test]
fn empty_report_lacks_everything() {
    assert_eq!(
        check("", &[]),
        vec![
            Section::Description,
            Section::StepsToReproduce,
            Section::Impact,
            Section::ProofOfConcept
        ]
    );
}

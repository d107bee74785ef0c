//! Cost of the triage step per report, on the blind corpora (tuning and held-out), without
//! servers: classification, duplicate fingerprint, and the duplicate check of one new report
//! against a full duplicate window (the store compares each new report with its last 300).
//! Prints figures and asserts nothing about speed. The end-to-end figures with real Dovecot
//! and Postfix (where `triage` is one stage of the daemon's own counters) come from
//! `benches/mailflow.rs`.
//!
//!     cargo bench --bench triage            # BENCH_ROUNDS=20 passes over every report

use hexon_triage::parse::{parse_entity, ParseLimits};
use hexon_triage::triage::{fingerprint, Comparable, Rarity, ReportText, Triage, TriageConfig};
use std::path::PathBuf;
use std::time::Instant;

/// Reports the store compares a new one with (`DUPLICATE_WINDOW` in the store).
const WINDOW: usize = 300;

fn corpus() -> Vec<(String, String, Vec<String>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["triage-blind", "triage-heldout"] {
        let labels: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(dir).join("labels.json")).unwrap(),
        )
        .unwrap();
        for (name, label) in labels.as_object().unwrap() {
            let raw = std::fs::read_to_string(root.join(dir).join(format!("{name}.txt"))).unwrap();
            let (first, rest) = raw.split_once("\n\n").unwrap_or((&raw, ""));
            let subject = first.trim_start_matches("Subject:").trim().to_string();
            let body = if name.ends_with(".html") {
                let e = format!("Content-Type: text/html; charset=utf-8\r\n\r\n{rest}");
                parse_entity(e.as_bytes(), &ParseLimits::default())
                    .unwrap()
                    .0
            } else {
                rest.to_string()
            };
            let attachments = label["attachments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            out.push((subject, body, attachments));
        }
    }
    out
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let reports = corpus();
    let triage = Triage::new(&TriageConfig::default());
    let bytes: usize = reports.iter().map(|(s, b, _)| s.len() + b.len()).sum();
    println!(
        "triage benchmark: {} reports ({} KB of text), {rounds} rounds, one thread",
        reports.len(),
        bytes / 1024
    );

    let texts: Vec<ReportText> = reports
        .iter()
        .map(|(s, b, a)| ReportText {
            subject: s,
            body: b,
            attachment_names: a,
        })
        .collect();
    let t = Instant::now();
    let mut classes = Vec::new();
    for _ in 0..rounds {
        classes = texts.iter().map(|r| triage.classify(r)).collect();
    }
    let classify = t.elapsed().as_secs_f64() / (rounds * texts.len()) as f64;

    let t = Instant::now();
    let mut fps = Vec::new();
    for _ in 0..rounds {
        fps = texts
            .iter()
            .zip(&classes)
            .map(|(r, c)| fingerprint(r, c))
            .collect();
    }
    let fingerprinting = t.elapsed().as_secs_f64() / (rounds * texts.len()) as f64;

    // a full window: the corpus repeated, as the store holds it (parsed once, rarity kept)
    let window: Vec<Comparable> = fps
        .iter()
        .cycle()
        .take(WINDOW)
        .map(Comparable::new)
        .collect();
    let mut rarity = Rarity::default();
    window.iter().for_each(|c| rarity.add(c));
    let t = Instant::now();
    let mut linked = 0usize;
    for _ in 0..rounds {
        for fp in &fps {
            let new = Comparable::new(fp);
            linked += window
                .iter()
                .filter(|old| new.similarity_among(old, &rarity) >= 0.4)
                .count();
        }
    }
    let lookup = t.elapsed().as_secs_f64() / (rounds * fps.len()) as f64;
    std::hint::black_box(linked);

    // one large report: the corpus concatenated up to the analysed maximum (256 KB)
    let mut big = String::new();
    while big.len() < 256 * 1024 {
        for (_, b, _) in &reports {
            big.push_str(b);
            big.push('\n');
        }
    }
    let big_text = ReportText {
        subject: "Large report",
        body: &big,
        attachment_names: &[],
    };
    let t = Instant::now();
    let big_rounds = rounds.clamp(1, 5);
    for _ in 0..big_rounds {
        std::hint::black_box(triage.classify(&big_text));
    }
    let big_cost = t.elapsed().as_secs_f64() / big_rounds as f64;

    // the mailflow benchmark's synthetic 8 KB report (random words, a line break every ~12)
    let words = [
        "gateway", "token", "session", "registry", "helm", "admin", "curl", "header",
    ];
    let mut synth = String::from("report: the Hexon Gateway admin API at https://gateway.hexon.io/api/v1/r1 leaks tokens.\n\nSteps to reproduce:\n1. curl -s https://gateway.hexon.io/api/v1/r1\n\nImpact: session takeover.\n\n");
    let mut k = 7usize;
    while synth.len() < 8_000 {
        k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        synth.push_str(words[(k >> 33) % words.len()]);
        synth.push(if (k >> 20).is_multiple_of(12) {
            '\n'
        } else {
            ' '
        });
    }
    let synth_text = ReportText {
        subject: "Bench report 1",
        body: &synth,
        attachment_names: &[],
    };
    let t = Instant::now();
    for _ in 0..rounds.max(1) * 10 {
        std::hint::black_box(triage.classify(&synth_text));
    }
    let synth_cost = t.elapsed().as_secs_f64() / (rounds.max(1) * 10) as f64;

    println!("{:<44} {:>10}", "step", "per report");
    println!(
        "{:<44} {:>8.0} µs",
        "classify (component, scope, sections, severity)",
        classify * 1e6
    );
    println!(
        "{:<44} {:>8.0} µs",
        "duplicate fingerprint",
        fingerprinting * 1e6
    );
    println!(
        "{:<44} {:>8.0} µs",
        format!("duplicate check against {WINDOW} reports"),
        lookup * 1e6
    );
    println!(
        "{:<44} {:>8.0} µs",
        "total",
        (classify + fingerprinting + lookup) * 1e6
    );
    println!(
        "{:<44} {:>8.0} µs",
        "classify mailflow's synthetic 8 KB report",
        synth_cost * 1e6
    );
    println!(
        "{:<44} {:>8.1} ms",
        format!("classify one {} KB report", big.len() / 1024),
        big_cost * 1e3
    );
}

//! Cross-reporter near-duplicate detection: a compact, storable fingerprint per report
//! (indicators plus a bottom-k MinHash sketch of word 3-grams) and a similarity in 0..=1.
//! Pure and deterministic across runs and releases (own FNV-1a hash, no std hasher).

use super::text::{clip, is_ascii_word, normalize_prose, unquoted_lines, MAX_ANALYSED_BYTES};
use super::{Classification, Fingerprint, ReportText};
use std::collections::BTreeSet;

/// Reports at or above this similarity are flagged as near-duplicates. Tuned on the corpus in
/// `tests/fixtures/triage` (see `tests/triage_corpus.rs`).
pub const NEAR_DUPLICATE_THRESHOLD: f64 = 0.4;

/// Number of smallest 3-gram hashes kept (bottom-k MinHash).
pub const SKETCH_SIZE: usize = 128;
/// Identifier indicators kept per fingerprint.
const MAX_IDENTIFIERS: usize = 32;
/// Entries of a (possibly foreign) fingerprint considered by [`similarity`].
const MAX_COMPARED: usize = 1024;
/// Indicator prefix recording the classified component.
const COMPONENT_PREFIX: &str = "component:";
/// Indicator prefix recording the out-of-scope class.
const OOS_PREFIX: &str = "oos:";

/// 64-bit FNV-1a: stable forever, unlike `std`'s `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Technical identifiers (`channelBinding`, `get_gateway_config`) are language-independent
/// evidence that two reports talk about the same code.
fn identifiers(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // tokens are runs of ASCII alphanumerics and `_`; every byte of a non-ASCII character
    // separates them just as the character does
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let rest = b.get(i..).unwrap_or(&[]);
        i += rest
            .iter()
            .position(|&x| !is_ascii_word(x))
            .unwrap_or(rest.len());
        let tok = b.get(start..i).unwrap_or(&[]);
        // the separator (every byte of a non-ASCII character separates, as the character does)
        i += 1;
        if tok.len() < 6 || tok.len() > 64 {
            continue;
        }
        // one pass: an `_` between two other bytes, a letter, a lower-upper pair
        let (mut seen_other, mut inner_underscore, mut pending_underscore) = (false, false, false);
        let (mut alpha, mut camel, mut prev_lower) = (false, false, false);
        for &x in tok {
            if x == b'_' {
                pending_underscore |= seen_other;
            } else {
                inner_underscore |= pending_underscore;
                seen_other = true;
            }
            alpha |= x.is_ascii_alphabetic();
            camel |= prev_lower && x.is_ascii_uppercase();
            prev_lower = x.is_ascii_lowercase();
        }
        let underscore = inner_underscore && alpha;
        if underscore || camel {
            let lower: String = tok
                .iter()
                .map(|&x| char::from(x.to_ascii_lowercase()))
                .collect();
            out.insert(format!("id:{lower}"));
        }
        if out.len() >= MAX_IDENTIFIERS {
            break;
        }
    }
    out
}

/// Builds the fingerprint of a report. `indicators` are the classification's indicators
/// (hosts, paths, CVE ids) plus `id:`-prefixed technical identifiers and the `component:` /
/// `oos:` verdicts; `shingles` is the sorted set of the [`SKETCH_SIZE`] smallest FNV-1a hashes
/// of word 3-grams of the prose.
pub fn fingerprint(text: &ReportText, classification: &Classification) -> Fingerprint {
    let subject = clip(text.subject, MAX_ANALYSED_BYTES);
    let body: String = unquoted_lines(clip(text.body, MAX_ANALYSED_BYTES))
        .collect::<Vec<_>>()
        .join("\n");
    let mut indicators: BTreeSet<String> = classification.indicators.iter().cloned().collect();
    indicators.extend(identifiers(subject));
    indicators.extend(identifiers(&body));
    if let Some(c) = &classification.component {
        indicators.insert(format!("{COMPONENT_PREFIX}{}", c.to_lowercase()));
    }
    if let Some(o) = &classification.out_of_scope {
        indicators.insert(format!("{OOS_PREFIX}{}", o.to_lowercase()));
    }

    let norm = normalize_prose(&format!("{subject}\n{body}"));
    // Normalized text is words separated by single spaces (and padded), so "a b c" is the
    // slice of the text from the start of `a` to the end of `c`.
    let nb = norm.as_bytes();
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < nb.len() {
        if nb[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < nb.len() && nb[i] != b' ' {
            i += 1;
        }
        words.push((start, i));
    }
    let span = |a: &(usize, usize), c: &(usize, usize)| nb.get(a.0..c.1).unwrap_or(&[]);
    let mut hashes: Vec<u64> = words
        .windows(3)
        .map(|w| fnv1a(span(&w[0], &w[2])))
        .collect();
    if let (true, Some(first), Some(last)) = (words.len() < 3, words.first(), words.last()) {
        hashes.push(fnv1a(span(first, last)));
    }
    // the SKETCH_SIZE smallest distinct hashes, ascending
    hashes.sort_unstable();
    hashes.dedup();
    hashes.truncate(SKETCH_SIZE);
    Fingerprint {
        indicators: indicators.into_iter().collect(),
        shingles: hashes,
    }
}

fn indicator_weight(i: &str) -> f64 {
    if i.starts_with('/') {
        3.0
    } else if i.starts_with("CVE-") {
        4.0
    } else {
        1.0 // hosts and identifiers
    }
}

fn is_meta(i: &str) -> bool {
    i.starts_with(COMPONENT_PREFIX) || i.starts_with(OOS_PREFIX)
}

fn meta<'a>(set: &BTreeSet<&'a str>, prefix: &str) -> Option<&'a str> {
    set.iter().find(|i| i.starts_with(prefix)).copied()
}

/// Bottom-k estimate of the Jaccard similarity of the two 3-gram sets.
fn sketch_similarity(a: &[u64], b: &[u64]) -> f64 {
    let a: BTreeSet<u64> = a.iter().take(MAX_COMPARED).copied().collect();
    let b: BTreeSet<u64> = b.iter().take(MAX_COMPARED).copied().collect();
    let k = SKETCH_SIZE.min(a.len().max(b.len()));
    if k == 0 {
        return 0.0;
    }
    let union: Vec<u64> = a.union(&b).take(k).copied().collect();
    if union.is_empty() {
        return 0.0;
    }
    let both = union
        .iter()
        .filter(|h| a.contains(h) && b.contains(h))
        .count();
    both as f64 / union.len() as f64
}

/// Similarity of two fingerprints in `0..=1`.
///
/// Indicator evidence (paths weigh 3, CVE ids 4, hosts and identifiers 1) is the mean of the
/// weighted Jaccard index and the weighted containment (shared weight over the smaller set's
/// weight, so a terse re-report of a long one still matches). It is scaled by 0.4 when the
/// shared indicators are only hosts and fewer than two identifiers (many unrelated reports share
/// `hexon.io`), and halved when the two reports were classified to different components or
/// different out-of-scope verdicts. The result is `max(text, 0.7 * indicators + 0.3 * text)`,
/// where `text` is the 3-gram sketch estimate: a copy-pasted report matches on text alone, a
/// re-worded or translated one through its endpoints.
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let all_a: BTreeSet<&str> = a
        .indicators
        .iter()
        .take(MAX_COMPARED)
        .map(String::as_str)
        .collect();
    let all_b: BTreeSet<&str> = b
        .indicators
        .iter()
        .take(MAX_COMPARED)
        .map(String::as_str)
        .collect();
    let ia: BTreeSet<&str> = all_a.iter().copied().filter(|i| !is_meta(i)).collect();
    let ib: BTreeSet<&str> = all_b.iter().copied().filter(|i| !is_meta(i)).collect();
    let weight = |s: &BTreeSet<&str>| -> f64 { s.iter().map(|i| indicator_weight(i)).sum() };
    let shared: BTreeSet<&str> = ia.intersection(&ib).copied().collect();
    let (wa, wb, ws) = (weight(&ia), weight(&ib), weight(&shared));
    let union_w = wa + wb - ws;
    let jaccard = if union_w > 0.0 { ws / union_w } else { 0.0 };
    let smaller = wa.min(wb);
    let containment = if smaller > 0.0 { ws / smaller } else { 0.0 };
    let mut ind = 0.5 * jaccard + 0.5 * containment;
    let strong = shared
        .iter()
        .any(|i| i.starts_with('/') || i.starts_with("CVE-"))
        || shared.iter().filter(|i| i.starts_with("id:")).count() >= 2;
    if !strong {
        ind *= 0.4;
    }
    let (ca, cb) = (
        meta(&all_a, COMPONENT_PREFIX),
        meta(&all_b, COMPONENT_PREFIX),
    );
    if ca.is_some() && cb.is_some() && ca != cb {
        ind *= 0.5;
    }
    if meta(&all_a, OOS_PREFIX) != meta(&all_b, OOS_PREFIX) {
        ind *= 0.5;
    }
    let text = sketch_similarity(&a.shingles, &b.shingles);
    let s = text.max(0.7 * ind + 0.3 * text);
    if s.is_finite() {
        s.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::{classify, TriageConfig};
    use super::*;

    fn fp(subject: &str, body: &str) -> Fingerprint {
        let cfg = TriageConfig::default();
        let t = ReportText {
            subject,
            body,
            attachment_names: &[],
        };
        fingerprint(&t, &classify(&t, &cfg))
    }

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn identifiers_equal_reference() {
        fn reference(text: &str) -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if tok.len() < 6 || tok.len() > 64 {
                    continue;
                }
                let underscore = tok.trim_matches('_').contains('_')
                    && tok.chars().any(|c| c.is_ascii_alphabetic());
                let bytes = tok.as_bytes();
                let camel = bytes
                    .windows(2)
                    .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
                if underscore || camel {
                    out.insert(format!("id:{}", tok.to_ascii_lowercase()));
                }
                if out.len() >= MAX_IDENTIFIERS {
                    break;
                }
            }
            out
        }
        let vocab = [
            "get_gateway_config",
            "channelBinding",
            "__init__",
            "___",
            "_a_",
            "abc_def",
            "x",
            "ab_12",
            "123_456",
            "é",
            "日本",
            " ",
            ".",
            "aB",
            "verylongidentifierName",
            "__x__y__",
            "_______a",
            "A_B_C_D",
            "fooBarBazQuxQuuxCorgeGraultGarplyWaldoFredPlughXyzzyThud1234567",
        ];
        let mut state: u64 = 0x1357_9bdf_2468_ace0;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let n = (next() % 60) as usize;
            let t: String = (0..n)
                .map(|_| vocab[(next() % vocab.len() as u64) as usize])
                .collect();
            assert_eq!(identifiers(&t), reference(&t), "{t:?}");
        }
    }

    #[test]
    fn identical_reports_are_fully_similar() {
        let a = fp(
            "XSS on docs",
            "Reflected XSS at https://docs.hexon.io/search?q=x in the heading",
        );
        assert!((similarity(&a, &a) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn reworded_report_on_same_endpoint_is_near_duplicate() {
        let a = fp("XSS", "Reflected cross-site scripting on https://docs.hexon.io/search via q, inserted with innerHTML.");
        let b = fp(
            "bug",
            "Das Suchfeld unter https://docs.hexon.io/search?q=<svg> führt Skripte aus.",
        );
        assert!(similarity(&a, &b) >= NEAR_DUPLICATE_THRESHOLD);
    }

    #[test]
    fn sharing_only_a_host_is_not_enough() {
        let a = fp(
            "SPF",
            "Your SPF record for hexon.io is soft fail, spoofing possible.",
        );
        let b = fp(
            "DDoS",
            "I flooded hexon.io and it went down, pay me a bounty.",
        );
        assert!(similarity(&a, &b) < NEAR_DUPLICATE_THRESHOLD);
    }

    #[test]
    fn sketch_is_bounded_and_sorted() {
        let body = (0..5000)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let f = fp("x", &body);
        assert!(f.shingles.len() <= SKETCH_SIZE);
        assert!(f.shingles.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn empty_and_foreign_fingerprints_do_not_panic() {
        let e = Fingerprint {
            indicators: vec![],
            shingles: vec![],
        };
        assert_eq!(similarity(&e, &e), 0.0);
        let odd = Fingerprint {
            indicators: vec!["".into(); 5000],
            shingles: (0..5000u64).rev().collect(),
        };
        let s = similarity(&odd, &e);
        assert!((0.0..=1.0).contains(&s));
    }
}

//! CVSS vector parsing/scoring (v3.0, v3.1, v4.0 via RustSec's `cvss` crate) and keyword
//! signals that give a severity hint when no vector is present.
//! Pure code: never panics on hostile text; invalid vectors are skipped, not errors.

use super::text::{clip, re, Phrase, PhraseSet};
use super::{Cvss, Severity};
use regex::Regex;
use std::sync::LazyLock;

/// Longest vector string considered (a full v4.0 vector with every metric is ~250 chars).
const MAX_VECTOR_LEN: usize = 400;
/// At most this many candidate vectors are tried per text.
const MAX_CANDIDATES: usize = 32;

static PREFIXED_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)\bCVSS:\d"));
static BARE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)(?:^|[^A-Za-z0-9/:])(AV:[A-Za-z]{1,3}(?:/[A-Za-z]{1,3}:[A-Za-z0-9]{1,6}){3,})")
});

static AV_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i-u)AV:"));

/// Maps a score to its qualitative band (identical for v3.x and v4.0).
pub fn band(score: f64) -> Severity {
    if score <= 0.0 {
        Severity::None
    } else if score < 4.0 {
        Severity::Low
    } else if score < 7.0 {
        Severity::Medium
    } else if score < 9.0 {
        Severity::High
    } else {
        Severity::Critical
    }
}

/// The run of vector characters starting at `start`, with trailing punctuation removed.
fn vector_at(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.')))
        .unwrap_or(rest.len());
    rest[..end].trim_end_matches(['.', '/', ':'])
}

const V3_MANDATORY: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// Parses and scores one candidate such as `CVSS:3.1/AV:N/...`. `None` if invalid or incomplete.
pub fn score_vector(candidate: &str) -> Option<Cvss> {
    if candidate.len() > MAX_VECTOR_LEN {
        return None;
    }
    let upper = candidate.to_ascii_uppercase();
    let version = upper.strip_prefix("CVSS:")?.split('/').next()?.to_string();
    if !matches!(version.as_str(), "3.0" | "3.1" | "4.0") {
        return None;
    }
    if version.starts_with('3') {
        // The crate accepts v3 vectors with missing base metrics (and scores them 0); a
        // reporter's incomplete vector is invalid for us.
        let present: Vec<&str> = upper
            .split('/')
            .skip(1)
            .filter_map(|m| m.split(':').next())
            .collect();
        if !V3_MANDATORY.iter().all(|m| present.contains(m)) {
            return None;
        }
    }
    let parsed: cvss::Cvss = upper.parse().ok()?;
    // The crate's v4.0 scorer unwraps on its own lookup tables; a validated vector never
    // reaches those paths (see the exhaustive test below), but hostile mail must never bring
    // the daemon down, so a panic there is contained and the vector treated as invalid.
    let score = std::panic::catch_unwind(|| parsed.score()).ok()?;
    if !score.is_finite() || !(0.0..=10.0).contains(&score) {
        return None;
    }
    let score = (score * 10.0).round() / 10.0;
    Some(Cvss {
        version,
        vector: parsed.to_string(),
        score,
        severity: band(score),
    })
}

/// Where group 1 (`AV:...`) starts in each of the first [`MAX_CANDIDATES`] matches of
/// [`BARE_RE`], as `captures_iter` would find them. Each match starts at most one character
/// (4 bytes) before its `AV:`, so every search starts there, after the previous match,
/// instead of scanning all the text in between.
fn bare_vector_starts(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(r) = BARE_RE.as_ref() else {
        return out;
    };
    let mut pos = 0;
    while out.len() < MAX_CANDIDATES && pos <= text.len() {
        let next_av = match AV_RE.as_ref() {
            Some(av) => match av.find_at(text, pos) {
                Some(m) => m.start(),
                None => break,
            },
            None => pos,
        };
        let mut from = next_av.saturating_sub(4).max(pos);
        while from < text.len() && !text.is_char_boundary(from) {
            from += 1;
        }
        let Some(c) = r.captures_at(text, from) else {
            break;
        };
        let (Some(all), Some(g)) = (c.get(0), c.get(1)) else {
            break;
        };
        out.push(g.start());
        // matches are never empty
        pos = all.end().max(pos + 1);
    }
    out
}

/// First valid CVSS v3.0/v3.1/v4.0 vector anywhere in the text (see [`super::parse_cvss`]).
pub fn parse_cvss(text: &str) -> Option<Cvss> {
    let text = clip(text, super::text::MAX_ANALYSED_BYTES);
    let mut candidates: Vec<(usize, String)> = Vec::new();
    if let Some(r) = PREFIXED_RE.as_ref() {
        for m in r.find_iter(text).take(MAX_CANDIDATES) {
            candidates.push((m.start(), vector_at(text, m.start()).to_string()));
        }
    }
    // a bare vector contains "AV:" (its letters fold to nothing but their ASCII cases)
    let may_have_bare = AV_RE.as_ref().is_none_or(|r| r.is_match(text));
    if may_have_bare {
        for start in bare_vector_starts(text) {
            // skip the tail of a prefixed vector ("CVSS:3.1/AV:N..." is found above)
            if text[..start].ends_with('/') {
                continue;
            }
            let v = vector_at(text, start);
            let upper = v.to_ascii_uppercase();
            let version = if upper.contains("/AT:") || upper.contains("/VC:") {
                "4.0"
            } else {
                // up to 40 bytes of context, moved forward onto a char boundary
                let mut from = start.saturating_sub(40);
                while from < start && !text.is_char_boundary(from) {
                    from += 1;
                }
                let before = text.get(from..start).unwrap_or("");
                if before.contains("3.0") {
                    "3.0"
                } else {
                    "3.1"
                }
            };
            candidates.push((start, format!("CVSS:{version}/{v}")));
        }
    }
    candidates.sort_by_key(|(pos, _)| *pos);
    candidates.into_iter().find_map(|(_, v)| score_vector(&v))
}

pub mod signals;
pub use signals::SIGNALS;

/// Compiled built-in signal phrases.
pub static SIGNAL_PHRASES: LazyLock<Vec<(usize, Vec<Phrase>)>> = LazyLock::new(|| {
    SIGNALS
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.phrases.iter().filter_map(|p| Phrase::new(p)).collect()))
        .collect()
});

/// All built-in signal phrases in one matcher, with the [`SIGNALS`] index of each phrase.
static SIGNAL_SET: LazyLock<(PhraseSet, Vec<usize>)> = LazyLock::new(|| {
    let mut phrases = Vec::new();
    let mut owner = Vec::new();
    for (i, list) in SIGNAL_PHRASES.iter() {
        for p in list {
            phrases.push(p.clone());
            owner.push(*i);
        }
    }
    (PhraseSet::new(phrases), owner)
});

/// A signal found in a report: index into [`SIGNALS`], subject hits, body hits.
#[derive(Debug, Clone, Copy)]
pub struct SignalHit {
    /// index into [`SIGNALS`]
    pub index: usize,
    /// occurrences in the subject
    pub subject: usize,
    /// occurrences in the body (capped)
    pub body: usize,
}

/// The built-in signal phrases in matching order (see [`signals_from_counts`]).
pub fn signal_phrases() -> &'static [Phrase] {
    SIGNAL_SET.0.phrases()
}

/// Finds built-in signals in normalized subject/body prose: per signal, the sum over its
/// phrases of their occurrences capped at 3.
#[cfg(test)]
pub fn find_signals(subject_norm: &str, body_norm: &str) -> Vec<SignalHit> {
    let set = &SIGNAL_SET.0;
    signals_from_counts(&set.counts(subject_norm), &set.counts(body_norm))
}

/// `find_signals` (the reference used by the tests) from the uncapped occurrences of every phrase of [`signal_phrases`] in
/// the subject and in the body.
pub fn signals_from_counts(in_subject: &[usize], in_body: &[usize]) -> Vec<SignalHit> {
    let owner = &SIGNAL_SET.1;
    let mut subject = vec![0usize; SIGNALS.len()];
    let mut body = vec![0usize; SIGNALS.len()];
    for (k, &i) in owner.iter().enumerate() {
        subject[i] += in_subject.get(k).map_or(0, |&n| n.min(3));
        body[i] += in_body.get(k).map_or(0, |&n| n.min(3));
    }
    (0..SIGNALS.len())
        .filter(|&i| subject[i] + body[i] > 0)
        .map(|i| SignalHit {
            index: i,
            subject: subject[i],
            body: body[i],
        })
        .collect()
}

/// Severity hint from signals alone (highest signal wins; `Unknown` when none).
pub fn severity_from_signals(hits: &[SignalHit]) -> Severity {
    hits.iter()
        .filter_map(|h| SIGNALS.get(h.index))
        .map(|s| s.severity)
        .max()
        .unwrap_or(Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::super::text::normalize;
    use super::*;

    #[test]
    fn static_patterns_compile() {
        assert!(PREFIXED_RE.is_some());
        assert!(BARE_RE.is_some());
        assert!(AV_RE.is_some());
        // the case-insensitive "AV:" of BARE_RE matches only ASCII cases, so AV_RE finds
        // every "AV:" it can match
        let all: String = (0u32..0x11_0000).filter_map(char::from_u32).collect();
        let folded = Regex::new(r"(?i)[AV]").unwrap();
        let found: String = folded.find_iter(&all).map(|m| m.as_str()).collect();
        assert_eq!(found, "AVav");
    }

    #[test]
    fn windowed_bare_search_equals_captures_iter() {
        let r = BARE_RE.as_ref().unwrap();
        let vocab = [
            "AV:N",
            "av:n",
            "Av:L",
            "/AC:L",
            "/PR:N",
            "/UI:N",
            "/S:U",
            "/C:H",
            "/I:H",
            "/A:H",
            "/AT:N",
            "/VC:H",
            " ",
            "x",
            "/",
            ":",
            "é",
            "€",
            "日本",
            "\n",
            "CVSS:3.1/",
            "3.0 ",
            "AV:",
            "(",
            "AAV:N",
            "1AV:N",
        ];
        let mut next = crate::triage::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let text: String = crate::triage::random_words(&mut next, &vocab, 40).concat();
            let reference: Vec<usize> = r
                .captures_iter(&text)
                .take(MAX_CANDIDATES)
                .filter_map(|c| c.get(1).map(|m| m.start()))
                .collect();
            assert_eq!(bare_vector_starts(&text), reference, "{text:?}");
        }
        let many = "AV:N/AC:L/PR:N/UI:N ".repeat(100);
        let reference: Vec<usize> = r
            .captures_iter(&many)
            .take(MAX_CANDIDATES)
            .filter_map(|c| c.get(1).map(|m| m.start()))
            .collect();
        assert_eq!(bare_vector_starts(&many), reference);
    }

    #[test]
    fn v31_critical_vector_scores_9_8() {
        let c = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(c.version, "3.1");
        assert!((c.score - 9.8).abs() < 1e-9);
        assert_eq!(c.severity, Severity::Critical);
    }

    #[test]
    fn v40_vector_scores_9_3() {
        let c =
            parse_cvss("score: CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N.")
                .unwrap();
        assert_eq!(c.version, "4.0");
        assert!((c.score - 9.3).abs() < 1e-9);
    }

    #[test]
    fn v30_vector_keeps_version() {
        let c = parse_cvss("(CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N)").unwrap();
        assert_eq!(c.version, "3.0");
        assert!((c.score - 7.7).abs() < 1e-9);
    }

    #[test]
    fn invalid_vector_is_skipped_and_later_valid_one_used() {
        let t = "first CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:X/C:H/I:N/A:N then \
                 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N";
        let c = parse_cvss(t).unwrap();
        assert!((c.score - 8.6).abs() < 1e-9);
    }

    #[test]
    fn incomplete_or_trailing_garbage_vectors_are_invalid() {
        assert!(parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L").is_none());
        assert!(parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N/X:1").is_none());
        assert!(parse_cvss("CVSS:5.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N").is_none());
        assert!(parse_cvss("CVSS:4.0/AV:N/AC:L").is_none());
        assert!(parse_cvss("no vector here, CVSS: 9.8").is_none());
    }

    #[test]
    fn bare_vectors_infer_version() {
        let c = parse_cvss("CVSS 3.0 base AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N").unwrap();
        assert_eq!(c.version, "3.0");
        let c = parse_cvss("vector AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(c.version, "3.1");
        let c = parse_cvss("AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").unwrap();
        assert_eq!(c.version, "4.0");
    }

    #[test]
    fn lowercase_vector_is_accepted() {
        let c = parse_cvss("cvss:3.1/av:n/ac:l/pr:n/ui:n/s:u/c:h/i:h/a:h").unwrap();
        assert!((c.score - 9.8).abs() < 1e-9);
    }

    #[test]
    fn bands_match_the_specification() {
        assert_eq!(band(0.0), Severity::None);
        assert_eq!(band(0.1), Severity::Low);
        assert_eq!(band(3.9), Severity::Low);
        assert_eq!(band(4.0), Severity::Medium);
        assert_eq!(band(6.9), Severity::Medium);
        assert_eq!(band(7.0), Severity::High);
        assert_eq!(band(8.9), Severity::High);
        assert_eq!(band(9.0), Severity::Critical);
    }

    #[test]
    fn hostile_vector_text_never_panics() {
        let long = format!("CVSS:3.1/{}", "AV:N/".repeat(10_000));
        assert!(parse_cvss(&long).is_none());
        assert!(
            parse_cvss("CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
                .is_none()
        );
        assert!(parse_cvss("CVSS:\u{1F600}/AV:N").is_none());
        assert!(parse_cvss("ääääCVSS:3.0ä AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_some());
        assert!(parse_cvss(&"CVSS:3.1/".repeat(10_000)).is_none());
        // multi-byte characters right before a bare vector (context window mid-char)
        for pad in 0..6 {
            let t = format!(
                "{}{}{} AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "x".repeat(pad),
                "€".repeat(20),
                "CVSS 3.0"
            );
            assert!(parse_cvss(&t).is_some());
            let t = format!(
                "{}{} AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "x".repeat(pad),
                "日本語".repeat(20)
            );
            assert_eq!(parse_cvss(&t).map(|c| c.version), Some("3.1".to_string()));
        }
    }

    #[test]
    fn every_v4_base_vector_scores_without_panicking() {
        // 104,976 base vectors: proves the crate's lookup-table unwraps are unreachable for
        // valid base input, and that every score is in range.
        let av = ["N", "A", "L", "P"];
        let two = ["L", "H"];
        let at = ["N", "P"];
        let three = ["N", "L", "H"];
        let ui = ["N", "P", "A"];
        let mut n = 0usize;
        for a in av {
            for ac in two {
                for t in at {
                    for pr in three {
                        for u in ui {
                            for vc in three {
                                for vi in three {
                                    for va in three {
                                        for sc in three {
                                            for si in three {
                                                for sa in three {
                                                    let v = format!(
                                                        "CVSS:4.0/AV:{a}/AC:{ac}/AT:{t}/PR:{pr}/UI:{u}/VC:{vc}/VI:{vi}/VA:{va}/SC:{sc}/SI:{si}/SA:{sa}"
                                                    );
                                                    let c = score_vector(&v).unwrap();
                                                    assert!((0.0..=10.0).contains(&c.score));
                                                    n += 1;
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(n, 104_976);
    }

    #[test]
    fn v4_threat_and_environmental_metrics_score() {
        for e in ["X", "A", "P", "U"] {
            for msi in ["X", "N", "L", "H", "S"] {
                for cr in ["X", "H", "M", "L"] {
                    let v = format!(
                        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:{e}/CR:{cr}/MSI:{msi}/MSA:S/U:Red"
                    );
                    let c = score_vector(&v).unwrap();
                    assert!((0.0..=10.0).contains(&c.score), "{v}");
                }
            }
        }
    }

    #[test]
    fn naming_a_key_is_not_extracting_it() {
        let named = find_signals(
            &normalize("Registry shows Signed whatever the signing key"),
            &normalize("the private key of the signer is never checked"),
        );
        assert!(!matches!(severity_from_signals(&named), Severity::Critical));
        let stolen = find_signals(
            &normalize("Deterministic nonces"),
            &normalize("a coordinator can recover the signing key"),
        );
        assert_eq!(severity_from_signals(&stolen), Severity::Critical);
        let french = find_signals(
            &normalize("Nonces permettant de récupérer les parts de clé"),
            "",
        );
        assert_eq!(severity_from_signals(&french), Severity::Critical);
        let jwt = find_signals(&normalize("Confusão de algoritmo JWT (RS256/HS256)"), "");
        assert_eq!(severity_from_signals(&jwt), Severity::Critical);
    }

    #[test]
    fn signals_rank_rce_over_xss() {
        let hits = find_signals(&normalize("RCE"), &normalize("also an XSS"));
        assert_eq!(severity_from_signals(&hits), Severity::Critical);
        let hits = find_signals(&normalize(""), &normalize("reflected xss only"));
        assert_eq!(severity_from_signals(&hits), Severity::Medium);
        assert_eq!(severity_from_signals(&[]), Severity::Unknown);
    }
}

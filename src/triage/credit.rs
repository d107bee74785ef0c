//! Parses a reporter's answer to "how do you want to be credited?" into a name, anonymous, or
//! declined. Quoted lines (`>`) and everything after a signature delimiter are ignored.
//! Pure; returns `None` for unrelated text rather than guessing.

use super::text::{normalize, Phrase, PhraseSet};
use super::Credit;
use regex::Regex;
use std::sync::LazyLock;

/// Longest credited name accepted.
const MAX_NAME_CHARS: usize = 120;

const DECLINE: &[&str] = &[
    "no credit",
    "no need to credit",
    "no need for credit",
    "dont credit",
    "don t credit",
    "do not credit",
    "dont want to be credited",
    "don t want to be credited",
    "do not want to be credited",
    "dont need credit",
    "don t need credit",
    "do not need credit",
    "dont need to be credited",
    "don t need to be credited",
    "rather not be credited",
    "prefer not to be credited",
    "not be credited",
    "no attribution",
    "no acknowledgement",
    "no acknowledgment",
    "without credit",
    "not interested in credit",
    "keine nennung",
    "nicht genannt werden",
    "ne pas etre credite",
    "pas de credit",
    "sin credito",
    "no quiero ser acreditado",
    "sem credito",
    "クレジット不要",
];
const ANON_WORDS: &[&str] = &[
    "anonymous",
    "anonymously",
    "anon",
    "anonym",
    "anonyme",
    "anonimo",
    "匿名",
];
const CREDIT_CONTEXT: &[&str] = &[
    "credit",
    "credited",
    "name",
    "mention",
    "acknowledg",
    "list",
    "publish",
    "remain",
    "stay",
    "prefer",
    "please",
    "keep",
    "nennung",
    "nennen",
    "credite",
    "acredit",
    "mencion",
    "keep me",
];
/// Phrases after which the credited name follows (lowercase, matched on the raw lowercase line).
const NAME_LEADS: &[&str] = &[
    "please credit me as",
    "credit me as",
    "credited as",
    "credit me with the name",
    "credit it to",
    "credit this to",
    "credit to",
    "acknowledge me as",
    "list me as",
    "mention me as",
    "you can credit",
    "please credit",
    "credit:",
    "credit -",
    "name:",
    "nennen sie mich",
    "als danksagung:",
    "créditez-moi comme",
    "creditez-moi comme",
    "créditez-moi en tant que",
    "au nom de",
    "acredítenme como",
    "acreditenme como",
    "como crédito:",
    "me crédito como",
    "クレジット:",
];

fn strip_trailer(name: &str) -> &str {
    let mut end = name.len();
    for stop in [
        " thanks",
        " thank you",
        ", thanks",
        ". thanks",
        " cheers",
        " regards",
        " if possible",
        " please",
        ", please",
        " if that's ok",
        " if that is ok",
        " - ",
        " — ",
    ] {
        if let Some(i) = name.to_ascii_lowercase().find(stop) {
            // ASCII lowercasing keeps byte offsets; the boundary check is belt and braces
            if i < end && name.is_char_boundary(i) {
                end = i;
            }
        }
    }
    let mut s = &name[..end];
    // sentence end after a lowercase letter or ')' ends the name ("Doe (@jdoe). See you")
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    for w in chars.windows(3) {
        if w[1].1 == '.' && w[2].1 == ' ' && (w[0].1.is_lowercase() || w[0].1 == ')') {
            s = &s[..w[1].0];
            break;
        }
    }
    s.trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '“' | '”' | '«' | '»' | '`' | '*'))
        .trim_end_matches(['.', '!', ',', ';', ':'])
        .trim()
}

/// [`DECLINE`] phrases matched as `" {phrase} "` in normalized text.
static DECLINE_SET: LazyLock<PhraseSet> = LazyLock::new(|| exact_words(DECLINE));
/// [`ANON_WORDS`] matched as `" {word} "` in normalized text.
static ANON_SET: LazyLock<PhraseSet> = LazyLock::new(|| exact_words(ANON_WORDS));
/// Finds whether a lowercase line contains any of [`NAME_LEADS`] (a prefilter: the leads are
/// then tried in order as before).
static NAME_LEAD_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let alternation: Vec<String> = NAME_LEADS.iter().map(|l| regex::escape(l)).collect();
    super::text::re(&alternation.join("|"))
});

/// Word stems of which every ASCII phrase of [`DECLINE`] contains one.
static DECLINE_STEM_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| super::text::re("(?i-u)credit|attribution|acknowledg|nennung|genannt"));
/// The stem every ASCII word of [`ANON_WORDS`] contains.
static ANON_STEM_RE: LazyLock<Option<Regex>> = LazyLock::new(|| super::text::re("(?i-u)anon"));

/// False only for a line that cannot contain a [`DECLINE`] phrase: an ASCII line whose
/// normalized form (with or without apostrophes) contains `" {phrase} "` contains the
/// phrase's stem in any letter case, apostrophes removed.
fn may_decline(line: &str) -> bool {
    if !line.is_ascii() {
        return true;
    }
    let Some(r) = DECLINE_STEM_RE.as_ref() else {
        return true;
    };
    if line.contains('\'') {
        r.is_match(&line.replace('\'', ""))
    } else {
        r.is_match(line)
    }
}

/// [`may_decline`] for a whole text (false: no ASCII line of it can decline).
fn may_decline_text(text: &str) -> bool {
    let Some(r) = DECLINE_STEM_RE.as_ref() else {
        return true;
    };
    if text.contains('\'') {
        r.is_match(&text.replace('\'', ""))
    } else {
        r.is_match(text)
    }
}

/// False only for a line that cannot be [`is_anonymous_word`]: an ASCII line without "anon"
/// in any letter case.
fn may_be_anonymous(line: &str) -> bool {
    !line.is_ascii() || ANON_STEM_RE.as_ref().is_none_or(|r| r.is_match(line))
}

fn exact_words(list: &[&str]) -> PhraseSet {
    PhraseSet::new(list.iter().filter_map(|w| Phrase::exact_words(w)).collect())
}

/// Does normalized `n` contain `" {w} "` for one of the phrases of `set`?
fn contains_padded(set: &PhraseSet, n: &str) -> bool {
    set.counts(n).iter().any(|&k| k > 0)
}

fn is_anonymous_word(s: &str) -> bool {
    // `normalize` pads with spaces, so `n.trim() == w` implies `n` contains `" {w} "`
    contains_padded(&ANON_SET, &normalize(s))
}

/// `s.to_lowercase().starts_with(prefix)` for an ASCII `prefix` without the letters `i` and
/// `k` (the only ASCII letters that a non-ASCII character lowercases to, or begins with).
fn starts_with_ascii_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `s.to_lowercase().ends_with(suffix)`, same conditions as [`starts_with_ascii_ci`].
fn ends_with_ascii_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// See [`super::parse_credit`].
pub fn parse_credit(body: &str) -> Option<Credit> {
    let body = super::text::clip(body, 64 * 1024);
    let mut lines = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        if t == "--" || t == "-- " || line.starts_with("-- ") {
            break; // signature
        }
        if t.starts_with('>') {
            continue;
        }
        if starts_with_ascii_ci(t, "on ") && ends_with_ascii_ci(t, "wrote:") {
            break; // reply header of the quoted original
        }
        lines.push(t);
    }

    // The stem prefilters are run once over the whole text: a line is a part of it, so a
    // line can only match where the text does (non-ASCII lines are always checked).
    let text_may_decline = may_decline_text(body);
    let text_may_be_anonymous = ANON_STEM_RE.as_ref().is_none_or(|r| r.is_match(body));
    let text_may_name = NAME_LEAD_RE
        .as_ref()
        .is_none_or(|r| r.is_match(&body.to_ascii_lowercase()));

    for line in &lines {
        if !(text_may_decline && may_decline(line)) && line.is_ascii() {
            continue;
        }
        let n_apos = normalize(line);
        let declined = if line.contains('\'') {
            contains_padded(&DECLINE_SET, &normalize(&line.replace('\'', "")))
                || contains_padded(&DECLINE_SET, &n_apos)
        } else {
            contains_padded(&DECLINE_SET, &n_apos)
        };
        if declined {
            return Some(Credit::Declined);
        }
    }
    for line in lines.iter().filter(|_| text_may_name) {
        // ASCII lowercasing keeps byte offsets, so indices found in `lower` are valid in `line`
        let lower = line.to_ascii_lowercase();
        if NAME_LEAD_RE.as_ref().is_some_and(|r| !r.is_match(&lower)) {
            continue;
        }
        for lead in NAME_LEADS {
            let Some(i) = lower.find(lead) else { continue };
            let start = i + lead.len();
            if !line.is_char_boundary(start) {
                continue;
            }
            let candidate = strip_trailer(&line[start..]);
            if candidate.is_empty() {
                continue;
            }
            if is_anonymous_word(candidate) {
                return Some(Credit::Anonymous);
            }
            let lc = candidate.to_lowercase();
            if matches!(lc.as_str(), "none" | "no" | "nothing" | "n/a" | "no thanks") {
                return Some(Credit::Declined);
            }
            // "please credit me" without a name is not a name
            if matches!(lc.as_str(), "me" | "me as" | "myself") {
                continue;
            }
            let name: String = candidate.chars().take(MAX_NAME_CHARS).collect();
            return Some(Credit::Name(name));
        }
    }
    for line in &lines {
        if (text_may_be_anonymous || !line.is_ascii())
            && may_be_anonymous(line)
            && is_anonymous_word(line)
        {
            let n = normalize(line);
            let words = n.split_whitespace().count();
            let context = CREDIT_CONTEXT.iter().any(|c| n.contains(c));
            if context || words <= 4 {
                return Some(Credit::Anonymous);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_name_is_extracted() {
        assert_eq!(
            parse_credit("Please credit me as Jane Doe (@jdoe)"),
            Some(Credit::Name("Jane Doe (@jdoe)".into()))
        );
        assert_eq!(
            parse_credit("Hi,\nplease credit me as Jane Doe (@jdoe). Thanks!\n"),
            Some(Credit::Name("Jane Doe (@jdoe)".into()))
        );
        assert_eq!(
            parse_credit("Credit: J. R. Smith, ACME Labs"),
            Some(Credit::Name("J. R. Smith, ACME Labs".into()))
        );
    }

    #[test]
    fn anonymous_answers() {
        assert_eq!(parse_credit("credit: anonymous"), Some(Credit::Anonymous));
        assert_eq!(parse_credit("anonymously please"), Some(Credit::Anonymous));
        assert_eq!(
            parse_credit("I'd like to remain anonymous."),
            Some(Credit::Anonymous)
        );
        assert_eq!(parse_credit("Anonym bitte."), Some(Credit::Anonymous));
    }

    #[test]
    fn declined_answers() {
        assert_eq!(parse_credit("no credit needed"), Some(Credit::Declined));
        assert_eq!(
            parse_credit("I don't want to be credited"),
            Some(Credit::Declined)
        );
        assert_eq!(
            parse_credit("I do not need credit, just fix it."),
            Some(Credit::Declined)
        );
        assert_eq!(parse_credit("Credit: none"), Some(Credit::Declined));
    }

    #[test]
    fn unrelated_text_and_quotes_are_ignored() {
        assert_eq!(parse_credit("Thanks for the quick fix!"), None);
        assert_eq!(
            parse_credit("> Please credit me as Mallory\nSounds good."),
            None
        );
        assert_eq!(
            parse_credit(
                "The endpoint allows anonymous access to all tenants' data in the cluster."
            ),
            None
        );
        assert_eq!(parse_credit(""), None);
    }

    #[test]
    fn signature_and_quoted_original_are_ignored() {
        let body = "Sure.\n-- \nCredit: Bob\n";
        assert_eq!(parse_credit(body), None);
        let body = "ok\nOn Mon, Jan 5, 2026 Hexon Security wrote:\nPlease credit me as X\n";
        assert_eq!(parse_credit(body), None);
    }

    #[test]
    fn stems_cover_every_ascii_phrase() {
        for d in DECLINE.iter().filter(|d| d.is_ascii()) {
            assert!(may_decline(d) && may_decline(&d.to_uppercase()), "{d}");
        }
        assert!(may_decline("don't cre'dit me"));
        for w in ANON_WORDS.iter().filter(|w| w.is_ascii()) {
            assert!(
                may_be_anonymous(w) && may_be_anonymous(&w.to_uppercase()),
                "{w}"
            );
        }
        assert!(!may_decline("thanks for the fix"));
        assert!(!may_be_anonymous("thanks for the fix"));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let _ = parse_credit(&"credit me as ".repeat(100_000));
        let _ = parse_credit("credit me as \u{0130}\u{0130}\u{0130}. x");
        assert_eq!(
            parse_credit("Credit: İstanbul Ünal"),
            Some(Credit::Name("İstanbul Ünal".into()))
        );
        assert!(
            matches!(parse_credit(&format!("credit: {}", "a".repeat(10_000))), Some(Credit::Name(n)) if n.chars().count() == MAX_NAME_CHARS)
        );
    }
}

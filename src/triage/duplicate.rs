//! Cross-reporter near-duplicate detection: a compact, storable fingerprint per report
//! (indicators plus a bottom-k MinHash sketch of word 3-grams) and a similarity in 0..=1.
//! Pure and deterministic across runs and releases (own FNV-1a hash, no std hasher).

use super::text::re;
use super::text::{clip, is_ascii_word, normalize_prose, unquoted_lines, MAX_ANALYSED_BYTES};
use super::{Classification, Fingerprint, ReportText};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

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
/// Indicator prefix recording a vulnerability class the report names (`class:xss`).
const CLASS_PREFIX: &str = "class:";

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

static PARAM_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"[?&]([A-Za-z_][A-Za-z0-9_]{1,30})="));
static FLAG_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?:^|[\s`'(])(--[a-z][a-z0-9-]{2,30})"));
static PORT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|[a-z0-9-]+\.[a-z]{2,}):(\d{2,5})\b")
});
static PATH_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?:/[A-Za-z0-9_.{}<>:@%-]+)+"));
/// A URL or request line with a query: its path and query (`/search`, `q=x&page=2`).
static QUERY_URL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"(?i)(?:\b(?:https?)://[a-z0-9.-]+(?::\d{1,5})?|\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+)(/[^\s?#"'<>`]*)\?([^\s#"'<>`]*)"#,
    )
});
/// Indicator prefix of an endpoint with one of its query parameters (`ep:/search?q`).
const ENDPOINT_PREFIX: &str = "ep:";
/// Endpoint tokens kept per fingerprint.
const MAX_ENDPOINTS: usize = 16;

/// Endpoints with a query parameter (`ep:/search?q`), from URLs and request lines alike:
/// what the bug is reached through, whatever language surrounds it.
fn endpoints(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(rx) = QUERY_URL_RE.as_ref() else {
        return out;
    };
    for c in rx.captures_iter(text).take(64) {
        let (Some(path), Some(query)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let path: String = path
            .as_str()
            .trim_end_matches('/')
            .split('/')
            .map(|seg| {
                if seg.chars().any(|ch| ch.is_ascii_digit()) && seg.len() > 3 {
                    "{n}".to_string()
                } else {
                    seg.to_ascii_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for pair in query.as_str().split('&') {
            let name = pair.split('=').next().unwrap_or_default();
            let ok = !name.is_empty()
                && name.len() <= 30
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
            if ok {
                out.insert(format!(
                    "{ENDPOINT_PREFIX}{path}?{}",
                    name.to_ascii_lowercase()
                ));
            }
        }
        if out.len() >= MAX_ENDPOINTS {
            break;
        }
    }
    out
}

/// Prefixes of the language-neutral tokens (see [`neutral_tokens`]).
const NEUTRAL: [&str; 4] = ["param:", "flag:", "port:", "tail:"];
/// Segments from which a path is specific enough to link two reports on its own when rare.
const LONG_PATH_SEGMENTS: usize = 4;
/// Indicator evidence of two reports of one component sharing a rare long path.
const RARE_PATH_SIMILARITY: f64 = 0.6;
/// Similarity of two reports of one component reaching the same endpoint and parameter.
const ENDPOINT_SIMILARITY: f64 = 0.5;
/// Similarity of two reports of one component, with the same classes, sharing a rare path
/// tail of two segments.
const RARE_TAIL_SIMILARITY: f64 = 0.42;
/// Similarity of two reports sharing only a rare vulnerability class and the component.
const TOPIC_SIMILARITY: f64 = 0.45;
/// Shared neutral tokens needed before they count as evidence of the same bug.
const MIN_SHARED_NEUTRAL: usize = 3;

/// Language-neutral tokens: query parameter names (`param:mount`), command-line flags
/// (`flag:--transport`), ports (`port:8931`) and the last two literal segments of every
/// path (`tail:blobs/uploads`; ids, digests and placeholders skipped), which two reports of
/// the same bug share whatever language and words they use.
fn neutral_tokens(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |rx: &LazyLock<Option<Regex>>, prefix: &str| {
        if let Some(rx) = rx.as_ref() {
            for c in rx.captures_iter(text).take(64) {
                if let Some(m) = c.get(1) {
                    out.insert(format!("{prefix}{}", m.as_str().to_ascii_lowercase()));
                }
            }
        }
    };
    add(&PARAM_RE, "param:");
    add(&FLAG_RE, "flag:");
    add(&PORT_RE, "port:");
    if let Some(rx) = PATH_RE.as_ref() {
        for m in rx.find_iter(text).take(64) {
            if is_cvss_like(m.as_str()) || is_shell_device(m.as_str()) {
                continue;
            }
            let literal: Vec<String> = m
                .as_str()
                .split('/')
                .map(|seg| seg.split([':', '@', '?']).next().unwrap_or_default())
                .filter(|seg| {
                    seg.len() >= 2
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '_')
                })
                .map(str::to_ascii_lowercase)
                .collect();
            if let Some(start) = literal
                .len()
                .checked_sub(2)
                .or(literal.len().checked_sub(1))
            {
                out.insert(format!(
                    "tail:{}",
                    literal.get(start..).unwrap_or(&[]).join("/")
                ));
            }
        }
    }
    out
}

/// `/dev/null`, `/dev/stderr`: shell plumbing of a command, not a path of the bug.
fn is_shell_device(path: &str) -> bool {
    path.trim_start_matches('/').starts_with("dev/")
}

/// `/AV:N/AC:L/PR:N/...`: a CVSS vector, not a path.
fn is_cvss_like(path: &str) -> bool {
    path.split('/')
        .filter(|seg| {
            seg.split_once(':').is_some_and(|(m, v)| {
                (1..=3).contains(&m.len())
                    && m.chars().all(|c| c.is_ascii_uppercase())
                    && !v.is_empty()
                    && v.len() <= 2
            })
        })
        .count()
        >= 2
}

fn is_neutral(i: &str) -> bool {
    NEUTRAL.iter().any(|p| i.starts_with(p))
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
    indicators.extend(neutral_tokens(subject));
    indicators.extend(neutral_tokens(&body));
    indicators.extend(endpoints(subject));
    indicators.extend(endpoints(&body));
    if let Some(c) = &classification.component {
        indicators.insert(format!("{COMPONENT_PREFIX}{}", c.to_lowercase()));
    }
    if let Some(o) = &classification.out_of_scope {
        indicators.insert(format!("{OOS_PREFIX}{}", o.to_lowercase()));
    }
    for s in &classification.signals {
        indicators.insert(format!("{CLASS_PREFIX}{s}"));
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
    i.starts_with(COMPONENT_PREFIX)
        || i.starts_with(OOS_PREFIX)
        || i.starts_with(CLASS_PREFIX)
        || is_neutral(i)
}

/// Does the indicator record a queue label (the classified component or
/// out-of-scope class) rather than text of the report?
pub fn is_label_indicator(i: &str) -> bool {
    is_meta(i)
}

/// A fingerprint in the form [`similarity`] compares: bounded to `MAX_COMPARED` entries,
/// sorted and de-duplicated, with the indicator weights summed once. Comparing two of these
/// allocates nothing (the duplicate check compares each new report with hundreds of stored ones).
#[derive(Debug, Clone, Default)]
pub struct Comparable {
    /// Non-meta indicators, sorted and distinct.
    indicators: Vec<String>,
    /// Sum of their weights, added in sorted order.
    weight: f64,
    component: Option<String>,
    out_of_scope: Option<String>,
    /// Distinct sketch hashes, ascending.
    shingles: Vec<u64>,
    /// Language-neutral tokens, sorted and distinct.
    neutral: Vec<String>,
    /// Vulnerability classes named (`class:xss`), sorted and distinct.
    classes: Vec<String>,
    /// Endpoints with a query parameter (`ep:/search?q`), sorted and distinct.
    endpoints: Vec<String>,
}

impl Comparable {
    pub fn new(fp: &Fingerprint) -> Comparable {
        let mut all: Vec<&str> = fp
            .indicators
            .iter()
            .take(MAX_COMPARED)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        let first_with = |prefix: &str| {
            all.iter()
                .find(|i| i.starts_with(prefix))
                .map(|i| (*i).to_string())
        };
        let (component, out_of_scope) = (first_with(COMPONENT_PREFIX), first_with(OOS_PREFIX));
        let indicators: Vec<String> = all
            .iter()
            .filter(|i| !is_meta(i) && !i.starts_with(ENDPOINT_PREFIX))
            .map(|i| (*i).to_string())
            .collect();
        let weight = indicators.iter().map(|i| indicator_weight(i)).sum();
        let mut shingles: Vec<u64> = fp.shingles.iter().take(MAX_COMPARED).copied().collect();
        shingles.sort_unstable();
        shingles.dedup();
        let neutral = all
            .iter()
            .filter(|i| is_neutral(i))
            .map(|i| (*i).to_string())
            .collect();
        let classes: Vec<String> = all
            .iter()
            .filter(|i| i.starts_with(CLASS_PREFIX))
            .map(|i| (*i).to_string())
            .collect();
        let endpoints = all
            .iter()
            .filter(|i| i.starts_with(ENDPOINT_PREFIX))
            .map(|i| (*i).to_string())
            .collect();
        Comparable {
            indicators,
            weight,
            component,
            out_of_scope,
            shingles,
            neutral,
            classes,
            endpoints,
        }
    }

    /// Similarity in `0..=1`; see [`similarity`].
    pub fn similarity(&self, other: &Comparable) -> f64 {
        self.similarity_among(other, &Rarity::default())
    }

    /// Similarity in `0..=1` among the reports `rarity` counts: an indicator most of them
    /// carry weighs less (see [`Rarity::weight`]).
    pub fn similarity_among(&self, other: &Comparable, rarity: &Rarity) -> f64 {
        let (a, b) = (self, other);
        let rare_w = |i: &str| rarity.weight(i);
        let w = |i: &str| indicator_weight(i) * rare_w(i);
        // shared indicators, walked in sorted order (so the weight sum adds up as a set's would)
        let (mut i, mut j) = (0, 0);
        let (mut ws, mut strong, mut shared_ids) = (0.0, false, 0usize);
        // a long path only these few reports name (`/_hexon/static/%2e%2e/admin/v1/config`)
        let mut rare_long_path = false;
        while let (Some(x), Some(y)) = (a.indicators.get(i), b.indicators.get(j)) {
            match x.cmp(y) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    ws += w(x);
                    let rare = rare_w(x) >= 0.5;
                    // a one-segment path (`/mcp`, `/token`) is a product's endpoint that many
                    // reports name: it alone links only when really rare
                    let one_segment = is_one_segment_path(x);
                    rare_long_path |= rarity.counts() && rare_w(x) >= 0.9 && is_long_path(x);
                    strong |= (rare && !one_segment || rare_w(x) >= 0.9)
                        && (x.starts_with('/') || x.starts_with("CVE-"));
                    // a host few reports name (a dangling subdomain, a third party's host;
                    // not a reporter's lab or a placeholder, which other reporters copy)
                    strong |= rarity.counts() && rare_w(x) >= 0.9 && is_target_host(x);
                    shared_ids += usize::from(rare && x.starts_with("id:"));
                    i += 1;
                    j += 1;
                }
            }
        }
        strong |= shared_ids >= 2;
        let (wa, wb) = if rarity.counts() {
            let sum = |c: &Comparable| c.indicators.iter().map(|i| w(i)).sum::<f64>();
            (sum(a), sum(b))
        } else {
            (a.weight, b.weight)
        };
        let union_w = wa + wb - ws;
        let jaccard = if union_w > 0.0 { ws / union_w } else { 0.0 };
        let smaller = wa.min(wb);
        let containment = if smaller > 0.0 { ws / smaller } else { 0.0 };
        let mut ind = 0.5 * jaccard + 0.5 * containment;
        if !strong {
            ind *= 0.4;
        }
        if a.component.is_some() && b.component.is_some() && a.component != b.component {
            ind *= 0.5;
        }
        if a.out_of_scope != b.out_of_scope {
            ind *= 0.5;
        }
        if a.other_classes(b) {
            ind *= 0.5;
        }
        if rare_long_path && !a.other_classes(b) && a.component == b.component {
            ind = ind.max(RARE_PATH_SIMILARITY);
        }
        let text = sketch_similarity(&a.shingles, &b.shingles);
        let s = text
            .max(0.7 * ind + 0.3 * text)
            .max(a.neutral_similarity(b, rarity))
            .max(a.topic_similarity(b, rarity))
            .max(a.endpoint_similarity(b));
        if s.is_finite() {
            s.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

impl Comparable {
    /// Both name vulnerability classes and none in common (an XSS and an SSRF on one
    /// endpoint are two bugs).
    fn other_classes(&self, other: &Comparable) -> bool {
        !self.classes.is_empty()
            && !other.classes.is_empty()
            && !self.classes.iter().any(|c| other.classes.contains(c))
    }

    /// The same endpoint and query parameter (`/search?q`) in the same component with the
    /// same out-of-scope verdict and no other class: however often it is reported (a popular
    /// bug is reported many times), that is the same bug.
    fn endpoint_similarity(&self, other: &Comparable) -> f64 {
        if self.component.is_none()
            || self.component != other.component
            || self.out_of_scope != other.out_of_scope
            || self.other_classes(other)
        {
            return 0.0;
        }
        // most of the endpoints both reach are shared (an auth endpoint every registry
        // client calls on the way to the bug is not the bug)
        let shared = self
            .endpoints
            .iter()
            .filter(|e| other.endpoints.contains(e))
            .count();
        let union = self.endpoints.len() + other.endpoints.len() - shared;
        if shared > 0 && shared * 2 >= union {
            ENDPOINT_SIMILARITY
        } else {
            0.0
        }
    }

    /// The same vulnerability classes, one of them rare (one few reports of the store name, such as DNS
    /// rebinding) in the same component with the same out-of-scope verdict: in any language
    /// that is most likely the same bug. Only among enough reports to tell what is rare.
    fn topic_similarity(&self, other: &Comparable, rarity: &Rarity) -> f64 {
        if !rarity.counts()
            || self.component.is_none()
            || self.component != other.component
            || self.out_of_scope != other.out_of_scope
        {
            return 0.0;
        }
        // the same classes on both sides (an XSS report that also names CSRF is another
        // finding than a CSRF report), one of them rare
        let rare = self.classes.iter().any(|c| rarity.weight(c) >= 0.9);
        if rare && self.classes == other.classes {
            TOPIC_SIMILARITY
        } else {
            0.0
        }
    }

    /// The same bug in another language or other words: at least [`MIN_SHARED_NEUTRAL`]
    /// shared neutral tokens, one of them a path tail or a port, the same component and the
    /// same out-of-scope verdict; scored by containment (shared over the smaller set).
    fn neutral_similarity(&self, other: &Comparable, rarity: &Rarity) -> f64 {
        if self.component.is_none()
            || self.component != other.component
            || self.out_of_scope != other.out_of_scope
            || self.other_classes(other)
        {
            return 0.0;
        }
        // specific: parameter names and two-segment path tails (ports, flags and one-word
        // paths are shared by every report about the same local setup)
        // and not common among the reports compared
        let specific = |t: &&String| {
            (t.starts_with("param:") || (t.starts_with("tail:") && t.contains('/')))
                && rarity.weight(t) >= 0.5
        };
        let mine: Vec<&String> = self.neutral.iter().filter(specific).collect();
        let theirs: Vec<&String> = other.neutral.iter().filter(specific).collect();
        let shared = mine.iter().filter(|t| theirs.contains(t)).count();
        let anchored = mine
            .iter()
            .any(|t| t.starts_with("tail:") && theirs.contains(t));
        // a file or endpoint tail only these few reports name (`tail:hexon/credentials`),
        // with the same vulnerability classes named
        let rare_tail = rarity.counts()
            && !self.classes.is_empty()
            && self.classes == other.classes
            && mine
                .iter()
                .any(|t| t.starts_with("tail:") && theirs.contains(t) && rarity.weight(t) >= 0.9);
        if rare_tail && shared < MIN_SHARED_NEUTRAL {
            return RARE_TAIL_SIMILARITY;
        }
        if shared < MIN_SHARED_NEUTRAL || !anchored {
            return 0.0;
        }
        shared as f64 / mine.len().min(theirs.len()).max(1) as f64
    }
}

/// A real host name (no `kind:` prefix) that is not a lab, placeholder or reference host,
/// or the keyed form of one.
fn is_target_host(i: &str) -> bool {
    i.starts_with(TARGET_HOST_KIND)
        || (!i.contains(':') && !i.starts_with('/') && super::scope::is_foreign(i))
}

/// Kind marker of a keyed target host (see [`indicator_kind`]).
const TARGET_HOST_KIND: &str = "host:";

/// A path of at least [`LONG_PATH_SEGMENTS`] segments (also in the keyed form, which keeps
/// its length class, see [`indicator_kind`]).
fn is_long_path(i: &str) -> bool {
    i.starts_with("///") || (!i.starts_with("//") && i.matches('/').count() >= LONG_PATH_SEGMENTS)
}

/// `/mcp`, not `/v2/x/blobs` (also in the keyed form, see [`indicator_kind`]).
fn is_one_segment_path(i: &str) -> bool {
    i.strip_prefix('/').is_some_and(|rest| !rest.contains('/'))
}

/// What the keyed (at-rest) form of an indicator keeps of it, as a prefix of its token, so
/// that the similarity of keyed fingerprints is what it was between the plain ones: a path
/// (`/`, or `//` for one of several segments), a CVE id, an identifier, a target host
/// (`host:`; a lab or placeholder host keeps nothing), or nothing.
pub fn indicator_kind(i: &str) -> &'static str {
    if i.starts_with("CVE-") {
        "CVE-"
    } else if i.starts_with(ENDPOINT_PREFIX) {
        ENDPOINT_PREFIX
    } else if i.starts_with("id:") {
        "id:"
    } else if i.starts_with('/') {
        if is_one_segment_path(i) {
            "/"
        } else if is_long_path(i) {
            "///"
        } else {
            "//"
        }
    } else if is_target_host(i) {
        TARGET_HOST_KIND
    } else {
        ""
    }
}

/// How common each indicator is among the reports a new one is compared with (the store's
/// duplicate window): a token most of them carry, such as the `/mcp` endpoint or the OCI
/// `scope` parameter, is no evidence that two reports are about the same bug.
#[derive(Debug, Clone, Default)]
pub struct Rarity {
    reports: usize,
    df: std::collections::HashMap<String, usize>,
}

/// Below this many reports, frequencies say nothing and every indicator weighs fully.
const RARITY_MIN_REPORTS: usize = 30;
/// Share of reports at or below which an indicator weighs fully, and at or above which it
/// weighs nothing (log-linear between).
const RARE_SHARE: f64 = 0.03;
const COMMON_SHARE: f64 = 0.25;

impl Rarity {
    /// Counts one more report.
    pub fn add(&mut self, c: &Comparable) {
        self.reports += 1;
        for t in c.indicators.iter().chain(&c.neutral).chain(&c.classes) {
            *self.df.entry(t.clone()).or_default() += 1;
        }
    }

    /// Forgets a report counted by [`Rarity::add`].
    pub fn remove(&mut self, c: &Comparable) {
        self.reports = self.reports.saturating_sub(1);
        for t in c.indicators.iter().chain(&c.neutral).chain(&c.classes) {
            if let Some(n) = self.df.get_mut(t) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.df.remove(t);
                }
            }
        }
    }

    /// Are there enough reports for frequencies to count?
    fn counts(&self) -> bool {
        self.reports >= RARITY_MIN_REPORTS
    }

    /// Weight in `0..=1` of an indicator: 1 when at most [`RARE_SHARE`] of the reports carry
    /// it (or there are too few reports to tell), 0 from [`COMMON_SHARE`] on.
    pub fn weight(&self, token: &str) -> f64 {
        if !self.counts() {
            return 1.0;
        }
        let df = self.df.get(token).copied().unwrap_or(0);
        let share = (df.max(1) as f64) / self.reports as f64;
        ((COMMON_SHARE.ln() - share.ln()) / (COMMON_SHARE.ln() - RARE_SHARE.ln())).clamp(0.0, 1.0)
    }
}

/// Bottom-k estimate of the Jaccard similarity of the two 3-gram sets (both sorted, distinct):
/// of the `k` smallest hashes of the union, the share present in both.
fn sketch_similarity(a: &[u64], b: &[u64]) -> f64 {
    let k = SKETCH_SIZE.min(a.len().max(b.len()));
    let (mut i, mut j, mut union, mut both) = (0, 0, 0usize, 0usize);
    while union < k {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                both += 1;
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => i += 1,
            (Some(_), Some(_)) => j += 1,
            (Some(_), None) => i += 1,
            (None, Some(_)) => j += 1,
            (None, None) => break,
        }
        union += 1;
    }
    if union == 0 {
        return 0.0;
    }
    both as f64 / union as f64
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
    Comparable::new(a).similarity(&Comparable::new(b))
}

#[cfg(test)]
mod tests;

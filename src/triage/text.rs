//! Text helpers shared by the triage modules: input clipping, Unicode-aware word normalization,
//! phrase matching and extraction of hosts, URL paths and CVE ids.
//! Pure functions only; nothing here may panic on hostile input (huge strings, odd Unicode).

use regex::Regex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::LazyLock;

/// Only the first this-many bytes of a subject or body are analysed. Real reports are far
/// smaller; the cap bounds CPU and memory for hostile mail.
pub const MAX_ANALYSED_BYTES: usize = 256 * 1024;

/// Builds a regex from a pattern literal. Returns `None` instead of panicking; every static
/// pattern is compiled in `tests::all_static_patterns_compile`, so `None` never happens in
/// practice and callers simply skip the extraction if it did.
pub(crate) fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// Clips `s` to at most `max` bytes on a char boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Folds the common Latin diacritics so that "fisico" matches "físico" and vice versa.
fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ß' => 's',
        _ => c,
    }
}

/// What [`normalize`] makes of one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormalizedChar {
    /// not alphanumeric: part of a separator
    Separator,
    /// alphanumeric, lowercased to one character, folded
    One(char),
    /// alphanumeric, lowercased to several characters (each to be folded)
    Many,
}

/// [`NormalizedChar`] of the Basic Multilingual Plane characters met so far (0 where not yet
/// known, 1 separator, 2 several characters, else the folded character + 3): the Unicode
/// property and case lookups are slow enough to matter on non-Latin text.
static BMP_NORMALIZED: LazyLock<Vec<AtomicU32>> =
    LazyLock::new(|| (0..0x1_0000).map(|_| AtomicU32::new(0)).collect());

fn normalized_char_uncached(c: char) -> NormalizedChar {
    if !c.is_alphanumeric() {
        return NormalizedChar::Separator;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => NormalizedChar::One(fold(l)),
        _ => NormalizedChar::Many,
    }
}

fn normalized_char(c: char) -> NormalizedChar {
    let Some(slot) = BMP_NORMALIZED.get(c as usize) else {
        return normalized_char_uncached(c);
    };
    match slot.load(Ordering::Relaxed) {
        0 => {}
        1 => return NormalizedChar::Separator,
        2 => return NormalizedChar::Many,
        v => {
            if let Some(l) = char::from_u32(v - 3) {
                return NormalizedChar::One(l);
            }
        }
    }
    let n = normalized_char_uncached(c);
    let v = match n {
        NormalizedChar::Separator => 1,
        NormalizedChar::Many => 2,
        NormalizedChar::One(l) => l as u32 + 3,
    };
    slot.store(v, Ordering::Relaxed);
    n
}

/// Scripts written without spaces between words; phrases in them match as plain substrings.
pub(crate) fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0x0E00..=0x0E7F // Thai
    )
}

/// Lowercases, folds diacritics, turns every run of characters that are neither alphanumeric
/// nor `_` into one space, and pads with a space on both ends: `" remote code execution "`.
pub fn normalize(s: &str) -> String {
    let mut out = Normalized::with_capacity(s.len() + 2);
    out.push_str(s);
    out.finish()
}

/// Appends `normalize(s).trim()` to `out`: the runs of alphanumerics and `_` of `s`,
/// lowercased and folded, separated by single spaces.
pub(crate) fn push_normalized_words(out: &mut String, s: &str) {
    let mut started = false;
    let mut pending_space = false;
    for c in s.chars() {
        let n = if c.is_ascii() {
            if c.is_ascii_alphanumeric() || c == '_' {
                NormalizedChar::One(c.to_ascii_lowercase())
            } else {
                NormalizedChar::Separator
            }
        } else {
            normalized_char(c)
        };
        if n == NormalizedChar::Separator {
            pending_space = true;
            continue;
        }
        if pending_space && started {
            out.push(' ');
        }
        pending_space = false;
        started = true;
        match n {
            NormalizedChar::One(l) => out.push(l),
            _ => {
                for l in c.to_lowercase() {
                    out.push(fold(l));
                }
            }
        }
    }
}

/// The whitespace-separated tokens of `s`, exactly as `s.split_whitespace()` yields them,
/// with a fast path for ASCII.
pub fn tokens(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        // skip white space
        let start = loop {
            let &b = bytes.get(i)?;
            if b.is_ascii() {
                if !is_ascii_space(b) {
                    break i;
                }
                i += 1;
            } else {
                let c = s.get(i..)?.chars().next()?;
                if !c.is_whitespace() {
                    break i;
                }
                i += c.len_utf8();
            }
        };
        // the token
        while let Some(&b) = bytes.get(i) {
            if b.is_ascii() {
                if is_ascii_space(b) {
                    break;
                }
                i += 1;
            } else {
                let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                    break;
                };
                if c.is_whitespace() {
                    break;
                }
                i += c.len_utf8();
            }
        }
        s.get(start..i)
    })
}

/// `char::is_whitespace` for an ASCII byte (unlike `u8::is_ascii_whitespace`, it includes
/// the vertical tab).
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// A configured word or phrase, matched against normalized text.
///
/// Rules: case-insensitive whole words (`gateway` does not match `gateways`); punctuation is
/// ignored, so `end-to-origin` matches "end to origin"; a trailing `*` matches any word
/// continuation (`tailgat*` matches "tailgating"); a phrase in an unspaced script (Japanese,
/// Chinese, Korean, Thai) matches as a substring.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// The phrase as configured (used as evidence).
    pub raw: String,
    norm: String,
    prefix: bool,
    substring: bool,
}

impl Phrase {
    /// Compiles a phrase; `None` for phrases that normalize to nothing.
    pub fn new(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let prefix = trimmed.ends_with('*');
        let norm = normalize(trimmed.trim_end_matches('*'));
        let norm = norm.trim().to_string();
        if norm.is_empty() {
            return None;
        }
        let substring = norm.chars().any(is_unspaced_script);
        Some(Self {
            raw: trimmed.to_string(),
            norm,
            prefix,
            substring,
        })
    }

    /// Counts occurrences (capped at `cap`) in `hay`, which must come from [`normalize`].
    pub fn count(&self, hay: &str, cap: usize) -> usize {
        if self.substring {
            return hay.match_indices(self.norm.as_str()).take(cap).count();
        }
        let bytes = hay.as_bytes();
        let mut n = 0;
        let mut from = 0;
        while n < cap && from < hay.len() {
            let Some(rel) = hay[from..].find(self.norm.as_str()) else {
                break;
            };
            let start = from + rel;
            let end = start + self.norm.len();
            let before_ok = start > 0 && bytes[start - 1] == b' ';
            let after_ok = self.prefix || bytes.get(end) == Some(&b' ');
            if before_ok && after_ok {
                n += 1;
            }
            // advance past the first char of this match (UTF-8 safe)
            let step = hay[start..].chars().next().map_or(1, char::len_utf8);
            from = start + step;
        }
        n
    }
}

impl Phrase {
    /// A phrase matched byte for byte as whole words, without normalizing it: `hay` contains
    /// `" {word} "` exactly when [`PhraseSet::counts`] counts it. `None` for an empty word.
    pub(crate) fn exact_words(word: &str) -> Option<Self> {
        if word.is_empty() {
            return None;
        }
        Some(Self {
            raw: word.to_string(),
            norm: word.to_string(),
            prefix: false,
            substring: false,
        })
    }
}

/// Many [`Phrase`]s matched in one pass over normalized text.
///
/// [`PhraseSet::counts`] gives, for every phrase, exactly `phrase.count(hay, usize::MAX)`:
/// whole-word phrases are looked up in a byte trie at every word start (a position right
/// after a space), so overlapping occurrences count as they do in [`Phrase::count`];
/// unspaced-script phrases keep their substring semantics.
#[derive(Debug, Clone)]
pub struct PhraseSet {
    phrases: Vec<Phrase>,
    /// whether phrase `i` is a prefix phrase (`tailgat*`)
    prefix: Vec<bool>,
    /// root transitions by first byte (0 = none; node 0 is the root and never a child)
    root: Box<[u32; 256]>,
    /// per node: its children are `edge_bytes[edges_start..][..edges_len]` (sorted) with
    /// targets in `edge_targets` at the same indices; the phrases ending there are
    /// `ends[ends_start..][..ends_len]`
    nodes: Vec<FlatNode>,
    edge_bytes: Vec<u8>,
    edge_targets: Vec<u32>,
    ends: Vec<u32>,
    /// indices of the substring (unspaced-script) phrases
    substring: Vec<usize>,
    /// bit `a * 256 + b` set if a whole-word phrase starts with the bytes `a b`, or is `a`
    pairs: Box<[u64; 1024]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct FlatNode {
    edges_start: u32,
    edges_len: u32,
    ends_start: u32,
    ends_len: u32,
}

impl PhraseSet {
    /// Builds the matcher; phrase `i` of the set is `phrases[i]`.
    pub fn new(phrases: Vec<Phrase>) -> Self {
        // build a pointer trie first, then flatten it
        #[derive(Default)]
        struct Node {
            edges: Vec<(u8, u32)>,
            ends: Vec<u32>,
        }
        let mut root = Box::new([0u32; 256]);
        let mut tree = vec![Node::default()];
        let mut substring = Vec::new();
        for (i, p) in phrases.iter().enumerate() {
            if p.substring {
                substring.push(i);
                continue;
            }
            let bytes = p.norm.as_bytes();
            let Some((&first, rest)) = bytes.split_first() else {
                continue;
            };
            let mut node = root[usize::from(first)];
            if node == 0 {
                node = tree.len() as u32;
                tree.push(Node::default());
                root[usize::from(first)] = node;
            }
            for &b in rest {
                let edges = &tree[node as usize].edges;
                node = match edges.binary_search_by_key(&b, |&(k, _)| k) {
                    Ok(j) => edges[j].1,
                    Err(j) => {
                        let new = tree.len() as u32;
                        tree[node as usize].edges.insert(j, (b, new));
                        tree.push(Node::default());
                        new
                    }
                };
            }
            tree[node as usize].ends.push(i as u32);
        }
        let mut pairs = Box::new([0u64; 1024]);
        let mut set_pair = |a: u8, b: u8| {
            let bit = usize::from(a) * 256 + usize::from(b);
            if let Some(w) = pairs.get_mut(bit / 64) {
                *w |= 1 << (bit % 64);
            }
        };
        for p in phrases.iter().filter(|p| !p.substring) {
            match p.norm.as_bytes() {
                [a] => (0..=255u8).for_each(|b| set_pair(*a, b)),
                [a, b, ..] => set_pair(*a, *b),
                [] => {}
            }
        }
        let mut nodes = Vec::with_capacity(tree.len());
        let mut edge_bytes = Vec::new();
        let mut edge_targets = Vec::new();
        let mut ends = Vec::new();
        for n in &tree {
            nodes.push(FlatNode {
                edges_start: edge_bytes.len() as u32,
                edges_len: n.edges.len() as u32,
                ends_start: ends.len() as u32,
                ends_len: n.ends.len() as u32,
            });
            edge_bytes.extend(n.edges.iter().map(|&(b, _)| b));
            edge_targets.extend(n.edges.iter().map(|&(_, t)| t));
            ends.extend_from_slice(&n.ends);
        }
        Self {
            prefix: phrases.iter().map(|p| p.prefix).collect(),
            phrases,
            root,
            nodes,
            edge_bytes,
            edge_targets,
            ends,
            substring,
            pairs,
        }
    }

    /// Can a whole-word phrase start at `b[p]`? (false only when none can)
    fn may_start(&self, b: &[u8], p: usize) -> bool {
        match (b.get(p), b.get(p + 1)) {
            (Some(&x), Some(&y)) => {
                let bit = usize::from(x) * 256 + usize::from(y);
                self.pairs
                    .get(bit / 64)
                    .is_some_and(|w| w & (1 << (bit % 64)) != 0)
            }
            _ => true,
        }
    }

    /// The phrases, in the order given to [`PhraseSet::new`].
    pub fn phrases(&self) -> &[Phrase] {
        &self.phrases
    }

    /// Occurrences of every phrase in `hay` (which must come from [`normalize`]), uncapped:
    /// `counts(hay)[i]` equals `phrases()[i].count(hay, usize::MAX)`, so `min(cap, ..)` of it
    /// equals `count(hay, cap)`.
    pub fn counts(&self, hay: &str) -> Vec<usize> {
        let mut counts = vec![0usize; self.phrases.len()];
        let b = hay.as_bytes();
        if self.nodes.len() > 1 {
            // every word start: the byte after a space
            for p in 1..b.len() {
                if b[p - 1] != b' ' || !self.may_start(b, p) {
                    continue;
                }
                let mut node = self.root[usize::from(b[p])];
                let mut end = p + 1; // where the match ends if `node` is an end node
                while node != 0 {
                    let Some(n) = self.nodes.get(node as usize) else {
                        break;
                    };
                    if n.ends_len > 0 {
                        let s = n.ends_start as usize;
                        let l = n.ends_len as usize;
                        for &i in self.ends.get(s..s + l).unwrap_or(&[]) {
                            let i = i as usize;
                            if self.prefix.get(i) == Some(&true) || b.get(end) == Some(&b' ') {
                                if let Some(c) = counts.get_mut(i) {
                                    *c += 1;
                                }
                            }
                        }
                    }
                    let Some(&next) = b.get(end) else {
                        break;
                    };
                    let s = n.edges_start as usize;
                    let l = n.edges_len as usize;
                    node = self
                        .edge_bytes
                        .get(s..s + l)
                        .and_then(|keys| keys.iter().position(|&k| k == next))
                        .and_then(|j| self.edge_targets.get(s + j).copied())
                        .unwrap_or(0);
                    end += 1;
                }
            }
        }
        if !self.substring.is_empty() && !hay.is_ascii() && hay.chars().any(is_unspaced_script) {
            for &i in &self.substring {
                if let (Some(c), Some(ph)) = (counts.get_mut(i), self.phrases.get(i)) {
                    *c = hay.match_indices(ph.norm.as_str()).count();
                }
            }
        }
        counts
    }
}

/// A host pattern (`hexon.io`, `*.hexon.io`) prepared for [`host_match`]-identical matching.
#[derive(Debug, Clone)]
pub enum HostPattern {
    /// `*.suffix`: `dotted` is `.suffix`, `spec` its specificity
    Wildcard {
        /// `.suffix`
        dotted: String,
        /// specificity returned on a match
        spec: usize,
    },
    /// an exact host
    Exact {
        /// the lowercase host
        host: String,
        /// specificity returned on a match
        spec: usize,
    },
}

impl HostPattern {
    /// Prepares `pattern` (trimmed and lowercased like [`host_match`] does).
    pub fn new(pattern: &str) -> Self {
        let pattern = pattern.trim().to_ascii_lowercase();
        if let Some(suffix) = pattern.strip_prefix("*.") {
            Self::Wildcard {
                dotted: format!(".{suffix}"),
                spec: suffix.len(),
            }
        } else {
            Self::Exact {
                spec: 10_000 + pattern.len(),
                host: pattern,
            }
        }
    }

    /// Same as `host_match(host, pattern)`.
    pub fn matches(&self, host: &str) -> Option<usize> {
        match self {
            Self::Wildcard { dotted, spec } => {
                (host.len() > dotted.len() && host.ends_with(dotted.as_str())).then_some(*spec)
            }
            Self::Exact { host: h, spec } => (host == h).then_some(*spec),
        }
    }
}

/// Compiles a list of phrases, dropping empty ones.
pub fn phrases<S: AsRef<str>>(list: &[S]) -> Vec<Phrase> {
    list.iter()
        .filter_map(|s| Phrase::new(s.as_ref()))
        .collect()
}

/// True for a configured keyword that denotes a host pattern (`zendesk.com`, `*.zendesk.com`)
/// rather than words.
pub fn is_host_pattern(k: &str) -> bool {
    let k = k.trim();
    let body = k.strip_prefix("*.").unwrap_or(k);
    body.contains('.')
        && !body.starts_with('.')
        && !body.ends_with('.')
        && !body.contains("..")
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Matches a lowercase host against an exact or `*.suffix` pattern. Returns the pattern's
/// specificity (higher is more specific: exact beats any wildcard, longer suffix beats shorter),
/// or `None` when it does not match. `*.hexon.io` matches `a.hexon.io` but not `hexon.io`.
pub fn host_match(host: &str, pattern: &str) -> Option<usize> {
    let pattern = pattern.trim().to_ascii_lowercase();
    if let Some(suffix) = pattern.strip_prefix("*.") {
        let dotted = format!(".{suffix}");
        if host.len() > dotted.len() && host.ends_with(&dotted) {
            return Some(suffix.len());
        }
        None
    } else if host == pattern {
        Some(10_000 + pattern.len())
    } else {
        None
    }
}

/// Top-level domains accepted for bare (scheme-less) domain names. File extensions that are also
/// TLDs (`.sh`, `.md`, `.rs`, `.pl`, `.py`...) are deliberately absent: `poc.sh` is not a host.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "dev", "app", "co", "de", "fr", "es", "jp", "uk", "eu", "cloud",
    "ai", "info", "biz", "me", "us", "ca", "br", "pt", "nl", "ch", "at", "it", "ru", "cn", "in",
    "xyz", "site", "online", "tech", "page", "link", "example", "test", "local", "internal", "lan",
    "corp", "gov", "edu", "se", "no", "dk", "fi", "be", "au", "nz", "kr", "tw", "hk", "sg", "mx",
    "ar", "cl", "ly", "gg", "tv", "cc", "ie", "cz", "sk", "hu", "ro", "gr", "tr", "il", "za", "ua",
    "arpa", "name", "pro", "mobi", "systems", "security", "tools", "services",
];

/// `TLDS.contains(&s.to_ascii_lowercase().as_str())` without allocating (the TLDs are
/// lowercase ASCII).
fn is_tld(s: &str) -> bool {
    TLDS.iter().any(|t| t.eq_ignore_ascii_case(s))
}

static URL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"(?i)\b(?:https?|wss?|ftp|oci)://(?:[^\s/@"'<>]+@)?(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?)(?::\d{1,5})?(/[^\s"'<>`)\]|,;\\]*)?"#,
    )
});
static BARE_HOST_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"(?i)[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\.([a-z]{2,24})\b(?::\d{1,5})?(/[^\s"'<>`)\]|,;\\]*)?"#,
    )
});
/// [`BARE_HOST_RE`] for the ASCII view of a non-ASCII text made by [`HostScanView`]: the
/// same pattern over lowercase classes, `\d` widened by the placeholder `D` for non-ASCII
/// digits and an ASCII word boundary (placeholders `W`/`D`/`k`/`s` are word bytes, ` `/`!`
/// are not). On the view it matches exactly where [`BARE_HOST_RE`] matches on the text; it
/// exists because a Unicode `\b` makes the regex engine fall back from its lazy DFA to a
/// ~50x slower NFA simulation on any non-ASCII haystack.
static BARE_HOST_VIEW_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\.([a-z]{2,24})(?-u:\b)(?::[0-9D]{1,5})?(/[^\s"'<>`)\]|,;\\]*)?"#,
    )
});
/// Non-ASCII word characters, digits and white space (regex classes, so exactly the
/// characters `\w`, `\d` and `\s` mean in [`BARE_HOST_RE`]).
static NON_ASCII_WORD_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"[\w&&[^\x00-\x7F]]+"));
static NON_ASCII_DIGIT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"[\d&&[^\x00-\x7F]]+"));
static NON_ASCII_SPACE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"[\s&&[^\x00-\x7F]]+"));

/// View bytes (see [`HostScanView`]) of the Basic Multilingual Plane characters met so far,
/// 0 where not yet known: each is classified once with the class patterns, on first use
/// (racing threads store the same value).
static BMP_VIEW: LazyLock<Vec<AtomicU8>> =
    LazyLock::new(|| (0..0x1_0000).map(|_| AtomicU8::new(0)).collect());

/// Calls `mark(c, kind)` for the non-ASCII characters of `text` that are word characters
/// (`W`), then for the digits (`D`, digits are word characters too), then for white space
/// (` `). `None` if a class pattern did not compile.
fn classify_runs(text: &str, mut mark: impl FnMut(char, u8)) -> Option<()> {
    for (r, k) in [
        (&NON_ASCII_WORD_RE, b'W'),
        (&NON_ASCII_DIGIT_RE, b'D'),
        (&NON_ASCII_SPACE_RE, b' '),
    ] {
        for m in r.as_ref()?.find_iter(text) {
            for c in m.as_str().chars() {
                mark(c, k);
            }
        }
    }
    Some(())
}

/// The view byte of a character (see [`HostScanView`]). `None` if a class pattern did not
/// compile.
fn view_byte(c: char) -> Option<u8> {
    match c {
        _ if c.is_ascii() => return Some((c as u8).to_ascii_lowercase()),
        '\u{17F}' => return Some(b's'),
        '\u{212A}' => return Some(b'k'),
        _ => {}
    }
    let slot = BMP_VIEW.get(c as usize);
    if let Some(k) = slot.map(|s| s.load(Ordering::Relaxed)).filter(|&k| k != 0) {
        return Some(k);
    }
    let mut buf = [0u8; 4];
    let mut k = b'!';
    classify_runs(c.encode_utf8(&mut buf), |_, kind| k = kind)?;
    if let Some(s) = slot {
        s.store(k, Ordering::Relaxed);
    }
    Some(k)
}

/// An ASCII view of `text` for [`BARE_HOST_VIEW_RE`], one byte per character. ASCII is
/// lowercased (the original pattern is case-insensitive); the two non-ASCII characters that
/// `(?i)[a-z]` matches, `ſ` and the Kelvin sign, become `s` and `k`; other non-ASCII
/// characters become `D` (digit), `W` (other word character), ` ` (white space) or `!`
/// (anything else), which have the same membership in every class and assertion of the
/// pattern as the characters they replace. `None` if a helper pattern did not compile.
struct HostScanView {
    view: String,
    /// for every non-ASCII character: its index in `view` and the byte offset in the text
    /// just after it (ASCII characters in between are one byte in both)
    wide: Vec<(usize, usize)>,
}

impl HostScanView {
    fn new(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut view = Vec::with_capacity(text.len());
        let mut wide = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let rest = bytes.get(i..).unwrap_or(&[]);
            let run = rest
                .iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(rest.len());
            view.extend(rest.iter().take(run).map(u8::to_ascii_lowercase));
            i += run;
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            view.push(view_byte(c)?);
            i += c.len_utf8();
            wide.push((view.len() - 1, i));
        }
        Some(Self {
            view: String::from_utf8(view).ok()?,
            wide,
        })
    }

    /// Byte offset in the text of view position `v` (`v` may be the end).
    fn offset(&self, v: usize) -> usize {
        let k = self.wide.partition_point(|&(w, _)| w < v);
        match k.checked_sub(1).and_then(|k| self.wide.get(k)) {
            Some(&(w, after)) => after + (v - w - 1),
            None => v,
        }
    }
}

/// A bare-host match: start, TLD, end of the host, path (all in the original text).
struct BareHost<'t> {
    start: usize,
    tld: &'t str,
    host_end: usize,
    path: Option<&'t str>,
}

/// A match of [`BARE_HOST_RE`] split into its groups. The parse is unique, so no capture
/// search is needed: the host (`[a-z0-9.-]` and the two non-ASCII letters) ends at the first
/// `:` or `/`, the TLD group is its last dot-separated label, the optional path group starts
/// at the first `/` after it and runs to the end of the match. `None` for a span that is not
/// such a match.
fn split_bare_host(m: &str) -> Option<(std::ops::Range<usize>, Option<usize>)> {
    let host_end = m.find([':', '/']).unwrap_or(m.len());
    let tld_start = m.get(..host_end)?.rfind('.')? + 1;
    let path_start = m.get(host_end..)?.find('/').map(|i| host_end + i);
    Some((tld_start..host_end, path_start))
}

/// Every match of [`BARE_HOST_RE`] in `text`, in order.
fn bare_hosts(text: &str) -> Vec<BareHost<'_>> {
    let mut out = Vec::new();
    let mut push = |start: usize, m: &str, to_text: &dyn Fn(usize) -> usize| {
        let Some((tld, path)) = split_bare_host(m) else {
            return;
        };
        let (tld_start, host_end) = (to_text(tld.start), to_text(tld.end));
        let (Some(tld_str), Some(path)) = (
            text.get(tld_start..host_end),
            match path {
                Some(p) => text.get(to_text(p)..to_text(m.len())).map(Some),
                None => Some(None),
            },
        ) else {
            return;
        };
        out.push(BareHost {
            start,
            tld: tld_str,
            host_end,
            path,
        });
    };
    if !text.is_ascii() {
        if let (Some(v), Some(r)) = (HostScanView::new(text), BARE_HOST_VIEW_RE.as_ref()) {
            for m in r.find_iter(&v.view) {
                // positions within the match, mapped through the view to the text
                let to_text = |i: usize| v.offset(m.start() + i);
                push(to_text(0), m.as_str(), &to_text);
            }
            return out;
        }
    }
    if let Some(r) = BARE_HOST_RE.as_ref() {
        for m in r.find_iter(text) {
            let to_text = |i: usize| m.start() + i;
            push(m.start(), m.as_str(), &to_text);
        }
    }
    out
}

static BARE_PATH_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r#"(?:^|[\s"'`(=,\[（「])(/[A-Za-z0-9._~%{}<>-]+(?:/[A-Za-z0-9._~%{}<>:-]*){0,20})"#)
});
static CVE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)\bCVE-(\d{4})-(\d{4,7})\b"));

/// The host and path groups of a [`URL_RE`] match, found without a capture search (the
/// parse is unique): after `scheme://`, an `@` before any `/` ends the user info; a host in
/// brackets ends at `]`, a name at the first `:` or `/`; the path group starts at the first
/// `/` after the host and runs to the end of the match. `None` for a span that is not a match.
fn split_url(m: &str) -> Option<(&str, Option<&str>)> {
    let after = m.find("://")? + 3;
    let rest = m.get(after..)?;
    let slash = rest.find('/').unwrap_or(rest.len());
    let host_start = rest.get(..slash)?.find('@').map_or(0, |at| at + 1);
    let host_rest = rest.get(host_start..)?;
    let host_len = if host_rest.starts_with('[') {
        host_rest.find(']')? + 1
    } else {
        host_rest.find([':', '/']).unwrap_or(host_rest.len())
    };
    let host = host_rest.get(..host_len)?;
    let path = host_rest
        .get(host_len..)?
        .find('/')
        .and_then(|i| host_rest.get(host_len + i..));
    Some((host, path))
}

/// The path group of a [`BARE_PATH_RE`] match and its offset in the match: the match minus
/// its leading delimiter character (none at the start of the text, where it starts with `/`).
fn split_bare_path(m: &str) -> Option<(usize, &str)> {
    if m.starts_with('/') {
        return Some((0, m));
    }
    let first = m.chars().next()?.len_utf8();
    Some((first, m.get(first..)?))
}

/// Hosts, paths and CVE ids found in a text.
#[derive(Debug, Default, Clone)]
pub struct Extracted {
    /// lowercase host -> occurrences
    pub hosts: BTreeMap<String, usize>,
    /// normalized endpoint paths
    pub paths: Vec<String>,
    /// uppercase CVE ids
    pub cves: Vec<String>,
}

/// Hosts whose URLs are SSRF payload targets (link-local cloud metadata services) rather than
/// the affected endpoint: their paths are not recorded as indicators. Loopback URLs are kept:
/// researchers usually test their own install on localhost.
fn is_payload_host(host: &str) -> bool {
    host.starts_with("169.254.") || host == "metadata.google.internal" || host == "[fd00:ec2::254]"
}

/// Filesystem roots: paths under them are files, not endpoints.
const FS_ROOTS: &[&str] = &[
    "etc", "tmp", "proc", "dev", "usr", "bin", "sbin", "home", "var", "opt", "root", "sys", "mnt",
    "lib", "run", "srv", "users", "windows",
];

/// Normalizes an URL path for duplicate detection: lowercase, query/fragment removed, empty
/// segments collapsed, `:tag` suffixes dropped, id-like segments (numbers, UUIDs, hex digests,
/// `{id}` / `<name>` placeholders) replaced by `{id}`. `None` for paths that carry no endpoint.
pub fn normalize_path(raw: &str) -> Option<String> {
    let p = raw.split(['?', '#']).next().unwrap_or("");
    let p = p.trim_end_matches(['.', ',', ':', ';', '!', '\'', '"', '*']);
    let mut segs = Vec::new();
    for seg in p.split('/') {
        if segs.len() >= 12 {
            break;
        }
        let seg = seg.split(':').next().unwrap_or("").to_lowercase();
        if seg.is_empty() {
            continue;
        }
        let idlike = seg.chars().all(|c| c.is_ascii_digit())
            || (seg.starts_with('{') && seg.ends_with('}'))
            || (seg.starts_with('<') && seg.ends_with('>'))
            || (seg.len() >= 16 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        segs.push(if idlike { "{id}".to_string() } else { seg });
    }
    let first = segs.first()?;
    if FS_ROOTS.contains(&first.as_str()) || first.contains('%') || first.starts_with('.') {
        return None;
    }
    let mut out = String::new();
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if out.len() > 200 {
        out = clip(&out, 200).to_string();
    }
    Some(out)
}

fn preceded_by_word_char(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '/' | ':'))
}

fn add_host(out: &mut Extracted, host: &str) {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() || h.len() > 253 {
        return;
    }
    *out.hosts.entry(h).or_insert(0) += 1;
}

/// Extracts hosts (from URLs and bare domain names, not from e-mail addresses), endpoint paths
/// and CVE ids.
pub fn extract(text: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut url_spans: Vec<(usize, usize)> = Vec::new();
    if let Some(r) = URL_RE.as_ref() {
        for all in r.find_iter(text) {
            let Some((host, path)) = split_url(all.as_str()) else {
                continue;
            };
            url_spans.push((all.start(), all.end()));
            let h = host.to_ascii_lowercase();
            add_host(&mut out, &h);
            if let Some(p) = path {
                if !is_payload_host(&h) {
                    out.paths.extend(normalize_path(p));
                }
            }
        }
    }
    let inside_url = |pos: usize| url_spans.iter().any(|&(s, e)| pos >= s && pos < e);
    for m in bare_hosts(text) {
        if inside_url(m.start) || preceded_by_word_char(text, m.start) {
            continue;
        }
        if !is_tld(m.tld) {
            continue;
        }
        if let Some(host) = text.get(m.start..m.host_end) {
            add_host(&mut out, host);
        }
        if let Some(p) = m.path {
            out.paths.extend(normalize_path(p));
        }
    }
    if let Some(r) = BARE_PATH_RE.as_ref() {
        for m in r.find_iter(text) {
            if let Some((start, p)) = split_bare_path(m.as_str()) {
                if !inside_url(m.start() + start) {
                    out.paths.extend(normalize_path(p));
                }
            }
        }
    }
    if let Some(r) = CVE_RE.as_ref() {
        for c in r.captures_iter(text) {
            if let (Some(y), Some(n)) = (c.get(1), c.get(2)) {
                out.cves.push(format!("CVE-{}-{}", y.as_str(), n.as_str()));
            }
        }
    }
    out.paths.sort();
    out.paths.dedup();
    out.cves.sort();
    out.cves.dedup();
    out
}

/// The text with URLs, hosts, e-mail addresses and slash-joined tokens (paths, image
/// references, vectors) blanked out, so that word matching only sees prose and code words.
pub fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, tok) in tokens(text).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if is_prose_token(tok) {
            out.push_str(tok);
        }
    }
    out
}

/// Whether [`prose`] keeps a token: not slash-joined, not an e-mail address, not host-like.
fn is_prose_token(tok: &str) -> bool {
    let mut slash_or_at = false;
    let mut dot = false;
    for b in tok.bytes() {
        match b {
            b'/' | b'@' => slash_or_at = true,
            b'.' => dot = true,
            _ => {}
        }
    }
    if slash_or_at {
        return false;
    }
    // a host-like token has a dot (its trimmed form is part of the token)
    if dot {
        let bare = tok.trim_matches(|c: char| !c.is_alphanumeric());
        let hostlike = bare.contains('.')
            && bare.rsplit('.').next().is_some_and(is_tld)
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if hostlike {
            return false;
        }
    }
    true
}

/// `normalize(&prose(text))` in one pass, without the intermediate string: each token is
/// normalized as it is scanned and taken back if [`prose`] would drop it.
pub fn normalize_prose(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Normalized::with_capacity(text.len() + 2);
    let mut i = 0;
    let mut first = true;
    loop {
        // skip white space
        while let Some(&x) = b.get(i) {
            if x.is_ascii() {
                if !is_ascii_space(x) {
                    break;
                }
                i += 1;
            } else {
                match text.get(i..).and_then(|t| t.chars().next()) {
                    Some(c) if c.is_whitespace() => i += c.len_utf8(),
                    _ => break,
                }
            }
        }
        if i >= b.len() {
            break;
        }
        // the space prose puts between tokens is a separator
        if !first {
            out.separator();
        }
        first = false;
        let mark = (out.out.len(), out.last_space);
        let start = i;
        let mut slash_or_at = false;
        let mut dot = false;
        while let Some(&x) = b.get(i) {
            if x.is_ascii() {
                let class = PROSE_CLASS.get(usize::from(x)).copied().unwrap_or(OTHER);
                // the common case first, and no jump table
                if class > DOT {
                    out.out.push(class);
                    out.last_space = false;
                } else if class == SPACE {
                    break;
                } else {
                    slash_or_at |= class == SLASH_OR_AT;
                    dot |= class == DOT;
                    out.separator();
                }
                i += 1;
            } else {
                match text.get(i..).and_then(|t| t.chars().next()) {
                    Some(c) if !c.is_whitespace() => {
                        out.push_char(c);
                        i += c.len_utf8();
                    }
                    _ => break,
                }
            }
        }
        if slash_or_at || (dot && !is_prose_token(text.get(start..i).unwrap_or(""))) {
            out.out.truncate(mark.0);
            out.last_space = mark.1;
        }
    }
    out.finish()
}

/// Classes of ASCII bytes for [`normalize_prose`]: the lowercase of a word byte, or one of
/// the codes below (none of which is a word byte).
const OTHER: u8 = 0;
const SPACE: u8 = 1;
const SLASH_OR_AT: u8 = 2;
const DOT: u8 = 3;
static PROSE_CLASS: [u8; 128] = {
    let mut t = [OTHER; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphanumeric() || b == b'_' {
            b.to_ascii_lowercase()
        } else if matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            SPACE
        } else if b == b'/' || b == b'@' {
            SLASH_OR_AT
        } else if b == b'.' {
            DOT
        } else {
            OTHER
        };
        i += 1;
    }
    t
};

/// ASCII letters, digits and `_`: the word bytes of [`normalize`] (no other byte is one).
static WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'_';
        i += 1;
    }
    t
};

/// Is `b` an ASCII letter, digit or `_`?
pub(crate) fn is_ascii_word(b: u8) -> bool {
    WORD_BYTE[usize::from(b)]
}

/// The state machine of [`normalize`]: words lowercased and folded, every run of other
/// characters one space, padded with a space on both ends.
struct Normalized {
    out: Vec<u8>,
    last_space: bool,
}

impl Normalized {
    fn with_capacity(n: usize) -> Self {
        let mut out = Vec::with_capacity(n);
        out.push(b' ');
        Self {
            out,
            last_space: true,
        }
    }

    fn separator(&mut self) {
        if !self.last_space {
            self.out.push(b' ');
            self.last_space = true;
        }
    }

    fn push_ascii(&mut self, s: &[u8]) {
        for &x in s {
            if is_ascii_word(x) {
                self.out.push(x.to_ascii_lowercase());
                self.last_space = false;
            } else {
                self.separator();
            }
        }
    }

    fn push_char(&mut self, c: char) {
        if c.is_ascii() {
            let mut buf = [0u8; 4];
            self.push_ascii(c.encode_utf8(&mut buf).as_bytes());
            return;
        }
        let mut buf = [0u8; 4];
        match normalized_char(c) {
            NormalizedChar::Separator => self.separator(),
            NormalizedChar::One(l) => {
                self.out
                    .extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                self.last_space = false;
            }
            NormalizedChar::Many => {
                for l in c.to_lowercase() {
                    self.out
                        .extend_from_slice(fold(l).encode_utf8(&mut buf).as_bytes());
                }
                self.last_space = false;
            }
        }
    }

    fn push_str(&mut self, s: &str) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let run = b
                .get(i..)
                .unwrap_or(&[])
                .iter()
                .position(|x| !x.is_ascii())
                .unwrap_or(b.len() - i);
            self.push_ascii(b.get(i..i + run).unwrap_or(&[]));
            i += run;
            let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            self.push_char(c);
            i += c.len_utf8();
        }
    }

    fn finish(mut self) -> String {
        if !self.last_space {
            self.out.push(b' ');
        }
        // only whole characters were written
        String::from_utf8(self.out).unwrap_or_default()
    }
}

/// Lines of a body without quoted lines (`>`), which belong to earlier messages.
pub fn unquoted_lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines().filter(|l| !l.trim_start().starts_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_static_patterns_compile() {
        assert!(URL_RE.is_some());
        assert!(BARE_HOST_RE.is_some());
        assert!(BARE_PATH_RE.is_some());
        assert!(CVE_RE.is_some());
        assert!(BARE_HOST_VIEW_RE.is_some());
        assert!(NON_ASCII_WORD_RE.is_some());
        assert!(NON_ASCII_DIGIT_RE.is_some());
        assert!(NON_ASCII_SPACE_RE.is_some());
        assert_eq!(view_byte('é'), Some(b'W'));
        assert_eq!(view_byte('\u{3000}'), Some(b' '));
        assert_eq!(view_byte('٣'), Some(b'D'));
        assert_eq!(view_byte('€'), Some(b'!'));
        assert_eq!(view_byte('\u{212A}'), Some(b'k'));
    }

    /// Groups derived from URL and bare-path matches equal the capture groups.
    #[test]
    fn derived_groups_equal_captures() {
        let url = URL_RE.as_ref().unwrap();
        let path = BARE_PATH_RE.as_ref().unwrap();
        let vocab = [
            "http://",
            "HTTPS://",
            "oci://",
            "wss://",
            "ftp:/",
            "user",
            "@",
            "[",
            "]",
            "::1",
            "fe80::a",
            ".",
            "-",
            "x",
            "\u{212A}",
            "ſ",
            "registry.hexon.io",
            ":",
            "8080",
            "٣",
            "/",
            "/v2/_catalog",
            "?q=a@b",
            "#f",
            " ",
            "\"",
            "'",
            "<",
            ">",
            "`",
            ")",
            "|",
            ",",
            ";",
            "\\",
            "é",
            "日本",
            "\n",
            "(",
            "=",
            "（",
            "「",
            "%2e",
            "{id}",
            "a:b",
        ];
        let mut next = crate::triage::xorshift(0x6c07_8965_d1b4_a3e9);
        for _ in 0..20_000 {
            let text: String = crate::triage::random_words(&mut next, &vocab, 16).concat();
            let captured: Vec<_> = url
                .captures_iter(&text)
                .map(|c| (c.get(1).unwrap().as_str(), c.get(2).map(|p| p.as_str())))
                .collect();
            let derived: Vec<_> = url
                .find_iter(&text)
                .map(|m| split_url(m.as_str()).unwrap())
                .collect();
            assert_eq!(derived, captured, "{text:?}");
            let captured: Vec<_> = path
                .captures_iter(&text)
                .map(|c| {
                    let g = c.get(1).unwrap();
                    (g.start() - c.get(0).unwrap().start(), g.as_str())
                })
                .collect();
            let derived: Vec<_> = path
                .find_iter(&text)
                .map(|m| split_bare_path(m.as_str()).unwrap())
                .collect();
            assert_eq!(derived, captured, "{text:?}");
        }
    }

    /// The ASCII-view scan finds exactly what the original pattern finds on the text.
    #[test]
    fn bare_host_view_matches_original_pattern() {
        let original = |text: &str| -> Vec<(usize, String, usize, Option<String>)> {
            let r = BARE_HOST_RE.as_ref().unwrap();
            r.captures_iter(text)
                .map(|c| {
                    let tld = c.get(1).unwrap();
                    (
                        c.get(0).unwrap().start(),
                        tld.as_str().to_string(),
                        tld.end(),
                        c.get(2).map(|p| p.as_str().to_string()),
                    )
                })
                .collect()
        };
        let viewed = |text: &str| -> Vec<(usize, String, usize, Option<String>)> {
            bare_hosts(text)
                .into_iter()
                .map(|m| {
                    (
                        m.start,
                        m.tld.to_string(),
                        m.host_end,
                        m.path.map(str::to_string),
                    )
                })
                .collect()
        };
        let vocab = [
            "registry.hexon.io",
            "a.b",
            ".",
            "..",
            "-",
            "x",
            "COM",
            "io",
            "/v2/_catalog",
            ":",
            "8080",
            ":٣٤",
            "٣",
            "ſ",
            "\u{212A}",
            "K",
            "é",
            "の",
            "ゲートウェイ",
            "\u{301}",
            "_",
            " ",
            "\u{a0}",
            "\u{3000}",
            "\n",
            "€",
            "🦀",
            "'",
            "\"",
            "`",
            "<",
            ")",
            "|",
            ",",
            ";",
            "\\",
            "?q=ü",
            "#",
            "de",
            "docs.hexon.io/search",
            "ＨＥＸＯＮ",
            "１２",
            "\u{200d}",
            "𝟘",
            "𝐀",
            "𠀀",
            "\u{1F3FB}",
            "\u{E0020}",
            "\u{10FFFD}",
            "\u{1D7CE}",
        ];
        let mut next = crate::triage::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..5000 {
            let text: String = crate::triage::random_words(&mut next, &vocab, 24).concat();
            assert_eq!(viewed(&text), original(&text), "{text:?}");
        }
        for text in [
            "push to registry.hexon.ioにプッシュ and hexon.io。",
            "host ſtatus.hexon.io and \u{212A}ey.hexon.\u{212A}de x.io:٣٤/a",
            "ß.de über.com café.fr/x é.hexon.io",
        ] {
            assert_eq!(viewed(text), original(text), "{text:?}");
        }
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let s = "ääää";
        assert_eq!(clip(s, 3), "ä");
        assert_eq!(clip(s, 100), s);
        assert_eq!(clip(s, 0), "");
    }

    #[test]
    fn normalize_lowercases_folds_and_pads() {
        assert_eq!(
            normalize("End-to-Origin, ACCESO Físico!"),
            " end to origin acceso fisico "
        );
        assert_eq!(normalize(""), " ");
        assert_eq!(normalize("get_gateway_config"), " get_gateway_config ");
    }

    #[test]
    fn phrase_matches_whole_words_only() {
        let p = Phrase::new("gateway").unwrap();
        assert_eq!(
            p.count(&normalize("the gateway, Gateway and gateways"), 10),
            2
        );
        let p = Phrase::new("end-to-origin").unwrap();
        assert_eq!(p.count(&normalize("End to origin encryption"), 10), 1);
    }

    #[test]
    fn phrase_prefix_and_cjk_substring() {
        let p = Phrase::new("tailgat*").unwrap();
        assert_eq!(p.count(&normalize("I tailgated twice"), 10), 1);
        let p = Phrase::new("サービス拒否").unwrap();
        assert_eq!(p.count(&normalize("これはサービス拒否攻撃です"), 10), 1);
        assert!(Phrase::new("  * ").is_none());
    }

    #[test]
    fn phrase_set_counts_equal_phrase_count() {
        let list = [
            "foo",
            "foo foo",
            "foo*",
            "fo",
            "f",
            "foo bar",
            "foo bar*",
            "bar",
            "bar",
            "Foo-Bar",
            "gateway",
            "gateways",
            "tailgat*",
            "サービス拒否",
            "サービス",
            "sql インジェクション",
            "ﾃｽﾄ",
            "é",
            "über*",
            "x y z",
            "y",
            "_",
            "a_b",
            "İ",
            "ß",
        ];
        let set = PhraseSet::new(phrases(&list));
        let vocab = [
            "foo",
            "Foo",
            "foobar",
            "bar",
            "foo-bar",
            "fo",
            "f",
            " ",
            ".",
            "gateway",
            "gateways",
            "tailgating",
            "サービス拒否",
            "サービス",
            "拒否",
            "sql",
            "インジェクション",
            "é",
            "Über",
            "überlast",
            "x",
            "y",
            "z",
            "_",
            "a_b",
            "İ",
            "ß",
            "SS",
            "\n",
            "日本",
        ];
        let mut next = crate::triage::xorshift(0x1234_5678_9abc_def1);
        for _ in 0..3000 {
            let raw: Vec<&str> = crate::triage::random_words(&mut next, &vocab, 30);
            let sep = if next().is_multiple_of(2) { " " } else { "" };
            let hay = normalize(&raw.join(sep));
            let counts = set.counts(&hay);
            for (p, c) in set.phrases().iter().zip(&counts) {
                assert_eq!(*c, p.count(&hay, usize::MAX), "{:?} in {hay:?}", p.raw);
                assert_eq!((*c).min(3), p.count(&hay, 3));
            }
        }
        // concatenated normalized texts (subject + body) count as the sum of their parts
        let (a, b) = (normalize("foo bar サービス"), normalize("拒否 foo"));
        let joined = set.counts(&format!("{a}{b}"));
        let parts: Vec<usize> = set
            .counts(&a)
            .iter()
            .zip(set.counts(&b))
            .map(|(x, y)| x + y)
            .collect();
        assert_eq!(joined, parts);
    }

    /// Random strings over characters that exercise every branch of the fast paths.
    fn random_texts(seed: u64, count: usize) -> Vec<String> {
        let vocab = [
            "a",
            "Z",
            "_",
            "0",
            " ",
            "\t",
            "\n",
            "\r",
            "\u{b}",
            "\u{c}",
            "\u{1c}",
            "\u{85}",
            "\u{a0}",
            "\u{2003}",
            "\u{3000}",
            "\u{200b}",
            "-",
            ".",
            "/",
            "@",
            "é",
            "É",
            "ß",
            "İ",
            "\u{212A}",
            "ſ",
            "Σ",
            "日本",
            "ｈｅｘｏｎ",
            "٣",
            "\u{301}",
            "🦀",
            "\u{0}",
            "x.io",
            "a@b.de",
            "e.g.",
            "(docs.hexon.io).",
        ];
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let n = (next() % 40) as usize;
                (0..n)
                    .map(|_| vocab[(next() % vocab.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn tokens_equal_split_whitespace() {
        for t in random_texts(0x51ed_270b_27b6_e3a1, 3000) {
            let a: Vec<&str> = tokens(&t).collect();
            let b: Vec<&str> = t.split_whitespace().collect();
            assert_eq!(a, b, "{t:?}");
        }
    }

    #[test]
    fn prose_equals_reference() {
        fn reference(text: &str) -> String {
            let mut out = String::new();
            for (i, tok) in text.split_whitespace().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let bare = tok.trim_matches(|c: char| !c.is_alphanumeric());
                let hostlike = bare.contains('.')
                    && bare
                        .rsplit('.')
                        .next()
                        .is_some_and(|tld| TLDS.contains(&tld.to_ascii_lowercase().as_str()))
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if tok.contains('/') || tok.contains('@') || hostlike {
                    continue;
                }
                out.push_str(tok);
            }
            out
        }
        for t in random_texts(0xfeed_beef_1234_5678, 3000) {
            assert_eq!(prose(&t), reference(&t), "{t:?}");
        }
    }

    #[test]
    fn pushed_words_equal_trimmed_normalize() {
        for t in random_texts(0x9e37_79b9_0bad_cafe, 3000) {
            let mut out = String::from("x");
            push_normalized_words(&mut out, &t);
            assert_eq!(&out[1..], normalize(&t).trim(), "{t:?}");
        }
    }

    #[test]
    fn normalize_prose_equals_composition() {
        for t in random_texts(0x7f4a_7c15_9e37_79b9, 3000) {
            assert_eq!(normalize_prose(&t), normalize(&prose(&t)), "{t:?}");
        }
    }

    #[test]
    fn cached_char_normalization_equals_uncached() {
        for c in (0x80u32..0x1_0000).filter_map(char::from_u32) {
            // twice: the second answer comes from the cache
            assert_eq!(normalized_char(c), normalized_char_uncached(c), "{c:?}");
            assert_eq!(normalized_char(c), normalized_char_uncached(c), "{c:?}");
        }
    }

    #[test]
    fn normalize_equals_reference() {
        // the straightforward definition
        fn reference(s: &str) -> String {
            let mut out = String::from(" ");
            let mut last_space = true;
            for c in s.chars() {
                if c.is_alphanumeric() || c == '_' {
                    for l in c.to_lowercase() {
                        out.push(fold(l));
                    }
                    last_space = false;
                } else if !last_space {
                    out.push(' ');
                    last_space = true;
                }
            }
            if !last_space {
                out.push(' ');
            }
            out
        }
        for t in random_texts(0x0dd_ba11_cafe_f00d, 3000) {
            assert_eq!(normalize(&t), reference(&t), "{t:?}");
        }
    }

    #[test]
    fn phrase_counts_adjacent_repeats() {
        let p = Phrase::new("foo").unwrap();
        assert_eq!(p.count(&normalize("foo foo foo"), 10), 3);
        assert_eq!(p.count(&normalize("foo foo foo"), 2), 2);
    }

    #[test]
    fn host_patterns_prefer_exact_over_wildcard() {
        let exact = host_match("registry.hexon.io", "registry.hexon.io").unwrap();
        let wild = host_match("registry.hexon.io", "*.hexon.io").unwrap();
        assert!(exact > wild);
        assert!(host_match("hexon.io", "*.hexon.io").is_none());
        assert!(host_match("evilhexon.io", "*.hexon.io").is_none());
        assert!(is_host_pattern("*.zendesk.com"));
        assert!(!is_host_pattern("status page"));
    }

    #[test]
    fn extract_finds_hosts_paths_and_cves_but_not_emails_or_files() {
        let t = "See https://Docs.Hexon.io/search?q=x and registry.hexon.io/hexon/gateway:4.3 \
                 POST /api/v1/users/1234/keys HTTP/1.1, mail security@hexon.io, run poc.sh, \
                 read /etc/passwd, CVE-2026-12345 and cve-2025-0001.";
        let e = extract(t);
        let hosts: Vec<_> = e.hosts.keys().cloned().collect();
        assert_eq!(hosts, vec!["docs.hexon.io", "registry.hexon.io"]);
        assert!(e.paths.contains(&"/search".to_string()));
        assert!(e.paths.contains(&"/hexon/gateway".to_string()));
        assert!(e.paths.contains(&"/api/v1/users/{id}/keys".to_string()));
        assert!(!e.paths.iter().any(|p| p.starts_with("/etc")));
        assert_eq!(e.cves, vec!["CVE-2025-0001", "CVE-2026-12345"]);
    }

    #[test]
    fn extract_drops_paths_of_metadata_payload_urls() {
        let e = extract("fetch http://169.254.169.254/latest/meta-data/ now");
        assert!(e.hosts.contains_key("169.254.169.254"));
        assert!(e.paths.is_empty());
    }

    #[test]
    fn extract_keeps_paths_of_loopback_test_installs() {
        let e = extract("curl http://127.0.0.1:8765/mcp -d x");
        assert_eq!(e.paths, vec!["/mcp"]);
    }

    #[test]
    fn prose_blanks_urls_hosts_and_slash_tokens() {
        let p = prose("push to registry.hexon.io/hexon/gateway via hexon/gateway, mail a@b.io at docs.hexon.io.");
        assert!(!p.contains("hexon"));
        assert!(p.contains("push to"));
    }

    #[test]
    fn extract_survives_hostile_input() {
        let junk = "/".repeat(100_000) + &"a.".repeat(50_000) + "http://[::::" + "\u{202e}";
        let _ = extract(&junk);
        let _ = prose(&junk);
        let _ = normalize(&junk);
    }
}

//! Text helpers shared by the triage modules: input clipping, Unicode-aware word normalization,
//! phrase matching and extraction of hosts, URL paths and CVE ids.
//! Pure functions only; nothing here may panic on hostile input (huge strings, odd Unicode).

use regex::Regex;
use std::collections::BTreeMap;
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
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in s.chars() {
        if c.is_ascii() {
            // fast path, same result: ASCII alphanumerics are exactly the ASCII letters and
            // digits, their lowercase is the ASCII lowercase and `fold` leaves them alone
            if c.is_ascii_alphanumeric() || c == '_' {
                out.push(c.to_ascii_lowercase());
                last_space = false;
            } else if !last_space {
                out.push(' ');
                last_space = true;
            }
            continue;
        }
        if c.is_alphanumeric() {
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
    /// root transitions by first byte (0 = none; node 0 is the root and never a child)
    root: Box<[u32; 256]>,
    nodes: Vec<TrieNode>,
    /// indices of the substring (unspaced-script) phrases
    substring: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// children by byte, sorted by byte
    edges: Vec<(u8, u32)>,
    /// phrases whose normalized form ends at this node
    ends: Vec<u32>,
}

impl TrieNode {
    fn child(&self, b: u8) -> u32 {
        match self.edges.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => self.edges[i].1,
            Err(_) => 0,
        }
    }
}

impl PhraseSet {
    /// Builds the matcher; phrase `i` of the set is `phrases[i]`.
    pub fn new(phrases: Vec<Phrase>) -> Self {
        let mut root = Box::new([0u32; 256]);
        let mut nodes = vec![TrieNode::default()];
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
                node = nodes.len() as u32;
                nodes.push(TrieNode::default());
                root[usize::from(first)] = node;
            }
            for &b in rest {
                let n = &mut nodes[node as usize];
                node = match n.edges.binary_search_by_key(&b, |&(k, _)| k) {
                    Ok(j) => n.edges[j].1,
                    Err(j) => {
                        let new = nodes.len() as u32;
                        nodes[node as usize].edges.insert(j, (b, new));
                        nodes.push(TrieNode::default());
                        new
                    }
                };
            }
            nodes[node as usize].ends.push(i as u32);
        }
        Self {
            phrases,
            root,
            nodes,
            substring,
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
            for p in 1..b.len() {
                if b[p - 1] != b' ' {
                    continue;
                }
                let mut node = self.root[usize::from(b[p])];
                let mut q = p;
                while node != 0 {
                    let n = &self.nodes[node as usize];
                    let end = q + 1;
                    for &i in &n.ends {
                        let i = i as usize;
                        if self.phrases[i].prefix || b.get(end) == Some(&b' ') {
                            counts[i] += 1;
                        }
                    }
                    if end >= b.len() {
                        break;
                    }
                    q = end;
                    node = n.child(b[q]);
                }
            }
        }
        if !self.substring.is_empty() && !hay.is_ascii() && hay.chars().any(is_unspaced_script) {
            for &i in &self.substring {
                counts[i] = hay.match_indices(self.phrases[i].norm.as_str()).count();
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
static BARE_PATH_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r#"(?:^|[\s"'`(=,\[（「])(/[A-Za-z0-9._~%{}<>-]+(?:/[A-Za-z0-9._~%{}<>:-]*){0,20})"#)
});
static CVE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)\bCVE-(\d{4})-(\d{4,7})\b"));

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
        for c in r.captures_iter(text) {
            let (Some(all), Some(host)) = (c.get(0), c.get(1)) else {
                continue;
            };
            url_spans.push((all.start(), all.end()));
            let h = host.as_str().to_ascii_lowercase();
            add_host(&mut out, &h);
            if let Some(p) = c.get(2) {
                if !is_payload_host(&h) {
                    out.paths.extend(normalize_path(p.as_str()));
                }
            }
        }
    }
    let inside_url = |pos: usize| url_spans.iter().any(|&(s, e)| pos >= s && pos < e);
    if let Some(r) = BARE_HOST_RE.as_ref() {
        for c in r.captures_iter(text) {
            let (Some(all), Some(tld)) = (c.get(0), c.get(1)) else {
                continue;
            };
            if inside_url(all.start()) || preceded_by_word_char(text, all.start()) {
                continue;
            }
            if !TLDS.contains(&tld.as_str().to_ascii_lowercase().as_str()) {
                continue;
            }
            let host_end = tld.end();
            add_host(&mut out, &text[all.start()..host_end]);
            if let Some(p) = c.get(2) {
                out.paths.extend(normalize_path(p.as_str()));
            }
        }
    }
    if let Some(r) = BARE_PATH_RE.as_ref() {
        for c in r.captures_iter(text) {
            if let Some(p) = c.get(1) {
                if !inside_url(p.start()) {
                    out.paths.extend(normalize_path(p.as_str()));
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

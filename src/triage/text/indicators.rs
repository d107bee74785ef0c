//! Indicator extraction: hosts (from URLs and bare domain names), normalized endpoint
//! paths and CVE ids, the evidence used for component scoring and duplicate detection.
//! Pure; no I/O; must not panic on hostile input, and no regex may fall back to its slow
//! NFA simulation on non-ASCII text (see `HostScanView`).

use super::hosts::is_tld;
use super::{clip, re};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::LazyLock;

pub(super) static URL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"(?i)\b(?:https?|wss?|ftp|oci)://(?:[^\s/@"'<>]+@)?(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?)(?::\d{1,5})?(/[^\s"'<>`)\]|,;\\]*)?"#,
    )
});
pub(super) static BARE_HOST_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
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
pub(super) static BARE_HOST_VIEW_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r#"[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\.([a-z]{2,24})(?-u:\b)(?::[0-9D]{1,5})?(/[^\s"'<>`)\]|,;\\]*)?"#,
    )
});
/// Non-ASCII word characters, digits and white space (regex classes, so exactly the
/// characters `\w`, `\d` and `\s` mean in [`BARE_HOST_RE`]).
pub(super) static NON_ASCII_WORD_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"[\w&&[^\x00-\x7F]]+"));
pub(super) static NON_ASCII_DIGIT_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"[\d&&[^\x00-\x7F]]+"));
pub(super) static NON_ASCII_SPACE_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"[\s&&[^\x00-\x7F]]+"));

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
pub(super) fn view_byte(c: char) -> Option<u8> {
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
pub(super) struct BareHost<'t> {
    pub(super) start: usize,
    pub(super) tld: &'t str,
    pub(super) host_end: usize,
    pub(super) path: Option<&'t str>,
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
pub(super) fn bare_hosts(text: &str) -> Vec<BareHost<'_>> {
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

pub(super) static BARE_PATH_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r#"(?:^|[\s"'`(=,\[（「])(/[A-Za-z0-9._~%{}<>-]+(?:/[A-Za-z0-9._~%{}<>:-]*){0,20})"#)
});
pub(super) static CVE_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)\bCVE-(\d{4})-(\d{4,7})\b"));

/// The host and path groups of a [`URL_RE`] match, found without a capture search (the
/// parse is unique): after `scheme://`, an `@` before any `/` ends the user info; a host in
/// brackets ends at `]`, a name at the first `:` or `/`; the path group starts at the first
/// `/` after the host and runs to the end of the match. `None` for a span that is not a match.
pub(super) fn split_url(m: &str) -> Option<(&str, Option<&str>)> {
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
pub(super) fn split_bare_path(m: &str) -> Option<(usize, &str)> {
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

/// Undoes the defanging reporters apply to hostile links (`hxxps://evil[.]example`,
/// `evil(.)example`, `evil[dot]example`) so the host they name is seen.
fn refang(text: &str) -> std::borrow::Cow<'_, str> {
    const FANGS: [(&str, &str); 6] = [
        ("[.]", "."),
        ("(.)", "."),
        ("[dot]", "."),
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("[:]//", "://"),
    ];
    if !FANGS.iter().any(|(f, _)| text.contains(f)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut t = text.to_string();
    for (f, r) in FANGS {
        t = t.replace(f, r);
    }
    std::borrow::Cow::Owned(t)
}

/// Extracts hosts (from URLs and bare domain names, not from e-mail addresses), endpoint paths
/// and CVE ids.
pub fn extract(text: &str) -> Extracted {
    let refanged = refang(text);
    let text: &str = &refanged;
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

//! Text helpers shared by the triage modules: input clipping, Unicode-aware word normalization
//! (`normalize`), phrase matching (`phrase`: words and the single-pass trie matcher), host
//! patterns (`hosts`) and extraction of hosts, URL paths and CVE ids (`indicators`).
//! Pure functions only; no I/O; nothing here may panic on hostile input (huge strings, odd
//! Unicode).

mod hosts;
mod indicators;
mod normalize;
mod phrase;

pub use hosts::{host_match, is_host_pattern, HostPattern};
pub use indicators::{extract, normalize_path, Extracted};
pub(crate) use normalize::{is_ascii_word, push_normalized_words};
pub use normalize::{normalize, normalize_prose, prose, tokens};
pub use phrase::{phrases, Phrase, PhraseSet};

use regex::Regex;

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

/// Lines of a body without quoted lines (`>`), which belong to earlier messages.
pub fn unquoted_lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines().filter(|l| !l.trim_start().starts_with('>'))
}

#[cfg(test)]
mod tests;

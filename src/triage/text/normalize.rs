//! Unicode-aware word normalization: lowercasing, diacritic folding and word separation
//! ([`normalize`]), whitespace tokens, and the prose view of a text with URLs, hosts and
//! paths blanked out ([`prose`], [`normalize_prose`] in one pass).
//! Pure functions; no I/O; must not panic on hostile input (huge strings, odd Unicode).

use super::hosts::is_tld;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

/// Folds the common Latin diacritics so that "fisico" matches "físico" and vice versa.
pub(super) fn fold(c: char) -> char {
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
pub(super) enum NormalizedChar {
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

pub(super) fn normalized_char_uncached(c: char) -> NormalizedChar {
    if !c.is_alphanumeric() {
        return NormalizedChar::Separator;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => NormalizedChar::One(fold(l)),
        _ => NormalizedChar::Many,
    }
}

pub(super) fn normalized_char(c: char) -> NormalizedChar {
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
pub(super) fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
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

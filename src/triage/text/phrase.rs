//! Configured words and phrases ([`Phrase`]) and the single-pass matcher that finds many
//! of them at once in normalized text ([`PhraseSet`], a byte trie at word starts).
//! Pure; no I/O; must not panic on any input.

use super::normalize::{is_unspaced_script, normalize};

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

/// Compiles a list of phrases, dropping empty ones.
pub fn phrases<S: AsRef<str>>(list: &[S]) -> Vec<Phrase> {
    list.iter()
        .filter_map(|s| Phrase::new(s.as_ref()))
        .collect()
}

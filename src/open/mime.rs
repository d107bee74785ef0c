//! Byte-level MIME helpers for OpenPGP: multipart boundary scanning, CRLF
//! canonicalization, inline armor block discovery, Autocrypt header parsing.
//!
//! Everything here works on borrowed bytes/strings and returns offsets or
//! small owned values; it is total (never panics) on arbitrary input.
//!
//! Must not: decode or interpret OpenPGP data (that is `pgp.rs`), or allocate
//! proportionally more than its input.

use base64::Engine as _;

/// Canonicalize line endings to CRLF (RFC 3156 section 5): bare LF becomes
/// CRLF, existing CRLF is kept, nothing else changes (no whitespace
/// stripping).
pub(crate) fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 2);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Find the first body part of a multipart body, exactly as it appears
/// between the first delimiter line and the line break that precedes the
/// next delimiter (RFC 2046 section 5.1.1: that line break belongs to the
/// delimiter). `body` starts at the multipart body (after its header block).
/// Returns the byte range within `body`.
pub(crate) fn first_part_range(body: &[u8], boundary: &str) -> Option<std::ops::Range<usize>> {
    let dash = format!("--{boundary}");
    let dash = dash.as_bytes();
    let mut start: Option<usize> = None;
    let mut pos = 0usize;
    while pos <= body.len() {
        let line_end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .unwrap_or(body.len());
        let line = &body[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if is_delimiter(line, dash) {
            match start {
                None => start = Some((line_end + 1).min(body.len())),
                Some(s) => {
                    // Part ends before the CRLF (or LF) preceding this line.
                    let mut end = pos;
                    if end > s && body[end - 1] == b'\n' {
                        end -= 1;
                        if end > s && body[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    return (s <= end).then_some(s..end);
                }
            }
        }
        if line_end >= body.len() {
            break;
        }
        pos = line_end + 1;
    }
    None
}

fn is_delimiter(line: &[u8], dash: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(dash) else {
        return false;
    };
    let rest = rest.strip_prefix(b"--").unwrap_or(rest);
    rest.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Kind of an inline armor block found in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Message,
    SignedText,
}

/// An armor block inside text: byte range covering the BEGIN line through
/// the END line (without the END line's line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) kind: BlockKind,
    pub(crate) range: std::ops::Range<usize>,
}

/// Find armored PGP MESSAGE and clear-signed blocks in text. Markers must
/// start a line (leading blanks allowed); quoted ("> ") blocks are ignored.
/// A BEGIN without a matching END is not a block.
pub(crate) fn find_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(BlockKind, usize)> = None;
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let end = start + content.len();
        let marker = content.trim();
        match open {
            None => {
                if marker == "-----BEGIN PGP MESSAGE-----" {
                    open = Some((BlockKind::Message, start));
                } else if marker == "-----BEGIN PGP SIGNED MESSAGE-----" {
                    open = Some((BlockKind::SignedText, start));
                }
            }
            Some((kind, s)) => {
                let closes = match kind {
                    BlockKind::Message => marker == "-----END PGP MESSAGE-----",
                    BlockKind::SignedText => marker == "-----END PGP SIGNATURE-----",
                };
                if closes {
                    blocks.push(Block {
                        kind,
                        range: s..end,
                    });
                    open = None;
                } else if kind == BlockKind::Message && marker.starts_with("-----BEGIN PGP ") {
                    // A new BEGIN inside an unterminated message block:
                    // restart there.
                    open = if marker == "-----BEGIN PGP MESSAGE-----" {
                        Some((BlockKind::Message, start))
                    } else if marker == "-----BEGIN PGP SIGNED MESSAGE-----" {
                        Some((BlockKind::SignedText, start))
                    } else {
                        None
                    };
                }
            }
        }
    }
    blocks
}

/// A parsed `Autocrypt:` header (Autocrypt Level 1, section 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutocryptHeader {
    /// Lowercased `addr=`.
    pub(crate) addr: String,
    pub(crate) keydata: Vec<u8>,
}

/// Parse the (possibly folded) value of an Autocrypt header. Returns None for
/// headers the spec says to ignore: missing addr/keydata, unknown critical
/// attributes (names not starting with `_`), or undecodable key data.
pub(crate) fn parse_autocrypt(value: &str) -> Option<AutocryptHeader> {
    let mut addr = None;
    let mut keydata = None;
    for attr in value.split(';') {
        let attr = attr.trim();
        if attr.is_empty() {
            continue;
        }
        let (name, val) = attr.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "addr" => addr = Some(val.trim().to_lowercase()),
            "keydata" => keydata = Some(val),
            "prefer-encrypt" => {}
            n if n.starts_with('_') => {}
            _ => return None,
        }
    }
    let addr = addr.filter(|a| a.contains('@'))?;
    let compact: String = keydata?.chars().filter(|c| !c.is_whitespace()).collect();
    let keydata = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
        .ok()?;
    if keydata.is_empty() {
        return None;
    }
    Some(AutocryptHeader { addr, keydata })
}

/// Strip an OpenPGP file suffix (.asc/.gpg/.pgp, any case) from a name.
pub(crate) fn strip_pgp_suffix(name: &str) -> Option<&str> {
    let lower = name.to_ascii_lowercase();
    for suffix in [".asc", ".gpg", ".pgp"] {
        if lower.ends_with(suffix)
            && name.len() > suffix.len()
            && name.is_char_boundary(name.len() - suffix.len())
        {
            return Some(&name[..name.len() - suffix.len()]);
        }
    }
    None
}

/// Pull a `Subject:` header (unfolded) out of a header block such as a
/// `text/rfc822-headers` legacy-display part.
pub(crate) fn subject_from_header_block(text: &str) -> Option<String> {
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("subject") {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) {
                value.push(' ');
                value.push_str(next.trim());
                lines.next();
            } else {
                break;
            }
        }
        return Some(value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_crlf_converts_bare_lf_and_keeps_crlf_and_trailing_whitespace() {
        assert_eq!(to_crlf(b"a  \nb\r\nc\t\n"), b"a  \r\nb\r\nc\t\r\n".to_vec());
        assert_eq!(to_crlf(b""), Vec::<u8>::new());
        assert_eq!(to_crlf(b"\n\n"), b"\r\n\r\n".to_vec());
    }

    #[test]
    fn first_part_range_excludes_the_line_break_owned_by_the_delimiter() {
        let body = b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi  \r\n\r\n--b\r\nsig\r\n--b--\r\n";
        let r = first_part_range(body, "b").unwrap();
        assert_eq!(
            &body[r],
            b"Content-Type: text/plain\r\n\r\nhi  \r\n".as_slice()
        );
        let lf = b"--b\nX: y\n\nbody\n--b--\n";
        let r = first_part_range(lf, "b").unwrap();
        assert_eq!(&lf[r], b"X: y\n\nbody".as_slice());
    }

    #[test]
    fn first_part_range_ignores_lines_that_merely_start_with_the_boundary() {
        let body = b"--b\nA\n--bb not a delimiter\n--b  \nB\n--b--\n";
        let r = first_part_range(body, "b").unwrap();
        assert_eq!(&body[r], b"A\n--bb not a delimiter".as_slice());
        assert_eq!(first_part_range(b"--b\nunterminated", "b"), None);
        assert_eq!(first_part_range(b"", "b"), None);
    }

    #[test]
    fn find_blocks_locates_message_and_signed_blocks_and_skips_quoted_ones() {
        let text = "hi\n-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\nmid\n> -----BEGIN PGP MESSAGE-----\n> x\n> -----END PGP MESSAGE-----\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nt\n-----BEGIN PGP SIGNATURE-----\n\nz\n-----END PGP SIGNATURE-----\nbye\n";
        let blocks = find_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].kind, BlockKind::Message);
        assert!(text[blocks[0].range.clone()].ends_with("-----END PGP MESSAGE-----"));
        assert_eq!(blocks[1].kind, BlockKind::SignedText);
        assert!(text[blocks[1].range.clone()].starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
        assert!(find_blocks("-----BEGIN PGP MESSAGE-----\nno end\n").is_empty());
    }

    #[test]
    fn parse_autocrypt_reads_addr_and_folded_keydata() {
        let h = parse_autocrypt(
            "addr=Alice@Example.test; prefer-encrypt=mutual; keydata=aGVs\r\n bG8=",
        )
        .unwrap();
        assert_eq!(h.addr, "alice@example.test");
        assert_eq!(h.keydata, b"hello");
        assert!(parse_autocrypt("addr=a@b.test; critical=1; keydata=aGVsbG8=").is_none());
        assert!(parse_autocrypt("addr=a@b.test; _ignored=1; keydata=aGVsbG8=").is_some());
        assert!(parse_autocrypt("keydata=aGVsbG8=").is_none());
        assert!(parse_autocrypt("addr=a@b.test; keydata=!!!").is_none());
    }

    #[test]
    fn strip_pgp_suffix_handles_case_and_non_ascii() {
        assert_eq!(strip_pgp_suffix("report.txt.GPG"), Some("report.txt"));
        assert_eq!(strip_pgp_suffix("b.asc"), Some("b"));
        assert_eq!(strip_pgp_suffix(".asc"), None);
        assert_eq!(strip_pgp_suffix("résumé.pgp"), Some("résumé"));
        assert_eq!(strip_pgp_suffix("x.pdf"), None);
    }

    #[test]
    fn subject_from_header_block_unfolds() {
        let s =
            subject_from_header_block("From: a\r\nSubject: real\r\n  subject\r\n\r\nbody").unwrap();
        assert_eq!(s, "real subject");
        assert_eq!(subject_from_header_block("From: a\n\nSubject: no"), None);
    }
}

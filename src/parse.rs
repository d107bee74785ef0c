//! Raw RFC 5322 bytes → [`Headers`] ([`parse_headers`]), text body and
//! attachments ([`content`], [`parse_entity`]).
//!
//! Pure: no I/O, never panics on input; a message it cannot accept yields a
//! [`ParseError`] whose text is stored as the quarantine reason. HTML is
//! turned into text (mail-parser's converter), never rendered.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Limits applied while parsing.
#[derive(Debug, Clone)]
pub struct ParseLimits {
    pub max_message_bytes: usize,
    pub max_attachments: usize,
    pub max_mime_depth: usize,
    /// Text handed to triage is cut at this many bytes.
    pub max_text_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_bytes: 64 * 1024 * 1024,
            max_attachments: 64,
            max_mime_depth: 16,
            max_text_bytes: 1024 * 1024,
        }
    }
}

/// Why a message could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("cannot parse: message is empty")]
    Empty,
    #[error("cannot parse: no RFC 5322 header section")]
    NoHeaders,
    #[error("cannot parse: message is {size} bytes, limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("cannot parse: MIME nesting deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("cannot parse: {count} attachments, limit is {limit}")]
    TooManyAttachments { count: usize, limit: usize },
    #[error("cannot parse: no usable From address")]
    NoSender,
}

/// One attachment's metadata (its bytes stay inside the raw message).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// The outer envelope-ish headers that drive threading and the loop guard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub message_id: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub has_list_headers: bool,
    pub return_path_null: bool,
    pub content_type: String,
    pub report_type: Option<String>,
    pub x_loop: Vec<String>,
    pub autocrypt: bool,
    /// Raw `Authentication-Results` values, topmost first (at most 8; see
    /// `crate::authres`, which trusts only the configured authserv-id).
    pub authentication_results: Vec<String>,
    /// Lowercase addresses of To, Cc and `Delivered-To` (at most 32): where
    /// the mail was sent (a team note goes to the `+note` sub-address).
    pub recipients: Vec<String>,
}

/// A parsed message whose drop is iterative.
///
/// mail-parser builds nested `message/rfc822` parts without recursion but
/// drops them recursively: a message nested some 10,000 levels deep would
/// overflow the stack while being dropped (an abort, not a panic). Every
/// parse in this crate goes through [`parse_flat`], whose guard flattens the
/// tree before dropping it.
pub struct Flat<'x>(mail_parser::Message<'x>);

impl<'x> std::ops::Deref for Flat<'x> {
    type Target = mail_parser::Message<'x>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Flat<'_> {
    fn drop(&mut self) {
        let mut pending = vec![std::mem::take(&mut self.0)];
        while let Some(mut message) = pending.pop() {
            for part in message.parts.iter_mut() {
                if let PartType::Message(inner) = &mut part.body {
                    pending.push(std::mem::take(inner));
                }
            }
            // `message` now holds no nested message: dropping it is shallow.
        }
    }
}

/// Parse `raw` with mail-parser behind a [`Flat`] guard.
pub fn parse_flat(raw: &[u8]) -> Option<Flat<'_>> {
    MessageParser::default().parse(raw).map(Flat)
}

/// Parse only the outer headers of `raw`.
///
/// # Errors
/// [`ParseError`] when the bytes are not a mail message within the limits.
pub fn parse_headers(raw: &[u8], limits: &ParseLimits) -> Result<Headers, ParseError> {
    check_raw(raw, limits)?;
    let message = MessageParser::default()
        .parse_headers(raw)
        .ok_or(ParseError::NoHeaders)?;
    Ok(headers_of(&message))
}

/// Text and attachments of an already parsed message or entity (see
/// [`crate::open::open_with`], which hands over the entity it ends on).
///
/// # Errors
/// [`ParseError`] when a limit is exceeded.
pub fn content(
    message: &mail_parser::Message<'_>,
    limits: &ParseLimits,
) -> Result<(String, Vec<Attachment>), ParseError> {
    content_of(message, limits)
}

/// Parse a MIME entity (e.g. the decrypted inner part of a PGP/MIME message)
/// for its text and attachments only.
///
/// # Errors
/// [`ParseError`] when a limit is exceeded.
pub fn parse_entity(
    entity: &[u8],
    limits: &ParseLimits,
) -> Result<(String, Vec<Attachment>), ParseError> {
    if entity.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            size: entity.len(),
            limit: limits.max_message_bytes,
        });
    }
    match parse_flat(entity) {
        Some(message) => content_of(&message, limits),
        // NOTE: an entity with no header block is plain text (RFC 2045 defaults).
        None => Ok((
            cap_text(String::from_utf8_lossy(entity).into_owned(), limits),
            Vec::new(),
        )),
    }
}

fn check_raw(raw: &[u8], limits: &ParseLimits) -> Result<(), ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    if raw.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    if !starts_with_header(raw) {
        return Err(ParseError::NoHeaders);
    }
    Ok(())
}

/// True when the first line looks like `Name: value` (RFC 5322 field name),
/// or an mbox `From ` line followed by one.
fn starts_with_header(raw: &[u8]) -> bool {
    let mut data = raw;
    if data.starts_with(b"From ") {
        match data.iter().position(|&b| b == b'\n') {
            Some(pos) => data = &data[pos + 1..],
            None => return false,
        }
    }
    let Some(colon) = data.iter().take(200).position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && data[..colon]
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b':')
}

fn headers_of(message: &mail_parser::Message<'_>) -> Headers {
    let (from_address, from_name) = match message.from().and_then(Address::first) {
        Some(addr) => (
            addr.address()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| valid_address(a)),
            addr.name().map(|n| clean_line(n, 200)),
        ),
        None => (None, None),
    };
    let text_header = |name: &str| -> Option<String> {
        message
            .header_raw(name)
            .map(|v| clean_line(v, 200).to_ascii_lowercase())
    };
    let content_type = message
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "text/plain".into())
        .to_ascii_lowercase();
    let report_type = message
        .content_type()
        .and_then(|ct| ct.attribute("report-type"))
        .map(|v| v.to_ascii_lowercase());
    let return_path_null = message
        .header_raw("Return-Path")
        .is_some_and(|v| v.trim() == "<>" || v.trim().is_empty());
    Headers {
        message_id: message
            .message_id()
            .map(clean_id)
            .filter(|id| !id.is_empty()),
        from_address,
        from_name,
        subject: message
            .subject()
            .map(|s| clean_line(s, 998))
            .unwrap_or_default(),
        date: message
            .date()
            .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok())
            .map(|d| d.with_timezone(&Utc)),
        in_reply_to: ids_of(message.in_reply_to()),
        references: ids_of(message.references()),
        auto_submitted: text_header("Auto-Submitted"),
        precedence: text_header("Precedence"),
        has_list_headers: message.header_raw("List-Id").is_some()
            || message.header_raw("List-Unsubscribe").is_some()
            || message.header_raw("List-Post").is_some(),
        return_path_null,
        content_type,
        report_type,
        x_loop: message
            .header_values("X-Loop")
            .filter_map(|v| v.as_text().map(|t| t.trim().to_ascii_lowercase()))
            .collect(),
        autocrypt: message.header_raw("Autocrypt").is_some(),
        authentication_results: message
            .header_values("Authentication-Results")
            .filter_map(|v| v.as_text().map(|t| clean_line(t, 2000)))
            .take(8)
            .collect(),
        recipients: recipients_of(message),
    }
}

/// Lowercase addresses of To, Cc and `Delivered-To`, at most 32.
fn recipients_of(message: &mail_parser::Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        out.extend(
            list.iter()
                .filter_map(|a| a.address())
                .map(|a| a.trim().to_ascii_lowercase()),
        );
    }
    for v in message.header_values("Delivered-To") {
        if let Some(t) = v.as_text() {
            out.push(t.trim().trim_matches(['<', '>']).to_ascii_lowercase());
        }
    }
    out.retain(|a| valid_address(a));
    out.truncate(32);
    out
}

fn ids_of(value: &HeaderValue<'_>) -> Vec<String> {
    let mut out: Vec<String> = match value {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(list) => list.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    };
    out.retain(|id| !id.is_empty());
    out.truncate(100);
    out
}

/// A Message-ID without angle brackets, whitespace or control characters.
fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .take(250)
        .collect()
}

/// One line of header text: control characters (CR, LF, NUL…) become spaces.
pub fn clean_line(value: &str, max_chars: usize) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn valid_address(addr: &str) -> bool {
    addr.len() <= 254
        && addr
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
}

fn content_of(
    message: &mail_parser::Message<'_>,
    limits: &ParseLimits,
) -> Result<(String, Vec<Attachment>), ParseError> {
    let depth = mime_depth(message, 0, limits.max_mime_depth + 1);
    if depth > limits.max_mime_depth {
        return Err(ParseError::TooDeep {
            limit: limits.max_mime_depth,
        });
    }
    let count = message.attachment_count();
    if count > limits.max_attachments {
        return Err(ParseError::TooManyAttachments {
            count,
            limit: limits.max_attachments,
        });
    }
    let mut text = String::new();
    for n in 0..message.text_body_count().min(8) {
        if let Some(t) = message.body_text(n) {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&t);
            if text.len() > limits.max_text_bytes {
                break;
            }
        }
    }
    let attachments = message
        .attachments()
        .map(|part| {
            let contents = part.contents();
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            Attachment {
                filename: part.attachment_name().and_then(sanitize_filename),
                content_type: clean_line(&content_type, 100).to_ascii_lowercase(),
                size: contents.len(),
                sha256: hex::encode(Sha256::digest(contents)),
            }
        })
        .collect();
    Ok((cap_text(text, limits), attachments))
}

fn cap_text(mut text: String, limits: &ParseLimits) -> String {
    text.retain(|c| c != '\0');
    if text.len() > limits.max_text_bytes {
        let mut cut = limits.max_text_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Nesting depth of multiparts and embedded messages, stopping at `stop`.
fn mime_depth(message: &mail_parser::Message<'_>, level: usize, stop: usize) -> usize {
    fn walk(
        message: &mail_parser::Message<'_>,
        part_id: usize,
        level: usize,
        stop: usize,
        seen: &mut usize,
    ) -> usize {
        *seen += 1;
        if level >= stop || *seen > 100_000 {
            return level;
        }
        let Some(part) = message.parts.get(part_id) else {
            return level;
        };
        match &part.body {
            PartType::Multipart(children) => children
                .iter()
                .map(|&c| walk(message, c as usize, level + 1, stop, seen))
                .max()
                .unwrap_or(level + 1),
            PartType::Message(inner) => {
                if inner.parts.is_empty() {
                    level + 1
                } else {
                    walk(inner, 0, level + 1, stop, seen)
                }
            }
            _ => level,
        }
    }
    let mut seen = 0;
    walk(message, 0, level, stop, &mut seen)
}

/// A file name safe to show and to save: no directories, no control or
/// shell-special characters, no device names, at most 100 characters.
pub fn sanitize_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .map(|c| if "<>:\"|?*".contains(c) { '_' } else { c })
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        return None;
    }
    let stem = cleaned.split('.').next().unwrap_or("").to_ascii_uppercase();
    const DEVICES: [&str; 22] = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    if DEVICES.contains(&stem.as_str()) {
        return Some(format!("_{cleaned}"));
    }
    Some(cleaned)
}

/// Bidi overrides/isolates, zero-width and other invisible format characters:
/// they make `invoice\u{202E}gpj.exe` display as `invoiceexe.jpg`.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole parsed message (what the pipeline gets in steps: headers,
    /// then [`content`] of the entity `open` ends on).
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Inbound {
        headers: Headers,
        text: String,
        attachments: Vec<Attachment>,
    }

    /// Parse a whole message: outer headers plus text and attachments; no
    /// sender is an error.
    fn parse(raw: &[u8], limits: &ParseLimits) -> Result<Inbound, ParseError> {
        check_raw(raw, limits)?;
        let message = parse_flat(raw).ok_or(ParseError::NoHeaders)?;
        let headers = headers_of(&message);
        if headers.from_address.is_none() {
            return Err(ParseError::NoSender);
        }
        let (text, attachments) = content_of(&message, limits)?;
        Ok(Inbound {
            headers,
            text,
            attachments,
        })
    }

    const PLAIN: &[u8] = b"From: Alice Researcher <Alice@Researcher.test>\r\n\
To: security@hexon.test\r\n\
Subject: XSS in admin panel\r\n\
Message-ID: <abc123@researcher.test>\r\n\
In-Reply-To: <x1@hexon.test>\r\n\
References: <r0@researcher.test> <x1@hexon.test>\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
\r\n\
Steps to reproduce: open /admin.\r\n";

    #[test]
    fn parses_headers_and_text() {
        let inbound = parse(PLAIN, &ParseLimits::default()).unwrap();
        let h = &inbound.headers;
        assert_eq!(h.from_address.as_deref(), Some("alice@researcher.test"));
        assert_eq!(h.from_name.as_deref(), Some("Alice Researcher"));
        assert_eq!(h.message_id.as_deref(), Some("abc123@researcher.test"));
        assert_eq!(h.in_reply_to, vec!["x1@hexon.test"]);
        assert_eq!(h.references, vec!["r0@researcher.test", "x1@hexon.test"]);
        assert_eq!(h.subject, "XSS in admin panel");
        assert!(inbound.text.contains("Steps to reproduce"));
        assert_eq!(h.date.unwrap().to_rfc3339(), "2026-11-24T09:00:00+00:00");
    }

    #[test]
    fn rejects_bytes_without_headers() {
        assert_eq!(
            parse(b"this is not mail\n", &ParseLimits::default()),
            Err(ParseError::NoHeaders)
        );
        assert_eq!(parse(b"", &ParseLimits::default()), Err(ParseError::Empty));
        assert_eq!(
            parse(b"\0\0\0", &ParseLimits::default()),
            Err(ParseError::NoHeaders)
        );
    }

    #[test]
    fn rejects_message_without_sender() {
        let raw = b"To: security@hexon.test\r\nSubject: hi\r\n\r\nbody\r\n";
        assert_eq!(
            parse(raw, &ParseLimits::default()),
            Err(ParseError::NoSender)
        );
    }

    #[test]
    fn html_only_body_becomes_text() {
        let raw = b"From: a@b.test\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>team</b></p><script>x()</script>\r\n";
        let inbound = parse(raw, &ParseLimits::default()).unwrap();
        assert!(inbound.text.contains("Hello team"), "{}", inbound.text);
    }

    #[test]
    fn subject_with_encoded_crlf_is_one_line() {
        let raw = b"From: a@b.test\r\nSubject: =?utf-8?q?hi=0D=0ABcc:_x@y?=\r\n\r\nbody\r\n";
        let inbound = parse(raw, &ParseLimits::default()).unwrap();
        assert!(!inbound.headers.subject.contains('\n'));
        assert!(!inbound.headers.subject.contains('\r'));
    }

    #[test]
    fn very_deep_rfc822_nesting_does_not_overflow_the_stack() {
        let mut raw = String::from("From: a@b.test\r\n");
        for _ in 0..100_000 {
            raw.push_str("Content-Type: message/rfc822\r\n\r\n");
        }
        raw.push_str("Subject: x\r\n\r\nbody\r\n");
        // Runs on a 2 MiB thread, like tokio's blocking pool.
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse(raw.as_bytes(), &ParseLimits::default()).map(|_| ()))
            .unwrap();
        assert_eq!(
            handle.join().unwrap(),
            Err(ParseError::TooDeep { limit: 16 })
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut raw = String::from("From: a@b.test\r\n");
        for n in 0..40 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nx\r\n");
        let limits = ParseLimits {
            max_mime_depth: 8,
            ..ParseLimits::default()
        };
        assert_eq!(
            parse(raw.as_bytes(), &limits),
            Err(ParseError::TooDeep { limit: 8 })
        );
    }

    #[test]
    fn attachment_names_are_sanitised() {
        assert_eq!(
            sanitize_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitize_filename("C:\\x\\evil.exe").as_deref(),
            Some("evil.exe")
        );
        assert_eq!(sanitize_filename("CON.txt").as_deref(), Some("_CON.txt"));
        assert_eq!(sanitize_filename("a\r\nb.txt").as_deref(), Some("ab.txt"));
        assert_eq!(sanitize_filename("..."), None);
        assert_eq!(
            sanitize_filename("invoice\u{202E}gpj.exe").as_deref(),
            Some("invoicegpj.exe")
        );
    }

    #[test]
    fn attachments_are_listed_with_hash() {
        let raw = b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--zz\r\nContent-Type: text/x-python\r\nContent-Disposition: attachment; filename=\"poc.py\"\r\n\r\nprint(1)\r\n--zz--\r\n";
        let inbound = parse(raw, &ParseLimits::default()).unwrap();
        assert_eq!(inbound.attachments.len(), 1);
        assert_eq!(inbound.attachments[0].filename.as_deref(), Some("poc.py"));
        assert_eq!(inbound.attachments[0].sha256.len(), 64);
    }
}

//! Compose outgoing mail (RFC 5322 + MIME) with mail-builder: threaded,
//! marked `Auto-Submitted: auto-replied`, with a Message-ID fixed in the
//! outbox row; optionally PGP/MIME-encrypted or -signed.
//!
//! Pure: bytes out. Header values come from our own config and derived
//! facts only, and are cleaned of CR/LF so nothing can be injected.

use chrono::{DateTime, Utc};
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

use crate::open::SealedMime;
use crate::parse::clean_line;

/// The headers of one reply.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub from: &'a str,
    pub reply_to: Option<&'a str>,
    pub to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub tracking_id: Option<&'a str>,
    pub date: DateTime<Utc>,
}

/// How the body is wrapped.
pub enum Body {
    /// A complete inner MIME entity, sent as is.
    Plain(Vec<u8>),
    /// A PGP/MIME multipart/encrypted or multipart/signed body.
    Sealed(SealedMime),
}

/// The inner entity of a reply: text/plain, UTF-8, with CRLF line ends.
pub fn text_entity(body: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let part = MimePart::new(
        "text/plain",
        body.replace("\r\n", "\n").replace('\n', "\r\n"),
    );
    // NOTE: writing into a Vec cannot fail.
    let _ = part.write_part(&mut out);
    out
}

/// The same entity with RFC protected headers (so the Subject is covered by
/// the encryption/signature too).
pub fn protected_entity(body: &str, subject: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let part = MimePart::new(
        mail_builder::headers::content_type::ContentType::new("text/plain")
            .attribute("protected-headers", "v1"),
        body.replace("\r\n", "\n").replace('\n', "\r\n"),
    )
    .header("Subject", Text::new(clean_line(subject, 250)));
    let _ = part.write_part(&mut out);
    out
}

/// Build the full message bytes.
pub fn compose(envelope: &Envelope<'_>, body: Body) -> Vec<u8> {
    let clean = |v: &str| clean_line(v, 998);
    let mut builder = MessageBuilder::new()
        .from(parse_address(envelope.from))
        .to(parse_address(envelope.to))
        .subject(clean(envelope.subject))
        .message_id(clean(envelope.message_id))
        .date(envelope.date.timestamp())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    if let Some(r) = envelope.reply_to {
        builder = builder.reply_to(parse_address(r));
    }
    // NOTE: msg-ids are ASCII (RFC 5322); a reporter's 8-bit id is not echoed.
    let usable_id = |id: &str| -> Option<String> {
        let id = clean(id);
        (!id.is_empty() && id.is_ascii() && !id.contains(' ')).then_some(id)
    };
    if let Some(irt) = envelope.in_reply_to.and_then(usable_id) {
        builder = builder.in_reply_to(irt);
    }
    let refs: Vec<String> = envelope
        .references
        .iter()
        .filter_map(|r| usable_id(r))
        .collect();
    if !refs.is_empty() {
        builder = builder.references(refs);
    }
    if let Some(t) = envelope.tracking_id {
        builder = builder.header("X-Hexon-Tracking-Id", Raw::new(clean(t)));
    }
    let raw_body = match body {
        Body::Plain(entity) => entity,
        Body::Sealed(sealed) => {
            let mut out =
                format!("Content-Type: {}\r\n\r\n", clean(&sealed.content_type)).into_bytes();
            out.extend_from_slice(&sealed.body);
            out
        }
    };
    let builder = builder.body(MimePart::raw(
        String::from_utf8_lossy(&raw_body).into_owned(),
    ));
    let mut out = Vec::new();
    let _ = builder.write_to(&mut out);
    out
}

/// `Name <a@b>` → (name, address); a bare address stays bare. Control
/// characters are removed first.
fn parse_address(value: &str) -> Address<'static> {
    let value = clean_line(value, 500);
    match (value.rfind('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => {
            let name = value[..start].trim().trim_matches('"').to_string();
            let addr = value[start + 1..end].trim().to_string();
            if name.is_empty() {
                Address::new_address(None::<String>, addr)
            } else {
                Address::new_address(Some(name), addr)
            }
        }
        _ => Address::new_address(None::<String>, value.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope<'a>(refs: &'a [String]) -> Envelope<'a> {
        Envelope {
            from: "Hexon Security <security@hexon.test>",
            reply_to: None,
            to: "alice@researcher.test",
            subject: "[HEXON-2026-0001] Report received",
            message_id: "hexon-triage.1@hexon.test",
            in_reply_to: Some("orig@researcher.test"),
            references: refs,
            tracking_id: Some("HEXON-2026-0001"),
            date: Utc::now(),
        }
    }

    #[test]
    fn reply_is_threaded_and_auto_submitted() {
        let refs = vec!["orig@researcher.test".to_string()];
        let bytes = compose(&envelope(&refs), Body::Plain(text_entity("Hello\nworld")));
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(parsed.message_id(), Some("hexon-triage.1@hexon.test"));
        assert_eq!(parsed.in_reply_to().as_text(), Some("orig@researcher.test"));
        assert_eq!(
            parsed.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(parsed.subject(), Some("[HEXON-2026-0001] Report received"));
        assert!(parsed.body_text(0).unwrap().contains("world"));
        assert_eq!(
            parsed.from().unwrap().first().unwrap().address(),
            Some("security@hexon.test")
        );
    }

    #[test]
    fn header_injection_is_neutralised() {
        let refs = vec!["a@b\r\nBcc: victim@evil.test".to_string()];
        let mut env = envelope(&refs);
        env.subject = "x\r\nBcc: victim@evil.test";
        env.to = "alice@researcher.test\r\nBcc: victim@evil.test";
        let bytes = compose(&env, Body::Plain(text_entity("body")));
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("\nbcc:"), "{text}");
    }
}

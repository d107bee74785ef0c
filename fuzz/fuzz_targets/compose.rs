//! Arbitrary header values → `outbox::compose::compose` → parse the bytes back
//! with mail_parser. Checks: no panic; every header line is one we write (no
//! injected header, no bare CR/LF in the header section); exactly one `To`,
//! one `From`, one `Subject`, one `Message-ID`, one `Date`.
//!
//! Input: NUL-separated fields (missing fields get the daemon's usual values):
//!   0 subject, 1 to, 2 in-reply-to, 3 tracking id, 4 from, 5 reply-to,
//!   6 message-id, 7 sealed content type (absent = plain body), 8.. references
#![no_main]

use chrono::{TimeZone, Utc};
use hexon_triage::open::SealedMime;
use hexon_triage::outbox::compose::{compose, text_entity, Body, Envelope};
use libfuzzer_sys::fuzz_target;

mod common;

/// Lower-case names of every header `compose` may write.
const ALLOWED: &[&str] = &[
    "from",
    "to",
    "subject",
    "message-id",
    "date",
    "auto-submitted",
    "x-auto-response-suppress",
    "in-reply-to",
    "references",
    "x-hexon-tracking-id",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fuzz_target!(|data: &[u8]| {
    common::run("compose", data, || {
        let fields: Vec<String> = data
            .split(|b| *b == 0)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let field = |i: usize| fields.get(i).map(String::as_str);
        let references: Vec<String> = fields.iter().skip(8).take(64).cloned().collect();
        let envelope = Envelope {
            from: field(4).unwrap_or("Hexon Security <security@hexon.io>"),
            reply_to: field(5),
            to: field(1).unwrap_or("alice@researcher.test"),
            subject: field(0).unwrap_or(""),
            message_id: field(6).unwrap_or("hexon-triage.1@hexon.io"),
            in_reply_to: field(2),
            references: &references,
            tracking_id: field(3),
            date: Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
        };
        let body = match field(7) {
            None => Body::Plain(text_entity("Thank you for your report.\n")),
            Some(ct) => Body::Sealed(SealedMime {
                content_type: ct.to_string(),
                body: b"-----BEGIN PGP MESSAGE-----\r\n\r\nxx\r\n-----END PGP MESSAGE-----\r\n"
                    .to_vec(),
            }),
        };
        let bytes = compose(&envelope, body);
        let text = String::from_utf8_lossy(&bytes);

        // 1. Raw header section: CRLF lines, each a continuation or an allowed name.
        let end = text
            .find("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of header section:\n{text}"));
        let head = &text[..end];
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for line in head.split("\r\n") {
            assert!(
                !line.contains('\r') && !line.contains('\n'),
                "bare CR or LF in header line {line:?}\n{text}"
            );
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let (name, _) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header line without a colon: {line:?}\n{text}"));
            let name = name.to_ascii_lowercase();
            assert!(
                ALLOWED.contains(&name.as_str()),
                "unexpected header {name:?} in line {line:?}\n{text}"
            );
            *counts.entry(name).or_default() += 1;
        }
        for once in ["to", "from", "subject", "message-id", "date"] {
            assert_eq!(
                counts.get(once).copied().unwrap_or(0),
                1,
                "header {once} appears {:?} times\n{text}",
                counts.get(once)
            );
        }

        // 2. The same through mail_parser, as a receiving MUA would see it.
        let parsed = mail_parser::MessageParser::default()
            .parse(&bytes)
            .unwrap_or_else(|| panic!("mail_parser cannot parse our output:\n{text}"));
        let mut to_headers = 0;
        for h in parsed.headers() {
            let name = h.name().to_ascii_lowercase();
            assert!(
                ALLOWED.contains(&name.as_str()),
                "mail_parser sees unexpected header {name:?}\n{text}"
            );
            if name == "to" {
                to_headers += 1;
            }
        }
        assert_eq!(
            to_headers, 1,
            "mail_parser sees {to_headers} To headers\n{text}"
        );
        // NOTE: the *decoded* Subject is not checked for line breaks: an input subject
        // that is itself an RFC 2047 encoded word (`=?utf-8?q?a=0D=0Ab?=`) is written
        // as is and decodes to CR/LF in the reader's MUA. That is display-only (no
        // header is injected on the wire); see README "Observations".
    });
});

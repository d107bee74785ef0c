//! Hostile input is normal input.
//!
//! Every file in `tests/fixtures/hostile/*.eml` (written by
//! `tests/fixtures/hostile/generate.py`) and every big case built in memory
//! below goes through the pure pipeline exactly as the daemon runs it
//! (`Pipeline::prepare` on a 2 MiB-stack thread, like tokio's blocking pool),
//! then `Store::ingest` into an in-memory store. Each case must:
//!
//! * finish within [`STALL_LIMIT`] and never panic (the case is named if it does);
//! * be stored: triaged, ignored or quarantined with a non-empty reason;
//! * meet its expectation (loop guard verdicts, limits named in the reason);
//! * when an ack is queued: compose it as the outbox worker does and prove
//!   no header of ours can be injected (one `To:`, no `Cc`/`Bcc`, only the
//!   headers we write, a one-line Subject).
//!
//! Each case runs in a child process (this test binary again, test
//! `hostile_case_child`, `HOSTILE_CASE=<name>`), so a case that kills the
//! process (a stack overflow aborts, it cannot be caught) is reported by name
//! and the run goes on.
//!
//! `cargo test --test hostile -- --nocapture` prints one line per case.
//! `HOSTILE_ONLY=<substring>` runs the matching cases only;
//! `HOSTILE_DUMP_ACK=1` also prints every composed ack.
//! Not an integration test against servers: no network, no files written.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hexon_triage::config::Config;
use hexon_triage::outbox::compose::{compose, text_entity, Body, Envelope};
use hexon_triage::outbox::render::{Site, Templates};
use hexon_triage::pipeline::Pipeline;
use hexon_triage::store::{IngestPolicy, IngestResult, Prepared, PreparedKind, SourceRef, Store};
use sha2::{Digest, Sha256};

/// A case running longer than this is a stall.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// tokio's blocking threads (where the daemon runs `prepare` and `ingest`) get 2 MiB.
const WORKER_STACK: usize = 2 * 1024 * 1024;
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hostile");
const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/hexon-triage.example.toml"
);
/// Our own address in the example config (`smtp.from`).
const OWN_ADDRESS: &str = "security@hexon.io";

/// What a case must come out as.
#[derive(Debug, Clone)]
enum Expect {
    /// Any stored outcome (never an error, never lost).
    Stored,
    /// A new report with an ack queued (the header-injection check then runs).
    Acked,
    /// A new report, no ack; the suppression reason contains the text.
    NoAck(&'static str),
    /// Not a report (loop guard); the reason contains the text.
    Ignored(&'static str),
    /// Quarantined; the stored reason contains the text.
    Quarantined(&'static str),
}

/// A per-case check on the prepared message (before ingest).
type Check = Box<dyn Fn(&Prepared) -> Result<(), String> + Send>;

struct Case {
    name: String,
    /// `None`: read `FIXTURES/<name>.eml`.
    build: Option<fn() -> Vec<u8>>,
    expect: Expect,
    check: Option<Check>,
}

/// mail-parser 0.11.9 panics on these two inputs only where overflow checks
/// / debug assertions are on (this test's profile): `open::open` catches the
/// unwind and the message is quarantined. In release they are plain reports.
const PARSER_DEBUG_PANIC: Expect = if cfg!(debug_assertions) {
    Expect::Quarantined("internal parser failure")
} else {
    Expect::Acked
};

/// Expectations for the committed corpus. A file not listed here must still
/// be stored; a name listed here must exist.
fn corpus_expectations() -> BTreeMap<&'static str, Expect> {
    use Expect::*;
    const NO_HEADERS: &str = "no RFC 5322 header section";
    const NO_SENDER: &str = "no usable From address";
    BTreeMap::from([
        // MIME boundaries: best effort, still a report.
        ("mime_boundary_missing_close", Acked),
        ("mime_boundary_never_appears", Acked),
        ("mime_boundary_in_header_only", Acked),
        ("mime_boundary_empty", Acked),
        ("mime_multipart_without_boundary", Acked),
        ("mime_nested_same_boundary", Acked),
        // Missing headers.
        ("no_from", Quarantined(NO_SENDER)),
        ("no_date", Acked),
        ("no_message_id", Acked),
        ("no_headers_body_only", Quarantined(NO_HEADERS)),
        ("no_headers_leading_blank_line", Quarantined(NO_HEADERS)),
        ("headers_only_no_blank_line", Acked),
        ("empty_file", Quarantined("message is empty")),
        ("only_crlf_crlf", Quarantined("message is empty")),
        ("mbox_from_line_only", Quarantined(NO_HEADERS)),
        ("mbox_from_line_newline_only", Quarantined(NO_HEADERS)),
        ("mbox_from_line_then_headers", Acked),
        ("binary_garbage", Quarantined(NO_HEADERS)),
        ("utf16_bom_message", Quarantined(NO_HEADERS)),
        ("header_name_over_200_bytes", Quarantined(NO_HEADERS)),
        // 8-bit, invalid UTF-8, NUL.
        ("header_8bit_latin1_subject", Acked),
        ("header_invalid_utf8_from_name", Acked),
        ("header_8bit_latin1_from_name", Acked),
        ("from_name_unclosed_comment_8bit", Quarantined(NO_SENDER)),
        ("nul_in_headers", Acked),
        ("nul_in_body", Acked),
        // RFC 2047.
        ("rfc2047_crlf_in_subject", Acked),
        ("rfc2047_crlf_base64_subject", Acked),
        ("rfc2047_wrong_charsets", Acked),
        ("rfc2047_nested_unterminated", Acked),
        ("rfc2047_invalid_base64", Acked),
        ("rfc2047_many_words", Acked),
        // Injection through Subject / From.
        ("subject_crlf_raw_bare_cr", Acked),
        ("subject_crlf_raw_bare_lf", Acked),
        ("from_name_crlf_raw", Acked),
        ("from_name_crlf_encoded", Acked),
        ("from_address_crlf_encoded", Quarantined(NO_SENDER)),
        ("from_address_list_and_group", Acked),
        ("from_address_quoted_local_part", Quarantined(NO_SENDER)),
        (
            "from_address_unicode_line_separator",
            Quarantined(NO_SENDER),
        ),
        // Message-ID / In-Reply-To / References.
        ("message_id_crlf_and_spaces", Acked),
        ("message_id_bidi_and_8bit", Acked),
        ("message_id_our_own_form", Ignored("our own message")),
        // Attachment names (the names themselves are checked for every case).
        ("attachment_name_unix_traversal", Acked),
        ("attachment_name_windows_traversal", Acked),
        ("attachment_name_device_con", Acked),
        ("attachment_name_device_nul_txt", Acked),
        ("attachment_name_device_aux_c", Acked),
        ("attachment_name_crlf", Acked),
        ("attachment_name_10000_chars", Acked),
        ("attachment_name_rtl_override", Acked),
        ("attachment_name_dots_only", Acked),
        // Bodies.
        ("base64_body_garbage", Acked),
        ("quoted_printable_invalid_escapes", Acked),
        ("charset_unknown_and_8bit_body", Acked),
        ("qp_soft_break_before_boundary", PARSER_DEBUG_PANIC),
        ("message_global_empty_rfc822_then_close", PARSER_DEBUG_PANIC),
        ("html_unterminated_comment_and_script", Acked),
        ("message_rfc822_base64_loop", Acked),
        ("message_rfc822_empty", Acked),
        ("terminal_escapes", Acked),
        ("date_out_of_range", Acked),
        ("bare_lf_line_endings", Acked),
        // Loop guard (RFC 3834).
        (
            "loop_bounce_delivery_status",
            Ignored("delivery status notification"),
        ),
        ("loop_auto_replied", Ignored("Auto-Submitted: auto-replied")),
        (
            "loop_auto_replied_mixed_case",
            Ignored("Auto-Submitted: auto-replied"),
        ),
        ("loop_list_id", NoAck("mailing-list headers")),
        ("loop_precedence_bulk", NoAck("Precedence: bulk")),
        ("loop_null_return_path", Ignored("null return path")),
        ("loop_from_own_address", Ignored("our own message")),
        (
            "loop_from_own_address_uppercase",
            Ignored("our own message"),
        ),
        ("loop_x_loop_own_address", Ignored("our own message")),
        (
            "loop_from_mailer_daemon",
            Ignored("sender is mailer-daemon"),
        ),
    ])
}

/// Expected sanitised names for the attachment-name cases.
fn expected_attachment_name(case: &str) -> Option<Option<&'static str>> {
    Some(match case {
        "attachment_name_unix_traversal" => Some("passwd"),
        "attachment_name_windows_traversal" => Some("boot.ini"),
        "attachment_name_device_con" => Some("_CON"),
        "attachment_name_device_nul_txt" => Some("_NUL.txt"),
        "attachment_name_device_aux_c" => Some("_aux.c"),
        "attachment_name_dots_only" => None,
        _ => return None,
    })
}

// ------------------------------------------------------------------ big cases, built in memory

const HEAD: &str = "From: Mallory Reporter <mallory@attacker.test>\r\nTo: security@hexon.io\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n";

fn head(subject: &str, message_id: &str) -> String {
    format!("{HEAD}Subject: {subject}\r\nMessage-ID: <{message_id}@attacker.test>\r\nMIME-Version: 1.0\r\n")
}

fn base64_lines(data: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn with_attachment(subject: &str, name: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    let mut m = head(subject, name).into_bytes();
    m.extend_from_slice(
        b"Content-Type: multipart/mixed; boundary=\"att\"\r\n\r\n--att\r\n\
Content-Type: text/plain\r\n\r\nSee attachment.\r\n--att\r\n",
    );
    m.extend_from_slice(
        format!("Content-Type: {ctype}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
            .as_bytes(),
    );
    m.extend_from_slice(&base64_lines(data));
    m.extend_from_slice(b"--att--\r\n");
    m
}

fn attachment_50mib() -> Vec<u8> {
    with_attachment(
        "50 MiB attachment",
        "dump.bin",
        "application/octet-stream",
        &vec![0x5a; 50 * 1024 * 1024],
    )
}

/// Big but legal. Kept at 12 MiB: the unoptimised test build hashes and
/// decodes ~10x slower than release (24 MiB: 0.5 s release, ~6 s here, and
/// the message is parsed five times), and STALL_LIMIT must catch loops, not
/// debug-build slowness.
fn attachment_12mib() -> Vec<u8> {
    with_attachment(
        "12 MiB attachment, under the limit",
        "dump.bin",
        "application/octet-stream",
        &vec![0x5a; 12 * 1024 * 1024],
    )
}

fn n_attachments(n: usize) -> Vec<u8> {
    let mut m = head(&format!("{n} attachments"), &format!("att{n}")).into_bytes();
    m.extend_from_slice(
        b"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\nContent-Type: text/plain\r\n\r\nreport\r\n",
    );
    for i in 0..n {
        m.extend_from_slice(
            format!("--p\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\n\r\nx{i}\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"--p--\r\n");
    m
}

fn attachments_5000() -> Vec<u8> {
    n_attachments(5000)
}
fn attachments_64() -> Vec<u8> {
    n_attachments(64)
}
fn attachments_65() -> Vec<u8> {
    n_attachments(65)
}

fn text_parts_5000() -> Vec<u8> {
    let mut m = head("5000 inline text parts", "textparts").into_bytes();
    m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"t\"\r\n\r\n");
    for i in 0..5000 {
        m.extend_from_slice(
            format!("--t\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"--t--\r\n");
    m
}

fn multipart_nesting(depth: usize) -> Vec<u8> {
    let mut m = head(
        &format!("multipart nested {depth} deep"),
        &format!("nest{depth}"),
    )
    .into_bytes();
    m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for level in 1..depth {
        m.extend_from_slice(
            format!(
                "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n",
                level - 1
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(
        format!(
            "--b{}\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n",
            depth - 1
        )
        .as_bytes(),
    );
    for level in (0..depth).rev() {
        m.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    m
}

fn multipart_nesting_1000() -> Vec<u8> {
    multipart_nesting(1000)
}
fn multipart_nesting_16() -> Vec<u8> {
    multipart_nesting(16)
}
fn multipart_nesting_17() -> Vec<u8> {
    multipart_nesting(17)
}

fn rfc822_nesting(depth: usize) -> Vec<u8> {
    let mut m = head(
        &format!("message/rfc822 nested {depth} deep"),
        &format!("rfc822nest{depth}"),
    )
    .into_bytes();
    m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    for level in 0..depth - 1 {
        m.extend_from_slice(
            format!("From: level{level}@attacker.test\r\nSubject: level {level}\r\nContent-Type: message/rfc822\r\n\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"From: inner@attacker.test\r\nSubject: innermost\r\n\r\ninnermost\r\n");
    m
}

fn rfc822_nesting_1000() -> Vec<u8> {
    rfc822_nesting(1000)
}
/// 5.2 MB, far under the size limit.
fn rfc822_nesting_100000() -> Vec<u8> {
    rfc822_nesting(100_000)
}
fn multipart_nesting_100000() -> Vec<u8> {
    multipart_nesting(100_000)
}

fn rfc822_in_multipart_nesting(depth: usize) -> Vec<u8> {
    let mut m = head(
        &format!("multipart + message/rfc822 nested {depth} deep"),
        &format!("rfc822mp{depth}"),
    )
    .into_bytes();
    for level in 0..depth {
        m.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"m{level}\"\r\n\r\n--m{level}\r\nContent-Type: message/rfc822\r\n\r\nFrom: l{level}@attacker.test\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"\r\ninnermost\r\n");
    for level in (0..depth).rev() {
        m.extend_from_slice(format!("--m{level}--\r\n").as_bytes());
    }
    m
}

fn rfc822_in_multipart_nesting_1000() -> Vec<u8> {
    rfc822_in_multipart_nesting(1000)
}
fn rfc822_in_multipart_nesting_100000() -> Vec<u8> {
    rfc822_in_multipart_nesting(100_000)
}

/// Number of `<length 258, distance 1>` copies in the bomb: 1 + 258 * COPIES
/// = 1,073,741,821 zero bytes (1 GiB - 3).
const BOMB_COPIES: usize = 4_161_790;
const BOMB_SIZE: u32 = 1 + 258 * BOMB_COPIES as u32;
/// CRC-32 of BOMB_SIZE zero bytes (computed by generate.py --bomb).
const BOMB_CRC: u32 = 0xa1e8_37cf;
/// SHA-256 of the gzip file, cross-checked by `generate.py --bomb`, which
/// builds the same bytes and inflates them with zlib.
const BOMB_SHA256: &str = "cf402fc02d2438b78f7727282928bebf024d60e0b06020ae4bab6bc865793922";

/// A real gzip file of ~1 GiB of zeros (about 1 MB compressed): one dynamic
/// Huffman block where each 258-byte copy costs two bits.
fn gzip_bomb_bytes() -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u8,
        n: u8,
    }
    impl Bits {
        fn put(&mut self, value: u32, count: u32) {
            for i in 0..count {
                self.acc |= (((value >> i) & 1) as u8) << self.n;
                self.n += 1;
                if self.n == 8 {
                    self.out.push(self.acc);
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
        fn zeros(&mut self, mut count: usize) {
            while count > 0 && self.n != 0 {
                self.put(0, 1);
                count -= 1;
            }
            let len = self.out.len() + count / 8;
            self.out.resize(len, 0);
            self.put(0, (count % 8) as u32);
        }
    }
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(2, 2); // dynamic Huffman
    b.put(29, 5); // HLIT: 286 literal/length codes
    b.put(0, 5); // HDIST: 1 distance code
    b.put(14, 4); // HCLEN: 18 code-length codes
    const ORDER: [u32; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for sym in ORDER {
        b.put(
            match sym {
                18 => 1,
                1 | 2 => 2,
                _ => 0,
            },
            3,
        );
    }
    // Code-length codes: 18 -> 0, 1 -> 10, 2 -> 11.
    let zeros_run = |b: &mut Bits, n: u32| {
        b.code(0, 1);
        b.put(n - 11, 7);
    };
    b.code(0b11, 2); // literal 0: length 2
    zeros_run(&mut b, 138);
    zeros_run(&mut b, 117);
    b.code(0b11, 2); // end of block: length 2
    zeros_run(&mut b, 28);
    b.code(0b10, 2); // length code 285 (258 bytes): length 1
    b.code(0b10, 2); // distance code 0 (distance 1): length 1
                     // Literal/length codes: 285 -> 0, literal 0 -> 10, end -> 11; distance 0 -> 0.
    b.code(0b10, 2); // one literal zero
    b.zeros(2 * BOMB_COPIES); // each copy: "0" (258) + "0" (distance 1)
    b.code(0b11, 2); // end of block
    if b.n > 0 {
        b.out.push(b.acc);
    }
    let mut out = b.out;
    out.extend_from_slice(&BOMB_CRC.to_le_bytes());
    out.extend_from_slice(&BOMB_SIZE.to_le_bytes());
    out
}

fn gzip_bomb() -> Vec<u8> {
    with_attachment(
        "logs attached (1 GiB when unpacked)",
        "logs.tar.gz",
        "application/gzip",
        &gzip_bomb_bytes(),
    )
}

fn single_line_8mb_message() -> Vec<u8> {
    let mut m = b"From: mallory@attacker.test Subject: ".to_vec();
    m.resize(8 * 1024 * 1024, b'A');
    m
}

fn single_line_8mb_body() -> Vec<u8> {
    let mut m = head("8 MB single-line body", "line8mb").into_bytes();
    m.extend_from_slice(b"\r\n");
    let len = m.len() + 8 * 1024 * 1024;
    m.resize(len, b'B');
    m
}

fn html_nested_tags() -> Vec<u8> {
    let mut m = head("200,000 nested unclosed tags", "html200k").into_bytes();
    m.extend_from_slice(b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>");
    for i in 0..200_000 {
        m.extend_from_slice(match i % 4 {
            0 => b"<div>".as_slice(),
            1 => b"<b class=x>",
            2 => b"<table><tr><td>",
            _ => b"<i>&amp;",
        });
        if i % 100 == 0 {
            m.extend_from_slice(b"\r\n");
        }
    }
    m.extend_from_slice(b"\r\n");
    m
}

fn html_huge_attribute() -> Vec<u8> {
    let mut m = head("5 MB attribute", "html5mb").into_bytes();
    m.extend_from_slice(b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Report</p><a href=\"");
    let len = m.len() + 5 * 1024 * 1024;
    m.resize(len, b'&');
    m.extend_from_slice(b"\">link</a>\r\n");
    m
}

fn header_folded_100k_lines() -> Vec<u8> {
    let mut m = HEAD.as_bytes().to_vec();
    m.extend_from_slice(b"Message-ID: <folded@attacker.test>\r\nSubject: folded");
    for _ in 0..100_000 {
        m.extend_from_slice(b"\r\n x");
    }
    m.extend_from_slice(b"\r\n\r\nbody\r\n");
    m
}

fn many_headers_100k() -> Vec<u8> {
    let mut m = head("100,000 header fields", "manyheaders").into_bytes();
    for i in 0..100_000 {
        m.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    m.extend_from_slice(b"\r\nbody\r\n");
    m
}

fn content_type_10000_params() -> Vec<u8> {
    let mut m = head("10,000 Content-Type parameters", "params").into_bytes();
    m.extend_from_slice(b"Content-Type: text/plain");
    for i in 0..10_000 {
        m.extend_from_slice(format!(";\r\n p{i}=\"v{i}\"").as_bytes());
    }
    m.extend_from_slice(b"; charset=utf-8\r\n\r\nbody\r\n");
    m
}

fn rfc2231_10000_continuations() -> Vec<u8> {
    let mut m = head("10,000 RFC 2231 continuations", "rfc2231").into_bytes();
    m.extend_from_slice(
        b"Content-Type: multipart/mixed; boundary=\"c\"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nsee\r\n--c\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment",
    );
    for i in 0..10_000 {
        m.extend_from_slice(format!(";\r\n filename*{i}*=utf-8''%2e%2e%2F%0D%0A{i}").as_bytes());
    }
    m.extend_from_slice(b"\r\n\r\ndata\r\n--c--\r\n");
    m
}

fn ids_header(name: &str, n: usize) -> Vec<u8> {
    let mut m = head(&format!("{n} ids in {name}"), &format!("ids-{name}")).into_bytes();
    m.extend_from_slice(format!("{name}:").as_bytes());
    for i in 0..n {
        m.extend_from_slice(format!(" <id{i}@attacker.test>\r\n").as_bytes());
    }
    m.extend_from_slice(b"\r\nbody\r\n");
    m
}

fn references_10000() -> Vec<u8> {
    ids_header("References", 10_000)
}
fn in_reply_to_10000() -> Vec<u8> {
    ids_header("In-Reply-To", 10_000)
}

fn rfc2047_huge_word() -> Vec<u8> {
    let payload = "Ü\r\nBcc: victim@evil.test\r\n".repeat(40_000);
    let word = base64::engine::general_purpose::STANDARD.encode(payload.as_bytes());
    let mut m =
        format!("{HEAD}Message-ID: <huge2047@attacker.test>\r\nSubject: =?utf-8?b?{word}?=\r\n")
            .into_bytes();
    m.extend_from_slice(b"From: =?utf-8?q?");
    m.extend_from_slice("=0D=0A".repeat(100_000).as_bytes());
    m.extend_from_slice(b"?= <second-from@attacker.test>\r\n\r\nbody\r\n");
    m
}

fn message_id_10000_chars() -> Vec<u8> {
    let id = "i".repeat(10_000);
    format!("{HEAD}Subject: long ids\r\nMessage-ID: <{id}@attacker.test>\r\nIn-Reply-To: <{id}>\r\n\r\nbody\r\n")
        .into_bytes()
}

fn generated_cases() -> Vec<Case> {
    use Expect::*;
    const LIMIT_BYTES: &str = "limit is 67108864";
    const LIMIT_DEPTH: &str = "MIME nesting deeper than 16";
    const LIMIT_ATTACHMENTS: &str = "attachments, limit is 64";
    let gen = |name: &str, build: fn() -> Vec<u8>, expect: Expect| Case {
        name: format!("gen:{name}"),
        build: Some(build),
        expect,
        check: None,
    };
    vec![
        gen(
            "attachment_50mib",
            attachment_50mib,
            Quarantined(LIMIT_BYTES),
        ),
        gen("attachment_12mib_under_limit", attachment_12mib, Acked),
        gen(
            "attachments_5000",
            attachments_5000,
            Quarantined(LIMIT_ATTACHMENTS),
        ),
        gen("attachments_64_at_limit", attachments_64, Acked),
        gen(
            "attachments_65_over_limit",
            attachments_65,
            Quarantined(LIMIT_ATTACHMENTS),
        ),
        gen("text_parts_5000", text_parts_5000, Acked),
        gen(
            "multipart_nesting_1000",
            multipart_nesting_1000,
            Quarantined(LIMIT_DEPTH),
        ),
        gen("multipart_nesting_16_at_limit", multipart_nesting_16, Acked),
        gen(
            "multipart_nesting_17_over_limit",
            multipart_nesting_17,
            Quarantined(LIMIT_DEPTH),
        ),
        gen(
            "rfc822_nesting_1000",
            rfc822_nesting_1000,
            Quarantined(LIMIT_DEPTH),
        ),
        gen(
            "multipart_nesting_100000",
            multipart_nesting_100000,
            Quarantined(LIMIT_DEPTH),
        ),
        gen(
            "rfc822_nesting_100000",
            rfc822_nesting_100000,
            Quarantined(LIMIT_DEPTH),
        ),
        gen(
            "rfc822_in_multipart_nesting_100000",
            rfc822_in_multipart_nesting_100000,
            Quarantined(LIMIT_DEPTH),
        ),
        gen(
            "rfc822_in_multipart_nesting_1000",
            rfc822_in_multipart_nesting_1000,
            Quarantined(LIMIT_DEPTH),
        ),
        Case {
            name: "gen:gzip_bomb_1gib".into(),
            build: Some(gzip_bomb),
            expect: Acked,
            check: Some(Box::new(|p: &Prepared| {
                let gz = gzip_bomb_bytes();
                let PreparedKind::Mail(mail) = &p.kind else {
                    return Err("bomb was not triaged as mail".into());
                };
                let a = mail
                    .attachments
                    .iter()
                    .find(|a| a.filename.as_deref() == Some("logs.tar.gz"))
                    .ok_or("bomb attachment not listed")?;
                // Stored as the compressed bytes: nobody inflated it.
                if a.size != gz.len() || a.sha256 != hex::encode(Sha256::digest(&gz)) {
                    return Err(format!(
                        "attachment is {} bytes (compressed {}): it was decompressed or altered",
                        a.size,
                        gz.len()
                    ));
                }
                Ok(())
            })),
        },
        gen(
            "single_line_8mb_whole_message",
            single_line_8mb_message,
            Quarantined("no usable From address"),
        ),
        gen("single_line_8mb_body", single_line_8mb_body, Acked),
        gen("html_200k_nested_tags", html_nested_tags, Acked),
        gen("html_5mb_attribute", html_huge_attribute, Acked),
        gen("header_folded_100k_lines", header_folded_100k_lines, Acked),
        gen("many_headers_100k", many_headers_100k, Acked),
        gen(
            "content_type_10000_params",
            content_type_10000_params,
            Acked,
        ),
        gen(
            "rfc2231_10000_continuations",
            rfc2231_10000_continuations,
            Acked,
        ),
        gen("references_10000_ids", references_10000, Acked),
        gen("in_reply_to_10000_ids", in_reply_to_10000, Acked),
        gen("rfc2047_huge_encoded_words", rfc2047_huge_word, Acked),
        gen("message_id_10000_chars", message_id_10000_chars, Acked),
    ]
}

/// The bomb is the file `generate.py --bomb` inflated with zlib to 1 GiB of zeros.
#[test]
fn gzip_bomb_is_the_verified_one() {
    let gz = gzip_bomb_bytes();
    assert!(gz.len() < 1_100_000, "{} bytes", gz.len());
    assert_eq!(hex::encode(Sha256::digest(&gz)), BOMB_SHA256);
}

// ------------------------------------------------------------------ the run

struct Shared {
    config: Config,
    pipeline: Pipeline,
    policy: IngestPolicy,
    templates: Templates,
    site: Site,
}

/// What one case produced.
struct Outcome {
    line: String,
    problems: Vec<String>,
    /// The worker is still running (only the child process can end it).
    stalled: bool,
}

thread_local! {
    /// Where the last panic on this thread happened (set by the hook below).
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keep the default panic output, and remember the location for the report line.
fn record_panic_locations() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            let file = l.file();
            // Shorten ~/.cargo/registry/src/<index>/crate-x.y.z/src/… to crate-x.y.z/src/….
            let short = file
                .find("/registry/src/")
                .and_then(|i| file[i + 14..].split_once('/').map(|(_, rest)| rest))
                .unwrap_or(file);
            let at = format!("{short}:{}:{}", l.line(), l.column());
            PANIC_AT.with(|p| *p.borrow_mut() = Some(at));
        }
        previous(info);
    }));
}

/// The parent: every case runs in a child process (this test binary again,
/// `hostile_case_child` with HOSTILE_CASE=<name>), so a case that aborts the
/// process (stack overflow) or never returns is reported by name and the run
/// goes on. Inside the child the case runs on a 2 MiB thread under
/// STALL_LIMIT with `catch_unwind`.
#[test]
fn hostile_corpus() {
    println!(
        "build: debug_assertions={} (the daemon's release build has neither debug assertions nor overflow checks)",
        cfg!(debug_assertions)
    );
    let shared = load_shared();
    assert_eq!(
        shared.pipeline.parse_limits.max_message_bytes,
        64 * 1024 * 1024
    );
    assert_eq!(shared.pipeline.parse_limits.max_mime_depth, 16);
    assert_eq!(shared.pipeline.parse_limits.max_attachments, 64);
    drop(shared);

    let cases = all_cases();
    let generated = cases.iter().filter(|c| c.build.is_some()).count();
    println!(
        "{} cases ({} committed, {generated} generated)",
        cases.len(),
        cases.len() - generated
    );
    let mut names: Vec<String> = cases.into_iter().map(|c| c.name).collect();
    // HOSTILE_ONLY=substring runs just the matching cases (for a quick rerun).
    if let Ok(only) = std::env::var("HOSTILE_ONLY") {
        names.retain(|n| n.contains(only.as_str()));
        println!("HOSTILE_ONLY={only}: running {} of them", names.len());
    }

    let mut failures: Vec<String> = Vec::new();
    for name in names {
        let outcome = run_isolated(&name);
        println!("{}", outcome.line);
        for p in outcome.problems {
            println!("    !! {p}");
            failures.push(format!("{name}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The child: runs the one case named by HOSTILE_CASE (does nothing otherwise).
#[test]
fn hostile_case_child() {
    let Ok(name) = std::env::var("HOSTILE_CASE") else {
        return;
    };
    record_panic_locations();
    let shared = Arc::new(load_shared());
    let Some(case) = all_cases().into_iter().find(|c| c.name == name) else {
        println!("{MARK_LINE}{name:<44} → no such case");
        println!("{MARK_PROBLEM}no such case");
        return;
    };
    let outcome = run_case(&shared, case);
    println!("{MARK_LINE}{}", outcome.line.replace('\n', "\\n"));
    for p in &outcome.problems {
        println!("{MARK_PROBLEM}{}", p.replace('\n', "\\n"));
    }
    if outcome.stalled {
        // The worker is still spinning: end the process so the parent moves on.
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }
}

const MARK_LINE: &str = "@@hostile-line ";
const MARK_PROBLEM: &str = "@@hostile-problem ";
/// A child gets this long to build its case, run it and report (the case
/// itself is bounded by STALL_LIMIT inside the child).
const CHILD_LIMIT: Duration = Duration::from_secs(120);

fn load_shared() -> Shared {
    let config = Config::load(Path::new(CONFIG)).expect("example config loads");
    assert_eq!(config.smtp.from_address, OWN_ADDRESS);
    assert!(
        !config.openpgp.sign_plain_acks,
        "this test composes unsigned acks, as the example config does"
    );
    let pipeline = Pipeline::from_config(&config).expect("pipeline from example config");
    let policy = Pipeline::policy(&config, true);
    let templates = Templates::load(&config.ack.template_dir).expect("templates load");
    let site = Site {
        policy_url: config.ack.policy_url.clone(),
        security_txt_url: config.ack.security_txt_url.clone(),
        from_address: config.smtp.from_address.clone(),
        time_zone: config.calendar.time_zone_name().to_string(),
    };
    Shared {
        config,
        pipeline,
        policy,
        templates,
        site,
    }
}

fn all_cases() -> Vec<Case> {
    let mut cases = corpus_cases();
    let committed = cases.len();
    assert!(
        committed >= 34,
        "the committed corpus has {committed} files, expected at least 34"
    );
    cases.extend(generated_cases());
    cases
}

/// Run one case in a child process and turn what it printed (or how it
/// died) into an outcome.
fn run_isolated(name: &str) -> Outcome {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let fail = |line: String, problem: String| Outcome {
        line: format!("{name:<44} → {line}"),
        problems: vec![problem],
        stalled: false,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(format!("cannot find test binary: {e}"), e.to_string()),
    };
    let started = Instant::now();
    let child = Command::new(exe)
        .args([
            "hostile_case_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_CASE", name)
        .env_remove("HOSTILE_ONLY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start child: {e}"), e.to_string()),
    };
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let err = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > CHILD_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let mut line = None;
    let mut problems = Vec::new();
    for l in stdout.lines() {
        // libtest may print "test hostile_case_child ... " on the same line.
        if let Some(pos) = l.find(MARK_LINE) {
            line = Some(l[pos + MARK_LINE.len()..].to_string());
        } else if let Some(pos) = l.find(MARK_PROBLEM) {
            problems.push(l[pos + MARK_PROBLEM.len()..].to_string());
        }
    }
    if let Some(line) = line {
        return Outcome {
            line,
            problems,
            stalled: false,
        };
    }
    let ms = started.elapsed().as_millis();
    let why: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains("overflowed its stack")
                || l.contains("fatal runtime error")
                || l.contains("panicked at")
                || l.contains("memory allocation")
        })
        .take(3)
        .collect();
    let why = if why.is_empty() {
        stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
    } else {
        why.join(" | ")
    };
    match status {
        None => fail(
            format!("STALL: child killed after {ms} ms"),
            format!("child did not finish within {CHILD_LIMIT:?}"),
        ),
        Some(status) => {
            #[cfg(unix)]
            let how = {
                use std::os::unix::process::ExitStatusExt as _;
                match status.signal() {
                    Some(sig) => format!("killed by signal {sig}"),
                    None => format!("exit {status}"),
                }
            };
            #[cfg(not(unix))]
            let how = format!("exit {status}");
            fail(
                format!("CRASH: the process died ({how}) after {ms} ms: {why}"),
                format!("process died ({how}): {why}"),
            )
        }
    }
}

fn corpus_cases() -> Vec<Case> {
    let mut expectations = corpus_expectations();
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut cases: Vec<Case> = names
        .into_iter()
        .map(|name| Case {
            expect: expectations.remove(name.as_str()).unwrap_or(Expect::Stored),
            check: None,
            build: None,
            name,
        })
        .collect();
    assert!(
        expectations.is_empty(),
        "expectations for missing fixtures (run generate.py?): {:?}",
        expectations.keys().collect::<Vec<_>>()
    );
    for case in &mut cases {
        if let Some(expected) = expected_attachment_name(&case.name) {
            case.check = Some(Box::new(move |p: &Prepared| {
                let PreparedKind::Mail(mail) = &p.kind else {
                    return Err("not triaged as mail".into());
                };
                let got: Vec<Option<&str>> = mail
                    .attachments
                    .iter()
                    .map(|a| a.filename.as_deref())
                    .collect();
                if got != [expected] {
                    return Err(format!("attachment names {got:?}, expected [{expected:?}]"));
                }
                Ok(())
            }));
        }
    }
    cases
}

/// Run one case on its own thread under the stall limit; never panics.
fn run_case(shared: &Arc<Shared>, case: Case) -> Outcome {
    let name = case.name.clone();
    let raw = match case.build {
        Some(build) => build(),
        None => match std::fs::read(PathBuf::from(FIXTURES).join(format!("{name}.eml"))) {
            Ok(raw) => raw,
            Err(e) => {
                return Outcome {
                    line: format!("{name:<44} → cannot read fixture: {e}"),
                    problems: vec![format!("cannot read fixture: {e}")],
                    stalled: false,
                }
            }
        },
    };
    let size = raw.len();
    let (tx, rx) = mpsc::channel();
    let worker_shared = shared.clone();
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name(format!("case {name}"))
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                process(&worker_shared, raw, &case.expect, case.check.as_ref())
            }));
            let _ = tx.send(result.map_err(|payload| {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "non-string panic payload".into());
                let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
                format!("{message} (at {at})")
            }));
        });
    if let Err(e) = spawned {
        return Outcome {
            line: format!("{name:<44} → cannot start worker: {e}"),
            problems: vec![format!("cannot start worker: {e}")],
            stalled: false,
        };
    }
    let received = rx.recv_timeout(STALL_LIMIT);
    let ms = started.elapsed().as_millis();
    match received {
        Ok(Ok((summary, problems, prepare_ms))) => Outcome {
            line: format!(
                "{name:<44} → {summary}  in {ms} ms (prepare {prepare_ms} ms)  [{size} bytes]"
            ),
            problems,
            stalled: false,
        },
        Ok(Err(panic)) => Outcome {
            line: format!("{name:<44} → PANIC: {panic}  after {ms} ms"),
            problems: vec![format!("panicked: {panic}")],
            stalled: false,
        },
        Err(mpsc::RecvTimeoutError::Timeout) => Outcome {
            line: format!("{name:<44} → STALL: no result after {ms} ms"),
            problems: vec![format!("stalled: no result within {STALL_LIMIT:?}")],
            stalled: true,
        },
        Err(mpsc::RecvTimeoutError::Disconnected) => Outcome {
            line: format!("{name:<44} → worker died after {ms} ms"),
            problems: vec!["worker thread died without a result".into()],
            stalled: false,
        },
    }
}

/// prepare → ingest → (ack) compose, with every check. Returns the summary
/// and the problems found.
fn process(
    shared: &Shared,
    raw: Vec<u8>,
    expect: &Expect,
    check: Option<&Check>,
) -> (String, Vec<String>, u128) {
    let mut problems = Vec::new();
    let now = Utc::now();
    let started = Instant::now();
    let prepared = shared.pipeline.prepare(raw, SourceRef::Ingest, now, &[]);
    let prepare_ms = started.elapsed().as_millis();
    if let Some(check) = check {
        if let Err(e) = check(&prepared) {
            problems.push(e);
        }
    }
    problems.extend(prepared_invariants(&prepared));
    let mut store = match Store::open_in_memory() {
        Ok(s) => s,
        Err(e) => return (format!("store error {e}"), vec![e.to_string()], prepare_ms),
    };
    let result = match store.ingest(&prepared, &shared.policy) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("ingest failed (message lost): {e}"));
            return (format!("ERROR: {e}"), problems, prepare_ms);
        }
    };
    match store.audit_verify() {
        Ok((_, bad)) if bad.is_empty() => {}
        Ok((_, bad)) => problems.push(format!("audit chain broken: {}", bad.len())),
        Err(e) => problems.push(format!("audit verify failed: {e}")),
    }
    let summary = match &result {
        IngestResult::Known => {
            problems.push("fresh store said Known: nothing stored".into());
            "Known".to_string()
        }
        IngestResult::Team { .. } => {
            // NOTE: the example config has no [[team.members]]: no mail can be team mail.
            problems.push("team mail without team members".into());
            "Team".to_string()
        }
        IngestResult::Quarantined { .. } => {
            let reason = store
                .quarantined()
                .ok()
                .and_then(|rows| rows.into_iter().next())
                .and_then(|row| row.reason)
                .unwrap_or_default();
            if reason.trim().is_empty() {
                problems.push("quarantined without a reason".into());
            }
            match expect {
                Expect::Quarantined(want) if !reason.contains(want) => problems.push(format!(
                    "quarantine reason {reason:?} does not name {want:?}"
                )),
                Expect::Quarantined(_) | Expect::Stored => {}
                other => problems.push(format!("expected {other:?}, got quarantined ({reason})")),
            }
            format!("Quarantined ({reason})")
        }
        IngestResult::Ignored { .. } => {
            let reason = match &prepared.kind {
                PreparedKind::Ignore { reason, .. } => reason.clone(),
                _ => String::new(),
            };
            match expect {
                Expect::Ignored(want) if !reason.contains(want) => {
                    problems.push(format!("ignored for {reason:?}, expected {want:?}"))
                }
                Expect::Ignored(_) | Expect::Stored => {}
                other => problems.push(format!("expected {other:?}, got ignored ({reason})")),
            }
            format!("Ignored ({reason})")
        }
        IngestResult::Duplicate { tracking_id, .. } => {
            if !matches!(expect, Expect::Stored) {
                problems.push(format!("expected {expect:?}, got duplicate"));
            }
            format!("Duplicate ({tracking_id})")
        }
        IngestResult::FollowUp { tracking_id, .. } => {
            if !matches!(expect, Expect::Stored) {
                problems.push(format!("expected {expect:?}, got follow-up"));
            }
            format!("FollowUp ({tracking_id})")
        }
        IngestResult::NewReport {
            tracking_id, ack, ..
        } => {
            let detail = store.report_detail(tracking_id);
            let suppressed = detail
                .as_ref()
                .ok()
                .and_then(|d| d.events.iter().find(|e| e.kind == "ack_suppressed"))
                .and_then(|e| e.detail.get("reason").and_then(|r| r.as_str()))
                .unwrap_or("")
                .to_string();
            match (expect, ack) {
                (Expect::Acked | Expect::Stored, Some(_)) => {}
                (Expect::Stored, None) => {}
                (Expect::NoAck(want), None) if suppressed.contains(want) => {}
                (Expect::NoAck(want), None) => problems.push(format!(
                    "ack suppressed for {suppressed:?}, expected {want:?}"
                )),
                (other, _) => problems.push(format!(
                    "expected {other:?}, got a new report ({})",
                    if ack.is_some() {
                        "ack queued".to_string()
                    } else {
                        format!("no ack: {suppressed}")
                    }
                )),
            }
            if let Ok(d) = &detail {
                for m in &d.messages {
                    for a in &m.attachments {
                        if let Some(name) = a.get("filename").and_then(|f| f.as_str()) {
                            if let Err(e) = safe_filename(name) {
                                problems.push(format!("stored attachment name {name:?}: {e}"));
                            }
                        }
                    }
                }
            }
            match ack {
                Some(ack_id) => {
                    if let Err(e) = check_ack(shared, &store, *ack_id, now) {
                        problems.push(format!("ack: {e}"));
                    }
                    format!("NewReport ({tracking_id}, ack queued, composed clean)")
                }
                None => format!("NewReport ({tracking_id}, no ack: {suppressed})"),
            }
        }
    };
    (summary, problems, prepare_ms)
}

/// Invariants of the parsed headers and attachment names, for every case.
fn prepared_invariants(p: &Prepared) -> Vec<String> {
    let mut problems = Vec::new();
    let headers = match &p.kind {
        PreparedKind::Mail(m) => {
            for a in &m.attachments {
                if let Some(name) = &a.filename {
                    if let Err(e) = safe_filename(name) {
                        problems.push(format!("attachment name {name:?}: {e}"));
                    }
                }
            }
            &m.headers
        }
        PreparedKind::Ignore { headers, .. } => headers,
        PreparedKind::Quarantine {
            reason,
            message_id,
            from_address,
        } => {
            if reason.trim().is_empty() {
                problems.push("quarantine without a reason".into());
            }
            for v in message_id.iter().chain(from_address) {
                if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    problems.push(format!("quarantine field {v:?} has control/space"));
                }
            }
            return problems;
        }
    };
    let one_line = |what: &str, v: &str, problems: &mut Vec<String>| {
        if v.chars().any(char::is_control) {
            problems.push(format!("{what} {v:?} contains control characters"));
        }
    };
    one_line("subject", &headers.subject, &mut problems);
    if let Some(n) = &headers.from_name {
        one_line("from name", n, &mut problems);
    }
    for id in headers
        .message_id
        .iter()
        .chain(&headers.in_reply_to)
        .chain(&headers.references)
    {
        if id.is_empty()
            || id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
        {
            problems.push(format!("message id {id:?} is not a clean id"));
        }
    }
    if let Some(a) = &headers.from_address {
        if a.chars().any(|c| c.is_control() || c.is_whitespace()) || a.matches('@').count() != 1 {
            problems.push(format!("from address {a:?} is not a clean address"));
        }
    }
    problems
}

/// What `sanitize_filename` promises: no directories, no control or
/// shell-special characters, no device names, at most 100 characters, safe
/// to show (no bidirectional overrides that disguise the extension).
fn safe_filename(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 100 {
        return Err(format!("length {}", name.chars().count()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || "/\\<>:\"|?*".contains(*c))
    {
        return Err(format!("contains {c:?}"));
    }
    if name.starts_with('.') {
        return Err("starts with a dot".into());
    }
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let device = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit()
            && stem.as_bytes()[3] != b'0');
    if device {
        return Err("is a Windows device name".into());
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            *c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
    }) {
        return Err(format!(
            "contains bidirectional control U+{:04X} (the shown extension is not the real one)",
            c as u32
        ));
    }
    Ok(())
}

/// Headers our ack may carry (what `compose` writes, plus mail-builder's MIME headers).
const OUR_HEADERS: [&str; 14] = [
    "from",
    "to",
    "subject",
    "message-id",
    "date",
    "auto-submitted",
    "x-auto-response-suppress",
    "reply-to",
    "in-reply-to",
    "references",
    "x-hexon-tracking-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Compose the queued ack exactly as the outbox worker does (unsigned plain
/// ack, the example config) and check that nothing can be injected.
fn check_ack(
    shared: &Shared,
    store: &Store,
    ack_id: i64,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let items = store.due_outbox(now, 100).map_err(|e| e.to_string())?;
    let item = items
        .iter()
        .find(|i| i.id == ack_id)
        .ok_or("queued ack is not due in the outbox")?;
    let report_id = item.report_id.ok_or("ack has no report")?;
    let facts = store.ack_facts(report_id).map_err(|e| e.to_string())?;
    if item.recipient != facts.reporter_address {
        return Err(format!(
            "outbox recipient {:?} is not the stored reporter {:?}",
            item.recipient, facts.reporter_address
        ));
    }
    let template = if facts.encrypted {
        "ack-neutral.txt.j2"
    } else {
        "ack.txt.j2"
    };
    let rendered = shared
        .templates
        .render(template, &facts, &shared.site, &shared.config.calendar)
        .map_err(|e| e.to_string())?;
    let envelope = Envelope {
        from: &shared.config.smtp.from,
        reply_to: shared.config.smtp.reply_to.as_deref(),
        to: &item.recipient,
        subject: &rendered.subject,
        message_id: &item.message_id,
        in_reply_to: item.in_reply_to.as_deref(),
        references: &item.references,
        tracking_id: Some(&facts.tracking_id),
        date: now,
    };
    let bytes = compose(&envelope, Body::Plain(text_entity(&rendered.body)));
    if std::env::var_os("HOSTILE_DUMP_ACK").is_some() {
        println!(
            "--- composed ack ---\n{}",
            String::from_utf8_lossy(&bytes).escape_debug()
        );
    }

    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("composed ack has no header/body separator")?;
    let section = &bytes[..end];
    for (i, &b) in section.iter().enumerate() {
        let bare_cr = b == b'\r' && section.get(i + 1) != Some(&b'\n');
        let bare_lf = b == b'\n' && (i == 0 || section[i - 1] != b'\r');
        if bare_cr || bare_lf || b == 0 {
            return Err(format!("bare CR/LF/NUL in our header section at byte {i}"));
        }
    }
    let text = String::from_utf8_lossy(section);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let name = line
            .split_once(':')
            .map(|(n, _)| n.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("header line without a name: {line:?}"))?;
        if !OUR_HEADERS.contains(&name.as_str()) {
            return Err(format!("header we did not write: {line:?}"));
        }
        *seen.entry(name).or_default() += 1;
    }
    if let Some((name, n)) = seen.iter().find(|(_, &n)| n > 1) {
        return Err(format!("header {name} appears {n} times"));
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(&bytes)
        .ok_or("composed ack does not parse")?;
    let to: Vec<String> = parsed
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.address())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if to.len() != 1 || !to[0].eq_ignore_ascii_case(&item.recipient) {
        return Err(format!(
            "To is {to:?}, expected exactly [{:?}]",
            item.recipient
        ));
    }
    if parsed.cc().is_some() || parsed.bcc().is_some() {
        return Err("ack carries Cc/Bcc".into());
    }
    let subject = parsed.subject().unwrap_or("");
    if subject.contains(['\r', '\n']) || !subject.contains(&facts.tracking_id) {
        return Err(format!("bad subject {subject:?}"));
    }
    if parsed.header_raw("X-Injected").is_some() {
        return Err("X-Injected header present".into());
    }
    // An ASCII Message-ID is echoed; an 8-bit one is deliberately not (RFC 5322 msg-ids are ASCII).
    let echoable = item
        .in_reply_to
        .as_deref()
        .is_some_and(|id| id.is_ascii() && !id.contains(' '));
    if echoable && parsed.in_reply_to().as_text().is_none() {
        return Err("In-Reply-To lost".into());
    }
    if let Some(irt) = parsed.header_raw("In-Reply-To") {
        if !irt.is_ascii() {
            return Err("non-ASCII In-Reply-To".into());
        }
    }
    Ok(())
}

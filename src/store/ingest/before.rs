//! What the intake asks the store about a fetched message before preparing
//! it: is it really our own reply copy, and which keys may verify its
//! signature. Reads only.

use rusqlite::OptionalExtension;

use super::super::{Cached, Result, Store};
use super::facts::find_referenced_report;
use crate::threading::ThreadRefs;

impl Store {
    /// The keys the store trusts for a mail From `from` that refers to
    /// `refs` (armored): the key pinned to the sender's address and the one
    /// pinned to the reporter of the report it refers to. Only these (and
    /// the team's) verify its signature; a key the mail brings never does.
    ///
    /// # Errors
    /// Database errors.
    pub fn trusted_keys(&self, from: Option<&str>, refs: &ThreadRefs) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        if let Some(from) = from {
            keys.extend(self.reporter_key(from)?);
        }
        if let Some(referenced) = find_referenced_report(&self.conn, refs)? {
            if let Some(id) = referenced.reporter_id {
                let key: Option<String> = self
                    .conn
                    .row_cached(
                        "SELECT key_armored FROM reporters WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                keys.extend(key.filter(|k| !keys.contains(k)));
            }
        }
        Ok(keys)
    }

    /// Is a fetched mail with this Message-ID and body digest (see
    /// [`body_digest`]) our own reply, as we sent it? The Message-ID alone is
    /// not enough (every recipient of a reply knows it): the body must be the
    /// exact bytes the outbox sent (the MTA adds only header lines on top).
    ///
    /// # Errors
    /// Database errors.
    pub fn is_own_copy(&self, message_id: &str, digest: &[u8; 32]) -> Result<bool> {
        let rendered: Option<Option<Vec<u8>>> = self
            .conn
            .row_cached(
                "SELECT rendered FROM outbox WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(Some(rendered)) = rendered else {
            return Ok(false);
        };
        Ok(body_digest(&rendered).is_some_and(|d| &d == digest))
    }
}

/// SHA-256 of a message's body (the bytes after the header block) up to
/// line endings (a Maildir may keep LF where IMAP serves CRLF) and trailing
/// white space; `None` without a body.
pub fn body_digest(message: &[u8]) -> Option<[u8; 32]> {
    use sha2::Digest;
    let body = body_of(message)?;
    let mut h = sha2::Sha256::new();
    for chunk in body.trim_ascii_end().split(|c| *c == b'\r') {
        h.update(chunk);
    }
    Some(h.finalize().into())
}

/// The bytes after the header block.
fn body_of(message: &[u8]) -> Option<&[u8]> {
    let crlf = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let start = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    message.get(start..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_compare_up_to_line_endings() {
        let sent = b"From: a\r\nSubject: x\r\n\r\nline 1\r\nline 2\r\n";
        let got = b"Return-Path: <a>\nDelivered-To: b\nFrom: a\nSubject: x\n\nline 1\nline 2\n";
        assert_eq!(body_digest(got), body_digest(sent));
        let forged = b"From: a\r\n\r\nline 1\r\nline 3\r\n";
        assert_ne!(body_digest(forged), body_digest(sent));
        assert!(body_digest(b"no body").is_none());
    }
}

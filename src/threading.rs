//! Threading: which existing report a message may belong to.
//!
//! Pure: extracts tracking ids from the subject and the Message-IDs a message
//! refers to. Whether a candidate is accepted (the sender must be the
//! reporter) is decided by the store inside the ingest transaction.

use crate::parse::Headers;

/// What a message points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadRefs {
    /// Tracking ids such as `HEXON-2026-0001` found in the subject.
    pub tracking_ids: Vec<String>,
    /// Message-IDs from In-Reply-To and References, nearest first.
    pub message_ids: Vec<String>,
}

impl ThreadRefs {
    pub fn is_empty(&self) -> bool {
        self.tracking_ids.is_empty() && self.message_ids.is_empty()
    }
}

/// Collect thread references for `headers` given our tracking-id `prefix`.
pub fn refs_of(headers: &Headers, prefix: &str) -> ThreadRefs {
    let mut message_ids: Vec<String> = headers.in_reply_to.clone();
    for id in headers.references.iter().rev() {
        if !message_ids.contains(id) {
            message_ids.push(id.clone());
        }
    }
    message_ids.truncate(50);
    ThreadRefs {
        tracking_ids: tracking_ids_in(&headers.subject, prefix),
        message_ids,
    }
}

/// Every `PREFIX-YYYY-NNNN` in `text` (case-insensitive prefix, upper-cased).
pub fn tracking_ids_in(text: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let upper = text.to_ascii_uppercase();
    let needle = format!("{}-", prefix.to_ascii_uppercase());
    let mut rest = upper.as_str();
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        let year: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        let candidate = if year.len() == 4 && after[4..].starts_with('-') {
            let seq: String = after[5..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            (4..=8)
                .contains(&seq.len())
                .then(|| format!("{}{}-{}", needle, year, seq))
        } else {
            None
        };
        let boundary_ok = pos == 0 || !rest.as_bytes()[pos - 1].is_ascii_alphanumeric();
        if let (Some(id), true) = (candidate, boundary_ok) {
            if !found.contains(&id) {
                found.push(id);
            }
        }
        rest = &rest[pos + needle.len()..];
    }
    found.truncate(5);
    found
}

/// Format a tracking id.
pub fn format_tracking_id(prefix: &str, year: i32, seq: i64) -> String {
    format!("{prefix}-{year}-{seq:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tracking_ids_in_subject() {
        assert_eq!(
            tracking_ids_in("Re: [HEXON-2026-0007] Report received", "HEXON"),
            vec!["HEXON-2026-0007"]
        );
        assert_eq!(
            tracking_ids_in("re: hexon-2026-12345 more", "HEXON"),
            vec!["HEXON-2026-12345"]
        );
        assert!(tracking_ids_in("XHEXON-2026-0001", "HEXON").is_empty());
        assert!(tracking_ids_in("HEXON-26-1", "HEXON").is_empty());
        assert!(tracking_ids_in("HEXON-2026-", "HEXON").is_empty());
        assert!(tracking_ids_in("HEXON-", "HEXON").is_empty());
        assert!(tracking_ids_in("ÄHEXON-2026-0001é", "HEXON").len() <= 1);
    }

    #[test]
    fn in_reply_to_comes_first() {
        let h = Headers {
            in_reply_to: vec!["b@x".into()],
            references: vec!["a@x".into(), "b@x".into()],
            ..Headers::default()
        };
        assert_eq!(refs_of(&h, "HEXON").message_ids, vec!["b@x", "a@x"]);
    }

    #[test]
    fn formats_tracking_ids() {
        assert_eq!(format_tracking_id("HEXON", 2026, 1), "HEXON-2026-0001");
        assert_eq!(format_tracking_id("HEXON", 2026, 12345), "HEXON-2026-12345");
    }
}

//! Loop guard (RFC 3834): decides whether an inbound message may get an
//! automatic reply, and whether it is mail at all (bounces, auto-replies and
//! our own messages are not reports).
//!
//! Pure: looks only at parsed headers and the configured own address/domain.

use crate::parse::Headers;

/// What the pipeline may do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A human's mail: store it and reply.
    Reply,
    /// Store it as a report, but never auto-reply (bulk, lists, automated senders).
    NoReply(String),
    /// Not a report at all (bounce, auto-reply, our own mail): store the
    /// message as ignored, create no report, never reply.
    Ignore(String),
}

/// Classify `headers` for automatic replies.
///
/// `own_address` is our From address; `own_message_id_domain` the domain of
/// the Message-IDs we generate.
pub fn check(headers: &Headers, own_address: &str, own_message_id_domain: &str) -> Verdict {
    let from = headers.from_address.as_deref().unwrap_or("");
    let own_suffix = format!("@{}", own_message_id_domain.to_ascii_lowercase());
    if from.eq_ignore_ascii_case(own_address)
        || headers.message_id.as_deref().is_some_and(|id| {
            id.to_ascii_lowercase().ends_with(&own_suffix) && id.starts_with("hexon-triage.")
        })
        || headers
            .x_loop
            .iter()
            .any(|v| v.eq_ignore_ascii_case(own_address))
    {
        return Verdict::Ignore("our own message".into());
    }
    if headers.content_type == "multipart/report"
        || headers.report_type.as_deref() == Some("delivery-status")
        || headers.report_type.as_deref() == Some("disposition-notification")
    {
        return Verdict::Ignore("delivery status notification".into());
    }
    let local = from.split('@').next().unwrap_or("");
    if local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster") {
        return Verdict::Ignore(format!("sender is {local}"));
    }
    match headers.auto_submitted.as_deref() {
        None | Some("no") => {}
        Some(value) if value.starts_with("auto-replied") => {
            return Verdict::Ignore(format!("Auto-Submitted: {value}"));
        }
        Some(value) => return Verdict::NoReply(format!("Auto-Submitted: {value}")),
    }
    if headers.return_path_null {
        return Verdict::Ignore("null return path".into());
    }
    if let Some(p) = headers.precedence.as_deref() {
        if ["bulk", "junk", "list"].contains(&p) {
            return Verdict::NoReply(format!("Precedence: {p}"));
        }
    }
    if headers.has_list_headers {
        return Verdict::NoReply("mailing-list headers".into());
    }
    if from.is_empty() {
        return Verdict::NoReply("no sender address".into());
    }
    if local.eq_ignore_ascii_case("noreply") || local.eq_ignore_ascii_case("no-reply") {
        return Verdict::NoReply(format!("sender is {local}"));
    }
    Verdict::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human() -> Headers {
        Headers {
            from_address: Some("alice@researcher.test".into()),
            message_id: Some("m1@researcher.test".into()),
            content_type: "text/plain".into(),
            ..Headers::default()
        }
    }

    fn verdict(h: &Headers) -> Verdict {
        check(h, "security@hexon.test", "hexon.test")
    }

    #[test]
    fn replies_to_a_human() {
        assert_eq!(verdict(&human()), Verdict::Reply);
    }

    #[test]
    fn ignores_auto_replies_and_bounces() {
        let mut h = human();
        h.auto_submitted = Some("auto-replied".into());
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
        let mut h = human();
        h.content_type = "multipart/report".into();
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
        let mut h = human();
        h.from_address = Some("MAILER-DAEMON@mx.test".into());
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
        let mut h = human();
        h.return_path_null = true;
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
    }

    #[test]
    fn ignores_our_own_mail() {
        let mut h = human();
        h.from_address = Some("security@hexon.test".into());
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
        let mut h = human();
        h.message_id = Some("hexon-triage.abc@hexon.test".into());
        assert!(matches!(verdict(&h), Verdict::Ignore(_)));
    }

    #[test]
    fn stores_but_does_not_answer_bulk_and_lists() {
        let mut h = human();
        h.precedence = Some("bulk".into());
        assert!(matches!(verdict(&h), Verdict::NoReply(_)));
        let mut h = human();
        h.has_list_headers = true;
        assert!(matches!(verdict(&h), Verdict::NoReply(_)));
        let mut h = human();
        h.auto_submitted = Some("auto-generated".into());
        assert!(matches!(verdict(&h), Verdict::NoReply(_)));
        let mut h = human();
        h.auto_submitted = Some("no".into());
        assert_eq!(verdict(&h), Verdict::Reply);
    }
}

//! Which signed object vouches for the mail: a signature counts only over
//! the exact bytes whose text is used (issue 16). Pure.

use mail_parser::{Message, PartType};

use super::pgp::{classify_bytes, combine_objects, PgpKind};
use super::{content_type_is, is_pgp_candidate, SignatureStatus};

/// How much of the mail one signed object covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cover {
    /// Everything the mail's text and attachments are read from.
    Whole,
    /// One part, block or attachment beside unsigned content.
    Part,
}

/// The mail's signature status: a signature counts only over the exact
/// bytes whose text is used. The weakest status among the objects that
/// cover the whole content wins; a bad signature anywhere makes it bad; a
/// good signature over only a part leaves the mail unsigned (an attacker
/// can paste someone's signed text beside their own).
pub(super) fn combine_coverage(
    statuses: impl IntoIterator<Item = (SignatureStatus, Cover)>,
) -> SignatureStatus {
    let (whole, part): (Vec<_>, Vec<_>) =
        statuses.into_iter().partition(|(_, c)| *c == Cover::Whole);
    if let Some((bad, _)) = part
        .iter()
        .find(|(s, _)| matches!(s, SignatureStatus::Bad { .. }))
    {
        return bad.clone();
    }
    if !whole.is_empty() {
        return combine_objects(whole.into_iter().map(|(s, _)| s));
    }
    combine_objects(part.into_iter().map(|(s, _)| match s {
        SignatureStatus::Good { .. } => SignatureStatus::None,
        other => other,
    }))
}

/// Parts the mail's content is read from: text bodies, attachments and
/// attached messages; key and detached-signature parts do not count.
pub(super) fn content_parts(msg: &Message<'_>) -> usize {
    msg.parts
        .iter()
        .filter(|part| match part.body {
            PartType::Multipart(_) => false,
            PartType::Message(_) => true,
            _ => {
                !(content_type_is(part, "application", "pgp-signature")
                    || content_type_is(part, "application", "pgp-keys")
                    || (is_pgp_candidate(part) && classify_bytes(part.contents()) == PgpKind::Keys))
            }
        })
        .count()
}

/// Nothing but white space outside `range` in `text`.
pub(super) fn outside_is_blank(text: &str, range: &std::ops::Range<usize>) -> bool {
    let before = text.get(..range.start).unwrap_or("x");
    let after = text.get(range.end..).unwrap_or("x");
    before.trim().is_empty() && after.trim().is_empty()
}

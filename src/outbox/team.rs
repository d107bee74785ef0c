//! Building team mail rows (issue 12): a member's reply relayed to the
//! reporter, and a short notice to a member.
//!
//! CPU only (runs inside the outbox's blocking build). A reply is encrypted
//! to the reporter's PINNED key and the team key and signed by the team key
//! when a key is pinned; a reply to an encrypted report without a usable
//! pinned key is never built (fail closed: the row is marked failed, never
//! sent in clear). The daemon adds no report content: the template gets the
//! member's text and the tracking id only.

use chrono::{DateTime, Utc};

use super::compose::{self, Body};
use super::render::Rendered;
use super::{Builder, OutboxError};
use crate::open;
use crate::store::{AckFacts, OutboxItem};

/// Most bytes a sealed team text may open to.
const MAX_TEXT: usize = 4 * 1024 * 1024;

impl Builder {
    /// The member's text: clear from the row, or opened with the team key.
    fn team_text(&self, item: &OutboxItem) -> Result<String, OutboxError> {
        if let Some(text) = &item.body {
            return Ok(text.clone());
        }
        let sealed = item
            .body_sealed
            .as_deref()
            .ok_or_else(|| OutboxError::Seal("team reply has no text".into()))?;
        let bytes = open::open_sealed(sealed.as_bytes(), &self.team_keys, MAX_TEXT)
            .map_err(|e| OutboxError::Seal(e.reason()))?;
        String::from_utf8(bytes).map_err(|_| OutboxError::Seal("team reply is not UTF-8".into()))
    }

    pub(super) fn build_team_reply(
        &self,
        item: &OutboxItem,
        facts: &AckFacts,
        now: DateTime<Utc>,
    ) -> Result<(Rendered, Body), OutboxError> {
        let value = serde_json::json!({
            "reply": self.team_text(item)?,
            "member": item.member,
        });
        let rendered = self.templates.render_with(
            "team-reply.txt.j2",
            facts,
            &self.site,
            &self.config.calendar,
            &value,
        )?;
        let reporter_cert = facts
            .reporter_key
            .as_deref()
            .and_then(|armored| open::parse_cert(armored.as_bytes()).ok())
            .filter(|cert| open::usable_for_encryption(cert, now));
        let body = match reporter_cert {
            Some(cert) if !self.team_keys.is_empty() => {
                let inner = compose::protected_entity(&rendered.body, &rendered.subject);
                let mut recipients = vec![cert];
                recipients.extend(self.team_keys.public_certs());
                Body::Sealed(
                    open::seal_pgp_mime(&inner, &recipients, &self.team_keys)
                        .map_err(|e| OutboxError::Seal(e.reason()))?,
                )
            }
            _ if facts.encrypted => {
                return Err(OutboxError::Seal(
                    "the report came encrypted and there is no usable pinned reporter key (and team key): not sent in clear"
                        .into(),
                ))
            }
            _ => self.maybe_signed(&rendered.body)?,
        };
        Ok((rendered, body))
    }

    pub(super) fn build_team_notice(
        &self,
        item: &OutboxItem,
        facts: &AckFacts,
    ) -> Result<(Rendered, Body), OutboxError> {
        let value = serde_json::json!({
            "reason": item.body.as_deref().unwrap_or("team mail not accepted"),
        });
        let rendered = self.templates.render_with(
            "team-notice.txt.j2",
            facts,
            &self.site,
            &self.config.calendar,
            &value,
        )?;
        let body = self.maybe_signed(&rendered.body)?;
        Ok((rendered, body))
    }
}

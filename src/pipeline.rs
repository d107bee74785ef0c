//! The pure pipeline: raw bytes → open → parse → triage → [`Prepared`].
//!
//! CPU only, no I/O: the caller supplies the reporter's pinned key (read from
//! the store) and commits the result with `Store::ingest`. Every failure
//! becomes a quarantine with a reason; nothing here panics or drops a message.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sequoia_openpgp::Cert;

use crate::atrest::AtRest;
use crate::authres;
use crate::config::Config;
use crate::loopguard::{self, Verdict};
use crate::metrics;
use crate::model::{
    sha256_hex, IngestPolicy, OfferedKey, Prepared, PreparedKind, PreparedMail, SourceRef,
};
use crate::open::{self, OpenError, OpenLimits, TeamKeys};
use crate::parse::{self, Attachment, ParseLimits};
use crate::sla::BusinessCalendar;
use crate::threading;
use crate::triage::{self, ReportText, Triage};

/// Run `f`, a parse of untrusted bytes, under the panic guard: a panic
/// (mail-parser has debug assertions and overflow checks that hostile input
/// reaches) is `None`, never a dead worker or a crash-looping daemon. Every
/// parse in the intake goes through this (headers included).
pub fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Everything the pure pipeline needs, built once from the config.
pub struct Pipeline {
    pub parse_limits: ParseLimits,
    pub open_limits: OpenLimits,
    /// Loaded once; the outbox seals and signs with the same value.
    pub team_keys: Arc<TeamKeys>,
    /// The triage policy, compiled once.
    pub triage: Triage,
    pub calendar: BusinessCalendar,
    pub own_address: String,
    pub message_id_domain: String,
    pub tracking_prefix: String,
    pub ack_business_days: u32,
    pub assessment_business_days: u32,
    /// Token key and sealing for what an encrypted report leaves at rest.
    pub at_rest: AtRest,
    /// The receiving server's authserv-id (`imap.authserv_id`).
    pub authserv_id: Option<String>,
    /// `[[team.members]]` with their certs (issue 12): passed as trusted
    /// certs when a mail is opened, never taken from the mail.
    pub team: crate::team::members::TeamMembers,
}

/// What of a classified mail goes to the store: for an encrypted report the
/// evidence, signals and CVSS vector only sealed to the team key, and every
/// digest and the duplicate fingerprint keyed (see [`AtRest`]).
struct RestForm {
    classification: triage::Classification,
    fingerprint: triage::Fingerprint,
    body_token: String,
    content_digest: String,
    sealed_details: Option<String>,
}

/// The signer of a good signature, or the key of a bad one when known.
fn signer_of(signature: &open::SignatureStatus) -> Option<String> {
    match signature {
        open::SignatureStatus::Good { fingerprint } => Some(fingerprint.clone()),
        open::SignatureStatus::Bad { fingerprint, .. } => fingerprint.clone(),
        _ => None,
    }
}

fn offered_keys(opened: &open::Opened) -> Vec<OfferedKey> {
    opened
        .discovered_keys
        .iter()
        .map(|k| OfferedKey {
            fingerprint: k.fingerprint.clone(),
            addresses: k.addresses.clone(),
            armored: k.armored.clone(),
            source: k.source,
        })
        .collect()
}

impl Pipeline {
    /// Load the team keys and build the pipeline.
    ///
    /// # Errors
    /// The team keys cannot be loaded.
    pub fn from_config(config: &Config) -> Result<Pipeline, OpenError> {
        let team_keys = TeamKeys::load(
            &config.openpgp.team_keys,
            config.openpgp.passphrase.as_ref().map(|s| s.expose()),
        )?;
        let team = crate::team::members::TeamMembers::load(&config.team).map_err(|e| {
            OpenError::BadKeyFile {
                path: format!("team.members[{}].cert {}", e.index, e.path),
                reason: e.reason,
            }
        })?;
        let mut pipeline = Pipeline::with_team_keys(config, Arc::new(team_keys));
        pipeline.team = team;
        Ok(pipeline)
    }

    /// Build the pipeline around team keys that are already loaded.
    pub fn with_team_keys(config: &Config, team_keys: Arc<TeamKeys>) -> Pipeline {
        let at_rest = AtRest::from_team(&team_keys);
        Pipeline {
            parse_limits: ParseLimits {
                max_message_bytes: config.limits.max_message_bytes,
                max_attachments: config.limits.max_attachments,
                max_mime_depth: config.limits.max_mime_depth,
                max_text_bytes: 1024 * 1024,
            },
            open_limits: OpenLimits {
                max_decrypted_bytes: config.limits.max_decrypted_bytes,
                max_armored_blocks: 16,
            },
            team_keys,
            triage: Triage::new(&config.triage),
            calendar: config.calendar.clone(),
            own_address: config.smtp.from_address.clone(),
            message_id_domain: config.ack.message_id_domain.clone(),
            tracking_prefix: config.ack.tracking_prefix.clone(),
            ack_business_days: config.ack.ack_business_days,
            assessment_business_days: config.ack.assessment_business_days,
            at_rest,
            authserv_id: config.imap.authserv_id.clone(),
            team: crate::team::members::TeamMembers::default(),
        }
    }

    /// The settings of the ingest transaction for a source.
    pub fn policy(config: &Config, send_acks: bool) -> IngestPolicy {
        IngestPolicy {
            tracking_prefix: config.ack.tracking_prefix.clone(),
            message_id_domain: config.ack.message_id_domain.clone(),
            // NOTE: in move mode the report ends up in `move_to`; its reply copy goes there too.
            copy_folder: config.ack.copy_folder.clone().or_else(|| {
                (config.imap.mark == crate::config::MarkMode::Move)
                    .then(|| config.imap.move_to.clone())
            }),
            append_copies: config.ack.copy_mode == crate::config::CopyMode::Append,
            team_address: config.ack.team_address.clone(),
            per_sender_per_hour: config.rate_limits.per_sender_per_hour,
            global_per_hour: config.rate_limits.global_per_hour,
            reserved_authenticated_per_hour: config.rate_limits.reserved_authenticated_per_hour,
            global_window_secs: config.rate_limits.global_window_secs,
            send_acks,
            team_max_signature_age_days: config.team.max_signature_age_days,
            status_notices: config.team.status_notices.clone(),
        }
    }

    /// The sender's address, if the headers can be read (to look up a pinned
    /// key); under the panic guard.
    pub fn sender_of(&self, raw: &[u8]) -> Option<String> {
        guarded(|| parse::parse_headers(raw, &self.parse_limits))?
            .ok()?
            .from_address
    }

    /// A message the server reported as `size` bytes, past
    /// `limits.max_message_bytes`, of which only the header section
    /// (`headers`) was fetched: quarantined with the reason, the headers kept
    /// as its raw bytes (nothing lost: it is on record, and still on the
    /// server). The headers are parsed under the panic guard.
    pub fn prepare_oversize(
        &self,
        headers: Vec<u8>,
        size: u64,
        source: SourceRef,
        now: DateTime<Utc>,
    ) -> Prepared {
        let parsed = guarded(|| parse::parse_headers(&headers, &self.parse_limits))
            .and_then(Result::ok)
            .unwrap_or_default();
        let reason = format!(
            "too large: message is {size} bytes (RFC822.SIZE), limit is {}; only its headers were fetched and kept",
            self.parse_limits.max_message_bytes
        );
        Prepared {
            sha256: sha256_hex(&headers),
            raw: headers,
            source,
            received_at: now,
            kind: PreparedKind::Quarantine {
                reason,
                message_id: parsed.message_id,
                from_address: parsed.from_address,
            },
        }
    }

    /// Open, parse and classify one message. Never fails: problems become a quarantine.
    pub fn prepare(
        &self,
        raw: Vec<u8>,
        source: SourceRef,
        now: DateTime<Utc>,
        sender_certs: &[Cert],
    ) -> Prepared {
        let sha256 = sha256_hex(&raw);
        let mut with_team;
        let sender_certs = if self.team.is_empty() {
            sender_certs
        } else {
            // NOTE: member certs are trusted certs, so a member's signature is
            // never "by a key the mail offered".
            with_team = sender_certs.to_vec();
            with_team.extend(self.team.certs());
            with_team.as_slice()
        };
        // NOTE: a panic inside a parser (mail-parser has debug assertions that
        // hostile input reaches) becomes a quarantine, never a dead worker.
        let kind = guarded(|| self.classify_raw(&raw, now, sender_certs)).unwrap_or_else(|| {
            PreparedKind::Quarantine {
                reason: "cannot parse: internal parser failure".into(),
                message_id: None,
                from_address: None,
            }
        });
        Prepared {
            raw,
            sha256,
            source,
            received_at: now,
            kind,
        }
    }

    fn classify_raw(&self, raw: &[u8], now: DateTime<Utc>, sender_certs: &[Cert]) -> PreparedKind {
        let headers = match parse::parse_headers(raw, &self.parse_limits) {
            Ok(h) => h,
            Err(e) => {
                return PreparedKind::Quarantine {
                    reason: e.to_string(),
                    message_id: None,
                    from_address: None,
                }
            }
        };
        let quarantine = |reason: String| PreparedKind::Quarantine {
            reason,
            message_id: headers.message_id.clone(),
            from_address: headers.from_address.clone(),
        };
        let verdict = loopguard::check(&headers, &self.own_address, &self.message_id_domain);
        if let Verdict::Ignore(reason) = verdict {
            return PreparedKind::Ignore {
                reason,
                headers: Box::new(headers),
            };
        }
        if headers.from_address.is_none() {
            return quarantine(parse::ParseError::NoSender.to_string());
        }
        let (opened, text, attachments) = match self.open_content(raw, sender_certs) {
            Ok(content) => content,
            Err(reason) => return quarantine(reason),
        };
        self.triage_mail(headers, verdict, &opened, text, attachments, now)
    }

    /// Decrypt/verify and read text and attachments (decrypted ones included);
    /// `Err` is a quarantine reason.
    fn open_content(
        &self,
        raw: &[u8],
        sender_certs: &[Cert],
    ) -> Result<(open::Opened, String, Vec<Attachment>), String> {
        // One parse of the raw message serves decryption, signature checks and
        // content; a decrypted PGP/MIME entity is parsed once more, inside open.
        let t_parse = std::time::Instant::now();
        let Some(outer) = parse::parse_flat(raw) else {
            return Err(parse::ParseError::NoHeaders.to_string());
        };
        let mut content_time = t_parse.elapsed();
        let t_open = std::time::Instant::now();
        let limits = &self.parse_limits;
        let opened = open::open_with(
            raw,
            &outer,
            &self.team_keys,
            sender_certs,
            &self.open_limits,
            |msg| {
                let t = std::time::Instant::now();
                let content = parse::content(msg, limits);
                (content, t.elapsed())
            },
        );
        drop(outer);
        let (opened, (content, parse_time)) = match opened {
            Ok(o) => o,
            Err(e) => {
                metrics::record(metrics::Stage::Open, t_open, 1);
                return Err(e.reason());
            }
        };
        metrics::record_duration(
            metrics::Stage::Open,
            t_open.elapsed().saturating_sub(parse_time),
            1,
        );
        content_time += parse_time;
        let t_parse = std::time::Instant::now();
        let from_pgp_mime = opened.pgp_mime;
        if from_pgp_mime && opened.entity.len() > limits.max_message_bytes {
            return Err(format!(
                "decrypted content: {}",
                parse::ParseError::TooLarge {
                    size: opened.entity.len(),
                    limit: limits.max_message_bytes,
                }
            ));
        }
        let (mut text, mut attachments) = match content {
            Ok(c) => c,
            Err(e) if from_pgp_mime => return Err(format!("decrypted content: {e}")),
            Err(e) => return Err(e.to_string()),
        };
        if let Some(inline) = &opened.inline_text {
            text = inline.clone();
        }
        self.add_decrypted_attachments(&opened, &mut text, &mut attachments);
        if attachments.len() > self.parse_limits.max_attachments {
            return Err(format!(
                "cannot parse: {} attachments, limit is {}",
                attachments.len(),
                self.parse_limits.max_attachments
            ));
        }
        metrics::record_duration(metrics::Stage::Parse, content_time + t_parse.elapsed(), 1);
        Ok((opened, text, attachments))
    }

    /// Decrypted attachments join the attachment list, and their text the
    /// body (up to the text limit).
    fn add_decrypted_attachments(
        &self,
        opened: &open::Opened,
        text: &mut String,
        attachments: &mut Vec<Attachment>,
    ) {
        for (name, bytes) in &opened.decrypted_attachments {
            attachments.push(Attachment {
                filename: parse::sanitize_filename(name),
                content_type: "application/octet-stream".into(),
                size: bytes.len(),
                sha256: sha256_hex(bytes),
            });
            if let Ok(s) = std::str::from_utf8(bytes) {
                if text.len() + s.len() <= self.parse_limits.max_text_bytes {
                    text.push_str("\n\n");
                    text.push_str(s);
                }
            }
        }
    }

    /// Classify an opened mail: triage, fingerprint, credit, thread refs, deadlines.
    fn triage_mail(
        &self,
        headers: parse::Headers,
        verdict: Verdict,
        opened: &open::Opened,
        text: String,
        attachments: Vec<Attachment>,
        now: DateTime<Utc>,
    ) -> PreparedKind {
        let t_triage = std::time::Instant::now();
        let subject = opened
            .protected_subject
            .as_deref()
            .map(|s| parse::clean_line(s, 998))
            .unwrap_or_else(|| headers.subject.clone());
        let attachment_names: Vec<String> = attachments
            .iter()
            .filter_map(|a| a.filename.clone())
            .collect();
        let report_text = ReportText {
            subject: &subject,
            body: &text,
            attachment_names: &attachment_names,
        };
        let classification = self.triage.classify(&report_text);
        let fingerprint = triage::fingerprint(&report_text, &classification);
        let credit = triage::parse_credit(&text);
        let mut refs = threading::refs_of(&headers, &self.tracking_prefix);
        for id in threading::tracking_ids_in(&subject, &self.tracking_prefix) {
            if !refs.tracking_ids.contains(&id) {
                refs.tracking_ids.push(id);
            }
        }
        let from = headers.from_address.as_deref().unwrap_or_default();
        let sender_auth = authres::verdict(
            &headers.authentication_results,
            self.authserv_id.as_deref(),
            from,
        );
        let mut attachments = attachments;
        let rest = self.rest_form(
            opened.encrypted,
            classification,
            &fingerprint,
            &text,
            &mut attachments,
        );
        let mut headers = headers;
        if opened.encrypted {
            // NOTE: the stored/visible subject of an encrypted report must not be plaintext.
            headers.subject = subject.clone();
        }
        let team = self.team_claim(&headers, opened, &text);
        metrics::record(metrics::Stage::Triage, t_triage, 1);
        PreparedKind::Mail(Box::new(PreparedMail {
            headers,
            text,
            attachments,
            encrypted: opened.encrypted,
            signature: opened.signature.kind(),
            signer_fingerprint: signer_of(&opened.signature),
            signer_offered: opened.signed_by_offered_key,
            sender_auth,
            discovered_keys: offered_keys(opened),
            classification: rest.classification,
            fingerprint: rest.fingerprint,
            body_sha256: rest.body_token,
            content_digest: rest.content_digest,
            sealed_details: rest.sealed_details,
            credit,
            verdict,
            refs,
            ack_due: self.calendar.add_business_days(now, self.ack_business_days),
            assessment_due: self
                .calendar
                .add_business_days(now, self.assessment_business_days),
            team,
        }))
    }

    /// Does the mail claim to come from the team (From a member address, or
    /// a signature by a member key)? Then its commands are read and its
    /// relayable text sealed to the team key (issue 12). Whether the claim
    /// holds is `decide`'s rule.
    fn team_claim(
        &self,
        headers: &parse::Headers,
        opened: &open::Opened,
        text: &str,
    ) -> Option<crate::model::TeamClaim> {
        if self.team.is_empty() {
            return None;
        }
        let from = headers.from_address.as_deref().unwrap_or_default();
        let by_address = self.team.by_address(from).cloned();
        let by_key =
            signer_of(&opened.signature).and_then(|f| self.team.by_fingerprint(&f).cloned());
        if by_address.is_none() && by_key.is_none() {
            return None;
        }
        let commands = crate::team::parse_commands(text, &self.team.names());
        let sealed_body = self.at_rest.seal(&commands.body);
        Some(crate::model::TeamClaim {
            by_address,
            by_key,
            signed_at: opened.oldest_good_signature,
            note_address: headers
                .recipients
                .iter()
                .any(|r| crate::team::is_note_address(r)),
            commands,
            sealed_body,
        })
    }
}

impl Pipeline {
    /// The form in which `classification`, the fingerprint and the digests
    /// rest in the store (see [`RestForm`]).
    fn rest_form(
        &self,
        encrypted: bool,
        mut classification: triage::Classification,
        fingerprint: &triage::Fingerprint,
        text: &str,
        attachments: &mut [Attachment],
    ) -> RestForm {
        let normalized: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let body_token = self.at_rest.token("body", normalized.as_bytes());
        let mut content = body_token.clone();
        for a in attachments.iter_mut() {
            if encrypted {
                a.sha256 = self.at_rest.token("attachment", a.sha256.as_bytes());
            }
            content.push(' ');
            content.push_str(&a.sha256);
        }
        let mut sealed_details = None;
        if encrypted {
            let details = serde_json::json!({
                "component_evidence": std::mem::take(&mut classification.component_evidence),
                "out_of_scope_evidence": std::mem::take(&mut classification.out_of_scope_evidence),
                "signals": std::mem::take(&mut classification.signals),
                "cvss_vector": classification.cvss.as_mut().map(|c| std::mem::take(&mut c.vector)),
                "missing_evidence": std::mem::take(&mut classification.review.missing_evidence),
                "critical_evidence": std::mem::take(&mut classification.review.critical_evidence),
            });
            classification.indicators.clear();
            // NOTE: without a team key nothing is sealed and the details are dropped, never kept clear.
            sealed_details = self.at_rest.seal(&details.to_string());
        }
        RestForm {
            classification,
            fingerprint: self.at_rest.keyed_fingerprint(fingerprint),
            body_token,
            content_digest: self.at_rest.token("content", content.as_bytes()),
            sealed_details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn the_panic_guard_turns_a_panic_into_none() {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = guarded(|| -> u32 { panic!("parser bug") });
        std::panic::set_hook(quiet);
        assert_eq!(caught, None);
        assert_eq!(guarded(|| 7), Some(7));
    }
}

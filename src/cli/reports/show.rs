//! `reports show ID [--decrypt] [--json]`: one report with its labels,
//! deadlines, messages, replies and audit trail.
//!
//! I/O: reads the store; with `--decrypt` loads the full config and team keys
//! and decrypts stored ciphertext in memory (the plaintext is only printed,
//! never stored). Report text is neutralised with [`printable`].

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::super::table::printable;
use super::super::{exit, load_config, ExitError};
use super::no_such_report;
use crate::store::{ReportDetail, Store, StoreError};

/// `reports show ID`.
pub(super) fn show(
    store: &Store,
    id: &str,
    decryptor: Option<&Decryptor>,
    json: bool,
) -> Result<i32> {
    let mut detail = match store.report_detail(id) {
        Ok(d) => d,
        Err(StoreError::NoSuchReport(id)) => return Err(no_such_report(id)),
        Err(e) => return Err(e.into()),
    };
    if let Some(decryptor) = decryptor {
        decryptor.open_details(&mut detail);
        for m in detail.messages.iter_mut().filter(|m| m.encrypted) {
            if let Some(raw) = store.raw_message(m.id)? {
                m.body_text = Some(decryptor.text(&raw));
            }
        }
    }
    let advisories = store
        .report_advisories(&detail.report.tracking_id)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let conversation = store.conversation(&detail.report.tracking_id)?;
    if json {
        let mut v = serde_json::to_value(&detail)?;
        v["conversation"] = serde_json::to_value(&conversation)?;
        v["advisories"] = serde_json::json!(advisories
            .iter()
            .map(|(id, status)| serde_json::json!({ "advisory_id": id, "status": status }))
            .collect::<Vec<_>>());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    let mut out = std::io::stdout().lock();
    write_labels(&mut out, &detail)?;
    write_deadlines(&mut out, &detail)?;
    for (id, status) in &advisories {
        writeln!(out, "  advisory:        {id} ({status})")?;
    }
    write_messages(&mut out, &detail)?;
    write_conversation(&mut out, &conversation)?;
    write_replies_and_trail(&mut out, &detail)?;
    Ok(exit::OK)
}

/// The conversation in order (issue 12): mails, replies with their delivery
/// state and member, notes, quick actions. No text.
fn write_conversation(
    out: &mut impl Write,
    entries: &[crate::store::team::ConversationEntry],
) -> std::io::Result<()> {
    writeln!(out, "\nconversation:")?;
    for e in entries {
        write!(
            out,
            "  {}  {:<18} {:<28} {}",
            printable(&e.at),
            printable(&e.what),
            printable(&e.who),
            printable(&e.state)
        )?;
        match &e.detail {
            Some(d) => writeln!(out, "  {}", printable(d))?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

/// The report's labels: reporter, subject, scope, completeness, severity.
fn write_labels(out: &mut impl Write, detail: &ReportDetail) -> std::io::Result<()> {
    let r = &detail.report;
    writeln!(out, "{}  [{}]", r.tracking_id, r.status)?;
    writeln!(out, "  reporter:        {}", r.reporter)?;
    writeln!(
        out,
        "  subject:         {}",
        r.subject.as_deref().unwrap_or("(encrypted)")
    )?;
    writeln!(
        out,
        "  encrypted:       {}",
        if r.encrypted { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "  component:       {}  {:?}",
        r.component.as_deref().unwrap_or("unknown"),
        detail.component_evidence
    )?;
    if let Some(oos) = &r.out_of_scope {
        writeln!(
            out,
            "  out of scope:    {oos}  {:?}",
            detail.out_of_scope_evidence
        )?;
    }
    writeln!(
        out,
        "  missing:         {}",
        if r.missing.is_empty() {
            "nothing".into()
        } else {
            r.missing.join(", ")
        }
    )?;
    write_confidence(out, detail)?;
    writeln!(
        out,
        "  severity:        {}{}{}",
        r.severity,
        r.cvss_score
            .map(|s| format!(
                " (CVSS {s:.1} {})",
                detail.cvss_vector.as_deref().unwrap_or("")
            ))
            .unwrap_or_default(),
        if r.critical { "  CRITICAL" } else { "" }
    )?;
    if !detail.signals.is_empty() {
        writeln!(out, "  signals:         {}", detail.signals.join(", "))?;
    }
    Ok(())
}

/// Deadlines, links to other reports, review flag, assignee, credit, key.
fn write_deadlines(out: &mut impl Write, detail: &ReportDetail) -> std::io::Result<()> {
    let r = &detail.report;
    writeln!(out, "  received:        {}", r.received_at)?;
    writeln!(
        out,
        "  ack due:         {}  (acked {})",
        r.ack_due,
        r.acked_at.as_deref().unwrap_or("not yet")
    )?;
    writeln!(
        out,
        "  assessment due:  {}  (assessed {})",
        r.assessment_due,
        r.assessed_at.as_deref().unwrap_or("not yet")
    )?;
    if let Some(d) = &r.possible_duplicate_of {
        writeln!(out, "  possible duplicate of: {d}")?;
    }
    if let Some(d) = &r.references_report {
        writeln!(out, "  references:      {d} (from a different sender)")?;
    }
    if r.needs_review {
        writeln!(
            out,
            "  NEEDS REVIEW:    {}",
            r.review_reason.as_deref().unwrap_or("")
        )?;
    }
    if let Some(a) = &r.assignee {
        writeln!(out, "  assignee:        {a}")?;
    }
    if let Some(c) = &r.credit {
        writeln!(out, "  credit:          {c}")?;
    }
    if let Some(k) = &detail.reporter_key {
        writeln!(out, "  reporter key:    {k}")?;
    }
    for k in &detail.key_candidates {
        writeln!(
            out,
            "  candidate key:   {} via {} ({}; unproven, never used; `reports key pin` to pin)",
            k.fingerprint, k.source, k.first_seen_at
        )?;
    }
    if detail.sealed_details.is_some() {
        writeln!(
            out,
            "  evidence:        sealed to the team key (use --decrypt)"
        )?;
    }
    Ok(())
}

/// Every message of the report, with at most 200 lines of its text.
fn write_messages(out: &mut impl Write, detail: &ReportDetail) -> std::io::Result<()> {
    writeln!(out, "\nmessages:")?;
    for m in &detail.messages {
        writeln!(
            out,
            "  #{} {} {} from {} signature={}{}",
            m.id,
            m.received_at,
            m.status,
            m.from_address.as_deref().unwrap_or("?"),
            m.signature,
            m.signer_fingerprint
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        )?;
        for a in &m.attachments {
            writeln!(out, "     attachment {a}")?;
        }
        match &m.body_text {
            Some(body) => {
                for line in body.lines().take(200) {
                    writeln!(out, "     | {}", printable(line))?;
                }
            }
            None if m.encrypted => writeln!(
                out,
                "     | (encrypted; not stored in clear; use --decrypt)"
            )?,
            None => {}
        }
    }
    Ok(())
}

fn write_replies_and_trail(out: &mut impl Write, detail: &ReportDetail) -> std::io::Result<()> {
    writeln!(out, "\nreplies:")?;
    for o in &detail.outbox {
        writeln!(
            out,
            "  {} to {} [{}] attempts={} {}{}{}",
            o.kind,
            o.recipient,
            o.status,
            o.attempts,
            o.sent_at.as_deref().unwrap_or(""),
            o.last_error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default(),
            o.copy_error
                .as_deref()
                .map(|e| format!(" copy failed: {e}"))
                .unwrap_or_default()
        )?;
    }
    writeln!(out, "\naudit trail:")?;
    for e in &detail.events {
        writeln!(out, "  {} {:<22} {:<8} {}", e.at, e.kind, e.actor, e.detail)?;
    }
    Ok(())
}

/// Opens stored ciphertext on demand (`reports show --decrypt`).
pub(super) struct Decryptor {
    pipeline: crate::pipeline::Pipeline,
}

impl Decryptor {
    pub(super) fn new(config: &Path) -> Result<Decryptor> {
        let config = load_config(config)?;
        let pipeline = crate::pipeline::Pipeline::from_config(&config).map_err(|e| ExitError {
            code: exit::CONFIG,
            message: format!("cannot load team keys: {}", e.reason()),
        })?;
        Ok(Decryptor { pipeline })
    }

    /// Open the sealed evidence, signals and CVSS vector of an encrypted
    /// report into `detail` (in memory only).
    fn open_details(&self, detail: &mut ReportDetail) {
        let Some(sealed) = detail.sealed_details.take() else {
            return;
        };
        let opened = crate::open::open_sealed(sealed.as_bytes(), &self.pipeline.team_keys, 1 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let Some(v) = opened else {
            detail
                .signals
                .push("(sealed details cannot be opened with this team key)".into());
            return;
        };
        let list = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        detail.component_evidence = list("component_evidence");
        detail.out_of_scope_evidence = list("out_of_scope_evidence");
        detail.signals = list("signals");
        detail.cvss_vector = v["cvss_vector"].as_str().map(str::to_string);
        for key in ["missing_evidence", "critical_evidence"] {
            if let Some(obj) = detail.triage_evidence.as_object_mut() {
                obj.insert(key.to_string(), v[key].clone());
            }
        }
    }

    /// The decrypted text of a stored message, or why not.
    fn text(&self, raw: &[u8]) -> String {
        let p = &self.pipeline;
        match crate::open::open(raw, &p.team_keys, &[], &p.open_limits) {
            Err(e) => format!("(cannot decrypt: {})", e.reason()),
            Ok(opened) => {
                if let Some(text) = opened.inline_text {
                    return text;
                }
                let mut text = match crate::parse::parse_entity(&opened.entity, &p.parse_limits) {
                    Ok((text, _)) => text,
                    Err(e) => format!("(cannot parse decrypted content: {e})"),
                };
                if let Some(subject) = opened.protected_subject {
                    text = format!("Subject: {subject}\n\n{text}");
                }
                for (name, bytes) in opened.decrypted_attachments {
                    text.push_str(&format!(
                        "\n\n--- {name} ---\n{}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
                text
            }
        }
    }
}

/// Per-label confidence, the labels the ack left out as uncertain, close component
/// candidates and the evidence for missing sections and criticality (reports filed
/// before confidences were recorded print nothing here).
fn write_confidence(out: &mut impl std::io::Write, detail: &ReportDetail) -> std::io::Result<()> {
    let r = &detail.report;
    let Some(c) = &r.confidence else {
        return Ok(());
    };
    writeln!(
        out,
        "  confidence:      component {:.2}, out of scope {:.2}, missing {:.2}, critical {:.2}",
        c.component, c.out_of_scope, c.missing, c.critical
    )?;
    if !r.uncertain.is_empty() {
        writeln!(
            out,
            "  uncertain (not in the ack): {}",
            r.uncertain.join(", ")
        )?;
    }
    let ev = &detail.triage_evidence;
    for (key, label) in [
        ("component_candidates", "candidates"),
        ("missing_evidence", "missing why"),
        ("critical_evidence", "critical why"),
    ] {
        if let Some(list) = ev
            .get(key)
            .and_then(|v| v.as_array())
            .filter(|l| !l.is_empty())
        {
            let items: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
            writeln!(out, "  {label:<16} {}", items.join("; "))?;
        }
    }
    Ok(())
}

//! Store tests on an in-memory database running the real migrations.

use chrono::{DateTime, Utc};

use super::*;
use crate::loopguard::Verdict;
use crate::parse::Headers;
use crate::threading::ThreadRefs;
use crate::triage::{Classification, Fingerprint, Severity};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn policy() -> IngestPolicy {
    IngestPolicy {
        tracking_prefix: "HEXON".into(),
        message_id_domain: "hexon.test".into(),
        copy_folder: None,
        append_copies: true,
        team_address: Some("team@hexon.test".into()),
        per_sender_per_hour: 3,
        global_per_hour: 100,
        reserved_authenticated_per_hour: 20,
        global_window_secs: 3600,
        send_acks: true,
        team_max_signature_age_days: 14,
        status_notices: vec![],
    }
}

fn classification() -> Classification {
    Classification {
        component: Some("Hexon Gateway".into()),
        component_evidence: vec![],
        out_of_scope: None,
        out_of_scope_evidence: vec![],
        missing: vec![],
        cvss: None,
        signals: vec![],
        severity: Severity::Unknown,
        critical: false,
        indicators: vec![],
        review: Default::default(),
    }
}

fn mail(from: &str, message_id: &str, body: &str, refs: ThreadRefs) -> PreparedMail {
    PreparedMail {
        headers: Headers {
            message_id: Some(message_id.into()),
            from_address: Some(from.into()),
            subject: "subject".into(),
            content_type: "text/plain".into(),
            ..Headers::default()
        },
        text: body.into(),
        attachments: vec![],
        encrypted: false,
        signature: crate::model::Signature::None,
        signer_fingerprint: None,
        signer_offered: false,
        sender_auth: crate::model::SenderAuth::Unknown,
        content_digest: sha256_hex(body.as_bytes()),
        sealed_details: None,
        discovered_keys: vec![],
        classification: classification(),
        fingerprint: Fingerprint {
            indicators: vec![],
            shingles: vec![],
        },
        body_sha256: sha256_hex(body.as_bytes()),
        credit: None,
        verdict: Verdict::Reply,
        refs,
        ack_due: at(),
        assessment_due: at(),
        team: None,
    }
}

fn prepared(raw: &str, uid: u32, m: PreparedMail) -> Prepared {
    Prepared {
        raw: raw.as_bytes().to_vec(),
        sha256: sha256_hex(raw.as_bytes()),
        source: SourceRef::Imap {
            mailbox: "INBOX".into(),
            uidvalidity: 7,
            uid,
        },
        received_at: at(),
        kind: PreparedKind::Mail(Box::new(m)),
    }
}

fn new_report(result: &IngestResult) -> (String, Option<i64>) {
    match result {
        IngestResult::NewReport {
            tracking_id, ack, ..
        } => (tracking_id.clone(), *ack),
        other => panic!("expected a new report, got {other:?}"),
    }
}

#[test]
fn ingest_writes_report_ack_and_cursor_in_one_go() {
    let mut store = Store::open_in_memory().unwrap();
    let r = store
        .ingest(
            &prepared(
                "raw1",
                5,
                mail("a@r.test", "m1@r", "body one", ThreadRefs::default()),
            ),
            &policy(),
        )
        .unwrap();
    let (tracking, ack) = new_report(&r);
    assert_eq!(tracking, "HEXON-2026-0001");
    assert!(ack.is_some());
    assert_eq!(store.cursor("INBOX").unwrap(), Some((7, 5)));
    let due = store.due_outbox(at(), 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].in_reply_to.as_deref(), Some("m1@r"));
    assert!(
        due[0].message_id.starts_with("hexon-triage.")
            && due[0].message_id.ends_with("@hexon.test")
    );
    assert_eq!(store.unmarked("INBOX", 7).unwrap().len(), 1);
}

#[test]
fn same_uid_or_same_bytes_is_never_ingested_twice() {
    let mut store = Store::open_in_memory().unwrap();
    let p = prepared(
        "raw1",
        5,
        mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
    );
    new_report(&store.ingest(&p, &policy()).unwrap());
    assert_eq!(store.ingest(&p, &policy()).unwrap(), IngestResult::Known);
    // Same bytes under a new UIDVALIDITY (server rebuilt its index).
    let mut again = prepared(
        "raw1",
        1,
        mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
    );
    again.source = SourceRef::Imap {
        mailbox: "INBOX".into(),
        uidvalidity: 8,
        uid: 1,
    };
    assert_eq!(
        store.ingest(&again, &policy()).unwrap(),
        IngestResult::Known
    );
    assert_eq!(
        store.list_reports(&ReportFilter::default()).unwrap().len(),
        1
    );
    assert_eq!(
        store.due_outbox(at(), 10).unwrap().len(),
        1,
        "still exactly one ack"
    );
}

#[test]
fn duplicate_delivery_with_same_message_id_gets_no_second_ack() {
    let mut store = Store::open_in_memory().unwrap();
    new_report(
        &store
            .ingest(
                &prepared(
                    "raw1",
                    1,
                    mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap(),
    );
    let r = store
        .ingest(
            &prepared(
                "raw1-with-other-received-header",
                2,
                mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
            ),
            &policy(),
        )
        .unwrap();
    assert!(matches!(r, IngestResult::Duplicate { .. }), "{r:?}");
    assert_eq!(store.due_outbox(at(), 10).unwrap().len(), 1);
}

#[test]
fn follow_up_from_reporter_joins_and_records_credit() {
    let mut store = Store::open_in_memory().unwrap();
    let (tracking, _) = new_report(
        &store
            .ingest(
                &prepared(
                    "raw1",
                    1,
                    mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap(),
    );
    let ack_id = store.due_outbox(at(), 10).unwrap()[0].message_id.clone();
    let mut reply = mail(
        "a@r.test",
        "m2@r",
        "credit me as Alice",
        ThreadRefs {
            tracking_ids: vec![],
            message_ids: vec![ack_id],
        },
    );
    reply.credit = Some(crate::triage::Credit::Name("Alice".into()));
    let r = store
        .ingest(&prepared("raw2", 2, reply), &policy())
        .unwrap();
    assert_eq!(
        r,
        IngestResult::FollowUp {
            message_row: 2,
            tracking_id: tracking.clone()
        }
    );
    let detail = store.report_detail(&tracking).unwrap();
    assert_eq!(detail.messages.len(), 2);
    assert!(detail.report.credit.is_some());
    assert_eq!(
        store.due_outbox(at(), 10).unwrap().len(),
        1,
        "no second ack"
    );
}

#[test]
fn rejects_forged_followup_from_a_stranger() {
    let mut store = Store::open_in_memory().unwrap();
    let (tracking, _) = new_report(
        &store
            .ingest(
                &prepared(
                    "raw1",
                    1,
                    mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap(),
    );
    let forged = mail(
        "mallory@evil.test",
        "m2@evil",
        "give me the details",
        ThreadRefs {
            tracking_ids: vec![tracking.clone()],
            message_ids: vec!["m1@r".into()],
        },
    );
    let (new_tracking, _) = new_report(
        &store
            .ingest(&prepared("raw2", 2, forged), &policy())
            .unwrap(),
    );
    assert_ne!(new_tracking, tracking);
    let detail = store.report_detail(&new_tracking).unwrap();
    assert_eq!(
        detail.report.references_report.as_deref(),
        Some(tracking.as_str())
    );
    assert!(detail.report.needs_review);
    assert_eq!(store.report_detail(&tracking).unwrap().messages.len(), 1);
}

#[test]
fn per_sender_rate_limit_withholds_acks_but_stores_reports() {
    let mut store = Store::open_in_memory().unwrap();
    for n in 0..5u32 {
        let body = format!("body {n}");
        store
            .ingest(
                &prepared(
                    &format!("raw{n}"),
                    n + 1,
                    mail("a@r.test", &format!("m{n}@r"), &body, ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap();
    }
    assert_eq!(
        store.list_reports(&ReportFilter::default()).unwrap().len(),
        5
    );
    assert_eq!(
        store.due_outbox(at(), 10).unwrap().len(),
        3,
        "per_sender_per_hour = 3"
    );
}

#[test]
fn global_rate_limit_counts_recent_acks_incrementally() {
    let mut store = Store::open_in_memory().unwrap();
    let policy = IngestPolicy {
        global_per_hour: 4,
        reserved_authenticated_per_hour: 0,
        ..policy()
    };
    let now = Utc::now();
    let item = |n: u32| {
        let mut p = prepared(
            &format!("raw{n}"),
            n + 1,
            mail(
                &format!("r{n}@r.test"),
                &format!("m{n}@r"),
                &format!("body {n}"),
                ThreadRefs::default(),
            ),
        );
        p.received_at = now;
        (n + 1, Some(p))
    };
    // An ack from an hour and a half ago does not count; one from 30 minutes ago does.
    for (n, minutes) in [(100u32, 90i64), (101, 30)] {
        let mut old = item(n).1.unwrap();
        old.received_at = now - chrono::Duration::minutes(minutes);
        store.ingest(&old, &policy).unwrap();
    }
    // Group commits: the window is read incrementally between and within them.
    let first: Vec<_> = (0..2).map(item).collect();
    store.ingest_batch(&first, &policy, "INBOX", 7).unwrap();
    let rest: Vec<_> = (2..8).map(item).collect();
    store.ingest_batch(&rest, &policy, "INBOX", 7).unwrap();

    let acks = store
        .due_outbox(now + chrono::Duration::minutes(1), 100)
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == crate::model::OutboxKind::Ack)
        .count();
    // 2 old (one outside the hour) + 4 allowed within the hour in total: 1 + 3 new ones.
    assert_eq!(acks, 2 + 3, "global_per_hour = 4 counts the recent old ack");
    // The other 5 are delayed, not dropped: queued in order, 4 per hour.
    let slots: Vec<(String, String)> = store
        .conn
        .prepare("SELECT next_attempt_at, send_at FROM outbox WHERE kind = 'ack' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(slots.len(), 10, "every report has its ack row");
    let delayed: Vec<&String> = slots[5..].iter().map(|(next, _)| next).collect();
    assert!(slots[5..].iter().all(|(next, send)| next == send));
    assert!(
        delayed.windows(2).all(|w| w[0] <= w[1]),
        "in order: {delayed:?}"
    );
    assert_eq!(
        *delayed[0],
        ts(now - chrono::Duration::minutes(30) + chrono::Duration::hours(1)),
        "the first waits for the 30-minute-old ack to leave the window"
    );
    // Slots in the window: -30 min and 3 × now; then +30, +60 ×3, +90: never more than 4 in an hour.
    let hour = |m: i64| ts(now + chrono::Duration::minutes(m));
    let expected = [hour(30), hour(60), hour(60), hour(60), hour(90)];
    assert_eq!(delayed, expected.iter().collect::<Vec<_>>(), "4 per hour");
    let delays: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'ack_delayed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(delays, 5);
    assert!(
        store
            .due_outbox(now + chrono::Duration::hours(2), 100)
            .unwrap()
            .len()
            >= 10
    );
}

#[test]
fn quarantine_keeps_the_message_and_the_reason() {
    let mut store = Store::open_in_memory().unwrap();
    let p = Prepared {
        raw: b"garbage".to_vec(),
        sha256: sha256_hex(b"garbage"),
        source: SourceRef::Ingest,
        received_at: at(),
        kind: PreparedKind::Quarantine {
            reason: "cannot parse: no RFC 5322 header section".into(),
            message_id: None,
            from_address: None,
        },
    };
    let r = store.ingest(&p, &policy()).unwrap();
    let row = r.message_row().unwrap();
    assert!(matches!(r, IngestResult::Quarantined { .. }));
    let q = store.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].reason.as_deref().unwrap().contains("header"));
    assert_eq!(store.raw_message(row).unwrap().unwrap(), b"garbage");
}

#[test]
fn outbox_bytes_are_fixed_at_first_attempt() {
    let mut store = Store::open_in_memory().unwrap();
    new_report(
        &store
            .ingest(
                &prepared(
                    "raw1",
                    1,
                    mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap(),
    );
    let item = store.due_outbox(at(), 10).unwrap().remove(0);
    store
        .outbox_sending(item.id, b"first rendering", at())
        .unwrap();
    store
        .outbox_sending(item.id, b"second rendering", at())
        .unwrap();
    store.outbox_retry(item.id, "451 try later", at()).unwrap();
    let again = store.due_outbox(at(), 10).unwrap().remove(0);
    assert_eq!(again.rendered.as_deref(), Some(&b"first rendering"[..]));
    assert_eq!(again.attempts, 1);
    store.outbox_sent(item.id, at()).unwrap();
    assert!(store.due_outbox(at(), 10).unwrap().is_empty());
    assert_eq!(store.pending_copies(10).unwrap().len(), 1);
    store.outbox_appended_all(&[item.id], at()).unwrap();
    assert!(store.pending_copies(10).unwrap().is_empty());
}

#[test]
fn a_refused_copy_is_failed_with_its_reason_and_leaves_the_queue() {
    let mut store = Store::open_in_memory().unwrap();
    let mut tracking = Vec::new();
    for n in 1..=2u32 {
        let raw = format!("raw{n}");
        let (t, _) = new_report(
            &store
                .ingest(
                    &prepared(
                        &raw,
                        n,
                        mail(
                            &format!("a{n}@r.test"),
                            &format!("m{n}@r"),
                            &raw,
                            ThreadRefs::default(),
                        ),
                    ),
                    &policy(),
                )
                .unwrap(),
        );
        tracking.push(t);
    }
    for item in store.due_outbox(at(), 10).unwrap() {
        store.outbox_sending(item.id, b"reply", at()).unwrap();
        store.outbox_sent(item.id, at()).unwrap();
    }
    let pending = store.pending_copies(10).unwrap();
    assert_eq!(pending.len(), 2);
    let (bad, good) = (pending[0].0, pending[1].0);
    let reason =
        "IMAP server refused APPEND: NO [CANNOT] Character not allowed in mailbox name: '.'";
    store.outbox_copy_failed(bad, reason, at()).unwrap();
    let left: Vec<i64> = store
        .pending_copies(10)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(
        left,
        vec![good],
        "the failed copy no longer blocks the queue"
    );
    let status = store.status_summary(at()).unwrap();
    assert_eq!(status.outbox_copies_failed, 1);
    assert_eq!(status.outbox_copies_pending, 1);
    assert_eq!(status.outbox_failed, 0, "the reply itself was sent");
    let detail = store.report_detail(&tracking[0]).unwrap();
    assert_eq!(detail.outbox[0].status, crate::model::OutboxStatus::Sent);
    assert_eq!(detail.outbox[0].copy_error.as_deref(), Some(reason));
    assert!(detail.outbox[0].appended_at.is_none());
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind == "copy_failed" && e.detail["error"].as_str() == Some(reason)));
    store.outbox_appended_all(&[good], at()).unwrap();
    let status = store.status_summary(at()).unwrap();
    assert_eq!(
        (status.outbox_copies_pending, status.outbox_copies_failed),
        (0, 1)
    );
    let (_, problems) = store.audit_verify().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn migration_3_keeps_pending_copies_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 2) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        conn.execute(
            "INSERT INTO outbox(kind, recipient, message_id, status, next_attempt_at, created_at,
                                copy_folder, rendered, sent_at)
             VALUES ('ack', 'a@r.test', 'x@hexon.test', 'sent', '2026-01-01T00:00:00Z',
                     '2026-01-01T00:00:00Z', 'INBOX', X'41', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        MIGRATIONS.last().unwrap().0
    );
    assert_eq!(store.pending_copies(10).unwrap().len(), 1);
    let status = store.status_summary(at()).unwrap();
    assert_eq!(
        (status.outbox_copies_pending, status.outbox_copies_failed),
        (1, 0)
    );
}

#[test]
fn audit_verify_finds_edits_and_deletions() {
    let mut store = Store::open_in_memory().unwrap();
    for n in 0..3u32 {
        store
            .ingest(
                &prepared(
                    &format!("raw{n}"),
                    n + 1,
                    mail(
                        &format!("r{n}@r.test"),
                        &format!("m{n}@r"),
                        &format!("b{n}"),
                        ThreadRefs::default(),
                    ),
                ),
                &policy(),
            )
            .unwrap();
    }
    let (count, problems) = store.audit_verify().unwrap();
    assert!(count >= 9);
    assert!(problems.is_empty(), "{problems:?}");
    store
        .conn
        .execute(
            "UPDATE events SET detail = '{\"forged\":1}' WHERE id = 2",
            [],
        )
        .unwrap();
    let (_, problems) = store.audit_verify().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.event_id == 2 && p.problem.contains("edited")),
        "{problems:?}"
    );
    store
        .conn
        .execute("DELETE FROM events WHERE id = 5", [])
        .unwrap();
    let (_, problems) = store.audit_verify().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.event_id == 6 && p.problem.contains("missing")),
        "{problems:?}"
    );
}

#[test]
fn set_report_field_validates_and_audits() {
    let mut store = Store::open_in_memory().unwrap();
    let (tracking, _) = new_report(
        &store
            .ingest(
                &prepared(
                    "raw1",
                    1,
                    mail("a@r.test", "m1@r", "body", ThreadRefs::default()),
                ),
                &policy(),
            )
            .unwrap(),
    );
    store
        .set_report_field(&tracking, "status", "triaging", "bob")
        .unwrap();
    assert!(matches!(
        store.set_report_field(&tracking, "status", "bogus", "bob"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_report_field("HEXON-2026-9999", "status", "new", "bob"),
        Err(StoreError::NoSuchReport(_))
    ));
    let detail = store.report_detail(&tracking).unwrap();
    assert_eq!(detail.report.status, "triaging");
    assert!(detail.report.assessed_at.is_some());
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind == "status_changed" && e.actor == "bob"));
}

#[test]
fn migrations_are_idempotent_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let v1 = Store::open(&path).unwrap().schema_version().unwrap();
    let v2 = Store::open(&path).unwrap().schema_version().unwrap();
    assert_eq!(v1, v2);
    assert_eq!(v1, MIGRATIONS.last().unwrap().0);
}

#[test]
fn checkpointer_copies_the_wal_into_the_database_off_the_commit_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut store = Store::open(&path).unwrap();
    store.defer_checkpoints().unwrap();
    let checkpointer =
        super::Checkpointer::start(&path, std::time::Duration::from_millis(10)).unwrap();
    for n in 0..20u32 {
        let body = format!("body {n}");
        let raw = format!("raw {n} {}", "x".repeat(50_000));
        store
            .ingest(
                &prepared(
                    &raw,
                    n + 1,
                    mail(
                        &format!("r{n}@r.test"),
                        &format!("m{n}@r"),
                        &body,
                        ThreadRefs::default(),
                    ),
                ),
                &policy(),
            )
            .unwrap();
    }
    // The committing connection leaves the WAL alone (its threshold is 16,384
    // pages, far above these ~1 MB); the checkpointer copies it into the
    // database file soon after the writes stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&path).unwrap().len() < 20 * 50_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not checkpointed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(checkpointer);
}

#[test]
fn metrics_gauges_count_queued_replies_their_age_and_overdue_reports() {
    let mut store = Store::open_in_memory().unwrap();
    let empty = store.metrics_gauges(at()).unwrap();
    assert_eq!(empty, crate::metrics::StoreGauges::default());
    let r = store
        .ingest(
            &prepared(
                "raw1",
                5,
                mail("a@r.test", "m1@r", "body one", ThreadRefs::default()),
            ),
            &policy(),
        )
        .unwrap();
    let (_, ack) = new_report(&r);
    let later = Utc::now() + chrono::Duration::days(1);
    let g = store.metrics_gauges(later).unwrap();
    assert_eq!(g.outbox_queued, 1);
    assert!(g.oldest_queued_age_secs >= 86_000, "{g:?}");
    assert_eq!(g.overdue_reports, 1, "deadlines at() are long past");
    store.outbox_sent(ack.unwrap(), later).unwrap();
    let g = store.metrics_gauges(later).unwrap();
    assert_eq!((g.outbox_queued, g.oldest_queued_age_secs), (0, 0));
}

#[test]
fn ack_states_only_confident_labels_and_the_team_sees_the_rest() {
    let mut store = Store::open_in_memory().unwrap();
    let mut m = mail("u@r.test", "mu@r", "body", ThreadRefs::default());
    m.classification.out_of_scope = Some("scanner-output".into());
    m.classification.critical = true;
    m.classification.missing = vec![crate::triage::Section::Impact];
    m.classification.review = crate::triage::Review {
        confidence: crate::triage::Confidence {
            component: 0.9,
            out_of_scope: 0.4,
            missing: 0.4,
            critical: 0.5,
        },
        component_candidates: vec![],
        missing_evidence: vec!["impact: absent, but hint \"attacker\"".into()],
        critical_evidence: vec!["signal:remote code execution".into()],
        ack: crate::triage::AckClaims {
            component: Some("Hexon Gateway".into()),
            ..Default::default()
        },
    };
    let r = store.ingest(&prepared("rawu", 9, m), &policy()).unwrap();
    let (tracking, _) = new_report(&r);
    let id = store.report_id(&tracking).unwrap();
    let facts = store.ack_facts(id).unwrap();
    assert_eq!(facts.component.as_deref(), Some("Hexon Gateway"));
    assert_eq!(facts.out_of_scope, None);
    assert!(!facts.critical);
    assert!(facts.missing.is_empty());
    let detail = store.report_detail(&tracking).unwrap();
    assert_eq!(
        detail.report.out_of_scope.as_deref(),
        Some("scanner-output")
    );
    assert_eq!(
        detail.report.uncertain,
        ["out_of_scope", "critical", "missing:impact"]
    );
    assert_eq!(detail.report.confidence.unwrap().out_of_scope, 0.4);
    assert_eq!(
        detail.triage_evidence["critical_evidence"][0],
        "signal:remote code execution"
    );
}

#[test]
fn near_duplicates_in_one_fetched_batch_see_each_other_in_order() {
    let mut store = Store::open_in_memory().unwrap();
    let fp = |body: &str| {
        let t = crate::triage::ReportText {
            subject: "cross-repo blob mount",
            body,
            attachment_names: &[],
        };
        let c = crate::triage::classify(&t, &crate::triage::TriageConfig::default());
        crate::triage::fingerprint(&t, &c)
    };
    let en =
        "POST https://registry.hexon.io/v2/me/x/blobs/uploads/?mount=sha256:a&from=hexon/private";
    let de = "Mit POST https://registry.hexon.io/v2/js/t/blobs/uploads/?mount=sha256:b&from=hexon/intern geht es.";
    let mut a = mail("a@r.test", "ma@r", en, ThreadRefs::default());
    a.fingerprint = fp(en);
    let mut b = mail("b@other.test", "mb@o", de, ThreadRefs::default());
    b.fingerprint = fp(de);
    let items = vec![
        (11, Some(prepared("rawa", 11, a))),
        (12, Some(prepared("rawb", 12, b))),
    ];
    let results = store.ingest_batch(&items, &policy(), "INBOX", 7).unwrap();
    let (first, _) = new_report(&results[0]);
    let (second, _) = new_report(&results[1]);
    let detail = store.report_detail(&second).unwrap();
    assert_eq!(
        detail.report.possible_duplicate_of.as_deref(),
        Some(first.as_str())
    );
}

#[test]
fn a_team_reply_acknowledges_a_report_whose_automatic_ack_was_withheld() {
    let mut store = Store::open_in_memory().unwrap();
    let mut no_acks = policy();
    no_acks.send_acks = false;
    let (tracking, ack) = new_report(
        &store
            .ingest(
                &prepared(
                    "rawh",
                    1,
                    mail("h@r.test", "mh@r", "body", ThreadRefs::default()),
                ),
                &no_acks,
            )
            .unwrap(),
    );
    assert!(ack.is_none());
    assert!(store
        .report_detail(&tracking)
        .unwrap()
        .report
        .acked_at
        .is_none());
    let note = crate::store::team::CliTeamText {
        tracking_id: &tracking,
        actor: "mia",
        text: "internal",
        sealed: None,
        note: true,
        message_id_domain: "hexon.test",
    };
    store.team_submit(&note, at()).unwrap();
    let r = store.report_detail(&tracking).unwrap().report;
    assert!(
        r.acked_at.is_none() && r.assessed_at.is_none(),
        "a note answers nobody"
    );
    let reply = crate::store::team::CliTeamText {
        note: false,
        text: "We are on it.",
        ..note
    };
    store.team_submit(&reply, at()).unwrap();
    let r = store.report_detail(&tracking).unwrap().report;
    assert!(r.acked_at.is_some() && r.assessed_at.is_some(), "{r:?}");
}

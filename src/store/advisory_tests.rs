//! Advisory storage on an in-memory store with the real migrations.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::*;
use crate::advisory::AdvisoryConfig;

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A report row with `credit` (JSON) from `address`.
fn report(store: &Store, seq: i64, address: &str, credit: Option<&str>, status: &str) -> String {
    let tracking = format!("HEXON-2026-{seq:04}");
    store
        .conn
        .execute(
            "INSERT OR IGNORE INTO reporters(address, created_at) VALUES (?1, ?2)",
            params![address, ts(at())],
        )
        .unwrap();
    let reporter: i64 = store
        .conn
        .query_row(
            "SELECT id FROM reporters WHERE address = ?1",
            [address],
            |r| r.get(0),
        )
        .unwrap();
    store.conn.execute(
        "INSERT INTO reports(tracking_id, year, seq, reporter_id, status, component, cvss_version, cvss_vector, credit,
             thread_message_id, received_at, ack_due, assessment_due, created_at, updated_at)
         VALUES (?1, 2026, ?2, ?3, ?4, 'Hexon Gateway', '3.1', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', ?5,
             ?6, ?7, ?7, ?7, ?7, ?7)",
        params![tracking, seq, reporter, status, credit, format!("m{seq}@r.test"), ts(at())],
    ).unwrap();
    tracking
}

fn fields() -> AdvisoryFields {
    AdvisoryFields {
        title: Some("Path traversal in the admin API".into()),
        affected: vec!["<2.4.1".into()],
        fixed: vec!["2.4.1".into()],
        cwe: Some("CWE-22".into()),
        ..AdvisoryFields::default()
    }
}

fn count(store: &Store, sql: &str) -> i64 {
    store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn draft_takes_credits_only_from_recorded_consent() {
    let mut store = Store::open_in_memory().unwrap();
    let a = report(
        &store,
        1,
        "alice@r.test",
        Some(r#"{"kind":"name","name":"Alice Example"}"#),
        "accepted",
    );
    let b = report(
        &store,
        2,
        "bob@r.test",
        Some(r#"{"kind":"declined"}"#),
        "accepted",
    );
    let c = report(&store, 3, "carol@r.test", None, "accepted");
    let d = report(
        &store,
        4,
        "dave@r.test",
        Some(r#"{"kind":"anonymous"}"#),
        "accepted",
    );
    let mut f = fields();
    f.also = vec![b.clone(), c.clone(), d];
    let adv = store
        .draft_advisory(
            std::slice::from_ref(&a),
            &f,
            &AdvisoryConfig::default(),
            "t",
            at(),
        )
        .unwrap();
    assert_eq!(adv.advisory_id, "HEXON-SA-2026-0001");
    assert_eq!(adv.reports.len(), 4);
    assert_eq!(
        adv.credits(),
        vec![
            crate::advisory::model::Credited::Name("Alice Example".into()),
            crate::advisory::model::Credited::Anonymous,
        ]
    );
    assert_eq!(adv.unanswered(), vec![c.as_str()]);
    assert_eq!(
        adv.cvss_v31.as_deref(),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        "seeded from the report"
    );
    assert_eq!(adv.disclosure_at, at() + chrono::Duration::days(90));
    assert_eq!(
        store.report_advisories(&b).unwrap(),
        vec![(adv.advisory_id.clone(), "draft".into())]
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM events WHERE kind = 'advisory_drafted'"
        ),
        4
    );
}

#[test]
fn bad_input_names_the_field_and_writes_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let a = report(
        &store,
        1,
        "alice@r.test",
        Some(r#"{"kind":"name","name":"Alice\r\nBcc: x@evil.test"}"#),
        "accepted",
    );
    let ok = report(&store, 2, "bob@r.test", None, "accepted");
    let config = AdvisoryConfig::default();
    let e = store
        .draft_advisory(&[ok.clone(), a.clone()], &fields(), &config, "t", at())
        .unwrap_err();
    assert!(e.to_string().contains(&format!("credit of {a}")), "{e}");
    for (mutate, field) in [
        (
            Box::new(|f: &mut AdvisoryFields| f.cvss_v31 = Some("CVSS:3.1/AV:N".into()))
                as Box<dyn Fn(&mut AdvisoryFields)>,
            "--cvss-v31",
        ),
        (
            Box::new(|f: &mut AdvisoryFields| f.cwe = Some("CWE-abc".into())),
            "--cwe",
        ),
        (
            Box::new(|f: &mut AdvisoryFields| f.affected = vec!["all versions".into()]),
            "--affected",
        ),
        (
            Box::new(|f: &mut AdvisoryFields| f.cve = Some("CVE-1".into())),
            "--cve",
        ),
        (
            Box::new(|f: &mut AdvisoryFields| f.title = Some("x\u{1b}[31m".into())),
            "--title",
        ),
    ] {
        let mut f = fields();
        mutate(&mut f);
        let e = store
            .draft_advisory(std::slice::from_ref(&ok), &f, &config, "t", at())
            .unwrap_err();
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM advisories"),
        0,
        "nothing half-written"
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM advisory_reports"), 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM events"), 0);
}

#[test]
fn publish_bumps_revision_and_notifies_each_credited_reporter_once() {
    let mut store = Store::open_in_memory().unwrap();
    let a = report(
        &store,
        1,
        "alice@r.test",
        Some(r#"{"kind":"name","name":"Alice"}"#),
        "fixed",
    );
    let b = report(
        &store,
        2,
        "bob@r.test",
        Some(r#"{"kind":"declined"}"#),
        "fixed",
    );
    let mut f = fields();
    f.also = vec![b];
    let adv = store
        .draft_advisory(&[a], &f, &AdvisoryConfig::default(), "t", at())
        .unwrap();
    let id = adv.advisory_id.clone();
    let e = store
        .publish_advisory(&id, None, true, false, "hexon.test", "t", at())
        .unwrap_err();
    assert!(e.to_string().contains("draft"), "{e}");
    let review = AdvisoryFields {
        status: Some(AdvisoryStatus::Review),
        ..AdvisoryFields::default()
    };
    store.update_advisory(&id, &review, "t", at()).unwrap();
    let p = store
        .publish_advisory(&id, None, true, false, "hexon.test", "t", at())
        .unwrap();
    assert_eq!(
        p,
        Published {
            revision: 1,
            notices: 1
        }
    );
    let p = store
        .publish_advisory(
            &id,
            Some("Fixed versions corrected"),
            true,
            false,
            "hexon.test",
            "t",
            at(),
        )
        .unwrap();
    assert_eq!(
        p,
        Published {
            revision: 2,
            notices: 0
        },
        "never a second notice"
    );
    let adv = store.advisory(&id).unwrap();
    assert_eq!(adv.status, AdvisoryStatus::Published);
    assert_eq!(adv.revisions.len(), 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE kind = 'advisory_published' AND recipient = 'alice@r.test'"), 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'bob@r.test'"
        ),
        0,
        "declined: no notice"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM events WHERE kind = 'advisory_published'"
        ),
        4
    );
    let review = AdvisoryFields {
        status: Some(AdvisoryStatus::Draft),
        ..AdvisoryFields::default()
    };
    assert!(
        store.update_advisory(&id, &review, "t", at()).is_err(),
        "published stays published"
    );
    let facts = store.notice_facts(1, 90).unwrap();
    assert_eq!(facts.advisory_id.as_deref(), Some(id.as_str()));
}

#[test]
fn unanswered_credit_blocks_publishing_unless_allowed() {
    let mut store = Store::open_in_memory().unwrap();
    let a = report(&store, 1, "alice@r.test", None, "fixed");
    let mut f = fields();
    f.status = None;
    let id = store
        .draft_advisory(
            std::slice::from_ref(&a),
            &f,
            &AdvisoryConfig::default(),
            "t",
            at(),
        )
        .unwrap()
        .advisory_id;
    store
        .update_advisory(
            &id,
            &AdvisoryFields {
                status: Some(AdvisoryStatus::Review),
                ..Default::default()
            },
            "t",
            at(),
        )
        .unwrap();
    let e = store
        .publish_advisory(&id, None, true, false, "hexon.test", "t", at())
        .unwrap_err();
    assert!(e.to_string().starts_with(&format!("credit of {a}")), "{e}");
    let p = store
        .publish_advisory(&id, None, true, true, "hexon.test", "t", at())
        .unwrap();
    assert_eq!(p.notices, 0);
}

#[test]
fn milestones_and_reminders_are_queued_once() {
    let mut store = Store::open_in_memory().unwrap();
    let a = report(&store, 1, "alice@r.test", None, "accepted");
    let lone = report(&store, 2, "bob@r.test", None, "accepted");
    let _new = report(&store, 3, "carol@r.test", None, "new");
    let config = AdvisoryConfig::default();
    let id = store
        .draft_advisory(&[a], &fields(), &config, "t", at())
        .unwrap()
        .advisory_id;
    assert_eq!(store.uncovered_reports().unwrap(), vec![lone.clone()]);
    assert_eq!(
        store
            .queue_milestone(&id, Milestone::Fixing, "hexon.test", "t", at())
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .queue_milestone(&id, Milestone::Fixing, "hexon.test", "t", at())
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .queue_milestone(&id, Milestone::Fixed, "hexon.test", "t", at())
            .unwrap(),
        1
    );
    // A report no advisory covers yet gets its milestone mails by tracking id, once.
    assert_eq!(
        store
            .queue_milestone(&lone, Milestone::Triaged, "hexon.test", "t", at())
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .queue_milestone(&lone, Milestone::Triaged, "hexon.test", "t", at())
            .unwrap(),
        0
    );
    assert!(store
        .queue_milestone(&lone, Milestone::Published, "hexon.test", "t", at())
        .is_err());
    assert!(store
        .queue_milestone("HEXON-2026-9999", Milestone::Fixed, "hexon.test", "t", at())
        .is_err());
    // 90 days later minus 3: both disclosure dates are within the 7-day window.
    let later = at() + chrono::Duration::days(87);
    assert_eq!(
        store
            .queue_disclosure_reminders("team@hexon.test", "hexon.test", &config, at())
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .queue_disclosure_reminders("team@hexon.test", "hexon.test", &config, later)
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .queue_disclosure_reminders("team@hexon.test", "hexon.test", &config, later)
            .unwrap(),
        0
    );
    store
        .set_report_disclosure(&lone, at() + chrono::Duration::days(10), "t", at())
        .unwrap();
    assert_eq!(
        store.report_disclosure_date(&lone, 90).unwrap(),
        at() + chrono::Duration::days(10)
    );
}

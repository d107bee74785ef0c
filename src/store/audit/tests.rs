//! The keyed audit chain: MACs, unkeyed history, a chain recomputed without
//! the key, a wrong key, and the anchor (truncation and rewrite).

use super::*;

const KEY: [u8; 32] = [7; 32];

fn events(store: &mut Store, from: usize, n: usize, actor: &str) {
    let tx = store.conn.transaction().unwrap();
    for i in from..from + n {
        append_event(
            &tx,
            None,
            None,
            "note",
            actor,
            &serde_json::json!({ "n": i }),
            Utc::now(),
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn problems(s: &AuditSummary) -> String {
    format!("{:?}", s.problems)
}

/// One `events` row: id, report, message, kind, actor, detail, at, prev_hash.
type Row = (
    i64,
    Option<i64>,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
);

/// Rewrite event `id`'s detail and recompute every hash from there on
/// without the key, as someone with write access to the file would.
fn recompute_unkeyed_from(store: &Store, id: i64) {
    store
        .conn
        .execute(
            "UPDATE events SET detail = '{\"forged\":1}' WHERE id = ?1",
            [id],
        )
        .unwrap();
    let rows: Vec<Row> = {
        let mut stmt = store
            .conn
            .prepare("SELECT id, report_id, message_row, kind, actor, detail, at, prev_hash FROM events WHERE id >= ?1 ORDER BY id")
            .unwrap();
        stmt.query_map([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut prev = rows[0].7.clone();
    for (id, report_id, message_row, kind, actor, detail, at, _) in rows {
        let hash = event_hash(
            None,
            &EventParts {
                prev: &prev,
                report_id,
                message_row,
                kind: &kind,
                actor: &actor,
                detail: &detail,
                at: &at,
            },
        );
        store
            .conn
            .execute(
                "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
                params![prev, hash, id],
            )
            .unwrap();
        prev = hash;
    }
}

#[test]
fn keyed_events_carry_a_mac_and_verify_with_the_key_only() {
    let mut store = Store::open_in_memory().unwrap();
    // Two events from before the keyed chain, then keyed ones.
    events(&mut store, 0, 2, "daemon");
    store.set_audit_key(Some(KEY)).unwrap();
    events(&mut store, 2, 3, "daemon");
    let hashes: Vec<String> = store
        .conn
        .prepare("SELECT hash FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!hashes[1].starts_with(KEYED_PREFIX));
    assert!(hashes[2].starts_with(KEYED_PREFIX) && hashes[4].starts_with(KEYED_PREFIX));

    let ok = store.audit_check(Some(&KEY), None).unwrap();
    assert!(ok.problems.is_empty(), "{}", problems(&ok));
    assert_eq!((ok.events, ok.keyed, ok.unkeyed_before), (5, 3, 2));
    // Without the key the MACs are unchecked, not wrong.
    let nokey = store.audit_check(None, None).unwrap();
    assert!(
        nokey.problems.is_empty() && nokey.unchecked == 3,
        "{nokey:?}"
    );
    // Another key: every MAC is wrong.
    let wrong = store.audit_check(Some(&[8; 32]), None).unwrap();
    assert_eq!(wrong.problems.len(), 3, "{}", problems(&wrong));
    assert!(wrong
        .problems
        .iter()
        .all(|p| p.problem.contains("MAC does not match")));
}

#[test]
fn a_cli_event_without_the_key_is_covered_by_the_next_keyed_one() {
    let mut store = Store::open_in_memory().unwrap();
    store.set_audit_key(Some(KEY)).unwrap();
    events(&mut store, 0, 2, "daemon");
    store.set_audit_key(None).unwrap();
    events(&mut store, 2, 1, "alice");
    let tail = store.audit_check(Some(&KEY), None).unwrap();
    assert!(tail.problems.is_empty(), "{}", problems(&tail));
    assert_eq!((tail.unkeyed_after, tail.uncovered_tail), (1, 1));
    store.set_audit_key(Some(KEY)).unwrap();
    events(&mut store, 3, 1, "daemon");
    let covered = store.audit_check(Some(&KEY), None).unwrap();
    assert!(covered.problems.is_empty(), "{}", problems(&covered));
    assert_eq!((covered.unkeyed_after, covered.uncovered_tail), (1, 0));
    // Editing the CLI's event breaks the keyed link after it.
    store
        .conn
        .execute("UPDATE events SET detail = '{}' WHERE id = 3", [])
        .unwrap();
    let edited = store.audit_check(Some(&KEY), None).unwrap();
    assert!(
        edited
            .problems
            .iter()
            .any(|p| p.event_id == 3 && p.problem.contains("edited")),
        "{}",
        problems(&edited)
    );
}

#[test]
fn a_chain_recomputed_without_the_key_is_caught() {
    let mut store = Store::open_in_memory().unwrap();
    store.set_audit_key(Some(KEY)).unwrap();
    events(&mut store, 0, 6, "daemon");
    let anchor = store.audit_head().unwrap().unwrap();
    assert_eq!(anchor.id, 6);
    recompute_unkeyed_from(&store, 3);
    // Links and plain hashes are consistent again, but daemon events lost their MAC…
    let s = store.audit_check(Some(&KEY), Some(&anchor)).unwrap();
    assert!(
        s.problems
            .iter()
            .any(|p| p.event_id == 3 && p.problem.contains("recomputed")),
        "{}",
        problems(&s)
    );
    // …and the anchored head no longer matches.
    assert!(
        s.problems
            .iter()
            .any(|p| p.event_id == 6 && p.problem.contains("anchor")),
        "{}",
        problems(&s)
    );
    // Even a chain rewritten entirely without MACs (from event 1) fails on the anchor.
    recompute_unkeyed_from(&store, 1);
    let all = store.audit_check(Some(&KEY), Some(&anchor)).unwrap();
    assert!(
        all.problems
            .iter()
            .any(|p| p.problem.contains("does not match the anchor")),
        "{}",
        problems(&all)
    );
}

#[test]
fn a_truncated_tail_is_caught_by_the_anchor() {
    let mut store = Store::open_in_memory().unwrap();
    store.set_audit_key(Some(KEY)).unwrap();
    events(&mut store, 0, 5, "daemon");
    let anchor = store.audit_head().unwrap().unwrap();
    let intact = store.audit_check(Some(&KEY), Some(&anchor)).unwrap();
    assert!(intact.problems.is_empty(), "{}", problems(&intact));
    store
        .conn
        .execute("DELETE FROM events WHERE id >= 4", [])
        .unwrap();
    // Without the anchor the shorter chain looks whole.
    assert!(store
        .audit_check(Some(&KEY), None)
        .unwrap()
        .problems
        .is_empty());
    let cut = store.audit_check(Some(&KEY), Some(&anchor)).unwrap();
    assert!(
        cut.problems
            .iter()
            .any(|p| p.event_id == 5 && p.problem.contains("truncated")),
        "{}",
        problems(&cut)
    );
}

#[test]
fn the_anchor_file_is_written_atomically_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db.audit-anchor");
    let head = AuditHead {
        id: 42,
        mac: "ab".repeat(32),
    };
    write_anchor(&path, &head).unwrap();
    write_anchor(&path, &head).unwrap();
    assert_eq!(read_anchor(&path).unwrap(), head);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    // A header value (MAC prefix) is accepted; junk is refused with a reason.
    let short = AuditHead::parse(&head.header_value()).unwrap();
    assert_eq!((short.id, short.mac.len()), (42, 32));
    assert!(AuditHead::parse("42:xyz").unwrap_err().contains("hex"));
    assert!(AuditHead::parse("nothing").is_err());
}

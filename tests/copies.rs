//! The copy queue of `ack.copy_mode = "append"` against the real Dovecot: a
//! copy the server refuses for good (a folder name Dovecot will not create,
//! a zero-byte message) is marked failed with the server's reason and a
//! `copy_failed` event, `status` counts it, and the copies after it are filed
//! all the same; a refused MULTIAPPEND run is filed copy by copy.

mod common;

use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(20);

/// Append mode, copies into `folder`, no rate limit in the way.
fn append_setup(test: &str, folder: &str) -> Setup {
    setup_with(
        test,
        &[(
            "[ack]\n",
            &format!("[ack]\ncopy_mode = \"append\"\ncopy_folder = \"{folder}\"\n"),
        )],
        "\n[rate_limits]\nper_sender_per_hour = 1000\nglobal_per_hour = 1000\n",
    )
}

fn status(setup: &Setup) -> serde_json::Value {
    serde_json::from_str(&cli_ok(setup, &["status", "--json"])).unwrap()
}

fn body(n: usize) -> String {
    format!("Stored XSS number {n} in the Hexon Gateway admin console.\n\nSteps to reproduce: open https://gateway.hexon.io/admin/x{n}\nImpact: session theft.")
}

#[test]
fn a_refused_copy_is_failed_and_later_copies_are_filed() {
    // Dovecot refuses '.' in a mailbox name here ("[CANNOT] Character not allowed").
    let setup = append_setup("copyfail", "Team.Replies");
    let u = &setup.users;
    let raw = report_mail(
        &u.researcher,
        &u.security,
        "XSS 0",
        &body(0),
        "copyfail-0@researcher.test",
        "",
    );
    send_raw(&u.researcher, &u.security, &raw);
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("new reports 1"), "{out}");
    wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);

    let s = status(&setup);
    assert_eq!(s["outbox_copies_failed"], 1, "{s}");
    assert_eq!(s["outbox_copies_pending"], 0, "{s}");
    assert_eq!(s["outbox_failed"], 0, "the reply itself went out: {s}");
    let text = cli_ok(&setup, &["status"]);
    assert!(text.contains("copies failed:         1"), "{text}");
    let first = reports_json(&setup)[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = report_json(&setup, &first);
    let reason = detail["outbox"][0]["copy_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("refused APPEND") && reason.contains("not allowed in mailbox name"),
        "{detail}"
    );
    assert!(detail["outbox"][0]["appended_at"].is_null());
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "copy_failed"),
        "{detail}"
    );

    // The operator fixes the folder (a new one: TRYCREATE → CREATE → APPEND);
    // the next replies' copies are filed, the failed one does not come back.
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        config.replace("\"Team.Replies\"", "\"Team/Replies\""),
    )
    .unwrap();
    for n in 1..=2 {
        let raw = report_mail(
            &u.researcher,
            &u.security,
            &format!("XSS {n}"),
            &body(n),
            &format!("copyfail-{n}@researcher.test"),
            "",
        );
        send_raw(&u.researcher, &u.security, &raw);
    }
    wait_messages(&u.security, &u.password, "INBOX", 3, DELIVERY);
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("new reports 2"), "{out}");
    let filed = wait_messages(&u.security, &u.password, "Team/Replies", 2, DELIVERY);
    assert_eq!(filed.len(), 2);
    assert!(filed
        .iter()
        .all(|m| m.flags.iter().any(|f| f.contains("HexonReply"))));
    let s = status(&setup);
    assert_eq!(
        (&s["outbox_copies_failed"], &s["outbox_copies_pending"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "{s}"
    );
    assert_eq!(
        imap_messages(&u.researcher, &u.password, "INBOX").len(),
        3,
        "one ack per report, none twice"
    );
    assert!(cli_ok(&setup, &["audit", "verify"]).contains("intact"));
}

#[test]
fn a_refused_multiappend_run_is_filed_copy_by_copy() {
    let setup = append_setup("copyrun", "Replies");
    let u = &setup.users;
    // Five reports, ingested offline (acks queued, nothing sent).
    let mut files = Vec::new();
    for n in 0..5 {
        let path = setup.dir.path().join(format!("r{n}.eml"));
        let raw = report_mail(
            &u.researcher,
            &u.security,
            &format!("XSS {n}"),
            &body(n),
            &format!("copyrun-{n}@researcher.test"),
            "",
        );
        std::fs::write(&path, raw).unwrap();
        files.push(path.display().to_string());
    }
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    cli_ok(&setup, &args);

    // Pretend they were sent, with copies to file: the first into a folder Dovecot cannot
    // create, the rest into "Replies" in one MULTIAPPEND run in which one copy is empty
    // (Dovecot: "Can't save a zero byte message", and the whole run is refused).
    let db = rusqlite::Connection::open(setup.database()).unwrap();
    let ids: Vec<(i64, String)> = db
        .prepare(
            "SELECT o.id, r.tracking_id FROM outbox o JOIN reports r ON r.id = o.report_id
             WHERE o.kind = 'ack' ORDER BY o.id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids.len(), 5);
    for (n, (id, _)) in ids.iter().enumerate() {
        let (folder, bytes) = match n {
            0 => ("Bad.Folder", copy_bytes(n)),
            2 => ("Replies", Vec::new()),
            _ => ("Replies", copy_bytes(n)),
        };
        db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = '2026-11-24T10:00:00Z', rendered = ?1,
                               copy_folder = ?2 WHERE id = ?3",
            rusqlite::params![bytes, folder, id],
        )
        .unwrap();
    }
    drop(db);
    assert_eq!(status(&setup)["outbox_copies_pending"], 5);

    let out = cli(&setup, &["run", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("filing them one by one"), "{log}");

    let filed = imap_messages(&u.security, &u.password, "Replies");
    let mut subjects: Vec<String> = filed.iter().filter_map(|m| m.header("Subject")).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec!["copy 1", "copy 3", "copy 4"],
        "the good copies are filed"
    );
    let s = status(&setup);
    assert_eq!(s["outbox_copies_failed"], 2, "{s}");
    assert_eq!(s["outbox_copies_pending"], 0, "{s}");
    let reason = |n: usize| {
        report_json(&setup, &ids[n].1)["outbox"][0]["copy_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        reason(0).contains("not allowed in mailbox name"),
        "{}",
        reason(0)
    );
    assert!(reason(2).contains("zero byte"), "{}", reason(2));
    assert!(reason(1).is_empty());

    // Nothing is retried or filed twice.
    cli_ok(&setup, &["run", "--once"]);
    assert_eq!(imap_messages(&u.security, &u.password, "Replies").len(), 3);
    assert!(cli_ok(&setup, &["audit", "verify"]).contains("intact"));
}

/// A small reply as the outbox would have rendered it.
fn copy_bytes(n: usize) -> Vec<u8> {
    format!(
        "From: Hexon Security <security@hexon.test>\r\nTo: alice@researcher.test\r\nSubject: copy {n}\r\n\
         Message-ID: <copy-{n}-{}@hexon.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nReply {n}.\r\n",
        std::process::id()
    )
    .into_bytes()
}

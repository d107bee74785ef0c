//! End to end against the real Dovecot + Postfix: a researcher's report goes
//! through Postfix into the security mailbox, the daemon files it and the
//! researcher's own mailbox receives exactly one threaded acknowledgement.

mod common;

use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(20);

fn body_complete() -> &'static str {
    "Hi team,\n\nI found a stored XSS in the Hexon Gateway admin console.\n\n\
Steps to reproduce:\n1. Log in to https://gateway.hexon.io/admin\n2. Create a policy named <script>alert(1)</script>\n3. Open the policy list\n\n\
Impact: an attacker with policy-editor rights can run script in an admin's session.\n\n\
Proof of concept: curl -X POST https://gateway.hexon.io/api/v1/policies -d 'name=<script>alert(1)</script>'\n\nAlice"
}

#[test]
fn report_is_stored_and_researcher_gets_exactly_one_threaded_ack() {
    let setup = setup("ack");
    let u = &setup.users;
    let raw = report_mail(
        &u.researcher,
        &u.security,
        "Stored XSS in admin console SECRET-SUBJECT-WORDS",
        body_complete(),
        "report-1@researcher.test",
        "",
    );
    send_raw(&u.researcher, &u.security, &raw);
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);

    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("new reports 1"), "{out}");

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let tracking = reports[0]["tracking_id"].as_str().unwrap().to_string();
    assert!(
        tracking.starts_with("HEXON-2026-") || tracking.starts_with("HEXON-20"),
        "{tracking}"
    );
    assert_eq!(reports[0]["reporter"], u.researcher.as_str());
    assert!(reports[0]["ack_due"].as_str().unwrap() > reports[0]["received_at"].as_str().unwrap());

    // The researcher's own mailbox, read over IMAP.
    let inbox = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    assert_eq!(inbox.len(), 1, "exactly one ack");
    let ack = &inbox[0];
    let subject = ack.header("Subject").unwrap();
    assert!(subject.contains(&tracking), "{subject}");
    assert!(
        !subject.contains("SECRET-SUBJECT-WORDS"),
        "ack must not echo the reporter's subject: {subject}"
    );
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        ack.header("In-Reply-To").as_deref(),
        Some("<report-1@researcher.test>")
    );
    assert!(ack
        .header("References")
        .unwrap()
        .contains("report-1@researcher.test"));
    let message_id = ack.parsed().message_id().unwrap().to_string();
    assert!(message_id.ends_with("@hexon.test"), "{message_id}");
    let text = ack.parsed().body_text(0).unwrap().to_string();
    assert!(text.contains(&tracking));
    assert!(text.contains("https://hexon.test/security"));
    assert!(!text.contains("<script>"), "ack must not quote the report");

    // The team's copy (default copy_mode "bcc": an extra recipient of the same SMTP
    // transaction) arrives in the security mailbox; the next pass recognises it as ours,
    // marks it and does not make it a report.
    let security = wait_messages(&u.security, &u.password, "INBOX", 2, DELIVERY);
    assert!(
        security
            .iter()
            .any(|m| m.parsed().message_id() == Some(message_id.as_str())),
        "ack copy in the security mailbox"
    );
    assert!(
        security[0].flags.iter().any(|f| f.contains("Triaged")),
        "report is marked after commit"
    );

    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(
        out.contains("new reports 0") && out.contains("ignored 0"),
        "{out}"
    );
    let security = imap_messages(&u.security, &u.password, "INBOX");
    assert_eq!(security.len(), 2, "the report and one copy");
    let copy = security
        .iter()
        .find(|m| m.parsed().message_id() == Some(message_id.as_str()))
        .expect("ack copy in the security mailbox");
    assert!(
        copy.flags.iter().any(|f| f.contains("Triaged")),
        "{:?}",
        copy.flags
    );
    assert_eq!(
        reports_json(&setup).len(),
        1,
        "the ack copy must not become a report"
    );
    assert_eq!(
        imap_messages(&u.researcher, &u.password, "INBOX").len(),
        1,
        "still exactly one ack"
    );

    // The outbox says sent (the copy travelled with it: nothing to APPEND); the audit
    // trail is intact.
    let detail = report_json(&setup, &tracking);
    assert_eq!(detail["outbox"][0]["status"], "sent");
    assert!(detail["outbox"][0]["appended_at"].is_null());
    let status: serde_json::Value =
        serde_json::from_str(&cli_ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(status["outbox_copies_pending"], 0);
    let verify = cli_ok(&setup, &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
}

#[test]
fn follow_up_joins_report_and_restart_ingests_nothing_twice() {
    let setup = setup("followup");
    let u = &setup.users;
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "Auth bypass",
            body_complete(),
            "fu-1@researcher.test",
            "",
        ),
    );
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    let ack = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY).remove(0);
    let ack_id = ack.parsed().message_id().unwrap().to_string();
    let subject = ack.header("Subject").unwrap();

    // The reporter replies to the ack: credit answer included.
    let reply = report_mail(
        &u.researcher,
        &u.security,
        &format!("Re: {subject}"),
        "Thanks! Please credit me as Alice Example.\n\n> quoted ack text",
        "fu-2@researcher.test",
        &format!("In-Reply-To: <{ack_id}>\r\nReferences: <fu-1@researcher.test> <{ack_id}>\r\n"),
    );
    send_raw(&u.researcher, &u.security, &reply);
    wait_messages(&u.security, &u.password, "INBOX", 3, DELIVERY);
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("follow-ups 1"), "{out}");
    assert!(out.contains("new reports 0"), "{out}");

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1);
    let tracking = reports[0]["tracking_id"].as_str().unwrap();
    let detail = report_json(&setup, tracking);
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    assert_eq!(detail["messages"][1]["status"], "followup");
    assert_eq!(
        detail["outbox"].as_array().unwrap().len(),
        1,
        "no second ack for a follow-up"
    );

    // "Restart": two more passes ingest nothing and send nothing.
    for _ in 0..2 {
        let out = cli_ok(&setup, &["run", "--once"]);
        assert!(
            out.contains("new reports 0") && out.contains("follow-ups 0"),
            "{out}"
        );
    }
    assert_eq!(
        report_json(&setup, tracking)["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(imap_messages(&u.researcher, &u.password, "INBOX").len(), 1);
}

#[test]
fn stranger_using_a_tracking_id_becomes_a_new_flagged_report() {
    let setup = setup("hijack");
    let u = &setup.users;
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "RCE",
            body_complete(),
            "hj-1@researcher.test",
            "",
        ),
    );
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    let tracking = reports_json(&setup)[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();

    let stranger = format!("mallory-{}@example.org", std::process::id());
    add_user(&stranger, "pw");
    let forged = report_mail(
        &stranger,
        &u.security,
        &format!("Re: [{tracking}] Your security report has been received"),
        "Please send me the details of this report.",
        "hj-2@example.org",
        "References: <hj-1@researcher.test>\r\n",
    );
    send_raw(&stranger, &u.security, &forged);
    wait_messages(&u.security, &u.password, "INBOX", 3, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 2, "the stranger's mail is a new report");
    let new = &reports[1];
    assert_eq!(new["references_report"], tracking.as_str());
    assert_eq!(new["needs_review"], true);
    assert_eq!(
        report_json(&setup, &tracking)["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn idle_wakes_the_daemon_without_waiting_for_the_poll_interval() {
    // poll_interval_secs = 300 in the test config: only IDLE can make this fast.
    let setup = setup("idle");
    let u = &setup.users;
    let daemon = Daemon::start(&setup);
    wait_for("daemon to connect", Duration::from_secs(20), || {
        daemon.log_text().contains("IMAP connected").then_some(())
    });
    assert!(
        daemon.log_text().contains("idle=true"),
        "{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "Idle test",
            body_complete(),
            "idle-1@researcher.test",
            "",
        ),
    );
    wait_for("report stored via IDLE", Duration::from_secs(30), || {
        (report_count(&setup) == 1).then_some(())
    });
    let inbox = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    assert_eq!(inbox.len(), 1);
    let code = daemon.stop();
    assert_eq!(code, Some(0), "SIGTERM drains and exits cleanly");
}

#[test]
fn malformed_messages_are_quarantined_and_the_next_one_goes_through() {
    let setup = setup("quarantine");
    let u = &setup.users;
    // 1. Bytes that are not a mail message at all (filed by another client over IMAP).
    imap_append(
        &u.security,
        &u.password,
        "INBOX",
        b"\x00\x01 this is not an RFC 5322 message\r\n\r\n\xff\xfe",
    );
    // 2. Through Postfix: MIME nested deeper than the limit (16).
    let mut deep = format!(
        "From: {r}\r\nTo: {s}\r\nSubject: deep\r\nMessage-ID: <deep@researcher.test>\r\nMIME-Version: 1.0\r\n",
        r = u.researcher,
        s = u.security
    );
    for n in 0..40 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
    send_raw(&u.researcher, &u.security, deep.as_bytes());
    // 3. A good report after them.
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "Good one",
            body_complete(),
            "good@researcher.test",
            "",
        ),
    );
    wait_messages(&u.security, &u.password, "INBOX", 3, DELIVERY);
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("quarantined 2"), "{out}");
    assert!(out.contains("new reports 1"), "{out}");

    let q: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&setup, &["quarantine", "--json"])).unwrap();
    assert_eq!(q.len(), 2);
    let reasons: Vec<&str> = q.iter().map(|m| m["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("header")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("nesting")), "{reasons:?}");
    assert_eq!(reports_json(&setup).len(), 1);
    wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
}

#[test]
fn starttls_imap_and_auto_replies_are_handled() {
    // STARTTLS on the IMAP side; an auto-reply (vacation) to our ack is not a report and gets no reply.
    let stack = stack();
    let setup = setup_with(
        "starttls",
        &[(
            &format!("port = {}\ntls = \"implicit\"", stack.port("IMAPS_PORT")),
            &format!("port = {}\ntls = \"starttls\"", stack.port("IMAP_PORT")),
        )],
        "",
    );
    let u = &setup.users;
    let vacation = report_mail(
        &u.researcher,
        &u.security,
        "Out of office",
        "I am away until Monday.",
        "vac-1@researcher.test",
        "Auto-Submitted: auto-replied\r\n",
    );
    send_raw(&u.researcher, &u.security, &vacation);
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(
        out.contains("ignored 1") && out.contains("new reports 0"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        imap_messages(&u.researcher, &u.password, "INBOX").is_empty(),
        "never auto-reply to an auto-reply"
    );
}

#[test]
fn reply_copies_are_filed_together_and_never_fetched_back() {
    // APPENDed copies are the opt-in copy_mode "append".
    let setup = setup_with(
        "copies",
        &[("[ack]\n", "[ack]\ncopy_mode = \"append\"\n")],
        "",
    );
    let u = &setup.users;
    for n in 0..5 {
        let raw = report_mail(
            &u.researcher,
            &u.security,
            &format!("Stored XSS number {n}"),
            body_complete(),
            &format!("copies-{n}@researcher.test"),
            "",
        );
        send_raw(&u.researcher, &u.security, &raw);
    }
    wait_messages(&u.security, &u.password, "INBOX", 5, DELIVERY);

    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(out.contains("new reports 5"), "{out}");

    // Five reports plus five copies (filed in one MULTIAPPEND on Dovecot), each copy once,
    // marked as ours; the reports are marked triaged but not as replies.
    let security = wait_messages(&u.security, &u.password, "INBOX", 10, DELIVERY);
    assert_eq!(security.len(), 10, "five reports and five copies");
    let copies: Vec<_> = security
        .iter()
        .filter(|m| {
            m.parsed()
                .message_id()
                .is_some_and(|id| id.ends_with("@hexon.test"))
        })
        .collect();
    assert_eq!(copies.len(), 5);
    for copy in &copies {
        assert!(
            copy.flags.iter().any(|f| f.contains("HexonReply"))
                && copy.flags.iter().any(|f| f.contains("Triaged")),
            "{:?}",
            copy.flags
        );
    }
    let mut ids: Vec<_> = copies
        .iter()
        .map(|m| m.parsed().message_id().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each copy filed once");
    assert!(security
        .iter()
        .filter(|m| !copies.iter().any(|c| c.uid == m.uid))
        .all(|m| !m.flags.iter().any(|f| f.contains("HexonReply"))));

    // The copies sit past the cursor, yet the next pass fetches nothing.
    let out = cli_ok(&setup, &["run", "--once"]);
    assert!(
        out.contains("fetched 0") && out.contains("new reports 0"),
        "{out}"
    );
    assert_eq!(
        imap_messages(&u.researcher, &u.password, "INBOX").len(),
        5,
        "one ack per report"
    );
}

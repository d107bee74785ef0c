//! A real auto-responder loop between two mailboxes: the researcher's mailbox
//! answers every mail it receives (a naive vacation responder that sets no
//! Auto-Submitted header and no threading headers, the worst case), through
//! Postfix, while the daemon runs. The daemon must stop the ping-pong: its
//! per-sender rate limit withholds further acks, every reply is still stored,
//! and the loop dies out. A well-behaved responder (Auto-Submitted) gets no
//! reply at all.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn responder(
    researcher: String,
    password: String,
    security: String,
    polite: bool,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut answered: HashSet<u32> = HashSet::new();
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            for m in imap_messages(&researcher, &password, "INBOX") {
                if answered.insert(m.uid) {
                    let extra = if polite {
                        "Auto-Submitted: auto-replied\r\n"
                    } else {
                        ""
                    };
                    let reply = report_mail(
                        &researcher,
                        &security,
                        "Out of office",
                        "I am out of the office until next week and will read your message then.",
                        &format!("vacation-{}-{}@researcher.test", m.uid, fastrand::u32(..)),
                        extra,
                    );
                    send_raw(&researcher, &security, &reply);
                    sent += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        sent
    })
}

#[test]
fn naive_auto_responder_loop_is_cut_by_the_rate_limit() {
    let setup = setup_with(
        "loop",
        &[],
        "\n[rate_limits]\nper_sender_per_hour = 3\nglobal_per_hour = 1000\n",
    );
    let u = &setup.users;
    let daemon = Daemon::start(&setup);
    wait_for("daemon", Duration::from_secs(20), || {
        daemon.log_text().contains("IMAP connected").then_some(())
    });
    let stop = Arc::new(AtomicBool::new(false));
    let bot = responder(
        u.researcher.clone(),
        u.password.clone(),
        u.security.clone(),
        false,
        stop.clone(),
    );
    // The first mail starts the ping-pong.
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "XSS",
            "XSS in the Hexon Gateway admin UI.",
            "loop-0@researcher.test",
            "",
        ),
    );

    // Let it run until the loop has died out: no new mail anywhere for 5 s.
    let started = Instant::now();
    let mut last_count = 0;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(5) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the loop did not die out"
        );
        std::thread::sleep(Duration::from_millis(500));
        let count = imap_messages(&u.researcher, &u.password, "INBOX").len() + report_count(&setup);
        if count != last_count {
            last_count = count;
            quiet_since = Instant::now();
        }
    }
    stop.store(true, Ordering::SeqCst);
    let replies = bot.join().unwrap();
    let acks = imap_messages(&u.researcher, &u.password, "INBOX").len();
    let reports = report_count(&setup);
    println!("loop: {acks} acks sent, {replies} auto-replies received, {reports} reports stored");
    assert_eq!(acks, 3, "per_sender_per_hour = 3 caps the acks");
    assert_eq!(
        reports,
        1 + replies,
        "every auto-reply is stored, none is lost"
    );
    assert_eq!(
        replies, 3,
        "the responder answered each ack once, then the loop stopped"
    );
    let show = report_json(
        &setup,
        reports_json(&setup).last().unwrap()["tracking_id"]
            .as_str()
            .unwrap(),
    );
    assert!(
        show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "ack_suppressed"),
        "{show}"
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn polite_auto_responder_gets_no_reply() {
    let setup = setup("politeloop");
    let u = &setup.users;
    let daemon = Daemon::start(&setup);
    wait_for("daemon", Duration::from_secs(20), || {
        daemon.log_text().contains("IMAP connected").then_some(())
    });
    let stop = Arc::new(AtomicBool::new(false));
    let bot = responder(
        u.researcher.clone(),
        u.password.clone(),
        u.security.clone(),
        true,
        stop.clone(),
    );
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "XSS",
            "XSS in the Hexon Gateway admin UI.",
            "polite-0@researcher.test",
            "",
        ),
    );
    wait_messages(
        &u.researcher,
        &u.password,
        "INBOX",
        1,
        Duration::from_secs(20),
    );
    // The vacation reply arrives and is ignored (not a report, no ack).
    wait_for(
        "the auto-reply to be filed",
        Duration::from_secs(20),
        || {
            let s: serde_json::Value =
                serde_json::from_str(&cli_ok(&setup, &["status", "--json"])).ok()?;
            (s["imap_unmarked"] == 0 && imap_messages(&u.security, &u.password, "INBOX").len() >= 3)
                .then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    assert_eq!(bot.join().unwrap(), 1);
    assert_eq!(
        imap_messages(&u.researcher, &u.password, "INBOX").len(),
        1,
        "one ack, and no reply to the auto-reply"
    );
    assert_eq!(report_count(&setup), 1);
    assert_eq!(daemon.stop(), Some(0));
}

/// Events of the report whose reporter is `address`.
fn events_of(setup: &Setup, address: &str) -> Vec<String> {
    let report = reports_json(setup)
        .into_iter()
        .find(|r| r["reporter"].as_str() == Some(address) || r["from"].as_str() == Some(address))
        .unwrap_or_else(|| panic!("no report from {address}"));
    let show = report_json(setup, report["tracking_id"].as_str().unwrap());
    show["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn forged_flood_past_the_global_limit_delays_but_never_drops_a_genuine_ack() {
    // Finding 8 of issue 16: 2 open acks + 1 reserved per 4-second window.
    let setup = setup_with(
        "flood",
        &[("idle = true", "idle = true\nauthserv_id = \"mx.hexon.test\"")],
        "\n[rate_limits]\nper_sender_per_hour = 3\nglobal_per_hour = 3\nreserved_authenticated_per_hour = 1\nglobal_window_secs = 4\n",
    );
    let u = &setup.users;
    let verified = format!("verified-{}@researcher.test", std::process::id());
    add_user(&verified, &u.password);
    wait_login(&verified, &u.password);
    // The flood: forged senders rotating addresses (one mail each, so the
    // per-sender limit never trips), filed before the genuine reports.
    let flood = 6;
    for n in 0..flood {
        let forged = format!("forged-{n}-{}@researcher.test", fastrand::u32(..));
        let raw = report_mail(
            &forged,
            &u.security,
            "XSS",
            "XSS in the Hexon Gateway admin UI.",
            &format!("flood-{n}@forged.test"),
            "",
        );
        send_raw(&forged, &u.security, &raw);
    }
    wait_messages(
        &u.security,
        &u.password,
        "INBOX",
        flood,
        Duration::from_secs(30),
    );
    // A genuine reporter without any authentication, and one whose domain
    // the receiving server vouched for (DMARC pass).
    let plain = report_mail(
        &u.researcher,
        &u.security,
        "SQLi",
        "SQL injection in the Hexon Portal login form.",
        "genuine-plain@researcher.test",
        "",
    );
    send_raw(&u.researcher, &u.security, &plain);
    let vouched = report_mail(
        &verified,
        &u.security,
        "CSRF",
        "CSRF in the Hexon Portal settings page.",
        "genuine-verified@researcher.test",
        "Authentication-Results: mx.hexon.test; dmarc=pass header.from=researcher.test\r\n",
    );
    send_raw(&verified, &u.security, &vouched);
    wait_messages(
        &u.security,
        &u.password,
        "INBOX",
        flood + 2,
        Duration::from_secs(30),
    );

    let started = Instant::now();
    let daemon = Daemon::start(&setup);
    // The authenticated reporter's ack uses the reserved share: not queued behind the flood.
    wait_messages(&verified, &u.password, "INBOX", 1, Duration::from_secs(30));
    let verified_after = started.elapsed();
    // The plain reporter's ack is delayed (the open share is full), then sent.
    wait_messages(
        &u.researcher,
        &u.password,
        "INBOX",
        1,
        Duration::from_secs(90),
    );
    let plain_after = started.elapsed();
    println!(
        "flood: {flood} forged reports; authenticated ack after {:.1} s, delayed plain ack after {:.1} s",
        verified_after.as_secs_f64(),
        plain_after.as_secs_f64()
    );
    let plain_events = events_of(&setup, &u.researcher);
    assert!(
        plain_events.iter().any(|k| k == "ack_delayed"),
        "{plain_events:?}"
    );
    let verified_events = events_of(&setup, &verified);
    assert!(
        !verified_events.iter().any(|k| k == "ack_delayed"),
        "{verified_events:?}"
    );
    assert!(
        verified_after < plain_after,
        "the reserved share is not behind the flood"
    );
    // Nothing was dropped: every report has an ack queued, none suppressed.
    let reports = reports_json(&setup);
    assert_eq!(reports.len(), flood + 2);
    for r in &reports {
        let show = report_json(&setup, r["tracking_id"].as_str().unwrap());
        let kinds: Vec<&str> = show["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"ack_queued") && !kinds.contains(&"ack_suppressed"),
            "{kinds:?}"
        );
    }
    assert_eq!(daemon.stop(), Some(0));
}

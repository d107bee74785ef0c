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

//! Crash safety, exactly once: reports flow through Postfix while the daemon
//! is killed with SIGKILL at random moments and by injected aborts exactly
//! between the commit and the IMAP flag, and between SMTP acceptance and the
//! "sent" mark. In the end every message is stored once and every report has
//! exactly one ack in the researcher's mailbox, counted over IMAP.
//!
//! It runs with the DEFAULT `ack.copy_mode` ("bcc"): exactly once must hold
//! without any tuning. The daemon is killed at least `MIN_KILLS` times with
//! SIGKILL while the reports arrive (they are paced over about 20 s).
//!
//! HEXON_CRASH_COUNT sets the number of reports (default 200).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;

/// SIGKILLs the test makes at least (injected aborts come on top).
const MIN_KILLS: usize = 30;

#[test]
fn kill_dash_nine_loses_nothing_and_never_double_acks() {
    let count: usize = std::env::var("HEXON_CRASH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // NOTE: no copy_mode / ambiguity_wait_secs here: the defaults must be exactly-once.
    let setup = setup_with(
        "crash",
        &[("fetch_batch = 50", "fetch_batch = 20")],
        "\n[rate_limits]\nper_sender_per_hour = 100000\nglobal_per_hour = 100000\n",
    );
    let u = &setup.users;

    // The researcher sends `count` reports in the background.
    let (researcher, security) = (u.researcher.clone(), u.security.clone());
    let sender = std::thread::spawn(move || {
        for n in 0..count {
            let raw = report_mail(
                &researcher,
                &security,
                &format!("Crash report {n}"),
                &format!("Report number {n}. Steps to reproduce: curl https://gateway.hexon.io/api/v1/x{n}\nImpact: data exposure."),
                &format!("crash-{n}-{}@researcher.test", std::process::id()),
                "",
            );
            send_raw(&researcher, &security, &raw);
            // Spread the reports over the kills (about 20 s for 200).
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let faults = "after_commit:0.08,after_smtp:0.04";
    let started = Instant::now();
    let mut kills = 0;
    let mut aborts = 0;
    let mut restarts = 0;
    let deadline = started + Duration::from_secs(600);
    loop {
        let mut daemon = Daemon::start_with_env(&setup, &[("HEXON_TRIAGE_FAULTS", faults)]);
        restarts += 1;
        let lifetime = Duration::from_millis(200 + fastrand::u64(..1300));
        let born = Instant::now();
        let mut aborted = false;
        while born.elapsed() < lifetime {
            if let Ok(Some(_)) = daemon.child.try_wait() {
                aborted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if aborted {
            aborts += 1;
        } else {
            let _ = daemon.child.kill(); // SIGKILL
            let _ = daemon.child.wait();
            kills += 1;
        }
        drop(daemon);
        if sender.is_finished() && kills >= MIN_KILLS && done(&setup, count) {
            break;
        }
        if restarts % 20 == 0 {
            let out = cli(&setup, &["status", "--json"]);
            println!(
                "after {restarts} starts: {}",
                String::from_utf8_lossy(&out.stdout).replace('\n', " ")
            );
        }
        assert!(Instant::now() < deadline, "no convergence after 10 minutes");
    }
    sender.join().unwrap();

    // A clean final daemon drains whatever is left, then stops.
    let daemon = Daemon::start(&setup);
    wait_for(
        "all reports stored and acked",
        Duration::from_secs(120),
        || done(&setup, count).then_some(()),
    );
    assert_eq!(daemon.stop(), Some(0));

    // Count everything.
    let reports = reports_json(&setup);
    let tracking: HashSet<String> = reports
        .iter()
        .map(|r| r["tracking_id"].as_str().unwrap().to_string())
        .collect();
    let acks = wait_messages(
        &u.researcher,
        &u.password,
        "INBOX",
        count,
        Duration::from_secs(60),
    );
    // Give a straggler duplicate the chance to arrive before counting.
    std::thread::sleep(Duration::from_secs(2));
    let acks_now = imap_messages(&u.researcher, &u.password, "INBOX");
    let mut per_report: HashMap<String, usize> = HashMap::new();
    for ack in &acks_now {
        let id = ack.header("X-Hexon-Tracking-Id").unwrap_or_default();
        *per_report.entry(id).or_default() += 1;
    }
    let distinct_ids: HashSet<String> = acks_now
        .iter()
        .filter_map(|a| a.parsed().message_id().map(str::to_string))
        .collect();
    let out = cli_ok(&setup, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();

    println!(
        "crash test: {count} reports sent; {restarts} daemon starts, {kills} SIGKILLs, {aborts} injected aborts; \
         stored reports {}, distinct tracking ids {}, acks in researcher mailbox {} ({} distinct Message-IDs), \
         reports with exactly one ack {}, reports with two or more acks {}, outbox failed {}, took {:?}",
        reports.len(),
        tracking.len(),
        acks_now.len(),
        distinct_ids.len(),
        per_report.values().filter(|n| **n == 1).count(),
        per_report.values().filter(|n| **n > 1).count(),
        status["outbox_failed"],
        started.elapsed()
    );
    assert!(acks.len() >= count);
    assert_eq!(reports.len(), count, "every message stored exactly once");
    assert_eq!(tracking.len(), count);
    assert_eq!(
        acks_now.len(),
        count,
        "exactly one ack per report in the researcher's mailbox"
    );
    assert_eq!(distinct_ids.len(), count);
    for id in &tracking {
        assert_eq!(
            per_report.get(id),
            Some(&1),
            "report {id} has {:?} acks",
            per_report.get(id)
        );
    }
    assert_eq!(status["outbox_failed"], 0);
    assert_eq!(status["quarantined"], 0);
    assert!(
        kills >= MIN_KILLS,
        "the test must actually kill the daemon ({kills} SIGKILLs)"
    );
}

/// All `count` reports stored and nothing left in the outbox.
fn done(setup: &Setup, count: usize) -> bool {
    let out = cli(setup, &["status", "--json"]);
    if !out.status.success() {
        return false;
    }
    let Ok(status) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return false;
    };
    status["reports"].as_u64() == Some(count as u64)
        && status["outbox_queued"].as_u64() == Some(0)
        && status["imap_unmarked"].as_u64() == Some(0)
}

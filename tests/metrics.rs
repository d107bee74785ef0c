//! The `[metrics]` endpoint against the real Dovecot + Postfix: the daemon
//! runs with the endpoint on a free loopback port, `curl` scrapes it, a
//! report is mailed through Postfix, and the fetched / stored / acks-sent
//! counters move (and nothing from the report shows up in the scrape).
//! Also: a taken port is a start-up error naming `metrics.listen`, and a
//! non-loopback address is refused by `check-config`.
//!
//! I/O: the shared mail stack, a temp dir, the real binary, `curl`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// `curl` with `args`; returns (HTTP status, body). Fails loudly without curl.
fn curl(args: &[&str]) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["--silent", "--max-time", "5", "--write-out", "\n%{http_code}"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run curl: install it (apt-get install curl); this test needs a real HTTP client");
    if !out.status.success() {
        return None; // not listening yet
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let (code, body) = curl(&[&url]).expect("the metrics endpoint answers");
    assert_eq!(code, 200, "{body}");
    body
}

/// The value of the sample `series` (name with labels) in a scrape.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in the scrape:\n{scrape}"))
}

fn report_body() -> &'static str {
    "Hi team,\n\nThe Hexon Gateway admin console has a stored XSS METRICS-CANARY-BODY.\n\n\
Steps to reproduce:\n1. Log in to https://gateway.hexon.io/admin\n2. Create a policy named <script>alert(1)</script>\n\n\
Impact: script runs in an admin's session.\n\nAlice"
}

#[test]
fn counters_move_when_a_report_is_mailed() {
    assert!(
        Command::new("curl")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "curl is missing: apt-get install curl"
    );
    let port = free_port();
    let setup = setup_with(
        "metrics",
        &[],
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let u = &setup.users;
    // One old report imported (no ack queued): overdue, which the store gauges must show.
    let old = String::from_utf8(report_mail(
        "old@researcher.test",
        &u.security,
        "old report",
        report_body(),
        "metrics-old@researcher.test",
        "",
    ))
    .unwrap()
    .replace("Tue, 24 Nov 2026", "Tue, 03 Mar 2020")
    .replace("\r\n", "\n");
    let mbox = setup.dir.path().join("old.mbox");
    let from_line = "From old@researcher.test Tue Mar  3 09:00:00 2020";
    std::fs::write(&mbox, format!("{from_line}\n{old}\n")).unwrap();
    let imported = cli_ok(&setup, &["import", mbox.to_str().unwrap()]);
    assert!(imported.contains("new reports 1"), "{imported}");

    let daemon = Daemon::start(&setup);
    let before = wait_for("the endpoint, IMAP up, a poll, gauges", DELIVERY, || {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let (code, body) = curl(&[&url])?;
        (code == 200
            && value(&body, "hexon_triage_imap_connected") == 1.0
            && value(&body, "hexon_triage_last_successful_poll_timestamp_seconds") > 0.0
            && value(&body, "hexon_triage_overdue_reports") == 1.0)
            .then_some(body)
    });
    println!("before:\n{before}");
    let fetched0 = value(&before, "hexon_triage_messages_fetched_total");
    let reports0 = value(
        &before,
        "hexon_triage_messages_stored_total{result=\"report\"}",
    );
    let sent0 = value(&before, "hexon_triage_acks_sent_total{kind=\"ack\"}");
    assert_eq!((fetched0, reports0, sent0), (0.0, 0.0, 0.0));

    let raw = report_mail(
        &u.researcher,
        &u.security,
        "XSS METRICS-CANARY-SUBJECT",
        report_body(),
        "metrics-1@researcher.test",
        "",
    );
    send_raw(&u.researcher, &u.security, &raw);
    let after = wait_for(
        "fetched, stored and ack-sent counters to move",
        DELIVERY,
        || {
            let s = scrape(port);
            (value(&s, "hexon_triage_acks_sent_total{kind=\"ack\"}") >= 1.0).then_some(s)
        },
    );
    println!("after:\n{after}");
    assert!(value(&after, "hexon_triage_messages_fetched_total") >= 1.0);
    assert_eq!(
        value(
            &after,
            "hexon_triage_messages_stored_total{result=\"report\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&after, "hexon_triage_messages_quarantined_total"),
        0.0
    );
    assert_eq!(
        value(&after, "hexon_triage_acks_sent_total{kind=\"ack\"}"),
        1.0
    );
    assert_eq!(
        value(&after, "hexon_triage_acks_failed_total{kind=\"ack\"}"),
        0.0
    );
    for stage in ["open", "parse", "triage", "commit", "send"] {
        let count = value(
            &after,
            &format!("hexon_triage_stage_duration_seconds_count{{stage=\"{stage}\"}}"),
        );
        assert!(count >= 1.0, "stage {stage} observed {count} times");
    }
    // The researcher got exactly one ack, read back over IMAP.
    let inbox = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    assert_eq!(inbox.len(), 1);

    // Nothing from the report or its people in the scrape.
    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 2, "{reports:?}");
    let tracking: Vec<String> = reports
        .iter()
        .map(|r| r["tracking_id"].as_str().unwrap().to_string())
        .collect();
    for secret in [
        "METRICS-CANARY",
        "researcher.test",
        "hexon.test",
        "alice",
        "old report",
        tracking[0].as_str(),
        tracking[1].as_str(),
    ] {
        assert!(!after.contains(secret), "scrape carries {secret:?}");
    }

    // The store gauges (refreshed every 15 s): nothing queued, the old report still overdue.
    let settled = wait_for("the gauges after the ack", Duration::from_secs(40), || {
        let s = scrape(port);
        (value(&s, "hexon_triage_acks_queued") == 0.0).then_some(s)
    });
    assert_eq!(
        value(&settled, "hexon_triage_outbox_oldest_queued_age_seconds"),
        0.0
    );
    assert_eq!(value(&settled, "hexon_triage_overdue_reports"), 1.0);

    // Only GET /metrics.
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(curl(&[&format!("{base}/")]).unwrap().0, 404);
    assert_eq!(
        curl(&["-X", "POST", &format!("{base}/metrics")]).unwrap().0,
        405
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_taken_port_is_a_startup_error_naming_metrics_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let setup = setup_with(
        "metrics-taken",
        &[],
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let out = cli(&setup, &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("hexon-triage.toml"), "{stderr}");
    drop(taken);

    let public = setup_with(
        "metrics-public",
        &[],
        "\n[metrics]\nlisten = \"0.0.0.0:9187\"\n",
    );
    let out = cli(&public, &["check-config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

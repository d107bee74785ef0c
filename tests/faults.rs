//! Faults against the real servers (a stack private to this test binary,
//! since these tests stop and restart Dovecot and Postfix): IMAP restarted
//! mid-IDLE, SMTP down for a while, a permanent SMTP rejection, the database
//! held by a concurrent writer, untrusted and wrong-name TLS certificates,
//! and the systemd watchdog withheld by a hung loop.

mod common;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

const DELIVERY: Duration = Duration::from_secs(30);

/// These tests restart shared servers: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    use_private_stack();
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn body() -> &'static str {
    "The Hexon Gateway admin API leaks session tokens.\n\nSteps to reproduce: curl https://gateway.hexon.io/api/v1/session\n\nImpact: account takeover.\n"
}

#[test]
fn imap_restart_mid_idle_reconnects_and_continues() {
    let _guard = serial();
    let setup = setup_with(
        "imaprestart",
        &[(
            "timeout_secs = 10\nfetch_batch",
            "timeout_secs = 5\nfetch_batch",
        )],
        "",
    );
    let u = &setup.users;
    let daemon = Daemon::start(&setup);
    wait_for("IDLE", Duration::from_secs(20), || {
        daemon.log_text().contains("IMAP connected").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));

    let stack = stack();
    stack.stop_dovecot();
    wait_for("the daemon to notice", Duration::from_secs(30), || {
        daemon.log_text().contains("reconnecting").then_some(())
    });
    stack.start_dovecot();
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "after restart",
            body(),
            "restart-1@researcher.test",
            "",
        ),
    );
    wait_for("report after IMAP restart", Duration::from_secs(60), || {
        (report_count(&setup) == 1).then_some(())
    });
    wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    let connects = daemon.log_text().matches("IMAP connected").count();
    assert!(connects >= 2, "reconnected: {connects} connections");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn smtp_outage_queues_acks_and_permanent_rejection_fails_the_row() {
    let _guard = serial();
    let setup = setup("smtpdown");
    let u = &setup.users;
    let stack = stack();
    stack.postfix("stop");
    // Mail still arrives in the mailbox (filed over IMAP while the MTA is down).
    imap_append(
        &u.security,
        &u.password,
        "INBOX",
        &report_mail(
            &u.researcher,
            &u.security,
            "during outage",
            body(),
            "down-1@researcher.test",
            "",
        ),
    );
    imap_append(
        &u.security,
        &u.password,
        "INBOX",
        &report_mail(
            "someone@outside.test",
            &u.security,
            "from outside",
            body(),
            "out-1@outside.test",
            "",
        ),
    );
    let daemon = Daemon::start(&setup);
    wait_for("both reports stored", Duration::from_secs(30), || {
        (report_count(&setup) == 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let status: serde_json::Value =
        serde_json::from_str(&cli_ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(
        status["outbox_queued"], 2,
        "acks wait while SMTP is down: {status}"
    );
    let reports = reports_json(&setup);
    let first = report_json(&setup, reports[0]["tracking_id"].as_str().unwrap());
    assert!(first["outbox"][0]["attempts"].as_u64().unwrap() >= 1);
    assert!(
        first["outbox"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("SMTP"),
        "{first}"
    );

    stack.postfix("start");
    let acks = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    assert_eq!(acks.len(), 1);
    // The ack to an outside domain is refused for good (5xx): failed, with the reason, audited.
    let outside = wait_for("outside ack to fail", Duration::from_secs(60), || {
        let detail = report_json(&setup, reports[1]["tracking_id"].as_str().unwrap());
        (detail["outbox"][0]["status"] == "failed").then_some(detail)
    });
    assert!(
        outside["outbox"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("permanently"),
        "{outside}"
    );
    assert!(outside["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "ack_failed"));
    let status: serde_json::Value =
        serde_json::from_str(&cli_ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(status["outbox_failed"], 1);
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_busy_database_only_delays_the_pipeline() {
    let _guard = serial();
    let setup = setup("busy");
    let u = &setup.users;
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "busy db",
            body(),
            "busy-1@researcher.test",
            "",
        ),
    );
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    // Create the database, then hold its write lock as a long CLI write would.
    hexon_triage::store::Store::open(&setup.database()).unwrap();
    let conn = rusqlite::Connection::open(setup.database()).unwrap();
    conn.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO daemon_state(key, value) VALUES ('cli', 'busy');",
    )
    .unwrap();
    let started = Instant::now();
    let runner = {
        let config = setup.config.clone();
        std::thread::spawn(move || {
            Command::new(BIN)
                .arg("--config")
                .arg(config)
                .args(["run", "--once"])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    conn.execute_batch("COMMIT;").unwrap();
    let out = runner.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(reports_json(&setup).len(), 1);
    wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
}

#[test]
fn untrusted_or_wrong_name_certificates_are_refused() {
    let _guard = serial();
    let stack = stack();
    // 1. The real Dovecot, but without our CA: the system roots do not trust it.
    let setup = setup_with(
        "untrusted",
        &[(
            &format!("ca_file = \"{}\"\nuser", stack.ca_file().display()),
            "user",
        )],
        "",
    );
    let out = cli(&setup, &["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot establish TLS") && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    // 2. A real TLS server (openssl s_server) presenting a cert for another name.
    let port = 20000 + fastrand::u16(..10000);
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "-cert",
            stack.get("WRONG_CERT"),
            "-key",
            stack.get("WRONG_KEY"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    wait_for("s_server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    let setup = setup_with(
        "wrongname",
        &[(
            &format!("port = {}\ntls", stack.port("IMAPS_PORT")),
            &format!("port = {port}\ntls"),
        )],
        "",
    );
    let out = cli(&setup, &["run", "--once"]);
    let _ = server.kill();
    let mut received = String::new();
    let _ = server.stdout.take().unwrap().read_to_string(&mut received);
    let _ = server.wait();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot establish TLS") && err.contains("not valid for name"),
        "{err}"
    );
    assert!(
        !received.contains("LOGIN") && !received.contains(&setup.users.password),
        "no credentials after a failed handshake"
    );
}

/// Collect sd_notify datagrams sent to `socket` for `during`.
fn collect(socket: &UnixDatagram, during: Duration) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    let end = Instant::now() + during;
    let mut buf = [0u8; 512];
    while Instant::now() < end {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            out.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn watchdog_is_pinged_only_while_the_loops_make_progress() {
    let _guard = serial();
    let setup = setup_with(
        "watchdog",
        &[
            ("poll_interval_secs = 300", "poll_interval_secs = 2"),
            (
                "timeout_secs = 10\nfetch_batch",
                "timeout_secs = 1\nfetch_batch",
            ),
        ],
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    for (faults, expect_pings) in [("", true), ("hang_intake:1", false)] {
        let path = dir.path().join(format!("notify-{}", fastrand::u32(..)));
        let socket = UnixDatagram::bind(&path).unwrap();
        let path_text = path.display().to_string();
        let daemon = Daemon::start_with_env(
            &setup,
            &[
                ("NOTIFY_SOCKET", path_text.as_str()),
                ("WATCHDOG_USEC", "1000000"),
                ("HEXON_TRIAGE_FAULTS", faults),
            ],
        );
        let messages = collect(
            &socket,
            Duration::from_secs(if expect_pings { 12 } else { 20 }),
        );
        let ready = messages.iter().any(|(_, m)| m.contains("READY=1"));
        assert!(ready, "READY=1 sent: {messages:?}");
        let pings: Vec<Instant> = messages
            .iter()
            .filter(|(_, m)| m.contains("WATCHDOG=1"))
            .map(|(t, _)| *t)
            .collect();
        let last = Instant::now();
        if expect_pings {
            assert!(
                pings.len() >= 10,
                "healthy daemon pings every 0.5 s: {}",
                pings.len()
            );
            assert!(last.duration_since(*pings.last().unwrap()) < Duration::from_secs(2));
        } else {
            // stale after poll (2 s) + 6 x timeout (1 s) + 5 s = 13 s: pings stop well before 20 s.
            let recent = pings
                .iter()
                .filter(|t| last.duration_since(**t) < Duration::from_secs(4))
                .count();
            assert_eq!(
                recent,
                0,
                "a hung intake loop withholds the ping ({} pings in all)",
                pings.len()
            );
            assert!(daemon.log_text().contains("withholding the watchdog ping"));
        }
        drop(daemon);
    }
}

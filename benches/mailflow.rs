//! Benchmark against the real servers (a private Dovecot + Postfix from
//! scripts/mailstack.sh). Prints figures; asserts nothing about speed.
//!
//! 1. Backlog: N messages already in the INBOX (default 5,000; BENCH_N),
//!    50% plaintext, 40% PGP/MIME to a Curve25519 team key, 10% to RSA-3072,
//!    2 KB to 2 MB with some attachments. Time until every report is stored
//!    and its ack queued, and until every ack is sent and filed.
//! 2. Latency: BENCH_LATENCY (default 200) reports sent one at a time through
//!    Postfix with IDLE; SMTP acceptance → ack delivered to the researcher.
//! 3. Memory: RSS when idle; peak RSS while processing a 50 MB message.
//! 4. Per-stage cost breakdown, from the daemon's own counters.
//!
//! Run: `cargo bench --bench mailflow` (as root; installs/starts the servers).
//! BENCH_KEEP=1 keeps the daemons' logs and databases.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openpgp::cert::prelude::*;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};
use sequoia_openpgp as openpgp;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_hexon-triage");
const PASSWORD: &str = "bench-password";
const SECURITY: &str = "security@hexon.test";
const RESEARCHER: &str = "alice@researcher.test";
/// Latency samples come from a mailbox of their own (the backlog's acks go to alice).
const LATENCY_RESEARCHER: &str = "bob@researcher.test";

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Stack {
    dir: PathBuf,
    env: std::collections::HashMap<String, String>,
}

impl Stack {
    fn start() -> Stack {
        sh(Command::new("bash")
            .arg(format!("{REPO}/scripts/mailstack.sh"))
            .arg("install"));
        let dir = std::env::temp_dir().join(format!("hexon-triage-bench-{}", std::process::id()));
        sh(Command::new("bash")
            .arg(format!("{REPO}/scripts/mailstack.sh"))
            .arg("start")
            .arg(&dir));
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let stack = Stack { dir, env };
        for user in [SECURITY, RESEARCHER, LATENCY_RESEARCHER] {
            sh(Command::new("bash")
                .arg(format!("{REPO}/scripts/mailstack.sh"))
                .args(["adduser", stack.dir.to_str().unwrap(), user, PASSWORD]));
        }
        std::thread::sleep(Duration::from_millis(1100)); // passwd-file is re-read at most once a second
        stack
    }
    fn get(&self, key: &str) -> &str {
        &self.env[key]
    }
    fn maildir(&self, user: &str) -> PathBuf {
        self.dir.join("mail").join(user).join("Maildir")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(format!("{REPO}/scripts/mailstack.sh"))
            .arg("stop")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Team keys made by GnuPG: a Curve25519 and an RSA-3072 key, secret exports.
fn team_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        sh(Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args))
    };
    gpg(&[
        "--quick-gen-key",
        "Hexon Security <security@hexon.test>",
        "ed25519",
        "sign,cert",
        "never",
    ]);
    let fpr = gpg(&["--with-colons", "--list-keys", "security@hexon.test"])
        .lines()
        .find(|l| l.starts_with("fpr"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    gpg(&["--quick-add-key", &fpr, "cv25519", "encr", "never"]);
    let cv = dir.join("team-cv25519.sec.asc");
    std::fs::write(&cv, gpg(&["--armor", "--export-secret-keys", &fpr])).unwrap();
    gpg(&[
        "--quick-gen-key",
        "Hexon Security RSA <security-rsa@hexon.test>",
        "rsa3072",
        "sign,cert",
        "never",
    ]);
    let rsa_fpr = gpg(&["--with-colons", "--list-keys", "security-rsa@hexon.test"])
        .lines()
        .find(|l| l.starts_with("fpr"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    gpg(&["--quick-add-key", &rsa_fpr, "rsa3072", "encr", "never"]);
    let rsa = dir.join("team-rsa.sec.asc");
    std::fs::write(&rsa, gpg(&["--armor", "--export-secret-keys", &rsa_fpr])).unwrap();
    (cv, rsa)
}

fn encrypt(cert: &Cert, plaintext: &[u8]) -> Vec<u8> {
    let policy = StandardPolicy::new();
    // NOTE: gpg stamps keys with the current second; look a minute ahead.
    let when = std::time::SystemTime::now() + Duration::from_secs(60);
    let recipients: Vec<_> = cert
        .keys()
        .with_policy(&policy, Some(when))
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .collect();
    let mut sink = Vec::new();
    let message = Message::new(&mut sink);
    let message = Armorer::new(message).build().unwrap();
    let message = Encryptor::for_recipients(message, recipients)
        .build()
        .unwrap();
    let mut literal = LiteralWriter::new(message).build().unwrap();
    literal.write_all(plaintext).unwrap();
    literal.finalize().unwrap();
    sink
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(bytes);
    b.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// One benchmark message: (raw bytes).
fn make_message(n: usize, cv: &Cert, rsa: &Cert) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    // Size mix: 70% 2-8 KB, 20% 8-100 KB, 10% 100 KB-2 MB (the larger ones carry an attachment).
    let roll = rng.u32(..100);
    let size = match roll {
        0..=69 => rng.usize(2_000..8_000),
        70..=89 => rng.usize(8_000..100_000),
        _ => rng.usize(100_000..2_000_000),
    };
    let words = [
        "gateway", "token", "session", "registry", "helm", "admin", "curl", "header", "request",
        "response",
    ];
    let mut text = format!(
        "Hello team,\r\n\r\nreport {n}: the Hexon Gateway admin API at https://gateway.hexon.io/api/v1/r{n} leaks tokens.\r\n\r\nSteps to reproduce:\r\n1. curl -s https://gateway.hexon.io/api/v1/r{n}\r\n\r\nImpact: session takeover.\r\n\r\n"
    );
    let text_target = size.min(8_000);
    while text.len() < text_target {
        text.push_str(words[rng.usize(..words.len())]);
        text.push(if rng.u8(..12) == 0 { '\n' } else { ' ' });
    }
    let mut entity = if size > 8_000 {
        let mut blob = vec![0u8; size - text_target];
        rng.fill(&mut blob);
        format!(
            "Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b{n}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"poc-{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{n}--\r\n",
            base64_lines(&blob)
        )
    } else {
        format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n")
    };
    let headers = format!(
        "From: Researcher {n} <alice+r{n}@researcher.test>\r\nTo: {SECURITY}\r\nSubject: Bench report {n}\r\nMessage-ID: <bench-{n}@researcher.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    let kind = n % 10;
    if kind < 5 {
        entity.insert_str(0, &headers);
        return entity.into_bytes();
    }
    let cert = if kind < 9 { cv } else { rsa };
    let armored = encrypt(cert, entity.as_bytes());
    let mut out = headers.into_bytes();
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e{n}\"\r\n\r\n--e{n}\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--e{n}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&armored);
    out.extend_from_slice(format!("\r\n--e{n}--\r\n").as_bytes());
    out
}

/// Drop messages straight into the Maildir (as a delivered backlog).
fn fill_maildir(maildir: &Path, messages: &[Vec<u8>]) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (n, raw) in messages.iter().enumerate() {
        std::fs::write(
            maildir
                .join("new")
                .join(format!("{}.{n}.bench:2,", 1_700_000_000 + n)),
            raw,
        )
        .unwrap();
    }
    sh(Command::new("chown")
        .args(["-R", "8:8"])
        .arg(maildir.parent().unwrap()));
}

fn write_config(dir: &Path, stack: &Stack, keys: (&Path, &Path), poll: u64) -> PathBuf {
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let text = format!(
        r#"
[imap]
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
ca_file = "{ca}"
user = "{SECURITY}"
password_file = "password"
poll_interval_secs = {poll}
timeout_secs = 30
fetch_batch = 100

[smtp]
host = "127.0.0.1"
port = {submission}
tls = "starttls"
ca_file = "{ca}"
user = "{SECURITY}"
password_file = "password"
from = "Hexon Security <{SECURITY}>"

[store]
path = "triage.db"

[ack]
template_dir = "{REPO}/config/templates"
message_id_domain = "hexon.test"
policy_url = "https://hexon.test/security"

[rate_limits]
per_sender_per_hour = 1000000
global_per_hour = 1000000

[openpgp]
team_keys = ["{cv}", "{rsa}"]
"#,
        imaps = stack.get("IMAPS_PORT"),
        submission = stack.get("SUBMISSION_PORT"),
        ca = stack.get("CA_FILE"),
        cv = keys.0.display(),
        rsa = keys.1.display(),
    );
    let path = dir.join("hexon-triage.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A daemon under test; stopped when dropped, so a failed run leaves none behind.
struct Daemon(Child);

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            stop_daemon(&mut self.0);
        }
    }
}

fn spawn_daemon(config: &Path, log: &Path) -> Daemon {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("HEXON_TRIAGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("daemon");
    Daemon(child)
}

fn stop_daemon(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// (stored messages, acks queued, acks sent and filed), from index-only
/// queries: the poll must not steal the daemon's CPU.
fn db_counts(db: &Path) -> Option<(i64, i64, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).ok();
    // every messages row is a stored message (report, follow-up, duplicate, ignored, quarantined)
    let stored = q("SELECT COUNT(*) FROM messages")?;
    let acks = q("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'")?;
    let sent = q("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")?;
    let unfiled = q("SELECT COUNT(*) FROM outbox INDEXED BY outbox_copies
                     WHERE status = 'sent' AND appended_at IS NULL AND copy_folder IS NOT NULL
                       AND copy_failed_at IS NULL")?;
    Some((stored, acks, sent - unfiled))
}

/// CPU seconds used so far by the daemon, the stack's Dovecot and its Postfix
/// (each master with the children it has reaped, plus its live children).
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    daemon: f64,
    dovecot: f64,
    postfix: f64,
}

fn cpu_now(stack: &Stack, daemon: u32) -> Cpu {
    // (pid, ppid, utime + stime, cutime + cstime, cmdline)
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // fields after the parenthesised command name: state ppid ... utime(14) stime cutime cstime
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        procs.push((
            pid,
            num(1) as u32,
            num(11) + num(12),
            num(13) + num(14),
            String::from_utf8_lossy(&cmdline).replace('\0', " "),
        ));
    }
    let tick = 100.0; // USER_HZ on Linux
    let dir = stack.dir.to_string_lossy().into_owned();
    let dovecot_master = procs
        .iter()
        .find(|p| p.4.contains("dovecot -c") && p.4.contains(&dir))
        .map(|p| p.0);
    let postfix_master = std::fs::read_to_string(stack.dir.join("postfix-queue/pid/master.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let group = |master: Option<u32>| -> f64 {
        let Some(master) = master else {
            return 0.0;
        };
        let ticks: u64 = procs
            .iter()
            .map(|p| {
                if p.0 == master {
                    p.2 + p.3
                } else if p.1 == master {
                    p.2
                } else {
                    0
                }
            })
            .sum();
        ticks as f64 / tick
    };
    Cpu {
        daemon: procs
            .iter()
            .find(|p| p.0 == daemon)
            .map(|p| p.2 as f64 / tick)
            .unwrap_or(0.0),
        dovecot: group(dovecot_master),
        postfix: group(postfix_master),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn count_files(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|s| {
            std::fs::read_dir(dir.join(s))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

/// A fresh database whose cursor starts at the end of the security mailbox:
/// only mail arriving after this is new to it.
fn start_at_end(stack: &Stack, db: &Path) {
    hexon_triage::store::Store::open(db).unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let status = |field: &str| -> i64 {
        sh(Command::new("doveadm").args([
            "-c",
            stack.get("DOVECOT_CONF"),
            "mailbox",
            "status",
            "-u",
            SECURITY,
            field,
            "INBOX",
        ]))
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .parse()
        .unwrap()
    };
    let (validity, last) = (status("uidvalidity"), status("uidnext") - 1);
    // Mail written after this gets the next UID.
    conn.execute(
        "INSERT INTO imap_cursor(mailbox, uidvalidity, last_uid) VALUES ('INBOX', ?1, ?2)",
        rusqlite::params![validity, last],
    )
    .unwrap();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probe
    }
    let n = env_usize("BENCH_N", 5000);
    let latency_n = env_usize("BENCH_LATENCY", 200);
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    println!(
        "hexon-triage benchmark: {n} backlog messages, {latency_n} latency samples, {cores} cores"
    );

    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    if std::env::var_os("BENCH_KEEP").is_some() {
        // BENCH_KEEP=1: leave the daemons' logs and databases for a look afterwards.
        println!("work directory kept: {}", work.path().display());
    }
    let (cv_path, rsa_path) = team_keys(work.path());
    let cv = Cert::from_file(&cv_path)
        .unwrap()
        .strip_secret_key_material();
    let rsa = Cert::from_file(&rsa_path)
        .unwrap()
        .strip_secret_key_material();

    // ---- 1. backlog ------------------------------------------------------
    let t = Instant::now();
    let messages: Vec<Vec<u8>> = (0..n).map(|i| make_message(i, &cv, &rsa)).collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "generated {n} messages ({:.1} MB) in {:.1?}",
        bytes as f64 / 1e6,
        t.elapsed()
    );
    fill_maildir(&stack.maildir(SECURITY), &messages);
    drop(messages);
    // Let Dovecot index the new mail first (not the daemon's cost).
    sh(Command::new("doveadm").args([
        "-c",
        stack.get("DOVECOT_CONF"),
        "index",
        "-u",
        SECURITY,
        "INBOX",
    ]));

    let backlog_dir = work.path().join("backlog");
    std::fs::create_dir_all(&backlog_dir).unwrap();
    let config = write_config(&backlog_dir, &stack, (&cv_path, &rsa_path), 60);
    let db = backlog_dir.join("triage.db");
    let log = backlog_dir.join("daemon.log");
    let cpu_before = cpu_now(&stack, 0);
    let started = Instant::now();
    let mut daemon = spawn_daemon(&config, &log);
    let mut cpu_daemon = 0.0;
    let mut stored_at = None;
    let mut sent_at = None;
    let mut peak_rss = 0;
    while sent_at.is_none() {
        std::thread::sleep(Duration::from_millis(100));
        peak_rss = peak_rss.max(rss_kb(daemon.id(), "VmRSS:"));
        cpu_daemon = cpu_now(&stack, daemon.id()).daemon;
        if let Some((stored, acks, sent)) = db_counts(&db) {
            if stored_at.is_none() && stored as usize >= n {
                stored_at = Some(started.elapsed());
            }
            if stored_at.is_some() && sent >= acks {
                sent_at = Some(started.elapsed());
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "backlog did not finish within an hour"
        );
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "daemon died: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let cpu_after = cpu_now(&stack, daemon.id());
    let cpu = Cpu {
        daemon: cpu_after.daemon.max(cpu_daemon),
        dovecot: cpu_after.dovecot - cpu_before.dovecot,
        postfix: cpu_after.postfix - cpu_before.postfix,
    };
    stop_daemon(&mut daemon);
    let (stored_t, sent_t) = (stored_at.unwrap(), sent_at.unwrap());
    let backlog_log = std::fs::read_to_string(&log).unwrap_or_default();
    let stages = backlog_log
        .lines()
        .rev()
        .find(|l| l.contains("stages="))
        .and_then(|l| l.split("stages=").nth(1))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let (stored, acks, _) = db_counts(&db).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare("SELECT status, COALESCE(reason, ''), COUNT(*) FROM messages GROUP BY 1, 2")
            .unwrap();
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        println!("stored messages by status: {rows:?}");
    }
    println!(
        "backlog: stored + queued in {:.1?} ({:.0} msg/s), sent + filed in {:.1?} ({:.0} msg/s); stages {stages}",
        stored_t,
        n as f64 / stored_t.as_secs_f64(),
        sent_t,
        n as f64 / sent_t.as_secs_f64()
    );

    // ---- 2. latency ----------------------------------------------------------
    let latency_dir = work.path().join("latency");
    std::fs::create_dir_all(&latency_dir).unwrap();
    let config = write_config(&latency_dir, &stack, (&cv_path, &rsa_path), 300);
    // The backlog stays in the mailbox: this daemon only sees the samples.
    start_at_end(&stack, &latency_dir.join("triage.db"));
    let log = latency_dir.join("daemon.log");
    let mut daemon = spawn_daemon(&config, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("IMAP connected")
    {
        assert!(Instant::now() < deadline, "latency daemon did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = rss_kb(daemon.id(), "VmRSS:");
    let idle_anon = rss_kb(daemon.id(), "RssAnon:");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _enter = runtime.enter();
    let smtp = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack.get("SMTP_PORT").parse().unwrap())
        .tls(lettre::transport::smtp::client::Tls::None)
        .build();
    let researcher_maildir = stack.maildir(LATENCY_RESEARCHER);
    let mut samples = Vec::with_capacity(latency_n);
    for i in 0..latency_n {
        let before = count_files(&researcher_maildir);
        let raw = format!(
            "From: {LATENCY_RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Latency {i}\r\nMessage-ID: <lat-{i}@researcher.test>\r\n\r\nXSS in the Hexon Gateway admin UI, sample {i}.\r\n"
        );
        let envelope = lettre::address::Envelope::new(
            Some(LATENCY_RESEARCHER.parse().unwrap()),
            vec![SECURITY.parse().unwrap()],
        )
        .unwrap();
        runtime
            .block_on(lettre::AsyncTransport::send_raw(
                &smtp,
                &envelope,
                raw.as_bytes(),
            ))
            .expect("SMTP");
        let accepted = Instant::now();
        let deadline = accepted + Duration::from_secs(30);
        while count_files(&researcher_maildir) <= before {
            assert!(
                Instant::now() < deadline,
                "no ack within 30 s for sample {i}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        samples.push(accepted.elapsed().as_secs_f64() * 1000.0);
    }
    stop_daemon(&mut daemon);
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // ---- 3. memory: a 50 MB message ----------------------------------------
    let big_dir = work.path().join("big");
    std::fs::create_dir_all(&big_dir).unwrap();
    let mut blob = vec![0u8; 37 * 1024 * 1024]; // base64 makes it ~50 MB on the wire
    fastrand::Rng::with_seed(7).fill(&mut blob);
    let big = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: big\r\nMessage-ID: <big@researcher.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nA core dump of the gateway is attached.\r\n--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"core.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--big--\r\n",
        base64_lines(&blob)
    );
    drop(blob);
    let big_size = big.len();
    let config = write_config(&big_dir, &stack, (&cv_path, &rsa_path), 300);
    // Only the big message is new to this database: start its cursor at the end of the mailbox.
    let log = big_dir.join("daemon.log");
    let big_db = big_dir.join("triage.db");
    start_at_end(&stack, &big_db);
    std::fs::write(
        stack
            .maildir(SECURITY)
            .join("new")
            .join("1800000000.big.bench:2,"),
        &big,
    )
    .unwrap();
    drop(big);
    sh(Command::new("chown")
        .args(["-R", "8:8"])
        .arg(stack.maildir(SECURITY)));
    let started = Instant::now();
    let mut daemon = spawn_daemon(&config, &log);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let conn = rusqlite::Connection::open_with_flags(
            &big_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let done: i64 = conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .unwrap_or(0);
        if done >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "big message not processed"
        );
    }
    let big_time = started.elapsed();
    let big_peak = rss_kb(daemon.id(), "VmHWM:");
    stop_daemon(&mut daemon);

    if std::env::var_os("BENCH_KEEP").is_some() {
        let _ = work.keep();
    }

    // ---- report ------------------------------------------------------------
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| backlog messages (mix 50% plain / 40% Curve25519 / 10% RSA-3072, 2 KB-2 MB) | {n} ({:.0} MB) |", bytes as f64 / 1e6);
    println!(
        "| stored + ack queued | {:.1} s → **{:.0} msg/s** ({stored} stored, {acks} acks) |",
        stored_t.as_secs_f64(),
        rate(stored_t)
    );
    println!(
        "| acks sealed, sent and filed | {:.1} s → **{:.0} msg/s** |",
        sent_t.as_secs_f64(),
        rate(sent_t)
    );
    let per_msg = |secs: f64| secs * 1000.0 / n as f64;
    println!(
        "| CPU during the backlog ({cores} cores, {:.1} s wall) | daemon {:.1} s ({:.1} ms/msg) · Dovecot {:.1} s ({:.1} ms/msg) · Postfix {:.1} s ({:.1} ms/msg) |",
        sent_t.as_secs_f64(),
        cpu.daemon,
        per_msg(cpu.daemon),
        cpu.dovecot,
        per_msg(cpu.dovecot),
        cpu.postfix,
        per_msg(cpu.postfix)
    );
    println!(
        "| peak RSS during backlog | {:.1} MB |",
        peak_rss as f64 / 1024.0
    );
    println!(
        "| latency SMTP accept → ack delivered ({} samples, IDLE) | p50 {:.0} ms · p95 {:.0} ms · p99 {:.0} ms · max {:.0} ms |",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| idle RSS | {:.1} MB ({:.1} MB anonymous; the rest is the binary's code paged in) |",
        idle_rss as f64 / 1024.0,
        idle_anon as f64 / 1024.0
    );
    println!(
        "| peak RSS on a {:.0} MB message | {:.1} MB (processed in {:.1?}) |",
        big_size as f64 / 1e6,
        big_peak as f64 / 1024.0,
        big_time
    );
    println!();
    println!("per-stage cost during the backlog (daemon counters; open includes decryption):");
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&stages) {
        for (stage, s) in v.as_object().unwrap() {
            println!(
                "  {stage:<7} {:>7} items  {:>10.1} ms total  {:>8.3} ms/item",
                s["items"],
                s["total_ms"].as_f64().unwrap_or(0.0),
                s["per_item_ms"].as_f64().unwrap_or(0.0)
            );
        }
    } else {
        println!("  (no stage line in the daemon log)");
    }
}

//! Shared harness for the integration tests: one real Dovecot + Postfix per
//! test run (from `scripts/mailstack.sh`), a mailbox user per test, a temp
//! database per test, the real `hexon-triage` binary, real SMTP/IMAP clients.
//!
//! A missing server is a loud failure, never a skip. Waiting is by polling
//! with a deadline, never a fixed sleep.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_hexon-triage");

/// A running mail stack (its `env` file as a map).
pub struct Stack {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
}

impl Stack {
    /// Stop Dovecot (IMAP + LMTP).
    pub fn stop_dovecot(&self) {
        let status = Command::new("doveadm")
            .args(["-c", self.get("DOVECOT_CONF"), "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("doveadm");
        assert!(status.success(), "cannot stop dovecot");
        wait_for("dovecot to stop", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port("IMAPS_PORT")))
                .is_err()
                .then_some(())
        });
    }

    pub fn start_dovecot(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dovecot.restart.out"))
            .unwrap();
        let status = Command::new("dovecot")
            .args(["-c", self.get("DOVECOT_CONF")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .expect("dovecot");
        assert!(status.success(), "cannot start dovecot");
        wait_for("dovecot to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port("IMAPS_PORT")))
                .ok()
                .map(|_| ())
        });
    }

    pub fn postfix(&self, action: &str) {
        let status = Command::new("postfix")
            .args(["-c", self.get("POSTFIX_CONFIG"), action])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("postfix");
        assert!(status.success(), "postfix {action} failed");
        let port = self.port("SUBMISSION_PORT");
        let want_up = action == "start";
        wait_for(
            &format!("postfix {action}"),
            Duration::from_secs(20),
            || (std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() == want_up).then_some(()),
        );
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("mail stack env has no {key}"))
    }
    pub fn port(&self, key: &str) -> u16 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a port"))
    }
    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.get("CA_FILE"))
    }
}

fn read_env(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

static PRIVATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Make this test process use a stack of its own (for tests that stop and
/// restart the servers). Call before anything else touches the stack.
pub fn use_private_stack() {
    PRIVATE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The stack for this test process: the one `scripts/test.sh` started
/// (MAILSTACK_ENV), or one started here and stopped when this process exits.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let shared = std::env::var("MAILSTACK_ENV").ok().filter(|_| !PRIVATE.load(std::sync::atomic::Ordering::SeqCst));
        if let Some(env_file) = shared {
            let env = read_env(Path::new(&env_file));
            let dir = PathBuf::from(env.get("MAILSTACK_DIR").cloned().unwrap_or_default());
            let status = Command::new("bash")
                .arg(format!("{REPO}/scripts/mailstack.sh"))
                .args(["status", &dir.display().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("cannot run scripts/mailstack.sh");
            assert!(status.success(), "MAILSTACK_ENV={env_file} names a stack that is not running");
            return Stack { dir, env };
        }
        let dir = std::env::temp_dir().join(format!("hexon-triage-stack-{}-{}", std::process::id(), fastrand::u32(..)));
        let out = Command::new("bash")
            .arg(format!("{REPO}/scripts/mailstack.sh"))
            .args(["start", &dir.display().to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run scripts/mailstack.sh");
        assert!(
            out.status.success(),
            "cannot start the real mail stack (run `bash scripts/mailstack.sh install` first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A reaper stops the stack once this test process is gone.
        let reaper = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; bash {REPO}/scripts/mailstack.sh stop {dir}; rm -rf {dir}",
            pid = std::process::id(),
            dir = dir.display()
        );
        // `setsid -f` forks the reaper off and returns at once.
        Command::new("setsid")
            .args(["-f", "bash", "-c", &reaper])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot start the stack reaper");
        let env = read_env(&dir.join("env"));
        Stack { dir, env }
    })
}

/// Mailbox users for one test: the security mailbox and a researcher.
pub struct Users {
    pub security: String,
    pub researcher: String,
    pub password: String,
}

pub fn add_user(address: &str, password: &str) {
    let s = stack();
    let out = Command::new("bash")
        .arg(format!("{REPO}/scripts/mailstack.sh"))
        .args(["adduser", &s.dir.display().to_string(), address, password])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run mailstack.sh adduser");
    assert!(
        out.status.success(),
        "adduser {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn users(test: &str) -> Users {
    let tag = format!("{test}-{}", std::process::id());
    let u = Users {
        security: format!("security-{tag}@hexon.test"),
        researcher: format!("alice-{tag}@researcher.test"),
        password: format!("pw-{tag}"),
    };
    add_user(&u.security, &u.password);
    add_user(&u.researcher, &u.password);
    wait_login(&u.security, &u.password);
    wait_login(&u.researcher, &u.password);
    u
}

/// Empty a user's INBOX (test set-up for fixed addresses reused across runs).
pub fn clear_inbox(user: &str) {
    let s = stack();
    let _ = Command::new("doveadm")
        .args([
            "-c",
            s.get("DOVECOT_CONF"),
            "expunge",
            "-u",
            user,
            "mailbox",
            "INBOX",
            "all",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Dovecot re-reads its passwd-file at most once a second: poll until the
/// new user can log in (and so can receive mail over LMTP).
pub fn wait_login(user: &str, password: &str) {
    let config = imap_config(user, password, "INBOX");
    wait_for(
        &format!("login of new user {user}"),
        Duration::from_secs(10),
        || {
            runtime().block_on(async {
                let session = hexon_triage::source::imap::connect(&config).await.ok()?;
                hexon_triage::source::imap::logout(session, Duration::from_secs(5)).await;
                Some(())
            })
        },
    )
}

fn imap_config(user: &str, password: &str, mailbox: &str) -> hexon_triage::config::ImapConfig {
    let s = stack();
    hexon_triage::config::ImapConfig {
        host: "127.0.0.1".into(),
        port: s.port("IMAPS_PORT"),
        tls: hexon_triage::config::TlsMode::Implicit,
        tls_pin: None,
        ca_file: Some(s.ca_file()),
        user: user.into(),
        password: hexon_triage::config::Secret::new(password),
        mailbox: mailbox.into(),
        poll_interval: Duration::from_secs(60),
        idle: false,
        mark: hexon_triage::config::MarkMode::Keyword,
        keyword: "$Triaged".into(),
        move_to: "Triaged".into(),
        quarantine_folder: None,
        timeout: Duration::from_secs(10),
        fetch_batch: 100,
        authserv_id: None,
    }
}

/// A temp dir with a config for the daemon pointing at the stack.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub users: Users,
}

impl Setup {
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("triage.db")
    }
}

/// Write a config for `users`; `extra` is appended (TOML tables) and
/// `replace` rewrites lines of the base text.
pub fn setup_with(test: &str, replace: &[(&str, &str)], extra: &str) -> Setup {
    let s = stack();
    let users = users(test);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("password"), &users.password).unwrap();
    let mut text = format!(
        r#"
[imap]
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
ca_file = "{ca}"
user = "{sec}"
password_file = "password"
mailbox = "INBOX"
poll_interval_secs = 300
idle = true
timeout_secs = 10
fetch_batch = 50

[smtp]
host = "127.0.0.1"
port = {submission}
tls = "starttls"
ca_file = "{ca}"
user = "{sec}"
password_file = "password"
from = "Hexon Security <{sec}>"
timeout_secs = 10

[store]
path = "triage.db"

[ack]
template_dir = "{repo}/config/templates"
message_id_domain = "hexon.test"
tracking_prefix = "HEXON"
policy_url = "https://hexon.test/security"
retry_base_secs = 1
retry_max_secs = 5

[calendar]
time_zone = "Europe/Berlin"
"#,
        imaps = s.port("IMAPS_PORT"),
        submission = s.port("SUBMISSION_PORT"),
        ca = s.ca_file().display(),
        sec = users.security,
        repo = REPO,
    );
    for (from, to) in replace {
        assert!(text.contains(from), "config has no `{from}` to replace");
        text = text.replace(from, to);
    }
    text.push_str(extra);
    let config = dir.path().join("hexon-triage.toml");
    std::fs::write(&config, text).unwrap();
    Setup { dir, config, users }
}

pub fn setup(test: &str) -> Setup {
    setup_with(test, &[], "")
}

/// Run the binary with `args` and this setup's config; return its output.
pub fn cli(setup: &Setup, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(&setup.config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run hexon-triage")
}

/// Like [`cli`] but asserts success and returns stdout.
pub fn cli_ok(setup: &Setup, args: &[&str]) -> String {
    let out = cli(setup, args);
    assert!(
        out.status.success(),
        "hexon-triage {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Number of stored reports; 0 while the database does not exist yet.
pub fn report_count(setup: &Setup) -> usize {
    let out = cli(setup, &["reports", "list", "--json"]);
    if !out.status.success() {
        return 0;
    }
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .map(|v| v.len())
        .unwrap_or(0)
}

pub fn reports_json(setup: &Setup) -> Vec<serde_json::Value> {
    let out = cli_ok(setup, &["reports", "list", "--json", "--sort", "oldest"]);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("reports list --json is not JSON ({e}): {out}"))
}

pub fn report_json(setup: &Setup, id: &str) -> serde_json::Value {
    let out = cli_ok(setup, &["reports", "show", id, "--json"]);
    serde_json::from_str(&out).unwrap()
}

/// Start the daemon (`run`) in the background; stderr goes to a log file.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(setup: &Setup) -> Daemon {
        Daemon::start_with_env(setup, &[])
    }

    pub fn start_with_env(setup: &Setup, env: &[(&str, &str)]) -> Daemon {
        let log = setup
            .dir
            .path()
            .join(format!("daemon-{}.log", fastrand::u32(..)));
        let file = std::fs::File::create(&log).unwrap();
        // Like systemd, name the daemon's own pid in WATCHDOG_PID (exec keeps the pid).
        let mut command = if env.iter().any(|(k, _)| *k == "WATCHDOG_USEC") {
            let mut c = Command::new("bash");
            c.args(["-c", r#"export WATCHDOG_PID=$$; exec "$0" "$@""#, BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let child = command
            .arg("--config")
            .arg(&setup.config)
            .arg("run")
            .env("HEXON_TRIAGE_LOG", "debug,async_imap=info,rustls=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("cannot start daemon");
        Daemon { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait (bounded); returns the exit status code.
    pub fn stop(mut self) -> Option<i32> {
        wait_for("daemon start-up", Duration::from_secs(20), || {
            self.log_text().contains("daemon started").then_some(())
        });
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop within 30s of SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` until it returns Some, or panic with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Send raw RFC 5322 bytes through Postfix's port 25-style listener with swaks
/// (a real SMTP client), as a researcher's MTA would.
pub fn send_raw(from: &str, to: &str, raw: &[u8]) {
    let s = stack();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, raw).unwrap();
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", s.get("SMTP_PORT")])
        .args(["--from", from, "--to", to, "--helo", "researcher.test"])
        .arg("--data")
        .arg(file.path())
        .args(["--suppress-data", "--hide-all"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run swaks (apt-get install swaks)");
    assert!(
        out.status.success(),
        "swaks failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plain report mail.
pub fn report_mail(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    message_id: &str,
    extra_headers: &str,
) -> Vec<u8> {
    format!(
        "From: Alice Researcher <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n")
    .into_bytes()
}

/// One message as read back over IMAP.
#[derive(Debug, Clone)]
pub struct ImapMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    pub raw: Vec<u8>,
}

impl ImapMessage {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("parseable mail")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().header_raw(name).map(|v| v.trim().to_string())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Read every message of `mailbox` for `user` over IMAPS (real IMAP, not doveadm).
pub fn imap_messages(user: &str, password: &str, mailbox: &str) -> Vec<ImapMessage> {
    let config = imap_config(user, password, mailbox);
    runtime().block_on(async {
        let mut session = hexon_triage::source::imap::connect(&config)
            .await
            .expect("IMAP login");
        let selected = session.select(mailbox).await;
        if selected.is_err() {
            return Vec::new();
        }
        let mut out: Vec<ImapMessage> =
            match session.uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])").await {
                Ok(stream) => stream
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| {
                        Some(ImapMessage {
                            uid: f.uid?,
                            flags: f.flags().map(|fl| format!("{fl:?}")).collect(),
                            raw: f.body()?.to_vec(),
                        })
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
        out.sort_by_key(|m| m.uid);
        let _ = session.logout().await;
        out
    })
}

/// APPEND raw bytes into a mailbox over IMAP (for input SMTP would rewrite).
pub fn imap_append(user: &str, password: &str, mailbox: &str, raw: &[u8]) {
    let config = imap_config(user, password, mailbox);
    runtime().block_on(async {
        let mut session = hexon_triage::source::imap::connect(&config)
            .await
            .expect("IMAP login");
        hexon_triage::source::imap::append(
            &mut session,
            mailbox,
            "()",
            raw,
            Duration::from_secs(10),
        )
        .await
        .expect("APPEND");
        let _ = session.logout().await;
    });
}

/// Wait until `user`'s `mailbox` holds at least `n` messages; return them.
pub fn wait_messages(
    user: &str,
    password: &str,
    mailbox: &str,
    n: usize,
    timeout: Duration,
) -> Vec<ImapMessage> {
    wait_for(
        &format!("{n} message(s) in {user}/{mailbox}"),
        timeout,
        || {
            let m = imap_messages(user, password, mailbox);
            (m.len() >= n).then_some(m)
        },
    )
}

/// Rewrite the outer From/To of a fixture mail and optionally add header lines.
pub fn readdress(eml: &str, from: &str, to: &str, extra_headers: &str) -> Vec<u8> {
    let (head, body) = eml.split_once("\n\n").unwrap();
    let mut lines: Vec<String> = Vec::new();
    for line in head.lines() {
        if line.starts_with("From:") {
            lines.push(format!("From: Researcher <{from}>"));
        } else if line.starts_with("To:") {
            lines.push(format!("To: {to}"));
        } else {
            lines.push(line.to_string());
        }
    }
    let mut out = lines.join("\n");
    if !extra_headers.is_empty() {
        out.push('\n');
        out.push_str(extra_headers.trim_end());
    }
    out.push_str("\n\n");
    out.push_str(body);
    out.into_bytes()
}

/// The (possibly folded) `Autocrypt:` header of a mail, or "".
pub fn autocrypt_header_of(eml: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in eml.lines() {
        if line.starts_with("Autocrypt:") {
            inside = true;
        } else if inside && !line.starts_with(' ') && !line.starts_with('\t') {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

//! The operators' and the security team's command line, end to end through
//! the real binary: list/show/set/credit/export/overdue, audit verify (with
//! tampering), security.txt (signed and verified by gpg), import of mbox and
//! Maildir archives (idempotent, no acks), backup, check-config, completions,
//! --help, and the systemd unit under `systemd-analyze`.
//!
//! Reports are made offline with `ingest`, so these tests need no mail server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_hexon-triage");

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
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
            )
            + extra;
        let config = dir.path().join("hexon-triage.toml");
        std::fs::write(&config, text).unwrap();
        Env { dir, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("HEXON_TRIAGE_DATABASE")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn mail(n: usize, from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: security@hexon.io\r\nSubject: {subject}\r\nMessage-ID: <cli-{n}@researcher.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

fn seed(env: &Env) -> Vec<String> {
    let cases = [
        ("alice@researcher.test", "RCE in Hexon Gateway", "Remote code execution in the Hexon Gateway admin API.\nSteps to reproduce: curl -X POST https://gateway.hexon.io/api/v1/exec\nImpact: full takeover.\nCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        ("bob@researcher.test", "SPF record", "Your SPF record and DMARC policy are missing according to my scanner."),
        ("carol@example.org", "registry.hexon.io token leak", "registry.hexon.io leaks pull tokens in error pages.\nSteps to reproduce: docker pull registry.hexon.io/private/x\nImpact: private images readable."),
    ];
    let mut files = Vec::new();
    for (n, (from, subject, body)) in cases.iter().enumerate() {
        let path = env.path(&format!("m{n}.eml"));
        std::fs::write(&path, mail(n, from, subject, body)).unwrap();
        files.push(path.display().to_string());
    }
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    env.ok(&args);
    let list = env.json(&["reports", "list", "--json", "--sort", "oldest"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["tracking_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reports_list_filters_sorts_and_shows() {
    let env = Env::new("");
    let ids = seed(&env);
    assert_eq!(ids.len(), 3);
    let count = |args: &[&str]| {
        let mut a = vec!["reports", "list", "--json"];
        a.extend_from_slice(args);
        env.json(&a).as_array().unwrap().len()
    };
    assert_eq!(count(&[]), 3);
    assert_eq!(count(&["--severity", "critical"]), 1);
    assert_eq!(count(&["--component", "registry"]), 1);
    assert_eq!(count(&["--reporter", "bob@"]), 1);
    assert_eq!(count(&["--text", &ids[2]]), 1);
    assert_eq!(count(&["--status", "new"]), 3);
    assert_eq!(count(&["--status", "fixed"]), 0);
    assert_eq!(count(&["--limit", "2"]), 2);
    let by_severity = env.json(&["reports", "list", "--json", "--sort", "severity"]);
    assert_eq!(by_severity[0]["severity"], "critical");
    let table = env.ok(&["reports", "list"]);
    assert!(table.starts_with("TRACKING"), "{table}");
    assert_eq!(table.lines().count(), 4, "header + 3 rows: {table}");
    let show = env.ok(&["reports", "show", &ids[0]]);
    assert!(
        show.contains("audit trail:")
            && show.contains("ingested")
            && show.contains("Hexon Gateway"),
        "{show}"
    );
    let out = env.run(&["reports", "show", "HEXON-1999-0001"]);
    assert_eq!(out.status.code(), Some(3), "unknown id exits 3");
}

#[test]
fn reports_set_credit_export_and_audit_trail() {
    let env = Env::new("");
    let ids = seed(&env);
    let id = &ids[1];
    env.ok(&[
        "reports",
        "set",
        id,
        "--status",
        "rejected",
        "--assignee",
        "dana",
        "--note",
        "scanner noise",
        "--actor",
        "dana",
    ]);
    env.ok(&[
        "reports",
        "set",
        id,
        "--severity",
        "low",
        "--component",
        "hexon.io",
        "--actor",
        "dana",
    ]);
    env.ok(&[
        "reports",
        "credit",
        &ids[0],
        "--name",
        "Alice Example",
        "--actor",
        "dana",
    ]);
    env.ok(&["reports", "credit", &ids[2], "--anonymous"]);
    assert_eq!(
        env.run(&["reports", "set", id, "--status", "bogus"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(env.run(&["reports", "set", id]).status.code(), Some(2));
    assert_eq!(
        env.run(&["reports", "set", "HEXON-1999-0009", "--status", "new"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(env.run(&["reports", "credit", id]).status.code(), Some(2));

    let detail = env.json(&["reports", "show", id, "--json"]);
    assert_eq!(detail["status"], "rejected");
    assert_eq!(detail["assignee"], "dana");
    assert_eq!(detail["severity"], "low");
    assert_eq!(detail["component"], "hexon.io");
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "status_changed",
        "assignee_changed",
        "note",
        "severity_changed",
        "component_changed",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let credited = env.json(&["reports", "show", &ids[0], "--json"]);
    assert_eq!(credited["credit"]["kind"], "name");
    assert_eq!(credited["credit"]["name"], "Alice Example");

    // Export, JSON and CSV (read back with a real CSV parser).
    let exported = env.json(&["reports", "export", "--format", "json"]);
    assert_eq!(exported.as_array().unwrap().len(), 3);
    let csv_path = env.path("export.csv");
    env.ok(&[
        "reports",
        "export",
        "--format",
        "csv",
        "--output",
        csv_path.to_str().unwrap(),
        "--status",
        "rejected",
    ]);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let status_col = headers.iter().position(|h| h == "status").unwrap();
    assert_eq!(&rows[0][status_col], "rejected");
    assert_eq!(
        env.run(&["reports", "export", "--format", "xml"])
            .status
            .code(),
        Some(2)
    );

    // The audit chain holds, and an edit or a deletion is found and located.
    assert!(env.ok(&["audit", "verify"]).contains("intact"));
    let db = env.path("triage.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE events SET actor = 'mallory' WHERE kind = 'status_changed'",
        [],
    )
    .unwrap();
    let edited: i64 = conn
        .query_row(
            "SELECT id FROM events WHERE kind = 'status_changed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let out = env.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("event {edited}:")) && text.contains("edited"),
        "{text}"
    );
    conn.execute("DELETE FROM events WHERE id = 2", []).unwrap();
    let out = env.run(&["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(4));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = verdict["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["problem"].as_str().unwrap().contains("missing")),
        "{verdict}"
    );
}

#[test]
fn import_mbox_and_maildir_idempotently_without_acks() {
    let env = Env::new("");
    // An mbox of three messages (one "From " line each, mboxrd-escaped body line).
    let mut mbox = String::new();
    for n in 0..3 {
        mbox.push_str(&format!(
            "From researcher{n}@example.org Mon Nov 23 09:00:00 2026\n"
        ));
        mbox.push_str(
            &mail(
                100 + n,
                &format!("researcher{n}@example.org"),
                &format!("Old report {n}"),
                "XSS in the Hexon Gateway login page.\n>From here the payload runs.",
            )
            .replace("\r\n", "\n")
            .replace("Mon, 23 Nov 2026", "Mon, 02 Mar 2026"),
        );
        mbox.push('\n');
    }
    let mbox_path = env.path("archive.mbox");
    std::fs::write(&mbox_path, mbox).unwrap();
    let first = env.json(&["import", mbox_path.to_str().unwrap(), "--json"]);
    assert_eq!(first["messages"], 3);
    assert_eq!(first["counts"]["new reports"], 3, "{first}");
    let second = env.json(&["import", mbox_path.to_str().unwrap(), "--json"]);
    assert_eq!(
        second["counts"]["already stored"], 3,
        "a second run imports nothing: {second}"
    );

    // A Maildir with cur/ and new/.
    let maildir = env.path("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let old = |m: String| m.replace("Mon, 23 Nov 2026", "Mon, 02 Mar 2026");
    std::fs::write(
        maildir.join("new/1.eml"),
        old(mail(
            200,
            "dave@example.org",
            "Maildir one",
            "MCP server path traversal.",
        )),
    )
    .unwrap();
    std::fs::write(
        maildir.join("cur/2.eml:2,S"),
        old(mail(
            201,
            "erin@example.org",
            "Maildir two",
            "admin CLI hexonctl leaks tokens.",
        )),
    )
    .unwrap();
    let out = env.run(&["import", maildir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 messages") && stdout.contains("new reports 2"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imported 2/2"),
        "plain progress lines off a terminal"
    );

    let status = env.json(&["status", "--json"]);
    assert_eq!(status["reports"], 5);
    assert_eq!(
        status["outbox_queued"], 0,
        "historical mail gets no acks by default"
    );
    // Deadlines come from the message's Date, so old mail shows as overdue.
    let overdue = env.json(&["reports", "overdue", "--json"]);
    assert_eq!(overdue.as_array().unwrap().len(), 5);
    let bad = env.run(&["import", env.path("nope").to_str().unwrap()]);
    assert!(!bad.status.success());
}

#[test]
fn backup_is_a_consistent_copy() {
    let env = Env::new("");
    seed(&env);
    let dest = env.path("backup.db");
    let out = env.ok(&["backup", dest.to_str().unwrap()]);
    assert!(out.contains("intact"), "{out}");
    let copy = Command::new(BIN)
        .args([
            "--config",
            env.config.to_str().unwrap(),
            "--database",
            dest.to_str().unwrap(),
            "reports",
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&copy.stdout)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        env.run(&["backup", dest.to_str().unwrap()]).status.code(),
        Some(2),
        "never overwrites"
    );
}

fn gpg_team_key(dir: &Path) -> PathBuf {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg (apt-get install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "Hexon Security <security@hexon.io>",
        "ed25519",
        "sign,cert",
        "2y",
    ]);
    let secret = gpg(&["--armor", "--export-secret-keys", "security@hexon.io"]);
    let path = dir.join("team.sec.asc");
    std::fs::write(&path, secret).unwrap();
    path
}

#[test]
fn security_txt_is_rfc9116_and_can_be_clear_signed() {
    let env = Env::new("");
    let out = env.ok(&["security-txt"]);
    for field in [
        "Contact: mailto:security@hexon.io",
        "Expires: 2027-06-30T00:00:00.000Z",
        "Encryption: https://",
        "Policy: https://",
        "Preferred-Languages: en, de",
        "Canonical: https://",
        "Acknowledgments: https://",
    ] {
        assert!(out.contains(field), "{field} in {out}");
    }
    // Signed with the team key; GnuPG verifies the clear-signed file.
    let dir = tempfile::tempdir().unwrap();
    let key = gpg_team_key(dir.path());
    let signed_env = Env::new("");
    let text = std::fs::read_to_string(&signed_env.config)
        .unwrap()
        .replace(
            "team_keys = []",
            &format!("team_keys = [\"{}\"]", key.display()),
        )
        .replace("sign = false", "sign = true");
    std::fs::write(&signed_env.config, text).unwrap();
    let file = signed_env.path("security.txt");
    signed_env.ok(&["security-txt", "--output", file.to_str().unwrap()]);
    let signed = std::fs::read_to_string(&file).unwrap();
    assert!(
        signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
        "{signed}"
    );
    let verify = Command::new("gpg")
        .arg("--homedir")
        .arg(dir.path().join("gnupg"))
        .args(["--batch", "--verify"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "gpg --verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // An expiry within 30 days is a warning in check-config and security-txt; a past one an error.
    let soon = (chrono::Utc::now() + chrono::Duration::days(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let soon_env = Env::new("");
    let text = std::fs::read_to_string(&soon_env.config)
        .unwrap()
        .replace("2027-06-30T00:00:00Z", &soon);
    std::fs::write(&soon_env.config, text).unwrap();
    let check = soon_env.ok(&["check-config"]);
    assert!(check.contains("within 30 days"), "{check}");
    let out = soon_env.run(&["security-txt"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("within 30 days")
    );
    let past_env = Env::new("");
    let text = std::fs::read_to_string(&past_env.config)
        .unwrap()
        .replace("2027-06-30T00:00:00Z", "2020-01-01T00:00:00Z");
    std::fs::write(&past_env.config, text).unwrap();
    let out = past_env.run(&["security-txt"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("security_txt.expires"));
}

#[test]
fn check_config_reports_keys_and_names_bad_keys() {
    let env = Env::new("");
    let out = env.ok(&["check-config"]);
    assert!(out.contains("OK"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let key = gpg_team_key(dir.path());
    let keyed = Env::new("");
    let text = std::fs::read_to_string(&keyed.config).unwrap().replace(
        "team_keys = []",
        &format!("team_keys = [\"{}\"]", key.display()),
    );
    std::fs::write(&keyed.config, text).unwrap();
    let report = keyed.json(&["check-config", "--json"]);
    let k = &report["team_keys"][0];
    assert_eq!(k["fingerprint"].as_str().unwrap().len(), 40, "{report}");
    assert!(
        k["expires"].is_string(),
        "the 2-year expiry is reported: {report}"
    );
    let broken = Env::new("");
    let text = std::fs::read_to_string(&broken.config)
        .unwrap()
        .replace("mailbox = \"INBOX\"", "mailbox = \"INBOX\"\nmialbox = 1");
    std::fs::write(&broken.config, text).unwrap();
    let out = broken.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mialbox") && err.contains("hexon-triage.toml"),
        "{err}"
    );
}

#[test]
fn completions_and_help_document_every_command() {
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("hexon-triage")
            && script.contains("security-txt")
            && script.contains("--decrypt")
    );
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["reports", "list", "--help"],
        vec!["reports", "set", "--help"],
        vec!["reports", "export", "--help"],
        vec!["import", "--help"],
        vec!["security-txt", "--help"],
    ] {
        let out = Command::new(BIN).args(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        // Every flag line carries a description.
        for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(words.len() >= 2, "{cmd:?}: flag without help: {line}");
        }
    }
    assert_eq!(
        Command::new(BIN)
            .arg("no-such-command")
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn systemd_unit_passes_systemd_analyze() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        analyze.map(|o| o.status.success()).unwrap_or(false),
        "systemd-analyze is required (apt-get install systemd)"
    );
    let unit = format!("{REPO}/systemd/hexon-triage.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", &unit])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let level: f64 = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{text}");
    // verify checks that ExecStart exists: point it at the freshly built binary.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hexon-triage.service");
    std::fs::write(
        &copy,
        std::fs::read_to_string(&unit)
            .unwrap()
            .replace("/usr/bin/hexon-triage", BIN),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
}

/// A team key that can decrypt (ed25519 + cv25519): the audit key is derived from it.
fn gpg_team_decryption_key(dir: &Path) -> PathBuf {
    let home = dir.join("gnupg-dec");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg (apt-get install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "Hexon Security <security@hexon.io>",
        "future-default",
        "default",
        "2y",
    ]);
    let path = dir.join("team-dec.sec.asc");
    std::fs::write(
        &path,
        gpg(&["--armor", "--export-secret-keys", "security@hexon.io"]),
    )
    .unwrap();
    path
}

/// An environment with a team key, three ingested reports (keyed events,
/// anchor written by `ingest`) and one CLI edit (an unkeyed event).
fn keyed_env(key: &Path) -> (Env, Vec<String>) {
    let env = Env::new("");
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "team_keys = []",
        &format!("team_keys = [\"{}\"]", key.display()),
    );
    std::fs::write(&env.config, text).unwrap();
    let ids = seed(&env);
    env.ok(&["reports", "set", &ids[0], "--status", "triaging"]);
    (env, ids)
}

/// Recompute the chain from event `from` on with plain SHA-256, as someone
/// who can write the database file but has no team key would.
fn recompute_unkeyed(conn: &rusqlite::Connection, from: i64) {
    use sha2::Digest;
    let mut stmt = conn
        .prepare("SELECT id, report_id, message_row, kind, actor, detail, at, prev_hash FROM events WHERE id >= ?1 ORDER BY id")
        .unwrap();
    type Row = (
        i64,
        Option<i64>,
        Option<i64>,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = stmt
        .query_map([from], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = rows[0].7.clone();
    for (id, report, message, kind, actor, detail, at, _) in rows {
        let report = report.map(|v| v.to_string()).unwrap_or_default();
        let message = message.map(|v| v.to_string()).unwrap_or_default();
        let mut h = sha2::Sha256::new();
        for part in [
            prev.as_str(),
            &report,
            &message,
            &kind,
            &actor,
            &detail,
            &at,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let hash = hex::encode(h.finalize());
        conn.execute(
            "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
            rusqlite::params![prev, hash, id],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn audit_verify_with_the_team_key_catches_a_recomputed_chain_and_a_cut_tail() {
    let keys = tempfile::tempdir().unwrap();
    let key = gpg_team_decryption_key(keys.path());

    // Untouched: intact, with MACs, and the anchor beside the database matches.
    let (env, _) = keyed_env(&key);
    let anchor = env.path("triage.db.audit-anchor");
    let anchored = std::fs::read_to_string(&anchor).expect("ingest wrote the audit anchor");
    println!("anchor: {}", anchored.trim());
    let intact = env.ok(&["audit", "verify"]);
    println!("{}", intact.trim());
    assert!(
        intact.contains("intact") && intact.contains("with a MAC") && intact.contains("anchor"),
        "{intact}"
    );
    let verdict = env.json(&["audit", "verify", "--json"]);
    assert!(verdict["keyed"].as_u64().unwrap() >= 9, "{verdict}");
    assert_eq!(
        verdict["unkeyed_without_key"], 1,
        "the CLI's edit: {verdict}"
    );

    // One event's detail rewritten and the chain recomputed without the key.
    let conn = rusqlite::Connection::open(env.path("triage.db")).unwrap();
    conn.execute(
        "UPDATE events SET detail = '{\"forged\":1}' WHERE id = 2",
        [],
    )
    .unwrap();
    recompute_unkeyed(&conn, 2);
    let out = env.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{}", text.trim());
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("event 2:") && text.contains("recomputed"),
        "{text}"
    );
    assert!(text.contains("does not match the anchor"), "{text}");

    // The newest events deleted: the anchor's event is gone.
    let (cut, _) = keyed_env(&key);
    let conn = rusqlite::Connection::open(cut.path("triage.db")).unwrap();
    let last: i64 = conn
        .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM events WHERE id > ?1", [last - 4])
        .unwrap();
    let out = cut.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{}", text.trim());
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("truncated") && text.contains("not in the chain"),
        "{text}"
    );
    // An explicit anchor (e.g. a copy's X-Hexon-Audit-Head value) works the same.
    let header = cut.path("from-header.txt");
    let head = std::fs::read_to_string(cut.path("triage.db.audit-anchor")).unwrap();
    let (id, mac) = head.trim().split_once(':').unwrap();
    std::fs::write(&header, format!("{id}:{}", &mac[..32])).unwrap();
    let out = cut.run(&["audit", "verify", "--anchor", header.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains("truncated"));
}

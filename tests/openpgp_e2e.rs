//! OpenPGP through the running loop (real Dovecot + Postfix, messages and
//! keys made by real GnuPG): an encrypted, signed report whose sender's key
//! arrives in an Autocrypt header gets an ack encrypted to that key and signed
//! by the team, which `gpg --decrypt` opens and verifies; an encrypted report
//! from someone whose key is unknown gets a neutral notice, and its plaintext
//! (a canary) is nowhere: not in the database, its WAL, the logs, or the mail
//! the researcher received.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(20);

fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("openpgp-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash")
            .arg(format!("{REPO}/scripts/gpg-fixtures.sh"))
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "gpg-fixtures.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

/// The (possibly folded) Autocrypt header of the autocrypt fixture.
fn autocrypt_header() -> String {
    let out = autocrypt_header_of(&fixture("autocrypt.eml"));
    assert!(!out.is_empty());
    out
}

fn team_keys_toml() -> String {
    format!(
        "\n[openpgp]\nteam_keys = [\"{}\", \"{}\"]\n",
        fixtures().join("team-cv25519.sec.asc").display(),
        fixtures().join("team-rsa.sec.asc").display()
    )
}

#[test]
fn encrypted_report_with_known_key_gets_an_ack_gpg_decrypts_and_verifies() {
    // The fixtures' keys belong to alice@researcher.test: this test owns that mailbox.
    let setup = setup_with("pgpack", &[], &team_keys_toml());
    let alice = "alice@researcher.test";
    // NOTE: a fixed password: Dovecot may miss a same-size, same-second rewrite of its passwd-file.
    let alice_password = "alice-fixture-password";
    add_user(alice, alice_password);
    wait_login(alice, alice_password);
    clear_inbox(alice);
    let sec = &setup.users.security;
    let raw = readdress(
        &fixture("signed-encrypted.eml"),
        alice,
        sec,
        &autocrypt_header(),
    );
    send_raw(alice, sec, &raw);
    wait_messages(sec, &setup.users.password, "INBOX", 1, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["encrypted"], true);
    assert!(
        r["subject"].is_null(),
        "an encrypted report's subject is not stored"
    );
    let tracking = r["tracking_id"].as_str().unwrap().to_string();
    let detail = report_json(&setup, &tracking);
    let alice_fpr = fixture("researcher-cv25519.fpr").trim().to_string();
    assert_eq!(
        detail["reporter_key"],
        alice_fpr.as_str(),
        "key from the Autocrypt header is pinned"
    );
    assert_eq!(detail["messages"][0]["signature"], "good");
    assert!(detail["messages"][0]["body_text"].is_null());

    // The ack alice received: PGP/MIME, opened and verified by GnuPG with her key.
    let acks = wait_messages(alice, alice_password, "INBOX", 1, DELIVERY);
    let ack = acks
        .iter()
        .find(|m| m.header("X-Hexon-Tracking-Id").as_deref() == Some(tracking.as_str()))
        .unwrap();
    let content_type = ack.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/encrypted"),
        "{content_type}"
    );
    let text = ack.text();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let armored = &text[start..end];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ack.asc"), armored).unwrap();
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(fixtures().join("gnupg-alice"))
        .args([
            "--batch",
            "--status-fd",
            "2",
            "--trust-model",
            "always",
            "--decrypt",
        ])
        .arg(dir.path().join("ack.asc"))
        .output()
        .expect("gpg");
    let status = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gpg --decrypt failed: {status}");
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.contains(&tracking), "{plain}");
    let team_fpr = fixture("team-cv25519.fpr").trim().to_string();
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(
        status.contains(&format!("VALIDSIG {team_fpr}")) || status.contains(&team_fpr),
        "{status}"
    );
    assert!(
        !plain.contains("CANARY-signed-encrypted-7f3a"),
        "the ack never quotes the report"
    );
}

#[test]
fn unknown_key_gets_a_neutral_notice_and_plaintext_is_stored_nowhere() {
    let setup = setup_with("pgpneutral", &[], &team_keys_toml());
    let u = &setup.users;
    let canary = "CANARY-protected-subject-7f3a";
    let raw = readdress(
        &fixture("protected-subject.eml"),
        &u.researcher,
        &u.security,
        "",
    );
    send_raw(&u.researcher, &u.security, &raw);
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    let out = cli(&setup, &["run", "--once"]);
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["encrypted"], true);
    let tracking = reports[0]["tracking_id"].as_str().unwrap().to_string();

    let acks = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    let ack = &acks[0];
    let body = ack.parsed().body_text(0).unwrap().to_string();
    assert!(body.contains(&tracking));
    assert!(
        body.contains("deliberately says") || body.contains("public key"),
        "{body}"
    );
    let subject = ack.header("Subject").unwrap();
    assert!(
        !subject.contains(canary) && !subject.contains("real subject"),
        "{subject}"
    );

    // The canary is in the plaintext of the report (decrypt on demand shows it)…
    let shown = cli_ok(&setup, &["reports", "show", &tracking, "--decrypt"]);
    assert!(
        shown.contains(canary),
        "reports show --decrypt opens the stored ciphertext: {shown}"
    );
    // …and nowhere else.
    let db = setup.database();
    let mut places = vec![db.clone(), PathBuf::from(format!("{}-wal", db.display()))];
    places.retain(|p| p.exists());
    for place in &places {
        let bytes = std::fs::read(place).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "plaintext canary found in {}",
            place.display()
        );
    }
    assert!(!logs.contains(canary), "canary in the daemon's logs");
    for m in imap_messages(&u.researcher, &u.password, "INBOX") {
        assert!(
            !m.text().contains(canary),
            "canary in the mail the researcher received"
        );
    }
    for m in imap_messages(&u.security, &u.password, "INBOX") {
        if m.header("X-Hexon-Tracking-Id").is_some() {
            assert!(
                !m.text().contains(canary),
                "canary in the team's copy of the reply"
            );
        }
    }
}

/// Encrypt `inner` (a MIME entity) to the team key with alice's GnuPG home
/// and wrap it as a PGP/MIME message from `from` to `to`.
fn encrypted_to_team(
    from: &str,
    to: &str,
    subject: &str,
    inner: &str,
    message_id: &str,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("inner.eml");
    std::fs::write(&plain, inner.replace('\n', "\r\n")).unwrap();
    let team_fpr = fixture("team-cv25519.fpr").trim().to_string();
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(fixtures().join("gnupg-alice"))
        .args(["--batch", "--yes", "--trust-model", "always", "--armor"])
        .args(["--encrypt", "--recipient", &team_fpr, "--output", "-"])
        .arg(&plain)
        .output()
        .expect("gpg");
    assert!(
        out.status.success(),
        "gpg --encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let armored = String::from_utf8(out.stdout).unwrap();
    let b = "=-=enc-critical=-=";
    format!(
        "From: Researcher <{from}>\nTo: {to}\nSubject: {subject}\nMessage-ID: <{message_id}>\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\n boundary=\"{b}\"\n\n\
         --{b}\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n\
         --{b}\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\n\n{armored}\n--{b}--\n"
    )
    .replace('\n', "\r\n")
    .into_bytes()
}

#[test]
fn team_alert_about_an_encrypted_report_has_a_neutral_outer_subject() {
    // Finding 5 of issue 16: the outer Subject of the team alert says only
    // "notice"; the real subject is the protected inner header.
    let team = format!("team-alert-{}@hexon.test", std::process::id());
    add_user(&team, "team-alert-password");
    wait_login(&team, "team-alert-password");
    let setup = setup_with(
        "pgpalert",
        &[(
            "tracking_prefix = \"HEXON\"",
            // NOTE: copies APPENDed (the opt-in mode) carry the audit head; a bcc copy is the sent mail itself.
            &format!(
                "tracking_prefix = \"HEXON\"\nteam_address = \"{team}\"\ncopy_mode = \"append\""
            ),
        )],
        &team_keys_toml(),
    );
    let u = &setup.users;
    let inner = "Content-Type: text/plain; charset=utf-8\n\n\
        CANARY-critical-alert-7f3a\n\nSummary: unauthenticated remote code execution in the Hexon Gateway \
        admin API (POST /api/v1/upload).\nSteps: upload a crafted archive, the server runs it as root.\n\
        Impact: full compromise of the gateway; actively exploited.\n";
    let raw = encrypted_to_team(
        &u.researcher,
        &u.security,
        "...",
        inner,
        "alert-1@researcher.test",
    );
    send_raw(&u.researcher, &u.security, &raw);
    wait_messages(&u.security, &u.password, "INBOX", 1, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["encrypted"], true);
    assert_eq!(reports[0]["critical"], true, "{:?}", reports[0]);
    let tracking = reports[0]["tracking_id"].as_str().unwrap().to_string();

    let alerts = wait_messages(&team, "team-alert-password", "INBOX", 1, DELIVERY);
    let alert = &alerts[0];
    let outer = alert.header("Subject").unwrap();
    println!("alert outer Subject: {outer}");
    assert_eq!(outer, format!("Security report notice {tracking}"));
    assert!(!outer.to_ascii_lowercase().contains("critical"), "{outer}");
    let content_type = alert.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/encrypted"),
        "{content_type}"
    );

    // The team opens it with its secret key: the inner entity carries the real subject.
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str], input: Option<&Path>| {
        let mut c = Command::new("gpg");
        c.arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--yes", "--trust-model", "always"]);
        c.args(args);
        if let Some(p) = input {
            c.arg(p);
        }
        c.output().expect("gpg")
    };
    let imported = gpg(
        &["--import"],
        Some(&fixtures().join("team-cv25519.sec.asc")),
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let text = alert.text();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let file = home.path().join("alert.asc");
    std::fs::write(&file, &text[start..end]).unwrap();
    let out = gpg(&["--decrypt"], Some(&file));
    assert!(
        out.status.success(),
        "gpg --decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = String::from_utf8_lossy(&out.stdout);
    let inner_subject = plain
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .trim()
        .to_string();
    println!("alert inner Subject: {inner_subject}");
    assert_eq!(
        inner_subject,
        format!("[{tracking}] CRITICAL security report received")
    );
    assert!(
        plain.contains("protected-headers=\"v1\"") || plain.contains("protected-headers=v1"),
        "{plain}"
    );

    // Finding 10: the team's copy of the ack carries the audit head; the
    // reporter's mail does not; the header value is a usable anchor.
    let acks = wait_messages(&u.researcher, &u.password, "INBOX", 1, DELIVERY);
    assert!(acks
        .iter()
        .all(|m| m.header("X-Hexon-Audit-Head").is_none()));
    let copy = imap_messages(&u.security, &u.password, "INBOX")
        .into_iter()
        .find(|m| m.header("X-Hexon-Tracking-Id").as_deref() == Some(tracking.as_str()))
        .expect("the team's copy of the ack");
    let head = copy
        .header("X-Hexon-Audit-Head")
        .expect("audit head in the copy");
    println!("copy X-Hexon-Audit-Head: {head}");
    let anchor = setup.dir.path().join("from-copy.anchor");
    std::fs::write(&anchor, &head).unwrap();
    let verified = cli_ok(
        &setup,
        &["audit", "verify", "--anchor", anchor.to_str().unwrap()],
    );
    assert!(
        verified.contains("intact") && verified.contains("with a MAC"),
        "{verified}"
    );
}

//! Team correspondence (issue 12) through the real Dovecot + Postfix with
//! keys made by real GnuPG: a team member (key made here with `gpg`) answers
//! a report with a PGP/MIME `multipart/signed` reply (detached signature
//! over the exact MIME part) and with a signed+encrypted one (to the team
//! key, as Thunderbird/mutt send it); the researcher receives each encrypted
//! to their pinned key, `gpg --decrypt` opens it and accepts the team
//! signature; quick actions change the report and are audited with the
//! member's fingerprint; `assessed_at` is set; a forged unsigned copy with
//! the same From and a `/note` relay nothing; `reports reply` takes the same
//! path.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(30);

/// The shared OpenPGP fixtures (team keys, alice's key and report).
fn fixtures(dir: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(format!("{REPO}/scripts/gpg-fixtures.sh"))
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "gpg-fixtures.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_path_buf()
}

/// A team member's own GnuPG home with a fresh Ed25519 key.
struct Member {
    home: PathBuf,
    fingerprint: String,
    address: String,
}

impl Member {
    fn gpg(&self, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(&self.home)
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
            ])
            .args(["--passphrase", "", "--trust-model", "always"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.unwrap_or_default()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn new(address: &str, team_pub: &Path) -> Member {
        // NOTE: a short path keeps the agent socket under the sun_path limit.
        let home = PathBuf::from(format!("/tmp/ht12-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&home).unwrap().permissions(),
            0o700,
        );
        Command::new("chmod")
            .arg("700")
            .arg(&home)
            .status()
            .unwrap();
        let mut m = Member {
            home,
            fingerprint: String::new(),
            address: address.to_string(),
        };
        m.gpg(
            &[
                "--quick-gen-key",
                &format!("Mia Team <{address}>"),
                "ed25519",
                "sign",
                "never",
            ],
            None,
        );
        let listing =
            String::from_utf8(m.gpg(&["--with-colons", "--list-keys", address], None)).unwrap();
        m.fingerprint = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_string();
        m.gpg(&["--import", &team_pub.display().to_string()], None);
        m
    }

    fn public_key(&self) -> Vec<u8> {
        self.gpg(&["--armor", "--export", &self.fingerprint], None)
    }

    /// The text part exactly as it is signed (CRLF, no trailing line break).
    fn part(text: &str) -> String {
        format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            text.replace("\r\n", "\n").replace('\n', "\r\n")
        )
    }

    fn head(&self, to: &str, subject: &str, mid: &str, in_reply_to: &str, ct: &str) -> String {
        let date = chrono::Utc::now().to_rfc2822();
        format!(
            "From: Mia Team <{}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\nIn-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: {ct}\r\n\r\n",
            self.address
        )
    }

    /// PGP/MIME multipart/signed, signed with `gpg --detach-sign` over the exact part.
    fn signed(&self, to: &str, subject: &str, mid: &str, irt: &str, text: &str) -> Vec<u8> {
        let part = Member::part(text);
        let sig = self.gpg(
            &[
                "--armor",
                "--detach-sign",
                "--digest-algo",
                "SHA256",
                "-u",
                &self.fingerprint,
            ],
            Some(part.as_bytes()),
        );
        let ct = "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"SIG-b0undary\"";
        format!(
            "{}--SIG-b0undary\r\n{part}\r\n--SIG-b0undary\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n{}\r\n--SIG-b0undary--\r\n",
            self.head(to, subject, mid, irt, ct),
            String::from_utf8(sig).unwrap().replace("\r\n", "\n").replace('\n', "\r\n")
        )
        .into_bytes()
    }

    /// The same unsigned (a forgery with the member's From).
    fn unsigned(&self, to: &str, subject: &str, mid: &str, irt: &str, text: &str) -> Vec<u8> {
        let ct = "text/plain; charset=utf-8";
        let body = text.replace("\r\n", "\n").replace('\n', "\r\n");
        format!("{}{body}\r\n", self.head(to, subject, mid, irt, ct)).into_bytes()
    }

    /// PGP/MIME signed+encrypted to the team key.
    fn encrypted(
        &self,
        to: &str,
        subject: &str,
        mid: &str,
        irt: &str,
        text: &str,
        team_fpr: &str,
    ) -> Vec<u8> {
        let part = Member::part(text);
        let armored = self.gpg(
            &[
                "--armor",
                "--sign",
                "--encrypt",
                "-u",
                &self.fingerprint,
                "-r",
                team_fpr,
            ],
            Some(part.as_bytes()),
        );
        let ct = "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC-b0undary\"";
        format!(
            "{}--ENC-b0undary\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--ENC-b0undary\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n{}\r\n--ENC-b0undary--\r\n",
            self.head(to, subject, mid, irt, ct),
            String::from_utf8(armored).unwrap().replace("\r\n", "\n").replace('\n', "\r\n")
        )
        .into_bytes()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .status();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Rewrite the outer From/To of a fixture and add header lines.
/// `gpg --decrypt` a PGP/MIME mail with alice's key: (plaintext, status lines).
fn decrypt_as_alice(fixtures: &Path, m: &ImapMessage) -> (String, String) {
    let text = m.text();
    let start = text
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("PGP/MIME body");
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.asc"), &text[start..end]).unwrap();
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(fixtures.join("gnupg-alice"))
        .args([
            "--batch",
            "--status-fd",
            "2",
            "--trust-model",
            "always",
            "--decrypt",
        ])
        .arg(dir.path().join("m.asc"))
        .output()
        .expect("gpg");
    let status = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "gpg --decrypt failed: {status}");
    (String::from_utf8_lossy(&out.stdout).to_string(), status)
}

/// Mails to alice about `tracking`.
fn alice_mails(alice: &str, password: &str, tracking: &str) -> Vec<ImapMessage> {
    imap_messages(alice, password, "INBOX")
        .into_iter()
        .filter(|m| m.header("X-Hexon-Tracking-Id").as_deref() == Some(tracking))
        .collect()
}

#[test]
fn team_replies_from_the_mail_client_and_the_cli_reach_the_reporter_encrypted() {
    let fx_dir = tempfile::tempdir().unwrap();
    let fx = fixtures(fx_dir.path());
    let fixture = |n: &str| std::fs::read_to_string(fx.join(n)).unwrap();
    let team_fpr = fixture("team-cv25519.fpr").trim().to_string();
    let mia_address = format!("mia-{}@hexon.test", std::process::id());
    let mia = Member::new(&mia_address, &fx.join("team-cv25519.pub.asc"));
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("mia.asc"), mia.public_key()).unwrap();
    let extra = format!(
        "\n[openpgp]\nteam_keys = [\"{}\"]\n\n[team]\nmax_signature_age_days = 7\nstatus_notices = [\"accepted\", \"fixed\"]\n\n[[team.members]]\nname = \"mia\"\naddress = \"{mia_address}\"\ncert = \"{}\"\n",
        fx.join("team-cv25519.sec.asc").display(),
        keys.path().join("mia.asc").display()
    );
    let setup = setup_with("team12", &[], &extra);
    add_user(&mia_address, "mia-password");
    let alice = "alice@researcher.test";
    let alice_password = "alice-fixture-password";
    add_user(alice, alice_password);
    wait_login(alice, alice_password);
    wait_login(&mia_address, "mia-password");
    clear_inbox(alice);
    let sec = setup.users.security.clone();

    // The report: encrypted, signed, alice's key in Autocrypt (pinned).
    let eml = fixture("signed-encrypted.eml");
    send_raw(
        alice,
        &sec,
        &readdress(
            &eml,
            alice,
            &sec,
            &autocrypt_header_of(&fixture("autocrypt.eml")),
        ),
    );
    wait_messages(&sec, &setup.users.password, "INBOX", 1, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    let tracking = reports_json(&setup)[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = report_json(&setup, &tracking);
    let report_mid = detail["messages"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail["reporter_key"].is_string(), "alice's key is pinned");
    assert!(detail["assessed_at"].is_null());
    wait_for("the ack", DELIVERY, || {
        (alice_mails(alice, alice_password, &tracking).len() == 1).then_some(())
    });
    let subject = format!("Re: [{tracking}] your report");

    // 1. multipart/signed with quick actions.
    let reply1 = mia.signed(
        &sec,
        &subject,
        "team-1@mia.example",
        &report_mid,
        "/severity high\n/assign mia\n\nThanks, we reproduced it. RELAY-ONE-4c1e\n",
    );
    send_raw(&mia_address, &sec, &reply1);
    // 2. A forged unsigned copy with the same From, and 3. a signed note.
    let forged = mia.unsigned(
        &sec,
        &subject,
        "team-2@mia.example",
        &report_mid,
        "FORGED-CANARY-9d2b\n",
    );
    send_raw(&mia_address, &sec, &forged);
    let note = mia.signed(
        &sec,
        &subject,
        "team-3@mia.example",
        &report_mid,
        "/note\nNOTE-CANARY-5e7a internal only\n",
    );
    send_raw(&mia_address, &sec, &note);
    // 4. Signed+encrypted to the team key.
    let reply4 = mia.encrypted(
        &sec,
        &subject,
        "team-4@mia.example",
        &report_mid,
        "Second answer. RELAY-TWO-8f0c\n",
        &team_fpr,
    );
    send_raw(&mia_address, &sec, &reply4);
    // The report, its ack copy and four team mails.
    wait_messages(&sec, &setup.users.password, "INBOX", 6, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    wait_for("two relayed replies", DELIVERY, || {
        (alice_mails(alice, alice_password, &tracking).len() >= 3).then_some(())
    });

    // 5. The CLI takes the same path.
    let body = keys.path().join("reply.txt");
    std::fs::write(&body, "From the CLI. RELAY-THREE-1a2b\n").unwrap();
    let out = cli_ok(
        &setup,
        &[
            "reports",
            "reply",
            &tracking,
            "--file",
            &body.display().to_string(),
        ],
    );
    assert!(out.contains("reply queued"), "{out}");
    cli_ok(&setup, &["run", "--once"]);
    let mails = wait_for("three relayed replies", DELIVERY, || {
        let m = alice_mails(alice, alice_password, &tracking);
        (m.len() >= 4).then_some(m)
    });
    std::thread::sleep(Duration::from_secs(3));
    let mails = {
        let again = alice_mails(alice, alice_password, &tracking);
        assert_eq!(again.len(), mails.len(), "nothing else arrives");
        again
    };
    assert_eq!(
        mails.len(),
        4,
        "ack + three relayed replies, nothing for the forgery or the note"
    );

    let mut seen = Vec::new();
    for m in &mails {
        let ct = m.header("Content-Type").unwrap_or_default();
        assert!(
            ct.starts_with("multipart/encrypted"),
            "encrypted to alice's key: {ct}"
        );
        let from = m.header("From").unwrap_or_default();
        assert!(
            !from.contains(&mia_address),
            "never From the member: {from}"
        );
        let (plain, status) = decrypt_as_alice(&fx, m);
        assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
        assert!(
            status.contains(&team_fpr),
            "signed by the team key: {status}"
        );
        assert!(
            !plain.contains("FORGED-CANARY") && !plain.contains("NOTE-CANARY"),
            "{plain}"
        );
        assert!(
            !plain.contains("/severity") && !plain.contains("/assign"),
            "{plain}"
        );
        for canary in ["RELAY-ONE-4c1e", "RELAY-TWO-8f0c", "RELAY-THREE-1a2b"] {
            if plain.contains(canary) {
                seen.push(canary);
                assert_eq!(
                    m.header("In-Reply-To")
                        .as_deref()
                        .map(|v| v.trim_matches(['<', '>', ' '])),
                    Some(report_mid.as_str()),
                    "in the reporter's thread"
                );
            }
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["RELAY-ONE-4c1e", "RELAY-THREE-1a2b", "RELAY-TWO-8f0c"]
    );

    // The report: quick actions applied and audited with mia's fingerprint; assessed.
    let detail = report_json(&setup, &tracking);
    let field = |k: &str| {
        detail
            .get(k)
            .cloned()
            .unwrap_or_else(|| detail["report"][k].clone())
    };
    assert_eq!(field("severity"), "high");
    assert_eq!(field("assignee"), "mia");
    assert!(!field("assessed_at").is_null(), "assessed_at set");
    let events = detail["events"].as_array().unwrap();
    let by_mia = |kind: &str| {
        events
            .iter()
            .any(|e| e["kind"] == kind && e["actor"].as_str() == Some(mia.fingerprint.as_str()))
    };
    assert!(
        by_mia("severity_changed") && by_mia("assignee_changed"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["kind"] == "team_mail_rejected"),
        "forgery audited"
    );
    assert!(by_mia("team_note"), "note stored");
    let conversation = detail["conversation"].as_array().unwrap();
    let whats: Vec<&str> = conversation
        .iter()
        .filter_map(|e| e["what"].as_str())
        .collect();
    for want in [
        "reporter",
        "ack",
        "team mail",
        "rejected team mail",
        "note",
        "team reply",
        "quick action",
    ] {
        assert!(whats.contains(&want), "conversation has {want}: {whats:?}");
    }
    let shown = cli_ok(&setup, &["reports", "show", &tracking]);
    assert!(
        shown.contains("conversation:") && shown.contains("team reply"),
        "{shown}"
    );
    let quarantine = cli_ok(&setup, &["quarantine"]);
    assert!(quarantine.contains("team mail rejected"), "{quarantine}");
    // The forged mail told the real member (at the configured address).
    wait_for("notice to mia", DELIVERY, || {
        imap_messages(&mia_address, "mia-password", "INBOX")
            .iter()
            .any(|m| m.text().contains("not signed"))
            .then_some(())
    });
    let db = std::fs::read(setup.database()).unwrap();
    // NOTE: the signed (clear) team mails rest as raw bytes like every mail;
    // the encrypted one's text is nowhere in clear (message row, outbox, notes).
    let canary = b"RELAY-TWO-8f0c";
    assert!(
        !db.windows(canary.len()).any(|w| w == canary),
        "text of an encrypted team mail rests sealed only"
    );

    // kill -9 during a relay: the process dies right after the SMTP server
    // accepted the reply, before it is marked sent; the next run finds the
    // copy that travelled in the same transaction and does not send again.
    std::fs::write(&body, "After a crash. RELAY-FOUR-77aa\n").unwrap();
    cli_ok(
        &setup,
        &[
            "reports",
            "reply",
            &tracking,
            "--file",
            &body.display().to_string(),
        ],
    );
    let crashed = Command::new(BIN)
        .arg("--config")
        .arg(&setup.config)
        .args(["run", "--once"])
        .env("HEXON_TRIAGE_FAULTS", "after_smtp:1.0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the injected abort ends the run");
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("injected fault at after_smtp"));
    cli_ok(&setup, &["run", "--once"]);
    cli_ok(&setup, &["run", "--once"]);
    wait_for("the relay after the crash", DELIVERY, || {
        (alice_mails(alice, alice_password, &tracking).len() >= 5).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let mails = alice_mails(alice, alice_password, &tracking);
    assert_eq!(
        mails.len(),
        5,
        "the reply crashed in flight arrives exactly once"
    );
    let fours = mails
        .iter()
        .filter(|m| decrypt_as_alice(&fx, m).0.contains("RELAY-FOUR-77aa"))
        .count();
    assert_eq!(fours, 1);
    let status = cli_ok(&setup, &["reports", "show", &tracking, "--json"]);
    assert!(!status.contains("\"sending\""), "nothing left in flight");

    // Status notices: `/status accepted` in signed team mail and `reports set
    // --status fixed` each send the reporter one templated notice; a status
    // not listed in team.status_notices sends nothing.
    let accept = mia.signed(
        &sec,
        &subject,
        "team-5@mia.example",
        &report_mid,
        "/status accepted\n",
    );
    send_raw(&mia_address, &sec, &accept);
    wait_for("the /status mail", DELIVERY, || {
        imap_messages(&sec, &setup.users.password, "INBOX")
            .iter()
            .any(|m| {
                m.header("Message-ID")
                    .is_some_and(|v| v.contains("team-5@mia.example"))
            })
            .then_some(())
    });
    cli_ok(&setup, &["run", "--once"]);
    cli_ok(
        &setup,
        &["reports", "set", &tracking, "--status", "triaging"],
    );
    let out = cli_ok(&setup, &["reports", "set", &tracking, "--status", "fixed"]);
    assert!(
        out.contains("status notice to the reporter queued"),
        "{out}"
    );
    cli_ok(&setup, &["run", "--once"]);
    let mails = wait_for("two status notices", DELIVERY, || {
        let m = alice_mails(alice, alice_password, &tracking);
        (m.len() >= 7).then_some(m)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(alice_mails(alice, alice_password, &tracking).len(), 7);
    let notices: Vec<String> = mails
        .iter()
        .map(|m| decrypt_as_alice(&fx, m).0)
        .filter(|plain| {
            plain.contains("The status of the report") || plain.contains("status of the report")
        })
        .collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        notices.iter().any(|p| p.contains("accepted"))
            && notices.iter().any(|p| p.contains("fixed"))
    );
}

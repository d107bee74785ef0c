//! The binding attacks of issue 16, played as an attacker would through the
//! real Dovecot + Postfix with keys and signatures made by real GnuPG:
//!
//! 1. A replayed signature: the attacker writes from their own address (and
//!    then with a forged From) with the victim's tracking id, the victim's
//!    public key attached, an old clear-signed blob of the victim's, and
//!    their own unsigned text asking to change the credit. Nothing attaches
//!    with power to change the report, and the credit stays the victim's;
//!    the victim's next signed mail still changes it.
//! 2. A spoofed first mail: From the victim, an `Autocrypt:` header with the
//!    attacker's key, unsigned. The key is only a candidate (never used to
//!    encrypt); the real reporter's signed mail with their own key pins
//!    theirs. A self-signed spoof that the receiving server marks DMARC-fail
//!    pins nothing either.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(20);

/// Fixtures from scripts/gpg-fixtures.sh plus one GNUPGHOME holding the
/// secret keys of alice (victim 1), bob (victim 2) and "other" (attacker).
fn fixtures() -> &'static (PathBuf, PathBuf) {
    static DIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("binding-attack-{}", std::process::id()));
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
        // A short path: gpg-agent's socket must fit in sun_path.
        let home = PathBuf::from(format!("/tmp/hxba-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        for key in [
            "researcher-cv25519.sec.asc",
            "researcher-rsa.sec.asc",
            "other.sec.asc",
        ] {
            gpg(&home, &["--import"], &std::fs::read(dir.join(key)).unwrap());
        }
        (dir, home)
    })
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().0.join(name)).unwrap()
}

fn gpg(home: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
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
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `text` clear-signed by the key of `signer` (an address in the GNUPGHOME).
fn clearsign(signer: &str, text: &str) -> String {
    String::from_utf8(gpg(
        &fixtures().1,
        &["--clearsign", "-u", signer],
        text.as_bytes(),
    ))
    .unwrap()
}

/// A mail whose body is `body`, with `key` (armored) attached if given.
fn mail(
    from: &str,
    to: &str,
    subject: &str,
    mid: &str,
    extra: &str,
    body: &str,
    key: Option<&str>,
) -> Vec<u8> {
    let head = format!(
        "From: Researcher <{from}>\nTo: {to}\nSubject: {subject}\nMessage-ID: <{mid}>\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n{extra}"
    );
    let text = match key {
        None => format!("{head}Content-Type: text/plain; charset=utf-8\n\n{body}\n"),
        Some(key) => format!(
            "{head}Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\
             --b1\nContent-Type: application/pgp-keys; name=\"key.asc\"\nContent-Disposition: attachment; filename=\"key.asc\"\n\n{key}\n--b1--\n"
        ),
    };
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn run_once(setup: &Setup, n_in_inbox: usize) {
    wait_messages(
        &setup.users.security,
        &setup.users.password,
        "INBOX",
        n_in_inbox,
        DELIVERY,
    );
    cli_ok(setup, &["run", "--once"]);
}

fn credit_of(setup: &Setup, tracking: &str) -> serde_json::Value {
    report_json(setup, tracking)["credit"].clone()
}

#[test]
fn a_replayed_signature_neither_attaches_nor_rewrites_the_credit() {
    let setup = setup_with("replay", &[], "");
    let sec = setup.users.security.clone();
    let victim = "alice@researcher.test";
    let attacker = setup.users.researcher.clone();
    let alice_key = fixture("researcher-cv25519.pub.asc");
    let alice_fpr = fixture("researcher-cv25519.fpr").trim().to_string();
    add_user(victim, "alice-fixture-password");
    wait_login(victim, "alice-fixture-password");
    clear_inbox(victim);

    // The victim's first report: clear-signed, her key attached.
    let signed_credit = clearsign(
        victim,
        "Hello, the login form on https://app.hexon.io/login reflects the next parameter.\n\
         Steps: open /login?next=javascript:alert(1) and click.\nPlease credit me as Alice Victim.\n",
    );
    send_raw(
        victim,
        &sec,
        &mail(
            victim,
            &sec,
            "XSS in login",
            "v1@researcher.test",
            "",
            &signed_credit,
            Some(&alice_key),
        ),
    );
    run_once(&setup, 1);
    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 1);
    let tracking = reports[0]["tracking_id"].as_str().unwrap().to_string();
    let detail = report_json(&setup, &tracking);
    assert_eq!(
        detail["reporter_key"],
        alice_fpr.as_str(),
        "a key that signed its mail is pinned"
    );
    let victim_credit = credit_of(&setup, &tracking);
    assert_eq!(victim_credit["name"], "Alice Victim", "{victim_credit}");

    // Attack 1a: the attacker's own address, the victim's key and old signed blob, own text.
    let attack = format!("Please credit me as Mallory instead.\n\n{signed_credit}");
    send_raw(
        &attacker,
        &sec,
        &mail(
            &attacker,
            &sec,
            &format!("Re: [{tracking}]"),
            "m1@evil.test",
            "",
            &attack,
            Some(&alice_key),
        ),
    );
    // Attack 1b: the same with a forged From of the victim.
    send_raw(
        &attacker,
        &sec,
        &mail(
            victim,
            &sec,
            &format!("Re: [{tracking}]"),
            "m2@evil.test",
            "",
            &attack,
            Some(&alice_key),
        ),
    );
    // Attack 1c: the victim's whole signed blob, in a second part beside the attacker's text.
    let mixed = format!(
        "From: Researcher <{victim}>\r\nTo: {sec}\r\nSubject: Re: [{tracking}]\r\nMessage-ID: <m3@evil.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n{}\r\n--x\r\nContent-Type: text/plain\r\n\r\n\
         Please credit me as Mallory instead.\r\n--x--\r\n",
        signed_credit.replace('\n', "\r\n")
    );
    send_raw(&attacker, &sec, mixed.as_bytes());
    run_once(&setup, 4);

    assert_eq!(
        credit_of(&setup, &tracking),
        victim_credit,
        "the credit is still the victim's"
    );
    let detail = report_json(&setup, &tracking);
    assert_eq!(detail["reporter_key"], alice_fpr.as_str());
    assert_eq!(
        detail["needs_review"], true,
        "the forged follow-ups are flagged"
    );
    for m in detail["messages"].as_array().unwrap() {
        if m["message_id"] != "v1@researcher.test" {
            assert_ne!(
                m["signature"], "good",
                "no forged part counts as signed: {m}"
            );
        }
    }
    let all = reports_json(&setup);
    let own_address = all
        .iter()
        .find(|r| r["reporter"] == attacker.as_str())
        .expect("1a is a report of its own");
    assert_eq!(own_address["references_report"], tracking.as_str());
    assert!(own_address["credit"].is_null() || own_address["credit"]["name"] != "Alice Victim");

    // The victim's next signed mail still changes her report.
    let update = clearsign(victim, "Please credit me as Alice V. Real.\n");
    send_raw(
        victim,
        &sec,
        &mail(
            victim,
            &sec,
            &format!("Re: [{tracking}]"),
            "v2@researcher.test",
            "",
            &update,
            None,
        ),
    );
    run_once(&setup, 5);
    assert_eq!(credit_of(&setup, &tracking)["name"], "Alice V. Real");
}

#[test]
fn a_spoofed_autocrypt_first_mail_pins_nothing_and_the_real_key_wins() {
    let setup = setup_with("spoofac", &[], "");
    let sec = setup.users.security.clone();
    let victim = "bob@researcher.test";
    add_user(victim, "bob-fixture-password");
    wait_login(victim, "bob-fixture-password");
    clear_inbox(victim);
    let attacker = setup.users.researcher.clone();
    let other_fpr = fixture("other.fpr").trim().to_string();
    let bob_fpr = fixture("researcher-rsa.fpr").trim().to_string();
    let keydata: String = {
        let armored = fixture("other.pub.asc");
        let b64: String = armored
            .lines()
            .filter(|l| {
                !l.starts_with("-----") && !l.starts_with('=') && !l.contains(':') && !l.is_empty()
            })
            .collect();
        b64.as_bytes()
            .chunks(72)
            .map(|c| format!(" {}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let autocrypt =
        format!("Autocrypt: addr={victim}; prefer-encrypt=mutual; keydata=\n{keydata}\n");

    // The spoof: From the victim, the attacker's key in Autocrypt, unsigned.
    send_raw(
        &attacker,
        &sec,
        &mail(
            victim,
            &sec,
            "Report",
            "s1@evil.test",
            &autocrypt,
            "The admin CLI leaks tokens in --debug output.",
            None,
        ),
    );
    run_once(&setup, 1);
    let reports = reports_json(&setup);
    let tracking = reports[0]["tracking_id"].as_str().unwrap().to_string();
    let detail = report_json(&setup, &tracking);
    assert!(
        detail["reporter_key"].is_null(),
        "an unsigned offer pins nothing: {}",
        detail["reporter_key"]
    );
    let candidates = detail["key_candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0]["fingerprint"], other_fpr.as_str());
    let shown = cli_ok(&setup, &["reports", "show", &tracking]);
    assert!(
        shown.contains("candidate key") && shown.contains(&other_fpr),
        "{shown}"
    );
    // The ack went to the victim's address and is not encrypted to the attacker's key.
    let acks = wait_messages(victim, "bob-fixture-password", "INBOX", 1, DELIVERY);
    assert!(!acks[0]
        .header("Content-Type")
        .unwrap_or_default()
        .starts_with("multipart/encrypted"));

    // A self-signed spoof that the receiving server marks DMARC-fail pins nothing either.
    let dmarc = "Authentication-Results: mx.hexon.test; dmarc=fail (p=reject) header.from=researcher.test\n";
    let self_signed = clearsign(
        "other@elsewhere.test",
        "Another report: registry.hexon.io leaks build logs.\n",
    );
    send_raw(
        &attacker,
        &sec,
        &mail(
            victim,
            &sec,
            "Report 2",
            "s2@evil.test",
            &format!("{dmarc}{autocrypt}"),
            &self_signed,
            None,
        ),
    );
    let text = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace("[imap]\n", "[imap]\nauthserv_id = \"mx.hexon.test\"\n");
    std::fs::write(&setup.config, text).unwrap();
    run_once(&setup, 2);
    let all = reports_json(&setup);
    assert_eq!(all.len(), 2);
    for r in &all {
        let d = report_json(&setup, r["tracking_id"].as_str().unwrap());
        assert!(d["reporter_key"].is_null(), "{}", d["reporter_key"]);
    }

    // The real reporter: signed by his own key, attached. His key is pinned.
    let real = clearsign(
        victim,
        "Follow-up with my key. Please credit me as Bob B.\n",
    );
    send_raw(
        victim,
        &sec,
        &mail(
            victim,
            &sec,
            &format!("Re: [{tracking}]"),
            "b1@researcher.test",
            "",
            &real,
            Some(&fixture("researcher-rsa.pub.asc")),
        ),
    );
    run_once(&setup, 3);
    let detail = report_json(&setup, &tracking);
    assert_eq!(detail["reporter_key"], bob_fpr.as_str());
    assert_eq!(detail["credit"]["name"], "Bob B");
    // The operator can pin the candidate by hand (audited), and unpin it again.
    cli_ok(
        &setup,
        &[
            "reports", "key", "pin", &tracking, &other_fpr, "--actor", "ops",
        ],
    );
    assert_eq!(
        report_json(&setup, &tracking)["reporter_key"],
        other_fpr.as_str()
    );
    cli_ok(
        &setup,
        &["reports", "key", "unpin", &tracking, "--actor", "ops"],
    );
    let detail = report_json(&setup, &tracking);
    assert!(detail["reporter_key"].is_null());
    let trail = serde_json::to_string(&detail["events"]).unwrap();
    assert!(
        trail.contains("reporter_key_unpinned") && trail.contains("ops"),
        "{trail}"
    );
}

/// A PGP/MIME mail encrypted by gpg to the team key: `inner` is the MIME
/// entity (protected headers, text, attachment).
fn encrypted_mail(from: &str, to: &str, mid: &str, inner: &str) -> Vec<u8> {
    let home = &fixtures().1;
    let team = fixture("team-cv25519.fpr").trim().to_string();
    gpg(
        home,
        &["--import"],
        fixture("team-cv25519.pub.asc").as_bytes(),
    );
    let armored = gpg(
        home,
        &["--armor", "--encrypt", "-r", &team],
        inner.replace('\n', "\r\n").as_bytes(),
    );
    format!(
        "From: Researcher <{from}>\nTo: {to}\nSubject: ...\nMessage-ID: <{mid}>\nMIME-Version: 1.0\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\n\n\
         --e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--e\nContent-Type: application/octet-stream\n\n{}\n--e--\n",
        String::from_utf8(armored).unwrap()
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n")
    .into_bytes()
}

const CANARIES: [&str; 5] = [
    "canary-7f3a.hexon.io",
    "/canary7f3a/export",
    "CVE-2026-77731",
    "canary_fn_7f3a",
    "CanarySubject7f3a",
];

fn inner_report(subject: &str, body: &str) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary=\"i\"; protected-headers=\"v1\"\nSubject: {subject}\n\n\
         --i\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\
         --i\nContent-Type: text/x-python; name=\"poc_canary_fn_7f3a.py\"\nContent-Disposition: attachment; filename=\"poc_canary_fn_7f3a.py\"\n\n\
         import requests\nrequests.get('https://canary-7f3a.hexon.io/canary7f3a/export')  # canary_fn_7f3a\n--i--\n"
    )
}

/// Every text or blob cell of every table, as bytes.
fn every_cell(db: &Path) -> Vec<(String, Vec<u8>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut cells = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for (i, name) in names.iter().enumerate() {
                let bytes = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        t.to_vec()
                    }
                    other => format!("{other:?}").into_bytes(),
                };
                cells.push((format!("{table}.{name}"), bytes));
            }
        }
    }
    cells
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let hay = hay.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn nothing_of_an_encrypted_report_rests_in_clear_and_duplicates_are_still_found() {
    let setup = setup_with(
        "atrest",
        &[],
        &format!(
            "\n[openpgp]\nteam_keys = [\"{}\"]\n",
            fixtures().0.join("team-cv25519.sec.asc").display()
        ),
    );
    let sec = setup.users.security.clone();
    let first = setup.users.researcher.clone();
    let second = format!("second-{}", setup.users.researcher);
    add_user(&second, &setup.users.password);
    wait_login(&second, &setup.users.password);
    let body1 = "Summary: path traversal in the export endpoint of canary-7f3a.hexon.io (CVE-2026-77731).\n\
                 Steps:\n1. GET https://canary-7f3a.hexon.io/canary7f3a/export?file=../../etc/passwd\n\
                 2. The handler canary_fn_7f3a joins the path unchecked.\nImpact: any file of the host can be read.";
    let body2 = "Hi, I think I found something on canary-7f3a.hexon.io: /canary7f3a/export?file=../../etc/shadow returns the file.\n\
                 Looks like CVE-2026-77731 again; the function canary_fn_7f3a does not normalise the path.";
    send_raw(
        &first,
        &sec,
        &encrypted_mail(
            &first,
            &sec,
            "e1@researcher.test",
            &inner_report("CanarySubject7f3a traversal", body1),
        ),
    );
    run_once(&setup, 1);
    send_raw(
        &second,
        &sec,
        &encrypted_mail(
            &second,
            &sec,
            "e2@researcher.test",
            &inner_report("CanarySubject7f3a again", body2),
        ),
    );
    run_once(&setup, 2);

    let mut reports = reports_json(&setup);
    reports.sort_by_key(|r| r["tracking_id"].as_str().unwrap().to_string());
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r["encrypted"] == true));
    let first_id = reports[0]["tracking_id"].as_str().unwrap().to_string();
    assert_eq!(
        reports[1]["possible_duplicate_of"],
        first_id.as_str(),
        "two encrypted reports of one bug are linked"
    );
    // The queue's labels stay readable; the evidence opens with the team key.
    let shown = cli_ok(&setup, &["reports", "show", &first_id, "--decrypt"]);
    assert!(
        shown.contains("CVE-2026-77731") || shown.contains("canary_fn_7f3a"),
        "{shown}"
    );

    let backup = setup.dir.path().join("backup.db");
    cli_ok(&setup, &["backup", backup.to_str().unwrap()]);
    let db = setup.database();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    for place in [&db, &wal, &backup] {
        if !place.exists() {
            continue;
        }
        let bytes = std::fs::read(place).unwrap();
        for canary in CANARIES {
            assert!(
                !contains_ci(&bytes, canary),
                "{canary} in {}",
                place.display()
            );
        }
    }
    let mut cells = 0;
    for (column, bytes) in every_cell(&backup) {
        cells += 1;
        for canary in CANARIES {
            assert!(!contains_ci(&bytes, canary), "{canary} in column {column}");
        }
    }
    println!("at rest: {cells} cells of the backup, the database file and its WAL hold none of {} canaries", CANARIES.len());
}

//! From report to published advisory, through the real mail stack and the
//! CLI against a real store: two reports come in over Postfix/Dovecot (one
//! with the reporter's GnuPG-made key attached), both reporters answer the
//! credit question in a follow-up ("credit me as …" / "no credit"), the team
//! drafts one advisory from both and exports it. The CSAF and CVE documents
//! pass the official schemas (jsonschema crate) AND independent validators
//! (BSI's csaf-validator-lib with its mandatory tests, cvelib), and carry
//! exactly the consented credit; the declined reporter appears in no export.
//! Publishing mails the credited reporter once, encrypted to their key
//! (decrypted here with gpg), and never the declined one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(30);

fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("gpg");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh GnuPG home with an ed25519/cv25519 key for `uid`; returns (home, armored public, armored secret).
fn make_key(dir: &Path, name: &str, uid: &str) -> (PathBuf, String, String) {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let _ = Command::new("chmod").arg("700").arg(&home).status();
    gpg(
        &home,
        &["--quick-gen-key", uid, "future-default", "default", "1y"],
    );
    let public = String::from_utf8(gpg(&home, &["--armor", "--export", uid]).stdout).unwrap();
    let secret =
        String::from_utf8(gpg(&home, &["--armor", "--export-secret-keys", uid]).stdout).unwrap();
    (home, public, secret)
}

/// A plain report with the reporter's public key attached (application/pgp-keys).
fn report_with_key(from: &str, to: &str, subject: &str, body: &str, key: &str) -> Vec<u8> {
    format!(
        "From: Alice Example <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <adv-1-{n}@researcher.test>\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b1\r\nContent-Type: application/pgp-keys; name=\"alice.asc\"\r\n\
Content-Disposition: attachment; filename=\"alice.asc\"\r\n\r\n{key}\r\n--b1--\r\n",
        n = std::process::id(),
        key = key.replace('\n', "\r\n"),
    )
    .into_bytes()
}

fn validators() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../validators");
    let out = Command::new("bash")
        .arg(format!("{REPO}/scripts/validators.sh"))
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "cannot install the independent CSAF/CVE validators (npm/pip must work; this test never skips): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn schema_errors(schema: &str, doc: &serde_json::Value) -> Vec<String> {
    let dir = Path::new(REPO).join("tests/schemas");
    let load = |rel: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(rel)).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add(
            "https://www.first.org/cvss/cvss-v2.0.json",
            load("csaf-2.0/cvss-v2.0.json"),
        )
        .unwrap()
        .add(
            "https://www.first.org/cvss/cvss-v3.0.json",
            load("csaf-2.0/cvss-v3.0.json"),
        )
        .unwrap()
        .add(
            "https://www.first.org/cvss/cvss-v3.1.json",
            load("csaf-2.0/cvss-v3.1.json"),
        )
        .unwrap()
        .add(
            "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json",
            load("csaf-2.0/csaf_json_schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let v = jsonschema::options()
        .offline()
        .with_registry(&registry)
        .build(&load(schema))
        .unwrap();
    v.iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn wait_report_credit(setup: &Setup, tracking: &str) -> serde_json::Value {
    wait_for(
        &format!("credit of {tracking}"),
        Duration::from_secs(60),
        || {
            let _ = cli(setup, &["run", "--once"]);
            let r = report_json(setup, tracking);
            (!r["credit"].is_null()).then(|| r["credit"].clone())
        },
    )
}

#[test]
fn reports_to_published_advisory_with_consented_credit_and_one_encrypted_notice() {
    let work = tempfile::tempdir().unwrap();
    let (_, team_public, team_secret) =
        make_key(work.path(), "team", "Hexon Security <security@hexon.test>");
    std::fs::write(work.path().join("team.sec.asc"), &team_secret).unwrap();
    let extra = format!(
        "\n[openpgp]\nteam_keys = [\"{}\"]\n\n[advisory]\nbase_url = \"https://hexon.test/.well-known/csaf\"\n\
cna_org_id = \"8254265b-2729-46b6-b9e3-3dfca2d5bfca\"\ncna_short_name = \"hexon\"\n\n\
[security_txt]\ncontact = [\"mailto:security@hexon.test\"]\nexpires = \"{}\"\n",
        work.path().join("team.sec.asc").display(),
        (chrono::Utc::now() + chrono::Duration::days(200)).to_rfc3339()
    );
    let setup = setup_with("advisory", &[], &extra);
    let u = &setup.users;
    let bob = format!("bob-advisory-{}@researcher.test", std::process::id());
    add_user(&bob, &u.password);
    wait_login(&bob, &u.password);
    let (alice_home, alice_public, _) = make_key(
        work.path(),
        "alice",
        &format!("Alice Example <{}>", u.researcher),
    );

    // Two reports over the real mail stack.
    let body = "Path traversal in the Hexon Gateway admin API.\n\nSteps to reproduce:\n1. GET /admin/../../etc/passwd\n\n\
Impact: unauthenticated file read.\nCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n";
    // Signed by the key it attaches: only such a key is pinned (issue 16).
    let body_file = work.path().join("body.txt");
    std::fs::write(&body_file, body).unwrap();
    let signed = gpg(
        &alice_home,
        &["--clearsign", "-o", "-", body_file.to_str().unwrap()],
    )
    .stdout;
    let signed = String::from_utf8(signed).unwrap().replace('\n', "\r\n");
    send_raw(
        &u.researcher,
        &u.security,
        &report_with_key(
            &u.researcher,
            &u.security,
            "Gateway path traversal",
            &signed,
            &alice_public,
        ),
    );
    let bob_mail = report_mail(
        &bob,
        &u.security,
        "Same traversal",
        &body.replace("Path", "Directory"),
        &format!("adv-2-{}@researcher.test", std::process::id()),
        "",
    );
    let bob_mail = String::from_utf8(bob_mail)
        .unwrap()
        .replace("Alice Researcher", "Bob Declined")
        .into_bytes();
    send_raw(&bob, &u.security, &bob_mail);
    wait_messages(&u.security, &u.password, "INBOX", 2, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);
    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let tid = |who: &str| {
        reports
            .iter()
            .find(|r| r["reporter"].as_str().unwrap().starts_with(who))
            .unwrap()["tracking_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ta, tb) = (tid("alice"), tid("bob"));
    assert!(
        !report_json(&setup, &ta)["reporter_key"].is_null(),
        "alice's key is pinned"
    );

    // Both answer the credit question in a follow-up.
    let follow = |from: &str, t: &str, text: &str, n: u32| {
        report_mail(
            from,
            &u.security,
            &format!("Re: [{t}] Your security report has been received"),
            text,
            &format!("adv-f{n}-{}@researcher.test", std::process::id()),
            "",
        )
    };
    // Alice has a pinned key now: only a follow-up signed by it may change her report.
    std::fs::write(&body_file, "Thanks! Please credit me as Alice Example.\n").unwrap();
    let signed_credit = gpg(
        &alice_home,
        &["--clearsign", "-o", "-", body_file.to_str().unwrap()],
    )
    .stdout;
    send_raw(
        &u.researcher,
        &u.security,
        &follow(
            &u.researcher,
            &ta,
            &String::from_utf8(signed_credit).unwrap(),
            1,
        ),
    );
    send_raw(
        &bob,
        &u.security,
        &follow(
            &bob,
            &tb,
            "Thanks, but no credit please. I prefer not to be credited.",
            2,
        ),
    );
    assert_eq!(
        wait_report_credit(&setup, &ta),
        serde_json::json!({ "kind": "name", "name": "Alice Example" })
    );
    assert_eq!(
        wait_report_credit(&setup, &tb),
        serde_json::json!({ "kind": "declined" })
    );

    // Valid and uncovered, then drafted (bad input first: nothing is written).
    for t in [&ta, &tb] {
        cli_ok(&setup, &["reports", "set", t, "--status", "accepted"]);
    }
    let uncovered: Vec<serde_json::Value> = serde_json::from_str(&cli_ok(
        &setup,
        &["reports", "list", "--advisory", "none", "--json"],
    ))
    .unwrap();
    assert_eq!(uncovered.len(), 2);
    let draft_args = [
        "advisory",
        "draft",
        &ta,
        "--also",
        &tb,
        "--title",
        "Path traversal in the admin API",
        "--affected",
        "<2.4.1",
        "--fixed",
        "2.4.1",
        "--cwe",
        "CWE-22",
        "--cve",
        "CVE-2026-12345",
        "--description",
        "A crafted path lets an unauthenticated attacker read files.",
        "--remediation",
        "Update to 2.4.1.",
    ];
    for (flag, bad) in [
        ("--cvss-v31", "CVSS:3.1/AV:N/AC:L"),
        ("--cwe", "CWE-x"),
        ("--affected", "all versions"),
    ] {
        let mut args: Vec<&str> = draft_args.to_vec();
        args.extend([flag, bad]);
        let out = cli(&setup, &args);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cli(
        &setup,
        &[
            "reports",
            "credit",
            &ta,
            "--name",
            "<img src=x onerror=alert(1)>",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "HTML credit name refused");
    assert_eq!(
        cli_ok(&setup, &["advisory", "list", "--json"]).trim(),
        "[]",
        "nothing half-written"
    );
    let drafted = cli_ok(&setup, &draft_args);
    let adv = drafted.split(':').next().unwrap().to_string();
    assert!(adv.starts_with("HEXON-SA-"), "{drafted}");
    assert!(drafted.contains("declined credit"), "{drafted}");
    assert_eq!(
        report_json(&setup, &tb)["advisories"][0]["advisory_id"],
        adv.as_str()
    );
    assert!(cli_ok(&setup, &["reports", "list", "--advisory", "none", "--json"]).trim() == "[]");

    // Exports: official schemas, independent validators, exactly the consented credit.
    let out_dir = work.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let export = |format: &str| -> String {
        let path = out_dir.join(format!("adv.{format}"));
        cli_ok(
            &setup,
            &[
                "advisory",
                "export",
                &adv,
                "--format",
                format,
                "--output",
                path.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(&path).unwrap()
    };
    let check_exports = |stage: &str| {
        let csaf: serde_json::Value = serde_json::from_str(&export("csaf")).unwrap();
        let cve: serde_json::Value = serde_json::from_str(&export("cve")).unwrap();
        let errors = schema_errors("csaf-2.0/csaf_json_schema.json", &csaf);
        assert!(errors.is_empty(), "{stage} CSAF: {errors:#?}");
        let errors = schema_errors("cve-5.1.1/CVE_JSON_bundled_5.1.1.json", &cve);
        assert!(errors.is_empty(), "{stage} CVE: {errors:#?}");
        assert_eq!(
            csaf["vulnerabilities"][0]["acknowledgments"],
            serde_json::json!([{ "names": ["Alice Example"], "summary": "for reporting this vulnerability" }])
        );
        assert_eq!(
            cve["containers"]["cna"]["credits"],
            serde_json::json!([{ "lang": "en", "value": "Alice Example", "type": "finder" }])
        );
        let v = validators();
        let node = Command::new("node")
            .arg(v.join("npm/csaf-validate.mjs"))
            .arg(out_dir.join("adv.csaf"))
            .output()
            .expect("node");
        println!(
            "{stage}: csaf-validator-lib: {}",
            String::from_utf8_lossy(&node.stdout).trim()
        );
        assert!(
            node.status.success(),
            "{stage}: csaf-validator-lib: {}{}",
            String::from_utf8_lossy(&node.stdout),
            String::from_utf8_lossy(&node.stderr)
        );
        let py = Command::new(v.join("py/bin/python"))
            .arg(v.join("py/cve-validate.py"))
            .arg(out_dir.join("adv.cve"))
            .output()
            .expect("python");
        println!(
            "{stage}: cvelib: {}",
            String::from_utf8_lossy(&py.stdout).trim()
        );
        assert!(
            py.status.success(),
            "{stage}: cvelib: {}",
            String::from_utf8_lossy(&py.stderr)
        );
        for format in ["csaf", "cve", "osv", "markdown"] {
            let text = export(format);
            for absent in ["Bob Declined", bob.as_str(), "bob-advisory"] {
                assert!(
                    !text.contains(absent),
                    "{stage}: the declined reporter appears in the {format} export"
                );
            }
            assert!(text.contains("Alice Example"), "{stage}: {format}");
            assert!(
                !text.contains(&u.researcher),
                "{stage}: no reporter address in the {format} export"
            );
        }
    };
    check_exports("draft");
    // The independent validators can fail: a CSAF advisory without its product tree, a CVE without affected.
    let v = validators();
    let mut broken: serde_json::Value = serde_json::from_str(&export("csaf")).unwrap();
    broken.as_object_mut().unwrap().remove("product_tree");
    std::fs::write(out_dir.join("broken.csaf"), broken.to_string()).unwrap();
    let node = Command::new("node")
        .arg(v.join("npm/csaf-validate.mjs"))
        .arg(out_dir.join("broken.csaf"))
        .output()
        .expect("node");
    assert!(
        !node.status.success(),
        "csaf-validator-lib accepted a broken document"
    );
    let mut broken: serde_json::Value = serde_json::from_str(&export("cve")).unwrap();
    broken["containers"]["cna"]
        .as_object_mut()
        .unwrap()
        .remove("affected");
    std::fs::write(out_dir.join("broken.cve"), broken.to_string()).unwrap();
    let py = Command::new(v.join("py/bin/python"))
        .arg(v.join("py/cve-validate.py"))
        .arg(out_dir.join("broken.cve"))
        .output()
        .expect("python");
    assert!(!py.status.success(), "cvelib accepted a broken record");

    // Review → publish: revision 1, one notice to alice, encrypted to her key.
    let out = cli(&setup, &["advisory", "publish", &adv]);
    assert_eq!(out.status.code(), Some(2), "a draft is not published");
    cli_ok(&setup, &["advisory", "set", &adv, "--status", "review"]);
    let published = cli_ok(&setup, &["advisory", "publish", &adv]);
    assert!(
        published.contains("revision 1; 1 publish notice"),
        "{published}"
    );
    cli_ok(&setup, &["run", "--once"]);
    check_exports("published");
    let is_notice = |m: &ImapMessage| {
        m.header("Subject")
            .is_some_and(|s| s.contains("advisory") && s.contains("published"))
    };
    let notices = wait_for("the publish notice", DELIVERY, || {
        let n: Vec<ImapMessage> = imap_messages(&u.researcher, &u.password, "INBOX")
            .into_iter()
            .filter(is_notice)
            .collect();
        (!n.is_empty()).then_some(n)
    });
    let notice = &notices[0];
    assert!(
        notice
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted"),
        "sealed to the pinned key"
    );
    let text = notice.text();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + 25;
    std::fs::write(work.path().join("notice.asc"), &text[start..end]).unwrap();
    std::fs::write(work.path().join("team.pub.asc"), &team_public).unwrap();
    gpg(
        &alice_home,
        &[
            "--import",
            work.path().join("team.pub.asc").to_str().unwrap(),
        ],
    );
    let decrypted = gpg(
        &alice_home,
        &[
            "--status-fd",
            "2",
            "--trust-model",
            "always",
            "--decrypt",
            work.path().join("notice.asc").to_str().unwrap(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&decrypted.stderr).contains("[GNUPG:] GOODSIG"),
        "signed by the team"
    );
    let plain = String::from_utf8(decrypted.stdout).unwrap();
    assert!(plain.contains(&adv) && plain.contains(&ta), "{plain}");
    assert!(
        plain.contains("https://hexon.test/.well-known/csaf/2026/")
            || plain.contains("https://hexon.test/.well-known/csaf/20"),
        "{plain}"
    );
    assert!(
        !plain.contains("etc/passwd"),
        "no report content in the notice"
    );

    // A second revision mails nobody again; the declined reporter never got one.
    let again = cli_ok(
        &setup,
        &[
            "advisory",
            "publish",
            &adv,
            "--summary",
            "Clarified the remediation",
        ],
    );
    assert!(again.contains("revision 2; 0 publish notice"), "{again}");
    cli_ok(&setup, &["run", "--once"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        imap_messages(&u.researcher, &u.password, "INBOX")
            .iter()
            .filter(|m| is_notice(m))
            .count(),
        1,
        "exactly one notice"
    );
    assert_eq!(
        imap_messages(&bob, &u.password, "INBOX")
            .iter()
            .filter(|m| is_notice(m))
            .count(),
        0
    );
    let shown: serde_json::Value =
        serde_json::from_str(&cli_ok(&setup, &["advisory", "show", &adv, "--json"])).unwrap();
    assert_eq!(shown["revisions"].as_array().unwrap().len(), 2);

    // The /.well-known/csaf/ tree and the security.txt CSAF field.
    let tree = work.path().join("well-known-csaf");
    let out = cli(
        &setup,
        &[
            "advisory",
            "export",
            &adv,
            "--format",
            "csaf",
            "--well-known",
            tree.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(tree.join("index.txt")).unwrap();
    let rel = index.lines().next().unwrap();
    assert!(
        tree.join(rel).is_file() && tree.join(format!("{rel}.sha256")).is_file(),
        "{index}"
    );
    assert!(std::fs::read_to_string(tree.join("changes.csv"))
        .unwrap()
        .contains(rel));
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tree.join("provider-metadata.json")).unwrap(),
    )
    .unwrap();
    assert!(schema_errors("csaf-2.0/provider_json_schema.json", &meta).is_empty());
    let txt = cli_ok(&setup, &["security-txt"]);
    assert!(
        txt.contains("CSAF: https://hexon.test/.well-known/csaf/provider-metadata.json"),
        "{txt}"
    );
    // The audit chain holds every advisory event.
    assert!(cli_ok(&setup, &["audit", "verify"]).contains("intact"));
}

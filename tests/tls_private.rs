//! TLS with private servers and `check-config --connect`, against the real
//! Dovecot + Postfix: a Dovecot listener serving a self-signed CA:TRUE
//! certificate made by `openssl req -x509` (SELFSIGNED_HOST, see
//! scripts/mailstack.sh) works with that certificate as `imap.ca_file` and
//! with a pin (both documented forms, computed with the documented openssl
//! commands), a wrong pin or an unlisted self-signed certificate is refused
//! in words, SMTP STARTTLS works with a pin, and `check-config --connect`
//! passes on the stack and names the failing step and key for a wrong
//! password, a wrong port and an untrusted certificate. The daemon logs a
//! failing connect once, then backs off quietly.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn body() -> &'static str {
    "The Hexon Gateway admin API leaks session tokens.\n\nSteps to reproduce: curl https://gateway.hexon.io/api/v1/session\n\nImpact: account takeover.\n"
}

/// Run a shell pipeline (the openssl commands of the README) and return its stdout.
fn sh(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `sha256/BASE64` of the certificate's public key.
fn spki_pin(cert: &str) -> String {
    let b64 = sh(&format!(
        "openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | openssl enc -base64"
    ));
    format!("sha256/{b64}")
}

/// The certificate's SHA-256 fingerprint, as openssl prints it (hex with colons).
fn cert_pin(cert: &str) -> String {
    let line = sh(&format!(
        "openssl x509 -in {cert} -noout -fingerprint -sha256"
    ));
    line.split_once('=').unwrap().1.to_string()
}

/// A config whose IMAP side talks to the self-signed listener; `imap_trust`
/// replaces the IMAP `ca_file` line.
fn selfsigned_setup(test: &str, imap_trust: &str) -> Setup {
    let stack = stack();
    setup_with(
        test,
        &[
            (
                "[imap]\nhost = \"127.0.0.1\"",
                &format!("[imap]\nhost = \"{}\"", stack.get("SELFSIGNED_HOST")),
            ),
            (
                &format!(
                    "tls = \"implicit\"\nca_file = \"{}\"",
                    stack.ca_file().display()
                ),
                &format!("tls = \"implicit\"\n{imap_trust}"),
            ),
        ],
        "",
    )
}

fn append_report(setup: &Setup, id: &str) {
    let u = &setup.users;
    imap_append(
        &u.security,
        &u.password,
        "INBOX",
        &report_mail(&u.researcher, &u.security, "token leak", body(), id, ""),
    );
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_self_signed_ca_certificate_works_as_ca_file_and_pinned() {
    let stack = stack();
    let cert = stack.get("SELFSIGNED_CERT");
    let trusts = [
        format!("ca_file = \"{cert}\""),
        format!("tls_pin = \"{}\"", spki_pin(cert)),
        format!("tls_pin = \"{}\"", cert_pin(cert)),
    ];
    for (n, trust) in trusts.iter().enumerate() {
        let setup = selfsigned_setup(&format!("selfsigned{n}"), trust);
        append_report(&setup, &format!("selfsigned-{n}@researcher.test"));
        let out = cli(&setup, &["run", "--once"]);
        assert!(out.status.success(), "{trust}: {}", stderr(&out));
        assert_eq!(report_count(&setup), 1, "{trust}");
    }
}

#[test]
fn a_wrong_pin_or_an_unlisted_self_signed_certificate_is_refused_in_words() {
    let stack = stack();
    let actual = spki_pin(stack.get("SELFSIGNED_CERT"));
    let host = stack.get("SELFSIGNED_HOST");
    let wrong = spki_pin(stack.get("SERVER_CERT"));
    let setup = selfsigned_setup("wrongpin", &format!("tls_pin = \"{wrong}\""));
    let out = cli(&setup, &["run", "--once"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "certificate for {host} does not match imap.tls_pin (got {actual})"
        )),
        "{err}"
    );

    // The stack's CA does not vouch for it, and it is not in the CA file itself.
    let ca = format!("ca_file = \"{}\"", stack.ca_file().display());
    let setup = selfsigned_setup("unlisted", &ca);
    let out = cli(&setup, &["run", "--once"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "certificate for {host} is self-signed and marked as a CA; pin it with \
             imap.tls_pin = \"{actual}\" or put exactly this certificate in imap.ca_file"
        )),
        "{err}"
    );
}

#[test]
fn smtp_starttls_works_with_a_pin_and_refuses_a_wrong_one() {
    let stack = stack();
    let ca = format!("ca_file = \"{}\"", stack.ca_file().display());
    let smtp_with = |pin: &str| {
        (
            format!("tls = \"starttls\"\n{ca}"),
            format!("tls = \"starttls\"\ntls_pin = \"{pin}\""),
        )
    };
    let (from, to) = smtp_with(&spki_pin(stack.get("SERVER_CERT")));
    let setup = setup_with("smtppin", &[(&from, &to)], "");
    append_report(&setup, "smtppin-1@researcher.test");
    let out = cli(&setup, &["run", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let acks = wait_messages(
        &setup.users.researcher,
        &setup.users.password,
        "INBOX",
        1,
        Duration::from_secs(30),
    );
    assert_eq!(acks.len(), 1);

    let (from, to) = smtp_with(&spki_pin(stack.get("WRONG_CERT")));
    let setup = setup_with("smtpwrongpin", &[(&from, &to)], "");
    let out = cli(&setup, &["check-config", "--connect"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("SMTP TLS"))
        .unwrap_or_default();
    assert!(
        line.contains("FAILED")
            && line.contains("does not match smtp.tls_pin")
            && line.contains("smtp.tls_pin"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("IMAP LOGIN") && l.ends_with("OK")),
        "{text}"
    );
}

#[test]
fn check_config_connect_passes_on_the_stack() {
    let setup = setup("connectok");
    let out = cli(&setup, &["check-config", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for step in [
        "IMAP connect",
        "IMAP TLS",
        "IMAP LOGIN",
        "IMAP SELECT INBOX",
        "IMAP IDLE offered",
        "IMAP keyword $Triaged storable",
        "SMTP connect",
        "SMTP TLS",
        "SMTP EHLO",
        "SMTP AUTH",
        "SMTP MAIL FROM",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(step) && l.ends_with(" OK")),
            "{step}: {text}"
        );
    }
    // Nothing was sent: the researcher's and the team's mailboxes stay empty.
    std::thread::sleep(Duration::from_secs(1));
    assert!(imap_messages(&setup.users.security, &setup.users.password, "INBOX").is_empty());

    let out = cli(&setup, &["check-config", "--connect", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["connected"], true, "{json}");
    assert!(json["connect"].as_array().unwrap().len() >= 10, "{json}");
}

/// The line of `check-config --connect` output for `step`, which must have failed.
fn failed_step(setup: &Setup, step: &str) -> String {
    let out = cli(setup, &["check-config", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    let line = text
        .lines()
        .find(|l| l.contains("FAILED"))
        .unwrap_or_else(|| panic!("no failed step: {text}"));
    assert!(line.trim_start().starts_with(step), "{step}: {text}");
    line.to_string()
}

#[test]
fn check_config_connect_names_the_failing_step_and_key() {
    let stack = stack();
    // Wrong IMAP password (SMTP keeps the right one).
    let setup = setup_with(
        "connectpw",
        &[(
            "password_file = \"password\"\nmailbox",
            "password_file = \"wrong\"\nmailbox",
        )],
        "",
    );
    std::fs::write(setup.dir.path().join("wrong"), "not-the-password").unwrap();
    let line = failed_step(&setup, "IMAP LOGIN");
    assert!(line.contains("imap.password_file"), "{line}");
    assert!(!line.contains("not-the-password"), "{line}");

    // Wrong IMAP port: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let setup = setup_with(
        "connectport",
        &[(
            &format!("port = {}\ntls", stack.port("IMAPS_PORT")),
            &format!("port = {port}\ntls"),
        )],
        "",
    );
    let line = failed_step(&setup, "IMAP connect");
    assert!(line.contains("imap.port"), "{line}");

    // Untrusted certificate: the IMAP CA file holds an unrelated certificate.
    let other = format!(
        "{}/tests/fixtures/tls/other.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let setup = setup_with(
        "connectca",
        &[(
            &format!(
                "tls = \"implicit\"\nca_file = \"{}\"",
                stack.ca_file().display()
            ),
            &format!("tls = \"implicit\"\nca_file = \"{other}\""),
        )],
        "",
    );
    let line = failed_step(&setup, "IMAP TLS");
    assert!(
        line.contains("not issued by a CA in imap.ca_file")
            && line.contains("imap.ca_file / imap.tls_pin"),
        "{line}"
    );
}

#[test]
fn a_failing_connect_is_logged_once_then_quietly() {
    let stack = stack();
    let wrong = spki_pin(stack.get("SERVER_CERT"));
    let setup = selfsigned_setup("quietretry", &format!("tls_pin = \"{wrong}\""));
    let daemon = Daemon::start(&setup);
    wait_for("three failed connects", Duration::from_secs(30), || {
        (daemon
            .log_text()
            .matches("does not match imap.tls_pin")
            .count()
            >= 3)
            .then_some(())
    });
    let log = daemon.log_text();
    let loud: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("does not match imap.tls_pin") && (l.contains("ERROR") || l.contains("WARN"))
        })
        .collect();
    assert_eq!(loud.len(), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("IMAP still failing")),
        "{log}"
    );
    assert_eq!(daemon.stop(), Some(0));
}

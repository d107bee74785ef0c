//! Interop tests of `hexon_triage::open` against real GnuPG.
//!
//! Runs `scripts/gpg-fixtures.sh` once per test binary (keys and .eml cases
//! made by gpg), opens every case and asserts the specific result, then
//! checks the other direction: gpg must decrypt and verify what
//! `seal_pgp_mime` / `sign_pgp_mime` produce.
//!
//! Must not: skip when gpg is missing (that is a loud failure), touch the
//! user's ~/.gnupg, or leave plaintext canaries in any error text unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hexon_triage::open::{
    open, parse_cert, seal_pgp_mime, sign_pgp_mime, KeySource, OpenError, OpenLimits, Opened,
    SignatureStatus, TeamKeys,
};
use sequoia_openpgp::Cert;

fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let gpg = Command::new("gpg").arg("--version").output();
        assert!(
            gpg.as_ref().map(|o| o.status.success()).unwrap_or(false),
            "gpg is required for the OpenPGP interop tests (apt-get install gnupg): {gpg:?}"
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openpgp-gpg-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gpg-fixtures.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("cannot run bash");
        assert!(
            out.status.success(),
            "gpg-fixtures.sh failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn read(name: &str) -> Vec<u8> {
    let p = fixtures().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn read_line(name: &str) -> String {
    String::from_utf8(read(name))
        .unwrap()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn team_keys() -> TeamKeys {
    TeamKeys::load(
        &[
            fixtures().join("team-cv25519.sec.asc"),
            fixtures().join("team-rsa.sec.asc"),
        ],
        None,
    )
    .expect("team keys load")
}

fn cert(name: &str) -> Cert {
    parse_cert(&read(&format!("{name}.pub.asc"))).unwrap()
}

fn alice() -> Cert {
    cert("researcher-cv25519")
}

fn alice_fpr() -> String {
    read_line("researcher-cv25519.fpr")
}

fn canary(case: &str) -> String {
    format!("CANARY-{case}-7f3a")
}

fn open_case(case: &str, senders: &[Cert]) -> Result<Opened, OpenError> {
    open(
        &read(&format!("{case}.eml")),
        &team_keys(),
        senders,
        &OpenLimits::default(),
    )
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn assert_no_canary_in_error(case: &str, err: &OpenError) {
    let c = canary(case);
    for text in [err.to_string(), format!("{err:?}"), err.reason()] {
        assert!(!text.contains(&c), "plaintext leaked into error: {text}");
        assert!(
            !text.contains("stored XSS"),
            "plaintext leaked into error: {text}"
        );
    }
}

#[test]
fn team_keys_from_gpg_describe_matches_gpg() {
    let keys = team_keys();
    assert_eq!(
        keys.primary_fingerprint(),
        Some(read_line("team-cv25519.fpr"))
    );
    let info = keys.describe(chrono::Utc::now());
    assert_eq!(info.len(), 2);
    assert_eq!(info[0].fingerprint, read_line("team-cv25519.fpr"));
    assert_eq!(
        info[0].encryption_subkeys,
        vec![read_line("team-cv25519.enc-subkeys")]
    );
    assert_eq!(
        info[0].user_ids,
        vec!["Hexon Security <security@hexon.test>".to_string()]
    );
    assert_eq!(info[1].fingerprint, read_line("team-rsa.fpr"));
    assert_eq!(
        info[1].encryption_subkeys,
        vec![read_line("team-rsa.enc-subkeys")]
    );
    assert!(info
        .iter()
        .all(|i| i.has_secret && i.signing_capable && i.expires.is_none()));
}

#[test]
fn pgpmime_encrypted_to_cv25519_yields_inner_entity() {
    let o = open_case("pgpmime-encrypted", &[]).unwrap();
    assert!(o.encrypted);
    assert!(o.entity.starts_with(b"Content-Type: text/plain"));
    assert!(contains(&o.entity, &canary("pgpmime-encrypted")));
    assert_eq!(o.signature, SignatureStatus::None);
    assert_eq!(
        o.decrypted_with,
        Some(read_line("team-cv25519.enc-subkeys"))
    );
    assert!(o.inline_text.is_none());
    assert!(o.decrypted_attachments.is_empty());
}

#[test]
fn pgpmime_encrypted_to_rsa_uses_rsa_subkey() {
    let o = open_case("pgpmime-encrypted-rsa", &[]).unwrap();
    assert!(o.encrypted);
    assert!(contains(&o.entity, &canary("pgpmime-encrypted-rsa")));
    assert_eq!(o.decrypted_with, Some(read_line("team-rsa.enc-subkeys")));
}

#[test]
fn signed_encrypted_is_good_with_pinned_key_and_unknown_without() {
    let o = open_case("signed-encrypted", &[alice()]).unwrap();
    assert!(contains(&o.entity, &canary("signed-encrypted")));
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: alice_fpr()
        }
    );
    let o = open_case("signed-encrypted", &[]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::UnknownKey {
            issuer: alice_fpr()
        }
    );
    assert_eq!(o.signature.as_str(), "unknown_key");
}

#[test]
fn signed_encrypted_rsa_by_bob_is_good() {
    let bob = cert("researcher-rsa");
    let o = open_case("signed-encrypted-bob-rsa", &[bob]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: read_line("researcher-rsa.fpr")
        }
    );
    assert_eq!(o.decrypted_with, Some(read_line("team-rsa.enc-subkeys")));
    // A different sender key does not verify it.
    let o = open_case("signed-encrypted-bob-rsa", &[alice()]).unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::UnknownKey { .. }),
        "{:?}",
        o.signature
    );
}

#[test]
fn inline_encrypted_whole_body_is_replaced_by_plaintext() {
    let raw = read("inline-encrypted.eml");
    let o = open_case("inline-encrypted", &[]).unwrap();
    assert!(o.encrypted);
    assert_eq!(o.entity, raw, "inline PGP leaves the entity unchanged");
    let text = o.inline_text.as_deref().unwrap();
    assert!(text.contains(&canary("inline-encrypted")));
    assert!(!text.contains("BEGIN PGP"));
    assert_eq!(
        o.decrypted_with,
        Some(read_line("team-cv25519.enc-subkeys"))
    );
}

#[test]
fn inline_block_in_text_keeps_surrounding_text() {
    let o = open_case("inline-block-in-text", &[]).unwrap();
    let text = o.inline_text.as_deref().unwrap();
    let hello = text.find("Hello security team").unwrap();
    let c = text.find(&canary("inline-block-in-text")).unwrap();
    let bye = text.find("Thanks, and best regards").unwrap();
    assert!(hello < c && c < bye, "{}", text.len());
    assert!(!text.contains("-----BEGIN PGP"));
    assert!(o.encrypted);
}

#[test]
fn clearsigned_by_alice_is_good_and_dash_unescaped() {
    let o = open_case("clearsigned", &[alice()]).unwrap();
    assert!(!o.encrypted);
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: alice_fpr()
        }
    );
    let text = o.inline_text.as_deref().unwrap();
    assert!(text.contains(&canary("clearsigned")));
    // Dash-escaping removed; trailing whitespace is not part of the signed
    // text in the cleartext framework (sequoia returns it stripped).
    assert!(
        text.contains("\n--\nAlice (signature separator"),
        "{text:?}"
    );
    assert!(text.contains("trailing spaces here\n"), "{text:?}");
    assert!(!text.contains("- -- "), "dash-escaping must be removed");
    assert!(!text.contains("BEGIN PGP"));
    let o = open_case("clearsigned", &[]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::UnknownKey {
            issuer: alice_fpr()
        }
    );
}

#[test]
fn bad_signature_is_reported_bad_with_signer() {
    let o = open_case("bad-signature", &[alice()]).unwrap();
    match &o.signature {
        SignatureStatus::Bad {
            fingerprint,
            reason,
        } => {
            assert_eq!(fingerprint.as_deref(), Some(alice_fpr().as_str()));
            assert!(!reason.is_empty());
        }
        other => panic!("expected bad signature, got {other:?}"),
    }
    assert!(o.inline_text.unwrap().contains("full compromise"));
}

#[test]
fn pgpmime_signed_verifies_over_canonical_bytes() {
    let o = open_case("pgpmime-signed", &[alice()]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: alice_fpr()
        }
    );
    assert!(!o.encrypted);
    assert_eq!(o.entity, read("pgpmime-signed.eml"));

    // The same mail with CRLF line endings (as IMAP delivers it).
    let raw = read("pgpmime-signed.eml");
    let crlf = String::from_utf8(raw.clone())
        .unwrap()
        .replace('\n', "\r\n");
    let o = open(
        crlf.as_bytes(),
        &team_keys(),
        &[alice()],
        &OpenLimits::default(),
    )
    .unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: alice_fpr()
        }
    );

    // Trailing whitespace is signed: stripping it must break the signature.
    let stripped = String::from_utf8(raw.clone()).unwrap().replace(
        "Line with trailing spaces   \n",
        "Line with trailing spaces\n",
    );
    let o = open(
        stripped.as_bytes(),
        &team_keys(),
        &[alice()],
        &OpenLimits::default(),
    )
    .unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Bad { .. }),
        "{:?}",
        o.signature
    );

    // Changed content in the nested attachment: bad.
    let altered = String::from_utf8(raw).unwrap().replace("1=1", "2=2");
    let o = open(
        altered.as_bytes(),
        &team_keys(),
        &[alice()],
        &OpenLimits::default(),
    )
    .unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Bad { .. }),
        "{:?}",
        o.signature
    );
}

#[test]
fn encrypted_attachment_is_decrypted_under_its_name() {
    let o = open_case("encrypted-attachment", &[]).unwrap();
    assert!(o.encrypted);
    assert_eq!(o.decrypted_attachments.len(), 1);
    let (name, data) = &o.decrypted_attachments[0];
    assert_eq!(name, "report.txt");
    assert!(contains(data, &canary("encrypted-attachment")));
    assert!(o.inline_text.is_none());
    assert_eq!(o.entity, read("encrypted-attachment.eml"));
}

#[test]
fn attached_pubkey_is_discovered_with_gpg_fingerprint() {
    let o = open_case("attached-pubkey", &[]).unwrap();
    assert!(!o.encrypted);
    assert_eq!(o.signature, SignatureStatus::None);
    assert_eq!(o.discovered_keys.len(), 1);
    let k = &o.discovered_keys[0];
    assert_eq!(k.source, KeySource::Attachment);
    assert_eq!(k.fingerprint, alice_fpr());
    assert_eq!(k.addresses, vec!["alice@researcher.test".to_string()]);
    assert!(k.armored.contains("BEGIN PGP PUBLIC KEY BLOCK"));
    assert_eq!(
        parse_cert(k.armored.as_bytes())
            .unwrap()
            .fingerprint()
            .to_hex(),
        alice_fpr()
    );
}

#[test]
fn autocrypt_key_is_discovered_and_verifies_the_body() {
    let o = open_case("autocrypt", &[]).unwrap();
    assert_eq!(o.discovered_keys.len(), 1);
    let k = &o.discovered_keys[0];
    assert_eq!(k.source, KeySource::Autocrypt);
    assert_eq!(k.fingerprint, alice_fpr());
    assert_eq!(k.addresses, vec!["alice@researcher.test".to_string()]);
    // Verified with the key the mail brought along; the status names it.
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: alice_fpr()
        }
    );
    assert!(o.inline_text.unwrap().contains(&canary("autocrypt")));
}

#[test]
fn protected_subject_is_taken_from_the_inner_entity() {
    let o = open_case("protected-subject", &[]).unwrap();
    assert_eq!(
        o.protected_subject.as_deref(),
        Some("CANARY-protected-subject-7f3a real subject")
    );
    assert!(contains(&o.entity, "protected-headers=\"v1\""));
    assert!(contains(&o.entity, "CANARY-protected-subject-7f3a"));
}

#[test]
fn hidden_recipient_is_decrypted_by_trying_team_keys() {
    let o = open_case("hidden-recipient", &[]).unwrap();
    assert!(contains(&o.entity, &canary("hidden-recipient")));
    assert_eq!(
        o.decrypted_with,
        Some(read_line("team-cv25519.enc-subkeys"))
    );
}

#[test]
fn wrong_recipient_fails_with_no_decryption_key() {
    let err = open_case("wrong-recipient", &[]).unwrap_err();
    match &err {
        OpenError::NoDecryptionKey { recipients } => {
            assert_eq!(recipients, &vec![read_line("other.enc-keyids")]);
        }
        other => panic!("expected NoDecryptionKey, got {other:?}"),
    }
    assert!(err
        .reason()
        .starts_with("openpgp/no_decryption_key: cannot decrypt"));
    assert_no_canary_in_error("wrong-recipient", &err);
}

#[test]
fn corrupt_ciphertext_fails_integrity_check_without_leaking() {
    let err = open_case("corrupt-ciphertext", &[]).unwrap_err();
    assert!(matches!(err, OpenError::IntegrityCheckFailed), "{err:?}");
    assert_no_canary_in_error("corrupt-ciphertext", &err);
}

#[test]
fn compression_bomb_is_stopped_early_by_the_limit() {
    let started = Instant::now();
    let err = open_case("compression-bomb", &[]).unwrap_err();
    assert!(
        matches!(err, OpenError::TooLarge { limit } if limit == 32 * 1024 * 1024),
        "{err:?}"
    );
    assert_no_canary_in_error("compression-bomb", &err);
    // 200 MB would take far longer; the cap stops at 32 MiB.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let small = OpenLimits {
        max_decrypted_bytes: 1024 * 1024,
        ..OpenLimits::default()
    };
    let err = open(&read("compression-bomb.eml"), &team_keys(), &[], &small).unwrap_err();
    assert!(
        matches!(err, OpenError::TooLarge { limit } if limit == 1024 * 1024),
        "{err:?}"
    );
}

#[test]
fn every_manifest_case_has_a_test() {
    let manifest = String::from_utf8(read("manifest.txt")).unwrap();
    let cases: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    let tested = [
        "pgpmime-encrypted",
        "pgpmime-encrypted-rsa",
        "signed-encrypted",
        "signed-encrypted-bob-rsa",
        "inline-encrypted",
        "inline-block-in-text",
        "clearsigned",
        "bad-signature",
        "pgpmime-signed",
        "encrypted-attachment",
        "attached-pubkey",
        "autocrypt",
        "protected-subject",
        "hidden-recipient",
        "wrong-recipient",
        "corrupt-ciphertext",
        "compression-bomb",
    ];
    for case in &cases {
        assert!(tested.contains(case), "manifest case {case} has no test");
    }
    assert_eq!(cases.len(), tested.len());
}

// ---- the other direction: gpg reads what we produce ----

/// gpg as alice; returns (stdout, status-fd output, success).
fn gpg_alice(args: &[&str]) -> (Vec<u8>, String, bool) {
    let home = fixtures().join("gnupg-alice");
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(["--status-fd", "2"])
        .args(args)
        .output()
        .expect("cannot run gpg");
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn inner_entity() -> Vec<u8> {
    b"Content-Type: text/plain; charset=utf-8\r\n\
      Content-Transfer-Encoding: quoted-printable\r\n\
      Subject: Re: your report\r\n\
      \r\n\
      Thanks, we reproduced CANARY-seal-interop-7f3a.  \r\n\
      -- \r\n\
      Hexon Security\r\n"
        .to_vec()
}

/// Split a multipart body into its parts' raw bytes (between delimiters).
fn split_parts(body: &[u8], boundary: &str) -> Vec<Vec<u8>> {
    let delim = format!("\r\n--{boundary}");
    let text = [b"\r\n".as_slice(), body].concat();
    let mut parts = Vec::new();
    let mut rest: &[u8] = &text;
    let find = |h: &[u8], n: &[u8]| h.windows(n.len()).position(|w| w == n);
    let Some(first) = find(rest, delim.as_bytes()) else {
        return parts;
    };
    rest = &rest[first + delim.len()..];
    while !rest.starts_with(b"--") {
        let line_end = find(rest, b"\r\n").unwrap() + 2;
        rest = &rest[line_end..];
        let end = find(rest, delim.as_bytes()).unwrap();
        parts.push(rest[..end].to_vec());
        rest = &rest[end + delim.len()..];
    }
    parts
}

fn boundary_of(content_type: &str) -> String {
    content_type
        .split("boundary=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string()
}

#[test]
fn gpg_decrypts_and_verifies_seal_pgp_mime_and_sign_pgp_mime() {
    let keys = team_keys();
    let team_fpr = read_line("team-cv25519.fpr");
    let work = tempfile::tempdir().unwrap();

    // seal_pgp_mime to alice's gpg-made key; gpg must decrypt and verify.
    let sealed = seal_pgp_mime(&inner_entity(), &[alice()], &keys).unwrap();
    assert!(sealed
        .content_type
        .starts_with("multipart/encrypted; protocol=\"application/pgp-encrypted\""));
    let parts = split_parts(&sealed.body, &boundary_of(&sealed.content_type));
    assert_eq!(parts.len(), 2);
    assert!(contains(&parts[0], "Version: 1"));
    let armored_start = parts[1].windows(5).position(|w| w == b"-----").unwrap();
    let armored = &parts[1][armored_start..];
    let path = work.path().join("encrypted.asc");
    std::fs::write(&path, armored).unwrap();
    let (plain, status, ok) = gpg_alice(&["--decrypt", path.to_str().unwrap()]);
    assert!(ok, "gpg --decrypt failed: {status}");
    assert_eq!(plain, inner_entity());
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&team_fpr)),
        "{status}"
    );
    assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"), "{status}");
    assert!(!status.contains("BADSIG"), "{status}");

    // sign_pgp_mime: reconstruct the mail on disk, split it like a mail
    // client would, and let gpg verify the detached signature.
    let signed = sign_pgp_mime(&inner_entity(), &keys).unwrap();
    assert!(
        signed.content_type.contains("micalg=pgp-sha256"),
        "{}",
        signed.content_type
    );
    let mut eml = format!(
        "From: security@hexon.test\r\nTo: alice@researcher.test\r\nSubject: Re: your report\r\n\
         Message-ID: <sign-interop@hexon.test>\r\nMIME-Version: 1.0\r\nContent-Type: {}\r\n\r\n",
        signed.content_type
    )
    .into_bytes();
    eml.extend_from_slice(&signed.body);
    let eml_path = work.path().join("signed.eml");
    std::fs::write(&eml_path, &eml).unwrap();
    let on_disk = std::fs::read(&eml_path).unwrap();
    let body_start = on_disk.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let parts = split_parts(&on_disk[body_start..], &boundary_of(&signed.content_type));
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], inner_entity(), "signed part is the exact entity");
    let sig_start = parts[1].windows(5).position(|w| w == b"-----").unwrap();
    let part_path = work.path().join("part.txt");
    let sig_path = work.path().join("sig.asc");
    std::fs::write(&part_path, &parts[0]).unwrap();
    std::fs::write(&sig_path, &parts[1][sig_start..]).unwrap();
    let (_, status, ok) = gpg_alice(&[
        "--verify",
        sig_path.to_str().unwrap(),
        part_path.to_str().unwrap(),
    ]);
    assert!(ok, "gpg --verify failed: {status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&team_fpr)),
        "{status}"
    );

    // And our own reader agrees.
    let team_pub = keys.public_certs();
    let o = open(&on_disk, &keys, &team_pub, &OpenLimits::default()).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: team_fpr
        }
    );

    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(fixtures().join("gnupg-alice"))
        .args(["--kill", "gpg-agent"])
        .status();
}

//! Unit tests of the OpenPGP core (`open`, `seal`, team keys): generated
//! keys, hostile and malformed input, the no-plaintext-leak rules.
//!
//! I/O: none (keys are generated in memory). Must not touch the network or
//! real key files.
use super::*;
use openpgp::armor;
use openpgp::cert::prelude::*;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{
    Compressor, Encryptor, LiteralWriter, Message as Sink, Recipient, Signer,
};
use openpgp::serialize::{Serialize, SerializeInto};
use openpgp::types::Features;
use std::io::Write;

const CANARY: &str = "CANARY-unit-7f3a";

fn gen(uid: &str) -> Cert {
    CertBuilder::general_purpose(Some(uid))
        .generate()
        .unwrap()
        .0
}

/// A v4 cert that only advertises SEIPDv1 (like GnuPG 2.2 keys).
fn gen_v1_only(uid: &str) -> Cert {
    CertBuilder::general_purpose(Some(uid))
        .set_features(Features::empty().set_seipdv1())
        .unwrap()
        .generate()
        .unwrap()
        .0
}

fn keys_of(certs: &[&Cert]) -> TeamKeys {
    TeamKeys::from_certs(certs.iter().map(|c| (*c).clone()).collect(), None).unwrap()
}

fn public(c: &Cert) -> Cert {
    c.clone().strip_secret_key_material()
}

fn enc_subkey(c: &Cert) -> String {
    let p = StandardPolicy::new();
    let ka = c
        .keys()
        .with_policy(&p, None)
        .for_transport_encryption()
        .next()
        .unwrap();
    fpr_hex(&ka.key().fingerprint())
}

#[derive(Default, Clone, Copy)]
struct Enc<'a> {
    signer: Option<&'a Cert>,
    hidden: bool,
    compress: bool,
    binary: bool,
}

/// Encrypt with sequoia (armored unless `binary`).
fn encrypt(recipients: &[&Cert], plaintext: &[u8], opt: Enc<'_>) -> Vec<u8> {
    let p = StandardPolicy::new();
    let mut out = Vec::new();
    {
        let mut rcpts: Vec<Recipient> = Vec::new();
        for c in recipients {
            for ka in c.keys().with_policy(&p, None).for_transport_encryption() {
                let r: Recipient = ka.into();
                rcpts.push(if opt.hidden {
                    r.set_key_handle(None).unwrap()
                } else {
                    r
                });
            }
        }
        let mut m = Sink::new(&mut out);
        if !opt.binary {
            m = openpgp::serialize::stream::Armorer::new(m)
                .kind(armor::Kind::Message)
                .build()
                .unwrap();
        }
        m = Encryptor::for_recipients(m, rcpts).build().unwrap();
        if opt.compress {
            m = Compressor::new(m).build().unwrap();
        }
        if let Some(s) = opt.signer {
            let kp = s
                .keys()
                .with_policy(&p, None)
                .for_signing()
                .secret()
                .next()
                .unwrap()
                .key()
                .clone()
                .into_keypair()
                .unwrap();
            m = Signer::new(m, kp).unwrap().build().unwrap();
        }
        let mut w = LiteralWriter::new(m).build().unwrap();
        w.write_all(plaintext).unwrap();
        w.finalize().unwrap();
    }
    out
}

fn armor_message(binary: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = armor::Writer::new(&mut out, armor::Kind::Message).unwrap();
    w.write_all(binary).unwrap();
    w.finalize().unwrap();
    out
}

const HEAD: &str = "From: Researcher <r@researcher.test>\r\nTo: security@hexon.test\r\nSubject: report\r\nMessage-ID: <t@researcher.test>\r\nMIME-Version: 1.0\r\n";

fn pgp_mime_mail(armored: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "{HEAD}Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(armored);
    m.extend_from_slice(b"\r\n--b--\r\n");
    m
}

fn text_mail(body: &str) -> Vec<u8> {
    format!("{HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").into_bytes()
}

fn wrap(s: &SealedMime) -> Vec<u8> {
    let mut m = format!("{HEAD}Content-Type: {}\r\n\r\n", s.content_type).into_bytes();
    m.extend_from_slice(&s.body);
    m
}

fn entity() -> Vec<u8> {
    format!(
        "Content-Type: text/plain; charset=utf-8\r\nSubject: inner\r\n\r\n{CANARY} the report  \r\nline two\r\n"
    )
    .into_bytes()
}

fn open_default(raw: &[u8], keys: &TeamKeys, senders: &[Cert]) -> Result<Opened, OpenError> {
    open(raw, keys, senders, &OpenLimits::default())
}

fn assert_no_leak(err: &OpenError) {
    for t in [err.to_string(), format!("{err:?}"), err.reason()] {
        assert!(!t.contains(CANARY), "plaintext in error: {t}");
    }
}

#[test]
fn seal_pgp_mime_round_trip_recovers_entity_and_good_signature() {
    let team = gen("Hexon Security <security@hexon.test>");
    let researcher = gen("Alice <alice@researcher.test>");
    let sealed = seal_pgp_mime(&entity(), &[public(&researcher)], &keys_of(&[&team])).unwrap();
    assert!(sealed
        .content_type
        .starts_with("multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\""));
    let o = open_default(&wrap(&sealed), &keys_of(&[&researcher]), &[public(&team)]).unwrap();
    assert!(o.encrypted);
    assert_eq!(o.entity, entity());
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&team.fingerprint())
        }
    );
    assert_eq!(o.decrypted_with, Some(enc_subkey(&researcher)));
    assert!(o.inline_text.is_none());
    assert_eq!(o.protected_subject.as_deref(), Some("inner"));
}

#[test]
fn seal_pgp_mime_canonicalizes_lf_entity_to_crlf() {
    let team = gen("T <security@hexon.test>");
    let r = gen_v1_only("R <r@researcher.test>");
    let lf = b"Content-Type: text/plain\n\nhello\n";
    let sealed = seal_pgp_mime(lf, &[public(&r)], &keys_of(&[&team])).unwrap();
    let o = open_default(&wrap(&sealed), &keys_of(&[&r]), &[public(&team)]).unwrap();
    assert_eq!(
        o.entity,
        b"Content-Type: text/plain\r\n\r\nhello\r\n".to_vec()
    );
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&team.fingerprint())
        }
    );
}

#[test]
fn seal_rejects_empty_or_unusable_recipients() {
    let team = gen("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    assert!(matches!(
        seal_pgp_mime(b"x", &[], &keys),
        Err(OpenError::Sealing { .. })
    ));
    let (signing_only, _) = CertBuilder::new()
        .add_userid("S <s@x.test>")
        .add_signing_subkey()
        .generate()
        .unwrap();
    let err = seal_pgp_mime(b"x", &[public(&signing_only)], &keys).unwrap_err();
    assert!(
        err.to_string().contains("no usable encryption key"),
        "{err}"
    );
}

#[test]
fn wrong_key_fails_with_no_decryption_key_error() {
    let team = gen("T <security@hexon.test>");
    let other = gen("O <other@x.test>");
    let armored = encrypt(&[&other], CANARY.as_bytes(), Enc::default());
    let err = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap_err();
    let OpenError::NoDecryptionKey { recipients } = &err else {
        panic!("expected NoDecryptionKey, got {err:?}");
    };
    let sub = enc_subkey(&other);
    assert_eq!(recipients.len(), 1);
    assert!(
        sub == recipients[0] || sub.ends_with(&recipients[0]),
        "{recipients:?} vs {sub}"
    );
    assert_no_leak(&err);
}

#[test]
fn password_only_message_reports_no_decryption_key() {
    let team = gen("T <security@hexon.test>");
    let mut out = Vec::new();
    {
        let m = Sink::new(&mut out);
        let m = openpgp::serialize::stream::Armorer::new(m).build().unwrap();
        let m = Encryptor::with_passwords(m, Some("pw")).build().unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        w.write_all(CANARY.as_bytes()).unwrap();
        w.finalize().unwrap();
    }
    let err = open_default(&pgp_mime_mail(&out), &keys_of(&[&team]), &[]).unwrap_err();
    assert!(
        matches!(&err, OpenError::NoDecryptionKey { recipients } if recipients == &vec!["password".to_string()]),
        "{err:?}"
    );
}

fn tamper_case(recipient: &Cert) {
    // Larger than sequoia's 1 MiB hold-back buffer: without our own
    // buffering, most plaintext would be released before the check.
    let mut plain = CANARY.as_bytes().to_vec();
    plain.extend(std::iter::repeat_n(b'A', 3 * 1024 * 1024));
    let mut binary = encrypt(
        &[recipient],
        &plain,
        Enc {
            binary: true,
            ..Enc::default()
        },
    );
    let mid = binary.len() / 2;
    for b in &mut binary[mid..mid + 4] {
        *b ^= 0x5a;
    }
    let mail = pgp_mime_mail(&armor_message(&binary));
    let err = open_default(&mail, &keys_of(&[recipient]), &[]).unwrap_err();
    assert!(matches!(err, OpenError::IntegrityCheckFailed), "{err:?}");
    assert_no_leak(&err);
}

#[test]
fn rejects_tampered_ciphertext_seipd_v1_mdc() {
    tamper_case(&gen_v1_only("T <security@hexon.test>"));
}

#[test]
fn rejects_tampered_ciphertext_seipd_v2_aead() {
    tamper_case(&gen("T <security@hexon.test>"));
}

#[test]
fn rejects_tampered_compressed_ciphertext() {
    // Tampering inside compressed data usually breaks inflate before the
    // MDC is reached; that is an integrity failure too.
    let team = gen_v1_only("T <security@hexon.test>");
    let mut x: u32 = 1;
    let plain: Vec<u8> = std::iter::once(CANARY.as_bytes().to_vec())
        .chain((0..20_000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            vec![b'a' + ((x >> 16) % 26) as u8]
        }))
        .flatten()
        .collect();
    let mut binary = encrypt(
        &[&team],
        &plain,
        Enc {
            binary: true,
            compress: true,
            ..Enc::default()
        },
    );
    let mid = binary.len() / 2;
    binary[mid] ^= 0xff;
    let err = open_default(
        &pgp_mime_mail(&armor_message(&binary)),
        &keys_of(&[&team]),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::IntegrityCheckFailed), "{err:?}");
    assert_no_leak(&err);
}

#[test]
fn rejects_truncated_ciphertext() {
    let team = gen_v1_only("T <security@hexon.test>");
    let mut plain = CANARY.as_bytes().to_vec();
    plain.extend(std::iter::repeat_n(b'B', 2 * 1024 * 1024));
    let binary = encrypt(
        &[&team],
        &plain,
        Enc {
            binary: true,
            ..Enc::default()
        },
    );
    let cut = &binary[..binary.len() - 30];
    let err =
        open_default(&pgp_mime_mail(&armor_message(cut)), &keys_of(&[&team]), &[]).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::IntegrityCheckFailed | OpenError::Malformed { .. }
        ),
        "{err:?}"
    );
    assert_no_leak(&err);
}

#[test]
fn sed_packet_without_mdc_is_rejected() {
    let team = gen_v1_only("T <security@hexon.test>");
    let binary = encrypt(
        &[&team],
        b"x",
        Enc {
            binary: true,
            ..Enc::default()
        },
    );
    let pile = openpgp::PacketPile::from_bytes(&binary).unwrap();
    let mut msg = Vec::new();
    pile.path_ref(&[0]).unwrap().serialize(&mut msg).unwrap();
    // Tag 9 (SED), new-format header, 64 bytes of "ciphertext".
    msg.extend_from_slice(&[0xC0 | 9, 64]);
    msg.extend(std::iter::repeat_n(0x42u8, 64));
    let err = open_default(
        &pgp_mime_mail(&armor_message(&msg)),
        &keys_of(&[&team]),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::NoIntegrityProtection), "{err:?}");
}

#[test]
fn nested_truncated_ciphertext_is_an_error_not_a_panic() {
    // [PKESK, SEIPDv1 cut short]: sequoia 2.4 panics when decrypting
    // such a packet (unwrap in PacketParser::decrypt_); `open` must
    // return an error instead, at top level and nested.
    let team = gen_v1_only("T <security@hexon.test>");
    let real = encrypt(
        &[&team],
        b"inner",
        Enc {
            binary: true,
            ..Enc::default()
        },
    );
    let pile = openpgp::PacketPile::from_bytes(&real).unwrap();
    let mut inner = Vec::new();
    pile.path_ref(&[0]).unwrap().serialize(&mut inner).unwrap();
    let seip = &real[inner.len()..];
    assert_eq!(seip[0], 0xC0 | 18, "new-format SEIP header");
    assert!(seip[1] < 192, "one-octet length for a short message");
    let body = &seip[2..];
    // The header claims 60 bytes, only 30 follow (a cut-off mail).
    inner.extend_from_slice(&[0xC0 | 18, 60]);
    inner.extend_from_slice(&body[..30]);
    let mut outer = Vec::new();
    {
        let p = StandardPolicy::new();
        let rcpts: Vec<Recipient> = team
            .keys()
            .with_policy(&p, None)
            .for_transport_encryption()
            .map(Into::into)
            .collect();
        let m = Sink::new(&mut outer);
        let m = openpgp::serialize::stream::Armorer::new(m).build().unwrap();
        let mut m = Encryptor::for_recipients(m, rcpts).build().unwrap();
        m.write_all(&inner).unwrap();
        m.finalize().unwrap();
    }
    let result = open_default(&pgp_mime_mail(&outer), &keys_of(&[&team]), &[]);
    assert!(result.is_err(), "{:?}", result.map(|o| o.entity.len()));

    // The same truncated packet at top level (sequoia would panic in
    // `PacketParser::decrypt_`): rejected before decryption.
    let err = open_default(
        &pgp_mime_mail(&armor_message(&inner)),
        &keys_of(&[&team]),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(&err, OpenError::Malformed { reason } if reason.contains("truncated")),
        "{err:?}"
    );
}

#[test]
fn decrypted_size_is_capped() {
    let team = gen("T <security@hexon.test>");
    let plain = vec![b'x'; 200 * 1024];
    let mail = pgp_mime_mail(&encrypt(&[&team], &plain, Enc::default()));
    let limits = OpenLimits {
        max_decrypted_bytes: 64 * 1024,
        ..OpenLimits::default()
    };
    let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
    assert!(
        matches!(err, OpenError::TooLarge { limit: 65536 }),
        "{err:?}"
    );
    // Exactly at the limit is fine.
    let limits = OpenLimits {
        max_decrypted_bytes: 200 * 1024,
        ..OpenLimits::default()
    };
    assert!(open(&mail, &keys_of(&[&team]), &[], &limits).is_ok());
}

#[test]
fn compression_bomb_is_stopped_early() {
    let team = gen("T <security@hexon.test>");
    let zeros = vec![0u8; 16 * 1024 * 1024];
    let mail = pgp_mime_mail(&encrypt(
        &[&team],
        &zeros,
        Enc {
            compress: true,
            ..Enc::default()
        },
    ));
    assert!(mail.len() < 200 * 1024, "bomb is small: {}", mail.len());
    let limits = OpenLimits {
        max_decrypted_bytes: 1024 * 1024,
        ..OpenLimits::default()
    };
    let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
    assert!(
        matches!(err, OpenError::TooLarge { limit: 1048576 }),
        "{err:?}"
    );
}

#[test]
fn budget_is_shared_by_all_blocks_of_one_mail() {
    let team = gen("T <security@hexon.test>");
    let block =
        String::from_utf8(encrypt(&[&team], &vec![b'y'; 40 * 1024], Enc::default())).unwrap();
    let mail = text_mail(&format!("a\r\n{block}\r\nb\r\n{block}\r\n"));
    let limits = OpenLimits {
        max_decrypted_bytes: 64 * 1024,
        ..OpenLimits::default()
    };
    let err = open(&mail, &keys_of(&[&team]), &[], &limits).unwrap_err();
    assert!(matches!(err, OpenError::TooLarge { .. }), "{err:?}");
}

#[test]
fn hidden_recipient_is_found_by_trying_every_team_key() {
    let old = gen("Old <security@hexon.test>");
    let new = gen_v1_only("New <security@hexon.test>");
    for target in [&old, &new] {
        let armored = encrypt(
            &[target],
            CANARY.as_bytes(),
            Enc {
                hidden: true,
                ..Enc::default()
            },
        );
        let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&old, &new]), &[]).unwrap();
        assert_eq!(o.entity, CANARY.as_bytes());
        assert_eq!(o.decrypted_with, Some(enc_subkey(target)));
    }
}

#[test]
fn rotated_keys_decrypt_with_the_matching_cert() {
    let old = gen("Old <security@hexon.test>");
    let new = gen("New <security@hexon.test>");
    let keys = keys_of(&[&new, &old]);
    let armored = encrypt(&[&old], CANARY.as_bytes(), Enc::default());
    let o = open_default(&pgp_mime_mail(&armored), &keys, &[]).unwrap();
    assert_eq!(o.decrypted_with, Some(enc_subkey(&old)));
}

#[test]
fn signed_and_encrypted_inline_block_in_text_is_replaced() {
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <alice@researcher.test>");
    let block = String::from_utf8(encrypt(
        &[&team],
        format!("{CANARY}\nsecret details\n").as_bytes(),
        Enc {
            signer: Some(&alice),
            compress: true,
            ..Enc::default()
        },
    ))
    .unwrap();
    let mail = text_mail(&format!("Hi team,\r\n\r\n{block}\r\nRegards\r\n"));
    let o = open_default(&mail, &keys_of(&[&team]), &[public(&alice)]).unwrap();
    let text = o.inline_text.as_deref().unwrap();
    assert!(text.starts_with("Hi team,"));
    assert!(text.contains(CANARY) && text.contains("secret details"));
    assert!(text.trim_end().ends_with("Regards"));
    assert!(!text.contains("BEGIN PGP"));
    assert!(o.encrypted);
    // The signature covers the block, not the text around it: the mail is
    // not signed (someone else's signed block pasted beside one's own words
    // must not vouch for them).
    assert_eq!(o.signature, SignatureStatus::None);
    assert_eq!(o.entity, mail);
}

#[test]
fn unknown_signer_reports_issuer_fingerprint() {
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <alice@researcher.test>");
    let armored = encrypt(
        &[&team],
        CANARY.as_bytes(),
        Enc {
            signer: Some(&alice),
            ..Enc::default()
        },
    );
    let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
    let p = StandardPolicy::new();
    let signing = alice
        .keys()
        .with_policy(&p, None)
        .for_signing()
        .next()
        .unwrap()
        .key()
        .fingerprint();
    assert_eq!(
        o.signature,
        SignatureStatus::UnknownKey {
            issuer: fpr_hex(&signing)
        }
    );
}

#[test]
fn clearsign_round_trip_is_good_and_text_is_recovered() {
    let team = gen("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    let text =
        "Contact: mailto:security@hexon.test\nExpires: 2030-01-01T00:00:00.000Z\n- dash line\n";
    let signed = clearsign(text, &keys).unwrap();
    assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    let o = open_default(&text_mail(&signed), &keys, &[]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&team.fingerprint())
        }
    );
    assert_eq!(
        o.inline_text.as_deref().map(|t| t.trim_end()),
        Some(text.trim_end())
    );
    let tampered = signed.replace("2030", "2031");
    let o = open_default(&text_mail(&tampered), &keys, &[]).unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Bad { .. }),
        "{:?}",
        o.signature
    );
}

#[test]
fn mangled_clearsigned_block_is_bad_but_text_is_kept() {
    let team = gen("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    let signed = clearsign(&format!("{CANARY}\n"), &keys).unwrap();
    // A client re-wrapped the signature armor: base64 is garbage now.
    let start = signed.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let mangled = format!(
        "{}-----BEGIN PGP SIGNATURE-----\n\n!!not base64!!\n-----END PGP SIGNATURE-----\n",
        &signed[..start]
    );
    let o = open_default(&text_mail(&format!("before\n{mangled}after\n")), &keys, &[]).unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Bad { .. }),
        "{:?}",
        o.signature
    );
    let text = o.inline_text.unwrap();
    assert!(
        text.contains(CANARY) && text.starts_with("before") && text.trim_end().ends_with("after")
    );
}

#[test]
fn sign_pgp_mime_verifies_in_lf_and_crlf_form_and_detects_changes() {
    let team = gen("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    let signed = sign_pgp_mime(&entity(), &keys).unwrap();
    assert!(signed.content_type.starts_with(
        "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\""
    ));
    let crlf = wrap(&signed);
    let good = SignatureStatus::Good {
        fingerprint: fpr_hex(&team.fingerprint()),
    };
    assert_eq!(open_default(&crlf, &keys, &[]).unwrap().signature, good);
    let lf = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(
        open_default(lf.as_bytes(), &keys, &[]).unwrap().signature,
        good
    );
    let changed = String::from_utf8(crlf)
        .unwrap()
        .replace("line two", "line 2!!");
    let o = open_default(changed.as_bytes(), &keys, &[]).unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Bad { .. }),
        "{:?}",
        o.signature
    );
    assert_eq!(o.signature.as_str(), "bad");
}

#[test]
fn garbage_signature_part_is_bad_not_an_error() {
    let team = gen("T <security@hexon.test>");
    let mail = format!(
        "{HEAD}Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"s\"\r\n\r\n\
         --s\r\nContent-Type: text/plain\r\n\r\nhello\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nnot a signature\r\n--s--\r\n"
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert!(
        matches!(
            o.signature,
            SignatureStatus::Bad {
                fingerprint: None,
                ..
            }
        ),
        "{:?}",
        o.signature
    );
}

#[test]
fn encrypted_attachment_named_pgp_is_decrypted_and_suffix_stripped() {
    use base64::Engine as _;
    let team = gen("T <security@hexon.test>");
    let bin = encrypt(
        &[&team],
        CANARY.as_bytes(),
        Enc {
            binary: true,
            ..Enc::default()
        },
    );
    let armored = String::from_utf8(encrypt(&[&team], b"second", Enc::default())).unwrap();
    let mail = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
         --m\r\nContent-Type: text/plain\r\n\r\nsee attachments\r\n\
         --m\r\nContent-Type: application/octet-stream; name=\"poc.tar.PGP\"\r\nContent-Disposition: attachment; filename=\"poc.tar.PGP\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --m\r\nContent-Type: application/pgp-encrypted\r\nContent-Disposition: attachment; filename=\"notes.txt.asc\"\r\n\r\n{armored}\r\n\
         --m\r\nContent-Type: text/plain; name=\"readme.asc\"\r\nContent-Disposition: attachment\r\n\r\njust text named .asc\r\n--m--\r\n",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert!(o.encrypted);
    assert!(o.inline_text.is_none());
    let names: Vec<&str> = o
        .decrypted_attachments
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, vec!["poc.tar", "notes.txt"]);
    assert_eq!(o.decrypted_attachments[0].1, CANARY.as_bytes());
    assert_eq!(o.decrypted_attachments[1].1, b"second");
}

#[test]
fn attached_secret_key_is_discovered_public_only() {
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <Alice@Researcher.test>");
    let tsk = String::from_utf8(alice.as_tsk().armored().to_vec().unwrap()).unwrap();
    let mail = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nmy key\r\n\
         --m\r\nContent-Type: application/pgp-keys; name=\"key.asc\"\r\n\r\n{tsk}\r\n--m--\r\n"
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert_eq!(o.discovered_keys.len(), 1);
    let k = &o.discovered_keys[0];
    assert_eq!(k.fingerprint, fpr_hex(&alice.fingerprint()));
    assert_eq!(k.addresses, vec!["alice@researcher.test".to_string()]);
    assert!(!k.armored.contains("PRIVATE"));
    assert!(!parse_cert(k.armored.as_bytes()).unwrap().is_tsk());
    assert!(!o.encrypted);
}

#[test]
fn team_key_is_not_reported_as_discovered() {
    let team = gen("T <security@hexon.test>");
    let pubkey = armor_public(&team).unwrap();
    let mail = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nyour key\r\n\
         --m\r\nContent-Type: application/pgp-keys\r\n\r\n{pubkey}\r\n--m--\r\n"
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert!(o.discovered_keys.is_empty());
}

#[test]
fn autocrypt_header_key_is_discovered_and_verifies() {
    use base64::Engine as _;
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <alice@researcher.test>");
    let mut bin = Vec::new();
    public(&alice).serialize(&mut bin).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bin);
    let folded: Vec<String> = b64
        .as_bytes()
        .chunks(70)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let alice_keys = keys_of(&[&alice]);
    let signed = clearsign(&format!("{CANARY}\n"), &alice_keys).unwrap();
    let mail = format!(
        "Autocrypt: addr=ALICE@researcher.test; prefer-encrypt=mutual; keydata=\r\n {}\r\n{HEAD}Content-Type: text/plain\r\n\r\n{signed}",
        folded.join("\r\n ")
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert_eq!(o.discovered_keys.len(), 1);
    assert_eq!(o.discovered_keys[0].source, KeySource::Autocrypt);
    assert_eq!(
        o.discovered_keys[0].addresses,
        vec!["alice@researcher.test".to_string()]
    );
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&alice.fingerprint())
        }
    );
}

#[test]
fn key_attached_inside_encryption_verifies_signature() {
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <alice@researcher.test>");
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\n{CANARY}\r\n\
         --i\r\nContent-Type: application/pgp-keys; name=\"OpenPGP_0x1.asc\"\r\nContent-Disposition: attachment; filename=\"OpenPGP_0x1.asc\"\r\n\r\n{}\r\n--i--\r\n",
        armor_public(&alice).unwrap()
    );
    let armored = encrypt(
        &[&team],
        inner.as_bytes(),
        Enc {
            signer: Some(&alice),
            ..Enc::default()
        },
    );
    let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
    assert_eq!(o.discovered_keys.len(), 1);
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&alice.fingerprint())
        }
    );
    assert_eq!(o.entity, inner.as_bytes());
}

#[test]
fn protected_subject_from_legacy_display_part() {
    let team = gen("T <security@hexon.test>");
    let inner = "Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n\
                 --i\r\nContent-Type: text/rfc822-headers; protected-headers=\"v1\"\r\n\r\nSubject: hidden\r\n  subject\r\n\r\n\
                 --i\r\nContent-Type: text/plain\r\n\r\nbody\r\n--i--\r\n";
    let armored = encrypt(&[&team], inner.as_bytes(), Enc::default());
    let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
    assert_eq!(o.protected_subject.as_deref(), Some("hidden subject"));
}

#[test]
fn too_many_blocks_is_rejected() {
    let team = gen("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    let signed = clearsign("hi\n", &keys).unwrap();
    let mail = text_mail(&format!("{signed}\r\n{signed}\r\n{signed}\r\n"));
    let limits = OpenLimits {
        max_armored_blocks: 2,
        ..OpenLimits::default()
    };
    let err = open(&mail, &keys, &[], &limits).unwrap_err();
    assert!(
        matches!(err, OpenError::TooManyBlocks { limit: 2 }),
        "{err:?}"
    );
}

#[test]
fn multipart_encrypted_without_payload_is_malformed() {
    let team = gen("T <security@hexon.test>");
    let mail = format!(
        "{HEAD}Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b--\r\n"
    );
    let err = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap_err();
    assert!(matches!(err, OpenError::Malformed { .. }), "{err:?}");
}

#[test]
fn plain_mail_is_returned_unchanged() {
    let team = gen("T <security@hexon.test>");
    let mail = text_mail("just a report, no crypto\r\n");
    let o = open_default(&mail, &keys_of(&[&team]), &[]).unwrap();
    assert!(!o.encrypted);
    assert_eq!(o.entity, mail);
    assert_eq!(o.signature, SignatureStatus::None);
    assert!(o.inline_text.is_none() && o.discovered_keys.is_empty() && o.decrypted_with.is_none());
}

#[test]
fn hostile_inputs_never_panic() {
    let team = gen_v1_only("T <security@hexon.test>");
    let keys = keys_of(&[&team]);
    let valid = pgp_mime_mail(&encrypt(&[&team], CANARY.as_bytes(), Enc::default()));
    let signed = wrap(&sign_pgp_mime(&entity(), &keys).unwrap());
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        vec![0xff; 300],
        b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"\r\n\r\n".to_vec(),
        b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"\r\n\r\n--x\r\n".to_vec(),
        text_mail("-----BEGIN PGP MESSAGE-----\r\n\r\n!!!!\r\n-----END PGP MESSAGE-----\r\n"),
        text_mail("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nx\r\n-----END PGP SIGNATURE-----\r\n"),
        text_mail(&format!("{}\r\n", "-----BEGIN PGP MESSAGE-----\r\n".repeat(50))),
        format!("{HEAD}Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n{}", "--a\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n".repeat(200)).into_bytes(),
        format!("Autocrypt: addr=x@y.test; keydata=AAAA\r\n{HEAD}\r\nbody").into_bytes(),
        format!("{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: application/pgp-keys\r\n\r\n\u{80}\u{81}\u{82}\r\n--m--\r\n").into_bytes(),
    ];
    for cut in (0..valid.len()).step_by(valid.len() / 40 + 1) {
        inputs.push(valid[..cut].to_vec());
    }
    for pos in (valid.len() / 2..valid.len()).step_by(17) {
        let mut v = valid.clone();
        v[pos] ^= 0x01;
        inputs.push(v);
    }
    for pos in (0..signed.len()).step_by(23) {
        let mut v = signed.clone();
        v[pos] = b'\n';
        inputs.push(v);
    }
    for input in &inputs {
        match open(input, &keys, &[], &OpenLimits::default()) {
            Ok(o) => {
                let _ = format!("{o:?}");
            }
            Err(e) => assert_no_leak(&e),
        }
    }
}

#[test]
fn opened_debug_redacts_plaintext() {
    let team = gen("T <security@hexon.test>");
    let armored = encrypt(&[&team], entity().as_slice(), Enc::default());
    let o = open_default(&pgp_mime_mail(&armored), &keys_of(&[&team]), &[]).unwrap();
    let dbg = format!("{o:?}");
    assert!(!dbg.contains(CANARY), "{dbg}");
    assert!(!dbg.contains("inner"), "{dbg}");
    assert!(dbg.contains("redacted"));
}

#[test]
fn error_reason_is_one_line_and_prefixed() {
    let e = OpenError::Malformed {
        reason: "a\nb\r\n  c".into(),
    };
    assert_eq!(e.reason(), "openpgp/malformed: cannot parse message: a b c");
    let e = OpenError::NoDecryptionKey {
        recipients: vec!["AB".into(), "hidden".into()],
    };
    assert_eq!(e.reason(), "openpgp/no_decryption_key: cannot decrypt: no team key matches the recipients [AB, hidden]");
    let long = OpenError::Malformed {
        reason: "x".repeat(5000),
    };
    assert!(long.reason().chars().count() < 500);
    for e in [
        OpenError::IntegrityCheckFailed,
        OpenError::NoIntegrityProtection,
        OpenError::TooLarge { limit: 1 },
    ] {
        assert!(e.to_string().starts_with("cannot "), "{e}");
    }
}

#[test]
fn signature_status_names_are_stable() {
    assert_eq!(SignatureStatus::None.as_str(), "none");
    assert_eq!(
        SignatureStatus::Good {
            fingerprint: "A".into()
        }
        .as_str(),
        "good"
    );
    assert_eq!(
        SignatureStatus::Bad {
            fingerprint: None,
            reason: "r".into()
        }
        .as_str(),
        "bad"
    );
    assert_eq!(
        SignatureStatus::UnknownKey { issuer: "I".into() }.as_str(),
        "unknown_key"
    );
}

/// Post-quantum (RFC 9580 v6, ML-KEM-768+X25519 / ML-DSA-65+Ed25519):
/// only the pure-Rust backend implements these algorithms.
#[cfg(feature = "crypto-rust")]
#[test]
fn post_quantum_v6_pgp_mime_round_trip() {
    use openpgp::types::PublicKeyAlgorithm;
    use openpgp::Profile;
    assert!(PublicKeyAlgorithm::MLKEM768_X25519.is_supported());
    assert!(PublicKeyAlgorithm::MLDSA65_Ed25519.is_supported());
    let pq = |uid: &str| {
        CertBuilder::general_purpose(Some(uid))
            .set_profile(Profile::RFC9580)
            .unwrap()
            .set_cipher_suite(CipherSuite::MLDSA65_Ed25519)
            .generate()
            .unwrap()
            .0
    };
    let team = pq("Hexon Security PQ <security@hexon.test>");
    let researcher = pq("Alice PQ <alice@researcher.test>");
    assert_eq!(team.primary_key().key().version(), 6);
    let p = StandardPolicy::new();
    let enc = team
        .keys()
        .with_policy(&p, None)
        .for_transport_encryption()
        .next()
        .unwrap();
    assert_eq!(enc.key().pk_algo(), PublicKeyAlgorithm::MLKEM768_X25519);

    let sealed = seal_pgp_mime(&entity(), &[public(&team)], &keys_of(&[&researcher])).unwrap();
    let o = open_default(&wrap(&sealed), &keys_of(&[&team]), &[public(&researcher)]).unwrap();
    assert!(o.encrypted);
    assert_eq!(o.entity, entity());
    assert_eq!(o.decrypted_with, Some(fpr_hex(&enc.key().fingerprint())));
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&researcher.fingerprint())
        }
    );

    let signed = sign_pgp_mime(&entity(), &keys_of(&[&team])).unwrap();
    let o = open_default(&wrap(&signed), &keys_of(&[&researcher]), &[public(&team)]).unwrap();
    assert_eq!(
        o.signature,
        SignatureStatus::Good {
            fingerprint: fpr_hex(&team.fingerprint())
        }
    );
}

// ---- A signature vouches only for what it covers (issue 16, finding 1) ----

#[test]
fn a_whole_body_clearsigned_block_signs_the_mail_and_names_an_offered_signer() {
    let team = gen("T <security@hexon.test>");
    let alice = gen("Alice <alice@researcher.test>");
    let signed = clearsign(&format!("{CANARY}\n"), &keys_of(&[&alice])).unwrap();
    let good = SignatureStatus::Good {
        fingerprint: fpr_hex(&alice.fingerprint()),
    };
    // Verified with a key the caller trusts (the store's pinned key).
    let o = open_default(
        &text_mail(&format!("\r\n{signed}\r\n")),
        &keys_of(&[&team]),
        &[public(&alice)],
    )
    .unwrap();
    assert_eq!(o.signature, good);
    assert!(!o.signed_by_offered_key);
    // The same block with the key attached by the mail: good, but by an offered key.
    let mail = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n{signed}\r\n\
         --m\r\nContent-Type: application/pgp-keys\r\n\r\n{}\r\n--m--\r\n",
        armor_public(&alice).unwrap()
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &[]).unwrap();
    assert_eq!(o.signature, good);
    assert!(
        o.signed_by_offered_key,
        "a key the mail brought proves nothing about the sender"
    );
}

#[test]
fn a_replayed_signed_block_beside_unsigned_text_leaves_the_mail_unsigned() {
    let team = gen("T <security@hexon.test>");
    let victim = gen("Victim <victim@researcher.test>");
    let old = clearsign(
        "I would like to be credited as Victim.\n",
        &keys_of(&[&victim]),
    )
    .unwrap();
    let trusted = [public(&victim)];
    // Own text before the victim's block, in the same body.
    let o = open_default(
        &text_mail(&format!("Please credit Mallory instead.\r\n\r\n{old}\r\n")),
        &keys_of(&[&team]),
        &trusted,
    )
    .unwrap();
    assert_eq!(o.signature, SignatureStatus::None);
    // The victim's block as the whole body, own text in a second part.
    let mail = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n{old}\r\n\
         --m\r\nContent-Type: text/plain\r\n\r\nPlease credit Mallory instead.\r\n--m--\r\n"
    );
    let o = open_default(mail.as_bytes(), &keys_of(&[&team]), &trusted).unwrap();
    assert_eq!(o.signature, SignatureStatus::None);
    // A victim's multipart/signed nested beside an unsigned part.
    let signed = sign_pgp_mime(&entity(), &keys_of(&[&victim])).unwrap();
    let nested = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nPlease credit Mallory.\r\n\
         --outer\r\nContent-Type: {}\r\n\r\n{}\r\n--outer--\r\n",
        signed.content_type,
        String::from_utf8_lossy(&signed.body)
    );
    let o = open_default(nested.as_bytes(), &keys_of(&[&team]), &trusted).unwrap();
    assert_eq!(o.signature, SignatureStatus::None);
    // The same multipart/signed as the root is signed.
    let o = open_default(&wrap(&signed), &keys_of(&[&team]), &trusted).unwrap();
    assert!(
        matches!(o.signature, SignatureStatus::Good { .. }),
        "{:?}",
        o.signature
    );
}

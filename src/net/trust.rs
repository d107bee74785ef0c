//! Which server certificates the IMAP and SMTP clients accept: the rustls
//! certificate verifier for private servers, and certificate pins.
//!
//! The verifier WRAPS rustls' webpki verifier (chain to the roots, validity
//! dates, host name) and adds exactly two rules:
//!
//! - with a pin (`imap.tls_pin` / `smtp.tls_pin`), the presented end-entity
//!   certificate must match it; the pin replaces the chain to a root (so a
//!   self-signed certificate can be pinned), while the validity dates and the
//!   host name are still checked;
//! - without a pin, a leaf refused only because it is marked as a CA
//!   (`CaUsedAsEndEntity`, what `openssl req -x509` makes) is accepted when
//!   it is byte-identical to a certificate of the configured CA file — again
//!   with dates and name checked.
//!
//! rustls always verifies the handshake signature with the leaf's key, so
//! the server must hold the private key in every case.
//!
//! I/O: none (pure computation over certificates). Must not: accept a
//! certificate on any other ground, offer an "insecure" switch, or fall back
//! to anything weaker; every refusal says in words what is wrong and which
//! config key fixes it.

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

/// A pin of a server certificate: the SHA-256 of its public key (SPKI, as in
/// HPKP and `curl --pinnedpubkey`) or of the whole certificate (DER).
#[derive(Clone, PartialEq, Eq)]
pub enum TlsPin {
    /// `sha256/BASE64` (or curl's `sha256//BASE64`): SHA-256 of the SPKI.
    Spki([u8; 32]),
    /// 64 hex digits, colons allowed (`openssl x509 -fingerprint -sha256`):
    /// SHA-256 of the certificate.
    Cert([u8; 32]),
}

impl TlsPin {
    /// Parse a pin as written in the config.
    ///
    /// # Errors
    /// A message saying which forms are accepted.
    pub fn parse(text: &str) -> Result<TlsPin, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a pin: use \"sha256/BASE64\" (SHA-256 of the server's public key) \
                 or the 64 hex digits of the certificate's SHA-256 fingerprint (colons allowed)"
            )
        };
        let digest = |bytes: Vec<u8>| <[u8; 32]>::try_from(bytes).map_err(|_| bad());
        if let Some(b64) = text
            .strip_prefix("sha256//")
            .or_else(|| text.strip_prefix("sha256/"))
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad())?;
            return digest(bytes).map(TlsPin::Spki);
        }
        let hex_text: String = text
            .strip_prefix("sha256:")
            .unwrap_or(text)
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let bytes = hex::decode(hex_text).map_err(|_| bad())?;
        digest(bytes).map(TlsPin::Cert)
    }

    fn matches(&self, seen: &Seen) -> bool {
        match self {
            TlsPin::Spki(d) => seen.spki_sha256 == Some(*d),
            TlsPin::Cert(d) => seen.cert_sha256 == *d,
        }
    }
}

impl std::fmt::Display for TlsPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsPin::Spki(d) => write!(
                f,
                "sha256/{}",
                base64::engine::general_purpose::STANDARD.encode(d)
            ),
            TlsPin::Cert(d) => f.write_str(&hex::encode(d)),
        }
    }
}

impl std::fmt::Debug for TlsPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsPin({self})")
    }
}

/// Why a server certificate was refused, in words (carried inside the
/// rustls error; [`super::tls_error_text`] takes it out again).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CertRefused(pub String);

fn refuse(message: String) -> Error {
    Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        CertRefused(message),
    ))))
}

/// The hashes of a presented certificate, for pins and messages.
struct Seen {
    cert_sha256: [u8; 32],
    spki_sha256: Option<[u8; 32]>,
    self_signed: bool,
}

impl Seen {
    fn of(cert: &CertificateDer<'_>) -> Seen {
        let parsed = webpki::EndEntityCert::try_from(cert).ok();
        Seen {
            cert_sha256: Sha256::digest(cert.as_ref()).into(),
            spki_sha256: parsed
                .as_ref()
                .map(|c| Sha256::digest(c.subject_public_key_info().as_ref()).into()),
            self_signed: parsed.as_ref().is_some_and(|c| c.issuer() == c.subject()),
        }
    }

    /// The pin to write into the config for this certificate.
    fn spki_pin(&self) -> String {
        match self.spki_sha256 {
            Some(d) => TlsPin::Spki(d).to_string(),
            None => TlsPin::Cert(self.cert_sha256).to_string(),
        }
    }
}

/// The verifier for one server: see the module documentation.
#[derive(Debug)]
pub struct PrivateServerVerifier {
    /// webpki over the roots; `None` when there are no roots at all.
    inner: Option<Arc<WebPkiServerVerifier>>,
    /// The certificates of the CA file, for the exact-match rule.
    ca_certs: Vec<CertificateDer<'static>>,
    pin: Option<TlsPin>,
    /// `imap` or `smtp`: the config section named in messages.
    section: &'static str,
    provider: Arc<CryptoProvider>,
}

impl PrivateServerVerifier {
    /// # Errors
    /// rustls refuses to build a verifier over `roots`.
    pub fn new(
        roots: rustls::RootCertStore,
        ca_certs: Vec<CertificateDer<'static>>,
        pin: Option<TlsPin>,
        section: &'static str,
        provider: Arc<CryptoProvider>,
    ) -> Result<PrivateServerVerifier, String> {
        let inner = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(PrivateServerVerifier {
            inner,
            ca_certs,
            pin,
            section,
            provider,
        })
    }

    /// The pin rule: the leaf matches the pin, and its dates and name are valid.
    fn verify_pinned(
        &self,
        pin: &TlsPin,
        leaf: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let seen = Seen::of(leaf);
        let host = name.to_str();
        if !pin.matches(&seen) {
            let got = match pin {
                TlsPin::Spki(_) => seen.spki_pin(),
                TlsPin::Cert(_) => TlsPin::Cert(seen.cert_sha256).to_string(),
            };
            return Err(refuse(format!(
                "certificate for {host} does not match {}.tls_pin (got {got})",
                self.section
            )));
        }
        self.check_dates_and_name(leaf, name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    /// webpki refused the leaf only because it is marked as a CA: accept it
    /// iff the CA file holds exactly this certificate.
    fn verify_ca_flagged(
        &self,
        leaf: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.ca_certs.iter().any(|c| c.as_ref() == leaf.as_ref()) {
            self.check_dates_and_name(leaf, name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        let seen = Seen::of(leaf);
        let s = self.section;
        let what = if seen.self_signed {
            "is self-signed and marked as a CA"
        } else {
            "is marked as a CA (CA:TRUE) and cannot be a server certificate"
        };
        Err(refuse(format!(
            "certificate for {} {what}; pin it with {s}.tls_pin = \"{}\" or put exactly this \
             certificate in {s}.ca_file",
            name.to_str(),
            seen.spki_pin()
        )))
    }

    /// Validity dates and host name of a leaf accepted by a rule other than
    /// the chain to a root.
    fn check_dates_and_name(
        &self,
        leaf: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let host = name.to_str();
        let parsed = rustls::server::ParsedCertificate::try_from(leaf)?;
        let mut itself = rustls::RootCertStore::empty();
        itself.add(leaf.clone().into_owned())?;
        // NOTE: webpki checks the validity dates first, before the CA flag,
        // the key usage and the issuer (verify_cert.rs,
        // check_issuer_independent_properties); so with the leaf as its own
        // anchor, any error but a date or encoding error means the dates are
        // fine. `net::tests` holds this to account with an expired leaf.
        let algs = self.provider.signature_verification_algorithms.all;
        match rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &itself,
            &[],
            now,
            algs,
        ) {
            Err(Error::InvalidCertificate(
                e @ (CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
                | CertificateError::BadEncoding),
            )) => Err(refuse(format!("certificate for {host}: {e}"))),
            _ => Ok(()),
        }?;
        rustls::client::verify_server_name(&parsed, name)
            .map_err(|e| refuse(format!("{e}; set {}.host to a name it lists", self.section)))
    }

    /// A webpki refusal in words, with the key that fixes it.
    fn explain(&self, error: Error, leaf: &CertificateDer<'_>, host: &str) -> Error {
        let s = self.section;
        match &error {
            // NOTE: BadSignature here means a CA of that name signed something else.
            Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            ) => refuse(format!(
                "certificate for {host} is not issued by a CA in {s}.ca_file (or, without one, \
                 the system's roots): {error}; set {s}.ca_file to its CA or pin it with \
                 {s}.tls_pin = \"{}\"",
                Seen::of(leaf).spki_pin()
            )),
            Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
                refuse(format!("{error}; set {s}.host to a name it lists"))
            }
            _ => refuse(format!("certificate for {host} refused: {error}")),
        }
    }
}

/// Is this webpki's "CA certificate used as end entity" error?
fn is_ca_used_as_end_entity(error: &Error) -> bool {
    match error {
        Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

impl ServerCertVerifier for PrivateServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Some(pin) = &self.pin {
            return self.verify_pinned(pin, end_entity, server_name, now);
        }
        let host = server_name.to_str();
        let Some(inner) = &self.inner else {
            return Err(refuse(format!(
                "no trusted roots for {host}: the system has no CA certificates; set {}.ca_file \
                 or {}.tls_pin",
                self.section, self.section
            )));
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            Err(e) if is_ca_used_as_end_entity(&e) => {
                self.verify_ca_flagged(end_entity, server_name, now)
            }
            Err(e) => Err(self.explain(e, end_entity, &host)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    const SELF_SIGNED_CA: &[u8] = include_bytes!("../../tests/fixtures/tls/selfsigned.pem");
    const SELF_SIGNED_LEAF: &[u8] = include_bytes!("../../tests/fixtures/tls/selfsigned-leaf.pem");
    const OTHER: &[u8] = include_bytes!("../../tests/fixtures/tls/other.pem");
    /// `openssl x509 -in selfsigned.pem -pubkey -noout | openssl pkey -pubin
    /// -outform der | openssl dgst -sha256 -binary | openssl enc -base64`
    const SPKI_PIN: &str = "sha256/fTZ+WmiQ7kGCjEQSeoXzht2BI5QN0S6suzt4yr4uPo0=";
    /// `openssl x509 -in selfsigned.pem -noout -fingerprint -sha256`
    const CERT_PIN: &str = "0F:91:6E:79:70:59:5D:C9:A1:E0:4A:E7:27:EB:97:EF:5B:87:00:14:7F:2F:3A:C3:65:31:0E:F1:E7:0D:F6:7C";

    fn cert(pem: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem).unwrap()
    }

    fn verifier(ca: &[&[u8]], pin: Option<&str>) -> PrivateServerVerifier {
        let certs: Vec<_> = ca.iter().map(|p| cert(p)).collect();
        let mut roots = rustls::RootCertStore::empty();
        for c in &certs {
            roots.add(c.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pin = pin.map(|p| TlsPin::parse(p).unwrap());
        PrivateServerVerifier::new(roots, certs, pin, "imap", provider).unwrap()
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    /// 2200-01-01: after every fixture expired.
    fn far_future() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(7_258_118_400))
    }

    fn check(
        v: &PrivateServerVerifier,
        leaf: &[u8],
        host: &str,
        at: UnixTime,
    ) -> Result<(), String> {
        let name = ServerName::try_from(host.to_string()).unwrap();
        v.verify_server_cert(&cert(leaf), &[], &name, &[], at)
            .map(|_| ())
            .map_err(|e| match &e {
                Error::InvalidCertificate(CertificateError::Other(o)) => {
                    o.0.downcast_ref::<CertRefused>()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| e.to_string())
                }
                _ => e.to_string(),
            })
    }

    #[test]
    fn pins_parse_in_every_documented_form() {
        let spki = TlsPin::parse(SPKI_PIN).unwrap();
        assert_eq!(spki.to_string(), SPKI_PIN);
        assert_eq!(
            TlsPin::parse(&SPKI_PIN.replace("sha256/", "sha256//")).unwrap(),
            spki
        );
        let by_cert = TlsPin::parse(CERT_PIN).unwrap();
        assert_eq!(
            TlsPin::parse(&CERT_PIN.replace(':', "").to_lowercase()).unwrap(),
            by_cert
        );
        assert!(matches!(by_cert, TlsPin::Cert(_)));
        for bad in ["", "sha256/", "sha256/abc", "md5/xyz", "0F:91", "nothex"] {
            let err = TlsPin::parse(bad).unwrap_err();
            assert!(err.contains("sha256/BASE64"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_self_signed_ca_leaf_in_the_ca_file_is_accepted_with_dates_and_name_checked() {
        let v = verifier(&[SELF_SIGNED_CA], None);
        check(&v, SELF_SIGNED_CA, "localhost", now()).unwrap();
        check(&v, SELF_SIGNED_CA, "127.0.0.1", now()).unwrap();
        let wrong = check(&v, SELF_SIGNED_CA, "mail.example.org", now()).unwrap_err();
        assert!(
            wrong.contains("not valid for name") && wrong.contains("imap.host"),
            "{wrong}"
        );
        let expired = check(&v, SELF_SIGNED_CA, "localhost", far_future()).unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
    }

    #[test]
    fn a_self_signed_leaf_without_the_ca_flag_works_as_before() {
        let v = verifier(&[SELF_SIGNED_LEAF], None);
        check(&v, SELF_SIGNED_LEAF, "localhost", now()).unwrap();
        assert!(check(&v, SELF_SIGNED_LEAF, "localhost", far_future()).is_err());
    }

    #[test]
    fn a_ca_flagged_leaf_not_in_the_ca_file_is_refused_in_words() {
        let v = verifier(&[OTHER], None);
        let err = check(&v, SELF_SIGNED_CA, "localhost", now()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "certificate for localhost is self-signed and marked as a CA; pin it with \
                 imap.tls_pin = \"{SPKI_PIN}\" or put exactly this certificate in imap.ca_file"
            )
        );
        let v = verifier(&[SELF_SIGNED_CA], None);
        let err = check(&v, SELF_SIGNED_LEAF, "localhost", now()).unwrap_err();
        assert!(err.contains("not issued by a CA in imap.ca_file"), "{err}");
    }

    #[test]
    fn a_pin_replaces_the_chain_but_not_the_dates_or_the_name() {
        for pin in [SPKI_PIN, CERT_PIN] {
            let v = verifier(&[], Some(pin));
            check(&v, SELF_SIGNED_CA, "127.0.0.1", now()).unwrap();
            assert!(check(&v, SELF_SIGNED_CA, "localhost", far_future()).is_err());
            let name = check(&v, SELF_SIGNED_CA, "mail.example.org", now()).unwrap_err();
            assert!(name.contains("not valid for name"), "{name}");
        }
        // A pin is the only trust decision: even a certificate of the CA file must match it.
        let v = verifier(&[OTHER], Some(SPKI_PIN));
        let err = check(&v, OTHER, "127.0.0.1", now()).unwrap_err();
        assert!(
            err.starts_with("certificate for 127.0.0.1 does not match imap.tls_pin (got sha256/"),
            "{err}"
        );
        let v = verifier(&[], Some(CERT_PIN));
        let err = check(&v, OTHER, "127.0.0.1", now()).unwrap_err();
        assert!(err.contains("does not match imap.tls_pin (got "), "{err}");
    }
}

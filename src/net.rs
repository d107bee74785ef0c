//! What the IMAP and SMTP clients share about the network: the TLS client
//! configuration (which certificates a server may present: roots, the CA
//! file, a pin — see [`trust`]) and the capped exponential backoff with
//! jitter between attempts.
//!
//! I/O: reads the configured CA file and the system's root store when a TLS
//! configuration is built; nothing else (no sockets here). Must not: fall
//! back to plaintext, accept a certificate the roots, the CA file or the pin
//! do not vouch for, or decide when to retry (callers own their retry loops).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

mod trust;

pub use trust::{CertRefused, TlsPin};

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The CA file cannot be read or holds no usable certificate (`path` is
    /// "(TLS setup)" when rustls refuses the protocol settings).
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// What a server certificate is checked against, for one config section.
#[derive(Debug, Clone, Copy)]
pub struct TlsTrust<'a> {
    /// `"imap"` or `"smtp"`: names the config keys in error messages.
    pub section: &'static str,
    /// `<section>.ca_file`: its certificates are the only roots (and a
    /// self-signed leaf in it is accepted as itself).
    pub ca_file: Option<&'a Path>,
    /// `<section>.tls_pin`: the leaf must match it (replaces the chain).
    pub pin: Option<&'a TlsPin>,
}

/// The rustls client configuration for a connection to `host`: the
/// certificates of `ca_file` as the only roots when one is configured,
/// otherwise the system's roots, checked by [`trust::PrivateServerVerifier`]
/// (webpki plus the pin and exact-match rules; verification is never off).
/// Implicit TLS and STARTTLS, for IMAP and SMTP, all use it.
///
/// # Errors
/// [`TlsSetupError::CaFile`] when the CA file is unusable.
pub fn client_config(
    host: &str,
    trust: &TlsTrust<'_>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let setup_err = |reason: String| TlsSetupError::CaFile {
        path: "(TLS setup)".into(),
        reason,
    };
    let (roots, ca_certs) = match trust.ca_file {
        Some(path) => {
            let certs = ca_file_certs(path)?;
            (roots_of(path, &certs)?, certs)
        }
        None => (native_roots(), Vec::new()),
    };
    tracing::debug!(
        host,
        roots = roots.len(),
        pinned = trust.pin.is_some(),
        "TLS client configuration built"
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = trust::PrivateServerVerifier::new(
        roots,
        ca_certs,
        trust.pin.cloned(),
        trust.section,
        provider.clone(),
    )
    .map_err(setup_err)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup_err(e.to_string()))?
        // NOTE: `dangerous()` is only rustls' name for "custom verifier"; ours
        // wraps webpki and is stricter or equal, never looser.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// [`client_config`] as a tokio connector.
///
/// # Errors
/// As [`client_config`].
pub fn tls_connector(
    host: &str,
    trust: &TlsTrust<'_>,
) -> Result<tokio_rustls::TlsConnector, TlsSetupError> {
    Ok(tokio_rustls::TlsConnector::from(client_config(
        host, trust,
    )?))
}

/// A failed TLS handshake in words: the verifier's own explanation when it
/// refused the certificate, otherwise the error as rustls put it.
pub fn tls_error_text(error: &std::io::Error) -> String {
    let refused = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|e| match e {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                other.0.downcast_ref::<CertRefused>()
            }
            _ => None,
        });
    match refused {
        Some(r) => r.to_string(),
        None => error.to_string(),
    }
}

fn ca_file_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let ca_err = |reason: String| TlsSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_err("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn roots_of(
    path: &Path,
    certs: &[CertificateDer<'static>],
) -> Result<rustls::RootCertStore, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert.clone()).map_err(|e| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    // NOTE: an unparsable system certificate is skipped, as before.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

/// Capped exponential backoff with ±25% jitter (never under 100 ms):
/// `base · 2^attempts`, at most `max`.
pub fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.min(16));
    let capped = exp.min(max);
    let jitter = 0.75 + fastrand::f64() * 0.5;
    capped.mul_f64(jitter).max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(60);
        assert!(backoff(base, max, 0) <= Duration::from_secs_f64(6.25));
        assert!(backoff(base, max, 10) <= Duration::from_secs(75));
        assert!(backoff(base, max, 10) >= Duration::from_secs(45));
        assert!(backoff(base, max, 200) <= Duration::from_secs(75));
    }
}

//! What the IMAP and SMTP clients share about the network: the TLS client
//! configuration (which roots a server certificate must chain to) and the
//! capped exponential backoff with jitter between attempts.
//!
//! I/O: reads the configured CA file and the system's root store when a TLS
//! configuration is built; nothing else (no sockets here). Must not: fall
//! back to plaintext, accept a certificate the roots do not vouch for, or
//! decide when to retry (callers own their retry loops).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The CA file cannot be read or holds no usable certificate (`path` is
    /// "(TLS setup)" when rustls refuses the protocol settings).
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    /// lettre refused the STARTTLS parameters (SMTP only).
    #[error("{0}")]
    Smtp(String),
}

/// The rustls client configuration for a connection to `host`: the
/// certificates of `ca_file` as the only roots when one is configured,
/// otherwise the system's roots. Implicit TLS (IMAP and SMTP) and IMAP
/// STARTTLS use it.
///
/// # Errors
/// [`TlsSetupError::CaFile`] when the CA file is unusable.
pub fn client_config(
    host: &str,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let roots = match ca_file {
        Some(path) => ca_file_roots(path)?,
        None => native_roots(),
    };
    tracing::debug!(host, roots = roots.len(), "TLS client configuration built");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::CaFile {
            path: "(TLS setup)".into(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// [`client_config`] as a tokio connector.
///
/// # Errors
/// As [`client_config`].
pub fn tls_connector(
    host: &str,
    ca_file: Option<&Path>,
) -> Result<tokio_rustls::TlsConnector, TlsSetupError> {
    Ok(tokio_rustls::TlsConnector::from(client_config(
        host, ca_file,
    )?))
}

/// lettre's parameters for SMTP STARTTLS to `host` (lettre runs that
/// handshake itself and takes no rustls configuration from outside): the
/// system's roots, plus the certificate of `ca_file` when one is configured.
///
/// # Errors
/// [`TlsSetupError::Smtp`] when the CA file is unusable.
pub fn smtp_starttls_parameters(
    host: &str,
    ca_file: Option<&Path>,
) -> Result<TlsParameters, TlsSetupError> {
    let mut params = TlsParameters::builder(host.to_string());
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            TlsSetupError::Smtp(format!("cannot read CA file {}: {e}", ca.display()))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            TlsSetupError::Smtp(format!(
                "CA file {} is not a PEM certificate: {e}",
                ca.display()
            ))
        })?;
        params = params.add_root_certificate(cert);
    }
    params
        .build_rustls()
        .map_err(|e| TlsSetupError::Smtp(e.to_string()))
}

fn ca_file_roots(path: &Path) -> Result<rustls::RootCertStore, TlsSetupError> {
    let ca_err = |reason: String| TlsSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
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

//! SMTP submission with lettre: implicit TLS or STARTTLS (never a silent
//! downgrade), AUTH, a timeout on every call, pooled connections.
//!
//! I/O: network. Sends bytes that are already composed; never logs them.

use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{SmtpConfig, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot set up SMTP to {host}:{port}: {reason}")]
    Setup {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("SMTP server rejected the message permanently: {reason}")]
    Permanent { reason: String },
    #[error("cannot send over SMTP (will retry): {reason}")]
    Transient { reason: String },
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent { .. })
    }
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from_address: Address,
    timeout: Duration,
}

impl SmtpSender {
    /// # Errors
    /// [`SendError::Setup`] when the CA file or addresses are unusable.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, SendError> {
        let setup = |reason: String| SendError::Setup {
            host: config.host.clone(),
            port: config.port,
            reason,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .timeout(Some(config.timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(2)
                        .idle_timeout(Duration::from_secs(60)),
                );
        let tls_parameters = || -> Result<TlsParameters, SendError> {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(ca) = &config.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| setup(format!("cannot read CA file {}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    setup(format!(
                        "CA file {} is not a PEM certificate: {e}",
                        ca.display()
                    ))
                })?;
                params = params.add_root_certificate(cert);
            }
            params.build_rustls().map_err(|e| setup(e.to_string()))
        };
        builder = match config.tls {
            TlsMode::Implicit => builder.tls(Tls::Wrapper(tls_parameters()?)),
            TlsMode::Starttls => builder.tls(Tls::Required(tls_parameters()?)),
            TlsMode::None => builder.tls(Tls::None),
        };
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let from_address: Address = config
            .from_address
            .parse()
            .map_err(|e| setup(format!("smtp.from is not an address: {e}")))?;
        Ok(SmtpSender {
            transport: builder.build(),
            from_address,
            timeout: config.timeout,
        })
    }

    /// Send composed bytes to the envelope recipients `to`.
    ///
    /// # Errors
    /// [`SendError::Permanent`] on a 5xx reply, [`SendError::Transient`] otherwise.
    pub async fn send(&self, to: &[&str], message: &[u8]) -> Result<(), SendError> {
        let to: Vec<Address> = to
            .iter()
            .map(|t| {
                t.parse().map_err(|e| SendError::Permanent {
                    reason: format!("recipient is not an address: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        let envelope = Envelope::new(Some(self.from_address.clone()), to).map_err(|e| {
            SendError::Permanent {
                reason: e.to_string(),
            }
        })?;
        // NOTE: lettre applies the timeout per command; this bounds the whole exchange too.
        let whole = self.timeout * 4;
        match tokio::time::timeout(whole, self.transport.send_raw(&envelope, message)).await {
            Err(_) => Err(SendError::Transient {
                reason: format!("no answer within {}s", whole.as_secs()),
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent {
                reason: e.to_string(),
            }),
            Ok(Err(e)) => Err(SendError::Transient {
                reason: error_chain(&e),
            }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

//! SMTP submission with lettre's connection layer: implicit TLS or STARTTLS
//! (never a silent downgrade), AUTH, a timeout on every exchange, and a small
//! pool of reused connections with TCP_NODELAY (lettre writes the final
//! `.` of DATA separately; with Nagle that costs a 40 ms delayed-ACK stall
//! per message).
//!
//! STARTTLS is negotiated by `starttls` so that both TLS modes use the
//! certificate rules of `crate::net` (CA file, pins).
//!
//! I/O: network (TLS settings from `crate::net`). Sends bytes that are
//! already composed; never logs them.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Mail, Rset};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::rustls::pki_types::ServerName;
use tracing::{debug, info, warn};

use crate::config::{SmtpConfig, TlsMode};

mod starttls;

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

/// Implicit-TLS stream in the shape lettre's connection layer takes.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// One step of opening an SMTP session (named in `check-config --connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SmtpStep {
    /// TCP connection to `smtp.host`:`smtp.port`.
    Connect,
    /// Implicit TLS or STARTTLS, with the certificate check.
    Tls,
    /// Greeting and EHLO (over TLS unless `smtp.tls = "none"`).
    Ehlo,
    /// SMTP AUTH as `smtp.user`.
    Auth,
    /// `MAIL FROM:<smtp.from>` accepted (then RSET; nothing is sent).
    Sender,
}

impl SmtpStep {
    /// A short name for the step.
    pub fn name(self) -> &'static str {
        match self {
            SmtpStep::Connect => "connect",
            SmtpStep::Tls => "TLS",
            SmtpStep::Ehlo => "EHLO",
            SmtpStep::Auth => "AUTH",
            SmtpStep::Sender => "MAIL FROM",
        }
    }

    /// The config keys to look at when this step fails.
    pub fn keys(self) -> &'static str {
        match self {
            SmtpStep::Connect => "smtp.host / smtp.port",
            SmtpStep::Tls => "smtp.tls / smtp.ca_file / smtp.tls_pin",
            SmtpStep::Ehlo => "smtp.port / smtp.tls",
            SmtpStep::Auth => "smtp.user / smtp.password_file",
            SmtpStep::Sender => "smtp.from",
        }
    }
}

/// Sends composed messages; holds up to `pool_size` open connections.
pub struct SmtpSender {
    config: SmtpConfig,
    from_address: Address,
    hello: ClientId,
    hello_domain: String,
    pool: Mutex<Vec<AsyncSmtpConnection>>,
    pool_size: usize,
    /// Implicit TLS and STARTTLS (our own configuration: CA file, pin).
    tls_connector: Option<tokio_rustls::TlsConnector>,
    /// Set while new connections fail: only the first failure is a warning.
    failing: AtomicBool,
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
        let from_address: Address = config
            .from_address
            .parse()
            .map_err(|e| setup(format!("smtp.from is not an address: {e}")))?;
        let trust = crate::net::TlsTrust {
            section: "smtp",
            ca_file: config.ca_file.as_deref(),
            pin: config.tls_pin.as_ref(),
        };
        let tls_connector = match config.tls {
            TlsMode::None => None,
            TlsMode::Implicit | TlsMode::Starttls => Some(
                crate::net::tls_connector(&config.host, &trust)
                    .map_err(|e| setup(e.to_string()))?,
            ),
        };
        let domain = config
            .from_address
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
            .to_string();
        Ok(SmtpSender {
            config: config.clone(),
            from_address,
            hello: ClientId::Domain(domain.clone()),
            hello_domain: domain,
            pool: Mutex::new(Vec::new()),
            pool_size: config.connections,
            tls_connector,
            failing: AtomicBool::new(false),
        })
    }

    /// How many sends may run at once (one connection each).
    pub fn concurrency(&self) -> usize {
        self.pool_size
    }

    /// Is the SMTP server unreachable since the last failed connect? (Then
    /// that failure was logged once already; callers log retries quietly.)
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// A new session; the first of a run of failures is logged as a warning
    /// with its reason, the rest at debug level, until one succeeds.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        match self.open().await {
            Ok(conn) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    info!("SMTP server reachable again");
                }
                Ok(conn)
            }
            Err((step, e)) => {
                if self.failing.swap(true, Ordering::Relaxed) {
                    debug!(step = step.name(), error = %e, "SMTP still failing");
                } else {
                    warn!(step = step.name(), error = %e, keys = step.keys(),
                        "cannot open an SMTP session; retrying quietly with backoff until it works");
                }
                Err(e)
            }
        }
    }

    /// TCP, TLS, EHLO and AUTH, each within `smtp.timeout_secs`; an error
    /// names the step that failed.
    async fn open(&self) -> Result<AsyncSmtpConnection, (SmtpStep, SendError)> {
        let c = &self.config;
        let transient = |step, reason: String| (step, SendError::Transient { reason });
        let within = |step: SmtpStep| {
            move |_| {
                transient(
                    step,
                    format!("{} timed out after {}s", step.name(), c.timeout.as_secs()),
                )
            }
        };
        let tcp = tokio::time::timeout(c.timeout, TcpStream::connect((c.host.as_str(), c.port)))
            .await
            .map_err(within(SmtpStep::Connect))?
            .map_err(|e| {
                transient(
                    SmtpStep::Connect,
                    format!("cannot connect to {}:{}: {e}", c.host, c.port),
                )
            })?;
        let _ = tcp.set_nodelay(true);
        let tls_failed = |e: String| {
            transient(
                SmtpStep::Tls,
                format!("cannot establish TLS with {}:{}: {e}", c.host, c.port),
            )
        };
        let stream: Box<dyn AsyncTokioStream> = match (&self.tls_connector, c.tls) {
            (Some(connector), TlsMode::Starttls) => {
                let upgrade = starttls::starttls(tcp, &self.hello_domain, &c.host, connector);
                let upgraded = tokio::time::timeout(c.timeout, upgrade)
                    .await
                    .map_err(within(SmtpStep::Tls))?
                    .map_err(|e| tls_failed(format!("STARTTLS: {e}")))?;
                Box::new(upgraded)
            }
            (Some(connector), _) => {
                let name =
                    ServerName::try_from(c.host.clone()).map_err(|e| tls_failed(e.to_string()))?;
                let tls = tokio::time::timeout(c.timeout, connector.connect(name, tcp))
                    .await
                    .map_err(within(SmtpStep::Tls))?
                    .map_err(|e| tls_failed(crate::net::tls_error_text(&e)))?;
                Box::new(TlsTcp(tls))
            }
            (None, _) => Box::new(tcp),
        };
        let hello = AsyncSmtpConnection::connect_with_transport(stream, &self.hello);
        let mut conn = tokio::time::timeout(c.timeout, hello)
            .await
            .map_err(within(SmtpStep::Ehlo))?
            .map_err(|e| transient(SmtpStep::Ehlo, error_chain(&e)))?;
        if let (Some(user), Some(password)) = (&c.user, &c.password) {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            let auth = conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials);
            tokio::time::timeout(c.timeout, auth)
                .await
                .map_err(within(SmtpStep::Auth))?
                .map_err(|e| {
                    let reason = format!("SMTP AUTH as {user} failed: {}", error_chain(&e));
                    let error = if e.is_permanent() {
                        SendError::Permanent { reason }
                    } else {
                        SendError::Transient { reason }
                    };
                    (SmtpStep::Auth, error)
                })?;
        }
        Ok(conn)
    }

    /// `check-config --connect`: open a session (TCP, TLS, EHLO, AUTH), have
    /// `MAIL FROM:<smtp.from>` accepted, then RSET and QUIT. Sends nothing.
    ///
    /// # Errors
    /// The step that failed and why; every step before it passed.
    pub async fn probe(&self) -> Result<(), (SmtpStep, String)> {
        let mut conn = self.open().await.map_err(|(s, e)| (s, e.to_string()))?;
        let timeout = self.config.timeout;
        let sender = async {
            conn.command(Mail::new(Some(self.from_address.clone()), Vec::new()))
                .await?;
            conn.command(Rset).await
        };
        let result = match tokio::time::timeout(timeout, sender).await {
            Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
            Ok(Err(e)) => Err(format!(
                "MAIL FROM:<{}> refused: {}",
                self.from_address,
                error_chain(&e)
            )),
            Ok(Ok(_)) => Ok(()),
        };
        let _ = tokio::time::timeout(timeout, conn.quit()).await;
        result.map_err(|e| (SmtpStep::Sender, e))
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
        let whole = self.config.timeout * 4;
        let pooled = self.pool.lock().await.pop();
        let mut conn = match pooled {
            Some(conn) if !conn.has_broken() => conn,
            _ => match tokio::time::timeout(self.config.timeout * 2, self.connect()).await {
                Err(_) => {
                    return Err(SendError::Transient {
                        reason: format!(
                            "no SMTP session within {}s",
                            (self.config.timeout * 2).as_secs()
                        ),
                    })
                }
                Ok(result) => result?,
            },
        };
        let result = match tokio::time::timeout(whole, conn.send(&envelope, message)).await {
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
        };
        match &result {
            // A rejected message leaves the session usable (RSET is implied by the next MAIL).
            Ok(()) | Err(SendError::Permanent { .. }) if !conn.has_broken() => {
                let mut pool = self.pool.lock().await;
                if pool.len() < self.pool_size {
                    pool.push(conn);
                }
            }
            _ => conn.abort().await,
        }
        result
    }

    /// Close pooled connections politely.
    pub async fn close(&self) {
        let conns: Vec<_> = self.pool.lock().await.drain(..).collect();
        for mut conn in conns {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
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

//! SMTP STARTTLS (RFC 3207) up to the TLS handshake, so that the handshake
//! uses our own rustls configuration (`crate::net`: CA file, pins, the
//! exact-match rule); lettre 0.11 runs STARTTLS only with a rustls
//! configuration it builds itself. After the handshake lettre takes over:
//! it reads the greeting (replayed from the plaintext phase), sends EHLO
//! again over TLS as RFC 3207 requires, and does everything else.
//!
//! I/O: the given TCP stream only. Must not: continue without TLS, or keep
//! bytes the server sent before the handshake (a STARTTLS injection).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

/// Longest plaintext reply we read (EHLO lists are short).
const MAX_REPLY: usize = 16 * 1024;

/// The TLS stream after STARTTLS, first replaying the server's greeting.
#[derive(Debug)]
pub(super) struct Upgraded {
    greeting: Vec<u8>,
    pos: usize,
    tls: tokio_rustls::client::TlsStream<TcpStream>,
}

/// Greeting, EHLO, STARTTLS in plaintext, then the TLS handshake.
///
/// # Errors
/// What went wrong, in words: a reply other than expected, no STARTTLS
/// offered, bytes after the 220 to STARTTLS, or the handshake (with the
/// verifier's explanation of a refused certificate).
pub(super) async fn starttls(
    tcp: TcpStream,
    hello: &str,
    host: &str,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Upgraded, String> {
    let mut reader = BufReader::new(tcp);
    let (code, greeting) = read_reply(&mut reader).await?;
    if code != 220 {
        return Err(format!("unexpected greeting: {}", text(&greeting)));
    }
    send(&mut reader, &format!("EHLO {hello}\r\n")).await?;
    let (code, ehlo) = read_reply(&mut reader).await?;
    if code != 250 {
        return Err(format!("EHLO refused: {}", text(&ehlo)));
    }
    let offered = text(&ehlo).lines().any(|line| {
        line.get(4..)
            .is_some_and(|kw| kw.trim().eq_ignore_ascii_case("STARTTLS"))
    });
    if !offered {
        return Err("the server does not offer STARTTLS (never continued in plaintext)".into());
    }
    send(&mut reader, "STARTTLS\r\n").await?;
    let (code, reply) = read_reply(&mut reader).await?;
    if code != 220 {
        return Err(format!("STARTTLS refused: {}", text(&reply)));
    }
    if !reader.buffer().is_empty() {
        return Err("the server sent data before the TLS handshake (refused)".into());
    }
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, reader.into_inner())
        .await
        .map_err(|e| format!("TLS handshake: {}", crate::net::tls_error_text(&e)))?;
    Ok(Upgraded {
        greeting,
        pos: 0,
        tls,
    })
}

async fn send(reader: &mut BufReader<TcpStream>, line: &str) -> Result<(), String> {
    let stream = reader.get_mut();
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot write to the server: {e}"))
}

/// One (possibly multi-line) reply: its code and its raw bytes.
async fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<(u16, Vec<u8>), String> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        let n = reader
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| format!("cannot read from the server: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        if raw.len() > MAX_REPLY {
            return Err("reply too long".into());
        }
        let line = &raw[start..];
        let code = std::str::from_utf8(line.get(..3).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("not an SMTP reply: {}", text(line)))?;
        if line.get(3) != Some(&b'-') {
            return Ok((code, raw));
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.greeting.len() {
            let n = buf.remaining().min(this.greeting.len() - this.pos);
            buf.put_slice(&this.greeting[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Upgraded {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.tls.get_ref().0.peer_addr()
    }
}

//! The opt-in metrics endpoint: binds `metrics.listen` (loopback TCP or a
//! unix socket) and answers `GET /metrics` (and `HEAD`) with the OpenMetrics
//! text of [`super::encode_text`].
//!
//! A deliberately small HTTP/1.1 responder instead of an HTTP server crate
//! (none is in the dependency tree, and the endpoint needs one route): it
//! reads at most [`MAX_HEAD`] bytes of request head within [`READ_TIMEOUT`],
//! answers 400 to anything that is not a well-formed request line and
//! header block, 404 to any other path, 405 to any other method, 408 on a
//! slow client, 431 on an oversized head, then closes the connection. At
//! most [`MAX_CONNECTIONS`] are served at once. Request bodies are never
//! read.
//!
//! I/O: one listening socket and its connections. Must not: listen on
//! anything but what validation allowed, log request contents, or stop the
//! daemon on a client's error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::MetricsListen;

/// Largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to write the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once (more wait in the kernel's backlog).
pub const MAX_CONNECTIONS: usize = 8;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A bound endpoint, ready for [`serve`].
pub enum Listener {
    Tcp(TcpListener),
    /// The socket and its path (removed when serving ends).
    Unix(UnixListener, PathBuf),
}

/// Bind `listen`. A leftover unix socket that nobody answers on is replaced;
/// one in use is an error.
///
/// # Errors
/// The address is taken, not permitted, or the socket's directory is missing.
pub async fn bind(listen: &MetricsListen) -> std::io::Result<Listener> {
    match listen {
        MetricsListen::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr).await?)),
        MetricsListen::Unix(path) => {
            if std::fs::symlink_metadata(path).is_ok()
                && tokio::net::UnixStream::connect(path).await.is_err()
            {
                // NOTE: a stale socket from a previous run (nothing listens on it).
                std::fs::remove_file(path)?;
            }
            Ok(Listener::Unix(UnixListener::bind(path)?, path.clone()))
        }
    }
}

/// Serve until `cancel`; connections in flight are dropped then.
pub async fn serve(listener: Listener, cancel: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p,
            _ = cancel.cancelled() => break,
        };
        // NOTE: the semaphore is never closed, so acquiring cannot fail.
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = cancel.cancelled() => break,
        };
        match accepted {
            Ok(Conn::Tcp(stream)) => {
                connections.spawn(async move {
                    handle(stream).await;
                    drop(permit);
                });
            }
            Ok(Conn::Unix(stream)) => {
                connections.spawn(async move {
                    handle(stream).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // NOTE: e.g. EMFILE; back off briefly instead of spinning.
                warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    connections.abort_all();
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
    info!("metrics endpoint stopped");
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Conn> {
    match listener {
        Listener::Tcp(l) => Ok(Conn::Tcp(l.accept().await?.0)),
        Listener::Unix(l, _) => Ok(Conn::Unix(l.accept().await?.0)),
    }
}

/// One connection: read the head (bounded), answer, close.
async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Response::error(408, "Request Timeout"),
        Ok(Err(e)) => {
            debug!(error = %e, "metrics endpoint: client went away");
            return;
        }
        Ok(Ok(None)) => Response::error(431, "Request Header Fields Too Large"),
        Ok(Ok(Some(head))) => route(&head),
    };
    let bytes = response.into_bytes();
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
}

/// Read up to the blank line ending the head; `None` when it exceeds [`MAX_HEAD`].
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // NOTE: EOF before the blank line: whatever came is judged (garbage gets a 400).
            return Ok(Some(head));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_end(&head) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Index just past the blank line (`\r\n\r\n`, or `\n\n` from lenient clients).
fn find_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A response to write.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: &'static str,
    pub content_type: &'static str,
    pub body: String,
    /// `HEAD`: the headers of the GET response without its body.
    pub head_only: bool,
}

impl Response {
    fn error(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {reason}\n"),
            head_only: false,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let allow = if self.status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The answer to a complete request head. Pure.
pub fn route(head: &[u8]) -> Response {
    let Some((method, path)) = parse_head(head) else {
        return Response::error(400, "Bad Request");
    };
    if path != "/metrics" {
        return Response::error(404, "Not Found");
    }
    if method != "GET" && method != "HEAD" {
        return Response::error(405, "Method Not Allowed");
    }
    Response {
        status: 200,
        reason: "OK",
        content_type: OPENMETRICS,
        body: super::encode_text(),
        head_only: method == "HEAD",
    }
}

/// Method and path (query dropped) of a well-formed HTTP/1.x request head.
fn parse_head(head: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(head).ok()?;
    let text = text
        .strip_suffix("\r\n\r\n")
        .or_else(|| text.strip_suffix("\n\n"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    if parts.next().is_some()
        || !token(method)
        || !matches!(version, "HTTP/1.1" | "HTTP/1.0")
        || !target.starts_with('/')
        || !target.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    for line in lines {
        let (name, _) = line.split_once(':')?;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !name_ok || line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return None;
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Some((method, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str) -> u16 {
        route(head.as_bytes()).status
    }

    #[test]
    fn answers_only_get_metrics() {
        let ok = route(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
        assert_eq!(ok.status, 200);
        assert_eq!(ok.content_type, OPENMETRICS);
        assert!(ok.body.ends_with("# EOF\n"));
        assert_eq!(status("GET /metrics?x=1 HTTP/1.0\n\n"), 200);
        let head = route(b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.head_only);
        let bytes = String::from_utf8(head.into_bytes()).unwrap();
        assert!(bytes.ends_with("\r\n\r\n"), "{bytes}");
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status("GET /metrics/../etc HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(
            status("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            405
        );
        let r = String::from_utf8(route(b"PUT /metrics HTTP/1.1\r\n\r\n").into_bytes()).unwrap();
        assert!(r.contains("Allow: GET, HEAD\r\n"), "{r}");
    }

    #[test]
    fn garbage_is_a_bad_request() {
        for bad in [
            "",
            "\r\n\r\n",
            "hello\r\n\r\n",
            "GET /metrics\r\n\r\n",
            "GET /metrics HTTP/2\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "get /metrics HTTP/1.1\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nX\u{1}: y\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: a\r\n",
            "\u{16}\u{3}\u{1}\u{2}\u{0}",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
        assert_eq!(route(&[0xff, 0xfe, b'\n', b'\n']).status, 400);
    }

    #[tokio::test]
    async fn serves_over_tcp_with_bounds() {
        let listen = MetricsListen::Tcp("127.0.0.1:0".parse().unwrap());
        let listener = bind(&listen).await.unwrap();
        let Listener::Tcp(tcp) = &listener else {
            unreachable!()
        };
        let addr = tcp.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(listener, cancel.clone()));

        let ask = |req: Vec<u8>| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&req).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("hexon_triage_messages_fetched_total"), "{ok}");
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(ask(big).await.starts_with("HTTP/1.1 431 "));
        cancel.cancel();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn replaces_a_stale_unix_socket_and_removes_it_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // stale: nobody listens
        let listen = MetricsListen::Unix(path.clone());
        let listener = bind(&listen).await.unwrap();
        assert!(
            bind(&listen).await.is_err(),
            "a socket in use is not taken over"
        );
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(listener, cancel.clone()));
        let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 404 "), "{out}");
        cancel.cancel();
        server.await.unwrap();
        assert!(!path.exists());
    }
}

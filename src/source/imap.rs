//! IMAP client side: connect (implicit TLS or STARTTLS, never a silent
//! downgrade), SELECT with UIDVALIDITY, UID FETCH since a cursor, IDLE,
//! keyword/move marking, APPEND.
//!
//! I/O: network only, every call bounded by the configured timeout (the TLS
//! configuration comes from `crate::net`). It never decides anything about a
//! message; the daemon does.

use std::fmt;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::sync::CancellationToken;

use crate::config::{ImapConfig, MarkMode, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to IMAP server {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot establish TLS with IMAP server {host}:{port}: {reason}")]
    Tls {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("IMAP server {host} refused STARTTLS: {reason}")]
    Starttls { host: String, reason: String },
    #[error("IMAP login as {user} failed: {reason}")]
    Login { user: String, reason: String },
    #[error("IMAP {operation} timed out after {seconds}s")]
    Timeout {
        operation: &'static str,
        seconds: u64,
    },
    #[error("IMAP {operation} failed: {reason}")]
    Protocol {
        operation: &'static str,
        reason: String,
    },
    /// The server answered NO or BAD: retrying the same command will not help
    /// (TRYCREATE after a failed CREATE, an invalid name, over quota, too big).
    #[error("IMAP server refused {operation}: {reason}")]
    Refused {
        operation: &'static str,
        reason: String,
    },
    #[error("IMAP mailbox {mailbox} has no UIDVALIDITY")]
    NoUidValidity { mailbox: String },
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

pub type Result<T, E = ImapError> = std::result::Result<T, E>;

/// Any stream async-imap can drive (plain TCP or TLS over it).
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapStream for T {}

pub type Session = async_imap::Session<Box<dyn ImapStream>>;

/// The state of the selected mailbox.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub uidvalidity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
}

/// One fetched message.
#[derive(Debug)]
pub struct Fetched {
    pub uid: u32,
    /// The whole message, or with `oversize` its header section only.
    pub raw: Vec<u8>,
    /// `Some(size)`: the server reported `size` bytes (RFC822.SIZE), past the
    /// limit given to [`fetch`]; the body was never fetched.
    pub oversize: Option<u64>,
}

/// Bytes of the header section fetched of an oversize message (a longer
/// one is cut; it is kept for the record, not parsed for content).
pub const OVERSIZE_HEADER_BYTES: usize = 1024 * 1024;

async fn timed<T, E: fmt::Display>(
    seconds: Duration,
    operation: &'static str,
    fut: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(seconds, fut).await {
        Err(_) => Err(ImapError::Timeout {
            operation,
            seconds: seconds.as_secs(),
        }),
        Ok(Err(e)) => Err(ImapError::Protocol {
            operation,
            reason: e.to_string(),
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

impl ImapError {
    /// A permanent refusal by the server (NO/BAD), not a lost connection or a
    /// timeout.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ImapError::Refused { .. })
    }
}

/// Like [`timed`], but a NO or BAD from the server becomes
/// [`ImapError::Refused`] with the server's text; NO with a code that says
/// "later" (RFC 5530 UNAVAILABLE, INUSE, SERVERBUG) stays transient.
async fn timed_refusable<T>(
    seconds: Duration,
    operation: &'static str,
    fut: impl std::future::Future<Output = async_imap::error::Result<T>>,
) -> Result<T> {
    use async_imap::error::Error;
    let refused = |reason: String| ImapError::Refused { operation, reason };
    match tokio::time::timeout(seconds, fut).await {
        Err(_) => Err(ImapError::Timeout {
            operation,
            seconds: seconds.as_secs(),
        }),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Error::No(text))) if !is_transient_refusal(&text) => {
            Err(refused(server_text("NO", &text)))
        }
        Ok(Err(Error::Bad(text))) => Err(refused(server_text("BAD", &text))),
        Ok(Err(Error::Append)) => Err(refused(
            "the server answered the APPEND without asking for the message".into(),
        )),
        Ok(Err(e @ Error::Validate(_))) => Err(refused(e.to_string())),
        Ok(Err(e)) => Err(ImapError::Protocol {
            operation,
            reason: e.to_string(),
        }),
    }
}

/// RFC 5530 response codes of a NO that may succeed when tried again later.
fn is_transient_refusal(text: &str) -> bool {
    ["[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]"]
        .iter()
        .any(|code| text.contains(code))
}

/// async-imap's `code: Some(TryCreate), info: Some("…")` as the server said
/// it: `NO [TRYCREATE] …`.
fn server_text(status: &str, text: &str) -> String {
    let code = text
        .strip_prefix("code: Some(")
        .and_then(|rest| rest.split_once("), info: "))
        .map(|(code, _)| format!(" [{}]", code.to_ascii_uppercase()));
    let info = text
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .map(|info| info.replace("\\\"", "\""));
    match info {
        Some(info) => format!("{status}{} {info}", code.unwrap_or_default()),
        None => format!("{status} {text}"),
    }
}

/// The TLS setup error as the IMAP error it always was.
fn tls_setup_error(e: crate::net::TlsSetupError) -> ImapError {
    match e {
        crate::net::TlsSetupError::CaFile { path, reason } => ImapError::CaFile { path, reason },
    }
}

async fn wrap_tls(config: &ImapConfig, tcp: TcpStream) -> Result<Box<dyn ImapStream>> {
    let tls_err = |reason: String| ImapError::Tls {
        host: config.host.clone(),
        port: config.port,
        reason,
    };
    let trust = crate::net::TlsTrust {
        section: "imap",
        ca_file: config.ca_file.as_deref(),
        pin: config.tls_pin.as_ref(),
    };
    let connector = crate::net::tls_connector(&config.host, &trust).map_err(tls_setup_error)?;
    let name = ServerName::try_from(config.host.clone()).map_err(|e| tls_err(e.to_string()))?;
    let stream = tokio::time::timeout(config.timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_err("handshake timed out".into()))?
        .map_err(|e| tls_err(crate::net::tls_error_text(&e)))?;
    Ok(Box::new(stream))
}

/// Connect, secure and log in.
///
/// # Errors
/// [`ImapError`] naming the step that failed; a TLS failure is never retried in clear.
pub async fn connect(config: &ImapConfig) -> Result<Session> {
    let connect_err = |source| ImapError::Connect {
        host: config.host.clone(),
        port: config.port,
        source,
    };
    let tcp = tokio::time::timeout(
        config.timeout,
        TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await
    .map_err(|_| {
        connect_err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))
    })?
    .map_err(connect_err)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn ImapStream> = match config.tls {
        TlsMode::Implicit => wrap_tls(config, tcp).await?,
        TlsMode::None => Box::new(tcp),
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            timed(config.timeout, "greeting", client.read_response()).await?;
            timed(
                config.timeout,
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            .map_err(|e| ImapError::Starttls {
                host: config.host.clone(),
                reason: e.to_string(),
            })?;
            wrap_tls(config, client.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if config.tls != TlsMode::Starttls {
        timed(config.timeout, "greeting", client.read_response()).await?;
    }
    let login = tokio::time::timeout(
        config.timeout,
        client.login(&config.user, config.password.expose()),
    )
    .await
    .map_err(|_| ImapError::Timeout {
        operation: "LOGIN",
        seconds: config.timeout.as_secs(),
    })?;
    login.map_err(|(e, _)| ImapError::Login {
        user: config.user.clone(),
        reason: e.to_string(),
    })
}

/// SELECT `mailbox` and read its UIDVALIDITY.
pub async fn select(session: &mut Session, mailbox: &str, timeout: Duration) -> Result<Selected> {
    let mb = timed_refusable(timeout, "SELECT", session.select(mailbox)).await?;
    let uidvalidity = mb.uid_validity.ok_or_else(|| ImapError::NoUidValidity {
        mailbox: mailbox.to_string(),
    })?;
    Ok(Selected {
        uidvalidity,
        uid_next: mb.uid_next,
        exists: mb.exists,
    })
}

/// Keyword on the copies of our own replies that we APPEND: intake never
/// fetches them. Only an APPEND sets it (delivered mail cannot carry
/// keywords), so it cannot hide a report. Copies without it (older ones, or
/// Bcc copies delivered by the MTA) are still fetched and recognised by their
/// Message-ID.
pub const REPLY_KEYWORD: &str = "$HexonReply";

/// UIDs greater than `last_uid`, ascending, at most `limit`; our own reply
/// copies (see [`REPLY_KEYWORD`]) are left out.
pub async fn uids_after(
    session: &mut Session,
    last_uid: u32,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u32>> {
    let query = format!(
        "UID {}:* UNKEYWORD {REPLY_KEYWORD}",
        last_uid.saturating_add(1)
    );
    let found = timed(timeout, "UID SEARCH", session.uid_search(&query)).await?;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last_uid).collect();
    uids.sort_unstable();
    uids.truncate(limit);
    Ok(uids)
}

/// Those of `uids` the server still lists (not expunged, not our own reply
/// copies), ascending.
pub async fn uids_present(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<Vec<u32>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let query = format!("UID {} UNKEYWORD {REPLY_KEYWORD}", uid_set(uids));
    let found = timed(timeout, "UID SEARCH", session.uid_search(&query)).await?;
    let mut present: Vec<u32> = found.into_iter().filter(|u| uids.contains(u)).collect();
    present.sort_unstable();
    Ok(present)
}

/// The first of `uids` (ascending) whose sizes add up to at most `budget`
/// bytes; always at least one, so a message larger than the budget is
/// fetched on its own.
pub async fn within_budget(
    session: &mut Session,
    uids: &[u32],
    budget: usize,
    timeout: Duration,
) -> Result<Vec<u32>> {
    if uids.len() <= 1 {
        return Ok(uids.to_vec());
    }
    let size_of = sizes(session, uids, timeout).await?;
    let mut total = 0usize;
    let mut taken = Vec::new();
    for uid in uids {
        // NOTE: a UID without a size (expunged meanwhile) costs nothing to ask for.
        let size = size_of.get(uid).map_or(0, |s| *s as usize);
        if !taken.is_empty() && total + size > budget {
            break;
        }
        total += size;
        taken.push(*uid);
    }
    Ok(taken)
}

/// RFC822.SIZE of those of `uids` the server reports.
pub async fn sizes(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<std::collections::HashMap<u32, u64>> {
    if uids.is_empty() {
        return Ok(Default::default());
    }
    let set = uid_set(uids);
    let sizes = async {
        let stream = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
        stream.try_collect::<Vec<_>>().await
    };
    let fetched = timed(timeout, "UID FETCH", sizes).await?;
    Ok(fetched
        .iter()
        .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
        .collect())
}

/// UID FETCH `uids` (BODY.PEEK leaves \Seen alone), sizes first: a message
/// past `max_bytes` by its RFC822.SIZE is fetched as its header section only
/// (at most [`OVERSIZE_HEADER_BYTES`]) and marked [`Fetched::oversize`]; its
/// body never crosses the network. UIDs the server does not return are
/// absent from the result.
pub async fn fetch(
    session: &mut Session,
    uids: &[u32],
    max_bytes: usize,
    timeout: Duration,
) -> Result<Vec<Fetched>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let size_of = sizes(session, uids, timeout).await?;
    let too_big = |uid: &u32| size_of.get(uid).is_some_and(|s| *s > max_bytes as u64);
    let (big, normal): (Vec<u32>, Vec<u32>) = uids.iter().partition(|u| too_big(u));
    let mut out = fetch_items(session, &normal, "(UID BODY.PEEK[])", timeout, |f| f.body()).await?;
    let header_items = format!("(UID BODY.PEEK[HEADER]<0.{OVERSIZE_HEADER_BYTES}>)");
    let mut heads = fetch_items(session, &big, &header_items, timeout, |f| f.header()).await?;
    for head in &mut heads {
        head.oversize = size_of.get(&head.uid).copied();
    }
    out.append(&mut heads);
    out.sort_by_key(|f| f.uid);
    Ok(out)
}

/// One UID FETCH of `items` for `uids`, the bytes taken by `bytes_of`.
async fn fetch_items(
    session: &mut Session,
    uids: &[u32],
    items: &str,
    timeout: Duration,
    bytes_of: impl Fn(&async_imap::types::Fetch) -> Option<&[u8]>,
) -> Result<Vec<Fetched>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let fetch_all = async {
        let stream = session.uid_fetch(&set, items).await?;
        stream.try_collect::<Vec<_>>().await
    };
    let fetched = timed(timeout * 4, "UID FETCH", fetch_all).await?;
    Ok(fetched
        .iter()
        .filter_map(|f| {
            let uid = f.uid?;
            Some(Fetched {
                uid,
                raw: bytes_of(f)?.to_vec(),
                oversize: None,
            })
        })
        .filter(|f| uids.contains(&f.uid))
        .collect())
}

/// Mark committed messages: add the keyword, or move them.
pub async fn mark(
    session: &mut Session,
    uids: &[u32],
    config: &ImapConfig,
    folder: Option<&str>,
) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uid_set(uids);
    let keyword = format!("+FLAGS.SILENT ({})", config.keyword);
    let store = async {
        let stream = session.uid_store(&set, &keyword).await?;
        stream.try_collect::<Vec<_>>().await
    };
    timed(config.timeout, "UID STORE", store).await?;
    let target = folder.or(match config.mark {
        MarkMode::Move => Some(config.move_to.as_str()),
        MarkMode::Keyword => None,
    });
    if let Some(target) = target {
        ensure_folder(session, target, config.timeout).await?;
        timed(config.timeout, "UID MOVE", session.uid_mv(&set, target)).await?;
    }
    Ok(())
}

/// Create `folder` if it does not exist (errors from CREATE on an existing folder are ignored).
pub async fn ensure_folder(session: &mut Session, folder: &str, timeout: Duration) -> Result<()> {
    let _ = timed(timeout, "CREATE", session.create(folder)).await;
    Ok(())
}

/// APPEND a message (e.g. our ack copy) with flags. A refused APPEND is
/// tried once more after CREATE (the folder may not exist yet).
///
/// # Errors
/// [`ImapError::Refused`] when the server refuses it again (see
/// [`ImapError::is_refusal`]); other errors are transient.
pub async fn append(
    session: &mut Session,
    folder: &str,
    flags: &str,
    bytes: &[u8],
    timeout: Duration,
) -> Result<()> {
    let first = timed_refusable(
        timeout,
        "APPEND",
        session.append(folder, Some(flags), None, bytes),
    )
    .await;
    match first {
        Err(e) if e.is_refusal() => {
            ensure_folder(session, folder, timeout).await?;
            timed_refusable(
                timeout,
                "APPEND",
                session.append(folder, Some(flags), None, bytes),
            )
            .await
        }
        other => other,
    }
}

/// Does the server take several messages in one APPEND (MULTIAPPEND, RFC
/// 3502) with non-synchronizing literals (LITERAL+, RFC 7888)?
pub async fn supports_multiappend(session: &mut Session, timeout: Duration) -> Result<bool> {
    let caps = timed(timeout, "CAPABILITY", session.capabilities()).await?;
    Ok(caps.has_str("MULTIAPPEND") && caps.has_str("LITERAL+"))
}

/// APPEND `messages` to `folder` with `flags` in ONE command. With
/// `multiappend` (the server [`supports_multiappend`]) and UTF-8 messages
/// (async-imap takes commands as strings; our replies are 7-bit MIME) the
/// server stores all or none, under one lock, and a refusal carries the
/// server's reason; otherwise this is one [`append`] per message (not
/// atomic: pass one message at a time then). A refused command is tried once
/// more after CREATE.
///
/// # Errors
/// [`ImapError::Refused`] when the server refuses the command (then nothing
/// of a MULTIAPPEND was stored); other errors are transient.
pub async fn append_many(
    session: &mut Session,
    folder: &str,
    flags: &str,
    messages: &[&[u8]],
    multiappend: bool,
    timeout: Duration,
) -> Result<()> {
    let texts: Option<Vec<&str>> = messages
        .iter()
        .map(|m| std::str::from_utf8(m).ok())
        .collect();
    let (Some(texts), true) = (texts, multiappend && !messages.is_empty()) else {
        for message in messages {
            append(session, folder, flags, message, timeout).await?;
        }
        return Ok(());
    };
    let total: usize = texts.iter().map(|t| t.len()).sum();
    let mut command = String::with_capacity(total + 64 * texts.len() + folder.len() + 16);
    command.push_str("APPEND ");
    command.push_str(&quoted(folder));
    for text in &texts {
        command.push_str(&format!(" {flags} {{{}+}}\r\n", text.len()));
        command.push_str(text);
    }
    // NOTE: a little more time for a big command: about 1 s per MB on top.
    let limit = timeout + Duration::from_secs((total / 1_000_000) as u64);
    let first = timed_refusable(limit, "APPEND", session.run_command_and_check_ok(&command)).await;
    match first {
        Err(e) if e.is_refusal() => {
            ensure_folder(session, folder, timeout).await?;
            timed_refusable(limit, "APPEND", session.run_command_and_check_ok(&command)).await
        }
        other => other,
    }
}

/// A mailbox name as an IMAP quoted string.
fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Is a message with this Message-ID in the selected mailbox?
pub async fn has_message_id(
    session: &mut Session,
    message_id: &str,
    timeout: Duration,
) -> Result<bool> {
    let clean: String = message_id
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    let query = format!("HEADER Message-ID \"<{clean}>\"");
    let found = timed(timeout, "UID SEARCH", session.uid_search(&query)).await?;
    Ok(!found.is_empty())
}

/// Does the server offer IDLE?
pub async fn supports_idle(session: &mut Session, timeout: Duration) -> Result<bool> {
    let caps = timed(timeout, "CAPABILITY", session.capabilities()).await?;
    Ok(caps.has_str("IDLE"))
}

/// How an IDLE wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    NewData,
    Timeout,
    Cancelled,
}

/// IDLE until the server reports something, `wait` passes, or `cancel` fires.
/// Returns the session (after DONE) and why it woke.
pub async fn idle(
    session: Session,
    wait: Duration,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(Session, Wake)> {
    let mut handle = session.idle();
    timed(timeout, "IDLE", handle.init()).await?;
    let wake = {
        // NOTE: keepalives ("* OK Still here") reset the library's own timer,
        // so the outer timeout is what bounds the wait.
        let (fut, stop) = handle.wait_with_timeout(wait + timeout);
        let outcome = tokio::select! {
            r = tokio::time::timeout(wait, fut) => match r {
                Err(_) => Ok(Wake::Timeout),
                Ok(Ok(IdleResponse::NewData(_))) => Ok(Wake::NewData),
                Ok(Ok(IdleResponse::Timeout)) | Ok(Ok(IdleResponse::ManualInterrupt)) => Ok(Wake::Timeout),
                Ok(Err(e)) => Err(ImapError::Protocol { operation: "IDLE", reason: e.to_string() }),
            },
            _ = cancel.cancelled() => Ok(Wake::Cancelled),
        };
        drop(stop);
        outcome
    }?;
    let session = timed(timeout, "DONE", handle.done()).await?;
    Ok((session, wake))
}

pub async fn logout(mut session: Session, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, session.logout()).await;
}

/// A compact UID set: `1:3,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[3, 1, 2, 2]), "1:3");
    }

    #[test]
    fn refusals_read_as_the_server_said_them() {
        assert_eq!(
            server_text(
                "NO",
                "code: Some(TryCreate), info: Some(\"Mailbox doesn't exist: Nope (0.001 secs).\")"
            ),
            "NO [TRYCREATE] Mailbox doesn't exist: Nope (0.001 secs)."
        );
        assert_eq!(
            server_text(
                "NO",
                "code: None, info: Some(\"[CANNOT] Character not allowed: '.' \\\"x\\\"\")"
            ),
            "NO [CANNOT] Character not allowed: '.' \"x\""
        );
        assert_eq!(server_text("BAD", "garbled"), "BAD garbled");
        assert!(is_transient_refusal(
            "code: None, info: Some(\"[UNAVAILABLE] try later\")"
        ));
        assert!(!is_transient_refusal(
            "code: None, info: Some(\"[OVERQUOTA] Quota exceeded\")"
        ));
    }
}

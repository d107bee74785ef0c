//! The audit chain: every event is linked to the previous one by its hash.
//! With the audit key (derived from the team's key, [`crate::atrest`]) the
//! hash is an HMAC-SHA256, stored as `k1:<hex>`; without it (events from
//! before the keyed chain, or written by a CLI that has no team key) it is a
//! plain SHA-256 (`<hex>`), which a later keyed event covers through its
//! link. The chain's head is anchored outside the database ([`AuditHead`]):
//! an anchor file the daemon rewrites atomically ([`write_anchor`]) and the
//! `X-Hexon-Audit-Head` header of each reply copy.
//!
//! The key reaches [`append_event`] through a SQL function registered on the
//! store's own connection ([`register`]), so every writer that holds only a
//! transaction MACs its events; the key is never stored in the database.
//!
//! I/O: the `events` table; the anchor file. Must not: log or persist the key.

use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ts, Cached, Result, Store};

/// The prefix of a keyed (HMAC) event hash.
pub const KEYED_PREFIX: &str = "k1:";

/// The SQL function that computes an event's hash on this connection.
const HASH_FN: &str = "hexon_event_hash";

/// One event's problem, as `audit verify` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditProblem {
    pub event_id: i64,
    pub problem: String,
}

/// The head of the chain: the latest keyed event's id and MAC (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub id: i64,
    pub mac: String,
}

impl std::fmt::Display for AuditHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.mac)
    }
}

impl AuditHead {
    /// Parse `<id>:<mac hex>` (a MAC prefix of at least 16 hex digits is
    /// accepted, as in a reply header).
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    pub fn parse(text: &str) -> std::result::Result<AuditHead, String> {
        let text = text.trim();
        let (id, mac) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not <event id>:<mac>"))?;
        let id: i64 = id
            .trim()
            .parse()
            .map_err(|_| format!("`{id}` is not an event id"))?;
        let mac = mac.trim().to_ascii_lowercase();
        if mac.len() < 16 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the mac must be at least 16 hex digits".into());
        }
        Ok(AuditHead { id, mac })
    }

    /// The header form: id and the first 32 hex digits of the MAC.
    pub fn header_value(&self) -> String {
        format!("{}:{}", self.id, &self.mac[..self.mac.len().min(32)])
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditSummary {
    pub events: usize,
    /// Events with a MAC (checked when the key was given).
    pub keyed: usize,
    /// Keyed events whose MAC could not be checked (no key given).
    pub unchecked: usize,
    /// Unkeyed events before the first keyed one (written before the keyed chain).
    pub unkeyed_before: usize,
    /// Unkeyed events after a keyed one (written without the key, e.g. by a CLI).
    pub unkeyed_after: usize,
    /// Unkeyed events after the last keyed one: no MAC covers them yet.
    pub uncovered_tail: usize,
    pub problems: Vec<AuditProblem>,
}

/// Register the hash function on `conn`: keyed with `key`, plain without.
pub(super) fn register(conn: &Connection, key: Option<[u8; 32]>) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        HASH_FN,
        7,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            Ok(event_hash(
                key.as_ref(),
                &EventParts {
                    prev: &ctx.get::<String>(0)?,
                    report_id: ctx.get(1)?,
                    message_row: ctx.get(2)?,
                    kind: &ctx.get::<String>(3)?,
                    actor: &ctx.get::<String>(4)?,
                    detail: &ctx.get::<String>(5)?,
                    at: &ctx.get::<String>(6)?,
                },
            ))
        },
    )
}

/// Append an audit event, chained to the previous one (HMAC with the
/// connection's audit key, SHA-256 without one).
pub(super) fn append_event(
    tx: &Transaction<'_>,
    report_id: Option<i64>,
    message_row: Option<i64>,
    kind: &str,
    actor: &str,
    detail: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<()> {
    let prev: String = tx
        .row_cached(
            "SELECT hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| "0".repeat(64));
    let detail = detail.to_string();
    let at = ts(at);
    tx.exec_cached(
        "INSERT INTO events(report_id, message_row, kind, actor, detail, at, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, hexon_event_hash(?7, ?1, ?2, ?3, ?4, ?5, ?6))",
        params![report_id, message_row, kind, actor, detail, at, prev],
    )?;
    Ok(())
}

/// The hashed fields of one event.
struct EventParts<'a> {
    prev: &'a str,
    report_id: Option<i64>,
    message_row: Option<i64>,
    kind: &'a str,
    actor: &'a str,
    detail: &'a str,
    at: &'a str,
}

/// `k1:` + HMAC-SHA256 with `key`, or plain SHA-256 hex without one, over
/// the length-prefixed fields.
fn event_hash(key: Option<&[u8; 32]>, e: &EventParts<'_>) -> String {
    let report_id = e.report_id.map(|v| v.to_string()).unwrap_or_default();
    let message_row = e.message_row.map(|v| v.to_string()).unwrap_or_default();
    let parts = [
        e.prev,
        &report_id,
        &message_row,
        e.kind,
        e.actor,
        e.detail,
        e.at,
    ];
    let mut framed = Vec::new();
    for part in parts {
        framed.extend_from_slice(&(part.len() as u64).to_be_bytes());
        framed.extend_from_slice(part.as_bytes());
    }
    match key {
        Some(key) => {
            // NOTE: HMAC takes keys of any length; a 32-byte key cannot fail.
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                return String::new();
            };
            mac.update(b"hexon-triage audit chain v1\0");
            mac.update(&framed);
            format!("{KEYED_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
        }
        None => hex::encode(Sha256::digest(&framed)),
    }
}

impl Store {
    /// MAC the audit events this store writes from now on with `key` (the
    /// audit key of [`crate::atrest::AtRest`]); `None`: plain hashes.
    ///
    /// # Errors
    /// SQLite refuses the function.
    pub fn set_audit_key(&mut self, key: Option<[u8; 32]>) -> Result<()> {
        register(&self.conn, key)?;
        self.audit_key = key;
        Ok(())
    }

    /// The chain's head: the latest keyed event (or the latest event when
    /// none is keyed); `None` for an empty chain.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_head(&self) -> Result<Option<AuditHead>> {
        let row = |sql: &str| {
            self.conn
                .query_row(sql, [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()
        };
        let found = match row(
            "SELECT id, hash FROM events WHERE hash LIKE 'k1:%' ORDER BY id DESC LIMIT 1",
        )? {
            Some(found) => Some(found),
            None => row("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")?,
        };
        Ok(found.map(|(id, hash)| AuditHead {
            id,
            mac: hash.strip_prefix(KEYED_PREFIX).unwrap_or(&hash).to_string(),
        }))
    }

    /// Walk the audit chain with the store's own key and no anchor; report
    /// every event whose hash, MAC or link is wrong.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_verify(&self) -> Result<(usize, Vec<AuditProblem>)> {
        let summary = self.audit_check(self.audit_key.as_ref(), None)?;
        Ok((summary.events, summary.problems))
    }

    /// Walk the audit chain: links, plain hashes, MACs (with `key`), and the
    /// `anchor` (its event must be in the chain with that MAC, else the
    /// chain was truncated or rewritten).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_check(
        &self,
        key: Option<&[u8; 32]>,
        anchor: Option<&AuditHead>,
    ) -> Result<AuditSummary> {
        let mut stmt = self.conn.prepare(
            "SELECT id, report_id, message_row, kind, actor, detail, at, prev_hash, hash FROM events ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut walk = Walk::new(key);
        let mut anchored: Option<String> = None;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let (kind, actor, detail, at): (String, String, String, String) =
                (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            let (prev_hash, hash): (String, String) = (r.get(7)?, r.get(8)?);
            let parts = EventParts {
                prev: &prev_hash,
                report_id: r.get(1)?,
                message_row: r.get(2)?,
                kind: &kind,
                actor: &actor,
                detail: &detail,
                at: &at,
            };
            walk.event(id, &parts, &hash);
            if anchor.is_some_and(|a| a.id == id) {
                anchored = Some(hash);
            }
        }
        let mut summary = walk.finish();
        if let Some(a) = anchor {
            check_anchor(&mut summary, a, anchored.as_deref(), key.is_some());
        }
        Ok(summary)
    }
}

/// The anchor's event must be in the chain and carry the anchor's MAC.
fn check_anchor(summary: &mut AuditSummary, a: &AuditHead, found: Option<&str>, keyed: bool) {
    match found {
        None => summary.problems.push(AuditProblem {
            event_id: a.id,
            problem: format!(
                "truncated: the anchor's event {} is not in the chain ({} events left)",
                a.id, summary.events
            ),
        }),
        Some(hash) => {
            let mac = hash.strip_prefix(KEYED_PREFIX).unwrap_or(hash);
            if !mac.starts_with(&a.mac) {
                summary.problems.push(AuditProblem {
                    event_id: a.id,
                    problem: "does not match the anchor: the chain was rewritten".into(),
                });
            } else if keyed && !hash.starts_with(KEYED_PREFIX) {
                summary.problems.push(AuditProblem {
                    event_id: a.id,
                    problem: "the anchor names an event without a MAC".into(),
                });
            }
        }
    }
}

/// The state of one walk over the chain.
struct Walk<'k> {
    key: Option<&'k [u8; 32]>,
    prev: String,
    prev_id: Option<i64>,
    seen_keyed: bool,
    /// A daemon event without a MAC after keyed ones was reported.
    recomputed: bool,
    summary: AuditSummary,
}

impl<'k> Walk<'k> {
    fn new(key: Option<&'k [u8; 32]>) -> Self {
        Walk {
            key,
            prev: "0".repeat(64),
            prev_id: None,
            seen_keyed: false,
            recomputed: false,
            summary: AuditSummary::default(),
        }
    }

    fn problem(&mut self, event_id: i64, problem: impl Into<String>) {
        self.summary.problems.push(AuditProblem {
            event_id,
            problem: problem.into(),
        });
    }

    fn event(&mut self, id: i64, e: &EventParts<'_>, hash: &str) {
        self.summary.events += 1;
        if let Some(p) = self.prev_id {
            if id != p + 1 {
                self.problem(id, format!("events {} to {} are missing", p + 1, id - 1));
            }
        }
        if e.prev != self.prev {
            self.problem(
                id,
                "link to the previous event is broken (an event before it was edited or deleted)",
            );
        }
        if hash.starts_with(KEYED_PREFIX) {
            self.seen_keyed = true;
            self.summary.keyed += 1;
            self.summary.uncovered_tail = 0;
            match self.key {
                Some(key) if event_hash(Some(key), e) != hash => self.problem(
                    id,
                    "MAC does not match (edited, or written with another key)",
                ),
                Some(_) => {}
                None => self.summary.unchecked += 1,
            }
        } else {
            if event_hash(None, e) != hash {
                self.problem(id, "content does not match its hash (edited)");
            }
            if self.seen_keyed {
                self.summary.unkeyed_after += 1;
                self.summary.uncovered_tail += 1;
                if self.key.is_some() && e.actor == "daemon" && !self.recomputed {
                    // NOTE: named once, at the first such event; the rest follow from it.
                    self.recomputed = true;
                    self.problem(
                        id,
                        "written by the daemon without a MAC after keyed events: the chain was recomputed from here (edited)",
                    );
                }
            } else {
                self.summary.unkeyed_before += 1;
            }
        }
        self.prev = hash.to_string();
        self.prev_id = Some(id);
    }

    fn finish(self) -> AuditSummary {
        let mut summary = self.summary;
        if !self.seen_keyed {
            summary.uncovered_tail = 0;
        }
        summary
    }
}

/// Write `head` to the anchor file `path` atomically (a temp file beside it,
/// synced, then renamed over it).
///
/// # Errors
/// The file cannot be written.
pub fn write_anchor(path: &Path, head: &AuditHead) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        writeln!(file, "{head}")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Read an anchor file written by [`write_anchor`] (or holding a header value).
///
/// # Errors
/// A message naming the file and what is wrong.
pub fn read_anchor(path: &Path) -> std::result::Result<AuditHead, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    AuditHead::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;

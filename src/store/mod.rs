//! SQLite store: schema migrations, the one-transaction ingest, the outbox,
//! the audit chain, and the queries behind the CLI.
//!
//! I/O: one SQLite file in WAL mode, shared with the CLI while the daemon runs.
//! Rule 1 and 2 live here: a message, its report, its audit events and its
//! outbox row are written in ONE transaction, together with the IMAP cursor.

pub mod advisory;
mod audit;
mod columns;
mod gauges;
mod ingest;
mod keys;
mod outbox;
mod query;
pub mod team;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub use crate::model::{
    IngestPolicy, IngestResult, Prepared, PreparedKind, PreparedMail, SourceRef,
};
use audit::append_event;
pub use audit::{read_anchor, write_anchor, AuditHead, AuditProblem, AuditSummary, KEYED_PREFIX};
pub use ingest::body_digest;
pub use keys::{KeyCandidate, PinKey};
pub use outbox::{AckFacts, OutboxItem};
pub use query::{
    EventRow, MessageRow, OutboxRow, ReportDetail, ReportFilter, ReportRow, StatusSummary,
};

/// Numbered migrations, applied in order; `PRAGMA user_version` records the last one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_outbox_copies.sql")),
    (3, include_str!("migrations/0003_copy_failed.sql")),
    (4, include_str!("migrations/0004_binding_at_rest.sql")),
    (5, include_str!("migrations/0005_triage_confidence.sql")),
    (6, include_str!("migrations/0006_advisories.sql")),
    (7, include_str!("migrations/0007_ack_slots.sql")),
    (8, include_str!("migrations/0008_team_correspondence.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot apply migration {version}: {source}")]
    Migration {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    TooNew { found: u32, supported: u32 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no report {0}")]
    NoSuchReport(String),
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl StoreError {
    /// A busy/locked database: retry, do not quarantine.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(rusqlite::Error::SqliteFailure(e, _))
            | StoreError::Open {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => {
                matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                )
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Timestamps are stored as RFC 3339 UTC with second precision (sortable text).
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse_ts(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub use crate::model::sha256_hex;

/// `execute` / `query_row` through the connection's statement cache: the
/// ingest and outbox paths run the same few statements for every message,
/// and preparing them each time was a measurable share of a commit.
pub(crate) trait Cached {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Checkpoints the WAL from its own connection and thread, so a commit does
/// not stop to copy pages into the database file (with raw messages stored,
/// that copy is as large as the mail itself). The committing connection keeps
/// a high automatic-checkpoint threshold as a safety net.
pub struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// WAL pages after which a committing connection checkpoints itself
    /// (the checkpointer normally keeps the WAL far below this).
    pub const FALLBACK_PAGES: u32 = 16_384;

    /// Start checkpointing `path` every `every`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the second connection cannot be opened.
    pub fn start(path: &Path, every: Duration) -> Result<Checkpointer> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(1))
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                // NOTE: an idle daemon is looked at less often (up to 20 × `every`).
                let (mut wait, mut last) = (every, (-1i64, -1i64));
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::park_timeout(wait);
                    // NOTE: PASSIVE never blocks the writer; whatever it cannot copy now it copies next round.
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    }) {
                        Ok(frames) if frames == last => wait = (wait * 2).min(every * 20),
                        Ok(frames) => (wait, last) = (every, frames),
                        Err(e) => tracing::debug!(error = %e, "WAL checkpoint postponed"),
                    }
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// One connection to the store.
pub struct Store {
    conn: Connection,
    /// Fingerprints of recent reports and times of recent acks.
    caches: ingest::Caches,
    /// The audit key events are MACed with (see [`Store::set_audit_key`]).
    audit_key: Option<[u8; 32]>,
}

impl Store {
    /// Leave routine WAL checkpoints to a [`Checkpointer`]; this connection
    /// checkpoints only past [`Checkpointer::FALLBACK_PAGES`].
    ///
    /// # Errors
    /// SQLite refuses the pragma.
    pub fn defer_checkpoints(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", Checkpointer::FALLBACK_PAGES)?;
        Ok(())
    }

    /// Open (creating if needed) the database and run pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Open`] or [`StoreError::Migration`].
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                // NOTE: a missing state directory is created; permissions come from the umask.
                let _ = std::fs::create_dir_all(parent);
            }
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, path)
    }

    /// A private in-memory store (unit tests).
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Store::init(conn, Path::new(":memory:"))
    }

    fn init(conn: Connection, path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(open_err)?;
        // NOTE: after a checkpoint the WAL file is cut back to this size.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        audit::register(&conn, None).map_err(open_err)?;
        let mut store = Store {
            conn,
            caches: ingest::Caches::default(),
            audit_key: None,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let current: u32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > supported {
            return Err(StoreError::TooNew {
                found: current,
                supported,
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|source| StoreError::Migration {
                    version: *version,
                    source,
                })?;
            tx.execute_batch(sql)
                .map_err(|source| StoreError::Migration {
                    version: *version,
                    source,
                })?;
            tx.pragma_update(None, "user_version", version)
                .map_err(|source| StoreError::Migration {
                    version: *version,
                    source,
                })?;
            tx.commit().map_err(|source| StoreError::Migration {
                version: *version,
                source,
            })?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<u32> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// The IMAP cursor for `mailbox`: (UIDVALIDITY, last committed UID).
    pub fn cursor(&self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT uidvalidity, last_uid FROM imap_cursor WHERE mailbox = ?1",
                [mailbox],
                |r| Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u32)),
            )
            .optional()?)
    }

    /// Start over under a new UIDVALIDITY (dedupe by content keeps this safe).
    pub fn reset_cursor(&mut self, mailbox: &str, uidvalidity: u32) -> Result<()> {
        let tx = self.conn.transaction()?;
        set_cursor(&tx, mailbox, uidvalidity, 0)?;
        append_event(
            &tx,
            None,
            None,
            "uidvalidity_changed",
            "daemon",
            &serde_json::json!({ "mailbox": mailbox, "uidvalidity": uidvalidity }),
            Utc::now(),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Advance the cursor past UIDs that need no work (e.g. our own copies).
    pub fn advance_cursor(&mut self, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<()> {
        let tx = self.conn.transaction()?;
        set_cursor(&tx, mailbox, uidvalidity, uid)?;
        tx.commit()?;
        Ok(())
    }

    /// Committed messages not yet marked on the IMAP server.
    pub fn unmarked(
        &self,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<(i64, u32, crate::model::MessageStatus)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, uid, status FROM messages WHERE imap_marked = 0 AND mailbox = ?1 AND uidvalidity = ?2 ORDER BY uid",
        )?;
        let rows = stmt
            .query_map(params![mailbox, uidvalidity], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u32, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn mark_done(&mut self, message_rows: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in message_rows {
            tx.exec_cached("UPDATE messages SET imap_marked = 1 WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Messages from other mailboxes/UIDVALIDITYs still waiting for their mark: give up on them.
    pub fn forget_stale_marks(&mut self, mailbox: &str, uidvalidity: u32) -> Result<usize> {
        Ok(self.conn.exec_cached(
            "UPDATE messages SET imap_marked = 1 WHERE imap_marked = 0 AND mailbox = ?1 AND uidvalidity <> ?2",
            params![mailbox, uidvalidity],
        )?)
    }

    /// True when `message_id` is one we generated (an outbox row).
    pub fn is_own_message_id(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM outbox WHERE message_id = ?1",
                [message_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The armored public key pinned to `address`, if any.
    pub fn reporter_key(&self, address: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT key_armored FROM reporters WHERE address = ?1",
                [address.to_ascii_lowercase()],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn set_state(&self, key: &str, value: &str) -> Result<()> {
        self.conn.exec_cached(
            "INSERT INTO daemon_state(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM daemon_state WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Raw bytes of a stored message (e.g. to re-run or decrypt on demand).
    pub fn raw_message(&self, message_row: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT r.bytes FROM messages m JOIN raw_messages r ON r.id = m.raw_id WHERE m.id = ?1",
                [message_row],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Online backup into `dest` (safe while the daemon writes).
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        let mut target = Connection::open(dest)?;
        let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
        backup.run_to_completion(256, Duration::from_millis(5), None)?;
        Ok(())
    }
}

fn set_cursor(tx: &Transaction<'_>, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<()> {
    tx.exec_cached(
        "INSERT INTO imap_cursor(mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
         ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,
             last_uid = CASE WHEN imap_cursor.uidvalidity = excluded.uidvalidity
                             THEN max(imap_cursor.last_uid, excluded.last_uid) ELSE excluded.last_uid END",
        params![mailbox, uidvalidity, uid],
    )?;
    Ok(())
}

/// A Message-ID of our domain; unique and unguessable enough to be an id.
pub fn new_message_id(domain: &str) -> String {
    format!(
        "hexon-triage.{:016x}{:016x}@{}",
        fastrand::u64(..),
        fastrand::u64(..),
        domain
    )
}

#[cfg(test)]
mod tests;

/// A store shared by the daemon's tasks; every call runs on the blocking pool.
#[derive(Clone)]
pub struct SharedStore(std::sync::Arc<std::sync::Mutex<Store>>);

impl SharedStore {
    pub fn new(store: Store) -> SharedStore {
        SharedStore(std::sync::Arc::new(std::sync::Mutex::new(store)))
    }

    /// Run `f` with exclusive access to the store, off the async executor.
    /// Busy/locked errors (a concurrent CLI write) are retried a few times.
    ///
    /// # Errors
    /// Whatever `f` returns, after retries for transient errors.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Store) -> Result<T> + Send + 'static,
    {
        let inner = self.0.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut attempt = 0;
            loop {
                // NOTE: a poisoned lock only means another task panicked mid-call;
                // SQLite rolled its transaction back, so the store is consistent.
                let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
                match f(&mut guard) {
                    Err(e) if e.is_transient() && attempt < 5 => {
                        drop(guard);
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(50 << attempt));
                    }
                    other => return other,
                }
            }
        })
        .await;
        joined.unwrap_or_else(|e| Err(StoreError::Invalid(format!("store task failed: {e}"))))
    }
}

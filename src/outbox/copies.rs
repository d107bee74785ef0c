//! The copy queue of `ack.copy_mode = "append"`: file the team's copy of
//! every sent reply into its folder over IMAP, up to [`COPIES_PER_APPEND`]
//! copies per MULTIAPPEND command where the server has it.
//!
//! I/O: one IMAP connection per pass, and the store (appended / failed
//! marks). A copy the server refuses for good (NO/BAD on APPEND: an invalid
//! or uncreatable folder, over quota, too big) is marked failed with the
//! server's reason and a `copy_failed` event, and never holds back the copies
//! after it; a refused MULTIAPPEND (all or none) is retried copy by copy to
//! find the bad one(s). A transient error (lost connection, timeout) ends the
//! pass; its copies are tried again on the next one. Must not send mail or
//! touch reports.

use chrono::Utc;
use tracing::{debug, warn};

use super::{Outbox, OutboxError};
use crate::source::imap::{self, Session};
use crate::store::SharedStore;

/// Reply copies per MULTIAPPEND command.
const COPIES_PER_APPEND: usize = 50;
/// Bytes of reply copies per MULTIAPPEND command.
const COPY_BYTES_PER_APPEND: usize = 4 * 1024 * 1024;
/// Copies read from the store at a time.
const COPIES_PER_ROUND: usize = 400;

/// One copy to file: outbox id, folder, the reply's bytes.
type Copy = (i64, String, Vec<u8>);

/// What one pass over the copy queue did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Filed {
    /// Copies now in their folder.
    pub filed: usize,
    /// Copies the server refused for good (marked failed).
    pub failed: usize,
}

impl Outbox {
    /// APPEND copies of sent replies into the team's mailbox, until none is
    /// left: one connection (parallel APPENDs to one mailbox only contend for
    /// its lock), runs of copies to the same folder per command.
    ///
    /// # Errors
    /// Store errors, and transient IMAP errors (the pass stops; the copies
    /// not yet recorded are tried again next time).
    pub(super) async fn append_copies(&self, store: &SharedStore) -> Result<Filed, OutboxError> {
        let mut pending = store.run(|s| s.pending_copies(COPIES_PER_ROUND)).await?;
        let mut filed = Filed::default();
        if pending.is_empty() {
            return Ok(filed);
        }
        let imap_config = &self.config.imap;
        let mut session = imap::connect(imap_config).await?;
        let multi = imap::supports_multiappend(&mut session, imap_config.timeout).await?;
        debug!(
            copies = pending.len(),
            multiappend = multi,
            "filing reply copies"
        );
        let flags = format!("(\\Seen {} {})", imap_config.keyword, imap::REPLY_KEYWORD);
        // The audit chain's head travels in each copy (outside the database).
        let head = store.run(|s| s.audit_head()).await?;
        while !pending.is_empty() {
            self.heartbeat
                .store(Utc::now().timestamp(), std::sync::atomic::Ordering::Relaxed);
            for copy in pending.iter_mut() {
                copy.2 = with_audit_head(&copy.2, head.as_ref());
            }
            for run in runs(&pending, multi) {
                let done = self
                    .file_run(&mut session, store, run, &flags, multi)
                    .await?;
                filed.filed += done.filed;
                filed.failed += done.failed;
            }
            pending = store.run(|s| s.pending_copies(COPIES_PER_ROUND)).await?;
        }
        imap::logout(session, imap_config.timeout).await;
        Ok(filed)
    }

    /// File one run of copies to the same folder in one command; a refused
    /// run is filed copy by copy.
    async fn file_run(
        &self,
        session: &mut Session,
        store: &SharedStore,
        run: &[Copy],
        flags: &str,
        multi: bool,
    ) -> Result<Filed, OutboxError> {
        let [(_, folder, _), _, ..] = run else {
            let mut done = Filed::default();
            if let Some(copy) = run.first() {
                self.file_one(session, store, copy, flags, multi, &mut done)
                    .await?;
            }
            return Ok(done);
        };
        let messages: Vec<&[u8]> = run.iter().map(|(_, _, b)| b.as_slice()).collect();
        let timeout = self.config.imap.timeout;
        match imap::append_many(session, folder, flags, &messages, multi, timeout).await {
            Ok(()) => {
                // NOTE: a crash right here files this run again (at most COPIES_PER_APPEND
                // duplicate copies in the team's folder; the reporter is never mailed twice).
                let ids: Vec<i64> = run.iter().map(|(id, _, _)| *id).collect();
                let at = Utc::now();
                store.run(move |s| s.outbox_appended_all(&ids, at)).await?;
                Ok(Filed {
                    filed: run.len(),
                    failed: 0,
                })
            }
            Err(e) if e.is_refusal() => {
                // NOTE: MULTIAPPEND stores all or none, so nothing of the run is
                // in the folder: file it copy by copy to find the bad one(s).
                warn!(folder = %folder, copies = run.len(), error = %e, "reply copies refused together; filing them one by one");
                let mut done = Filed::default();
                for copy in run {
                    self.file_one(session, store, copy, flags, multi, &mut done)
                        .await?;
                }
                Ok(done)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// File one copy: appended, or marked failed when the server refuses it.
    async fn file_one(
        &self,
        session: &mut Session,
        store: &SharedStore,
        (id, folder, bytes): &Copy,
        flags: &str,
        multi: bool,
        done: &mut Filed,
    ) -> Result<(), OutboxError> {
        let id = *id;
        let timeout = self.config.imap.timeout;
        let at = Utc::now();
        match imap::append_many(session, folder, flags, &[bytes], multi, timeout).await {
            Ok(()) => {
                store.run(move |s| s.outbox_appended_all(&[id], at)).await?;
                done.filed += 1;
            }
            Err(e) if e.is_refusal() => {
                let reason = e.to_string();
                warn!(outbox = id, folder = %folder, error = %reason, "reply copy refused by the IMAP server; marked failed");
                store
                    .run(move |s| s.outbox_copy_failed(id, &reason, at))
                    .await?;
                done.failed += 1;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// Split `pending` into runs for one APPEND command each: the same folder,
/// at most [`COPIES_PER_APPEND`] copies (1 without MULTIAPPEND) and
/// [`COPY_BYTES_PER_APPEND`] bytes. A copy that is not UTF-8 cannot go into a
/// MULTIAPPEND command and gets a run of its own.
fn runs(pending: &[Copy], multi: bool) -> Vec<&[Copy]> {
    let limit = if multi { COPIES_PER_APPEND } else { 1 };
    let alone = |b: &[u8]| std::str::from_utf8(b).is_err();
    let mut out = Vec::new();
    let mut rest = pending;
    while let Some((_, folder, first)) = rest.first() {
        let (mut n, mut bytes) = (1, first.len());
        if !alone(first) {
            while let Some((_, f, b)) = rest.get(n) {
                if f != folder || n >= limit || bytes + b.len() > COPY_BYTES_PER_APPEND || alone(b)
                {
                    break;
                }
                bytes += b.len();
                n += 1;
            }
        }
        let (run, tail) = rest.split_at(n);
        out.push(run);
        rest = tail;
    }
    out
}

/// The team's copy of a reply: the sent bytes with an
/// `X-Hexon-Audit-Head: <event id>:<mac prefix>` header line in front (the
/// reporter's mail never carries it; with `copy_mode = "bcc"` the copy is the
/// sent message and has none).
pub fn with_audit_head(bytes: &[u8], head: Option<&crate::store::AuditHead>) -> Vec<u8> {
    let Some(head) = head.filter(|_| !bytes.is_empty()) else {
        // NOTE: an empty copy is no message; stamping it would hide that from the server.
        return bytes.to_vec();
    };
    let mut out = format!("X-Hexon-Audit-Head: {}\r\n", head.header_value()).into_bytes();
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(id: i64, folder: &str, bytes: &[u8]) -> Copy {
        (id, folder.to_string(), bytes.to_vec())
    }

    fn ids(runs: &[&[Copy]]) -> Vec<Vec<i64>> {
        runs.iter()
            .map(|r| r.iter().map(|c| c.0).collect())
            .collect()
    }

    #[test]
    fn runs_keep_to_one_folder_and_the_limits() {
        let pending = vec![
            copy(1, "INBOX", b"a"),
            copy(2, "INBOX", b"b"),
            copy(3, "Replies", b"c"),
            copy(4, "INBOX", b"d"),
            copy(5, "INBOX", b"\xff not utf-8"),
            copy(6, "INBOX", b"e"),
        ];
        assert_eq!(
            ids(&runs(&pending, true)),
            vec![vec![1, 2], vec![3], vec![4], vec![5], vec![6]]
        );
        assert_eq!(
            ids(&runs(&pending, false)),
            vec![vec![1], vec![2], vec![3], vec![4], vec![5], vec![6]]
        );
        let many: Vec<Copy> = (0..120).map(|i| copy(i, "INBOX", b"x")).collect();
        let sizes: Vec<usize> = runs(&many, true).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        let big = vec![0x41u8; COPY_BYTES_PER_APPEND];
        let large: Vec<Copy> = (0..3).map(|i| copy(i, "INBOX", &big)).collect();
        assert_eq!(
            runs(&large, true).len(),
            3,
            "one oversized copy per command"
        );
        assert!(runs(&[], true).is_empty());
    }
}

//! The ingest transaction: one message in, message + report + audit events +
//! outbox row + IMAP cursor out, all in ONE SQLite transaction, in three
//! steps: [`facts::load_facts`] reads what the rules need, the pure
//! [`crate::decide::decide`] applies every rule, [`write::write_plan`]
//! writes the result. Everything else arrives already derived in [`Prepared`].

mod before;
mod facts;
mod write;

use rusqlite::Transaction;

pub use before::body_digest;
pub(crate) use facts::{team_report_facts, Caches};
pub(crate) use write::team as team_write;

use super::{set_cursor, Result, Store};
use crate::decide::decide;
use crate::model::{IngestPolicy, IngestResult, Prepared, SourceRef};

impl Store {
    /// Commit one message. Idempotent: a message already stored yields [`IngestResult::Known`].
    ///
    /// # Errors
    /// Database errors; the transaction is rolled back and nothing is written.
    pub fn ingest(&mut self, prepared: &Prepared, policy: &IngestPolicy) -> Result<IngestResult> {
        let result = self.ingest_one(prepared, policy);
        self.forget_caches_on_error(result)
    }

    /// The caches may hold rows of a rolled-back transaction: drop them.
    fn forget_caches_on_error<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.caches = Caches::default();
        }
        result
    }

    fn ingest_one(&mut self, prepared: &Prepared, policy: &IngestPolicy) -> Result<IngestResult> {
        let Store { conn, caches, .. } = self;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let result = ingest_tx(&tx, prepared, policy, caches)?;
        if let SourceRef::Imap {
            mailbox,
            uidvalidity,
            uid,
        } = &prepared.source
        {
            set_cursor(&tx, mailbox, *uidvalidity, *uid)?;
        }
        tx.commit()?;
        Ok(result)
    }
}

impl Store {
    /// Group commit: several fetched messages of one mailbox in ONE
    /// transaction, with the cursor set to the highest UID. `None` items are
    /// UIDs that need no storing (our own reply copies). All or nothing: on
    /// an error nothing of the batch is written.
    ///
    /// # Errors
    /// Database errors (the caller may retry message by message).
    pub fn ingest_batch(
        &mut self,
        items: &[(u32, Option<Prepared>)],
        policy: &IngestPolicy,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<IngestResult>> {
        let result = self.ingest_batch_tx(items, policy, mailbox, uidvalidity);
        self.forget_caches_on_error(result)
    }

    fn ingest_batch_tx(
        &mut self,
        items: &[(u32, Option<Prepared>)],
        policy: &IngestPolicy,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<IngestResult>> {
        let Store { conn, caches, .. } = self;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(items.len());
        let mut max_uid = 0;
        for (uid, prepared) in items {
            max_uid = max_uid.max(*uid);
            results.push(match prepared {
                Some(p) => ingest_tx(&tx, p, policy, caches)?,
                None => IngestResult::Known,
            });
        }
        if max_uid > 0 {
            set_cursor(&tx, mailbox, uidvalidity, max_uid)?;
        }
        tx.commit()?;
        Ok(results)
    }
}

/// Load the facts, decide, write: one message inside an open transaction.
fn ingest_tx(
    tx: &Transaction<'_>,
    p: &Prepared,
    policy: &IngestPolicy,
    caches: &mut Caches,
) -> Result<IngestResult> {
    let facts = facts::load_facts(tx, p, policy, caches)?;
    let plan = decide(p, &facts, policy);
    write::write_plan(tx, p, &plan, policy)
}

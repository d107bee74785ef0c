//! hexon-triage runs a company's `security@` mailbox.
//!
//! ```text
//! IMAP INBOX ──UID FETCH since cursor (next batch fetched meanwhile), IDLE──▶ open (OpenPGP)
//!   ──▶ parse ──▶ triage                   (parallel, order kept)
//!   ──▶ store: group commits, each ONE transaction (raw bytes + message + report + audit
//!       + outbox row + cursor)
//!   ──▶ IMAP mark ($Triaged / move) only after the commit
//! outbox worker ──render template──▶ seal (encrypt/sign) ──▶ SMTP ──▶ mark sent
//!   ──▶ MULTIAPPEND copies ($HexonReply: never fetched back)
//! CLI ──▶ the same SQLite file (WAL, checkpointed on its own thread) while the daemon runs
//! ```
//!
//! | module | owns | I/O |
//! |---|---|---|
//! | [`config`] | TOML → validated [`config::Config`], secrets from files | file |
//! | [`daemon`] | supervisor: intake + outbox loops, cancellation, sd_notify | yes |
//! | [`source::imap`] | TLS/STARTTLS connect, UIDVALIDITY, fetch, IDLE, mark, APPEND | network |
//! | [`open`] | OpenPGP: decrypt, verify, key discovery, seal replies | CPU only |
//! | [`parse`] | raw bytes → [`parse::Headers`], text, attachments | none |
//! | [`loopguard`] | RFC 3834: may we reply? is it mail at all? | none |
//! | [`threading`] | tracking ids and Message-IDs a mail refers to | none |
//! | [`triage`] | scope, out-of-scope class, completeness, severity, duplicates, credit | none |
//! | [`sla`] | business-day calendar (time zone, work days, holidays) | none |
//! | [`pipeline`] | open → parse → triage → [`store::Prepared`] | none |
//! | [`store`] | migrations, the ingest transaction, outbox, audit chain, queries | SQLite |
//! | `net` | TLS client configuration (roots, CA file), capped backoff with jitter | CA file |
//! | [`outbox`] | render (minijinja), compose (MIME), SMTP (lettre), retry, copies | network |
//! | [`cli`] | the command line | via the above |
//! | [`metrics`], [`heap`] | per-stage cost counters; glibc arena cap and trim | none |
//!
//! Rules: nothing is lost (commit before touching IMAP, quarantine instead of
//! dropping), exactly one ack (outbox row written with the report, Message-ID
//! fixed then), no cleartext leak (encrypted reports get encrypted acks or a
//! neutral notice), hostile input is normal input, follow-ups bind to their
//! reporter only.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod fault;
pub mod heap;
pub mod loopguard;
pub mod metrics;
pub mod model;
mod net;
pub mod open;
pub mod outbox;
pub mod parse;
pub mod pipeline;
pub mod sla;
pub mod source;
pub mod store;
pub mod threading;
pub mod triage;

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
//! Ingest of one message is three steps: `store` loads the facts
//! (`store/ingest/facts.rs`), the pure `decide` applies every rule and
//! returns a plan, `store` writes the plan in the same transaction
//! (`store/ingest/write.rs`).
//!
//! | module | owns | I/O |
//! |---|---|---|
//! | [`model`] | domain values between stages: [`model::Prepared`], [`model::SourceRef`], [`model::IngestPolicy`], [`model::IngestResult`], the column enums (signature, key source, message/outbox kind and status) | none |
//! | [`config`] | TOML → [`config::Config`] in phases: parse (`raw`), per-section validation collecting every error (`validate`), secrets and files (`resolve`, the only I/O), [`config::peek`] for main and the CLI | file |
//! | `daemon` | `supervisor` (tasks, cancellation, sd_notify, watchdog, drain), `intake` (IMAP sessions, batches, group commits, marks), `loops` (outbox, deadlines) | yes |
//! | [`source::imap`] | TLS/STARTTLS connect, UIDVALIDITY, fetch, IDLE, mark, APPEND | network |
//! | `net` | TLS client configuration (roots, CA file, pins; the certificate verifier), capped backoff with jitter | CA file |
//! | [`open`] | OpenPGP: decrypt, verify, key discovery, seal replies | CPU only |
//! | [`parse`] | raw bytes → [`parse::Headers`], text, attachments | none |
//! | [`loopguard`] | RFC 3834: may we reply? is it mail at all? | none |
//! | [`threading`] | tracking ids and Message-IDs a mail refers to | none |
//! | [`triage`] | scope, out-of-scope class, completeness, severity, duplicates, credit; sentence context (`context`), label confidences and the ack's claims (`confidence`) | none |
//! | [`sla`] | business-day calendar (time zone, work days, holidays) | none |
//! | [`pipeline`] | open → parse → triage → [`model::Prepared`] | none |
//! | `decide` | every ingest rule: known/duplicate delivery, follow-up binding, key pinning and review flags, tracking ids, ack or withhold (loop guard, rate limits), team alert, credit writes | none |
//! | [`store`] | migrations, the ingest transaction (facts → decide → write), outbox, audit chain, queries; enum ↔ column mapping (`store/columns.rs`) | SQLite |
//! | [`outbox`] | render (minijinja), compose (MIME), SMTP (lettre), retry, copies | network |
//! | [`atrest`] | what of an encrypted report rests in the store and how: keyed tokens (duplicate fingerprint, digests) and sealed details, the audit key | CPU only |
//! | [`authres`] | `Authentication-Results` of the configured authserv-id as a DKIM/DMARC signal for the From domain | none |
//! | [`advisory`] | advisory record, CSAF 2.0 / CVE 5.1 / OSV / Markdown exports, `/.well-known/csaf/` tree, `[advisory]` settings | tree writing |
//! | [`team`] | team correspondence (issue 12): member certs (`team::members`, read once), the leading `/note` and quick-action lines of a team mail; the rules are in `decide` (`decide/team.rs`) | member cert files |
//! | [`cli`] | the command line, one file per noun, `dispatch` in `cli/mod.rs` | via the above |
//! | `metrics`, [`heap`], `fault` | per-stage cost counters, the OpenMetrics registry and its opt-in `[metrics]` endpoint; glibc arena cap and trim; test-only fault injection | loopback/unix socket (endpoint only) |
//!
//! Where each rule lives: nothing lost: `daemon::intake` (commit before the
//! IMAP mark) and `store::ingest` (cursor in the same transaction); nothing
//! twice and follow-up binding: `decide`; exactly one ack: `decide` (ack or
//! withhold) and `outbox` (bytes fixed before the first attempt, copy in the
//! same SMTP transaction); no cleartext leak: `outbox` (render/seal) and
//! `store::ingest::write` (no plaintext of an encrypted report); hostile input:
//! `parse`, `open`, `pipeline` (panic guard, limits); no mail loops:
//! `loopguard` and `decide` (rate limits).

pub mod advisory;
pub mod atrest;
pub mod authres;
pub mod cli;
pub mod config;
pub(crate) mod daemon;
pub(crate) mod decide;
pub(crate) mod fault;
pub mod heap;
pub mod loopguard;
pub(crate) mod metrics;
pub mod model;
mod net;
pub mod open;
pub mod outbox;
pub mod parse;
pub mod pipeline;
pub mod sla;
pub mod source;
pub mod store;
pub mod team;
pub mod threading;
pub mod triage;

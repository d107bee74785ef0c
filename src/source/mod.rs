//! Where mail comes from: the IMAP mailbox (the daemon) and files (`ingest`).

pub mod imap;

//! `load_facts`: everything the ingest rules need to know about one message,
//! read inside the ingest transaction before any rule is applied (the rules
//! themselves are in [`crate::decide`]). Reads only; the caches here keep
//! recent rows between messages and are dropped on a rollback.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::super::{parse_ts, ts, Cached, Result};
use crate::decide::{
    AckClass, AckSlots, ClassSlots, EarlierDelivery, Facts, ReferencedReport, ReportRef,
    SenderFacts, TeamFacts, TeamReportFacts,
};
use crate::model::{IngestPolicy, Prepared, PreparedKind, PreparedMail};
use crate::threading::ThreadRefs;
use crate::triage::{self, Fingerprint};

/// How many recent reports a new one is compared with.
const DUPLICATE_WINDOW: usize = 300;

/// What the ingest transaction keeps between messages (both are dropped on a
/// rollback, as they may hold rows of the rolled-back transaction).
#[derive(Default)]
pub(crate) struct Caches {
    pub(crate) dups: DupCache,
    pub(crate) acks: AckWindow,
}

/// Read the facts about `p` that [`crate::decide::decide`] needs.
pub(super) fn load_facts(
    tx: &Transaction<'_>,
    p: &Prepared,
    policy: &IngestPolicy,
    caches: &mut Caches,
) -> Result<Facts> {
    if is_known(tx, p)? {
        return Ok(Facts {
            known: true,
            ..Facts::default()
        });
    }
    let PreparedKind::Mail(mail) = &p.kind else {
        return Ok(Facts::default());
    };
    let from = mail.headers.from_address.as_deref().unwrap_or_default();
    let earlier_delivery = earlier_delivery(tx, mail, from)?;
    if earlier_delivery.as_ref().is_some_and(|e| e.same_content) {
        return Ok(Facts {
            earlier_delivery,
            ..Facts::default()
        });
    }
    if let Some(claim) = &mail.team {
        return Ok(Facts {
            earlier_delivery,
            team: Some(team_facts(tx, mail, claim)?),
            ..Facts::default()
        });
    }
    let sender = sender_facts(tx, from)?;
    let sender_id = sender.as_ref().map(|s| s.reporter_id);
    let (acks_to_sender_last_hour, ack_slots) =
        recent_acks(tx, &mut caches.acks, from, p.received_at, policy)?;
    Ok(Facts {
        known: false,
        earlier_delivery,
        referenced: find_referenced_report(tx, &mail.refs)?,
        next_seq: next_seq(tx, p.received_at.year())?,
        similar_report: find_duplicate(
            tx,
            &mut caches.dups,
            sender_id,
            &mail.body_sha256,
            &mail.fingerprint,
        )?,
        sender,
        acks_to_sender_last_hour,
        ack_slots,
        team: None,
    })
}

/// What the team-mail rules need: is the Message-ID known, the report, and
/// which `/duplicate` targets exist (issue 12).
fn team_facts(
    tx: &rusqlite::Connection,
    mail: &PreparedMail,
    claim: &crate::model::TeamClaim,
) -> Result<TeamFacts> {
    let message_id_seen = match &mail.headers.message_id {
        Some(mid) => tx
            .row_cached(
                "SELECT 1 FROM messages WHERE message_id = ?1 LIMIT 1",
                [mid],
                |_| Ok(()),
            )
            .optional()?
            .is_some(),
        None => false,
    };
    let report = match find_referenced_report(tx, &mail.refs)? {
        Some(r) => Some(team_report_facts(tx, r.report)?),
        None => None,
    };
    let mut existing_targets = Vec::new();
    for action in &claim.commands.actions {
        if let crate::team::QuickAction::Duplicate(target) = action {
            let exists = tx
                .row_cached(
                    "SELECT 1 FROM reports WHERE tracking_id = ?1",
                    [target],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                existing_targets.push(target.clone());
            }
        }
    }
    Ok(TeamFacts {
        message_id_seen,
        report,
        existing_targets,
    })
}

/// The report facts a team reply needs (also for `reports reply`).
pub(crate) fn team_report_facts(
    tx: &rusqlite::Connection,
    report: ReportRef,
) -> Result<TeamReportFacts> {
    let (encrypted, thread_message_id, address, key, key_changed) = tx.row_cached(
        "SELECT r.encrypted, r.thread_message_id, p.address, p.key_fingerprint,
                EXISTS (SELECT 1 FROM key_candidates c WHERE c.reporter_id = p.id
                        AND p.key_fingerprint IS NOT NULL AND c.fingerprint <> p.key_fingerprint)
         FROM reports r LEFT JOIN reporters p ON p.id = r.reporter_id WHERE r.id = ?1",
        [report.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    Ok(TeamReportFacts {
        report,
        encrypted,
        reporter_address: address,
        reporter_key: key,
        key_changed,
        thread_message_id,
    })
}

/// The same (mailbox, UIDVALIDITY, UID), or the same raw bytes, is stored.
fn is_known(tx: &Transaction<'_>, p: &Prepared) -> Result<bool> {
    if let Some((mailbox, uidvalidity, uid)) = p.source.imap() {
        let known: Option<i64> = tx
            .row_cached(
                "SELECT id FROM messages WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3",
                params![mailbox, uidvalidity, uid],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_some() {
            return Ok(true);
        }
    }
    let raw_known: Option<i64> = tx
        .row_cached(
            "SELECT m.id FROM raw_messages r JOIN messages m ON m.raw_id = r.id WHERE r.sha256 = ?1 LIMIT 1",
            [&p.sha256],
            |r| r.get(0),
        )
        .optional()?;
    Ok(raw_known.is_some())
}

/// A stored message with the same Message-ID from the same sender, and
/// whether its content is the same (a row from before content digests were
/// stored counts as different: stored again rather than filed as a copy).
fn earlier_delivery(
    tx: &Transaction<'_>,
    mail: &PreparedMail,
    from: &str,
) -> Result<Option<EarlierDelivery>> {
    let Some(mid) = &mail.headers.message_id else {
        return Ok(None);
    };
    let earlier: Option<(Option<i64>, bool)> = tx
        .row_cached(
            "SELECT report_id, content_digest IS ?3 FROM messages WHERE message_id = ?1 AND from_address = ?2
             ORDER BY content_digest IS ?3 DESC LIMIT 1",
            params![mid, from, mail.content_digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((report_id, same_content)) = earlier else {
        return Ok(None);
    };
    let report = match report_id {
        Some(id) => Some(ReportRef {
            id,
            tracking_id: tracking_of(tx, id)?,
        }),
        None => None,
    };
    Ok(Some(EarlierDelivery {
        report,
        same_content,
    }))
}

fn sender_facts(tx: &Transaction<'_>, address: &str) -> Result<Option<SenderFacts>> {
    Ok(tx
        .row_cached(
            "SELECT id, key_fingerprint FROM reporters WHERE address = ?1",
            [address],
            |r| {
                Ok(SenderFacts {
                    reporter_id: r.get(0)?,
                    pinned_key: r.get(1)?,
                })
            },
        )
        .optional()?)
}

fn reporter_key_of(tx: &rusqlite::Connection, reporter_id: Option<i64>) -> Result<Option<String>> {
    let Some(id) = reporter_id else {
        return Ok(None);
    };
    Ok(tx
        .row_cached(
            "SELECT key_fingerprint FROM reporters WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

fn tracking_of(tx: &Transaction<'_>, report_id: i64) -> Result<String> {
    Ok(tx.row_cached(
        "SELECT tracking_id FROM reports WHERE id = ?1",
        [report_id],
        |r| r.get(0),
    )?)
}

fn next_seq(tx: &Transaction<'_>, year: i32) -> Result<i64> {
    Ok(tx.row_cached(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM reports WHERE year = ?1",
        [year],
        |r| r.get(0),
    )?)
}

/// The first report `refs` point at: by tracking id, then by any Message-ID
/// in the thread (the report's own mails or our replies).
pub(crate) fn find_referenced_report(
    tx: &rusqlite::Connection,
    refs: &ThreadRefs,
) -> Result<Option<ReferencedReport>> {
    let by_id = |id: i64| -> Result<(i64, String, Option<i64>)> {
        Ok(tx.row_cached(
            "SELECT id, tracking_id, reporter_id FROM reports WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    };
    let mut found: Option<(i64, String, Option<i64>)> = None;
    for tid in &refs.tracking_ids {
        found = tx
            .row_cached(
                "SELECT id, tracking_id, reporter_id FROM reports WHERE tracking_id = ?1",
                [tid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if found.is_some() {
            break;
        }
    }
    if found.is_none() {
        for mid in &refs.message_ids {
            let report_id: Option<i64> = tx
                .row_cached(
                    "SELECT report_id FROM outbox WHERE message_id = ?1 AND report_id IS NOT NULL
                     UNION ALL SELECT report_id FROM messages WHERE message_id = ?1 AND report_id IS NOT NULL
                     LIMIT 1",
                    [mid],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = report_id {
                found = Some(by_id(id)?);
                break;
            }
        }
    }
    let Some((id, tracking_id, reporter_id)) = found else {
        return Ok(None);
    };
    Ok(Some(ReferencedReport {
        report: ReportRef { id, tracking_id },
        reporter_id,
        reporter_key: reporter_key_of(tx, reporter_id)?,
    }))
}

/// An earlier report by a DIFFERENT reporter with the same body or a similar fingerprint.
fn find_duplicate(
    tx: &Transaction<'_>,
    cache: &mut DupCache,
    reporter_id: Option<i64>,
    body_sha256: &str,
    fp: &Fingerprint,
) -> Result<Option<String>> {
    // NOTE: a sender without a reporter row yet is a new reporter: -1 matches no row.
    let reporter_id = reporter_id.unwrap_or(-1);
    let exact: Option<String> = tx
        .row_cached(
            "SELECT tracking_id FROM reports WHERE body_sha256 = ?1 AND reporter_id <> ?2 ORDER BY id LIMIT 1",
            params![body_sha256, reporter_id],
            |r| r.get(0),
        )
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    if fp.indicators.is_empty() && fp.shingles.is_empty() {
        return Ok(None);
    }
    // NOTE: a bounded window of recent reports keeps ingest cost flat as the store grows.
    cache.refresh(tx)?;
    let fp = triage::Comparable::new(fp);
    let mut best: Option<(f64, &String)> = None;
    for (other_reporter, tid, other) in &cache.entries {
        if *other_reporter == reporter_id {
            continue;
        }
        let score = fp.similarity_among(other, &cache.rarity);
        if score >= triage::NEAR_DUPLICATE_THRESHOLD
            && best.as_ref().is_none_or(|(b, _)| score > *b)
        {
            best = Some((score, tid));
        }
    }
    Ok(best.map(|(_, tid)| tid.clone()))
}

/// Acks queued to this sender in the last hour (counted up to the limit),
/// and the global limit's slots per class.
fn recent_acks(
    tx: &Transaction<'_>,
    acks: &mut AckWindow,
    from: &str,
    at: DateTime<Utc>,
    policy: &IngestPolicy,
) -> Result<(i64, AckSlots)> {
    let since = ts(at - ChronoDuration::hours(1));
    // NOTE: counts stop at the limit: past it the exact number does not matter.
    let per_sender: i64 = tx.row_cached(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox
           WHERE kind = 'ack' AND recipient = ?1 AND created_at >= ?2 LIMIT ?3)",
        params![from, since, policy.per_sender_per_hour as i64],
        |r| r.get(0),
    )?;
    let window = ChronoDuration::seconds(i64::from(policy.global_window_secs));
    let after = ts(at - window);
    let (open, authenticated) = crate::decide::class_budgets(policy);
    // NOTE: the daemon's checks are about "now"; older dates (an import) ask the database.
    let recent = at >= Utc::now() - ChronoDuration::minutes(10);
    let slots = if recent {
        let keep_from = ts(at - window - ChronoDuration::minutes(10));
        acks.refresh(tx, &keep_from)?;
        AckSlots {
            open: acks.slots(AckClass::Open, &after, open),
            authenticated: acks.slots(AckClass::Authenticated, &after, authenticated),
        }
    } else {
        AckSlots {
            open: slots_in_db(tx, AckClass::Open, &after, open)?,
            authenticated: slots_in_db(tx, AckClass::Authenticated, &after, authenticated)?,
        }
    };
    Ok((per_sender, slots))
}

/// [`ClassSlots`] from the database: the class's slots after `after`,
/// newest first, up to `budget` of them.
fn slots_in_db(
    tx: &Transaction<'_>,
    class: AckClass,
    after: &str,
    budget: u32,
) -> Result<ClassSlots> {
    let mut stmt = tx.prepare_cached(
        "SELECT send_at FROM outbox WHERE kind = 'ack' AND ack_class = ?1 AND send_at > ?2
         ORDER BY send_at DESC LIMIT ?3",
    )?;
    let times: Vec<String> = stmt
        .query_map(
            params![class.as_str(), after, i64::from(budget.max(1))],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ClassSlots {
        nth_latest: (budget > 0 && times.len() >= budget as usize)
            .then(|| times.last().and_then(|t| parse_ts(t)))
            .flatten(),
        latest: times.first().and_then(|t| parse_ts(t)),
    })
}

/// Slots (send times) of recent acks per class, read incrementally (rows
/// past the last seen id), so the global limit does not read every ack of
/// the window for every message.
#[derive(Default)]
pub(crate) struct AckWindow {
    loaded: bool,
    last_id: i64,
    open: std::collections::BTreeMap<String, u32>,
    authenticated: std::collections::BTreeMap<String, u32>,
}

impl AckWindow {
    fn map(&mut self, class: AckClass) -> &mut std::collections::BTreeMap<String, u32> {
        match class {
            AckClass::Open => &mut self.open,
            AckClass::Authenticated => &mut self.authenticated,
        }
    }

    /// Read new rows; forget slots before `keep_from` (RFC 3339 UTC).
    fn refresh(&mut self, tx: &Transaction<'_>, keep_from: &str) -> Result<()> {
        let rows: Vec<(i64, Option<String>, Option<String>)> = if self.loaded {
            let mut stmt = tx.prepare_cached(
                "SELECT id, ack_class, send_at FROM outbox WHERE id > ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([self.last_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        } else {
            let mut stmt = tx.prepare_cached(
                "SELECT id, ack_class, send_at FROM outbox WHERE kind = 'ack' AND send_at >= ?1
                 UNION ALL SELECT COALESCE(MAX(id), 0), NULL, NULL FROM outbox",
            )?;
            let rows = stmt.query_map([keep_from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            self.loaded = true;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (id, class, at) in rows {
            self.last_id = self.last_id.max(id);
            let class = match class.as_deref() {
                Some("authenticated") => AckClass::Authenticated,
                Some(_) => AckClass::Open,
                None => continue,
            };
            if let Some(at) = at.filter(|a| a.as_str() >= keep_from) {
                *self.map(class).entry(at).or_default() += 1;
            }
        }
        // NOTE: the daemon's checks move forward in time; a margin covers
        // batches prepared a little out of order.
        self.open = self.open.split_off(keep_from);
        self.authenticated = self.authenticated.split_off(keep_from);
        Ok(())
    }

    /// The class's n-th latest slot after `after` (n = `budget`) and its latest slot.
    fn slots(&mut self, class: AckClass, after: &str, budget: u32) -> ClassSlots {
        let map = self.map(class);
        let latest = map.keys().next_back().and_then(|t| parse_ts(t));
        let mut seen = 0u64;
        let mut nth_latest = None;
        if budget > 0 {
            for (t, n) in map.iter().rev() {
                if t.as_str() <= after {
                    break;
                }
                seen += u64::from(*n);
                if seen >= u64::from(budget) {
                    nth_latest = parse_ts(t);
                    break;
                }
            }
        }
        ClassSlots { nth_latest, latest }
    }
}

/// Parsed fingerprints of the most recent reports, refreshed incrementally
/// (only rows newer than the last seen id are read and parsed).
#[derive(Default)]
pub(crate) struct DupCache {
    last_id: i64,
    entries: std::collections::VecDeque<(i64, String, triage::Comparable)>,
    /// how common each indicator is in `entries`
    rarity: triage::Rarity,
}

impl DupCache {
    fn refresh(&mut self, tx: &Transaction<'_>) -> Result<()> {
        let mut stmt = tx.prepare_cached(
            "SELECT id, reporter_id, tracking_id, fingerprint FROM reports
             WHERE id > ?1 AND fingerprint IS NOT NULL ORDER BY id DESC LIMIT ?2",
        )?;
        let mut fresh: Vec<(i64, i64, String, String)> = stmt
            .query_map(params![self.last_id, DUPLICATE_WINDOW as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        fresh.reverse();
        for (id, reporter, tid, json) in fresh {
            self.last_id = self.last_id.max(id);
            if let Ok(fp) = serde_json::from_str::<Fingerprint>(&json) {
                let c = triage::Comparable::new(&fp);
                self.rarity.add(&c);
                self.entries.push_back((reporter, tid, c));
            }
        }
        while self.entries.len() > DUPLICATE_WINDOW {
            if let Some((_, _, c)) = self.entries.pop_front() {
                self.rarity.remove(&c);
            }
        }
        Ok(())
    }
}

//! The ingest rules, one table row per guarantee of the README's table
//! ("Nothing twice", "Exactly one ack", "No mail loops", "Follow-ups belong
//! to their reporter") and per key-pinning rule.

use chrono::{DateTime, Utc};

use super::*;
use crate::model::{OfferedKey, SourceRef};
use crate::parse::Headers;
use crate::threading::ThreadRefs;
use crate::triage::{Classification, Fingerprint, Severity};

const PINNED: &str = "AAAA";
const OTHER: &str = "BBBB";

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn policy() -> IngestPolicy {
    IngestPolicy {
        tracking_prefix: "HEXON".into(),
        message_id_domain: "hexon.test".into(),
        copy_folder: None,
        append_copies: true,
        team_address: Some("team@hexon.test".into()),
        per_sender_per_hour: 3,
        global_per_hour: 100,
        reserved_authenticated_per_hour: 20,
        global_window_secs: 3600,
        send_acks: true,
        team_max_signature_age_days: 14,
        status_notices: vec![],
    }
}

fn mail() -> PreparedMail {
    PreparedMail {
        headers: Headers {
            message_id: Some("m2@r".into()),
            from_address: Some("a@r.test".into()),
            references: vec!["m1@r".into()],
            subject: "subject".into(),
            ..Headers::default()
        },
        text: "body".into(),
        attachments: vec![],
        encrypted: false,
        signature: Signature::None,
        signer_fingerprint: None,
        signer_offered: false,
        sender_auth: SenderAuth::Unknown,
        content_digest: "c1".into(),
        sealed_details: None,
        discovered_keys: vec![],
        classification: Classification {
            component: None,
            component_evidence: vec![],
            out_of_scope: None,
            out_of_scope_evidence: vec![],
            missing: vec![],
            cvss: None,
            signals: vec![],
            severity: Severity::Unknown,
            critical: false,
            indicators: vec![],
            review: Default::default(),
        },
        fingerprint: Fingerprint {
            indicators: vec![],
            shingles: vec![],
        },
        body_sha256: "00".into(),
        credit: None,
        verdict: Verdict::Reply,
        refs: ThreadRefs::default(),
        ack_due: at(),
        assessment_due: at(),
        team: None,
    }
}

fn prepared(kind: PreparedKind) -> Prepared {
    Prepared {
        raw: b"raw".to_vec(),
        sha256: "ff".into(),
        source: SourceRef::Imap {
            mailbox: "INBOX".into(),
            uidvalidity: 7,
            uid: 1,
        },
        received_at: at(),
        kind,
    }
}

fn facts() -> Facts {
    Facts {
        next_seq: 7,
        ..Facts::default()
    }
}

fn sender(id: i64, key: Option<&str>) -> Option<SenderFacts> {
    Some(SenderFacts {
        reporter_id: id,
        pinned_key: key.map(str::to_string),
    })
}

fn referenced(reporter_id: i64, key: Option<&str>) -> Option<ReferencedReport> {
    Some(ReferencedReport {
        report: report_ref(),
        reporter_id: Some(reporter_id),
        reporter_key: key.map(str::to_string),
    })
}

fn report_ref() -> ReportRef {
    ReportRef {
        id: 1,
        tracking_id: "HEXON-2026-0001".into(),
    }
}

fn offered(fingerprint: &str, address: &str, source: KeySource) -> OfferedKey {
    OfferedKey {
        fingerprint: fingerprint.into(),
        addresses: vec![address.into()],
        armored: format!("armored {fingerprint}"),
        source,
    }
}

fn signed(mut m: PreparedMail, signature: Signature, by: &str) -> PreparedMail {
    m.signature = signature;
    m.signer_fingerprint = Some(by.into());
    m
}

/// Signed by a key the mail itself carries (attached / Autocrypt).
fn self_signed(m: PreparedMail, by: &str) -> PreparedMail {
    let mut m = signed(m, Signature::Good, by);
    m.signer_offered = true;
    m
}

fn run(m: PreparedMail, facts: &Facts, policy: &IngestPolicy) -> Plan {
    decide(&prepared(PreparedKind::Mail(Box::new(m))), facts, policy)
}

fn new_report(plan: Plan) -> (Option<KeyPin>, NewReportPlan) {
    match plan {
        Plan::Mail(MailPlan::NewReport { pin, report, .. }) => (pin, *report),
        other => panic!("expected a new report, got {other:?}"),
    }
}

fn follow_up(plan: Plan) -> (ReportRef, Option<KeyPin>, Option<Credit>, Vec<String>) {
    match plan {
        Plan::Mail(MailPlan::FollowUp {
            report,
            pin,
            credit,
            review,
            ..
        }) => (report, pin, credit, review),
        other => panic!("expected a follow-up, got {other:?}"),
    }
}

// ---- Nothing lost, nothing twice ------------------------------------------------------

#[test]
fn a_stored_message_is_known_and_writes_nothing() {
    let known = Facts {
        known: true,
        ..facts()
    };
    assert_eq!(run(mail(), &known, &policy()), Plan::Known);
    let q = prepared(PreparedKind::Quarantine {
        reason: "x".into(),
        message_id: None,
        from_address: None,
    });
    assert_eq!(decide(&q, &known, &policy()), Plan::Known);
}

#[test]
fn unreadable_and_non_reports_are_kept_with_their_reason() {
    let q = prepared(PreparedKind::Quarantine {
        reason: "cannot decrypt".into(),
        message_id: None,
        from_address: None,
    });
    assert_eq!(
        decide(&q, &facts(), &policy()),
        Plan::Quarantine {
            reason: "cannot decrypt".into()
        }
    );
    let i = prepared(PreparedKind::Ignore {
        reason: "bounce".into(),
        headers: Box::default(),
    });
    assert_eq!(
        decide(&i, &facts(), &policy()),
        Plan::Ignore {
            reason: "bounce".into()
        }
    );
}

#[test]
fn same_message_id_sender_and_content_is_a_duplicate_delivery_of_its_report() {
    for earlier in [Some(report_ref()), None] {
        let f = Facts {
            earlier_delivery: Some(EarlierDelivery {
                report: earlier.clone(),
                same_content: true,
            }),
            ..facts()
        };
        assert_eq!(
            run(mail(), &f, &policy()),
            Plan::Mail(MailPlan::DuplicateDelivery { report: earlier })
        );
    }
}

#[test]
fn a_known_message_id_with_other_content_is_never_filed_as_a_copy() {
    // A forger who knows the victim's Message-ID and address: stored as its
    // own mail (here a new report), flagged, not filed into the victim's report.
    let f = Facts {
        earlier_delivery: Some(EarlierDelivery {
            report: Some(report_ref()),
            same_content: false,
        }),
        ..facts()
    };
    let (_, report) = new_report(run(mail(), &f, &policy()));
    assert_eq!(
        report.review,
        vec![
            "reuses the Message-ID of an earlier message from this address with different content"
        ]
    );
}

// ---- Follow-ups belong to their reporter ----------------------------------------------

/// How a mail that references a report is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// Joins and may change the report (credit, key).
    Joins,
    /// Joins as a message, flagged, changes nothing.
    JoinsReadOnly,
    /// A new report that references the old one.
    New,
}

/// (case, sender row, referenced report, mail, outcome)
type BindingCase = (
    &'static str,
    Option<SenderFacts>,
    Option<ReferencedReport>,
    PreparedMail,
    Taken,
);

fn dmarc_fail(mut m: PreparedMail) -> PreparedMail {
    m.sender_auth = SenderAuth::Fail;
    m
}

fn binding_cases() -> Vec<BindingCase> {
    use Taken::*;
    vec![
        (
            "reporter's own address, no pinned key",
            sender(5, None),
            referenced(5, None),
            mail(),
            Joins,
        ),
        (
            "reporter's own address, no pinned key, DMARC fails for the From domain",
            sender(5, None),
            referenced(5, None),
            dmarc_fail(mail()),
            JoinsReadOnly,
        ),
        (
            "reporter's address, pinned key, unsigned (a forged From)",
            sender(5, Some(PINNED)),
            referenced(5, Some(PINNED)),
            mail(),
            JoinsReadOnly,
        ),
        (
            "reporter's address, signed by the pinned key",
            sender(5, Some(PINNED)),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Good, PINNED),
            Joins,
        ),
        (
            "another address, good signature by the reporter's pinned key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Good, PINNED),
            Joins,
        ),
        (
            "another address, the pinned key's signature verified only with a key the mail brought",
            sender(9, None),
            referenced(5, Some(PINNED)),
            self_signed(mail(), PINNED),
            New,
        ),
        (
            "another address, unsigned",
            sender(9, None),
            referenced(5, Some(PINNED)),
            mail(),
            New,
        ),
        (
            "a new address, unsigned",
            None,
            referenced(5, None),
            mail(),
            New,
        ),
        (
            "another address, bad signature naming the pinned key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Bad, PINNED),
            New,
        ),
        (
            "another address, good signature by some other key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Good, OTHER),
            New,
        ),
        (
            "another address, good signature, reporter has no pinned key",
            sender(9, None),
            referenced(5, None),
            signed(mail(), Signature::Good, OTHER),
            New,
        ),
    ]
}

#[test]
fn follow_up_binding_table() {
    for (case, sender, referenced, mut m, taken) in binding_cases() {
        m.credit = Some(Credit::Name("Forged Name".into()));
        let f = Facts {
            sender,
            referenced,
            ..facts()
        };
        match run(m, &f, &policy()) {
            Plan::Mail(MailPlan::FollowUp {
                report,
                credit,
                review,
                ..
            }) => {
                assert_eq!(report, report_ref(), "{case}");
                match taken {
                    Taken::Joins => {
                        assert!(credit.is_some(), "{case}: the credit answer is recorded");
                        assert!(review.is_empty(), "{case}: {review:?}");
                    }
                    Taken::JoinsReadOnly => {
                        assert_eq!(credit, None, "{case}: nothing may change");
                        assert_eq!(review.len(), 1, "{case}: flagged with its reason");
                        assert!(review[0].contains("nothing changed"), "{case}: {review:?}");
                    }
                    Taken::New => panic!("{case}: must not join"),
                }
            }
            Plan::Mail(MailPlan::NewReport { report, .. }) => {
                assert_eq!(taken, Taken::New, "{case}: must join");
                assert_eq!(
                    report.references_report.as_deref(),
                    Some("HEXON-2026-0001"),
                    "{case}"
                );
                assert!(
                    report.review.contains(
                        &"references HEXON-2026-0001 but comes from a different sender".to_string()
                    ),
                    "{case}: {:?}",
                    report.review
                );
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn a_follow_up_records_the_credit_answer() {
    let mut m = mail();
    m.credit = Some(Credit::Name("Jo".into()));
    let f = Facts {
        sender: sender(5, None),
        referenced: referenced(5, None),
        ..facts()
    };
    let (_, _, credit, review) = follow_up(run(m, &f, &policy()));
    assert_eq!(credit, Some(Credit::Name("Jo".into())));
    assert!(review.is_empty());
}

// ---- Keys ------------------------------------------------------------------------------

fn offered_keys() -> Vec<OfferedKey> {
    vec![
        offered("CCCC", "someone-else@r.test", KeySource::Attachment),
        offered(PINNED, "A@R.TEST", KeySource::Autocrypt),
        offered(OTHER, "a@r.test", KeySource::Attachment),
    ]
}

#[test]
fn a_key_is_pinned_only_from_a_mail_signed_by_it() {
    let mut m = self_signed(mail(), PINNED);
    m.discovered_keys = offered_keys();
    let f = Facts::default();
    let plan = run(m, &f, &policy());
    let Plan::Mail(MailPlan::NewReport { candidates, .. }) = &plan else {
        panic!("{plan:?}")
    };
    assert_eq!(
        candidates
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect::<Vec<_>>(),
        vec![OTHER],
        "the other key for the address is a candidate; a key for another address is ignored"
    );
    let (pin, report) = new_report(plan);
    assert_eq!(
        pin,
        Some(KeyPin {
            fingerprint: PINNED.into(),
            armored: format!("armored {PINNED}"),
            source: KeySource::Autocrypt,
        })
    );
    assert!(report.review.is_empty());
}

#[test]
fn an_offered_key_without_its_signature_is_only_a_candidate() {
    // The spoofed first mail: From the victim, Autocrypt with the attacker's key, unsigned.
    let mut m = mail();
    m.discovered_keys = vec![offered(OTHER, "a@r.test", KeySource::Autocrypt)];
    let plan = run(m, &facts(), &policy());
    let Plan::Mail(MailPlan::NewReport {
        pin, candidates, ..
    }) = plan
    else {
        panic!()
    };
    assert_eq!(pin, None);
    assert_eq!(candidates.len(), 1);

    // Signed, but by a different key than the one offered.
    let mut m = self_signed(mail(), PINNED);
    m.discovered_keys = vec![offered(OTHER, "a@r.test", KeySource::Autocrypt)];
    assert_eq!(new_report(run(m, &facts(), &policy())).0, None);

    // Signed by the offered key, but the receiving server says DMARC failed.
    let mut m = dmarc_fail(self_signed(mail(), OTHER));
    m.discovered_keys = vec![offered(OTHER, "a@r.test", KeySource::Autocrypt)];
    assert_eq!(new_report(run(m, &facts(), &policy())).0, None);
}

#[test]
fn a_read_only_follow_up_pins_nothing() {
    // The reporter's address with a pinned key, unsigned: no new pin, whatever it offers.
    let mut m = self_signed(mail(), OTHER);
    m.discovered_keys = vec![offered(OTHER, "a@r.test", KeySource::Autocrypt)];
    m.signature = Signature::None;
    let f = Facts {
        sender: sender(5, None),
        referenced: referenced(5, None),
        ..facts()
    };
    let mut failing = m;
    failing.sender_auth = SenderAuth::Fail;
    let (_, pin, credit, _) = follow_up(run(failing, &f, &policy()));
    assert_eq!((pin, credit), (None, None));
}

#[test]
fn a_different_key_for_a_pinned_reporter_is_flagged_not_pinned() {
    let mut m = mail();
    m.discovered_keys = vec![
        offered(PINNED, "a@r.test", KeySource::Attachment),
        offered(OTHER, "a@r.test", KeySource::Autocrypt),
    ];
    let f = Facts {
        sender: sender(5, Some(PINNED)),
        ..facts()
    };
    let plan = run(m, &f, &policy());
    if let Plan::Mail(MailPlan::NewReport { candidates, .. }) = &plan {
        assert_eq!(
            candidates.len(),
            1,
            "the different key is kept as a candidate"
        );
    }
    let (pin, report) = new_report(plan);
    assert_eq!(pin, None);
    assert_eq!(
        report.review,
        vec![format!(
            "reporter offered a different key {OTHER} via autocrypt (pinned {PINNED})"
        )]
    );
}

#[test]
fn a_good_signature_by_another_key_flags_a_pinned_reporter() {
    let f = Facts {
        sender: sender(5, Some(PINNED)),
        referenced: referenced(5, Some(PINNED)),
        ..facts()
    };
    let (_, pin, _, review) = follow_up(run(signed(mail(), Signature::Good, OTHER), &f, &policy()));
    assert_eq!(pin, None);
    assert_eq!(
        review[0],
        format!("signed with {OTHER}, not the pinned key {PINNED}")
    );
    assert!(
        review[1].contains("not signed by the reporter's pinned key"),
        "{review:?}"
    );
    // Signed by the pinned key: nothing to review.
    let (_, _, _, review) = follow_up(run(signed(mail(), Signature::Good, PINNED), &f, &policy()));
    assert!(review.is_empty());
}

// ---- New reports and exactly one ack ---------------------------------------------------

#[test]
fn a_new_report_gets_the_next_tracking_id_and_the_similar_report() {
    let f = Facts {
        similar_report: Some("HEXON-2026-0003".into()),
        ..facts()
    };
    let (_, report) = new_report(run(mail(), &f, &policy()));
    assert_eq!(report.tracking_id, "HEXON-2026-0007");
    assert_eq!((report.year, report.seq), (2026, 7));
    assert_eq!(report.duplicate_of.as_deref(), Some("HEXON-2026-0003"));
    assert_eq!(report.references_report, None);
}

#[test]
fn ack_table() {
    let send_inbox = AckPlan::Send {
        copy_folder: Some("INBOX".into()),
        references: vec!["m1@r".into(), "m2@r".into()],
        class: AckClass::Open,
        delay_until: None,
    };
    let withhold = |reason: &str| AckPlan::Withhold {
        reason: reason.into(),
    };
    let mut no_acks = policy();
    no_acks.send_acks = false;
    let mut bcc = policy();
    bcc.append_copies = false;
    let mut folder = policy();
    folder.copy_folder = Some("Replies".into());
    let mut bulk = mail();
    bulk.verdict = Verdict::NoReply("Precedence: bulk".into());
    let busy_sender = Facts {
        acks_to_sender_last_hour: 3,
        ..facts()
    };
    let busy_world = Facts {
        ack_slots: full_open(),
        ..facts()
    };
    // (case, mail, facts, policy, expected)
    let cases: Vec<(&str, PreparedMail, Facts, IngestPolicy, AckPlan)> = vec![
        ("a human's report", mail(), facts(), policy(), send_inbox),
        (
            "an import",
            mail(),
            facts(),
            no_acks,
            withhold("acks disabled for this source"),
        ),
        (
            "loop guard: bulk mail",
            bulk,
            facts(),
            policy(),
            withhold("Precedence: bulk"),
        ),
        (
            "per-sender limit",
            mail(),
            busy_sender,
            policy(),
            withhold("rate limit: 3 acks to this sender in the last hour"),
        ),
        (
            "global circuit breaker: delayed until the window has room, not dropped",
            mail(),
            busy_world,
            policy(),
            delayed(AckClass::Open, minutes(30)),
        ),
        (
            "copy in the same SMTP transaction: no APPEND",
            mail(),
            facts(),
            bcc,
            AckPlan::Send {
                copy_folder: None,
                references: vec!["m1@r".into(), "m2@r".into()],
                class: AckClass::Open,
                delay_until: None,
            },
        ),
        (
            "configured copy folder",
            mail(),
            facts(),
            folder,
            AckPlan::Send {
                copy_folder: Some("Replies".into()),
                references: vec!["m1@r".into(), "m2@r".into()],
                class: AckClass::Open,
                delay_until: None,
            },
        ),
    ];
    for (case, m, f, p, expected) in cases {
        let (_, report) = new_report(run(m, &f, &p));
        assert_eq!(report.ack, expected, "{case}");
    }
}

fn minutes(n: i64) -> DateTime<Utc> {
    at() + chrono::Duration::minutes(n)
}

/// The open share's window is full: its 80th latest slot 30 minutes ago.
fn full_open() -> AckSlots {
    AckSlots {
        open: ClassSlots {
            nth_latest: Some(minutes(-30)),
            latest: Some(minutes(-1)),
        },
        authenticated: ClassSlots::default(),
    }
}

fn delayed(class: AckClass, until: DateTime<Utc>) -> AckPlan {
    AckPlan::Send {
        copy_folder: Some("INBOX".into()),
        references: vec!["m1@r".into(), "m2@r".into()],
        class,
        delay_until: Some(until),
    }
}

#[test]
fn the_global_limit_delays_in_order_and_keeps_a_share_for_authenticated_senders() {
    let now = |class| AckPlan::Send {
        copy_folder: Some("INBOX".into()),
        references: vec!["m1@r".into(), "m2@r".into()],
        class,
        delay_until: None,
    };
    let pinned = |slots: AckSlots| Facts {
        sender: sender(1, Some(PINNED)),
        ack_slots: slots,
        ..facts()
    };
    let mut dkim = mail();
    dkim.sender_auth = SenderAuth::Pass;
    let queued = AckSlots {
        open: ClassSlots {
            nth_latest: Some(minutes(20)),
            latest: Some(minutes(150)),
        },
        ..AckSlots::default()
    };
    let both_full = AckSlots {
        authenticated: ClassSlots {
            nth_latest: Some(minutes(-10)),
            latest: Some(minutes(-2)),
        },
        ..full_open()
    };
    let no_reserve = IngestPolicy {
        reserved_authenticated_per_hour: 0,
        ..policy()
    };
    // (case, mail, facts, policy, expected)
    let cases: Vec<(&str, PreparedMail, Facts, IngestPolicy, AckPlan)> = vec![
        (
            "room in the open share: now",
            mail(),
            facts(),
            policy(),
            now(AckClass::Open),
        ),
        (
            "open share full: after the window's oldest slot",
            mail(),
            Facts {
                ack_slots: full_open(),
                ..facts()
            },
            policy(),
            delayed(AckClass::Open, minutes(30)),
        ),
        (
            "acks already queued: behind the last of them (in order)",
            mail(),
            Facts {
                ack_slots: queued,
                ..facts()
            },
            policy(),
            delayed(AckClass::Open, minutes(150)),
        ),
        (
            "signed by the pinned key, open share full: the reserved share, now",
            signed(mail(), Signature::Good, PINNED),
            pinned(full_open()),
            policy(),
            now(AckClass::Authenticated),
        ),
        (
            "signed by the pinned key, open share free: open, now",
            signed(mail(), Signature::Good, PINNED),
            pinned(AckSlots::default()),
            policy(),
            now(AckClass::Open),
        ),
        (
            "DKIM/DMARC pass, open share full: the reserved share",
            dkim,
            Facts {
                ack_slots: full_open(),
                ..facts()
            },
            policy(),
            now(AckClass::Authenticated),
        ),
        (
            "signed by a key the mail brought: not authenticated",
            self_signed(mail(), OTHER),
            Facts {
                ack_slots: full_open(),
                ..facts()
            },
            policy(),
            delayed(AckClass::Open, minutes(30)),
        ),
        (
            "signed by another key than the pinned one: not authenticated",
            signed(mail(), Signature::Good, OTHER),
            pinned(full_open()),
            policy(),
            delayed(AckClass::Open, minutes(30)),
        ),
        (
            "reserved share full too: delayed in it",
            signed(mail(), Signature::Good, PINNED),
            pinned(both_full),
            policy(),
            delayed(AckClass::Authenticated, minutes(50)),
        ),
        (
            "no reserved share configured: everyone queues in the open share",
            signed(mail(), Signature::Good, PINNED),
            pinned(full_open()),
            no_reserve,
            delayed(AckClass::Open, minutes(30)),
        ),
    ];
    for (case, m, f, p, expected) in cases {
        let (_, report) = new_report(run(m, &f, &p));
        assert_eq!(report.ack, expected, "{case}");
    }
    assert_eq!(class_budgets(&policy()), (80, 20));
    assert_eq!(
        class_budgets(&IngestPolicy {
            reserved_authenticated_per_hour: 500,
            ..policy()
        }),
        (1, 99)
    );
}

#[test]
fn critical_reports_alert_the_team_when_there_is_one() {
    let mut m = mail();
    m.classification.critical = true;
    let (_, report) = new_report(run(m, &facts(), &policy()));
    assert_eq!(report.alert_to.as_deref(), Some("team@hexon.test"));

    let mut m = mail();
    m.classification.critical = true;
    let mut no_team = policy();
    no_team.team_address = None;
    assert_eq!(new_report(run(m, &facts(), &no_team)).1.alert_to, None);

    assert_eq!(
        new_report(run(mail(), &facts(), &policy())).1.alert_to,
        None
    );
}

// ---- Team mail (issue 12): one row per rule of decide/team.rs ----

const MEMBER_KEY: &str = "CCCC";

fn member(name: &str, key: &str) -> crate::model::TeamMember {
    crate::model::TeamMember {
        name: name.into(),
        address: format!("{name}@hexon.test"),
        fingerprint: key.into(),
    }
}

/// A mail From alice's address; `text` is what she wrote.
fn team_mail(text: &str, signature: Signature, by: Option<&str>) -> PreparedMail {
    let mut m = mail();
    m.headers.from_address = Some("alice@hexon.test".into());
    m.signature = signature;
    m.signer_fingerprint = by.map(str::to_string);
    let names = vec!["alice".to_string(), "bob".to_string()];
    m.team = Some(crate::model::TeamClaim {
        by_address: Some(member("alice", MEMBER_KEY)),
        by_key: by.and_then(|k| match k {
            MEMBER_KEY => Some(member("alice", MEMBER_KEY)),
            "DDDD" => Some(member("bob", "DDDD")),
            _ => None,
        }),
        signed_at: Some(at() - chrono::Duration::hours(1)),
        note_address: false,
        commands: crate::team::parse_commands(text, &names),
        sealed_body: Some("sealed".into()),
    });
    m
}

fn team_facts(encrypted: bool, reporter_key: Option<&str>) -> Facts {
    Facts {
        team: Some(TeamFacts {
            message_id_seen: false,
            report: Some(TeamReportFacts {
                report: report_ref(),
                encrypted,
                reporter_address: Some("a@r.test".into()),
                reporter_key: reporter_key.map(str::to_string),
                key_changed: false,
                thread_message_id: Some("m1@r".into()),
            }),
            existing_targets: vec!["HEXON-2026-0002".into()],
        }),
        ..facts()
    }
}

fn team_plan(m: PreparedMail, f: &Facts) -> TeamPlan {
    match decide(&prepared(PreparedKind::Mail(Box::new(m))), f, &policy()) {
        Plan::Mail(MailPlan::Team(plan)) => plan,
        other => panic!("not a team plan: {other:?}"),
    }
}

fn rejected(plan: &TeamPlan) -> Vec<String> {
    match plan {
        TeamPlan::Rejected {
            reasons, notify, ..
        } => {
            assert_eq!(
                notify.as_deref(),
                Some("alice@hexon.test"),
                "notice to the member"
            );
            reasons.clone()
        }
        TeamPlan::Accepted(w) => panic!("accepted: {w:?}"),
    }
}

fn accepted(plan: TeamPlan) -> TeamWork {
    match plan {
        TeamPlan::Accepted(w) => *w,
        other => panic!("rejected: {other:?}"),
    }
}

#[test]
fn team_mail_needs_a_good_signature_by_that_members_key() {
    let f = team_facts(false, None);
    let cases: [(&str, Signature, Option<&str>, &str); 5] = [
        (
            "unsigned From a member",
            Signature::None,
            None,
            "not signed",
        ),
        (
            "bad signature",
            Signature::Bad,
            Some(MEMBER_KEY),
            "bad signature",
        ),
        (
            "unknown key",
            Signature::UnknownKey,
            Some("EEEE"),
            "not a team member",
        ),
        (
            "good, not a member key",
            Signature::Good,
            Some("EEEE"),
            "not signed by a configured",
        ),
        (
            "good, another member's key",
            Signature::Good,
            Some("DDDD"),
            "signed by the key of team member bob",
        ),
    ];
    for (name, signature, by, why) in cases {
        let reasons = rejected(&team_plan(team_mail("Hello", signature, by), &f));
        assert!(
            reasons.iter().any(|r| r.contains(why)),
            "{name}: {reasons:?}"
        );
    }
}

#[test]
fn a_key_the_mail_offered_never_makes_team_mail() {
    let mut m = team_mail("Hello", Signature::Good, Some(MEMBER_KEY));
    m.signer_offered = true;
    rejected(&team_plan(m, &team_facts(false, None)));
}

#[test]
fn replays_are_rejected() {
    let mut f = team_facts(false, None);
    if let Some(t) = &mut f.team {
        t.message_id_seen = true;
    }
    let reasons = rejected(&team_plan(
        team_mail("Hi", Signature::Good, Some(MEMBER_KEY)),
        &f,
    ));
    assert!(reasons[0].contains("Message-ID"), "{reasons:?}");
    let mut old = team_mail("Hi", Signature::Good, Some(MEMBER_KEY));
    if let Some(c) = &mut old.team {
        c.signed_at = Some(at() - chrono::Duration::days(15));
    }
    let reasons = rejected(&team_plan(old, &team_facts(false, None)));
    assert!(reasons[0].contains("older than"), "{reasons:?}");
}

#[test]
fn team_mail_to_no_report_or_with_bad_commands_relays_nothing() {
    let mut f = team_facts(false, None);
    if let Some(t) = &mut f.team {
        t.report = None;
    }
    let reasons = rejected(&team_plan(
        team_mail("Hi", Signature::Good, Some(MEMBER_KEY)),
        &f,
    ));
    assert!(reasons[0].contains("no known report"));
    let plan = team_plan(
        team_mail(
            "/status triaged\n/duplicate HEXON-2026-0009\nHi",
            Signature::Good,
            Some(MEMBER_KEY),
        ),
        &team_facts(false, None),
    );
    let reasons = rejected(&plan);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
}

#[test]
fn a_signed_reply_is_relayed_and_assesses_the_report() {
    let w = accepted(team_plan(
        team_mail(
            "/severity high\n/assign bob\n\nWe reproduced it.",
            Signature::Good,
            Some(MEMBER_KEY),
        ),
        &team_facts(true, Some(PINNED)),
    ));
    assert_eq!(w.member.name, "alice");
    assert_eq!(w.actions.len(), 2);
    assert!(w.assess && !w.note && w.notice.is_none() && w.hide_text);
    let reply = w.reply.expect("relayed");
    assert_eq!(reply.recipient, "a@r.test");
    assert_eq!(reply.in_reply_to.as_deref(), Some("m1@r"));
    assert!(!reply.needs_key);
}

#[test]
fn an_encrypted_report_without_a_pinned_key_keeps_the_reply() {
    let w = accepted(team_plan(
        team_mail("We reproduced it.", Signature::Good, Some(MEMBER_KEY)),
        &team_facts(true, None),
    ));
    assert!(w.reply.expect("kept").needs_key);
    assert!(w.notice.expect("member told").contains("no pinned key"));
    // A plaintext report without a key: relayed (signed, in clear).
    let w = accepted(team_plan(
        team_mail("We reproduced it.", Signature::Good, Some(MEMBER_KEY)),
        &team_facts(false, None),
    ));
    assert!(!w.reply.expect("relayed").needs_key && !w.hide_text);
}

#[test]
fn notes_and_action_only_mails_are_never_sent() {
    let w = accepted(team_plan(
        team_mail(
            "/note\ninternal: looks like CVE material",
            Signature::Good,
            Some(MEMBER_KEY),
        ),
        &team_facts(false, None),
    ));
    assert!(w.note && w.reply.is_none() && !w.assess);
    let mut m = team_mail("internal", Signature::Good, Some(MEMBER_KEY));
    if let Some(c) = &mut m.team {
        c.note_address = true;
    }
    let w = accepted(team_plan(m, &team_facts(false, None)));
    assert!(w.note && w.reply.is_none());
    let w = accepted(team_plan(
        team_mail("/status accepted\n", Signature::Good, Some(MEMBER_KEY)),
        &team_facts(false, None),
    ));
    assert!(w.reply.is_none() && !w.assess && w.actions.len() == 1);
}

#[test]
fn a_changed_reporter_key_holds_replies() {
    let mut f = team_facts(false, Some(PINNED));
    if let Some(TeamFacts {
        report: Some(r), ..
    }) = &mut f.team
    {
        r.key_changed = true;
    }
    let reasons = rejected(&team_plan(
        team_mail("Hi", Signature::Good, Some(MEMBER_KEY)),
        &f,
    ));
    assert!(reasons[0].contains("different key"), "{reasons:?}");
}

#[test]
fn team_mail_never_becomes_a_report() {
    // The forged mail (unsigned, From a member) is not a new report either.
    let p = prepared(PreparedKind::Mail(Box::new(team_mail(
        "Hello",
        Signature::None,
        None,
    ))));
    assert!(matches!(
        decide(&p, &team_facts(false, None), &policy()),
        Plan::Mail(MailPlan::Team(TeamPlan::Rejected { .. }))
    ));
}

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
        send_acks: true,
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

fn run(m: PreparedMail, facts: &Facts, policy: &IngestPolicy) -> Plan {
    decide(&prepared(PreparedKind::Mail(Box::new(m))), facts, policy)
}

fn new_report(plan: Plan) -> (Option<KeyPin>, NewReportPlan) {
    match plan {
        Plan::Mail(MailPlan::NewReport { pin, report }) => (pin, *report),
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
fn same_message_id_from_same_sender_is_a_duplicate_delivery_of_its_report() {
    for earlier in [Some(report_ref()), None] {
        let f = Facts {
            earlier_delivery: Some(earlier.clone()),
            ..facts()
        };
        assert_eq!(
            run(mail(), &f, &policy()),
            Plan::Mail(MailPlan::DuplicateDelivery { report: earlier })
        );
    }
}

// ---- Follow-ups belong to their reporter ----------------------------------------------

/// (case, sender row, referenced report, mail, binds?)
type BindingCase = (
    &'static str,
    Option<SenderFacts>,
    Option<ReferencedReport>,
    PreparedMail,
    bool,
);

#[test]
fn follow_up_binding_table() {
    let cases: Vec<BindingCase> = vec![
        (
            "reporter's own address",
            sender(5, None),
            referenced(5, None),
            mail(),
            true,
        ),
        (
            "another address, good signature by the reporter's pinned key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Good, PINNED),
            true,
        ),
        (
            "another address, unsigned",
            sender(9, None),
            referenced(5, Some(PINNED)),
            mail(),
            false,
        ),
        (
            "a new address, unsigned",
            None,
            referenced(5, None),
            mail(),
            false,
        ),
        (
            "another address, bad signature naming the pinned key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Bad, PINNED),
            false,
        ),
        (
            "another address, good signature by some other key",
            sender(9, None),
            referenced(5, Some(PINNED)),
            signed(mail(), Signature::Good, OTHER),
            false,
        ),
        (
            "another address, good signature, reporter has no pinned key",
            sender(9, None),
            referenced(5, None),
            signed(mail(), Signature::Good, OTHER),
            false,
        ),
    ];
    for (case, sender, referenced, m, binds) in cases {
        let f = Facts {
            sender,
            referenced,
            ..facts()
        };
        match run(m, &f, &policy()) {
            Plan::Mail(MailPlan::FollowUp { report, .. }) => {
                assert!(binds, "{case}: must not join");
                assert_eq!(report, report_ref(), "{case}");
            }
            Plan::Mail(MailPlan::NewReport { report, .. }) => {
                assert!(!binds, "{case}: must join");
                assert_eq!(
                    report.references_report.as_deref(),
                    Some("HEXON-2026-0001"),
                    "{case}"
                );
                assert_eq!(
                    report.review,
                    vec!["references HEXON-2026-0001 but comes from a different sender"],
                    "{case}"
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

#[test]
fn the_first_key_offered_for_the_from_address_is_pinned() {
    let mut m = mail();
    m.discovered_keys = vec![
        offered("CCCC", "someone-else@r.test", KeySource::Attachment),
        offered(PINNED, "A@R.TEST", KeySource::Autocrypt),
        offered(OTHER, "a@r.test", KeySource::Attachment),
    ];
    let (pin, report) = new_report(run(m, &facts(), &policy()));
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
    let (pin, report) = new_report(run(m, &f, &policy()));
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
        review,
        vec![format!("signed with {OTHER}, not the pinned key {PINNED}")]
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
        acks_last_hour: 100,
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
            "global circuit breaker",
            mail(),
            busy_world,
            policy(),
            withhold("global rate limit: 100 acks in the last hour"),
        ),
        (
            "copy in the same SMTP transaction: no APPEND",
            mail(),
            facts(),
            bcc,
            AckPlan::Send {
                copy_folder: None,
                references: vec!["m1@r".into(), "m2@r".into()],
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
            },
        ),
    ];
    for (case, m, f, p, expected) in cases {
        let (_, report) = new_report(run(m, &f, &p));
        assert_eq!(report.ack, expected, "{case}");
    }
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

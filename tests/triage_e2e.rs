//! Triage through the running loop (real Dovecot + Postfix): labels and
//! deadlines stored and shown, the ack tells the reporter what is missing and
//! whether the report looks out of scope, a critical report alerts the team,
//! and the team is warned before an assessment deadline passes.

mod common;

use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(20);

#[test]
fn critical_report_alerts_team_and_labels_reach_cli_and_ack() {
    let team = format!("team-{}@hexon.test", std::process::id());
    let setup = setup_with(
        "critical",
        &[(
            "retry_max_secs = 5\n",
            &format!("retry_max_secs = 5\nteam_address = \"{team}\"\n"),
        )],
        "warn_before_hours = 2000\n",
    );
    add_user(&team, &setup.users.password);
    wait_login(&team, &setup.users.password);
    let u = &setup.users;
    let critical = "Hello,\n\nregistry.hexon.io lets an unauthenticated user push Helm charts: \
remote code execution on every cluster that pulls them.\n\n\
Steps to reproduce:\n1. curl -X PUT https://registry.hexon.io/v2/charts/gateway/blobs/uploads/\n2. helm pull ...\n\n\
Impact: supply chain compromise of all customers.\n\n\
CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H\n\nProof of concept attached as curl commands above.\n";
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "Unauthenticated chart push",
            critical,
            "crit-1@researcher.test",
            "",
        ),
    );
    let scanner = "Hi, my automated scanner found that hexon.io has no DMARC record and the SPF record is too permissive. \
Also TLS 1.0 cipher suites. Please pay a bounty.";
    send_raw(
        &u.researcher,
        &u.security,
        &report_mail(
            &u.researcher,
            &u.security,
            "SPF and DMARC missing",
            scanner,
            "scan-1@researcher.test",
            "",
        ),
    );
    wait_messages(&u.security, &u.password, "INBOX", 2, DELIVERY);
    cli_ok(&setup, &["run", "--once"]);

    let reports = reports_json(&setup);
    assert_eq!(reports.len(), 2);
    let crit = &reports[0];
    assert_eq!(crit["component"], "registry.hexon.io", "{crit}");
    assert_eq!(crit["severity"], "critical");
    assert_eq!(crit["critical"], true);
    assert!(
        (crit["cvss_score"].as_f64().unwrap() - 10.0).abs() < 0.05,
        "{crit}"
    );
    let scan = &reports[1];
    assert_eq!(scan["out_of_scope"], "scanner-output", "{scan}");
    assert!(!scan["missing"].as_array().unwrap().is_empty());

    // Human-readable list and show carry the labels and deadlines.
    let table = cli_ok(&setup, &["reports", "list"]);
    assert!(
        table.contains("registry.hexon.io") && table.contains("scanner-output"),
        "{table}"
    );
    let show = cli_ok(
        &setup,
        &["reports", "show", crit["tracking_id"].as_str().unwrap()],
    );
    assert!(
        show.contains("CVSS 10.0") && show.contains("assessment due"),
        "{show}"
    );

    // The team got the critical alert and the deadline warnings.
    let team_mail = wait_messages(&team, &u.password, "INBOX", 3, DELIVERY);
    let subjects: Vec<String> = team_mail
        .iter()
        .filter_map(|m| m.header("Subject"))
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("CRITICAL")),
        "{subjects:?}"
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains("Initial assessment due"))
            .count(),
        2,
        "{subjects:?}"
    );

    // The acks say what is missing / out of scope; the deadline is in them.
    let acks = wait_messages(&u.researcher, &u.password, "INBOX", 2, DELIVERY);
    let scan_ack = acks
        .iter()
        .find(|m| m.header("In-Reply-To").as_deref() == Some("<scan-1@researcher.test>"))
        .unwrap();
    let text = scan_ack.parsed().body_text(0).unwrap().to_string();
    assert!(text.contains("looks out of scope"), "{text}");
    assert!(text.contains("still need"), "{text}");
    assert!(text.contains("Initial assessment due by"), "{text}");
    let crit_ack = acks
        .iter()
        .find(|m| m.header("In-Reply-To").as_deref() == Some("<crit-1@researcher.test>"))
        .unwrap();
    assert!(crit_ack
        .parsed()
        .body_text(0)
        .unwrap()
        .contains("escalated"));

    // A second pass queues no second warning.
    cli_ok(&setup, &["run", "--once"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(imap_messages(&team, &u.password, "INBOX").len(), 3);
    let overdue = cli_ok(&setup, &["reports", "overdue", "--json"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&overdue)
            .unwrap()
            .len(),
        0
    );
}

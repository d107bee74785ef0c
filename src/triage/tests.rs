//! Unit tests of the triage entry points: configuration validation, classification of
//! small reports, hostile input, the serialized names of the public types.
//! Pure; no I/O.

use super::*;

fn run(subject: &str, body: &str) -> Classification {
    classify(
        &ReportText {
            subject,
            body,
            attachment_names: &[],
        },
        &TriageConfig::default(),
    )
}

#[test]
fn default_config_is_valid() {
    assert_eq!(TriageConfig::default().validate(), Ok(()));
}

#[test]
fn validate_names_the_bad_entry() {
    let mut cfg = TriageConfig::default();
    cfg.components[2].name = " ".into();
    assert_eq!(
        cfg.validate(),
        Err("triage.components[2].name is empty".into())
    );
    let mut cfg = TriageConfig::default();
    cfg.components[1].hosts.push("*.".into());
    assert!(cfg
        .validate()
        .unwrap_err()
        .starts_with("triage.components[1].hosts[1]"));
    let mut cfg = TriageConfig::default();
    cfg.out_of_scope[0].keywords.push("  ".into());
    assert!(cfg
        .validate()
        .unwrap_err()
        .starts_with("triage.out_of_scope[0].keywords["));
    let mut cfg = TriageConfig::default();
    cfg.critical_signals.push(String::new());
    assert!(cfg
        .validate()
        .unwrap_err()
        .starts_with("triage.critical_signals["));
    let mut cfg = TriageConfig::default();
    cfg.components[3].name = cfg.components[0].name.to_uppercase();
    assert!(cfg.validate().unwrap_err().contains("duplicate"));
}

#[test]
fn config_round_trips_through_json_with_defaults() {
    let cfg: TriageConfig = serde_json::from_str(
        r#"{"components":[{"name":"X","hosts":["x.example"]}],"out_of_scope":[]}"#,
    )
    .unwrap();
    assert!(cfg.critical_signals.is_empty());
    assert!(cfg.components[0].aliases.is_empty());
    assert_eq!(cfg.validate(), Ok(()));
}

#[test]
fn specific_host_beats_wildcard() {
    let c = run(
        "Bug on https://registry.hexon.io/v2/_catalog",
        "It lists everything.",
    );
    assert_eq!(c.component.as_deref(), Some("registry.hexon.io"));
    assert!(c
        .component_evidence
        .contains(&"host:registry.hexon.io".to_string()));
    let c = run("Bug on https://docs.hexon.io/x", "It lists everything.");
    assert_eq!(c.component.as_deref(), Some("hexon.io"));
}

#[test]
fn nothing_matching_gives_unknown_component() {
    let c = run(
        "hello",
        "I found a critical vulnerability, reply for details.",
    );
    assert_eq!(c.component, None);
    assert_eq!(c.severity, Severity::Unknown);
    assert!(!c.critical);
}

#[test]
fn dos_as_impact_stays_in_scope_but_dos_report_is_out() {
    let c = run(
        "SQL injection in the gateway admin API",
        "The filter parameter allows SQL injection; heavy queries could also cause a denial of service.",
    );
    assert_eq!(c.out_of_scope, None);
    let c = run(
        "Denial of service against the gateway with slowloris",
        "Slowloris with 2000 connections makes the gateway unresponsive.",
    );
    assert_eq!(c.out_of_scope.as_deref(), Some("denial-of-service"));
}

#[test]
fn cvss_sets_severity_and_critical() {
    let c = run("RCE", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    assert_eq!(c.severity, Severity::Critical);
    assert!(c.critical);
    let c = run("XSS in the website", "reflected xss");
    assert_eq!(c.severity, Severity::Medium);
    assert!(!c.critical);
}

#[test]
fn configured_critical_signal_marks_critical() {
    let c = run(
        "bug",
        "This is being actively exploited against our gateway.",
    );
    assert!(c.critical);
}

#[test]
fn indicators_are_normalized_sorted_and_capped() {
    let mut body = String::from("CVE-2026-12345 https://Portal.Hexon.io/api/v1/Session?x=1 ");
    for i in 0..200 {
        body.push_str(&format!(" https://h{i}.example.com/p{i} "));
    }
    let c = run("x", &body);
    assert!(c.indicators.len() <= MAX_INDICATORS);
    assert_eq!(c.indicators[0], "/api/v1/session");
    assert!(c.indicators.windows(2).all(|w| w[0] < w[1]));
    let c = run(
        "x",
        "CVE-2026-12345 https://Portal.Hexon.io/api/v1/Session?x=1",
    );
    assert_eq!(
        c.indicators,
        vec!["/api/v1/session", "CVE-2026-12345", "portal.hexon.io"]
    );
}

#[test]
fn quoted_lines_are_ignored() {
    let c = run(
        "Re: your report",
        "> https://registry.hexon.io/v2/\nThanks!",
    );
    assert_eq!(c.component, None);
}

#[test]
fn hostile_input_never_panics() {
    let huge = "A".repeat(3 * 1024 * 1024);
    let weird = "\u{202e}\u{0}\u{FEFF}ｈｅｘｏｎ．ｉｏ 🦀 ÿ\r\n\r\n## \n1.\n```\n".repeat(2000);
    let names = vec!["".to_string(), "\u{0}.py".to_string(), "ä".repeat(10_000)];
    for body in [
        huge.as_str(),
        weird.as_str(),
        "",
        "CVSS:",
        "http://",
        "//////",
    ] {
        let t = ReportText {
            subject: body,
            body,
            attachment_names: &names,
        };
        let c = classify(&t, &TriageConfig::default());
        let f = fingerprint(&t, &c);
        let _ = similarity(&f, &f);
        let _ = parse_credit(body);
    }
}

#[test]
fn random_token_soup_never_panics() {
    // deterministic xorshift so failures reproduce
    let mut next = crate::triage::xorshift(0x9e37_79b9_7f4a_7c15);
    let vocab = [
        "CVSS:3.1/",
        "CVSS:4.0/",
        "AV:N",
        "/",
        "AC:L",
        "AT:",
        "U:Red",
        ":",
        "http://",
        "https://",
        "registry.hexon.io",
        "*.hexon.io",
        "@",
        ".",
        "..",
        "%2e",
        "ä",
        "日本",
        "€",
        "\u{0}",
        "\n",
        "\n1. ",
        "```",
        "`curl -",
        " curl ",
        "credit me as ",
        "> ",
        "-- \n",
        "Impact:",
        "## ",
        "【影響】",
        "denial of service",
        "gateway",
        "hexonctl",
        "{\"a\":1}",
        "<svg",
        "CVE-2026-",
        "\t",
        " ",
        "Ω",
        "\u{202e}",
        "e\u{301}",
        "İ",
        "ß",
    ];
    let cfg = TriageConfig::default();
    for _ in 0..2000 {
        let n = (next() % 60) as usize;
        let mut subject = String::new();
        let mut body = String::new();
        for i in 0..n {
            let tok = vocab[(next() % vocab.len() as u64) as usize];
            if i % 7 == 0 {
                subject.push_str(tok);
            } else {
                body.push_str(tok);
            }
        }
        let names = vec![body.chars().take(10).collect::<String>()];
        let t = ReportText {
            subject: &subject,
            body: &body,
            attachment_names: &names,
        };
        let c = classify(&t, &cfg);
        let f = fingerprint(&t, &c);
        let sim = similarity(&f, &f);
        assert!((0.0..=1.0).contains(&sim));
        let _ = parse_credit(&body);
        let _ = parse_cvss(&body);
    }
}

#[test]
fn severity_parse_and_as_str_round_trip() {
    for s in [
        Severity::Unknown,
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        assert_eq!(Severity::parse(s.as_str()), Some(s));
    }
    assert_eq!(Severity::parse("Moderate"), Some(Severity::Medium));
    assert_eq!(Severity::parse("bogus"), None);
    assert!(Severity::Critical > Severity::High);
}

#[test]
fn section_labels_and_serde_names() {
    assert_eq!(Section::StepsToReproduce.label(), "steps to reproduce");
    assert_eq!(
        serde_json::to_string(&Section::ProofOfConcept).unwrap(),
        "\"proof_of_concept\""
    );
    assert_eq!(
        serde_json::to_string(&Credit::Name("J".into())).unwrap(),
        r#"{"kind":"name","name":"J"}"#
    );
    assert_eq!(
        serde_json::to_string(&Credit::Anonymous).unwrap(),
        r#"{"kind":"anonymous"}"#
    );
}

#[test]
fn strong_cues_decide_on_what_the_reporter_did() {
    let c = run(
        "Account takeover via your support line",
        "I phoned your support number and said I was the admin of a customer account.\n\
         The agent removed MFA from the account.\nImpact: account takeover.",
    );
    assert_eq!(c.out_of_scope.as_deref(), Some("social-engineering"));
    assert!(c
        .out_of_scope_evidence
        .iter()
        .any(|e| e.starts_with("strong:")));
    assert_eq!(c.component, None);
    // the same words negated assert nothing
    let c = run(
        "Stored XSS in the customer portal",
        "I did not phone anyone and did not pretend to be staff.\n\
         Steps:\n1. open https://portal.hexon.io/tickets\n2. post <script>alert(1)</script>",
    );
    assert_eq!(c.out_of_scope, None);
    assert_eq!(c.component.as_deref(), Some("hexon.io"));
}

#[test]
fn a_strong_cue_needs_every_group_in_one_sentence() {
    let mut cfg = TriageConfig::default();
    cfg.out_of_scope[1].strong.push("a | + b".into());
    assert!(cfg
        .validate()
        .unwrap_err()
        .starts_with("triage.out_of_scope[1].strong[8]"));
    let mut cfg = TriageConfig::default();
    cfg.out_of_scope[1].strong = vec!["convinced + helpdesk".into()];
    cfg.out_of_scope[1].keywords = vec!["zzz".into()];
    let text = |body| ReportText {
        subject: "Report",
        body,
        attachment_names: &[],
    };
    let c = classify(&text("I convinced the helpdesk to reset it."), &cfg);
    assert_eq!(c.out_of_scope.as_deref(), Some("social-engineering"));
    let c = classify(&text("I convinced myself.\nThe helpdesk is slow."), &cfg);
    assert_eq!(c.out_of_scope, None);
}

#[test]
fn a_report_about_someone_elses_host_is_third_party_but_not_claimed() {
    let c = run(
        "SQL injection in your patient portal",
        "I found your address in the security.txt on hexon.io.\n\
         1. open https://portal.hexonpharma.example/appointments?clinic=3\n\
         2. send clinic=3' to https://portal.hexonpharma.example/appointments\n",
    );
    assert_eq!(c.out_of_scope.as_deref(), Some("third-party"));
    assert_eq!(
        c.out_of_scope_evidence,
        ["foreign-host:portal.hexonpharma.example"]
    );
    assert_eq!(c.component, None);
    assert_eq!(c.ack_claims().out_of_scope, None, "too unsure for the ack");
    // an attacker's or a lab host is not a target; a component named by word keeps scope
    let c = run(
        "Open redirect on auth.hexon.io",
        "https://auth.hexon.io/login?next=//evil.example/x lands on https://evil.example/x",
    );
    assert_eq!(c.out_of_scope, None);
    let c = run(
        "SSRF in the gateway",
        "curl https://gw.customer-lab.example/api -d url=http://metadata.customer-lab.example/",
    );
    assert_eq!(c.out_of_scope, None);
}

#[test]
fn critical_classes_named_in_the_subject_alert_the_team_without_a_claim() {
    for subject in [
        "registry.hexon.io token service grants anonymous pull on private repos",
        "Hexon Gateway: any user can register a WebAuthn key on another user's account",
        "gateway admin api reachable without login (encoded dot-dot)",
        "CI credentials with push scope in the Helm index",
    ] {
        let c = run(subject, "Details follow.");
        assert!(c.critical, "{subject}: {:?}", c.signals);
        assert!(!c.ack_claims().critical, "{subject}: no vector, no claim");
    }
    // naming private repositories is not reading them
    let c = run(
        "registry catalog lists names of private repositories",
        "Any logged-in user sees the names.",
    );
    assert!(!c.critical, "{:?}", c.signals);
}

#[test]
fn impact_without_the_word_attacker_is_an_impact() {
    for body in [
        "The token file is 0644. So a local unprivileged user gets alice's token.",
        "Anyone with a free account can dump every customer's user list.",
        "Un atacante podría robar la cookie de sesión.",
        "Why it matters: someone could walk into the office.",
    ] {
        let c = run("finding", body);
        assert!(
            !c.missing.contains(&Section::Impact),
            "{body}: {:?}",
            c.missing
        );
    }
}

#[test]
fn a_scanner_run_with_its_output_is_not_a_hand_validation() {
    let c = run(
        "Critical vulnerabilities found on portal.hexon.io",
        "Steps to reproduce:\n1. Run the scanner:\n\n$ nikto -h https://portal.hexon.io\n+ The anti-clickjacking X-Frame-Options header is not present.\n+ The X-Content-Type-Options header is not set.\n\nImpact: clickjacking and MIME sniffing.\n",
    );
    assert_eq!(c.out_of_scope.as_deref(), Some("scanner-output"));
    // the subject saying the PoC works is a hand validation
    let c = run(
        "Clickjacking on portal.hexon.io key deletion (working PoC)",
        "The page sets no X-Frame-Options header. Steps: 1. open the PoC page 2. click. Impact: a key is deleted.\nPoC:\n<iframe src=https://portal.hexon.io/keys></iframe>\n",
    );
    assert_eq!(c.out_of_scope, None, "{:?}", c.out_of_scope_evidence);
}

#[test]
fn among_close_components_the_one_the_subject_names_wins_unclaimed() {
    let c = run(
        "Gateway policy engine fails open when a deny condition errors",
        "Apply the policy with hexonctl policy apply deny.yaml, check it with hexonctl policy list and hexonctl policy show. Then the request passes.",
    );
    assert_eq!(
        c.component.as_deref(),
        Some("Hexon Gateway"),
        "{:?}",
        c.component_evidence
    );
    assert!(
        c.ack_claims().component.is_none(),
        "close call: not claimed"
    );
    assert!(c.review.component_candidates.len() >= 2);
}

#[test]
fn a_low_vector_does_not_hide_a_critical_subject_from_the_team() {
    let c = run(
        "registry.hexon.io token service grants push on hexon/gateway to any free account",
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:N/I:H/A:N",
    );
    assert!(c.critical, "{:?}", c.review.critical_evidence);
    assert!(!c.ack_claims().critical, "the ack follows the vector");
    let c = run(
        "Reflected XSS in docs search",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    );
    assert!(!c.critical);
}

//! Unit tests of config loading: the shipped example, error messages naming
//! file and dotted key, several problems at once, and [`super::peek`].
//!
//! I/O: reads the shipped example config and writes temp files.

use std::path::PathBuf;

use super::*;

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[test]
fn shipped_example_config_is_valid() {
    let path = example_dir().join("hexon-triage.example.toml");
    let config = Config::load(&path).expect("the shipped example must validate");
    assert_eq!(config.ack.tracking_prefix, "HEXON");
    assert!(config.triage.components.len() >= 4);
    assert_eq!(format!("{:?}", config.imap.password), "[redacted]");
}

#[test]
fn exactly_once_copy_mode_is_the_default_with_the_watched_address() {
    let path = example_dir().join("hexon-triage.example.toml");
    let config = Config::load(&path).expect("the shipped example must validate");
    assert_eq!(config.ack.copy_mode, CopyMode::Bcc);
    assert_eq!(config.ack.copy_address, "security@hexon.io");
    // An IMAP login that is not an address: the SMTP sender's address.
    let text = example_text().replace(
        "user = \"security@hexon.io\"\npassword_file = \"secrets/imap-password\"",
        "user = \"security\"\npassword_file = \"secrets/imap-password\"",
    );
    let config = Config::from_toml(&text, &path).unwrap();
    assert_eq!(config.imap.user, "security");
    assert_eq!(config.ack.copy_address, "security@hexon.io");
    // `append` stays available as an explicit opt-in.
    let text = example_text().replace("[ack]\n", "[ack]\ncopy_mode = \"append\"\n");
    let config = Config::from_toml(&text, &path).unwrap();
    assert_eq!(config.ack.copy_mode, CopyMode::Append);
}

fn example_text() -> String {
    std::fs::read_to_string(example_dir().join("hexon-triage.example.toml")).unwrap()
}

fn error_of(text: &str) -> String {
    let path = example_dir().join("broken.toml");
    Config::from_toml(text, &path).unwrap_err().to_string()
}

#[test]
fn unknown_key_is_named_with_its_table() {
    let text = example_text().replace("poll_interval_secs", "poll_intervall_secs");
    let err = error_of(&text);
    assert!(err.contains("imap"), "{err}");
    assert!(err.contains("poll_intervall_secs"), "{err}");
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn wrong_type_names_the_dotted_key() {
    let text = example_text().replace("port = 993", "port = \"nine\"");
    let err = error_of(&text);
    assert!(err.contains("imap.port"), "{err}");
}

#[test]
fn plaintext_imap_is_refused_unless_allowed() {
    let text = example_text().replace("tls = \"implicit\"", "tls = \"none\"");
    let err = error_of(&text);
    assert!(err.contains("imap.tls"), "{err}");
}

#[test]
fn missing_password_file_names_the_key() {
    let text = example_text().replace("secrets/imap-password", "secrets/nope");
    let err = error_of(&text);
    assert!(err.contains("imap.password_file"), "{err}");
    assert!(!err.contains("example-password"), "{err}");
}

#[test]
fn bad_time_zone_names_the_calendar() {
    let text = example_text().replace("Europe/Berlin", "Mars/Olympus");
    let err = error_of(&text);
    assert!(err.contains("calendar"), "{err}");
    assert!(err.contains("Mars/Olympus"), "{err}");
}

#[test]
fn parses_mailbox_addresses() {
    assert_eq!(
        parse_mailbox_address("Sec <Security@Hexon.io>").unwrap(),
        "security@hexon.io"
    );
    assert_eq!(parse_mailbox_address("a@b").unwrap(), "a@b");
    assert!(parse_mailbox_address("nobody").is_err());
    assert!(parse_mailbox_address("x <a@b>\r\nBcc: c@d").is_err());
}

#[test]
fn validation_reports_every_problem_at_once() {
    let text = example_text()
        .replace("port = 993", "port = 0")
        .replace("fetch_batch = 100", "fetch_batch = 0")
        .replace("tracking_prefix = \"HEXON\"", "tracking_prefix = \"hexon\"")
        .replace("max_mime_depth = 16", "max_mime_depth = 0")
        .replace("Europe/Berlin", "Mars/Olympus");
    let path = example_dir().join("broken.toml");
    let err = Config::from_toml(&text, &path).unwrap_err();
    let keys: Vec<String> = err
        .errors()
        .iter()
        .map(|e| match e {
            ConfigError::Invalid { key, .. } => key.clone(),
            other => panic!("not an Invalid: {other}"),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "imap.port",
            "imap.fetch_batch",
            "calendar",
            "ack.tracking_prefix",
            "limits.max_mime_depth"
        ]
    );
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, key) in lines.iter().zip(&keys) {
        assert!(line.contains("broken.toml"), "{line}");
        assert!(line.contains(&format!("key `{key}`")), "{line}");
    }
}

#[test]
fn file_problems_are_reported_together() {
    let text = example_text()
        .replace("secrets/imap-password", "secrets/nope")
        .replace("template_dir = \"templates\"", "template_dir = \"secrets\"");
    let err = error_of(&text);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("key `imap.password_file`"), "{err}");
    assert!(err.contains("key `ack.template_dir`"), "{err}");
    assert!(err.contains("has no template"), "{err}");
}

#[test]
fn a_single_problem_is_not_wrapped() {
    let text = example_text().replace("max_mime_depth = 16", "max_mime_depth = 0");
    let path = example_dir().join("broken.toml");
    let err = Config::from_toml(&text, &path).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: key `limits.max_mime_depth`: must be at least 1",
            path.display()
        )
    );
}

#[test]
fn peek_expands_the_credentials_directory_like_the_full_load() {
    // NOTE: the only test that sets this variable; the others never name it.
    let creds = tempfile::tempdir().unwrap();
    std::env::set_var("CREDENTIALS_DIRECTORY", creds.path());
    let secret = creds.path().join("imap-password");
    std::fs::write(&secret, "from-credentials\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = example_text()
        .replace(
            "\"secrets/imap-password\"",
            "\"${CREDENTIALS_DIRECTORY}/imap-password\"",
        )
        .replace(
            "\"secrets/",
            &format!("\"{}/secrets/", example_dir().display()),
        )
        .replace(
            "template_dir = \"templates\"",
            &format!("template_dir = \"{}/templates\"", example_dir().display()),
        )
        .replace(
            "path = \"/var/lib/hexon-triage/triage.db\"",
            "path = \"$CREDENTIALS_DIRECTORY/triage.db\"",
        );
    let path = dir.path().join("hexon-triage.toml");
    std::fs::write(&path, text).unwrap();

    let peeked = peek(&path).unwrap();
    assert_eq!(peeked.database().unwrap(), creds.path().join("triage.db"));
    assert_eq!(peeked.log_format, LogFormat::Text);
    let config = Config::load(&path).unwrap();
    assert_eq!(config.database, creds.path().join("triage.db"));
    assert_eq!(config.imap.password.expose(), "from-credentials");
}

#[test]
fn peek_anchors_relative_database_paths_at_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[store]\npath = \"triage.db\"\n").unwrap();
    assert_eq!(
        peek(&path).unwrap().database().unwrap(),
        dir.path().join("triage.db")
    );
    let missing = dir.path().join("nope.toml");
    assert!(matches!(peek(&missing), Err(ConfigError::Read { .. })));
}

#[test]
fn plaintext_is_refused_to_a_non_loopback_host() {
    let plain = example_text().replace(
        "tls = \"implicit\"\n# allow_plaintext = false",
        "tls = \"none\"\nallow_plaintext = true",
    );
    assert!(plain.contains("allow_plaintext = true"), "example changed");
    let err = error_of(&plain);
    assert!(err.contains("imap.allow_plaintext"), "{err}");
    assert!(err.contains("imap.hexon.io"), "{err}");
    assert!(err.contains("broken.toml"), "names the file: {err}");
    for host in ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"] {
        let text = plain.replace("host = \"imap.hexon.io\"", &format!("host = \"{host}\""));
        let path = example_dir().join("loopback.toml");
        let err = Config::from_toml(&text, &path).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_none_or(|e| !e.contains("allow_plaintext")),
            "{host}: {err:?}"
        );
    }
}

#[test]
fn tls_pins_are_parsed_and_a_bad_one_names_its_key() {
    let pin = "sha256/fTZ+WmiQ7kGCjEQSeoXzht2BI5QN0S6suzt4yr4uPo0=";
    let text = example_text().replace("# tls_pin = \"sha256/fTZ", "tls_pin = \"sha256/fTZ");
    let path = example_dir().join("hexon-triage.example.toml");
    let config = Config::from_toml(&text, &path).unwrap();
    assert_eq!(
        config.imap.tls_pin.map(|p| p.to_string()).as_deref(),
        Some(pin)
    );
    assert!(config.smtp.tls_pin.is_none());

    let text = example_text().replace("# tls_pin = \"sha256/...\"", "tls_pin = \"AB:CD\"");
    let err = error_of(&text);
    assert!(
        err.contains("key `smtp.tls_pin`") && err.contains("sha256/BASE64"),
        "{err}"
    );
}

fn with_metrics(listen: &str) -> Result<Config> {
    let text = format!("{}\n[metrics]\nlisten = \"{listen}\"\n", example_text());
    Config::from_toml(&text, &example_dir().join("hexon-triage.example.toml"))
}

#[test]
fn metrics_endpoint_is_off_by_default_and_listens_on_loopback_or_unix() {
    let path = example_dir().join("hexon-triage.example.toml");
    assert!(Config::load(&path).unwrap().metrics.is_none());
    let tcp = with_metrics("127.0.0.1:9187").unwrap().metrics.unwrap();
    assert_eq!(tcp.listen.to_string(), "127.0.0.1:9187");
    let v6 = with_metrics("[::1]:9187").unwrap().metrics.unwrap();
    assert_eq!(v6.listen.to_string(), "[::1]:9187");
    let unix = with_metrics("unix:run/metrics.sock")
        .unwrap()
        .metrics
        .unwrap();
    assert_eq!(
        unix.listen,
        MetricsListen::Unix(example_dir().join("run/metrics.sock"))
    );
}

#[test]
fn metrics_on_a_non_loopback_address_is_refused_naming_file_and_key() {
    for bad in [
        "0.0.0.0:9187",
        "192.0.2.1:9187",
        "[::]:9187",
        "localhost:9187",
        "127.0.0.1:0",
        "unix:",
    ] {
        let err = with_metrics(bad).unwrap_err().to_string();
        assert!(err.contains("metrics.listen"), "{bad}: {err}");
        assert!(err.contains("hexon-triage.example.toml"), "{bad}: {err}");
    }
    let err = with_metrics("0.0.0.0:9187").unwrap_err().to_string();
    assert!(err.contains("not a loopback address"), "{err}");
}

#[test]
fn status_notices_name_existing_statuses_or_the_key() {
    let text = example_text().replace(
        "# status_notices = [\"accepted\", \"fixed\"]",
        "status_notices = [\"fixed\", \"solved\"]",
    );
    assert!(
        text.contains("status_notices = [\"fixed\""),
        "example changed"
    );
    let err = error_of(&text);
    assert!(
        err.contains("team.status_notices[1]") && err.contains("solved"),
        "{err}"
    );
    let ok = example_text().replace(
        "# status_notices = [\"accepted\", \"fixed\"]",
        "status_notices = [\"fixed\"]",
    );
    let path = example_dir().join("hexon-triage.example.toml");
    assert_eq!(
        Config::from_toml(&ok, &path).unwrap().team.status_notices,
        ["fixed"]
    );
}

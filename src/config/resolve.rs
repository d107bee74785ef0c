//! Phase 3 of loading: paths and secrets of a [`Validated`] config.
//!
//! I/O: the only file access of the config module after reading the config
//! itself — reads the secret files (passwords, key passphrase) and checks that
//! the CA and team key files exist. Relative paths are relative to the config
//! file's directory; `$CREDENTIALS_DIRECTORY` is expanded first. Must not
//! check values (that is [`super::validate`]) and never puts a secret into an
//! error message.

use std::path::{Path, PathBuf};

use super::validate::{Problems, Validated};
use super::{Config, Secret};

/// Resolve every path of `v` and read its secrets. Returns the config even
/// when there are problems (then it must not be used), so that the caller can
/// add its own checks (templates) and report everything at once.
pub(super) fn resolve(v: Validated) -> (Config, Problems) {
    let Validated {
        mut config,
        secrets,
    } = v;
    let mut p = Problems::default();
    let base = base_dir(&config.path).to_path_buf();
    let resolve = |path: &Path| resolve_path(&base, path);

    config.imap.ca_file = config.imap.ca_file.as_deref().map(resolve);
    check_file(&mut p, "imap.ca_file", config.imap.ca_file.as_deref());
    config.imap.password = read_secret(
        &mut p,
        "imap.password_file",
        &resolve(&secrets.imap_password),
    );
    if let (Some(file), Some(_)) = (&secrets.smtp_password, &config.smtp.password) {
        config.smtp.password = Some(read_secret(&mut p, "smtp.password_file", &resolve(file)));
    }
    config.smtp.ca_file = config.smtp.ca_file.as_deref().map(resolve);
    check_file(&mut p, "smtp.ca_file", config.smtp.ca_file.as_deref());
    config.database = resolve(&config.database);
    config.audit_anchor = resolve(&config.audit_anchor);
    config.ack.template_dir = resolve(&config.ack.template_dir);
    config.openpgp.team_keys = config
        .openpgp
        .team_keys
        .iter()
        .map(|k| resolve(k))
        .collect();
    for (n, key) in config.openpgp.team_keys.iter().enumerate() {
        check_file(&mut p, &format!("openpgp.team_keys[{n}]"), Some(key));
    }
    if let Some(file) = &secrets.passphrase {
        config.openpgp.passphrase = Some(read_secret(
            &mut p,
            "openpgp.passphrase_file",
            &resolve(file),
        ));
    }
    for (n, member) in config.team.members.iter_mut().enumerate() {
        member.cert = resolve(&member.cert);
        check_file(
            &mut p,
            &format!("team.members[{n}].cert"),
            Some(&member.cert),
        );
    }
    if let Some(metrics) = &mut config.metrics {
        if let super::MetricsListen::Unix(path) = &metrics.listen {
            metrics.listen = super::MetricsListen::Unix(resolve(path));
        }
    }
    (config, p)
}

/// The directory relative paths in the config file at `config` refer to.
pub(super) fn base_dir(config: &Path) -> &Path {
    config.parent().unwrap_or(Path::new("."))
}

/// `path` with `$CREDENTIALS_DIRECTORY` expanded, made absolute against `base`.
pub(super) fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    let path = expand_credentials(path);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// `${CREDENTIALS_DIRECTORY}/name` (or `$CREDENTIALS_DIRECTORY/name`) → the
/// directory systemd's `LoadCredential=` filled for this service.
pub(super) fn expand_credentials(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    for prefix in ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
                return PathBuf::from(dir).join(rest.trim_start_matches('/'));
            }
        }
    }
    path.to_path_buf()
}

fn check_file(p: &mut Problems, key: &str, file: Option<&Path>) {
    if let Some(file) = file {
        if !file.is_file() {
            p.push(key, format!("{} is not a readable file", file.display()));
        }
    }
}

/// The secret in `file` without its trailing line break; an empty
/// [`Secret`] with the problem recorded if it cannot be read or is empty.
fn read_secret(p: &mut Problems, key: &str, file: &Path) -> Secret {
    match std::fs::read_to_string(file) {
        Err(e) => p.push(
            key,
            format!("cannot read secret file {}: {e}", file.display()),
        ),
        Ok(value) => {
            let value = value.trim_end_matches(['\r', '\n']);
            if !value.is_empty() {
                return Secret::new(value);
            }
            p.push(key, format!("secret file {} is empty", file.display()));
        }
    }
    Secret::default()
}

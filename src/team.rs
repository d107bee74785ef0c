//! Team correspondence (issue 12), the pure part: the leading command lines
//! of a team member's mail (`/note`, `/status X`, `/severity X`,
//! `/assign NAME`, `/credit "Name"`, `/duplicate ID`), split from the text
//! the reporter gets, and the checks of their values.
//!
//! No I/O. Who counts as a team member (a good signature by a configured
//! member key) and what a team mail may do is decided in `decide`; the
//! member certificates are loaded by [`members`].

pub mod members;

use serde::Serialize;

/// The statuses a report can have (`reports.status`).
pub use crate::model::REPORT_STATUSES;

/// One quick action: a leading `/verb value` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "value", rename_all = "snake_case")]
pub enum QuickAction {
    Status(String),
    Severity(String),
    Assign(String),
    Credit(String),
    Duplicate(String),
}

impl QuickAction {
    /// The `reports` column the action writes and its value.
    pub fn column(&self) -> (&'static str, &str) {
        match self {
            QuickAction::Status(v) => ("status", v),
            QuickAction::Severity(v) => ("severity", v),
            QuickAction::Assign(v) => ("assignee", v),
            QuickAction::Credit(v) => ("credit", v),
            QuickAction::Duplicate(v) => ("possible_duplicate_of", v),
        }
    }
}

/// A team mail's text, read: the commands at its top and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    /// A first line `/note`: the mail is an internal note.
    pub note: bool,
    pub actions: Vec<QuickAction>,
    /// Lines that look like commands but are not (unknown verb, bad value).
    pub errors: Vec<String>,
    /// The text without the command lines (what the reporter may get).
    pub body: String,
}

/// Read the leading command lines of `text`: blank lines and lines starting
/// with `/` at the top; the first other line starts the body. `/note` counts
/// only as the first command. `members` are the names `/assign` accepts.
pub fn parse_commands(text: &str, members: &[String]) -> Commands {
    let mut c = Commands::default();
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let trimmed = line.trim();
        if trimmed.is_empty() {
            rest = after;
            continue;
        }
        if !trimmed.starts_with('/') {
            break;
        }
        rest = after;
        if first && trimmed.eq_ignore_ascii_case("/note") {
            c.note = true;
        } else {
            match parse_action(trimmed, members) {
                Ok(action) => c.actions.push(action),
                Err(e) => c.errors.push(e),
            }
        }
        first = false;
    }
    c.body = rest.trim_end().to_string();
    c
}

/// One `/verb value` line.
fn parse_action(line: &str, members: &[String]) -> Result<QuickAction, String> {
    let (verb, value) = line[1..]
        .split_once(char::is_whitespace)
        .map(|(v, rest)| (v, rest.trim()))
        .unwrap_or((&line[1..], ""));
    let verb = verb.to_ascii_lowercase();
    // NOTE: values are named in errors only after these checks passed or as
    // a short, cleaned excerpt: errors go into notices and the audit trail.
    let shown = short(value);
    let known = ["status", "severity", "assign", "credit", "duplicate"];
    if value.is_empty() && known.contains(&verb.as_str()) {
        return Err(format!("/{} needs a value", short(&verb)));
    }
    match verb.as_str() {
        "status" => {
            let v = value.to_ascii_lowercase();
            if REPORT_STATUSES.contains(&v.as_str()) {
                Ok(QuickAction::Status(v))
            } else {
                Err(format!(
                    "/status `{shown}` is not one of {}",
                    REPORT_STATUSES.join(", ")
                ))
            }
        }
        "severity" => {
            let v = value.to_ascii_lowercase();
            match crate::triage::Severity::parse(&v) {
                Some(sev) => Ok(QuickAction::Severity(sev.as_str().to_string())),
                None => Err(format!("/severity `{shown}` is not known")),
            }
        }
        "assign" => members
            .iter()
            .find(|m| m.eq_ignore_ascii_case(value))
            .map(|m| QuickAction::Assign(m.clone()))
            .ok_or_else(|| format!("/assign `{shown}` is not a configured team member")),
        "credit" => {
            let name = value.trim_matches('"').trim();
            crate::advisory::model::check_credit_name("/credit", name)
                .map(|_| QuickAction::Credit(name.to_string()))
                .map_err(|e| e.to_string())
        }
        "duplicate" => {
            let v = value.to_ascii_uppercase();
            if is_tracking_shape(&v) {
                Ok(QuickAction::Duplicate(v))
            } else {
                Err(format!("/duplicate `{shown}` is not a tracking id"))
            }
        }
        "note" => Err("/note must be the first line".into()),
        other => Err(format!("unknown command /{}", short(other))),
    }
}

/// PREFIX-YYYY-NNNN (letters, digits and dashes; a year; a number).
fn is_tracking_shape(v: &str) -> bool {
    let parts: Vec<&str> = v.rsplitn(3, '-').collect();
    parts.len() == 3
        && parts[0].len() >= 4
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts[1].len() == 4
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && !parts[2].is_empty()
        && parts[2]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// At most 40 printable characters of a value, for error texts.
fn short(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect::<String>()
}

/// Is `address` a `+note` sub-address (local part ending in `+note`)?
pub fn is_note_address(address: &str) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(local, _)| local.to_ascii_lowercase().ends_with("+note"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<String> {
        vec!["alice".into(), "Bob".into()]
    }

    #[test]
    fn leading_commands_are_taken_off_the_body() {
        let c = parse_commands(
            "/status accepted\n/severity HIGH\n/assign bob\n/credit \"Jane Doe\"\n/duplicate hexon-2026-0007\n\nThanks, we reproduced it.\n/status not-a-command-here\n",
            &members(),
        );
        assert!(!c.note);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(
            c.actions,
            vec![
                QuickAction::Status("accepted".into()),
                QuickAction::Severity("high".into()),
                QuickAction::Assign("Bob".into()),
                QuickAction::Credit("Jane Doe".into()),
                QuickAction::Duplicate("HEXON-2026-0007".into()),
            ]
        );
        assert_eq!(
            c.body,
            "Thanks, we reproduced it.\n/status not-a-command-here"
        );
    }

    #[test]
    fn note_only_as_the_first_line() {
        let c = parse_commands("/note\n/status fixed\ninternal", &members());
        assert!(c.note);
        assert_eq!(c.actions, vec![QuickAction::Status("fixed".into())]);
        assert_eq!(c.body, "internal");
        let c = parse_commands("/status fixed\n/note\nx", &members());
        assert!(!c.note);
        assert_eq!(c.errors, vec!["/note must be the first line".to_string()]);
    }

    #[test]
    fn bad_commands_are_errors() {
        let c = parse_commands(
            "/status triaged\n/severity huge\n/assign mallory\n/frobnicate\n/duplicate 7\nbody",
            &members(),
        );
        assert!(c.actions.is_empty());
        assert_eq!(c.errors.len(), 5, "{:?}", c.errors);
        assert!(c.errors[0].contains("triaged"));
        assert!(c.errors[3].contains("unknown command /frobnicate"));
    }

    #[test]
    fn plain_text_has_no_commands() {
        let c = parse_commands("Hello,\n/status fixed\n", &members());
        assert_eq!(
            c,
            Commands {
                body: "Hello,\n/status fixed".into(),
                ..Commands::default()
            }
        );
    }

    #[test]
    fn note_sub_address() {
        assert!(is_note_address("security+note@example.org"));
        assert!(is_note_address("Security+NOTE@example.org"));
        assert!(!is_note_address("security@example.org"));
        assert!(!is_note_address("note@example.org"));
    }
}

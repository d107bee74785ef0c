//! Template rendering (minijinja) for acknowledgements, neutral notices and
//! team alerts.
//!
//! Pure: templates are loaded once from the template directory; rendering
//! takes derived facts only ([`AckFacts`]) — never a report's body or subject,
//! so no template can leak report content.

use std::path::Path;

use chrono::{DateTime, Utc};
use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::parse::clean_line;
use crate::sla::BusinessCalendar;
use crate::store::AckFacts;

/// Templates every template directory must hold.
pub const TEMPLATE_FILES: [&str; 12] = [
    "ack.txt.j2",
    "ack-neutral.txt.j2",
    "alert.txt.j2",
    "deadline.txt.j2",
    // Issue 14: reporter milestones, the publish notice, the team's disclosure reminder.
    "milestone-triaged.txt.j2",
    "milestone-fixing.txt.j2",
    "milestone-fixed.txt.j2",
    "advisory-published.txt.j2",
    "disclosure-reminder.txt.j2",
    // Issue 12: a team member's reply relayed to the reporter; a notice to the member.
    "team-reply.txt.j2",
    "team-notice.txt.j2",
    // Issue 12: the reporter's report changed to a status listed in `team.status_notices`.
    "status-notice.txt.j2",
];

/// Whether `dir` holds every template in [`TEMPLATE_FILES`] (existence
/// only; [`Templates::load`] also compiles them). Called by config loading,
/// which knows no template names.
///
/// I/O: one `stat` per template file.
///
/// # Errors
/// A message naming the directory and the first missing template.
pub fn check_template_dir(dir: &Path) -> Result<(), String> {
    match TEMPLATE_FILES.iter().find(|n| !dir.join(n).is_file()) {
        Some(name) => Err(format!("{} has no template {name}", dir.display())),
        None => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot load template {name}: {message}")]
    Load { name: String, message: String },
    #[error("cannot render template {name}: {message}")]
    Render { name: String, message: String },
    #[error("template {name} must start with a `Subject:` line followed by a blank line")]
    NoSubject { name: String },
}

/// A rendered reply: one subject line and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// Values the templates see besides the facts.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub policy_url: String,
    pub security_txt_url: String,
    pub from_address: String,
    pub time_zone: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Load and compile every template in `dir`.
    ///
    /// # Errors
    /// A template is missing or does not compile.
    pub fn load(dir: &Path) -> Result<Templates, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        for name in TEMPLATE_FILES {
            let source =
                std::fs::read_to_string(dir.join(name)).map_err(|e| RenderError::Load {
                    name: name.to_string(),
                    message: format!("{}: {e}", dir.join(name).display()),
                })?;
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| RenderError::Load {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { env })
    }

    /// Render `name` with the facts of one report.
    ///
    /// # Errors
    /// The template fails at render time or has no subject line.
    pub fn render(
        &self,
        name: &str,
        facts: &AckFacts,
        site: &Site,
        calendar: &BusinessCalendar,
    ) -> Result<Rendered, RenderError> {
        self.render_with(name, facts, site, calendar, &serde_json::Value::Null)
    }

    /// [`Self::render`] with `notice` as the template's `notice` value
    /// (advisory id and link, disclosure date: ids and dates only).
    ///
    /// # Errors
    /// As [`Self::render`].
    pub fn render_with(
        &self,
        name: &str,
        facts: &AckFacts,
        site: &Site,
        calendar: &BusinessCalendar,
        notice: &serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let fmt = |at: DateTime<Utc>| calendar.format_local(at);
        let missing: Vec<&str> = facts.missing.iter().map(|s| s.label()).collect();
        let template = self.env.get_template(name).map_err(|e| RenderError::Load {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        let text = template
            .render(context! {
                tracking_id => facts.tracking_id,
                received_at => fmt(facts.received_at),
                ack_due => fmt(facts.ack_due),
                assessment_due => fmt(facts.assessment_due),
                encrypted => facts.encrypted,
                component => facts.component,
                out_of_scope => facts.out_of_scope,
                missing => missing,
                severity => facts.severity,
                critical => facts.critical,
                needs_review => facts.needs_review,
                policy_url => site.policy_url,
                security_txt_url => site.security_txt_url,
                from_address => site.from_address,
                time_zone => site.time_zone,
                notice => notice,
            })
            .map_err(|e| RenderError::Render {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        split_subject(name, &text)
    }
}

fn split_subject(name: &str, text: &str) -> Result<Rendered, RenderError> {
    let text = text.trim_start_matches(['\r', '\n']);
    let (first, rest) = text
        .split_once('\n')
        .ok_or_else(|| RenderError::NoSubject { name: name.into() })?;
    let subject = first
        .strip_prefix("Subject:")
        .ok_or_else(|| RenderError::NoSubject { name: name.into() })?;
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'));
    let Some(body) = rest else {
        return Err(RenderError::NoSubject { name: name.into() });
    };
    Ok(Rendered {
        subject: clean_line(subject, 250),
        body: body.replace("\r\n", "\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::Section;
    use std::path::PathBuf;

    fn facts() -> AckFacts {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        AckFacts {
            tracking_id: "HEXON-2026-0042".into(),
            received_at: at,
            ack_due: at,
            assessment_due: at,
            encrypted: false,
            component: Some("Hexon Gateway".into()),
            out_of_scope: None,
            missing: vec![Section::StepsToReproduce],
            severity: "high".into(),
            critical: false,
            needs_review: false,
            reporter_address: "alice@researcher.test".into(),
            reporter_key: None,
        }
    }

    fn site() -> Site {
        Site {
            policy_url: "https://hexon.io/security".into(),
            security_txt_url: "https://hexon.io/.well-known/security.txt".into(),
            from_address: "security@hexon.io".into(),
            time_zone: "Europe/Berlin".into(),
        }
    }

    fn templates() -> Templates {
        Templates::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/templates"))
            .unwrap()
    }

    fn calendar() -> BusinessCalendar {
        BusinessCalendar::new("Europe/Berlin", &["mon".into(), "tue".into()], &[]).unwrap()
    }

    #[test]
    fn shipped_ack_names_tracking_id_and_missing_sections() {
        let r = templates()
            .render("ack.txt.j2", &facts(), &site(), &calendar())
            .unwrap();
        assert!(r.subject.contains("HEXON-2026-0042"), "{}", r.subject);
        assert!(r.body.contains("HEXON-2026-0042"));
        assert!(
            r.body.contains(Section::StepsToReproduce.label()),
            "{}",
            r.body
        );
        assert!(r.body.contains("https://hexon.io/security"));
    }

    #[test]
    fn neutral_notice_carries_no_report_facts() {
        let mut f = facts();
        f.encrypted = true;
        f.component = Some("SECRET-COMPONENT".into());
        let r = templates()
            .render("ack-neutral.txt.j2", &f, &site(), &calendar())
            .unwrap();
        assert!(r.body.contains("HEXON-2026-0042"));
        assert!(!r.body.contains("SECRET-COMPONENT"));
        assert!(!r.body.contains(Section::StepsToReproduce.label()));
    }

    #[test]
    fn subject_line_is_required() {
        assert!(split_subject("x", "no subject here\n\nbody").is_err());
        let r = split_subject("x", "Subject: a\r\nb\n\nbody\n");
        assert!(r.is_err(), "a second header line is not a blank line");
        let r = split_subject("x", "Subject: [T-1] ok\n\nbody\n").unwrap();
        assert_eq!(r.subject, "[T-1] ok");
        assert_eq!(r.body, "body\n");
    }
}

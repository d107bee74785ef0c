//! From report to published advisory: the advisory record ([`model`]), its
//! exports — CSAF 2.0 ([`csaf`]), CVE JSON 5.1 ([`cve`]), OSV ([`osv`]),
//! Markdown ([`markdown`]) — the `/.well-known/csaf/` tree ([`wellknown`]),
//! and the `[advisory]` settings ([`config`]).
//!
//! Pure except [`config::peek`] (reads the config file) and
//! [`wellknown::write`] (writes the tree). Storage is `store::advisory`; the
//! CLI is `cli/advisory.rs`; mails (publish notice, milestones, reminders) go
//! through the outbox. Credits are never typed in here: they come from each
//! feeding report's recorded consent (`reports.credit`).

pub mod config;
pub mod csaf;
pub mod cve;
pub mod markdown;
pub mod model;
pub mod osv;
pub mod wellknown;

pub use config::{AdvisoryConfig, Milestones};
pub use model::{Advisory, AdvisoryStatus, CreditState, FieldError};

/// Export formats of `advisory export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csaf,
    Cve,
    Osv,
    Markdown,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csaf" => Some(Format::Csaf),
            "cve" => Some(Format::Cve),
            "osv" => Some(Format::Osv),
            "markdown" | "md" | "text" => Some(Format::Markdown),
            _ => None,
        }
    }
}

/// The export of `a` in `format` as text, and warnings for the team.
///
/// # Errors
/// [`FieldError`] for a field the format needs and the advisory lacks.
pub fn export(
    a: &Advisory,
    format: Format,
    config: &AdvisoryConfig,
) -> Result<(String, Vec<String>), FieldError> {
    a.check_exportable()?;
    let pretty = |v: &serde_json::Value| {
        let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    Ok(match format {
        Format::Csaf => {
            let e = csaf::export(a, config);
            (pretty(&e.document), e.warnings)
        }
        Format::Cve => (pretty(&cve::export(a, config)?), Vec::new()),
        Format::Osv => (pretty(&osv::export(a, config)), Vec::new()),
        Format::Markdown => (markdown::export(a, config), Vec::new()),
    })
}

#[cfg(test)]
mod tests;

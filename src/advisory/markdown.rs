//! A human-readable Markdown (plain-text friendly) advisory from an [`Advisory`].
//!
//! Pure. Credits come from recorded consent only; a draft lists reports whose
//! reporter never answered the credit question, so the team can ask.

use std::fmt::Write as _;

use super::config::AdvisoryConfig;
use super::model::{Advisory, AdvisoryStatus, Credited};

/// The Markdown text for `a`.
pub fn export(a: &Advisory, config: &AdvisoryConfig) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}: {}\n", a.advisory_id, a.title);
    let status = match a.status {
        AdvisoryStatus::Published => format!(
            "published {}",
            a.published_at
                .map(|p| p.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        ),
        other => format!(
            "{} (not public; disclosure planned {})",
            other.as_str(),
            a.disclosure_at.format("%Y-%m-%d")
        ),
    };
    let _ = writeln!(o, "- **Status:** {status}");
    if let Some(r) = a.revisions.last() {
        let _ = writeln!(o, "- **Revision:** {} ({})", r.number, r.summary);
    }
    if let Some(cve) = &a.cve_id {
        let _ = writeln!(o, "- **CVE:** {cve}");
    }
    let product = match &a.component {
        Some(c) => format!("{} {} ({c})", config.vendor, a.product),
        None => format!("{} {}", config.vendor, a.product),
    };
    let _ = writeln!(o, "- **Product:** {product}");
    let _ = writeln!(
        o,
        "- **Affected versions:** {}",
        join_or(&a.affected_versions, "none given")
    );
    let _ = writeln!(
        o,
        "- **Fixed versions:** {}",
        join_or(&a.fixed_versions, "no fix yet")
    );
    if let (Some(id), Some(name)) = (&a.cwe, &a.cwe_name) {
        let _ = writeln!(o, "- **Weakness:** {id} {name}");
    }
    for s in [a.score_v31(), a.score_v40()].into_iter().flatten() {
        let _ = writeln!(
            o,
            "- **CVSS v{}:** {} {} `{}`",
            s.version, s.score, s.severity, s.vector
        );
    }
    let _ = writeln!(
        o,
        "\n## Description\n\n{}",
        a.description.as_deref().unwrap_or("(not written yet)")
    );
    let _ = writeln!(
        o,
        "\n## Remediation\n\n{}",
        a.remediation.as_deref().unwrap_or("(not written yet)")
    );
    let credits = a.credits();
    if !credits.is_empty() {
        let _ = writeln!(o, "\n## Credits\n");
        for c in &credits {
            match c {
                Credited::Name(n) => {
                    let _ = writeln!(o, "- {n}");
                }
                Credited::Anonymous => {
                    let _ = writeln!(o, "- An anonymous researcher");
                }
            }
        }
    }
    let unanswered = a.unanswered();
    if a.status != AdvisoryStatus::Published && !unanswered.is_empty() {
        let _ = writeln!(
            o,
            "\n> Draft note: no credit answer from the reporter of {} (not credited unless they answer).",
            unanswered.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "\n---\nCSAF: {}/{}/{}",
        config.base_url,
        a.csaf_year(),
        a.csaf_file_name()
    );
    o
}

fn join_or(list: &[String], empty: &str) -> String {
    if list.is_empty() {
        empty.to_string()
    } else {
        list.join(", ")
    }
}

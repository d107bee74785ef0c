//! `reports export [filters] --format json|csv [--output FILE]`.
//!
//! I/O: reads the store; writes FILE or stdout (and one line to stderr with
//! `--output`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::super::{exit, ExitError};
use crate::store::{ReportFilter, ReportRow, Store};

/// `reports export --format json|csv`.
pub(super) fn export(
    store: &Store,
    filter: &ReportFilter,
    format: &str,
    output: Option<&PathBuf>,
) -> Result<i32> {
    let rows = store.list_reports(filter)?;
    let mut buffer: Vec<u8> = Vec::new();
    match format {
        "json" => {
            serde_json::to_writer_pretty(&mut buffer, &rows)?;
            buffer.push(b'\n');
        }
        "csv" => write_csv(&mut buffer, &rows)?,
        other => {
            return Err(ExitError {
                code: exit::USAGE,
                message: format!("unknown export format `{other}` (json or csv)"),
            }
            .into())
        }
    }
    match output {
        Some(path) => {
            std::fs::write(path, &buffer)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported {} report(s) to {}", rows.len(), path.display());
        }
        None => std::io::stdout().write_all(&buffer)?,
    }
    Ok(exit::OK)
}

/// One header line, then one line per report.
fn write_csv(buffer: &mut Vec<u8>, rows: &[ReportRow]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(buffer);
    writer.write_record([
        "tracking_id",
        "status",
        "reporter",
        "subject",
        "encrypted",
        "component",
        "out_of_scope",
        "missing",
        "severity",
        "cvss_score",
        "critical",
        "received_at",
        "ack_due",
        "assessment_due",
        "acked_at",
        "assessed_at",
        "possible_duplicate_of",
        "references_report",
        "needs_review",
        "assignee",
        "credit",
    ])?;
    for r in rows {
        writer.write_record([
            r.tracking_id.clone(),
            r.status.clone(),
            r.reporter.clone(),
            r.subject.clone().unwrap_or_default(),
            r.encrypted.to_string(),
            r.component.clone().unwrap_or_default(),
            r.out_of_scope.clone().unwrap_or_default(),
            r.missing.join("; "),
            r.severity.clone(),
            r.cvss_score.map(|s| format!("{s:.1}")).unwrap_or_default(),
            r.critical.to_string(),
            r.received_at.clone(),
            r.ack_due.clone(),
            r.assessment_due.clone(),
            r.acked_at.clone().unwrap_or_default(),
            r.assessed_at.clone().unwrap_or_default(),
            r.possible_duplicate_of.clone().unwrap_or_default(),
            r.references_report.clone().unwrap_or_default(),
            r.needs_review.to_string(),
            r.assignee.clone().unwrap_or_default(),
            r.credit.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

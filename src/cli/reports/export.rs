//! `reports export [filters] --format json|csv [--output FILE]`.
//!
//! I/O: reads the store; writes FILE (a new 0600 file renamed into place,
//! never through a symlink: `super::super::outfile`) or stdout, and one line
//! to stderr with `--output`. Must not: emit a CSV cell a spreadsheet runs as
//! a formula.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::super::{exit, outfile, ExitError};
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
            outfile::write_private(path, &buffer, outfile::Existing::Replace)?;
            eprintln!("exported {} report(s) to {}", rows.len(), path.display());
        }
        None => std::io::stdout().write_all(&buffer)?,
    }
    Ok(exit::OK)
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or
/// CR first: CSV injection) gets a leading `'`, which spreadsheets show as
/// text; every other cell is unchanged.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One header line, then one line per report; every cell passes [`neutralise`].
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
        let record = [
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
        ];
        writer.write_record(record.iter().map(|cell| neutralise(cell).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let out = neutralise(bad);
            assert_eq!(out, format!("'{bad}"), "{bad:?}");
        }
        for fine in ["", "HEXON-2026-0001", "a=b", "3.1", " =x"] {
            assert_eq!(neutralise(fine), fine);
        }
    }
}

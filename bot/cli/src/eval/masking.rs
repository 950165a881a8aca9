//! `deskbot eval --masking FILE`: how well typed secrets are masked, on lines labelled with the
//! secrets they hold (`{"text", "secrets": [...]}`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use deskbot_engine::redact::eval::evaluate;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Row {
    text: String,
    secrets: Vec<String>,
}

/// Runs the masking evaluation; prints the text report unless `json`; returns the JSON report.
pub fn run(path: &Path, json: bool, show: usize) -> Result<serde_json::Value> {
    let rows: Vec<Row> = super::read_records(path, "{\"text\", \"secrets\"}")?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let report = evaluate(rows.iter().map(|r| (r.text.as_str(), r.secrets.as_slice())));
    if !json {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "masking: precision {:.1} %, recall {:.1} % ({} lines, {} secrets, {} clean lines of which {} masked)",
            100.0 * report.precision(),
            100.0 * report.recall(),
            report.lines,
            report.secrets,
            report.clean_lines,
            report.clean_lines_masked
        );
        for m in report.misses.iter().take(show) {
            let _ = writeln!(
                s,
                "  missed {:?} in {}",
                m.secret,
                deskbot::terminal::escape_controls(&m.text)
            );
        }
        for f in report.false_masks.iter().take(show) {
            let _ = writeln!(
                s,
                "  masked too much: {} -> {}",
                deskbot::terminal::escape_controls(&f.text),
                deskbot::terminal::escape_controls(&f.masked)
            );
        }
        print!("{s}");
    }
    Ok(json!({
        "lines": report.lines,
        "secrets": report.secrets,
        "precision": report.precision(),
        "recall": report.recall(),
        "clean_lines": report.clean_lines,
        "clean_lines_masked": report.clean_lines_masked,
        "misses": report.misses.len(),
        "false_masks": report.false_masks.len(),
    }))
}

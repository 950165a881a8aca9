//! `deskbot eval --conversations FILE`: the conversation suite's pass rate per class.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use deskbot::conversations::{self, SuiteReport};
use deskbot_engine::dialogue::Engine;

/// Runs the suite in `path`; prints the text report unless `json`; returns the JSON report.
pub fn run(engine: Arc<Engine>, path: &Path, json: bool, show: usize) -> Result<serde_json::Value> {
    let scripts = conversations::load(path)?;
    let report = conversations::run(engine, &scripts)?;
    if !json {
        print!("{}", to_text(&report, show));
    }
    let mut v = serde_json::to_value(&report)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("pass_rate".into(), report.pass_rate().into());
    }
    Ok(v)
}

/// A table of pass rates, one row per class or language.
fn pass_table(
    s: &mut String,
    title: &str,
    rows: &std::collections::BTreeMap<String, deskbot::conversations::ClassResult>,
) {
    let _ = writeln!(
        s,
        "\n{:<20} {:>6} {:>6} {:>8}",
        title, "passed", "total", "rate"
    );
    for (name, c) in rows {
        let rate = if c.total == 0 {
            0.0
        } else {
            100.0 * c.passed as f64 / c.total as f64
        };
        let _ = writeln!(
            s,
            "{:<20} {:>6} {:>6} {:>7.1}%",
            deskbot::terminal::escape_controls(name),
            c.passed,
            c.total,
            rate
        );
    }
}

fn to_text(r: &SuiteReport, show: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "conversations: {} of {} passed ({:.1} %)",
        r.passed,
        r.conversations,
        100.0 * r.pass_rate()
    );
    pass_table(&mut s, "class", &r.classes);
    if r.languages.len() > 1 {
        pass_table(&mut s, "language", &r.languages);
    }
    let _ = writeln!(
        s,
        "\nresolved turns: {} ({} with an explicit affirmation); goodbyes or resolves after a \"no\": {}",
        r.resolved_turns, r.resolved_with_affirmation, r.deny_goodbyes
    );
    if !r.failures.is_empty() {
        let _ = writeln!(s, "\nfailed checks (first {show}):");
        for f in r.failures.iter().take(show) {
            let _ = writeln!(
                s,
                "  {} turn {}: {}\n    user:  {}\n    reply: {}",
                deskbot::terminal::escape_controls(&f.id),
                f.turn,
                deskbot::terminal::escape_controls(&f.message),
                deskbot::terminal::escape_controls(&f.input),
                deskbot::terminal::escape_controls(&f.reply.replace('\n', " / "))
            );
        }
    }
    s
}

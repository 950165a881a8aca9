//! `deskbot eval --language-id FILE`: how often the bot picks the language to answer in, on
//! short messages labelled with it (`{"text", "lang", "context"}`, `context` being the
//! conversation's language before the message, or null for a first message).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use deskbot_engine::langid::LanguageId;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Row {
    text: String,
    lang: String,
    #[serde(default)]
    context: Option<String>,
}

/// Runs the language evaluation over every file; prints the text report unless `json`;
/// returns the JSON report (overall and per language accuracy, the confusions).
pub fn run(
    id: &LanguageId,
    paths: &[PathBuf],
    json: bool,
    show: usize,
) -> Result<serde_json::Value> {
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut errors: Vec<(String, String, Option<String>, String)> = Vec::new();
    for path in paths {
        for (_, row) in super::read_records::<Row>(path, "{\"text\", \"lang\", \"context\"}")? {
            let got = id.answer_language(&row.text, row.context.as_deref());
            let entry = per.entry(row.lang.clone()).or_default();
            entry.1 += 1;
            if got == row.lang {
                entry.0 += 1;
            } else {
                errors.push((row.text, row.lang, row.context, got));
            }
        }
    }
    let (right, total) = per.values().fold((0, 0), |(r, t), (a, b)| (r + a, t + b));
    let rate = |r: usize, t: usize| if t == 0 { 0.0 } else { r as f64 / t as f64 };
    if !json {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "language identification: {:.1} % ({right} of {total})",
            100.0 * rate(right, total)
        );
        for (lang, (r, t)) in &per {
            let _ = writeln!(
                s,
                "  {lang:<4} {:>6.1} %  ({r} of {t})",
                100.0 * rate(*r, *t)
            );
        }
        if !errors.is_empty() {
            let _ = writeln!(s, "first errors:");
        }
        for (text, want, context, got) in errors.iter().take(show) {
            let _ = writeln!(
                s,
                "  {:?} (context {}): {want} → {got}",
                deskbot::terminal::escape_controls(text),
                context.as_deref().unwrap_or("none")
            );
        }
        print!("{s}");
    }
    Ok(json!({
        "accuracy": rate(right, total),
        "total": total,
        "per_language": per
            .iter()
            .map(|(l, (r, t))| (l.clone(), json!({"accuracy": rate(*r, *t), "total": t})))
            .collect::<serde_json::Map<_, _>>(),
        "errors": errors
            .iter()
            .map(|(text, want, context, got)| json!({"text": text, "lang": want, "context": context, "got": got}))
            .collect::<Vec<_>>(),
    }))
}

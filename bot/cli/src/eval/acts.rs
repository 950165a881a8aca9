//! `deskbot eval --acts FILE`: how well the engine reads answers (it worked, it didn't, a
//! question…): accuracy per act and a confusion table, on lines labelled with their act and
//! the context they answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use deskbot_engine::acts::{Act, NONE};
use deskbot_engine::dialogue::{AnswerContext, Engine};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Row {
    text: String,
    act: String,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    guide: Option<String>,
}

/// Runs the act evaluation; prints the text report unless `json`; returns the JSON report.
pub fn run(engine: &Engine, path: &Path, json: bool, show: usize) -> Result<serde_json::Value> {
    let rows: Vec<(usize, Row)> = super::read_records(path, "{\"text\", \"act\", \"context\"}")?;
    let names: Vec<&str> = Act::ALL
        .iter()
        .map(|a| a.as_str())
        .chain(std::iter::once(NONE))
        .collect();
    // confusion[truth][predicted]
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut per_context: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut errors = Vec::new();
    let (mut total, mut correct) = (0usize, 0usize);
    for (line, row) in rows {
        if !names.contains(&row.act.as_str()) {
            bail!(
                "{}:{}: `{}` is not an act (acts: {})",
                path.display(),
                line,
                row.act,
                names.join(", ")
            );
        }
        let context = match row.context.as_deref() {
            None => AnswerContext::Step,
            Some(c) => AnswerContext::parse(c).with_context(|| {
                format!(
                    "{}:{}: context `{c}` is not one of idle, step, offer_human, resume, suggest, ticket",
                    path.display(),
                    line
                )
            })?,
        };
        let predicted = engine
            .read_act(&row.text, context, row.guide.as_deref())
            .map_or(NONE, |g| g.act.as_str());
        total += 1;
        let ok = predicted == row.act;
        correct += usize::from(ok);
        let ctx = per_context
            .entry(row.context.clone().unwrap_or_else(|| "-".into()))
            .or_default();
        ctx.0 += 1;
        ctx.1 += usize::from(ok);
        *confusion
            .entry(row.act.clone())
            .or_default()
            .entry(predicted.to_string())
            .or_default() += 1;
        if !ok {
            errors.push((row.text, row.act, predicted.to_string()));
        }
    }
    if total == 0 {
        bail!("{}: no labelled answers", path.display());
    }
    let accuracy = correct as f64 / total as f64;
    let per_act: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|&n| {
            let row = confusion.get(n);
            let support: usize = row.map_or(0, |r| r.values().sum());
            let hit = row.and_then(|r| r.get(n)).copied().unwrap_or(0);
            let predicted: usize = confusion
                .values()
                .map(|r| r.get(n).copied().unwrap_or(0))
                .sum();
            let recall = if support == 0 {
                0.0
            } else {
                hit as f64 / support as f64
            };
            let precision = if predicted == 0 {
                0.0
            } else {
                hit as f64 / predicted as f64
            };
            (
                n.to_string(),
                json!({"support": support, "recall": recall, "precision": precision}),
            )
        })
        .collect();
    if !json {
        print!(
            "{}",
            to_text(
                &names,
                &confusion,
                &per_context,
                &errors,
                accuracy,
                total,
                show
            )
        );
    }
    Ok(json!({
        "answers": total,
        "accuracy": accuracy,
        "per_act": per_act,
        "per_context": per_context.iter().map(|(k, (n, ok))| (k.clone(), json!({"answers": n, "accuracy": *ok as f64 / *n as f64}))).collect::<serde_json::Map<_, _>>(),
        "confusion": confusion,
    }))
}

fn to_text(
    names: &[&str],
    confusion: &BTreeMap<String, BTreeMap<String, usize>>,
    per_context: &BTreeMap<String, (usize, usize)>,
    errors: &[(String, String, String)],
    accuracy: f64,
    total: usize,
    show: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "act accuracy: {:.1} % of {total} answers",
        100.0 * accuracy
    );
    for (ctx, (n, ok)) in per_context {
        let _ = writeln!(
            s,
            "  in context {ctx:<12} {:.1} % of {n}",
            100.0 * *ok as f64 / *n as f64
        );
    }
    let short = |n: &str| n.chars().take(6).collect::<String>();
    let _ = write!(
        s,
        "\nconfusion (rows: labelled, columns: read as)\n{:<14}",
        ""
    );
    for n in names {
        let _ = write!(s, "{:>7}", short(n));
    }
    let _ = writeln!(s);
    for truth in names {
        let Some(row) = confusion.get(*truth) else {
            continue;
        };
        let _ = write!(s, "{truth:<14}");
        for p in names {
            match row.get(*p) {
                Some(c) => {
                    let _ = write!(s, "{c:>7}");
                }
                None => {
                    let _ = write!(s, "{:>7}", ".");
                }
            }
        }
        let _ = writeln!(s);
    }
    if !errors.is_empty() {
        let _ = writeln!(s, "\nmisread (first {show}):");
        for (text, truth, got) in errors.iter().take(show) {
            let _ = writeln!(
                s,
                "  {truth:<13} read as {got:<13} {}",
                deskbot::terminal::escape_controls(text)
            );
        }
    }
    s
}

//! `deskbot eval`: trains the intent classifier and measures it on a labelled test set, the
//! way `rasa test nlu` does, in seconds.
//!
//! Data sets are JSON Lines, one `{"text": ..., "intent": ...}` object per line; the intent
//! `oos` marks an out-of-scope message. The training data comes either from JSON Lines
//! (`--train`, every distinct intent becomes a label) or from a catalog directory
//! (`--catalog`). With `--val`, the out-of-scope threshold is chosen on the validation set
//! alone; the test set is only ever used for the report.

mod acts;
mod masking;
mod progress;
mod suite;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::classifier::metrics::{self, Metrics, OOS_LABEL, Outcome};
use deskbot_engine::classifier::threshold::ThresholdRule;
use deskbot_engine::classifier::{Classifier, ClassifierConfig, Prediction, Scored, TrainingData};
use deskbot_engine::dialogue::prefer_specific;
use deskbot_engine::normalize::normalize;
use serde::Deserialize;
use serde_json::json;

use progress::Progress;

/// Arguments of `deskbot eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Training examples (JSON Lines); each distinct intent becomes a label, `oos` marks
    /// out-of-scope examples.
    #[arg(long, value_name = "FILE")]
    pub train: Option<PathBuf>,
    /// A catalog directory to train from instead of `--train`.
    #[arg(long, value_name = "DIR", conflicts_with = "train")]
    pub catalog: Option<PathBuf>,
    /// Validation examples (JSON Lines): the out-of-scope threshold is chosen on them.
    #[arg(long, value_name = "FILE")]
    pub val: Option<PathBuf>,
    /// Test examples (JSON Lines): intent accuracy and out-of-scope recall.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// A conversation suite (TOML, see `tests/data/conversations.toml`): pass rate per class.
    #[arg(long, value_name = "FILE")]
    pub conversations: Option<PathBuf>,
    /// Answers labelled with their dialogue act (JSON Lines `{"text", "act", "context"}`):
    /// act accuracy and a confusion table.
    #[arg(long, value_name = "FILE")]
    pub acts: Option<PathBuf>,
    /// Lines labelled with the secrets they hold (JSON Lines `{"text", "secrets"}`):
    /// masking precision and recall.
    #[arg(long, value_name = "FILE")]
    pub masking: Option<PathBuf>,
    /// Print one JSON object instead of the human-readable report.
    #[arg(long)]
    pub json: bool,
    /// How many misclassified examples to list.
    #[arg(long, default_value_t = 15)]
    pub show_errors: usize,
    /// Use this out-of-scope threshold instead of choosing one.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// With --val: the most in-scope validation messages the threshold may reject (0..1).
    #[arg(long, default_value_t = ThresholdRule::default().max_in_scope_rejection)]
    pub max_reject: f32,
    /// The assumed share of out-of-scope traffic the threshold is chosen for (0..1).
    #[arg(long, default_value_t = ThresholdRule::default().oos_share)]
    pub oos_share: f32,
    /// Model tuning (for experiments): SGD epochs.
    #[arg(long, hide = true)]
    pub epochs: Option<usize>,
    /// Model tuning: initial learning rate.
    #[arg(long, hide = true)]
    pub lr: Option<f32>,
    /// Model tuning: L2 regularisation.
    #[arg(long, hide = true)]
    pub l2: Option<f32>,
    /// Model tuning: weight of the out-of-scope class.
    #[arg(long, hide = true)]
    pub oos_weight: Option<f32>,
    /// Model tuning: ensemble members as `word,char;word,char` block weights.
    #[arg(long, hide = true)]
    pub members: Option<String>,
    /// Model tuning: longest char n-gram (0 disables the char block).
    #[arg(long, hide = true)]
    pub char_max: Option<usize>,
    /// Model tuning: shortest char n-gram.
    #[arg(long, hide = true)]
    pub char_min: Option<usize>,
    /// Model tuning: hash bits.
    #[arg(long, hide = true)]
    pub hash_bits: Option<u32>,
    /// Model tuning: average weights from this epoch on.
    #[arg(long, hide = true)]
    pub average_from: Option<usize>,
    /// Model tuning: minimum document frequency of a feature.
    #[arg(long, hide = true)]
    pub min_df: Option<u32>,
    /// Experiments: write each test message's probabilities (JSON Lines) to this file.
    #[arg(long, hide = true, value_name = "FILE")]
    pub dump_scores: Option<PathBuf>,
    /// Model tuning: disable stemming.
    #[arg(long, hide = true)]
    pub no_stem: bool,
}

/// One labelled line of a data set.
#[derive(Debug, Clone)]
struct Row {
    text: String,
    intent: String,
    line: usize,
}

#[derive(Deserialize)]
struct RawRow {
    text: String,
    intent: String,
}

/// Reads a JSON Lines file of `T` records, with their 1-based line numbers (blank lines
/// skipped); a bad line is an error naming the file, the line and the `expected` shape.
fn read_records<T: serde::de::DeserializeOwned>(
    path: &Path,
    expected: &str,
) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: T = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: expected a JSON object {expected}",
                path.display(),
                i + 1
            )
        })?;
        rows.push((i + 1, record));
    }
    if rows.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(rows)
}

/// Reads a JSON Lines data set of `{"text", "intent"}` rows.
fn read_jsonl(path: &Path) -> Result<Vec<Row>> {
    Ok(
        read_records::<RawRow>(path, "{\"text\": ..., \"intent\": ...}")?
            .into_iter()
            .map(|(line, raw)| Row {
                text: raw.text,
                intent: raw.intent,
                line,
            })
            .collect(),
    )
}

/// Maps rows to (normalised text, label index or None for `oos`); an unknown intent is an
/// error naming the file and line.
fn labelled(rows: &[Row], labels: &[String], path: &Path) -> Result<Vec<(String, Option<usize>)>> {
    rows.iter()
        .map(|r| {
            let label = if r.intent == OOS_LABEL {
                None
            } else {
                Some(
                    labels
                        .iter()
                        .position(|l| *l == r.intent)
                        .with_context(|| {
                            format!(
                                "{}:{}: intent `{}` is not one of the trained intents",
                                path.display(),
                                r.line,
                                r.intent
                            )
                        })?,
                )
            };
            Ok((normalize(&r.text), label))
        })
        .collect()
}

fn config_from(args: &EvalArgs) -> ClassifierConfig {
    let mut c = ClassifierConfig::default();
    if let Some(v) = args.epochs {
        c.sgd.epochs = v;
    }
    if let Some(v) = args.lr {
        c.sgd.learning_rate = v;
    }
    if let Some(v) = args.l2 {
        c.sgd.l2 = v;
    }
    if let Some(v) = args.oos_weight {
        c.oos_weight = v;
    }
    if let Some(v) = &args.members {
        c.members = v
            .split(';')
            .filter_map(|m| {
                let (w, ch) = m.split_once(',')?;
                Some([w.trim().parse().ok()?, ch.trim().parse().ok()?])
            })
            .collect();
    }
    if let Some(v) = args.char_max {
        c.features.char_max = v;
    }
    if let Some(v) = args.char_min {
        c.features.char_min = v;
    }
    if let Some(v) = args.hash_bits {
        c.features.hash_bits = v.clamp(8, 26);
    }
    if let Some(v) = args.average_from {
        c.sgd.average_from = v;
    }
    if let Some(v) = args.min_df {
        c.min_df = v;
    }
    if args.no_stem {
        c.features.stem = false;
    }
    c.rule.max_in_scope_rejection = args.max_reject.clamp(0.0, 1.0);
    c.rule.oos_share = args.oos_share.clamp(0.0, 1.0);
    c.threshold = args.threshold;
    c
}

/// Training data from JSON Lines rows: labels are the distinct non-`oos` intents, sorted.
fn training_data(rows: &[Row]) -> TrainingData {
    let labels: Vec<String> = rows
        .iter()
        .filter(|r| r.intent != OOS_LABEL)
        .map(|r| r.intent.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut data = TrainingData {
        labels,
        ..TrainingData::default()
    };
    for r in rows {
        let text = normalize(&r.text);
        if r.intent == OOS_LABEL {
            data.out_of_scope.push(text);
        } else if let Ok(i) = data.labels.binary_search(&r.intent) {
            data.examples.push((text, i));
        }
    }
    data
}

/// Everything measured in one run.
struct Report {
    metrics: Metrics,
    labels: Vec<String>,
    threshold: f32,
    threshold_source: String,
    train_seconds: f64,
    features: usize,
    pattern_hits: usize,
    latency_us: Vec<f64>,
    errors: Vec<(String, String, String, f32)>,
}

/// Runs `deskbot eval`: each report asked for, one after the other (one JSON object with a
/// key per report under `--json`).
pub fn run(args: EvalArgs) -> Result<()> {
    if args.test.is_none()
        && args.conversations.is_none()
        && args.acts.is_none()
        && args.masking.is_none()
    {
        bail!(
            "give at least one of --test FILE, --conversations FILE, --acts FILE, --masking FILE"
        );
    }
    let mut json_out = serde_json::Map::new();
    if args.conversations.is_some() || args.acts.is_some() {
        let catalog = match &args.catalog {
            Some(dir) => Catalog::load_dir(dir)
                .with_context(|| format!("{}: cannot load the catalog", dir.display()))?,
            None => Catalog::builtin().context("the built-in catalog does not load")?,
        };
        let engine = std::sync::Arc::new(
            deskbot_engine::dialogue::Engine::new(catalog).context("training failed")?,
        );
        if let Some(path) = &args.acts {
            let v = acts::run(&engine, path, args.json, args.show_errors)?;
            json_out.insert("acts".into(), v);
        }
        if let Some(path) = &args.conversations {
            let v = suite::run(engine, path, args.json, args.show_errors)?;
            json_out.insert("conversations".into(), v);
        }
    }
    if let Some(path) = &args.masking {
        let v = masking::run(path, args.json, args.show_errors)?;
        json_out.insert("masking".into(), v);
    }
    if let Some(test) = &args.test {
        let v = run_intents(&args, test)?;
        json_out.insert("intents".into(), v);
    }
    if args.json {
        // A single report keeps the shape it always had; several are keyed by report.
        let out = if json_out.len() == 1 {
            json_out
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_default()
        } else {
            serde_json::Value::Object(json_out)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// Intent accuracy on a labelled test set; returns the JSON report (printed as text unless
/// `--json`).
fn run_intents(args: &EvalArgs, test_path: &Path) -> Result<serde_json::Value> {
    let config = config_from(args);
    // With a catalog, its exact patterns decide first, as in the bot (`Engine::analyze`).
    let mut catalog = None;
    let (data, source) = match (&args.train, &args.catalog) {
        (Some(train), _) => (
            training_data(&read_jsonl(train)?),
            train.display().to_string(),
        ),
        (None, Some(dir)) => {
            let loaded = Catalog::load_dir(dir)
                .with_context(|| format!("{}: cannot load the catalog", dir.display()))?;
            let data = loaded.training_data();
            catalog = Some(loaded);
            (data, dir.display().to_string())
        }
        (None, None) => {
            let loaded = Catalog::builtin().context("the built-in catalog does not load")?;
            let data = loaded.training_data();
            catalog = Some(loaded);
            (data, "the built-in catalog".to_string())
        }
    };
    let test_rows = read_jsonl(test_path)?;
    let test = labelled(&test_rows, &data.labels, test_path)?;
    let val = match &args.val {
        Some(p) => Some(labelled(&read_jsonl(p)?, &data.labels, p)?),
        None => None,
    };

    let progress = Progress::new(!args.json);
    progress.message(&format!(
        "training on {} examples ({} intents, {} out of scope) from {source}",
        data.examples.len() + data.out_of_scope.len(),
        data.labels.len(),
        data.out_of_scope.len()
    ));
    let start = Instant::now();
    let mut classifier = progress
        .timed("training", || Classifier::train_with(&data, &config))
        .context("training failed")?;
    let train_seconds = start.elapsed().as_secs_f64();
    let threshold_source = match (&val, args.threshold) {
        (_, Some(_)) => "fixed by --threshold".to_string(),
        (Some(val), None) => {
            let choice = classifier.tune_threshold(val, config.rule);
            format!(
                "chosen on val ({} rows): in-scope acc {:.1} %, OOS recall {:.1} %, in-scope rejected {:.1} %",
                val.len(),
                100.0 * choice.in_scope_accuracy,
                100.0 * choice.oos_recall,
                100.0 * choice.in_scope_rejection
            )
        }
        (None, None) => {
            let n = data.examples.len() + data.out_of_scope.len();
            if !data.out_of_scope.is_empty() && n <= config.cv_max_examples {
                format!(
                    "chosen by {}-fold cross-validation on train",
                    config.cv_folds
                )
            } else {
                "default (no --val)".to_string()
            }
        }
    };

    if let Some(path) = &args.dump_scores {
        let mut out = String::new();
        for (text, truth) in &test {
            let p = classifier.probabilities(text);
            let line = json!({"truth": truth, "in_scope": p.in_scope, "oos": p.out_of_scope});
            let _ = writeln!(out, "{line}");
        }
        std::fs::write(path, out).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    // Warm up caches and the allocator, then time each message on its own.
    for (t, _) in test.iter().take(200) {
        std::hint::black_box(classifier.predict(t));
    }
    let mut outcomes = Vec::with_capacity(test.len());
    let mut latency_us = Vec::with_capacity(test.len());
    let mut errors = Vec::new();
    let mut pattern_hits = 0usize;
    let mut bar = progress.bar("classifying", test.len());
    for (i, ((_, truth), row)) in test.iter().zip(&test_rows).enumerate() {
        let start = Instant::now();
        let normalised = normalize(&row.text);
        let by_pattern = catalog.as_ref().and_then(|c| pattern_match(c, &normalised));
        let prediction = match by_pattern {
            Some(label) => Prediction {
                ranked: vec![Scored {
                    label,
                    confidence: 1.0,
                }],
                out_of_scope: false,
            },
            None => {
                let mut p = classifier.predict(&normalised);
                // As the bot does (`Engine::analyze`): a plausible guide before a vague guess.
                if let Some(c) = &catalog {
                    prefer_specific(c, &data.labels, &mut p.ranked);
                }
                p
            }
        };
        latency_us.push(start.elapsed().as_secs_f64() * 1e6);
        pattern_hits += usize::from(by_pattern.is_some());
        let closed = prediction.ranked.first().map(|s| s.label);
        let predicted = if prediction.out_of_scope {
            None
        } else {
            closed
        };
        if predicted != *truth {
            let name =
                |l: Option<usize>| l.map_or(OOS_LABEL.to_string(), |l| data.labels[l].clone());
            let conf = prediction.ranked.first().map_or(0.0, |s| s.confidence);
            errors.push((row.text.clone(), name(*truth), name(predicted), conf));
        }
        outcomes.push(Outcome {
            truth: *truth,
            predicted,
            closed,
        });
        bar.set(i + 1);
    }
    bar.finish();
    let report = Report {
        metrics: metrics::evaluate(&data.labels, &outcomes),
        labels: data.labels.clone(),
        threshold: classifier.threshold(),
        threshold_source,
        train_seconds,
        features: classifier.features(),
        pattern_hits,
        latency_us,
        errors,
    };
    if !args.json {
        print!("{}", to_text(&report, args.show_errors));
    }
    Ok(to_json(&report))
}

/// The first intent (catalog order = label order) with a pattern matching the message.
fn pattern_match(catalog: &Catalog, normalised: &str) -> Option<usize> {
    catalog
        .intents
        .iter()
        .position(|i| i.patterns.iter().any(|p| p.is_match(normalised)))
}

fn to_json(r: &Report) -> serde_json::Value {
    let m = &r.metrics;
    let per_intent: serde_json::Map<String, serde_json::Value> = m
        .per_class
        .iter()
        .map(|c| {
            (
                c.label.clone(),
                json!({"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}),
            )
        })
        .collect();
    let confusions: Vec<serde_json::Value> = m
        .confusions
        .iter()
        .take(50)
        .map(|c| json!({"truth": c.truth, "predicted": c.predicted, "count": c.count}))
        .collect();
    json!({
        "accuracy": m.accuracy,
        "in_scope_accuracy": m.in_scope_accuracy,
        "closed_in_scope_accuracy": m.closed_in_scope_accuracy,
        "oos_precision": m.oos_precision,
        "oos_recall": m.oos_recall,
        "macro_f1": m.macro_f1,
        "train_seconds": r.train_seconds,
        "latency_us_p50": metrics::percentile(&r.latency_us, 0.5),
        "latency_us_p99": metrics::percentile(&r.latency_us, 0.99),
        "threshold": r.threshold,
        "threshold_source": r.threshold_source,
        "n_test": m.n_test,
        "n_in_scope": m.n_in_scope,
        "n_oos": m.n_oos,
        "n_intents": r.labels.len(),
        "n_features": r.features,
        "pattern_hits": r.pattern_hits,
        "per_intent": per_intent,
        "confusions": confusions,
    })
}

fn pct(x: f64) -> String {
    format!("{:5.1} %", 100.0 * x)
}

fn to_text(r: &Report, show_errors: usize) -> String {
    let m = &r.metrics;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Test set: {} messages ({} in scope, {} out of scope), {} intents\n",
        m.n_test,
        m.n_in_scope,
        m.n_oos,
        r.labels.len()
    );
    let _ = writeln!(s, "  accuracy (incl. out of scope)   {}", pct(m.accuracy));
    let _ = writeln!(
        s,
        "  in-scope accuracy               {}",
        pct(m.in_scope_accuracy)
    );
    let _ = writeln!(
        s,
        "  closed-set in-scope accuracy    {}",
        pct(m.closed_in_scope_accuracy)
    );
    let _ = writeln!(
        s,
        "  out-of-scope precision          {}",
        pct(m.oos_precision)
    );
    let _ = writeln!(s, "  out-of-scope recall             {}", pct(m.oos_recall));
    let _ = writeln!(s, "  macro-F1                        {}", pct(m.macro_f1));
    let _ = writeln!(
        s,
        "  threshold                       {:.4} ({})",
        r.threshold, r.threshold_source
    );
    if r.pattern_hits > 0 {
        let _ = writeln!(
            s,
            "  decided by catalog patterns     {} messages",
            r.pattern_hits
        );
    }
    let _ = writeln!(
        s,
        "  training                        {:.3} s",
        r.train_seconds
    );
    let _ = writeln!(
        s,
        "  latency per message             p50 {:.1} µs, p99 {:.1} µs",
        metrics::percentile(&r.latency_us, 0.5),
        metrics::percentile(&r.latency_us, 0.99)
    );
    let _ = writeln!(s, "\nPer intent (worst F1 first):");
    let _ = writeln!(
        s,
        "  {:<32} {:>7} {:>7} {:>7} {:>7}",
        "intent", "prec", "recall", "F1", "n"
    );
    let mut classes: Vec<_> = m.per_class.iter().collect();
    classes.sort_by(|a, b| a.f1.total_cmp(&b.f1).then_with(|| a.label.cmp(&b.label)));
    for c in classes {
        let _ = writeln!(
            s,
            "  {:<32} {} {} {} {:>7}",
            c.label,
            pct(c.precision),
            pct(c.recall),
            pct(c.f1),
            c.support
        );
    }
    let _ = writeln!(s, "\nMost confused (truth → predicted):");
    for c in m.confusions.iter().take(15) {
        let _ = writeln!(s, "  {:>4} × {} → {}", c.count, c.truth, c.predicted);
    }
    if !r.errors.is_empty() && show_errors > 0 {
        let _ = writeln!(s, "\nFirst misclassified messages:");
        for (text, truth, predicted, conf) in r.errors.iter().take(show_errors) {
            let _ = writeln!(s, "  {text:?}: {truth} → {predicted} ({conf:.2})");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"text\": \"hi\", \"intent\": \"greet\"}\n\n{\"text\": 3}\n",
        )
        .unwrap();
        let err = format!("{:#}", read_jsonl(&p).unwrap_err());
        assert!(err.contains("t.jsonl:3"), "{err}");
    }

    #[test]
    fn unknown_intent_names_line_and_oos_is_none() {
        let rows = vec![
            Row {
                text: "Hi".into(),
                intent: "greet".into(),
                line: 1,
            },
            Row {
                text: "x".into(),
                intent: "oos".into(),
                line: 2,
            },
        ];
        let labels = vec!["greet".to_string()];
        let l = labelled(&rows, &labels, Path::new("v.jsonl")).unwrap();
        assert_eq!(
            l,
            vec![("hi".to_string(), Some(0)), ("x".to_string(), None)]
        );
        let err = labelled(&rows, &["bye".to_string()], Path::new("v.jsonl")).unwrap_err();
        assert!(err.to_string().contains("v.jsonl:1"), "{err}");
    }

    #[test]
    fn catalog_patterns_decide_first() {
        let examples: Vec<String> = (0..30).map(|i| format!("\"login example {i}\"")).collect();
        let intent = |id: &str, pattern: &str| {
            format!(
                "id = \"{id}\"\nkind = \"guide\"\ntitle = \"T\"\ndescription = \"D\"\nexamples = [{}]\nsteps = [\"a\", \"b\", \"c\"]\npatterns = ['{pattern}']\n",
                examples.join(", ")
            )
        };
        let (a, b) = (intent("alpha", r"\berr-1\b"), intent("beta", r"\berr-2\b"));
        let catalog = Catalog::from_files(
            "test",
            [("alpha.toml", a.as_str()), ("beta.toml", b.as_str())],
        )
        .unwrap();
        assert_eq!(pattern_match(&catalog, "i get err-2 on login"), Some(1));
        assert_eq!(pattern_match(&catalog, "err-1"), Some(0));
        assert_eq!(pattern_match(&catalog, "err-12"), None);
    }

    #[test]
    fn training_data_sorts_labels_and_splits_oos() {
        let row = |t: &str, i: &str| Row {
            text: t.into(),
            intent: i.into(),
            line: 0,
        };
        let d = training_data(&[
            row("b1", "b"),
            row("A1", "a"),
            row("o", "oos"),
            row("b2", "b"),
        ]);
        assert_eq!(d.labels, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            d.examples,
            vec![("b1".into(), 1), ("a1".into(), 0), ("b2".into(), 1)]
        );
        assert_eq!(d.out_of_scope, vec!["o".to_string()]);
    }
}

//! Intent accuracy on a labelled test set, for each way of reading a message side by side:
//! n-grams alone, the sentence vector alone, both in one model, and `auto`, the bot's own
//! choice per message (the classifier's cascade: n-grams when they are sure of an English
//! message, else the vector, with the n-grams in English and alone in other languages).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::classifier::metrics::{self, Metrics, OOS_LABEL, Outcome};
use deskbot_engine::classifier::{Classifier, Features, HeldOut, Prediction, Scored, cascade};
use deskbot_engine::dialogue::prefer_specific;
use serde_json::json;

use super::progress::Progress;
use super::{EvalArgs, config_from, labelled, pattern_match, read_jsonl, training_data};
use deskbot::embedding::{self, EmbeddingOptions};

/// How the classifier reads the test messages (`--features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeatureChoice {
    /// Word and character n-grams alone (no model needed).
    Ngram,
    /// The sentence vector alone.
    Embed,
    /// N-grams and the sentence vector in one model.
    Both,
    /// What the bot does: the cascade (see the module doc).
    Auto,
}

impl FeatureChoice {
    fn name(self) -> &'static str {
        match self {
            Self::Ngram => "ngram",
            Self::Embed => "embed",
            Self::Both => "both",
            Self::Auto => "auto",
        }
    }

    /// The classifier views whose thresholds this choice uses.
    fn views(self) -> &'static [Features] {
        match self {
            Self::Ngram => &[Features::Ngram],
            Self::Embed => &[Features::Embed],
            Self::Both => &[Features::Both],
            Self::Auto => &Features::ALL,
        }
    }
}

/// Everything measured for one choice of features.
struct Report {
    choice: FeatureChoice,
    metrics: Metrics,
    labels: Vec<String>,
    threshold: f32,
    threshold_source: String,
    train_seconds: f64,
    features: usize,
    pattern_hits: usize,
    /// Messages whose vector the choice needed.
    embedded: usize,
    latency_us: Vec<f64>,
    errors: Vec<(String, String, String, f32)>,
    /// Per language (rows with a `lang` field): (right, total).
    per_language: BTreeMap<String, LangScore>,
}

/// Intent accuracy on a labelled test set; returns the JSON report (printed as text unless
/// `--json`): the first choice's full report, with every choice's summary under `features`.
pub fn run_intents(args: &EvalArgs, test_path: &Path) -> Result<serde_json::Value> {
    let config = config_from(args);
    // With a catalog, its exact patterns decide first, as in the bot (`Engine::analyze`).
    let mut catalog = None;
    let (data, source) = match (&args.train, &args.catalog) {
        (Some(train), _) => (
            training_data(&read_jsonl(train)?),
            train.display().to_string(),
        ),
        (None, Some(dir)) => {
            let loaded = restrict(
                Catalog::load_dir(dir)
                    .with_context(|| format!("{}: cannot load the catalog", dir.display()))?,
                &args.languages,
            )?;
            let data = loaded.training_data();
            catalog = Some(loaded);
            (data, dir.display().to_string())
        }
        (None, None) => {
            let loaded = restrict(
                Catalog::builtin().context("the built-in catalog does not load")?,
                &args.languages,
            )?;
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

    // Which choices, and the vectors they need.
    let options = EmbeddingOptions {
        progress: !args.json,
        ..EmbeddingOptions::from_flag(args.no_embeddings)
    };
    let explicit = !args.features.is_empty();
    let mut choices = if explicit {
        args.features.clone()
    } else if options.enabled {
        vec![
            FeatureChoice::Auto,
            FeatureChoice::Ngram,
            FeatureChoice::Embed,
            FeatureChoice::Both,
        ]
    } else {
        vec![FeatureChoice::Ngram]
    };
    choices.dedup();
    let needs_vectors = choices.iter().any(|c| *c != FeatureChoice::Ngram);
    let encoder = if needs_vectors {
        match embedding::load_encoder(&options) {
            Ok((encoder, _)) => Some(encoder),
            Err(reason) if explicit => {
                bail!("--features needs the sentence-embedding model: {reason}")
            }
            Err(reason) => {
                progress.message(&format!("sentence embeddings off ({reason}): n-grams only"));
                choices.retain(|c| *c == FeatureChoice::Ngram);
                if choices.is_empty() {
                    choices.push(FeatureChoice::Ngram);
                }
                None
            }
        }
    } else {
        None
    };
    let (train_vectors, val_vectors, test_vectors) = match &encoder {
        Some(encoder) => {
            let cache = embedding::vector_cache(&options, encoder.as_ref(), "eval");
            let embed = |texts: Vec<String>, label: &str| {
                embedding::vectors_for(encoder.as_ref(), cache.as_ref(), &texts, label, !args.json)
            };
            let train_texts = data
                .examples
                .iter()
                .map(|(t, _)| t.clone())
                .chain(data.out_of_scope.iter().cloned())
                .collect();
            let train = embed(train_texts, "embedding the training set");
            let val = val
                .as_ref()
                .map(|v| embed(v.iter().map(|(t, _)| t.clone()).collect(), "embedding val"));
            let test = embed(
                test.iter().map(|(t, _)| t.clone()).collect(),
                "embedding the test set",
            );
            (Some(train), val, Some(test))
        }
        None => (None, None, None),
    };

    progress.message(&format!(
        "training on {} examples ({} intents, {} out of scope) from {source}",
        data.examples.len() + data.out_of_scope.len(),
        data.labels.len(),
        data.out_of_scope.len()
    ));
    let start = Instant::now();
    let trained = progress
        .timed("training", || {
            Classifier::train_with_vectors(&data, &config, train_vectors.as_deref())
        })
        .context("training failed")?;
    let train_seconds = start.elapsed().as_secs_f64();

    if let Some(path) = &args.dump_scores {
        let mut out = String::new();
        for (text, truth) in &test {
            let p = trained.probabilities(text);
            let line = json!({"truth": truth, "in_scope": p.in_scope, "oos": p.out_of_scope});
            let _ = writeln!(out, "{line}");
        }
        std::fs::write(path, out).with_context(|| format!("{}: cannot write", path.display()))?;
    }

    let mut reports = Vec::new();
    for &choice in &choices {
        let mut classifier = trained.clone();
        let threshold_source = match (&val, args.threshold) {
            (_, Some(_)) => "fixed by --threshold".to_string(),
            (Some(val), None) => {
                let mut source = format!("chosen on val ({} rows):", val.len());
                for &view in choice.views() {
                    let held: Vec<HeldOut> = val
                        .iter()
                        .enumerate()
                        .map(|(i, (t, l))| {
                            let v = val_vectors.as_ref().and_then(|v| v.get(i));
                            (t.as_str(), v.map(Vec::as_slice), *l)
                        })
                        .collect();
                    let c = classifier.tune_threshold_of(view, &held, config.rule);
                    let _ = write!(
                        source,
                        " [{}] in-scope acc {:.1} %, OOS recall {:.1} %, in-scope rejected {:.1} %",
                        view.name(),
                        100.0 * c.in_scope_accuracy,
                        100.0 * c.oos_recall,
                        100.0 * c.in_scope_rejection
                    );
                }
                source
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
        // What the classifier knows of each row's language, as the bot tells it (the bot
        // identifies the language; here the row's `lang` says it).
        let row_languages: Vec<cascade::Language> = test_rows
            .iter()
            .map(|r| {
                cascade::Language::of(r.lang.as_deref(), |l| {
                    catalog.as_ref().is_some_and(|c| c.has_examples_in(l))
                })
            })
            .collect();
        let classify = |text: &str, i: usize| -> (Prediction, bool) {
            let vector = test_vectors
                .as_ref()
                .and_then(|v| v.get(i))
                .map(Vec::as_slice);
            match choice {
                FeatureChoice::Ngram => (classifier.predict(text), false),
                FeatureChoice::Embed => {
                    (classifier.predict_with(text, vector, Features::Embed), true)
                }
                FeatureChoice::Both => {
                    (classifier.predict_with(text, vector, Features::Both), true)
                }
                FeatureChoice::Auto => {
                    let language = row_languages
                        .get(i)
                        .copied()
                        .unwrap_or(cascade::Language::Unknown);
                    let (p, route) = classifier
                        .predict_cascade(text, false, language, || vector.unwrap_or_default());
                    (p, route.needed_vector())
                }
            }
        };
        // Warm up caches and the allocator, then time each message on its own.
        for (i, (t, _)) in test.iter().enumerate().take(200) {
            std::hint::black_box(classify(t, i));
        }
        let mut outcomes = Vec::with_capacity(test.len());
        let mut latency_us = Vec::with_capacity(test.len());
        let mut errors = Vec::new();
        let mut pattern_hits = 0usize;
        let mut embedded = 0usize;
        let mut per_language: BTreeMap<String, LangScore> = BTreeMap::new();
        let mut bar = progress.bar(&format!("classifying ({})", choice.name()), test.len());
        for (i, ((normalised, truth), row)) in test.iter().zip(&test_rows).enumerate() {
            let start = Instant::now();
            let by_pattern = catalog.as_ref().and_then(|c| pattern_match(c, normalised));
            let prediction = match by_pattern {
                Some(label) => Prediction {
                    ranked: vec![Scored {
                        label,
                        confidence: 1.0,
                    }],
                    out_of_scope: false,
                },
                None => {
                    let (mut p, used_vector) = classify(normalised, i);
                    embedded += usize::from(used_vector);
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
            if let Some(lang) = &row.lang {
                let e = per_language.entry(lang.clone()).or_default();
                e.right += usize::from(predicted == *truth);
                e.total += 1;
                if truth.is_none() {
                    e.oos += 1;
                    e.oos_caught += usize::from(predicted.is_none());
                }
            }
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
        let threshold = choice
            .views()
            .last()
            .map_or(classifier.threshold(), |v| classifier.threshold_of(*v));
        reports.push(Report {
            choice,
            metrics: metrics::evaluate(&data.labels, &outcomes),
            labels: data.labels.clone(),
            threshold,
            threshold_source,
            train_seconds,
            features: classifier.features(),
            pattern_hits,
            embedded,
            latency_us,
            errors,
            per_language,
        });
    }
    if !args.json {
        if reports.len() > 1 || reports.iter().any(|r| !r.per_language.is_empty()) {
            print!("{}", side_by_side(&reports));
        }
        if let Some(first) = reports.first() {
            print!("{}", to_text(first, args.show_errors));
        }
    }
    let mut out = reports.first().map(to_json).unwrap_or_default();
    if let Some(map) = out.as_object_mut() {
        let summary: serde_json::Map<String, serde_json::Value> = reports
            .iter()
            .map(|r| (r.choice.name().to_string(), summary_json(r)))
            .collect();
        map.insert("features".into(), serde_json::Value::Object(summary));
    }
    Ok(out)
}

/// The catalog trained on the examples of `codes` only (all of them when empty).
fn restrict(catalog: Catalog, codes: &[String]) -> Result<Catalog> {
    if codes.is_empty() {
        return Ok(catalog);
    }
    for c in codes {
        if catalog.language(c).is_none() {
            anyhow::bail!(
                "--languages: the catalog has no language `{c}` (it has {})",
                catalog
                    .languages
                    .iter()
                    .map(|l| l.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    Ok(catalog.with_examples_of(&codes))
}

/// One language's share of a test set: messages, right answers, out-of-scope ones caught.
#[derive(Debug, Clone, Copy, Default)]
struct LangScore {
    total: usize,
    right: usize,
    oos: usize,
    oos_caught: usize,
}

impl LangScore {
    fn accuracy(&self) -> f64 {
        self.right as f64 / self.total.max(1) as f64
    }

    fn oos_recall(&self) -> f64 {
        self.oos_caught as f64 / self.oos.max(1) as f64
    }
}

fn summary_json(r: &Report) -> serde_json::Value {
    let m = &r.metrics;
    let per_language: serde_json::Map<String, serde_json::Value> = r
        .per_language
        .iter()
        .map(|(lang, l)| {
            (
                lang.clone(),
                json!({
                    "accuracy": l.accuracy(),
                    "n": l.total,
                    "oos_recall": l.oos_recall(),
                    "n_oos": l.oos,
                }),
            )
        })
        .collect();
    json!({
        "accuracy": m.accuracy,
        "in_scope_accuracy": m.in_scope_accuracy,
        "closed_in_scope_accuracy": m.closed_in_scope_accuracy,
        "oos_recall": m.oos_recall,
        "threshold": r.threshold,
        "embedded_share": r.embedded as f64 / m.n_test.max(1) as f64,
        "per_language": per_language,
    })
}

/// One table of a score per language (columns) and feature choice (rows).
fn by_language(
    s: &mut String,
    what: &str,
    reports: &[Report],
    langs: &[&String],
    score: fn(&LangScore) -> f64,
) {
    let _ = write!(s, "\n  {what} by language:\n  {:<6}", "");
    for l in langs {
        let _ = write!(s, " {l:>7}");
    }
    let _ = writeln!(s);
    for r in reports {
        let _ = write!(s, "  {:<6}", r.choice.name());
        for l in langs {
            let v = r.per_language.get(*l).copied().unwrap_or_default();
            let _ = write!(s, " {:>5.1} %", 100.0 * score(&v));
        }
        let _ = writeln!(s);
    }
}

fn side_by_side(reports: &[Report]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Side by side:");
    let _ = writeln!(
        s,
        "  {:<6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "overall", "in-scope", "closed", "OOS rec", "embedded"
    );
    for r in reports {
        let m = &r.metrics;
        let _ = writeln!(
            s,
            "  {:<6} {} {} {} {} {}",
            r.choice.name(),
            pct(m.accuracy),
            pct(m.in_scope_accuracy),
            pct(m.closed_in_scope_accuracy),
            pct(m.oos_recall),
            pct(r.embedded as f64 / m.n_test.max(1) as f64),
        );
    }
    let langs: Vec<&String> = reports
        .first()
        .map(|r| r.per_language.keys().collect())
        .unwrap_or_default();
    if !langs.is_empty() {
        by_language(&mut s, "accuracy", reports, &langs, LangScore::accuracy);
        by_language(
            &mut s,
            "out-of-scope recall",
            reports,
            &langs,
            LangScore::oos_recall,
        );
    }
    let _ = writeln!(s);
    s
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
        "features_used": r.choice.name(),
        "embedded": r.embedded,
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
        "Test set: {} messages ({} in scope, {} out of scope), {} intents; features: {}\n",
        m.n_test,
        m.n_in_scope,
        m.n_oos,
        r.labels.len(),
        r.choice.name()
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

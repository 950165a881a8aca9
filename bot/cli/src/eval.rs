//! `deskbot eval`: trains the intent classifier and measures it on a labelled test set, the
//! way `rasa test nlu` does, in seconds.
//!
//! Data sets are JSON Lines, one `{"text": ..., "intent": ...}` object per line; the intent
//! `oos` marks an out-of-scope message. The training data comes either from JSON Lines
//! (`--train`, every distinct intent becomes a label) or from a catalog directory
//! (`--catalog`). With `--val`, the out-of-scope threshold is chosen on the validation set
//! alone; the test set is only ever used for the report.

mod acts;
mod intents;
mod langid;
mod masking;
mod progress;
mod suite;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::classifier::metrics::OOS_LABEL;
use deskbot_engine::classifier::threshold::ThresholdRule;
use deskbot_engine::classifier::{ClassifierConfig, TrainingData};
use deskbot_engine::normalize::normalize;
use serde::Deserialize;

pub use intents::FeatureChoice;

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
    /// Short messages labelled with the language to answer in (JSON Lines `{"text", "lang",
    /// "context"}`; repeat the flag for several files): language identification accuracy.
    #[arg(long = "language-id", value_name = "FILE")]
    pub language_id: Vec<PathBuf>,
    /// Train on the examples of these languages only (codes, comma-separated: `en` measures
    /// what English examples alone understand; `en,ru` one language's own model).
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub languages: Vec<String>,
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
    /// How the intent classifier reads messages, side by side (comma-separated): `ngram`,
    /// `embed` (the sentence vector alone), `both` (one model over both), `auto` (the bot's
    /// choice per message). Default: all four when the embedding model can be had, else
    /// `ngram`. The full report is of the first.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub features: Vec<FeatureChoice>,
    /// Run on n-grams alone: no model fetch (as `--features ngram`).
    #[arg(long)]
    pub no_embeddings: bool,
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
    /// Model tuning: share of the nearest-neighbour vote in the vector-only view.
    #[arg(long, hide = true)]
    pub knn_weight: Option<f32>,
    /// Model tuning: how many neighbours vote.
    #[arg(long, hide = true)]
    pub knn_k: Option<usize>,
    /// Model tuning: weight of the sentence-vector block in the combined view.
    #[arg(long, hide = true)]
    pub embedding_weight: Option<f32>,
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
    lang: Option<String>,
}

#[derive(Deserialize)]
struct RawRow {
    text: String,
    intent: String,
    /// The message's language, when the data set records it (for per-language figures).
    #[serde(default)]
    lang: Option<String>,
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
                lang: raw.lang,
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
    if let Some(v) = args.knn_weight {
        c.neighbours.weight = v;
    }
    if let Some(v) = args.knn_k {
        c.neighbours.k = v;
    }
    if let Some(v) = args.embedding_weight {
        c.embedding_weight = v;
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

/// Runs `deskbot eval`: each report asked for, one after the other (one JSON object with a
/// key per report under `--json`).
pub fn run(args: EvalArgs) -> Result<()> {
    if args.test.is_none()
        && args.conversations.is_none()
        && args.acts.is_none()
        && args.masking.is_none()
        && args.language_id.is_empty()
    {
        bail!(
            "give at least one of --test FILE, --conversations FILE, --acts FILE, --masking FILE, --language-id FILE"
        );
    }
    let mut json_out = serde_json::Map::new();
    if args.conversations.is_some() || args.acts.is_some() {
        let catalog = match &args.catalog {
            Some(dir) => Catalog::load_dir(dir)
                .with_context(|| format!("{}: cannot load the catalog", dir.display()))?,
            None => Catalog::builtin().context("the built-in catalog does not load")?,
        };
        // The engine the bot runs: with sentence embeddings unless they are off.
        let options = deskbot::embedding::EmbeddingOptions {
            progress: !args.json,
            ..deskbot::embedding::EmbeddingOptions::from_flag(args.no_embeddings)
        };
        let (engine, _) =
            deskbot::embedding::build_engine(catalog, &options).context("training failed")?;
        let engine = std::sync::Arc::new(engine);
        if let Some(path) = &args.acts {
            let v = acts::run(&engine, path, args.json, args.show_errors)?;
            json_out.insert("acts".into(), v);
        }
        if let Some(path) = &args.conversations {
            let v = suite::run(engine, path, args.json, args.show_errors)?;
            json_out.insert("conversations".into(), v);
        }
    }
    if !args.language_id.is_empty() {
        let catalog = match &args.catalog {
            Some(dir) => Catalog::load_dir(dir)
                .with_context(|| format!("{}: cannot load the catalog", dir.display()))?,
            None => Catalog::builtin().context("the built-in catalog does not load")?,
        };
        let id = deskbot_engine::langid::LanguageId::new(&catalog);
        let v = langid::run(&id, &args.language_id, args.json, args.show_errors)?;
        json_out.insert("language_id".into(), v);
    }
    if let Some(path) = &args.masking {
        let v = masking::run(path, args.json, args.show_errors)?;
        json_out.insert("masking".into(), v);
    }
    if let Some(test) = &args.test {
        let v = intents::run_intents(&args, test)?;
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

/// The first intent (catalog order = label order) with a pattern matching the message.
fn pattern_match(catalog: &Catalog, normalised: &str) -> Option<usize> {
    catalog
        .intents
        .iter()
        .position(|i| i.patterns.iter().any(|p| p.is_match(normalised)))
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
                lang: None,
            },
            Row {
                text: "x".into(),
                intent: "oos".into(),
                line: 2,
                lang: None,
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
            lang: None,
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

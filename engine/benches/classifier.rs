//! Classifier benchmarks: single-message latency and training time on CLINC150, and the
//! start-up cost of the compiled-in catalog (load + train, budget 200 ms).
//!
//! Run with `cargo bench -p deskbot-engine --bench classifier`. CLINC150 is read from
//! `../shared/data/clinc150` relative to the workspace root; without it those benchmarks are
//! skipped with a message.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::classifier::{Classifier, TrainingData};
use deskbot_engine::normalize::normalize;

/// (text, intent) rows of a CLINC150 split, or `None` when the file is absent or unreadable.
fn read_split(name: &str) -> Option<Vec<(String, String)>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/clinc150")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).ok()?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        rows.push((
            v["text"].as_str()?.to_string(),
            v["intent"].as_str()?.to_string(),
        ));
    }
    Some(rows)
}

fn training_data(rows: &[(String, String)]) -> TrainingData {
    let mut labels: Vec<String> = rows
        .iter()
        .filter(|r| r.1 != "oos")
        .map(|r| r.1.clone())
        .collect();
    labels.sort();
    labels.dedup();
    let mut data = TrainingData {
        labels,
        ..TrainingData::default()
    };
    for (text, intent) in rows {
        if intent == "oos" {
            data.out_of_scope.push(normalize(text));
        } else if let Ok(i) = data.labels.binary_search(intent) {
            data.examples.push((normalize(text), i));
        }
    }
    data
}

fn clinc150(c: &mut Criterion) {
    let (Some(train), Some(test)) = (read_split("train"), read_split("test")) else {
        eprintln!("CLINC150 not found under ../shared/data/clinc150: skipping its benchmarks");
        return;
    };
    let data = training_data(&train);
    let classifier = match Classifier::train(&data) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("training failed: {e}");
            return;
        }
    };
    let messages: Vec<String> = test.iter().map(|(t, _)| t.clone()).collect();
    let mut i = 0usize;
    c.bench_function("clinc150/classify_one_message", |b| {
        b.iter(|| {
            // Normalisation included: it is part of handling a message.
            i = (i + 1) % messages.len();
            black_box(classifier.predict(&normalize(&messages[i])))
        })
    });
    let mut group = c.benchmark_group("clinc150");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("train_15100_rows", |b| {
        b.iter(|| black_box(Classifier::train(black_box(&data)).map(|c| c.threshold())))
    });
    group.finish();
}

fn catalog_startup(c: &mut Criterion) {
    if let Err(e) = Catalog::builtin() {
        eprintln!("the built-in catalog does not load ({e}): skipping the start-up benchmark");
        return;
    }
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function("builtin_load_and_train", |b| {
        b.iter(|| {
            let catalog = Catalog::builtin().ok()?;
            Classifier::train(&catalog.training_data())
                .ok()
                .map(|c| black_box(c).threshold())
        })
    });
    // What start-up really costs: the intent classifier and the dialogue-act classifier.
    group.bench_function("builtin_engine_new", |b| {
        b.iter(|| {
            let catalog = Catalog::builtin().ok()?;
            deskbot_engine::dialogue::Engine::new(catalog)
                .ok()
                .map(|e| black_box(e).classifier().threshold())
        })
    });
    group.finish();
}

/// A stand-in encoder (word hashes), for the path that must not need a vector at all: its
/// cost would show if the cascade called it.
struct Hashes;

impl deskbot_engine::embed::Embed for Hashes {
    fn dim(&self) -> usize {
        384
    }
    fn model_id(&self) -> &str {
        "bench-hashes"
    }
    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; 384];
        for w in text.split_whitespace() {
            let h = w
                .bytes()
                .fold(7usize, |h, b| h.wrapping_mul(31) ^ usize::from(b));
            v[h % 384] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / n).collect()
    }
}

/// The cascade: a whole analysis (patterns, act, intent) of messages decided without a
/// sentence vector, on an engine trained with vectors (the bot's common turn).
fn cascade(c: &mut Criterion) {
    use deskbot_engine::embed::Embed;
    use std::sync::atomic::Ordering;
    let Ok(catalog) = Catalog::builtin() else {
        return;
    };
    let encoder = std::sync::Arc::new(Hashes);
    let vectors = deskbot_engine::dialogue::Engine::training_texts(&catalog)
        .iter()
        .map(|t| encoder.embed(t))
        .collect();
    let engine = match deskbot_engine::dialogue::Engine::with_vectors(catalog, encoder, vectors) {
        Ok(e) => e,
        Err(e) => panic!("engine: {e}"),
    };
    let messages = ["I forgot my password", "no", "yes it worked, thanks", "ok"];
    let mut i = 0;
    c.bench_function("engine/analyze_without_a_vector", |b| {
        b.iter(|| {
            i = (i + 1) % messages.len();
            black_box(engine.analyze(messages[i]))
        })
    });
    assert_eq!(
        engine.embed_stats().embedded.load(Ordering::Relaxed),
        0,
        "these messages must be decided without a vector"
    );
}

criterion_group!(benches, catalog_startup, clinc150, cascade);
criterion_main!(benches);

//! The engine with sentence vectors, on a stand-in encoder (the real model is tested in the
//! binary's `embedding_*` tests): the cascade asks for a vector only when it needs one, the
//! cache of recent messages spares a second computation, and a saved engine is used only by
//! the same catalog and model.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_engine::embed::Embed;

/// Hashes each word into one of 64 dimensions: texts sharing words are close. Counts calls.
struct BagOfWords {
    id: String,
    calls: AtomicUsize,
}

impl BagOfWords {
    fn new(id: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            calls: AtomicUsize::new(0),
        })
    }
}

impl Embed for BagOfWords {
    fn dim(&self) -> usize {
        64
    }
    fn model_id(&self) -> &str {
        &self.id
    }
    fn embed(&self, text: &str) -> Vec<f32> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut v = vec![0.0f32; 64];
        for w in text.split_whitespace() {
            let h = w
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            v[(h % 64) as usize] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter().map(|x| x / n).collect()
    }
}

fn engine(encoder: Arc<BagOfWords>) -> Engine {
    let catalog = Catalog::builtin().unwrap();
    let vectors = Engine::training_texts(&catalog)
        .iter()
        .map(|t| encoder.embed(t))
        .collect();
    Engine::with_vectors(catalog, encoder, vectors).unwrap()
}

#[test]
fn cascade_embeds_only_what_needs_it_and_caches_repeats() {
    let encoder = BagOfWords::new("bag-1");
    let e = engine(encoder.clone());
    assert!(e.has_embeddings());
    let before = encoder.calls.load(Ordering::SeqCst);
    // Short answers the act model knows never need a vector.
    for answer in ["ok", "no", "yes it worked", "didnt work"] {
        e.analyze(answer);
    }
    assert_eq!(
        encoder.calls.load(Ordering::SeqCst),
        before,
        "short answers"
    );
    // Another script: read by meaning, so the vector is computed, once.
    let russian = "не могу войти в аккаунт, код не приходит";
    e.analyze(russian);
    assert_eq!(encoder.calls.load(Ordering::SeqCst), before + 1);
    e.analyze(russian);
    assert_eq!(encoder.calls.load(Ordering::SeqCst), before + 1, "cached");
    let stats = e.embed_stats();
    assert_eq!(stats.embedded.load(Ordering::SeqCst), 1);
    assert_eq!(stats.cached.load(Ordering::SeqCst), 1);
}

#[test]
fn a_saved_engine_is_used_only_with_the_same_catalog_and_model() {
    let encoder = BagOfWords::new("bag-1");
    let e = engine(encoder.clone());
    let bytes = e.snapshot();
    let catalog = Catalog::builtin().unwrap();
    let back = Engine::from_snapshot(catalog.clone(), Some(encoder.clone()), &bytes).unwrap();
    for text in [
        "i forgot my password",
        "не могу войти в аккаунт",
        "what's the weather",
        "ok",
    ] {
        assert_eq!(e.analyze(text), back.analyze(text), "{text}");
    }
    // Another model: its vectors mean something else.
    assert!(
        Engine::from_snapshot(catalog.clone(), Some(BagOfWords::new("bag-2")), &bytes).is_err()
    );
    // No model at all, or another catalog.
    assert!(Engine::from_snapshot(catalog.clone(), None, &bytes).is_err());
    let mut other = catalog.clone();
    other.out_of_scope.push("a new out of scope example".into());
    assert!(Engine::from_snapshot(other, Some(encoder.clone()), &bytes).is_err());
    // Damage is an error, never a panic.
    for cut in [0, 8, bytes.len() / 3, bytes.len() - 1] {
        assert!(
            Engine::from_snapshot(catalog.clone(), Some(encoder.clone()), &bytes[..cut]).is_err()
        );
    }
    // An n-gram engine round-trips without an encoder.
    let plain = Engine::new(catalog.clone()).unwrap();
    let back = Engine::from_snapshot(catalog, None, &plain.snapshot()).unwrap();
    assert_eq!(
        plain.analyze("reset my password"),
        back.analyze("reset my password")
    );
}

#[test]
fn a_language_with_examples_is_read_with_its_own_ngrams_and_one_without_by_meaning() {
    let catalog = Catalog::builtin().unwrap();
    let russian: Vec<String> = catalog
        .language("ru")
        .expect("the built-in catalog speaks Russian")
        .examples
        .values()
        .flatten()
        .cloned()
        .collect();
    assert!(russian.len() > 100);
    // Learnt from Russian examples: the n-grams are Russian, and sure of most of them, so
    // most need no vector.
    let encoder = BagOfWords::new("bag-1");
    let e = engine(encoder.clone());
    let before = encoder.calls.load(Ordering::SeqCst);
    for text in &russian {
        e.analyze_in(text, Some("ru"));
    }
    let learnt = encoder.calls.load(Ordering::SeqCst) - before;
    assert!(
        learnt * 2 < russian.len(),
        "{learnt} of {} Russian examples needed a vector",
        russian.len()
    );
    // Trained on English alone, Russian is read by meaning: every message needs its vector.
    let encoder = BagOfWords::new("bag-1");
    let english = catalog.with_examples_of(&["en"]);
    let vectors = Engine::training_texts(&english)
        .iter()
        .map(|t| encoder.embed(t))
        .collect();
    let e = Engine::with_vectors(english, encoder.clone(), vectors).unwrap();
    let before = encoder.calls.load(Ordering::SeqCst);
    for text in russian.iter().take(20) {
        e.analyze_in(text, Some("ru"));
    }
    assert_eq!(encoder.calls.load(Ordering::SeqCst) - before, 20);
}

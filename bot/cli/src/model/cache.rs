//! The cache's side: is a verified model already there, the stamp that says so without
//! re-hashing, and the temporary files a fetch writes on its way.
//!
//! The stamp (`<model>.stamp`, JSON) records the model file's size, mtime, inode and SHA-256
//! and when it was hashed. It is trusted only when all of these still match and the file's
//! mtime is at least [`RACY_MARGIN`] older than the hashing: a file changed within the same
//! clock tick as its hashing keeps its mtime, so such a "racily clean" stamp (git's term) is
//! re-checked by hashing once more, which then writes a stamp that can be trusted.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::ModelSpec;

/// How much older than its hashing a file's mtime must be for the stamp to be trusted.
pub(crate) const RACY_MARGIN: Duration = Duration::from_secs(2);

/// A fetch's temporary file untouched for this long belongs to a process that died.
const STALE_PART: Duration = Duration::from_secs(3600);

/// What the cache holds for a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheState {
    /// No model file.
    Missing,
    /// The model file, vouched for by its stamp (no hashing).
    Trusted(PathBuf),
    /// The model file, hashed now and found right (its stamp rewritten when the folder is
    /// writable).
    Verified(PathBuf),
    /// A model file that is not the pinned one (wrong size or hash) or cannot be read.
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

impl CacheState {
    /// The model file's path when it is good.
    pub fn path(self) -> Option<PathBuf> {
        match self {
            Self::Trusted(path) | Self::Verified(path) => Some(path),
            Self::Missing | Self::Bad { .. } => None,
        }
    }
}

/// The verified model file in `cache`, or `None` (missing, wrong, unreadable). Never touches
/// the network; hashes the file only when its stamp does not vouch for it.
pub fn cached_model(spec: &ModelSpec, cache: &Path) -> Option<PathBuf> {
    check_cache(spec, cache).path()
}

/// What `cache` holds for `spec`, with how it was checked ([`cached_model`] with the detail).
pub fn check_cache(spec: &ModelSpec, cache: &Path) -> CacheState {
    let path = spec.model_path(cache);
    // Taken before looking at the file: a change after this moment moves its mtime past it.
    let checked_at = SystemTime::now();
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return CacheState::Missing,
        Err(error) => return bad(path, format!("cannot open it: {error}")),
    };
    let meta = match file.metadata() {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return bad(path, "not a regular file".to_owned()),
        Err(error) => return bad(path, format!("cannot read its metadata: {error}")),
    };
    if meta.len() != spec.model_size {
        let why = format!("{} bytes, {} expected", meta.len(), spec.model_size);
        return bad(path, why);
    }
    let Some(print) = Fingerprint::of(&meta) else {
        return bad(path, "its modification time is unreadable".to_owned());
    };
    let stamp_path = stamp_path(&path);
    if let Some(stamp) = Stamp::read(&stamp_path)
        && stamp.vouches_for(spec, print)
    {
        return CacheState::Trusted(path);
    }
    match sha256_of(&mut file) {
        Ok(sha) if sha == spec.model_sha256.to_ascii_lowercase() => {
            write_stamp(&path, print, sha, checked_at);
            CacheState::Verified(path)
        }
        Ok(sha) => bad(
            path,
            format!("SHA-256 {sha}, {} expected", spec.model_sha256),
        ),
        Err(error) => bad(path, format!("cannot read it: {error}")),
    }
}

fn bad(path: PathBuf, why: String) -> CacheState {
    CacheState::Bad { path, why }
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    size: u64,
    mtime_ns: u64,
    inode: u64,
}

impl Fingerprint {
    /// The fingerprint of a file's metadata; `None` when its mtime is unknown or before 1970.
    pub(crate) fn of(meta: &Metadata) -> Option<Self> {
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            size: meta.len(),
            mtime_ns: u64::try_from(mtime.as_nanos()).ok()?,
            inode,
        })
    }
}

/// The stamp's content.
#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    sha256: String,
    #[serde(flatten)]
    file: Fingerprint,
    /// When the hashing started, in nanoseconds since 1970.
    verified_at_ns: u64,
}

impl Stamp {
    fn read(path: &Path) -> Option<Self> {
        let text = fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn vouches_for(&self, spec: &ModelSpec, file: Fingerprint) -> bool {
        let margin = u64::try_from(RACY_MARGIN.as_nanos()).unwrap_or(u64::MAX);
        self.file == file
            && self.sha256.eq_ignore_ascii_case(&spec.model_sha256)
            && file.size == spec.model_size
            && self.file.mtime_ns.saturating_add(margin) <= self.verified_at_ns
    }
}

/// The stamp file beside a model file.
fn stamp_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap_or_default().to_owned();
    name.push(".stamp");
    model.with_file_name(name)
}

/// Records that the file at `model` with fingerprint `file` hashed to `sha` (hashing began at
/// `verified_at`). Written to a temporary file and renamed, so a reader never sees half a
/// stamp. Best effort: a read-only cache only costs a re-hash at the next start.
pub(crate) fn write_stamp(model: &Path, file: Fingerprint, sha: String, verified_at: SystemTime) {
    let verified_at_ns = verified_at
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|at| u64::try_from(at.as_nanos()).ok())
        .unwrap_or(0);
    let stamp = Stamp {
        sha256: sha,
        file,
        verified_at_ns,
    };
    let path = stamp_path(model);
    let written = serde_json::to_vec(&stamp)
        .map_err(io::Error::other)
        .and_then(|json| {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut part = part_file(dir, "stamp")?;
            io::Write::write_all(&mut part, &json)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                part.as_file()
                    .set_permissions(fs::Permissions::from_mode(0o644))?;
            }
            part.persist(&path).map_err(|error| error.error)?;
            Ok(())
        });
    if let Err(error) = written {
        tracing::debug!(path = %path.display(), %error, "model stamp not written; the next start re-hashes the model");
    }
}

/// A new temporary file in `dir` named `<base>.part-<pid>-<random>`, removed when dropped
/// unless persisted.
pub(crate) fn part_file(dir: &Path, base: &str) -> io::Result<NamedTempFile> {
    let prefix = format!("{base}.part-{}-", std::process::id());
    tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(8)
        .tempfile_in(dir)
}

/// Removes temporary files in `dir` left by fetches that died (untouched for an hour: a
/// live fetch writes at least every stall timeout). Best effort.
pub(crate) fn sweep_stale_parts(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_part = entry.file_name().to_string_lossy().contains(".part-");
        let stale = entry
            .metadata()
            .ok()
            .filter(Metadata::is_file)
            .and_then(|meta| meta.modified().ok())
            .and_then(|mtime| mtime.elapsed().ok())
            .is_some_and(|age| age > STALE_PART);
        if is_part && stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The SHA-256 (lower-case hex) of everything `reader` yields.
pub(crate) fn sha256_of(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex(hasher))
}

/// A finished hash in lower-case hex.
pub(crate) fn hex(hasher: Sha256) -> String {
    format!("{:x}", hasher.finalize())
}

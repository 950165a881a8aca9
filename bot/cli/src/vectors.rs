//! The on-disk cache of sentence vectors, keyed by model and text.
//!
//! Embedding the catalog takes seconds; a restart must take milliseconds. Vectors are kept in
//! one file per model and purpose (`vectors-<purpose>-<model id>.bin` in the cache directory),
//! so a changed model never reads another model's vectors. The file is replaced whole
//! (written beside, then renamed), so a crash or two processes saving at once (test binaries
//! sharing the cache) leave a complete file; each record also carries a CRC, and reading stops
//! at the first damaged one. Only texts the operator supplied are stored here (the catalog,
//! evaluation sets), never a user's message.
//!
//! Format: the magic `DBVEC1\n\0`, the dimension (u32 LE), the model id's length (u32 LE) and
//! bytes; then records of the text's length (u32 LE), the text (UTF-8), `dim` f32 LE and a
//! CRC-32 of the text and the vector bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use thiserror::Error;

const MAGIC: &[u8; 8] = b"DBVEC1\n\0";

/// Why the cache could not be opened or written.
#[derive(Debug, Error)]
pub enum VectorCacheError {
    /// The file could not be read, created or appended to.
    #[error("vector cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Vectors by text for one model, loaded from and appended to one file.
#[derive(Debug)]
pub struct VectorCache {
    path: PathBuf,
    model_id: String,
    dim: usize,
    map: Mutex<HashMap<String, Arc<[f32]>>>,
}

/// The file name of a purpose's cache for a model: the id's first 16 characters (hex of the
/// model's SHA-256), filtered to file-name-safe characters.
fn file_name(purpose: &str, model_id: &str) -> String {
    let safe = |s: &str, n: usize| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(n)
            .collect::<String>()
    };
    format!("vectors-{}-{}.bin", safe(purpose, 32), safe(model_id, 16))
}

impl VectorCache {
    /// Opens (or starts) the cache of `purpose` for the model `model_id` with vectors of `dim`
    /// floats in `dir`, loading every whole record. Files of other models for the same purpose
    /// are removed (their vectors can never be used again).
    pub fn open(
        dir: &Path,
        purpose: &str,
        model_id: &str,
        dim: usize,
    ) -> Result<Self, VectorCacheError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VectorCacheError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let name = file_name(purpose, model_id);
        remove_stale(dir, purpose, &name);
        let path = dir.join(name);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io(&path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        Ok(Self {
            path,
            model_id: model_id.to_string(),
            dim,
            map: Mutex::new(parse(&bytes, model_id, dim)),
        })
    }

    /// The file the cache lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many vectors the cache holds.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when the cache holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached vector of `text`.
    pub fn get(&self, text: &str) -> Option<Arc<[f32]>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(text)
            .cloned()
    }

    /// Adds vectors (texts already cached are skipped; vectors of the wrong length are
    /// ignored) and saves the whole cache: written to a temporary file beside, synced, then
    /// renamed over the old one.
    pub fn insert_all(&self, items: &[(String, Vec<f32>)]) -> Result<(), VectorCacheError> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        for (text, v) in items {
            if v.len() == self.dim && !map.contains_key(text) {
                map.insert(text.clone(), Arc::from(v.as_slice()));
            }
        }
        if map.len() == before {
            return Ok(());
        }
        let mut out = Vec::with_capacity(map.len() * (4 * self.dim + 64));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.model_id.len() as u32).to_le_bytes());
        out.extend_from_slice(self.model_id.as_bytes());
        for (text, v) in map.iter() {
            encode_record(text, v, &mut out);
        }
        drop(map);
        let err = |source| VectorCacheError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&out)?;
            file.sync_data()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
    }
}

/// Removes `purpose`'s cache files other than `keep` (vectors of a model no longer used).
fn remove_stale(dir: &Path, purpose: &str, keep: &str) {
    let prefix = format!("vectors-{purpose}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".bin") && name != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn encode_record(text: &str, v: &[f32], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[start + 4..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The whole records of a cache file (none when the header is not this model's).
fn parse(bytes: &[u8], model_id: &str, dim: usize) -> HashMap<String, Arc<[f32]>> {
    let mut map = HashMap::new();
    let mut header = Vec::new();
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&(dim as u32).to_le_bytes());
    header.extend_from_slice(&(model_id.len() as u32).to_le_bytes());
    header.extend_from_slice(model_id.as_bytes());
    if !bytes.starts_with(&header) {
        return map;
    }
    let mut pos = header.len();
    let u32_at = |p: usize| -> Option<u32> {
        bytes
            .get(p..p + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    while let Some(len) = u32_at(pos) {
        let text_end = pos + 4 + len as usize;
        let vec_end = text_end + 4 * dim;
        let (Some(body), Some(crc)) = (bytes.get(pos + 4..vec_end), u32_at(vec_end)) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        let Ok(text) = std::str::from_utf8(&body[..len as usize]) else {
            break;
        };
        let v: Vec<f32> = body[len as usize..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        map.insert(text.to_string(), Arc::from(v));
        pos = vec_end + 4;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_vectors_across_opens_and_stops_at_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let c = VectorCache::open(dir.path(), "catalog", "aaaa1111", 3).unwrap();
        assert!(c.is_empty());
        c.insert_all(&[
            ("hello".into(), vec![1.0, 0.0, 0.0]),
            ("bad length".into(), vec![1.0]),
        ])
        .unwrap();
        c.insert_all(&[("world".into(), vec![0.0, 1.0, 0.5])])
            .unwrap();
        let path = c.path().to_path_buf();
        drop(c);
        // A crash mid-append: half a record at the end.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[9, 0, 0, 0, b'x']);
        std::fs::write(&path, &bytes).unwrap();
        let c = VectorCache::open(dir.path(), "catalog", "aaaa1111", 3).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("world").as_deref(), Some(&[0.0, 1.0, 0.5][..]));
        assert!(c.get("bad length").is_none());
        c.insert_all(&[("again".into(), vec![0.5, 0.5, 0.5])])
            .unwrap();
        drop(c);
        let c = VectorCache::open(dir.path(), "catalog", "aaaa1111", 3).unwrap();
        assert_eq!(c.len(), 3, "the torn tail was dropped, the new record kept");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left beside the cache");
    }

    #[test]
    fn another_model_starts_empty_and_removes_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = VectorCache::open(dir.path(), "catalog", "aaaa1111", 2).unwrap();
        a.insert_all(&[("x".into(), vec![1.0, 2.0])]).unwrap();
        let old = a.path().to_path_buf();
        let b = VectorCache::open(dir.path(), "catalog", "bbbb2222", 2).unwrap();
        assert!(b.get("x").is_none());
        assert!(!old.exists(), "the other model's vectors are gone");
        // A flipped byte in a record: that record and those after it are dropped.
        b.insert_all(&[("y".into(), vec![3.0, 4.0])]).unwrap();
        let mut bytes = std::fs::read(b.path()).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xff;
        std::fs::write(b.path(), &bytes).unwrap();
        let b = VectorCache::open(dir.path(), "catalog", "bbbb2222", 2).unwrap();
        assert!(b.get("y").is_none());
    }
}

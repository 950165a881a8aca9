//! Health probe of an open store, for the bot's `/healthz`, and the open-ticket count its
//! `/metrics` reports.
//!
//! [`Store::health_check`] proves the database can still take a durable write, not merely that
//! the handle exists: a tiny record goes through sled (write, read back, remove) and is flushed
//! to disk with the same group commit turns use, so a failing fsync or a full disk shows here
//! as it would for a turn. It first checks that the database directory opened at start is still
//! where it was: when a data volume is unmounted or the directory deleted under a running bot,
//! sled keeps writing to files that no longer have a name, every "durable" turn would be lost
//! at the next start, and nothing else would notice.
//!
//! The probe record lives in its own tree and is removed again by the same check, so backups
//! ([`Store::export`]) see nothing of it.

use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::{StorageError, Store};

/// The tree the probe writes to (empty between checks).
const PROBE_TREE: &str = "health_probe";
/// The probe record's key.
const PROBE_KEY: &[u8] = b"probe";
/// Files sled keeps in the database directory while it is open.
const SLED_FILES: [&str; 2] = ["conf", "db"];

/// Distinguishes successive probes, so a stale value cannot pass the read-back.
static PROBE_SEQ: AtomicU64 = AtomicU64::new(1);

/// Why the store is not healthy.
#[derive(Debug, Error)]
pub enum HealthError {
    /// The database directory (or one of sled's files in it) is gone from the file system
    /// while the store is open: writes would go to unnamed files and be lost at the next start.
    #[error(
        "the database at {path} is no longer on disk ({missing} is missing): was the data directory deleted or its volume unmounted?"
    )]
    Missing {
        /// The database directory.
        path: String,
        /// The file or directory that is missing.
        missing: String,
    },
    /// The probe record read back differs from what was written.
    #[error("the database returned a different value than was just written to it")]
    ReadBack,
    /// sled failed to write, read or flush the probe.
    #[error("the database cannot take a durable write: {0}")]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for HealthError {
    fn from(e: sled::Error) -> Self {
        Self::Storage(StorageError::Sled(e))
    }
}

impl Store {
    /// Checks that the database is still on disk and takes a durable write: writes a probe
    /// record, reads it back, removes it and flushes (shared with concurrent turns' flushes).
    /// Blocking (it waits for an fsync): call it from a blocking context.
    pub fn health_check(&self) -> Result<(), HealthError> {
        let dir = self.path();
        for missing in
            std::iter::once(dir.to_path_buf()).chain(SLED_FILES.iter().map(|f| dir.join(f)))
        {
            // `symlink_metadata`, not `exists`: a permission error is not "missing".
            if let Err(e) = std::fs::symlink_metadata(&missing)
                && e.kind() == std::io::ErrorKind::NotFound
            {
                return Err(HealthError::Missing {
                    path: dir.display().to_string(),
                    missing: missing.display().to_string(),
                });
            }
        }
        let tree = self.db.open_tree(PROBE_TREE)?;
        let value = PROBE_SEQ.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        tree.insert(PROBE_KEY, &value[..])?;
        let back = tree.get(PROBE_KEY)?;
        tree.remove(PROBE_KEY)?;
        if back.as_deref() != Some(&value[..]) {
            return Err(HealthError::ReadBack);
        }
        self.sync()?;
        Ok(())
    }

    /// How many tickets are open (one key per open ticket in the index; nothing is decoded).
    pub fn open_ticket_count(&self) -> Result<u64, StorageError> {
        let mut n = 0;
        for item in self.open_tickets.iter().keys() {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_is_healthy_and_the_probe_leaves_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let before = store.record_count().unwrap();
        for _ in 0..3 {
            store.health_check().unwrap();
        }
        assert_eq!(store.record_count().unwrap(), before);
        let mut out = Vec::new();
        store.export(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains(PROBE_TREE), "{text}");
        assert_eq!(store.open_ticket_count().unwrap(), 0);
    }

    #[test]
    fn a_deleted_database_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.health_check().unwrap();
        std::fs::remove_dir_all(store.path()).unwrap();
        let err = store.health_check().unwrap_err();
        assert!(matches!(err, HealthError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("no longer on disk"), "{err}");
    }
}

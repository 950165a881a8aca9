//! Opening a database that must already exist, for the operator's read-only commands
//! (`export`, `tickets list/show`): they never create an empty database where a path was
//! mistyped, and they can read a database whose directory is read-only.
//!
//! sled 0.34 has no read-only mode: opening always opens the log for writing, creates
//! `blobs/` when missing, and after a crash may rewrite the log's tail during recovery
//! (`Config::open_file`, `pagecache/snapshot.rs`). So when the database cannot be opened for
//! writing (a read-only directory or file system), it is copied to a temporary directory and
//! the copy is opened; the original is never written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::StorageError;
use crate::store::{Store, open_db};

/// Where a data directory keeps its database, and whether one is there: sled's `conf` and
/// `db` files.
pub(crate) fn existing_db(data_dir: &Path) -> Result<PathBuf, StorageError> {
    let db = data_dir.join("db");
    if db.join("conf").is_file() && db.join("db").is_file() {
        Ok(db)
    } else {
        Err(StorageError::Missing {
            path: data_dir.display().to_string(),
        })
    }
}

/// Copies the database directory `from` (files and `blobs/`) into a new temporary directory
/// and returns it with the copy's path.
pub(crate) fn copy_db(from: &Path) -> Result<(tempfile::TempDir, PathBuf), std::io::Error> {
    let tmp = tempfile::Builder::new()
        .prefix("deskbot-db-copy-")
        .tempdir()?;
    let to = tmp.path().join("db");
    copy_dir(from, &to)?;
    Ok((tmp, to))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            // `fs::copy` keeps the permissions: the copy of a read-only file must be writable.
            let mut perms = std::fs::metadata(&target)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms)?;
        }
    }
    Ok(())
}

/// Whether an open failed because the database cannot be written (permissions, a read-only
/// file system).
fn is_read_only(e: &StorageError) -> bool {
    matches!(e, StorageError::Sled(sled::Error::Io(io))
        if matches!(io.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem))
}

impl Store {
    /// Opens the database in `data_dir/db` when there is one, for commands that read it;
    /// fails with [`StorageError::Missing`], creating nothing, when there is none. When the
    /// database cannot be opened for writing, a temporary copy is opened instead (see the
    /// [module docs](self)): what is read is the same, and writes go to the copy and are lost.
    pub fn open_existing(data_dir: &Path) -> Result<Self, StorageError> {
        let path = existing_db(data_dir)?;
        match open_db(&path) {
            Ok(db) => Self::from_db(db, path, None),
            Err(e) if is_read_only(&e) => {
                let (tmp, copy) = copy_db(&path).map_err(|io| {
                    StorageError::Sled(sled::Error::Io(std::io::Error::new(
                        io.kind(),
                        format!(
                            "cannot copy the read-only database {}: {io}",
                            path.display()
                        ),
                    )))
                })?;
                let db = open_db(&copy)?;
                Self::from_db(db, copy, Some(Arc::new(tmp)))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether this store is a temporary copy of a database that could not be opened for
    /// writing ([`Store::open_existing`]).
    pub fn is_copy(&self) -> bool {
        self.copy_of().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_data_dir_is_refused_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("deskbot-dta");
        let err = Store::open_existing(&typo).unwrap_err();
        assert!(matches!(err, StorageError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("deskbot-dta"), "{err}");
        assert!(!typo.exists(), "a read-only open created the directory");
        // A directory without a database is refused too, and stays empty.
        let err = Store::open_existing(dir.path()).unwrap_err();
        assert!(matches!(err, StorageError::Missing { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Once a database exists, it opens in place.
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open_existing(dir.path()).unwrap();
        assert!(!store.is_copy());
        assert_eq!(store.path(), dir.path().join("db"));
    }

    #[test]
    fn a_copy_reads_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.meta.insert(b"k", b"v").unwrap();
        store.flush().unwrap();
        drop(store);
        let (tmp, copy) = copy_db(&dir.path().join("db")).unwrap();
        let db = open_db(&copy).unwrap();
        let copy = Store::from_db(db, copy, Some(Arc::new(tmp))).unwrap();
        assert!(copy.is_copy());
        assert_eq!(copy.meta.get(b"k").unwrap().unwrap().as_ref(), b"v");
    }
}

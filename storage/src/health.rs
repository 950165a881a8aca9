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
//!
//! Once a write has failed (a full disk, a file-size limit), sled's flush can block for good
//! instead of returning an error: the probe would hang with it, and so would a `/healthz`
//! waiting for it. [`Store::health_check_within`] bounds the wait, reports such a store as
//! [`HealthError::Stalled`], and keeps at most one probe per database waiting on the disk
//! (a concurrent check waits for that one to finish first), so repeated checks of a stuck
//! store cannot pile up threads.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

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

/// The databases (by path) with a bounded probe still waiting on the disk.
static IN_FLIGHT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
/// Signalled whenever a probe leaves [`IN_FLIGHT`].
static PROBE_DONE: Condvar = Condvar::new();

fn in_flight() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    // A set of paths is consistent at every unlock: a poisoned lock is safe to use.
    IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes its path from [`IN_FLIGHT`] when the probe thread ends, however it ends.
struct InFlight(PathBuf);

impl Drop for InFlight {
    fn drop(&mut self) {
        in_flight().remove(&self.0);
        PROBE_DONE.notify_all();
    }
}

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
    /// The probe did not finish in time, or an earlier probe is still waiting on the disk: a
    /// stuck disk, or a write failure sled does not recover from (its flush then blocks).
    #[error(
        "the database at {path} did not complete a durable write within {limit_ms} ms (a stuck disk, or a failed write such as a full disk, which sled does not recover from): fix the disk and restart deskbot"
    )]
    Stalled {
        /// The database directory.
        path: String,
        /// How long the check waited, in milliseconds.
        limit_ms: u64,
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

    /// [`Store::health_check`], waiting at most `limit` for it: [`HealthError::Stalled`] when
    /// it takes longer. The probe runs on a thread of its own, which finishes whenever the
    /// disk does; while one probe of this database runs, another check waits for it to end
    /// (within its own `limit`) before starting its own, so only one thread per database ever
    /// waits on a stuck disk. Blocking for up to `limit`.
    pub fn health_check_within(&self, limit: Duration) -> Result<(), HealthError> {
        let deadline = Instant::now() + limit;
        let path = self.path().to_path_buf();
        let stalled = || HealthError::Stalled {
            path: path.display().to_string(),
            limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        };
        {
            let mut running = in_flight();
            while running.contains(&path) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(stalled());
                }
                running = PROBE_DONE
                    .wait_timeout(running, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            running.insert(path.clone());
        }
        let guard = InFlight(path.clone());
        let (tx, rx) = mpsc::channel();
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("health-probe".into())
            .spawn(move || {
                let result = store.health_check();
                // Out of flight before the caller hears of it, so its next check starts at once.
                drop(guard);
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            // The guard went down with the closure: the path is no longer in flight.
            return Err(HealthError::Storage(StorageError::Sled(sled::Error::Io(e))));
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(stalled()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(HealthError::Storage(StorageError::Sled(sled::Error::Io(
                    std::io::Error::other("the health probe panicked"),
                ))))
            }
        }
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
    use crate::Platform;

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

    /// Runs in a child process (see the next test) with a file-size limit; ignored otherwise.
    #[test]
    #[ignore = "run by a_failed_write_makes_the_store_report_stalled in a child process"]
    fn failed_write_child() {
        let Some(dir) = std::env::var_os("DESKBOT_HEALTH_CHILD_DIR") else {
            return;
        };
        let store = Store::open(std::path::Path::new(&dir)).unwrap();
        let limit = Duration::from_secs(60);
        println!("CHILD healthy: {:?}", store.health_check_within(limit));
        // A state larger than the file-size limit: the write fails (EFBIG).
        let big = "z".repeat(12 << 20);
        let key = crate::ConvKey::new(Platform::Console, "big");
        let write = store.commit_turn(&crate::TurnWrite {
            key: &key,
            state: &big,
            transcript: &[],
            tickets: &[],
            channel: None,
        });
        println!("CHILD write: {:?}", write.map_err(|e| e.to_string()));
        let short = Duration::from_secs(2);
        println!(
            "CHILD after: {}",
            describe(store.health_check_within(short))
        );
        println!(
            "CHILD again: {}",
            describe(store.health_check_within(short))
        );
        // Only the first probe's thread waits on the disk.
        let probes = std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(Result::ok)
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.trim() == "health-probe")
                    })
                    .count()
            })
            .unwrap_or(usize::MAX);
        println!("CHILD probe threads: {probes}");
        // Dropping the store would flush and block like the probe: leave at once.
        std::process::exit(0);
    }

    fn describe(r: Result<(), HealthError>) -> String {
        match r {
            Ok(()) => "ok".into(),
            Err(HealthError::Stalled { .. }) => "stalled".into(),
            Err(e) => format!("error {e}"),
        }
    }

    /// A real write failure: the test binary runs `failed_write_child` again under a file-size
    /// limit of a few MiB (`ulimit -f`, SIGXFSZ ignored so the write fails with EFBIG instead of
    /// killing the process). After the failed write sled's flush blocks for good; the bounded
    /// check reports the store as stalled, and so does a second one, without starting another
    /// waiting thread.
    #[test]
    fn a_failed_write_makes_the_store_report_stalled() {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 8192 && trap '' XFSZ && exec \"$0\" \"$@\"")
            .arg(&exe)
            .args([
                "--exact",
                "health::tests::failed_write_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DESKBOT_HEALTH_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Hang guard: generous, the child needs a few seconds at most.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the child did not finish");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{all}");
        assert!(stdout.contains("CHILD healthy: Ok(())"), "{all}");
        assert!(
            stdout.contains("CHILD write: Err("),
            "the write did not fail: {all}"
        );
        assert!(stdout.contains("CHILD after: stalled"), "{all}");
        assert!(stdout.contains("CHILD again: stalled"), "{all}");
        assert!(stdout.contains("CHILD probe threads: 1\n"), "{all}");
    }

    #[test]
    fn concurrent_bounded_checks_of_a_healthy_store_all_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::thread::scope(|scope| {
            let checks: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| store.health_check_within(Duration::from_secs(60))))
                .collect();
            for c in checks {
                c.join().unwrap().unwrap();
            }
        });
        assert!(!in_flight().contains(store.path()));
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

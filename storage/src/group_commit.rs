//! Group commit: many turns share one fsync, and none returns before its own writes are on
//! disk.
//!
//! An fsync costs a fraction of a millisecond, far more than a turn's in-memory work, so one
//! flush per turn would cap the bot at a few thousand turns per second. Instead, a turn that
//! has applied its writes waits for a flush that *started after* its writes: if none is
//! running it starts one itself (becoming the leader); if one is running, that flush may have
//! begun before its writes, so it waits for the next one, which a waiting turn then leads.
//! Every turn that arrived while a flush ran is covered by the next single flush.

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct State {
    /// Flushes started so far.
    started: u64,
    /// The highest flush number that has completed.
    completed: u64,
    /// Whether a flush is running now.
    running: bool,
    /// The error of the last failed flush, and its number (waiters of that flush see it).
    failed: Option<(u64, String)>,
}

/// Coordinates flushes across threads. One per database.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain counters, consistent at every unlock, so a poisoned lock is safe.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once a flush that began after this call has completed, running `flush` itself
    /// when no flush is running. Call it after your writes are applied.
    pub(crate) fn sync(
        &self,
        flush: impl Fn() -> Result<(), sled::Error>,
    ) -> Result<(), sled::Error> {
        let mut s = self.lock();
        // A running flush may have started before our writes: we need the one after it.
        let target = s.started + 1;
        loop {
            if s.completed >= target {
                return match &s.failed {
                    Some((n, msg)) if *n >= target => Err(flush_failed(msg)),
                    _ => Ok(()),
                };
            }
            if !s.running {
                s.running = true;
                s.started += 1;
                let mine = s.started;
                drop(s);
                let result = flush();
                s = self.lock();
                s.running = false;
                s.completed = mine;
                s.failed = result.as_ref().err().map(|e| (mine, e.to_string()));
                self.done.notify_all();
                if mine >= target {
                    return result;
                }
                continue;
            }
            s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn flush_failed(message: &str) -> sled::Error {
    sled::Error::Io(std::io::Error::other(format!("flush failed: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_syncs_share_flushes_and_each_waits_for_one_after_it() {
        let gc = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicU64::new(0));
        // Each thread "writes" (bumps a counter), then syncs; after sync, the number of
        // flushes completed must include one that started after the write.
        let writes = Arc::new(AtomicU64::new(0));
        let flushed_writes = Arc::new(AtomicU64::new(0));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let (gc, flushes, writes, flushed_writes) = (
                    gc.clone(),
                    flushes.clone(),
                    writes.clone(),
                    flushed_writes.clone(),
                );
                scope.spawn(move || {
                    for _ in 0..200 {
                        let my_write = writes.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.sync(|| {
                            // The flush covers every write applied before it started.
                            let seen = writes.load(Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            flushes.fetch_add(1, Ordering::SeqCst);
                            flushed_writes.fetch_max(seen, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                        assert!(
                            flushed_writes.load(Ordering::SeqCst) >= my_write,
                            "returned before a flush covered write {my_write}"
                        );
                    }
                });
            }
        });
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < 1600, "no batching: {n} flushes for 1600 syncs");
        assert!(n >= 1);
    }

    #[test]
    fn a_failed_flush_is_reported() {
        let gc = GroupCommit::default();
        let err = gc
            .sync(|| Err(sled::Error::Io(std::io::Error::other("disk full"))))
            .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        gc.sync(|| Ok(())).unwrap();
    }
}

//! Keeps one person's messages in one channel in the order Discord sent them.
//!
//! serenity hands every gateway event to its own tokio task, so two messages a person sends
//! within milliseconds (a pasted paragraph split in two, a staff member's quick follow-up)
//! may be handled in either order. Message ids are snowflakes, increasing in time: a handler
//! registers its message under (channel, author), waits a short window for earlier messages'
//! handlers to register too, then proceeds only when its id is the smallest still pending, and
//! holds its place until it is done. Different people and channels never wait for each other.
//!
//! A handler that starts later than the window after an earlier one (a stalled process) is
//! not waited for: order is then best effort, as without this.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// How long a message waits for earlier ones to show up.
pub const WINDOW: Duration = Duration::from_millis(40);

/// Who wrote where: (channel id, author id).
pub type Key = (u64, u64);

/// The pending messages by (channel, author).
#[derive(Debug, Default)]
pub struct Sequencer {
    pending: Mutex<HashMap<Key, BTreeSet<u64>>>,
    turn: Notify,
}

/// A message's turn: the next message of the same person in the same channel waits until
/// this is dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    seq: &'a Sequencer,
    key: Key,
    id: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        {
            let mut pending = self.seq.lock();
            if let Some(set) = pending.get_mut(&self.key) {
                set.remove(&self.id);
                if set.is_empty() {
                    pending.remove(&self.key);
                }
            }
        }
        self.seq.turn.notify_waiters();
    }
}

impl Sequencer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, BTreeSet<u64>>> {
        // The map stays consistent if a holder panicked: every change is one call.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for message `id`'s turn among the messages of `key` (after `window`, and after
    /// every earlier message registered by then is done). Cancel-safe: dropping the future
    /// gives up the place.
    pub async fn enter(&self, key: Key, id: u64, window: Duration) -> Turn<'_> {
        self.lock().entry(key).or_default().insert(id);
        let turn = Turn { seq: self, key, id };
        if !window.is_zero() {
            tokio::time::sleep(window).await;
        }
        loop {
            let notified = self.turn.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let first = self.lock().get(&key).and_then(|s| s.first().copied());
            if first == Some(id) || first.is_none() {
                return turn;
            }
            notified.await;
        }
    }

    /// How many messages are waiting or being handled (for tests).
    pub fn pending(&self) -> usize {
        self.lock().values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn later_ids_wait_for_earlier_ones_even_when_they_start_first() {
        let seq = Arc::new(Sequencer::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let run = |id: u64, key: Key| {
            let (seq, order) = (Arc::clone(&seq), Arc::clone(&order));
            tokio::spawn(async move {
                let _turn = seq.enter(key, id, Duration::from_secs(1)).await;
                order.lock().unwrap().push(id);
                // Hold the turn a moment: the next must wait for it.
                tokio::task::yield_now().await;
            })
        };
        // Ids 3, 2, 1 of one person start in reverse order (well within the window); another
        // person's 9 in between.
        let c = run(3, (1, 1));
        let other = run(9, (1, 2));
        let b = run(2, (1, 1));
        let a = run(1, (1, 1));
        for h in [c, other, b, a] {
            h.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let mine: Vec<u64> = order.iter().copied().filter(|i| *i != 9).collect();
        assert_eq!(mine, [1, 2, 3], "{order:?}");
        assert!(order.contains(&9));
        assert_eq!(seq.pending(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_wait_gives_up_its_place() {
        let seq = Sequencer::default();
        let first = seq.enter((1, 1), 1, Duration::ZERO).await;
        // 2 waits behind 1; cancelled, it must not block 3.
        let waiting = tokio::time::timeout(
            Duration::from_millis(20),
            seq.enter((1, 1), 2, Duration::ZERO),
        )
        .await;
        assert!(waiting.is_err());
        drop(first);
        let third = seq.enter((1, 1), 3, Duration::ZERO).await;
        assert_eq!(seq.pending(), 1);
        drop(third);
        assert_eq!(seq.pending(), 0);
    }
}

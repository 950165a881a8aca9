//! A ticket's staff thread follows the ticket: closing the ticket archives its Discord thread
//! or closes its Telegram forum topic, reopening it undoes that before anything is posted
//! there.
//!
//! Durable and retried like any send: whoever closes or reopens a ticket queues its number
//! ([`queue`]) in the store's outbox under [`CHANNEL`] (the relay's close and reopen commands,
//! the idle sweeper, `deskbot tickets close` while the bot is stopped), and the running relay
//! brings every queued ticket's thread in line with the ticket's status *as stored when it
//! gets to it* ([`Relay::sync_thread`]), then removes the entries. So the entries say only
//! "look at this ticket", their order does not matter, and a close followed by a reopen ends
//! with an open thread. A call that fails stays queued and the relay's sweep retries it, with
//! the per-ticket backoff of [`Relay::run`]. Tickets closed by a path that queues nothing
//! (`/forget`) are noticed by the sweep when they leave the open tickets ([`LeftOpen`]).
//!
//! Idempotent: the state the thread was last put in is a mark under [`CHANNEL`]
//! ([`thread_state`]; none means open, as every thread starts), so nothing is called when the
//! thread is already as it should be, and a platform answering "not modified" counts as done.
//! A change that can never be made (the thread was deleted, no right to) is logged and
//! dropped, never retried in a loop.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use deskbot_storage::{ChannelWrite, StorageError, Store, TicketStatus};

use super::relay::{Relay, RelayError, StaffSide, UserSide};

/// The store channel of the thread queue (outbox target: the ticket number) and of the
/// threads' state marks.
pub const CHANNEL: &str = "handoff_threads";

/// The payload of a queued entry (the entry only says "look at this ticket").
const ENTRY: &[u8] = b"sync";

/// How long after a ticket left the open tickets the sweep queues it itself: the paths that
/// close a ticket and post about it (the close command, the idle sweeper) queue it after
/// their notice, so the thread is not archived before the notice is posted in it.
pub const LEFT_OPEN_GRACE: Duration = Duration::from_secs(5);

/// The state of a ticket's staff thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// Active: a Discord thread not archived, an open Telegram forum topic.
    Open,
    /// Archived (Discord) or closed (Telegram).
    Closed,
}

impl ThreadState {
    /// The state a thread of a ticket with `status` should be in.
    pub fn of(status: TicketStatus) -> Self {
        match status {
            TicketStatus::Open => Self::Open,
            TicketStatus::Closed => Self::Closed,
        }
    }

    fn encode(self) -> Vec<u8> {
        match self {
            Self::Open => b"open".to_vec(),
            Self::Closed => b"closed".to_vec(),
        }
    }
}

/// What became of a [`StaffSide::set_thread`] call that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadChange {
    /// The thread is now in the state asked for (or already was).
    Done,
    /// It can never be put in that state (why, as the platform said): dropped, not retried.
    Impossible(String),
}

fn state_mark(number: u64) -> String {
    format!("state:{number}")
}

/// Queues ticket `number`'s thread to be brought in line with the ticket's status by the
/// running relay, durably.
pub fn queue(store: &Store, number: u64) -> Result<(), StorageError> {
    store.channel_commit(&ChannelWrite {
        channel: CHANNEL.to_string(),
        target: number.to_string(),
        outbox: vec![ENTRY.to_vec()],
        ..ChannelWrite::default()
    })
}

/// The tickets queued by [`queue`] and not done yet, by number. A target that is not a
/// ticket number (never written by this module) is removed and logged.
pub fn queued(store: &Store) -> Result<Vec<u64>, StorageError> {
    let mut out = Vec::new();
    for target in store.outbox_targets(CHANNEL)? {
        match target.parse::<u64>() {
            Ok(n) => out.push(n),
            Err(_) => {
                tracing::warn!(target = %target.escape_debug(), "dropping a thread queue entry that names no ticket");
                for (seq, _) in store.outbox_pending(CHANNEL, &target)? {
                    store.outbox_remove(CHANNEL, &target, seq)?;
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The state ticket `number`'s thread was last put in (open when never changed).
pub fn thread_state(store: &Store, number: u64) -> Result<ThreadState, StorageError> {
    Ok(
        match store.channel_mark(CHANNEL, &state_mark(number))?.as_deref() {
            Some(b"closed") => ThreadState::Closed,
            _ => ThreadState::Open,
        },
    )
}

/// Someone wrote in ticket `number`'s thread (a message in an archived Discord thread
/// unarchives it): forgets that it was closed and queues it, so a closed ticket's thread is
/// closed again.
pub fn reassert(store: &Store, number: u64) -> Result<(), StorageError> {
    store.channel_commit(&ChannelWrite {
        channel: CHANNEL.to_string(),
        target: number.to_string(),
        outbox: vec![ENTRY.to_vec()],
        marks: vec![(state_mark(number), None)],
        ..ChannelWrite::default()
    })
}

/// Which tickets left the open tickets between sweeps (in memory: a restart forgets it, which
/// only loses what nothing queued while the bot ran).
#[derive(Debug, Default)]
pub struct LeftOpen {
    /// The open tickets of the last sweep; `None` before the first.
    open: Option<HashSet<u64>>,
    /// Tickets that left, and when that was noticed.
    left: HashMap<u64, Instant>,
}

impl LeftOpen {
    /// Takes the open tickets of this sweep (at `now`); returns the tickets that left the
    /// open ones at least [`LEFT_OPEN_GRACE`] ago (and did not come back), to be queued.
    pub fn update(&mut self, open: impl IntoIterator<Item = u64>, now: Instant) -> Vec<u64> {
        let open: HashSet<u64> = open.into_iter().collect();
        if let Some(before) = &self.open {
            for n in before.difference(&open) {
                self.left.entry(*n).or_insert(now);
            }
        }
        self.left.retain(|n, _| !open.contains(n));
        let mut due: Vec<u64> = self
            .left
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= LEFT_OPEN_GRACE)
            .map(|(n, _)| *n)
            .collect();
        due.sort_unstable();
        for n in &due {
            self.left.remove(n);
        }
        self.open = Some(open);
        due
    }
}

impl<S: StaffSide, U: UserSide> Relay<S, U> {
    /// Brings ticket `number`'s staff thread in line with the ticket's status as stored now
    /// (archived or closed when the ticket is closed, open when it is open), then removes the
    /// ticket's queued entries. Nothing is called when the thread already is so, or when the
    /// ticket has no thread (no staff location yet, a plain Telegram group). An error leaves
    /// the entries queued for the next sweep.
    pub async fn sync_thread(&self, number: u64) -> Result<(), RelayError> {
        let _one_at_a_time = self.lifecycle.lock().await;
        let (ticket, location, state, pending) = self
            .blocking(move |d| {
                let s = d.store();
                Ok((
                    s.ticket(number)?,
                    s.staff_location(number)?,
                    thread_state(s, number)?,
                    s.outbox_pending(CHANNEL, &number.to_string())?,
                ))
            })
            .await?;
        let want = ticket.map(|t| ThreadState::of(t.status));
        let at = location.filter(|l| l.thread.is_some());
        if let (Some(want), Some(at)) = (want, at)
            && want != state
        {
            match self.staff.set_thread(&at, want).await? {
                ThreadChange::Done => {
                    tracing::info!(ticket = number, state = ?want, "ticket thread updated");
                }
                ThreadChange::Impossible(why) => {
                    tracing::warn!(ticket = number, state = ?want, why = %why.escape_debug(), "cannot change the ticket's staff thread; leaving it");
                }
            }
            self.blocking(move |d| {
                d.store().channel_commit(&ChannelWrite {
                    channel: CHANNEL.to_string(),
                    target: number.to_string(),
                    marks: vec![(state_mark(number), Some(want.encode()))],
                    ..ChannelWrite::default()
                })
            })
            .await?;
        }
        self.blocking(move |d| {
            pending.iter().try_for_each(|(seq, _)| {
                d.store().outbox_remove(CHANNEL, &number.to_string(), *seq)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_that_left_are_due_after_the_grace_unless_they_came_back() {
        let mut l = LeftOpen::default();
        let t0 = Instant::now();
        assert!(l.update([1, 2, 3], t0).is_empty());
        // 2 and 3 left; nothing is due yet.
        assert!(l.update([1], t0 + Duration::from_secs(1)).is_empty());
        // 3 came back (reopened): only 2 is due, once.
        let later = t0 + Duration::from_secs(1) + LEFT_OPEN_GRACE;
        assert_eq!(l.update([1, 3], later), vec![2]);
        assert!(l.update([1, 3], later + LEFT_OPEN_GRACE).is_empty());
    }

    #[test]
    fn the_queue_and_the_state_survive_a_reopen_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(queued(&store).unwrap().is_empty());
            queue(&store, 7).unwrap();
            queue(&store, 7).unwrap();
            queue(&store, 12).unwrap();
            store
                .channel_commit(&ChannelWrite {
                    channel: CHANNEL.to_string(),
                    target: String::new(),
                    marks: vec![(state_mark(7), Some(ThreadState::Closed.encode()))],
                    ..ChannelWrite::default()
                })
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(queued(&store).unwrap(), vec![7, 12]);
        assert_eq!(thread_state(&store, 7).unwrap(), ThreadState::Closed);
        assert_eq!(thread_state(&store, 12).unwrap(), ThreadState::Open);
        // A message in the thread: the state is forgotten and the ticket queued again.
        reassert(&store, 7).unwrap();
        assert_eq!(thread_state(&store, 7).unwrap(), ThreadState::Open);
        assert_eq!(store.outbox_pending(CHANNEL, "7").unwrap().len(), 3);
    }
}

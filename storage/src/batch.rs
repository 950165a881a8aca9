//! Group commit at the transaction level: concurrent [`Store::commit_turn`] calls are applied
//! as one multi-tree sled transaction per batch, followed by one flush.
//!
//! sled serialises every transaction behind one global lock, and a transaction over seven
//! trees costs far more than the writes in it; one transaction per turn capped the bot at a
//! few thousand turns per second however the fsyncs were shared. Here a turn prepares its
//! writes (serialised records, keys), queues them, and either waits or, when no batch is being
//! applied, becomes the leader: it takes every queued turn (up to [`MAX_BATCH`]), applies them
//! in queue order in one transaction, hands leadership to the next queued turn (whose batch
//! can then be applied while this one is flushed), waits for a flush that started after its
//! transaction ([`Store::sync`], itself shared by concurrent callers) and then releases every
//! turn of its batch with its own result.
//!
//! Semantics are those of one transaction per turn: each turn's state, transcript, tickets
//! and channel write land together or not at all, and no turn is acknowledged before a flush
//! covering it completed. A turn whose channel update was handled before fails alone with
//! [`StorageError::AlreadyHandled`] (its writes are skipped, the rest of the batch lands); a
//! database error fails the whole batch, each turn with it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::channel::{AlreadyHandled, PreparedChannelWrite};
use crate::queue::OpenQueue;
use crate::store::Store;
use crate::{StorageError, TicketStatus};

/// The most turns applied in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// A turn's writes with keys computed and records serialised.
#[derive(Debug)]
pub(crate) struct PreparedTurn {
    pub(crate) key: Vec<u8>,
    pub(crate) state: Vec<u8>,
    pub(crate) lines: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) tickets: Vec<PreparedTicket>,
    pub(crate) channel: Option<PreparedChannelWrite>,
}

/// A ticket of a turn, serialised, with what the open-ticket mirror needs of it.
#[derive(Debug)]
pub(crate) struct PreparedTicket {
    pub(crate) number: u64,
    pub(crate) value: Vec<u8>,
    pub(crate) status: TicketStatus,
    pub(crate) priority: bool,
}

#[derive(Debug)]
enum SlotState {
    /// Queued; a leader will apply it.
    Waiting,
    /// The previous leader handed leadership to this turn: it applies the next batch.
    Lead,
    /// Applied (and flushed) or failed.
    Done(Result<(), StorageError>),
}

/// Where a queued turn waits for its result.
#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

impl Slot {
    fn set(&self, state: SlotState) {
        *lock(&self.state) = state;
        self.ready.notify_one();
    }
}

#[derive(Debug)]
struct Job {
    turn: PreparedTurn,
    slot: Arc<Slot>,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether some turn is leading (applying a batch or about to). While it is, new turns
    /// only queue; it hands leadership on (or clears this) when its transaction is done.
    leader: bool,
}

/// The queue of turns waiting to be committed. One per database.
#[derive(Debug, Default)]
pub(crate) struct TurnCommitter {
    queue: Mutex<Queue>,
}

/// The open tickets with their priority, mirrored in memory so that [`Store::queue_position`]
/// does not scan the `open_tickets` tree. `None` until first needed (loaded from the tree and
/// the ticket records then), and again after a backup import. Writers of `open_tickets` hold
/// this lock across their transaction and update it after, so it always equals the tree.
pub(crate) type OpenIndex = Mutex<Option<OpenQueue>>;

/// Locks a mutex whose contents stay consistent at every unlock (no invariant spans a panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A copy of a batch-wide error for each turn of the batch.
fn share(e: &StorageError) -> StorageError {
    match e {
        StorageError::Sled(e) => StorageError::Sled(e.clone()),
        StorageError::AlreadyHandled { channel, id } => StorageError::AlreadyHandled {
            channel: channel.clone(),
            id: *id,
        },
        StorageError::Corrupt { tree, message } => StorageError::Corrupt {
            tree,
            message: message.clone(),
        },
        other => StorageError::Sled(sled::Error::Io(std::io::Error::other(other.to_string()))),
    }
}

impl Store {
    /// Queues `turn` and returns once it is applied and flushed (or failed).
    pub(crate) fn commit_prepared(&self, turn: PreparedTurn) -> Result<(), StorageError> {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting),
            ready: Condvar::new(),
        });
        let lead = {
            let mut q = lock(&self.committer.queue);
            q.jobs.push(Job {
                turn,
                slot: slot.clone(),
            });
            !std::mem::replace(&mut q.leader, true)
        };
        if !lead {
            let mut s = lock(&slot.state);
            loop {
                match std::mem::replace(&mut *s, SlotState::Waiting) {
                    SlotState::Done(result) => return result,
                    SlotState::Lead => break,
                    SlotState::Waiting => {
                        s = slot.ready.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
        }
        self.lead_batch(&slot)
    }

    /// Applies the queued turns (this leader's own among them: it is first in the queue), hands
    /// leadership on, flushes and releases the batch. Returns the leader's own result.
    fn lead_batch(&self, own: &Arc<Slot>) -> Result<(), StorageError> {
        let jobs: Vec<Job> = {
            let mut q = lock(&self.committer.queue);
            let n = q.jobs.len().min(MAX_BATCH);
            q.jobs.drain(..n).collect()
        };
        // A panic here must not strand the batch's waiters (nor the turns queued behind it,
        // which wait for leadership): it fails the batch like a database error.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply_batch(&jobs)))
                .unwrap_or_else(|_| {
                    // The open-ticket mirror may be half updated: reload it when next needed.
                    *lock(&self.open_index) = None;
                    Err(StorageError::Sled(sled::Error::Io(std::io::Error::other(
                        "a batch of turns could not be committed (panic while applying it)",
                    ))))
                });
        // Leadership passes on before the flush, so the next batch is applied meanwhile.
        {
            let mut q = lock(&self.committer.queue);
            match q.jobs.first() {
                Some(next) => next.slot.set(SlotState::Lead),
                None => q.leader = false,
            }
        }
        let results: Vec<Result<(), StorageError>> = match applied {
            Err(e) => jobs.iter().map(|_| Err(share(&e))).collect(),
            Ok(outcomes) => {
                let landed = outcomes.iter().any(Option::is_none);
                let flushed = if landed { self.sync() } else { Ok(()) };
                outcomes
                    .into_iter()
                    .map(|o| match (o, &flushed) {
                        (Some(a), _) => Err(a.into()),
                        (None, Ok(())) => Ok(()),
                        (None, Err(e)) => Err(share(e)),
                    })
                    .collect()
            }
        };
        let mut mine = Ok(());
        for (job, result) in jobs.into_iter().zip(results) {
            if Arc::ptr_eq(&job.slot, own) {
                mine = result;
            } else {
                job.slot.set(SlotState::Done(result));
            }
        }
        mine
    }

    /// One transaction for the whole batch. Per turn: `None` when its writes were applied,
    /// `Some` when it was skipped because its channel update was handled before.
    fn apply_batch(&self, jobs: &[Job]) -> Result<Vec<Option<AlreadyHandled>>, StorageError> {
        let mut index = lock(&self.open_index);
        let outcomes = (
            &self.conversations,
            &self.transcripts,
            &self.tickets,
            &self.open_tickets,
            &self.inbox,
            &self.outbox,
            &self.channel_marks,
        )
            .transaction(|(conv, trans, tick, open, inbox, outbox, marks)| {
                // Recomputed on every run: sled reruns the closure after a conflict.
                let mut outcomes = Vec::with_capacity(jobs.len());
                for job in jobs {
                    let t = &job.turn;
                    if let Some(p) = &t.channel {
                        // The inbox check comes before any write of the channel write, so a
                        // refused turn has written nothing and is simply skipped.
                        match Self::apply_channel_write(p, inbox, outbox, marks) {
                            Ok(()) => {}
                            Err(ConflictableTransactionError::Abort(a)) => {
                                outcomes.push(Some(a));
                                continue;
                            }
                            Err(other) => return Err(other),
                        }
                    }
                    conv.insert(t.key.as_slice(), t.state.as_slice())?;
                    for (k, v) in &t.lines {
                        trans.insert(k.as_slice(), v.as_slice())?;
                    }
                    for ticket in &t.tickets {
                        let number = ticket.number.to_be_bytes();
                        tick.insert(&number[..], ticket.value.as_slice())?;
                        match ticket.status {
                            TicketStatus::Open => {
                                open.insert(&number[..], t.key.as_slice())?;
                            }
                            TicketStatus::Closed => {
                                open.remove(&number[..])?;
                            }
                        }
                    }
                    outcomes.push(None);
                }
                Ok::<_, ConflictableTransactionError<AlreadyHandled>>(outcomes)
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StorageError::Sled(e),
                TransactionError::Abort(a) => a.into(),
            })?;
        if let Some(queue) = index.as_mut() {
            for (job, outcome) in jobs.iter().zip(&outcomes) {
                if outcome.is_some() {
                    continue;
                }
                for ticket in &job.turn.tickets {
                    match ticket.status {
                        TicketStatus::Open => queue.open(ticket.number, ticket.priority),
                        TicketStatus::Closed => queue.close(ticket.number),
                    }
                }
            }
        }
        drop(index);
        Ok(outcomes)
    }
}

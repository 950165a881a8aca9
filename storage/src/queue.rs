//! The support queue's order, kept in memory: priority tickets first, each group oldest
//! (lowest number) first.
//!
//! [`OpenQueue`] mirrors the `open_tickets` tree plus each open ticket's priority (read from
//! its ticket record when the mirror is loaded, taken from the written ticket afterwards), so
//! that [`Store::queue_position`] neither scans the tree nor decodes tickets on every turn.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::StorageError;
use crate::store::Store;

/// The open ticket numbers, split by priority.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct OpenQueue {
    priority: BTreeSet<u64>,
    normal: BTreeSet<u64>,
}

/// How many numbers in `set` are below `number`. Counted from the top: a new ticket's number
/// is (nearly) the highest, so the range is short.
fn below(set: &BTreeSet<u64>, number: u64) -> usize {
    set.len() - set.range(number..).count()
}

impl OpenQueue {
    /// Ticket `number` is open (again), with this priority (a changed priority moves it).
    pub(crate) fn open(&mut self, number: u64, priority: bool) {
        if priority {
            self.normal.remove(&number);
            self.priority.insert(number);
        } else {
            self.priority.remove(&number);
            self.normal.insert(number);
        }
    }

    /// Ticket `number` is no longer open.
    pub(crate) fn close(&mut self, number: u64) {
        self.priority.remove(&number);
        self.normal.remove(&number);
    }

    /// 1-based position of ticket `number` with this priority: a priority ticket waits behind
    /// the open priority tickets opened before it; a normal one behind every open priority
    /// ticket and the open normal tickets opened before it.
    pub(crate) fn position(&self, number: u64, priority: bool) -> usize {
        let ahead = if priority {
            below(&self.priority, number)
        } else {
            self.priority.len() + below(&self.normal, number)
        };
        ahead + 1
    }

    /// Whether open ticket `number` is a priority ticket.
    pub(crate) fn is_priority(&self, number: u64) -> bool {
        self.priority.contains(&number)
    }
}

/// The one field of a ticket record the queue needs (the rest is skipped, not decoded).
#[derive(Deserialize)]
struct PriorityOnly {
    #[serde(default)]
    priority: bool,
}

impl Store {
    /// Reads the queue from the `open_tickets` tree and the priority of each open ticket's
    /// record. An open ticket whose record is missing counts as normal.
    pub(crate) fn load_open_queue(&self) -> Result<OpenQueue, StorageError> {
        let mut queue = OpenQueue::default();
        for k in self.open_tickets.iter().keys() {
            let k = k?;
            let number = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt {
                    tree: "open_tickets",
                    message: "open ticket key is not 8 bytes".into(),
                })?;
            let priority = match self.tickets.get(&k)? {
                None => false,
                Some(v) => {
                    serde_json::from_slice::<PriorityOnly>(&v)
                        .map_err(|e| StorageError::Corrupt {
                            tree: "tickets",
                            message: format!("ticket #{number}: {e}"),
                        })?
                        .priority
                }
            };
            queue.open(number, priority);
        }
        Ok(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_tickets_go_first_and_a_changed_priority_moves_a_ticket() {
        let mut q = OpenQueue::default();
        for (n, p) in [(1, false), (2, true), (3, false), (4, true)] {
            q.open(n, p);
        }
        assert_eq!(q.position(2, true), 1);
        assert_eq!(q.position(4, true), 2);
        assert_eq!(q.position(1, false), 3);
        assert_eq!(q.position(3, false), 4);
        // A ticket not yet open is placed where it would go.
        assert_eq!(q.position(9, true), 3);
        assert_eq!(q.position(9, false), 5);
        q.open(3, true);
        assert!(q.is_priority(3) && !q.is_priority(1));
        assert_eq!(q.position(3, true), 2);
        assert_eq!(q.position(1, false), 4);
        q.close(2);
        q.close(3);
        q.close(77);
        assert_eq!(q.position(4, true), 1);
        assert_eq!(q.position(1, false), 2);
    }
}

//! Dead letters: what a chat channel gave up on, kept for an operator instead of being retried
//! forever or dropped silently.
//!
//! Two kinds ([`DeadLetterKind`]):
//!
//! - **Reply**: an outbox entry the platform kept refusing (or kept failing) after the
//!   channel's retries. [`Store::park_outbox`] moves it out of the outbox atomically, so the
//!   chat's later replies go on; [`Store::retry_dead_letter`] moves it back to the end of its
//!   target's outbox.
//! - **Update**: a received platform update that could not be read (its JSON does not match
//!   the client library's types, or parsing it panicked). The channel confirms it to the
//!   platform and records it here with its raw JSON (the caller masks secrets first), so it
//!   neither stops the channel nor vanishes. It cannot be retried (nothing could read it);
//!   [`Store::dismiss_dead_letter`] removes it once looked at.
//!
//! Records live in their own tree (`dead_letters`), keyed by a big-endian id from the
//! database's id generator, so they list oldest first. Backups carry the tree as `raw`
//! records.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::StorageError;
use crate::channel::AlreadyHandled;
use crate::store::Store;

/// The tree's name.
const TREE: &str = "dead_letters";

/// What a dead letter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterKind {
    /// A reply (outbox entry) that could not be delivered.
    Reply,
    /// A received update that could not be read.
    Update,
}

/// One parked item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its id (the listing order; what [`Store::retry_dead_letter`] takes).
    #[serde(skip)]
    pub id: u64,
    /// The channel (`telegram`, `discord`).
    pub channel: String,
    /// Reply or update.
    pub kind: DeadLetterKind,
    /// For a reply, its outbox target (a chat id); for an update, the update's id.
    pub target: String,
    /// Why it was parked (safe to show: no token).
    pub reason: String,
    /// When (Unix seconds).
    pub at: i64,
    /// For a reply, the outbox payload (the channel's JSON); for an update, its raw JSON with
    /// secrets masked.
    pub payload: String,
}

/// What [`Store::retry_dead_letter`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The reply is queued again at the end of its target's outbox.
    Requeued {
        /// The channel.
        channel: String,
        /// The outbox target.
        target: String,
    },
    /// No dead letter has that id.
    NotFound,
    /// It is an unreadable update: there is nothing to retry.
    NotRetryable,
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn decode(k: &[u8], v: &[u8]) -> Result<DeadLetter, StorageError> {
    let id = <[u8; 8]>::try_from(k)
        .map(u64::from_be_bytes)
        .map_err(|_| StorageError::Corrupt {
            tree: TREE,
            message: "a dead-letter key that is not 8 bytes".into(),
        })?;
    let mut d: DeadLetter = serde_json::from_slice(v).map_err(|e| StorageError::Corrupt {
        tree: TREE,
        message: e.to_string(),
    })?;
    d.id = id;
    Ok(d)
}

/// The outbox key of `(channel, target, seq)`, as [`crate::channel`] lays it out.
fn outbox_key(channel: &str, target: &str, seq: u64) -> Result<Vec<u8>, StorageError> {
    let mut k = outbox_prefix(channel, target)?;
    k.extend_from_slice(&seq.to_be_bytes());
    Ok(k)
}

fn outbox_prefix(channel: &str, target: &str) -> Result<Vec<u8>, StorageError> {
    if channel.is_empty() || channel.contains('\0') || target.contains('\0') {
        return Err(StorageError::InvalidKey(format!(
            "channel and target must be non-empty and without NUL: {channel:?}/{target:?}"
        )));
    }
    let mut k = channel.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(target.as_bytes());
    k.push(0);
    Ok(k)
}

impl Store {
    fn dead_tree(&self) -> Result<sled::Tree, StorageError> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// Moves the outbox entry `(channel, target, seq)` to the dead letters, atomically and
    /// durably, with `reason`. Returns the dead letter's id, or `None` when the entry is no
    /// longer in the outbox (nothing is written then).
    pub fn park_outbox(
        &self,
        channel: &str,
        target: &str,
        seq: u64,
        reason: &str,
        at: i64,
    ) -> Result<Option<u64>, StorageError> {
        let dead = self.dead_tree()?;
        let okey = outbox_key(channel, target, seq)?;
        let Some(payload) = self.outbox.get(&okey)? else {
            return Ok(None);
        };
        let id = self.db.generate_id()?;
        let letter = DeadLetter {
            id,
            channel: channel.to_string(),
            kind: DeadLetterKind::Reply,
            target: target.to_string(),
            reason: reason.to_string(),
            at,
            payload: String::from_utf8_lossy(&payload).into_owned(),
        };
        let bytes = serde_json::to_vec(&letter)?;
        let parked = (&self.outbox, &dead)
            .transaction(|(outbox, dead)| {
                if outbox.remove(okey.as_slice())?.is_none() {
                    return Ok(None);
                }
                dead.insert(&key(id), bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<AlreadyHandled>>(Some(id))
            })
            .map_err(crate::store::transaction_error)?;
        self.sync()?;
        Ok(parked)
    }

    /// Records an update of `channel` that could not be read, with its raw JSON (mask secrets
    /// first) and why, durably. Recording the same update id again (it came again because
    /// the previous confirmation did not reach the platform) keeps the first record and
    /// returns its id.
    pub fn record_skipped_update(
        &self,
        channel: &str,
        update_id: &str,
        raw: &str,
        reason: &str,
        at: i64,
    ) -> Result<u64, StorageError> {
        if let Some(known) = self.dead_letters()?.into_iter().find(|d| {
            d.kind == DeadLetterKind::Update && d.channel == channel && d.target == update_id
        }) {
            return Ok(known.id);
        }
        let id = self.db.generate_id()?;
        let letter = DeadLetter {
            id,
            channel: channel.to_string(),
            kind: DeadLetterKind::Update,
            target: update_id.to_string(),
            reason: reason.to_string(),
            at,
            payload: raw.to_string(),
        };
        self.dead_tree()?
            .insert(key(id), serde_json::to_vec(&letter)?)?;
        self.sync()?;
        Ok(id)
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StorageError> {
        let mut out = Vec::new();
        for item in self.dead_tree()?.iter() {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Queues a parked reply again, at the end of its target's outbox, and removes the dead
    /// letter, atomically and durably. The channel sends it on its next delivery to that
    /// target (at the latest at its next start).
    pub fn retry_dead_letter(&self, id: u64) -> Result<RetryOutcome, StorageError> {
        let dead = self.dead_tree()?;
        let Some(v) = dead.get(key(id))? else {
            return Ok(RetryOutcome::NotFound);
        };
        let letter = decode(&key(id), &v)?;
        if letter.kind != DeadLetterKind::Reply {
            return Ok(RetryOutcome::NotRetryable);
        }
        let okey = outbox_key(&letter.channel, &letter.target, self.db.generate_id()?)?;
        let payload = letter.payload.as_bytes();
        let moved = (&self.outbox, &dead)
            .transaction(|(outbox, dead)| {
                if dead.remove(&key(id))?.is_none() {
                    return Ok(false);
                }
                outbox.insert(okey.as_slice(), payload)?;
                Ok::<_, ConflictableTransactionError<AlreadyHandled>>(true)
            })
            .map_err(crate::store::transaction_error)?;
        self.sync()?;
        Ok(if moved {
            RetryOutcome::Requeued {
                channel: letter.channel,
                target: letter.target,
            }
        } else {
            RetryOutcome::NotFound
        })
    }

    /// Removes a dead letter for good; false when there was none with that id.
    pub fn dismiss_dead_letter(&self, id: u64) -> Result<bool, StorageError> {
        let removed = self.dead_tree()?.remove(key(id))?.is_some();
        self.sync()?;
        Ok(removed)
    }
}

//! Delivery bookkeeping for chat channels (Telegram, …): an inbox of received platform
//! updates, an outbox of replies, and small per-channel values ("marks": a polling offset, a
//! user who blocked the bot).
//!
//! The contract that makes a channel lose nothing and handle nothing twice:
//!
//! 1. A received update is written to the inbox together with the platform offset that
//!    confirms it ([`Store::inbox_accept`]), durably, *before* the platform is told it was
//!    received. An update at or below the stored offset is never accepted again.
//! 2. Handling an update removes it from the inbox in the same transaction that writes the
//!    conversation's new state and queues the replies in the outbox ([`TurnWrite::channel`],
//!    [`Store::channel_commit`]). If the inbox entry is already gone the whole write is
//!    refused with [`StorageError::AlreadyHandled`], so a turn runs at most once.
//! 3. Replies leave the outbox only after the platform accepted them
//!    ([`Store::outbox_remove`]); after a crash, what is still queued is sent on restart.
//!
//! Keys: inbox `channel NUL id(be64)`; outbox `channel NUL target NUL seq(be64)`; marks
//! `channel NUL name`. Payloads are opaque bytes chosen by the channel.
//!
//! [`TurnWrite::channel`]: crate::TurnWrite::channel

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::StorageError;
use crate::store::Store;

/// Channel bookkeeping written atomically with a turn ([`crate::TurnWrite::channel`]) or on
/// its own ([`Store::channel_commit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelWrite {
    /// The channel (`telegram`).
    pub channel: String,
    /// The inbox entry this write handles; it is removed, and the write is refused with
    /// [`StorageError::AlreadyHandled`] when it is no longer there.
    pub consumed: Option<u64>,
    /// Who the outbox entries are for (a chat id); also the target of `clear_outbox`.
    pub target: String,
    /// Drop everything still queued for `target` first (the user blocked the bot).
    pub clear_outbox: bool,
    /// Payloads to queue for `target`, in sending order.
    pub outbox: Vec<Vec<u8>>,
    /// Marks to set (`Some`) or remove (`None`), by name.
    pub marks: Vec<(String, Option<Vec<u8>>)>,
}

/// A [`ChannelWrite`] with its keys computed, ready to apply inside a transaction.
#[derive(Debug)]
pub(crate) struct PreparedChannelWrite {
    consumed: Option<(Vec<u8>, u64)>,
    clear: Vec<Vec<u8>>,
    outbox: Vec<(Vec<u8>, Vec<u8>)>,
    marks: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    channel: String,
}

/// Why a channel transaction was aborted.
#[derive(Debug)]
pub(crate) struct AlreadyHandled {
    pub(crate) channel: String,
    pub(crate) id: u64,
}

impl From<AlreadyHandled> for StorageError {
    fn from(a: AlreadyHandled) -> Self {
        StorageError::AlreadyHandled {
            channel: a.channel,
            id: a.id,
        }
    }
}

const OFFSET_MARK: &str = "\u{1}offset";

fn channel_prefix(channel: &str) -> Result<Vec<u8>, StorageError> {
    if channel.is_empty() || channel.contains('\0') {
        return Err(StorageError::InvalidKey(format!(
            "channel must be non-empty without NUL: {channel:?}"
        )));
    }
    let mut k = channel.as_bytes().to_vec();
    k.push(0);
    Ok(k)
}

fn inbox_key(channel: &str, id: u64) -> Result<Vec<u8>, StorageError> {
    let mut k = channel_prefix(channel)?;
    k.extend_from_slice(&id.to_be_bytes());
    Ok(k)
}

fn target_prefix(channel: &str, target: &str) -> Result<Vec<u8>, StorageError> {
    if target.contains('\0') {
        return Err(StorageError::InvalidKey(format!(
            "outbox target may not contain NUL: {target:?}"
        )));
    }
    let mut k = channel_prefix(channel)?;
    k.extend_from_slice(target.as_bytes());
    k.push(0);
    Ok(k)
}

pub(crate) fn mark_key(channel: &str, name: &str) -> Result<Vec<u8>, StorageError> {
    let mut k = channel_prefix(channel)?;
    k.extend_from_slice(name.as_bytes());
    Ok(k)
}

fn be64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

impl Store {
    pub(crate) fn prepare_channel_write(
        &self,
        w: &ChannelWrite,
    ) -> Result<PreparedChannelWrite, StorageError> {
        let consumed = match w.consumed {
            Some(id) => Some((inbox_key(&w.channel, id)?, id)),
            None => None,
        };
        let prefix = target_prefix(&w.channel, &w.target)?;
        let mut clear = Vec::new();
        if w.clear_outbox {
            for item in self.outbox.scan_prefix(&prefix).keys() {
                clear.push(item?.to_vec());
            }
        }
        let mut outbox = Vec::with_capacity(w.outbox.len());
        for payload in &w.outbox {
            let mut k = prefix.clone();
            k.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
            outbox.push((k, payload.clone()));
        }
        let mut marks = Vec::with_capacity(w.marks.len());
        for (name, value) in &w.marks {
            marks.push((mark_key(&w.channel, name)?, value.clone()));
        }
        Ok(PreparedChannelWrite {
            consumed,
            clear,
            outbox,
            marks,
            channel: w.channel.clone(),
        })
    }

    /// Applies a prepared write inside a transaction over (inbox, outbox, marks).
    pub(crate) fn apply_channel_write(
        p: &PreparedChannelWrite,
        inbox: &TransactionalTree,
        outbox: &TransactionalTree,
        marks: &TransactionalTree,
    ) -> Result<(), ConflictableTransactionError<AlreadyHandled>> {
        if let Some((key, id)) = &p.consumed
            && inbox.remove(key.as_slice())?.is_none()
        {
            return Err(ConflictableTransactionError::Abort(AlreadyHandled {
                channel: p.channel.clone(),
                id: *id,
            }));
        }
        for k in &p.clear {
            outbox.remove(k.as_slice())?;
        }
        for (k, v) in &p.outbox {
            outbox.insert(k.as_slice(), v.as_slice())?;
        }
        for (k, v) in &p.marks {
            match v {
                Some(v) => {
                    marks.insert(k.as_slice(), v.as_slice())?;
                }
                None => {
                    marks.remove(k.as_slice())?;
                }
            }
        }
        Ok(())
    }

    /// Applies `write` atomically and durably, without a conversation turn (an update that
    /// needs no engine decision, a user who blocked the bot).
    pub fn channel_commit(&self, write: &ChannelWrite) -> Result<(), StorageError> {
        let p = self.prepare_channel_write(write)?;
        (&self.inbox, &self.outbox, &self.channel_marks)
            .transaction(|(inbox, outbox, marks)| {
                Self::apply_channel_write(&p, inbox, outbox, marks)
            })
            .map_err(crate::store::transaction_error)?;
        self.sync()?;
        Ok(())
    }

    /// The platform offset stored by [`Store::inbox_accept`] (0 when none).
    pub fn channel_offset(&self, channel: &str) -> Result<u64, StorageError> {
        Ok(self
            .channel_marks
            .get(mark_key(channel, OFFSET_MARK)?)?
            .and_then(|v| be64(&v))
            .unwrap_or(0))
    }

    /// Records received updates in the inbox and advances the channel's offset to
    /// `next_offset`, atomically and durably. Entries whose id is below the stored offset were
    /// accepted before and are skipped. Returns the ids accepted now, in the given order.
    pub fn inbox_accept(
        &self,
        channel: &str,
        entries: &[(u64, Vec<u8>)],
        next_offset: u64,
    ) -> Result<Vec<u64>, StorageError> {
        let offset_key = mark_key(channel, OFFSET_MARK)?;
        let mut keyed = Vec::with_capacity(entries.len());
        for (id, payload) in entries {
            keyed.push((*id, inbox_key(channel, *id)?, payload.as_slice()));
        }
        let accepted = (&self.inbox, &self.channel_marks)
            .transaction(|(inbox, marks)| {
                let stored = marks
                    .get(offset_key.as_slice())?
                    .and_then(|v| be64(&v))
                    .unwrap_or(0);
                let mut accepted = Vec::new();
                for (id, key, payload) in &keyed {
                    if *id >= stored {
                        inbox.insert(key.as_slice(), *payload)?;
                        accepted.push(*id);
                    }
                }
                if next_offset > stored {
                    marks.insert(offset_key.as_slice(), &next_offset.to_be_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<AlreadyHandled>>(accepted)
            })
            .map_err(crate::store::transaction_error)?;
        self.sync()?;
        Ok(accepted)
    }

    /// Updates received but not handled yet, oldest first.
    pub fn inbox_pending(&self, channel: &str) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        let prefix = channel_prefix(channel)?;
        let mut out = Vec::new();
        for item in self.inbox.scan_prefix(&prefix) {
            let (k, v) = item?;
            let id = be64(&k[prefix.len()..]).ok_or(StorageError::Corrupt {
                tree: "channel_inbox",
                message: "inbox key without an 8-byte id".into(),
            })?;
            out.push((id, v.to_vec()));
        }
        Ok(out)
    }

    /// Targets with queued outbox entries.
    pub fn outbox_targets(&self, channel: &str) -> Result<Vec<String>, StorageError> {
        let prefix = channel_prefix(channel)?;
        let mut out: Vec<String> = Vec::new();
        for k in self.outbox.scan_prefix(&prefix).keys() {
            let k = k?;
            let rest = &k[prefix.len()..];
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                continue;
            };
            let target = String::from_utf8_lossy(&rest[..end]).into_owned();
            if out.last() != Some(&target) {
                out.push(target);
            }
        }
        Ok(out)
    }

    /// What is queued for `target`, in sending order: (sequence number, payload).
    pub fn outbox_pending(
        &self,
        channel: &str,
        target: &str,
    ) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        let prefix = target_prefix(channel, target)?;
        let mut out = Vec::new();
        for item in self.outbox.scan_prefix(&prefix) {
            let (k, v) = item?;
            let seq = be64(&k[prefix.len()..]).ok_or(StorageError::Corrupt {
                tree: "channel_outbox",
                message: "outbox key without an 8-byte sequence number".into(),
            })?;
            out.push((seq, v.to_vec()));
        }
        Ok(out)
    }

    /// Removes a delivered (or undeliverable) outbox entry, durably.
    pub fn outbox_remove(&self, channel: &str, target: &str, seq: u64) -> Result<(), StorageError> {
        let mut k = target_prefix(channel, target)?;
        k.extend_from_slice(&seq.to_be_bytes());
        self.outbox.remove(k)?;
        self.sync()?;
        Ok(())
    }

    /// Replaces the payload of queued entry `seq` (a reply sent in parts records how far it
    /// got), durably; false, changing nothing, when the entry is no longer queued.
    pub fn outbox_update(
        &self,
        channel: &str,
        target: &str,
        seq: u64,
        payload: &[u8],
    ) -> Result<bool, StorageError> {
        let mut k = target_prefix(channel, target)?;
        k.extend_from_slice(&seq.to_be_bytes());
        let current = self.outbox.get(&k)?;
        let Some(current) = current else {
            return Ok(false);
        };
        // Only over the value just read: a concurrent removal wins.
        let swapped = self
            .outbox
            .compare_and_swap(&k, Some(current), Some(payload))?
            .is_ok();
        self.sync()?;
        Ok(swapped)
    }

    /// A mark's value, if set.
    pub fn channel_mark(&self, channel: &str, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .channel_marks
            .get(mark_key(channel, name)?)?
            .map(|v| v.to_vec()))
    }
}

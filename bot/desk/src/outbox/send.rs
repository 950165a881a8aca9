//! The one send loop of every channel ([`Sender::flush`]): a target's queued entries in
//! order, each rendered by the channel ([`Channel`]) and its calls made, removed once done,
//! parked as a dead letter when the platform keeps refusing it, left queued when it cannot be
//! sent now.
//!
//! Never twice: an entry the platform accepted whose removal then failed (a full disk) is
//! remembered and only its removal is retried ([`Sender::save`] carries that memory over a
//! graceful restart, [`sent_marks`](super::sent_marks)); a reply rendered into several calls
//! records after each accepted call how far it got ([`Envelope::done`]), so a restart, an
//! outage or a retried dead letter resumes after the last part sent.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{ChannelWrite, StorageError, Store};

use super::{Envelope, sent_marks};
use crate::desk::Desk;

/// What became of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The platform accepted it.
    Done,
    /// It is not needed any more, or can never be made (a button answered too late, an entry
    /// this version cannot read): removed, counted as an error of the channel.
    Dropped,
    /// The platform keeps refusing it: parked as a dead letter with why; the target's later
    /// entries go on.
    Park(String),
    /// It cannot be made now (an outage): it stays queued and the pass ends; the next flush
    /// tries again.
    Later(String),
    /// The target takes no messages any more (the user blocked the bot): everything queued
    /// for it is dropped, and the channel's [`Channel::gone_marks`] are set.
    TargetGone,
    /// Shutdown came while waiting: it stays queued for the next start.
    Stopped,
}

/// A channel's sending side, as [`Sender`] drives it.
pub trait Channel: Send + Sync + 'static {
    /// One platform call, as the channel renders it.
    type Call: Send;
    /// The `deskbot_errors_total` kind counted for a dropped call.
    const DROPPED: &'static str;
    /// The `deskbot_errors_total` kind counted for a target found gone.
    const GONE: &'static str;

    /// The channel's name in the store and in metrics.
    fn name(&self) -> &'static str;

    /// The calls that send `reply` the way `route` says (an [`Envelope`] the desk queued);
    /// `None` when the route cannot be read.
    fn render(
        &self,
        route: &serde_json::Value,
        reply: &Reply,
        nonce: &str,
    ) -> Option<Vec<Self::Call>>;

    /// Reads an entry the channel queued in its own format (one call); `None` when it cannot
    /// be read.
    fn decode(&self, payload: &[u8]) -> Option<Self::Call>;

    /// Makes one call (retrying as the platform's rules allow).
    fn send(&self, call: &mut Self::Call) -> impl Future<Output = Sent> + Send;

    /// Whether `target` is known to take no messages now: what is queued for it is dropped
    /// unsent.
    fn unreachable(&self, _store: &Store, _target: &str) -> Result<bool, StorageError> {
        Ok(false)
    }

    /// Marks to set with the dropped queue when a call found `target` gone, at `now_secs`.
    fn gone_marks(&self, _target: &str, _now_secs: i64) -> Vec<(String, Option<Vec<u8>>)> {
        Vec::new()
    }
}

/// Sends a channel's outbox: one per channel, shared by its tasks.
pub struct Sender<C> {
    desk: Desk,
    channel: C,
    /// Entries (target, seq) the platform accepted whose removal failed: never sent again.
    sent: Mutex<HashSet<(String, u64)>>,
    /// Targets being flushed now, and whether another flush asked for one more pass.
    busy: Mutex<HashMap<String, bool>>,
}

impl<C> std::fmt::Debug for Sender<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// Clears a target's busy entry however its flush ends.
struct Busy<'a> {
    map: &'a Mutex<HashMap<String, bool>>,
    target: &'a str,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(self.target);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one entry came to.
enum Entry {
    Sent,
    Dropped,
    Park(String),
    Later(String),
    TargetGone,
    Stopped,
}

impl<C: Channel> Sender<C> {
    /// Sends `channel`'s outbox in `desk`'s store.
    pub fn new(desk: Desk, channel: C) -> Self {
        Self {
            desk,
            channel,
            sent: Mutex::new(HashSet::new()),
            busy: Mutex::new(HashMap::new()),
        }
    }

    /// Removes what an earlier run recorded as sent but could not remove (call before
    /// anything is sent); what still cannot be removed is kept in memory, never sent.
    pub async fn restore(&self) {
        let store = self.desk.store().clone();
        let name = self.channel.name();
        if let Ok(still) =
            tokio::task::spawn_blocking(move || sent_marks::restore(&store, name)).await
        {
            lock(&self.sent).extend(still);
        }
    }

    /// Retries the removals still owed and records those that fail for the next start (call
    /// at shutdown).
    pub async fn save(&self) {
        let marks = lock(&self.sent).clone();
        if marks.is_empty() {
            return;
        }
        let store = self.desk.store().clone();
        let name = self.channel.name();
        let _ = tokio::task::spawn_blocking(move || sent_marks::save(&store, name, &marks)).await;
    }

    /// Sends what is queued for `target`, in order; true when nothing is left that could be
    /// sent now. When another task is already sending for `target`, it is asked for one more
    /// pass instead (and this returns true).
    pub async fn flush(&self, target: &str) -> bool {
        {
            let mut busy = lock(&self.busy);
            if let Some(more) = busy.get_mut(target) {
                *more = true;
                return true;
            }
            busy.insert(target.to_string(), false);
        }
        let _busy = Busy {
            map: &self.busy,
            target,
        };
        loop {
            let complete = self.flush_once(target).await;
            let mut busy = lock(&self.busy);
            match busy.get_mut(target) {
                Some(more) if *more && complete => *more = false,
                _ => return complete,
            }
        }
    }

    /// Sends every target's queue (at start, and after outages).
    pub async fn sweep(&self) {
        let store = self.desk.store().clone();
        let name = self.channel.name();
        let targets = match tokio::task::spawn_blocking(move || store.outbox_targets(name)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::error!(channel = name, error = %e, "cannot list the outbox");
                return;
            }
            Err(_) => return,
        };
        if !targets.is_empty() {
            tracing::info!(
                channel = name,
                targets = targets.len(),
                "sending queued replies"
            );
        }
        for t in targets {
            self.flush(&t).await;
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    ) -> Option<T> {
        let store = self.desk.store().clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::error!(channel = self.channel.name(), error = %e, "outbox storage failed");
                self.desk.metrics().error("storage");
                None
            }
            Err(_) => None,
        }
    }

    /// Runs a store write about entry `seq` of `target` off the async workers; false (logged
    /// with `failed`) when it failed.
    async fn write_entry(
        &self,
        target: &str,
        seq: u64,
        failed: &'static str,
        f: impl FnOnce(&Store, &str) -> Result<(), StorageError> + Send + 'static,
    ) -> bool {
        let t = target.to_string();
        let done = self.blocking(move |s| f(s, &t)).await.is_some();
        if !done {
            tracing::error!(channel = self.channel.name(), target, seq, "{failed}");
        }
        done
    }

    async fn flush_once(&self, target: &str) -> bool {
        let name = self.channel.name();
        let t = target.to_string();
        let Some(pending) = self.blocking(move |s| s.outbox_pending(name, &t)).await else {
            return false;
        };
        if pending.is_empty() {
            return true;
        }
        let store = self.desk.store().clone();
        let unreachable = match self.channel.unreachable(&store, target) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(channel = name, target, error = %e, "cannot read the outbox marks");
                return false;
            }
        };
        if unreachable {
            tracing::info!(
                channel = name,
                target,
                count = pending.len(),
                "target takes no messages; queued replies dropped"
            );
            self.drop_queue(target, Vec::new()).await;
            return true;
        }
        {
            // Marks of entries no longer queued are stale.
            let queued: HashSet<u64> = pending.iter().map(|(seq, _)| *seq).collect();
            lock(&self.sent).retain(|(t, seq)| t != target || queued.contains(seq));
        }
        for (seq, payload) in pending {
            let key = (target.to_string(), seq);
            let entry = if lock(&self.sent).contains(&key) {
                // Accepted earlier; only its removal failed. Never sent twice.
                tracing::info!(
                    channel = name,
                    target,
                    seq,
                    "retrying the removal of a sent reply"
                );
                Entry::Sent
            } else {
                self.send_entry(target, seq, &payload).await
            };
            match entry {
                Entry::Sent | Entry::Dropped => {
                    if matches!(entry, Entry::Sent) {
                        // Remembered until its removal is durable: a failed removal must not
                        // send it again with the target's next reply.
                        lock(&self.sent).insert(key.clone());
                    }
                    let removed = self
                        .write_entry(
                            target,
                            seq,
                            "cannot remove a sent reply from the outbox; it will not be sent again",
                            move |s, t| s.outbox_remove(name, t, seq),
                        )
                        .await;
                    if !removed {
                        return false;
                    }
                    lock(&self.sent).remove(&key);
                }
                Entry::Park(reason) => {
                    tracing::error!(
                        channel = name,
                        target,
                        seq,
                        reason = %reason,
                        "the platform refused a reply or kept failing it; parked as a dead letter, later replies go on"
                    );
                    let at = self.desk.now_secs();
                    // Not delivered, so trying it again later duplicates nothing.
                    let parked = self
                        .write_entry(
                            target,
                            seq,
                            "cannot park an undeliverable reply",
                            move |s, t| s.park_outbox(name, t, seq, &reason, at).map(drop),
                        )
                        .await;
                    if !parked {
                        return false;
                    }
                    self.desk.metrics().dead_letter(name);
                }
                Entry::Later(why) => {
                    tracing::warn!(
                        channel = name,
                        target,
                        error = %why,
                        "a reply could not be delivered yet; it stays queued and is retried later"
                    );
                    return false;
                }
                Entry::TargetGone => {
                    let marks = self.channel.gone_marks(target, self.desk.now_secs());
                    self.drop_queue(target, marks).await;
                    return true;
                }
                Entry::Stopped => return false,
            }
        }
        true
    }

    /// Renders and sends one entry, resuming a partly sent envelope.
    async fn send_entry(&self, target: &str, seq: u64, payload: &[u8]) -> Entry {
        let name = self.channel.name();
        let (mut calls, mut envelope) = match Envelope::decode(payload) {
            Some(e) => match self.channel.render(&e.route, &e.reply, &e.nonce) {
                Some(calls) => (calls, Some(e)),
                None => {
                    tracing::error!(
                        channel = name,
                        target,
                        seq,
                        "unreadable route; reply dropped"
                    );
                    self.desk.metrics().error(C::DROPPED);
                    return Entry::Dropped;
                }
            },
            None => match self.channel.decode(payload) {
                Some(call) => (vec![call], None),
                None => {
                    tracing::error!(
                        channel = name,
                        target,
                        seq,
                        "unreadable outbox entry dropped"
                    );
                    self.desk.metrics().error(C::DROPPED);
                    return Entry::Dropped;
                }
            },
        };
        let skip = envelope.as_ref().map_or(0, |e| e.done as usize);
        let total = calls.len();
        for (i, call) in calls.iter_mut().enumerate().skip(skip) {
            match self.channel.send(call).await {
                Sent::Done => self.desk.metrics().message_out(name),
                Sent::Dropped => self.desk.metrics().error(C::DROPPED),
                Sent::Park(why) => return Entry::Park(why),
                Sent::Later(why) => return Entry::Later(why),
                Sent::TargetGone => {
                    tracing::info!(channel = name, target, "target no longer reachable");
                    self.desk.metrics().error(C::GONE);
                    return Entry::TargetGone;
                }
                Sent::Stopped => return Entry::Stopped,
            }
            if let Some(e) = envelope.as_mut()
                && i + 1 < total
            {
                e.done = u32::try_from(i + 1).unwrap_or(u32::MAX);
                let bytes = e.encode();
                // On failure a restart may repeat a part; the reply still goes out.
                self.write_entry(
                    target,
                    seq,
                    "cannot record how far a reply in parts got; a restart may repeat a part",
                    move |s, t| s.outbox_update(name, t, seq, &bytes).map(drop),
                )
                .await;
            }
        }
        Entry::Sent
    }

    /// Drops everything queued for `target`, setting `marks`.
    async fn drop_queue(&self, target: &str, marks: Vec<(String, Option<Vec<u8>>)>) {
        let write = ChannelWrite {
            channel: self.channel.name().to_string(),
            consumed: None,
            target: target.to_string(),
            clear_outbox: true,
            outbox: Vec::new(),
            marks,
        };
        if self
            .blocking(move |s| s.channel_commit(&write))
            .await
            .is_none()
        {
            tracing::error!(
                channel = self.channel.name(),
                target,
                "cannot drop the queue of an unreachable target"
            );
        }
    }
}

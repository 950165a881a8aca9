//! The Discord channel's state, shared by every shard: the [`Handler`] (its desk, support
//! channels, handoff, send loop, per-person ordering) and the count of events in flight. What
//! it does is in one file per concern: [`crate::events`] (what serenity calls),
//! [`crate::turns`] (users' turns), [`crate::staff`] (ticket threads and buttons),
//! [`crate::interactions`] (answering interactions), [`crate::commands`] (slash-command
//! registration) and [`crate::sending`] (the outbox); what needs no serenity type is in
//! [`crate::render`], [`crate::route`], [`crate::custom_id`] and [`crate::retry`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serenity::all::{ChannelId, GuildId, Http};
use tokio::sync::Notify;

use super::order::Sequencer;
use super::retry::Policy;
use super::route::Place;
use super::{DiscordHandoff, StaffPlace};
use crate::sending::DiscordSend;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::StaffInbox;
use deskbot_desk::outbox::send::Sender;

/// Counts event handlers still running, so shutdown can let turns in flight finish.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    pub(crate) count: AtomicUsize,
    pub(crate) idle: Notify,
}

/// Held while an event is handled.
pub(super) struct InflightGuard<'a>(&'a Inflight);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Inflight {
    pub(crate) fn enter(&self) -> InflightGuard<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        InflightGuard(self)
    }

    /// Waits until no handler runs, at most `limit`; returns how many were still running.
    pub(super) async fn drained(&self, limit: Duration) -> usize {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        self.count.load(Ordering::SeqCst)
    }
}

/// The bot's event handler: one per client, shared by every shard.
pub(super) struct Handler {
    pub(crate) desk: Desk,
    pub(crate) support_channels: Vec<u64>,
    pub(crate) guild_ids: Vec<u64>,
    pub(crate) bot_id: AtomicU64,
    pub(crate) commands_registered: AtomicBool,
    /// The outbox's send loop (set once the client, whose REST client it uses, exists).
    pub(crate) sender: OnceLock<Arc<Sender<DiscordSend>>>,
    pub(super) inflight: Inflight,
    /// The human handoff, when it runs.
    pub(crate) handoff: Option<DiscordHandoff>,
    /// Keeps each person's messages in order.
    pub(crate) order: Sequencer,
    /// How hard a queued reply is tried before it is parked (or left for the next sweep).
    pub(crate) delivery: Policy,
}

impl Handler {
    pub(super) fn new(
        desk: Desk,
        support_channels: Vec<u64>,
        guild_ids: Vec<u64>,
        handoff: Option<DiscordHandoff>,
        delivery: Policy,
    ) -> Self {
        Self {
            desk,
            support_channels,
            guild_ids,
            bot_id: AtomicU64::new(0),
            commands_registered: AtomicBool::new(false),
            sender: OnceLock::new(),
            inflight: Inflight::default(),
            handoff,
            order: Sequencer::default(),
            delivery,
        }
    }

    /// Sends queued replies through `http` from now on.
    /// Replies sent before a restart whose removal failed are removed first, never resent.
    pub(super) async fn start_sending(&self, http: Arc<Http>) {
        let send = DiscordSend::new(http, self.delivery, Arc::clone(self.desk.metrics()));
        let sender = Arc::new(Sender::new(self.desk.clone(), send));
        sender.restore().await;
        let _ = self.sender.set(sender);
    }

    /// Records the replies sent whose removal still fails, for the next start (at shutdown).
    pub(super) async fn stop_sending(&self) {
        if let Some(sender) = self.sender.get() {
            sender.save().await;
        }
    }

    pub(crate) fn relay(&self) -> Option<&dyn StaffInbox> {
        self.handoff.as_ref().map(|h| &*h.relay)
    }

    pub(crate) fn staff_place(&self) -> Option<(&dyn StaffInbox, StaffPlace)> {
        let h = self.handoff.as_ref()?;
        Some((&*h.relay, h.staff?))
    }

    /// Lets the relay sweep now when the user is with staff, so their line reaches the
    /// ticket's thread promptly.
    pub(crate) fn wake_relay(&self, conversation: &deskbot_engine::dialogue::Conversation) {
        if conversation.ticket().is_some()
            && let Some(r) = self.relay()
        {
            r.wake();
        }
    }

    pub(crate) fn place(&self, guild: Option<GuildId>, channel: ChannelId) -> Place {
        Place::of(guild.is_some(), channel.get(), &self.support_channels)
    }

    /// Sends what the outbox holds for `channel`, in order, through the desk's send loop (one
    /// sender per channel keeps its messages in order; a message still failing after the
    /// retries stays queued for the next [`Handler::sweep`]).
    pub(super) async fn flush(&self, channel: u64) {
        match self.sender.get() {
            Some(sender) => {
                sender.flush(&channel.to_string()).await;
            }
            None => tracing::warn!(channel, "no Discord client to send with yet"),
        }
    }

    /// Sends everything queued in the outbox (at start, and now and then after outages).
    pub(super) async fn sweep(&self) {
        if let Some(sender) = self.sender.get() {
            sender.sweep().await;
        }
    }
}

//! The Discord user side of the relay: what staff say to a Discord user is queued in the
//! Discord outbox (durably, addressed to the user's DM channel, rendered and split like every
//! bot reply), and the running Discord channel is asked to deliver that channel's outbox now.
//! Its sender keeps the order, sends each message once (a nonce under `enforce_nonce`), and
//! sends what a restart interrupted when it starts again.
//!
//! The DM channel id comes from the user's own DMs (the Discord channel remembers it with each
//! DM turn, see [`remember_dm`]); for a user who only wrote in a support channel it is opened
//! through the REST API once and remembered the same way.

use std::sync::Arc;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{ChannelWrite, ConvKey, Platform, StorageError, Store};
use serenity::all::{Http, UserId};
use tokio::sync::mpsc;

use crate::outbox::{self, Route};
use crate::render;
use crate::staff_side::nonce_for;
use deskbot_desk::handoff::relay::{RelayError, Unreachable, UserSide};
use deskbot_desk::outbox::{Address, Delivery};

/// The side named in this user side's errors.
const SIDE: &str = "Discord users";

/// The name of the mark holding `user`'s DM channel id (in the Discord outbox's marks).
pub fn dm_mark(user: u64) -> String {
    deskbot_desk::marks::Mark::PrivateAddress {
        user: &user.to_string(),
    }
    .name()
}

/// The mark to write with a turn that came from `user`'s DM channel `channel`.
pub fn remember_dm(user: u64, channel: u64) -> (String, Option<Vec<u8>>) {
    (dm_mark(user), Some(channel.to_string().into_bytes()))
}

/// `user`'s DM channel, when known.
pub fn known_dm(store: &Store, user: u64) -> Result<Option<u64>, StorageError> {
    Ok(store
        .channel_mark(outbox::CHANNEL, &dm_mark(user))?
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
}

/// Queues `reply` for DM channel `channel` of `user` in the Discord outbox, durably, as the
/// desk's envelope (rendered into messages when it is sent, nonces derived from `nonce`);
/// returns how many entries were queued (none for a silent reply).
pub fn queue_reply(
    store: &Store,
    user: u64,
    channel: u64,
    reply: &Reply,
    nonce: &str,
) -> Result<usize, StorageError> {
    if render::is_silent(reply) {
        return Ok(0);
    }
    let route = Route {
        channel,
        reply_to: None,
        owner: user,
    };
    let delivery = Delivery {
        channel: outbox::CHANNEL.to_string(),
        consumed: None,
        address: Address {
            target: channel.to_string(),
            route: serde_json::to_value(route)?,
        },
        nonce: nonce_for(nonce),
        always: false,
        marks: vec![remember_dm(user, channel)],
    };
    deskbot_desk::outbox::queue(store, &delivery, reply)?;
    Ok(1)
}

/// The Discord user side of the relay.
#[derive(Debug, Clone)]
pub struct DiscordUsers {
    store: Store,
    http: Option<Arc<Http>>,
    deliver: Option<mpsc::UnboundedSender<u64>>,
}

impl DiscordUsers {
    /// Queues in `store`; opens unknown DM channels through `http` (without it, only users
    /// whose DM channel is known can be reached); `deliver` receives the channel of every
    /// queued message, for the running Discord channel to send it now.
    pub fn new(
        store: Store,
        http: Option<Arc<Http>>,
        deliver: Option<mpsc::UnboundedSender<u64>>,
    ) -> Self {
        Self {
            store,
            http,
            deliver,
        }
    }

    /// The DM channel of Discord user `user` (`key` is their conversation), opened through
    /// the REST API when it is not known yet.
    async fn dm_channel(&self, key: &ConvKey, user: u64) -> Result<u64, RelayError> {
        let store = self.store.clone();
        let known = tokio::task::spawn_blocking(move || known_dm(&store, user)).await??;
        if let Some(c) = known {
            return Ok(c);
        }
        let unreachable = |why| RelayError::Unreachable {
            user: key.clone(),
            why,
        };
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| unreachable(Unreachable::NotConnected))?;
        let id = std::num::NonZeroU64::new(user)
            .map(UserId::from)
            .ok_or_else(|| unreachable(Unreachable::BadId))?;
        let channel = id
            .create_dm_channel(&**http)
            .await
            .map_err(|e| RelayError::Call {
                side: SIDE,
                call: "createDm",
                detail: e.to_string(),
            })?
            .id
            .get();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store.channel_commit(&ChannelWrite {
                channel: outbox::CHANNEL.to_string(),
                target: channel.to_string(),
                marks: vec![remember_dm(user, channel)],
                ..ChannelWrite::default()
            })
        })
        .await??;
        Ok(channel)
    }
}

impl UserSide for DiscordUsers {
    async fn send(&self, user: &ConvKey, text: &str, nonce: &str) -> Result<(), RelayError> {
        self.send_reply(user, &Reply::text(text), nonce).await
    }

    async fn send_reply(
        &self,
        user: &ConvKey,
        reply: &Reply,
        nonce: &str,
    ) -> Result<(), RelayError> {
        let unreachable = |why| RelayError::Unreachable {
            user: user.clone(),
            why,
        };
        if user.platform != Platform::Discord {
            return Err(unreachable(Unreachable::OtherPlatform));
        }
        let id: u64 = user
            .user
            .parse()
            .ok()
            .filter(|u| *u != 0)
            .ok_or_else(|| unreachable(Unreachable::BadId))?;
        let channel = self.dm_channel(user, id).await?;
        let (store, reply, nonce) = (self.store.clone(), reply.clone(), nonce.to_string());
        let queued =
            tokio::task::spawn_blocking(move || queue_reply(&store, id, channel, &reply, &nonce))
                .await??;
        if queued > 0
            && let Some(d) = &self.deliver
        {
            // The channel may be stopped; what is queued goes out at its next start.
            let _ = d.send(channel);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Queued;
    use deskbot_storage::Platform;

    #[tokio::test]
    async fn staff_text_is_queued_for_a_known_dm_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .channel_commit(&ChannelWrite {
                channel: outbox::CHANNEL.into(),
                target: "555".into(),
                marks: vec![remember_dm(77, 555)],
                ..ChannelWrite::default()
            })
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let users = DiscordUsers::new(store.clone(), None, Some(tx));
        let ann = ConvKey::new(Platform::Discord, "77");
        users
            .send(&ann, "Support (Bob): *one*", "n1")
            .await
            .unwrap();
        users
            .send(
                &ann,
                &format!("Support (Bob): {}", "x\n".repeat(1500)),
                "n2",
            )
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some(555));
        // What the send loop will make of the queue: each envelope rendered for Discord.
        let entries = store.outbox_pending(outbox::CHANNEL, "555").unwrap();
        let queued: Vec<Queued> = entries
            .iter()
            .flat_map(|(_, p)| {
                outbox::render_envelope(&deskbot_desk::outbox::Envelope::decode(p).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(queued.len(), 3, "the long one is split in two");
        assert_eq!(queued[0].message.content, "Support (Bob): \\*one\\*");
        assert!(
            queued
                .iter()
                .all(|q| q.channel == 555 && q.reply_to.is_none())
        );
        let nonces: std::collections::HashSet<&str> =
            queued.iter().map(|q| q.nonce.as_str()).collect();
        assert_eq!(nonces.len(), 3);
        assert!(nonces.iter().all(|n| n.len() <= 25));
        // A silent reply queues nothing.
        users
            .send_reply(&ann, &Reply::text(""), "n3")
            .await
            .unwrap();
        assert_eq!(
            store.outbox_pending(outbox::CHANNEL, "555").unwrap().len(),
            entries.len()
        );
        // Unknown DM without Discord, other platforms, bad ids: errors, nothing queued.
        for key in [
            ConvKey::new(Platform::Discord, "78"),
            ConvKey::new(Platform::Telegram, "77"),
            ConvKey::new(Platform::Discord, "x"),
        ] {
            assert!(users.send(&key, "x", "n").await.is_err(), "{key}");
        }
        assert_eq!(store.outbox_targets(outbox::CHANNEL).unwrap(), vec!["555"]);
    }
}

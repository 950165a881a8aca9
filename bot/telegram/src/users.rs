//! The Telegram user side of the relay: what staff say to a Telegram user is queued in the
//! Telegram outbox (durably, as the desk's envelope for the user's private chat, rendered into
//! `sendMessage` calls split under Telegram's limit when it is sent), where the Telegram
//! channel's send loop sends it in order with its retries and flood control. A queued message survives a restart: the channel sends what is
//! queued when it starts.

use deskbot_desk::outbox::{Address, Delivery};
use deskbot_engine::dialogue::Reply;
use deskbot_storage::{ConvKey, Platform, StorageError, Store};
use tokio::sync::mpsc;

use crate::CHANNEL;
use crate::outbound::{Destination, Route};
use deskbot_desk::handoff::relay::{RelayError, Unreachable, UserSide};

/// Queues `text` for Telegram chat `chat` in the outbox, durably.
pub fn queue_text(store: &Store, chat: i64, text: &str) -> Result<(), StorageError> {
    queue_reply(store, chat, &Reply::text(text))
}

/// Queues an engine reply (text and buttons, e.g. the close message's 👍 / 👎) for the
/// private chat `chat` in the outbox, durably. The buttons carry the engine's ids, so a press
/// comes back to the user's conversation like any other button.
pub fn queue_reply(store: &Store, chat: i64, reply: &Reply) -> Result<(), StorageError> {
    let route = Route::to(Destination {
        chat,
        reply_to: None,
        thread: None,
        owner: None,
    });
    let delivery = Delivery {
        channel: CHANNEL.to_string(),
        consumed: None,
        address: Address {
            target: chat.to_string(),
            route: serde_json::to_value(&route)?,
        },
        nonce: String::new(),
        always: false,
        marks: Vec::new(),
    };
    deskbot_desk::outbox::queue(store, &delivery, reply)
}

/// The Telegram user side: queues in the outbox, then names the chat on `deliver` (if set)
/// so the running Telegram channel sends it now rather than at its next start.
#[derive(Debug, Clone)]
pub struct TelegramUsers {
    store: Store,
    deliver: Option<mpsc::UnboundedSender<i64>>,
}

impl TelegramUsers {
    /// Queues in `store`; `deliver` receives the chat of every queued message.
    pub fn new(store: Store, deliver: Option<mpsc::UnboundedSender<i64>>) -> Self {
        Self { store, deliver }
    }
}

impl TelegramUsers {
    /// The private chat of a Telegram user (their user id).
    fn chat_of(user: &ConvKey) -> Result<i64, RelayError> {
        let unreachable = |why| RelayError::Unreachable {
            user: user.clone(),
            why,
        };
        if user.platform != Platform::Telegram {
            return Err(unreachable(Unreachable::OtherPlatform));
        }
        user.user
            .parse()
            .map_err(|_| unreachable(Unreachable::BadId))
    }

    /// Queues `reply` for `chat` off the async runtime, then asks the channel to deliver it.
    async fn queue(&self, chat: i64, reply: Reply) -> Result<(), RelayError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || queue_reply(&store, chat, &reply)).await??;
        if let Some(d) = &self.deliver {
            // The channel may be stopped; what is queued goes out at its next start.
            let _ = d.send(chat);
        }
        Ok(())
    }
}

impl UserSide for TelegramUsers {
    async fn send(&self, user: &ConvKey, text: &str, _nonce: &str) -> Result<(), RelayError> {
        let chat = Self::chat_of(user)?;
        self.queue(chat, Reply::text(text)).await
    }

    async fn send_reply(
        &self,
        user: &ConvKey,
        reply: &Reply,
        _nonce: &str,
    ) -> Result<(), RelayError> {
        let chat = Self::chat_of(user)?;
        self.queue(chat, reply.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Outgoing;
    use deskbot_storage::Platform;

    #[tokio::test]
    async fn staff_text_is_queued_for_the_private_chat_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let users = TelegramUsers::new(store.clone(), Some(tx));
        let ann = ConvKey::new(Platform::Telegram, "4242");
        users.send(&ann, "Support (Bob): one", "n1").await.unwrap();
        users
            .send(
                &ann,
                &format!("Support (Bob): {}", "x\n".repeat(3000)),
                "n2",
            )
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some(4242));
        // What the send loop will make of the queue: each envelope rendered for Telegram.
        let queued: Vec<Outgoing> = store
            .outbox_pending("telegram", "4242")
            .unwrap()
            .iter()
            .flat_map(|(_, p)| {
                let e = deskbot_desk::outbox::Envelope::decode(p).unwrap();
                serde_json::from_value::<Route>(e.route)
                    .unwrap()
                    .calls(&e.reply)
            })
            .collect();
        assert_eq!(queued.len(), 3, "the long one is split in two");
        let texts: Vec<String> = queued
            .into_iter()
            .map(|call| match call {
                Outgoing::Send {
                    chat: 4242,
                    text,
                    thread: None,
                    ..
                } => text,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts[0], "Support (Bob): one");
        assert!(texts[1].starts_with("Support (Bob): x"));
        assert!(
            users
                .send(&ConvKey::new(Platform::Discord, "1"), "x", "n")
                .await
                .is_err()
        );
        assert!(
            users
                .send(&ConvKey::new(Platform::Telegram, "abc"), "x", "n")
                .await
                .is_err()
        );
    }
}

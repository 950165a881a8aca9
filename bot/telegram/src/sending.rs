//! How the desk's generic send loop ([`deskbot_desk::outbox::send::Sender`]) sends on
//! Telegram: a queued reply rendered into Bot API calls at send time ([`Route::calls`]), the
//! channel's own queued calls read as they are, each call made by [`delivery::deliver`], and a
//! chat that blocked the bot skipped (its queue dropped) until it writes again.

use deskbot_desk::outbox::send::{Channel, Sent};
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::dialogue::Reply;
use deskbot_storage::{StorageError, Store};

use crate::delivery::{self, Api};
use crate::outbound::{Outgoing, Route};
use crate::{CHANNEL, blocked_mark, is_blocked};

/// Telegram, as the send loop sees it.
#[derive(Debug, Clone)]
pub struct TelegramSend {
    api: Api,
    shutdown: Shutdown,
}

impl TelegramSend {
    /// Sends through `api`; waits end at `shutdown`.
    pub fn new(api: Api, shutdown: Shutdown) -> Self {
        Self { api, shutdown }
    }
}

impl Channel for TelegramSend {
    type Call = Outgoing;
    const DROPPED: &'static str = "telegram_delivery";
    const GONE: &'static str = "telegram_chat_gone";

    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn render(
        &self,
        route: &serde_json::Value,
        reply: &Reply,
        _nonce: &str,
    ) -> Option<Vec<Outgoing>> {
        let route: Route = serde_json::from_value(route.clone()).ok()?;
        Some(route.calls(reply))
    }

    fn decode(&self, payload: &[u8]) -> Option<Outgoing> {
        serde_json::from_slice(payload).ok()
    }

    async fn send(&self, call: &mut Outgoing) -> Sent {
        delivery::deliver(&self.api, call, &self.shutdown).await
    }

    fn unreachable(&self, store: &Store, target: &str) -> Result<bool, StorageError> {
        match target.parse::<i64>() {
            Ok(chat) => is_blocked(store, chat),
            Err(_) => Ok(false),
        }
    }

    fn gone_marks(&self, target: &str, now_secs: i64) -> Vec<(String, Option<Vec<u8>>)> {
        match target.parse::<i64>() {
            Ok(chat) => vec![(blocked_mark(chat), Some(now_secs.to_be_bytes().to_vec()))],
            Err(_) => Vec::new(),
        }
    }
}

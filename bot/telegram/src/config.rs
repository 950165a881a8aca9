//! `[telegram]`: the Telegram channel's settings.

use deskbot_desk::secret::Secret;
use serde::Deserialize;

/// `[telegram]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Start the Telegram channel.
    pub enabled: bool,
    /// The bot token; `TELEGRAM_BOT_TOKEN` overrides it.
    pub token: Secret,
    /// A Bot API server other than Telegram's (a self-hosted one, or a fake in tests).
    pub api_url: Option<String>,
    /// Long-poll timeout in seconds (kept below teloxide's 17 s client timeout).
    pub poll_timeout_secs: u32,
    /// Receive updates by webhook at this public URL instead of long polling. Telegram
    /// requires HTTPS on port 443, 80, 88 or 8443 (terminate TLS in a reverse proxy that
    /// forwards to `listen`). Needs `listen` and `webhook_secret`.
    pub webhook_url: Option<String>,
    /// Where the webhook server listens (`0.0.0.0:8443`); only with `webhook_url`.
    pub listen: Option<String>,
    /// The secret Telegram sends with every webhook request (1 to 256 of `A-Z a-z 0-9 _ -`);
    /// requests without it are refused.
    pub webhook_secret: Secret,
    /// Outgoing messages per second over all chats, waited out by the channel's own send
    /// limiter (`telegram::limiter`) before each `sendMessage` (Telegram allows about 30).
    pub messages_per_sec_overall: u32,
    /// Outgoing messages per second to one chat, as the limiter counts them (Telegram allows
    /// about 1).
    pub messages_per_sec_chat: u32,
    /// Outgoing messages per minute to one private chat or basic group, as the limiter counts
    /// them (Telegram allows about 20).
    pub messages_per_min_chat: u32,
    /// Outgoing messages per minute to one supergroup or channel, as the limiter counts them
    /// (Telegram allows about 20; the default of 10 leaves a margin).
    pub messages_per_min_group: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token: Secret::default(),
            api_url: None,
            poll_timeout_secs: 10,
            webhook_url: None,
            listen: None,
            webhook_secret: Secret::default(),
            messages_per_sec_overall: 30,
            messages_per_sec_chat: 1,
            messages_per_min_chat: 20,
            messages_per_min_group: 10,
        }
    }
}

//! [`TelegramError`]: why the Telegram channel could not start or had to stop. Transient
//! trouble (the network, Telegram's flood control, a failing store write) is retried inside
//! the channel and never becomes one of these.

use deskbot_storage::StorageError;
use thiserror::Error;

/// When Telegram rejected the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum During {
    /// At start (`getMe`).
    Start,
    /// While long polling.
    Polling,
    /// Registering the webhook.
    SetWebhook,
}

/// Why the Telegram channel stopped with an error.
#[derive(Debug, Error)]
pub enum TelegramError {
    /// No token is configured.
    #[error("telegram.token is not set (set TELEGRAM_BOT_TOKEN)")]
    NoToken,
    /// `telegram.api_url` cannot be parsed.
    #[error("telegram.api_url is not a valid URL")]
    ApiUrl(#[source] url::ParseError),
    /// Webhook mode without its two settings.
    #[error("webhook mode needs telegram.webhook_url and telegram.listen")]
    WebhookSettings,
    /// `telegram.webhook_url` cannot be parsed.
    #[error("telegram.webhook_url is not a valid URL")]
    WebhookUrl(#[source] url::ParseError),
    /// `telegram.listen` is not a socket address.
    #[error("telegram.listen is not an address such as 0.0.0.0:8443")]
    ListenAddress(#[source] std::net::AddrParseError),
    /// The webhook server cannot listen where configured.
    #[error("cannot listen on {addr} (telegram.listen)")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Telegram rejected the token.
    #[error("{}", match .0 {
        During::Start => "Telegram rejected the bot token (telegram.token / TELEGRAM_BOT_TOKEN), or telegram.api_url is not a Bot API server",
        During::Polling => "Telegram rejected the bot token while polling",
        During::SetWebhook => "Telegram rejected the bot token (setWebhook)",
    })]
    TokenRejected(During),
    /// Telegram refused the webhook for good; `detail` is its answer (token-free).
    #[error("Telegram refused the webhook (telegram.webhook_url): {detail}")]
    WebhookRefused {
        /// Telegram's answer.
        detail: String,
    },
    /// The store failed where the channel cannot go on without it.
    #[error("{what}")]
    Storage {
        /// What the channel was doing.
        what: &'static str,
        /// The store's error.
        #[source]
        source: StorageError,
    },
    /// A task of the channel failed (panicked).
    #[error("{what}")]
    Task {
        /// Which task.
        what: &'static str,
        /// How it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The webhook server stopped with an error.
    #[error("the webhook server failed")]
    Server(#[source] std::io::Error),
}

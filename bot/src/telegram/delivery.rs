//! Making Bot API calls reliably: rate limits honoured, transient failures retried with
//! bounded backoff, permanent ones told apart, and error text cleaned of the token.

use std::sync::Arc;
use std::time::Duration;

use teloxide::adaptors::Throttle;
use teloxide::payloads::{AnswerCallbackQuerySetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId,
    ReplyParameters, ThreadId,
};
use teloxide::{ApiError, Bot, RequestError};

use super::outbound::Outgoing;
use crate::run::Shutdown;

/// The longest a `retry_after` is waited in one go (Telegram asks for seconds, rarely more
/// than a minute; a bigger value is waited in steps, checking for shutdown).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The Bot API as the channel uses it: the throttled bot for sending, the plain one for
/// everything else, and the token only to scrub it from error text.
#[derive(Clone)]
pub struct Api {
    /// Sends (`sendMessage`) go through teloxide's Throttle adaptor.
    pub bot: Throttle<Bot>,
    /// Polling and setup calls.
    pub raw: Bot,
    token: Arc<str>,
    /// Retry delays for transient failures.
    pub backoff: Backoff,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl Api {
    /// Wraps the bots; `token` is only used to redact error text.
    pub fn new(bot: Throttle<Bot>, raw: Bot, token: &str, backoff: Backoff) -> Self {
        Self {
            bot,
            raw,
            token: Arc::from(token),
            backoff,
        }
    }

    /// An error's text, safe to log: teloxide already hides the token in URLs it can parse;
    /// this also removes it anywhere else.
    pub fn describe(&self, e: &RequestError) -> String {
        redact(&e.to_string(), &self.token)
    }
}

/// `text` with every occurrence of `secret` replaced.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.trim().is_empty() {
        return text.to_string();
    }
    text.replace(secret, "[token]")
}

/// Exponential backoff: `base`, doubled per attempt, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// What an error means for the call that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Flood control: wait this long, then repeat.
    RetryAfter(Duration),
    /// The group became a supergroup with this id: repeat there.
    Migrate(i64),
    /// Network trouble or a server error: repeat after a backoff.
    Transient,
    /// The chat cannot be written to any more (blocked, kicked, deleted).
    ChatGone,
    /// The token is wrong (or `api_url` points elsewhere).
    BadToken,
    /// The request itself is refused; repeating it would not help.
    Permanent,
}

/// Sorts a teloxide error into a [`Failure`].
pub fn classify_error(e: &RequestError) -> Failure {
    match e {
        RequestError::RetryAfter(s) => Failure::RetryAfter(s.duration()),
        RequestError::MigrateToChatId(id) => Failure::Migrate(id.0),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            Failure::Transient
        }
        RequestError::Api(api) => match api {
            ApiError::BotBlocked
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::ChatNotFound
            | ApiError::GroupDeactivated
            | ApiError::NotEnoughRightsToPostMessages => Failure::ChatGone,
            ApiError::InvalidToken => Failure::BadToken,
            ApiError::TerminatedByOtherGetUpdates => Failure::Transient,
            ApiError::Unknown(text) if is_server_trouble(text) => Failure::Transient,
            _ => Failure::Permanent,
        },
    }
}

fn is_server_trouble(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "too many requests",
        "restart",
        "timeout",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Telegram accepted it.
    Done,
    /// Telegram refused it for good (a stale callback query, an unmodified keyboard…):
    /// nothing more to do.
    Dropped,
    /// The chat cannot be written to any more.
    ChatGone,
    /// Shutdown came while waiting to retry; the call stays queued.
    Stopped,
}

/// Sleeps `d`, or less if shutdown is requested; false when shutdown came.
pub async fn pause(d: Duration, shutdown: &Shutdown) -> bool {
    let mut s = shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => !shutdown.is_requested(),
        () = s.wait() => false,
    }
}

/// Makes the call `item` describes, retrying rate limits and transient failures until it
/// succeeds, fails for good, or shutdown comes (then it stays queued for the next start).
pub async fn deliver(api: &Api, item: &mut Outgoing, shutdown: &Shutdown) -> Delivered {
    let mut attempt = 0u32;
    loop {
        let Err(e) = call(api, item).await else {
            return Delivered::Done;
        };
        let failure = classify_error(&e);
        let error = api.describe(&e);
        match failure {
            Failure::RetryAfter(d) => {
                tracing::warn!(%error, wait_ms = d.as_millis() as u64, "Telegram flood control");
                if !pause(d.min(MAX_RETRY_AFTER), shutdown).await {
                    return Delivered::Stopped;
                }
            }
            Failure::Migrate(new) => {
                tracing::info!(new_chat = new, "group migrated to a supergroup");
                match item {
                    Outgoing::Send { chat, .. } | Outgoing::ClearKeyboard { chat, .. }
                        if *chat != new =>
                    {
                        *chat = new;
                    }
                    _ => return Delivered::Dropped,
                }
            }
            Failure::Transient | Failure::BadToken => {
                attempt = attempt.saturating_add(1);
                let d = api.backoff.delay(attempt);
                tracing::warn!(%error, attempt, retry_in_ms = d.as_millis() as u64, "Telegram call failed; retrying");
                if !pause(d, shutdown).await {
                    return Delivered::Stopped;
                }
            }
            Failure::ChatGone => {
                if matches!(item, Outgoing::Answer { .. }) {
                    return Delivered::Dropped;
                }
                tracing::info!(%error, "chat no longer reachable");
                return Delivered::ChatGone;
            }
            Failure::Permanent => {
                // A press on a keyboard already removed, a callback answered after a restart:
                // expected now and then, not worth a warning.
                let expected = matches!(
                    e,
                    RequestError::Api(
                        ApiError::MessageNotModified
                            | ApiError::InvalidQueryId
                            | ApiError::MessageToEditNotFound
                            | ApiError::MessageCantBeEdited
                    )
                );
                if expected {
                    tracing::debug!(%error, op = op_name(item), "Telegram call no longer needed");
                } else {
                    tracing::warn!(%error, op = op_name(item), "Telegram refused a call; dropped");
                }
                return Delivered::Dropped;
            }
        }
    }
}

/// Makes a Bot API call through `f`, retrying flood control (waiting its `retry_after`) and
/// transient failures (network, timeouts, 5xx; with the backoff) up to `attempts` times in
/// all; any other failure ends it at once. The error is returned with its text already safe
/// to log ([`Api::describe`]: no token).
pub async fn with_retries<T, F, Fut>(
    api: &Api,
    op: &str,
    attempts: u32,
    shutdown: &Shutdown,
    mut f: F,
) -> Result<T, (Failure, String)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 0u32;
    loop {
        let e = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        attempt = attempt.saturating_add(1);
        let failure = classify_error(&e);
        let error = api.describe(&e);
        let wait = match failure {
            Failure::RetryAfter(d) => d.min(MAX_RETRY_AFTER),
            Failure::Transient => api.backoff.delay(attempt),
            _ => return Err((failure, error)),
        };
        if attempt >= attempts.max(1) {
            return Err((failure, error));
        }
        tracing::warn!(%error, op, attempt, retry_in_ms = wait.as_millis() as u64, "Telegram call failed; retrying");
        if !pause(wait, shutdown).await {
            return Err((failure, format!("{error} (stopped while waiting to retry)")));
        }
    }
}

fn op_name(item: &Outgoing) -> &'static str {
    match item {
        Outgoing::Send { .. } => "sendMessage",
        Outgoing::Answer { .. } => "answerCallbackQuery",
        Outgoing::ClearKeyboard { .. } => "editMessageReplyMarkup",
    }
}

async fn call(api: &Api, item: &Outgoing) -> Result<(), RequestError> {
    match item {
        Outgoing::Send {
            chat,
            text,
            buttons,
            reply_to,
            thread,
        } => {
            let mut req = api.bot.send_message(ChatId(*chat), text.clone());
            if !buttons.is_empty() {
                let rows = buttons
                    .iter()
                    .map(|(data, label)| vec![InlineKeyboardButton::callback(label, data)]);
                req = req.reply_markup(InlineKeyboardMarkup::new(rows));
            }
            if let Some(r) = reply_to {
                req = req.reply_parameters(
                    ReplyParameters::new(MessageId(*r)).allow_sending_without_reply(),
                );
            }
            if let Some(t) = thread {
                req = req.message_thread_id(ThreadId(MessageId(*t)));
            }
            req.await.map(|_| ())
        }
        Outgoing::Answer { query, text } => {
            let mut req = api
                .raw
                .answer_callback_query(CallbackQueryId(query.clone()));
            if let Some(t) = text {
                req = req.text(t.clone());
            }
            req.await.map(|_| ())
        }
        Outgoing::ClearKeyboard { chat, message } => api
            .raw
            .edit_message_reply_markup(ChatId(*chat), MessageId(*message))
            .await
            .map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_millis(500));
        assert_eq!(b.delay(2), Duration::from_secs(1));
        assert_eq!(b.delay(40), Duration::from_secs(30));
    }

    #[test]
    fn errors_are_sorted() {
        assert_eq!(
            classify_error(&RequestError::Api(ApiError::BotBlocked)),
            Failure::ChatGone
        );
        assert_eq!(
            classify_error(&RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            Failure::Transient
        );
        assert_eq!(
            classify_error(&RequestError::Api(ApiError::MessageNotModified)),
            Failure::Permanent
        );
        assert_eq!(
            classify_error(&RequestError::Api(ApiError::InvalidToken)),
            Failure::BadToken
        );
    }

    #[test]
    fn tokens_are_redacted() {
        let t = "123456:ABCdef";
        assert_eq!(
            redact(
                "error sending request for url (http://x/bot123456:ABCdef/GetMe)",
                t
            ),
            "error sending request for url (http://x/bot[token]/GetMe)"
        );
    }
}

//! Making Bot API calls reliably: rate limits honoured ([`Limiter`]), transient failures
//! retried with bounded backoff, permanent ones told apart, and error text cleaned of the
//! token.
//!
//! # Poison policy
//!
//! - A call Telegram answered `ok: true` whose result teloxide cannot read (the Bot API added
//!   or changed a field) **is done**: Telegram did it. It is logged once per method and field
//!   ([`note_unreadable`]), counted in `/metrics` (`deskbot_platform_unparsed_answers`) and
//!   never made again. Callers that need something from the answer read it from the raw
//!   JSON ([`Failure::Accepted`] carries it).
//! - Flood control (`retry_after`) is waited out, and network trouble (no answer at all) is
//!   retried with backoff for as long as it lasts: both hold up every chat alike, and the
//!   reply is not at fault.
//! - Any other failure of a reply (a server error, an answer that is not the Bot API's, a
//!   refusal) is retried up to [`Api::attempts`] times, then the reply is **parked** as a
//!   dead letter ([`Sent::Park`]; see `deskbot_storage::dead_letter`), and the chat's
//!   later replies go on. A refusal that only means "no longer needed" (an unchanged
//!   keyboard, an expired button press) is dropped quietly.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use teloxide::payloads::{AnswerCallbackQuerySetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageId,
    ReplyParameters, ThreadId, True,
};
use teloxide::{ApiError, Bot, RequestError};

use super::limiter::{Limiter, Limits};
use super::outbound::Outgoing;
use deskbot_desk::backoff::Backoff;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::outbox::send::Sent;
use deskbot_desk::shutdown::Shutdown;
use deskbot_desk::shutdown::pause;
use deskbot_desk::unreadable::note_unreadable;

/// The longest a `retry_after` is waited in one go (Telegram asks for seconds, rarely more
/// than a minute; a bigger value is waited in steps, checking for shutdown).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Attempts at a reply that keeps failing (other than flood control and network trouble)
/// before it is parked as a dead letter.
pub const DELIVERY_ATTEMPTS: u32 = 6;

/// The longest field description logged for an unreadable answer (serde's text can quote a
/// value from the answer).
const FIELD_MAX: usize = 160;

/// The Bot API as the channel uses it: the bot, the send limits every `sendMessage` waits
/// for, and the token only to scrub it from error text.
#[derive(Clone)]
pub struct Api {
    /// Every call.
    pub raw: Bot,
    /// Send limits, shared by every clone ([`Limiter::acquire`] before each `sendMessage`).
    pub limiter: Arc<Limiter>,
    token: Arc<str>,
    /// Retry delays for transient failures.
    pub backoff: Backoff,
    /// Attempts at a failing reply before it is parked ([`DELIVERY_ATTEMPTS`]).
    pub attempts: u32,
    /// Where unreadable answers are counted (the desk's, so `/metrics` shows them).
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("backoff", &self.backoff)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Wraps the bot with send `limits`, counting into `metrics`; `token` is only used to
    /// redact error text.
    pub fn new(
        raw: Bot,
        limits: Limits,
        token: &str,
        backoff: Backoff,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            raw,
            limiter: Arc::new(Limiter::new(limits)),
            token: Arc::from(token),
            backoff,
            attempts: DELIVERY_ATTEMPTS,
            metrics,
        }
    }

    /// An error's text, safe to log: teloxide already hides the token in URLs it can parse;
    /// this also removes it anywhere else.
    pub fn describe(&self, e: &RequestError) -> String {
        redact(&e.to_string(), &self.token)
    }
}

/// When Telegram answered `ok: true` but teloxide could not read the answer: its `result`
/// (`null` when absent).
pub fn accepted_result(e: &RequestError) -> Option<Value> {
    let RequestError::InvalidJson { raw, .. } = e else {
        return None;
    };
    let v: Value = serde_json::from_str(raw).ok()?;
    (v.get("ok") == Some(&Value::Bool(true)))
        .then(|| v.get("result").cloned().unwrap_or(Value::Null))
}

/// What in `result` does not fit `T`, as serde says it (shortened).
pub fn unreadable_field<T: DeserializeOwned>(result: &Value) -> String {
    let text = match serde_json::from_value::<T>(result.clone()) {
        Err(e) => e.to_string(),
        Ok(_) => "the answer's envelope".to_string(),
    };
    let mut short: String = text.chars().take(FIELD_MAX).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// `text` with every occurrence of `secret` replaced.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.trim().is_empty() {
        return text.to_string();
    }
    text.replace(secret, "[token]")
}

/// What an error means for the call that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Telegram answered `ok: true` but teloxide could not read the answer: the call is
    /// done. Holds the answer's `result` as JSON.
    Accepted(Value),
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
    if let Some(result) = accepted_result(e) {
        return Failure::Accepted(result);
    }
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

/// Whether a refusal only means the call is no longer needed.
fn no_longer_needed(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Api(
            ApiError::MessageNotModified
                | ApiError::InvalidQueryId
                | ApiError::MessageToEditNotFound
                | ApiError::MessageCantBeEdited
        )
    )
}

/// Whether the failure got no answer from Telegram at all (the network, not the call).
fn unanswered(e: &RequestError) -> bool {
    matches!(e, RequestError::Network(_) | RequestError::Io(_))
}

/// Makes the call `item` describes (a `sendMessage` waits for the send limits first):
/// flood control and network trouble are retried until they pass, other failures up to
/// [`Api::attempts`] times before the item is parked; see the module documentation. On
/// shutdown while waiting it stays queued for the next start.
pub async fn deliver(api: &Api, item: &mut Outgoing, shutdown: &Shutdown) -> Sent {
    let mut attempt = 0u32;
    loop {
        if let Outgoing::Send { chat, .. } = item
            && !api.limiter.acquire(*chat, shutdown).await
        {
            return Sent::Stopped;
        }
        let Err(e) = call(api, item).await else {
            return Sent::Done;
        };
        let failure = classify_error(&e);
        let error = api.describe(&e);
        match failure {
            Failure::Accepted(result) => {
                let field = match item {
                    Outgoing::Answer { .. } => unreadable_field::<True>(&result),
                    _ => unreadable_field::<Message>(&result),
                };
                note_unreadable(&api.metrics, crate::CHANNEL, op_name(item), &field);
                return Sent::Done;
            }
            Failure::RetryAfter(d) => {
                tracing::warn!(%error, wait_ms = d.as_millis() as u64, "Telegram flood control");
                if !pause(d.min(MAX_RETRY_AFTER), shutdown).await {
                    return Sent::Stopped;
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
                    _ => return Sent::Dropped,
                }
            }
            Failure::Transient | Failure::BadToken => {
                // No answer at all (the network) or a token Telegram stopped accepting hold
                // up every chat alike: wait for them without limit. A server error or an
                // answer that is not the Bot API's counts towards the limit.
                let counted = !(unanswered(&e) || failure == Failure::BadToken);
                attempt = attempt.saturating_add(1);
                if counted && attempt >= api.attempts.max(1) {
                    tracing::error!(%error, attempt, op = op_name(item), "Telegram call still failing; parked as a dead letter");
                    return Sent::Park(format!(
                        "{}: {error} (still failing after {attempt} attempts)",
                        op_name(item)
                    ));
                }
                let d = api.backoff.delay(attempt);
                tracing::warn!(%error, attempt, retry_in_ms = d.as_millis() as u64, "Telegram call failed; retrying");
                if !pause(d, shutdown).await {
                    return Sent::Stopped;
                }
            }
            Failure::ChatGone => {
                if matches!(item, Outgoing::Answer { .. }) {
                    return Sent::Dropped;
                }
                tracing::info!(%error, "chat no longer reachable");
                return Sent::TargetGone;
            }
            Failure::Permanent => {
                // A press on a keyboard already removed, a callback answered after a restart:
                // expected now and then, not worth a warning.
                if no_longer_needed(&e) {
                    tracing::debug!(%error, op = op_name(item), "Telegram call no longer needed");
                    return Sent::Dropped;
                }
                tracing::warn!(%error, op = op_name(item), "Telegram refused a call; parked as a dead letter");
                return Sent::Park(format!("{}: {error}", op_name(item)));
            }
        }
    }
}

/// Makes a Bot API call through `f`, retrying flood control (waiting its `retry_after`) and
/// transient failures (network, timeouts, 5xx; with the backoff) up to `attempts` times in
/// all; any other failure ends it at once. The error is returned with its text already safe
/// to log ([`Api::describe`]: no token). An `ok: true` answer teloxide cannot read ends it
/// at once with [`Failure::Accepted`] (the call was done: never repeated), counted and
/// logged ([`note_unreadable`]); the caller reads what it needs from the JSON it holds.
pub async fn with_retries<T, F, Fut>(
    api: &Api,
    op: &'static str,
    attempts: u32,
    shutdown: &Shutdown,
    mut f: F,
) -> Result<T, (Failure, String)>
where
    T: DeserializeOwned,
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
            Failure::Accepted(result) => {
                note_unreadable(
                    &api.metrics,
                    crate::CHANNEL,
                    op,
                    &unreadable_field::<T>(&result),
                );
                return Err((Failure::Accepted(result), error));
            }
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

/// The Bot API method an outbox item calls.
pub fn op_name(item: &Outgoing) -> &'static str {
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
            let mut req = api.raw.send_message(ChatId(*chat), text.clone());
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
    fn an_ok_answer_teloxide_cannot_read_is_accepted_with_its_field() {
        let raw = r#"{"ok":true,"result":{"message_id":5,"date":1700000000}}"#;
        let source = serde_json::from_str::<Message>("{}").unwrap_err();
        let e = RequestError::InvalidJson {
            source: Arc::new(source),
            raw: raw.into(),
        };
        let Failure::Accepted(result) = classify_error(&e) else {
            panic!("not accepted: {:?}", classify_error(&e));
        };
        assert_eq!(result["message_id"], 5);
        assert!(unreadable_field::<Message>(&result).contains("chat"));
        // A body that is not the Bot API's (a proxy's page) is not a success.
        let source = serde_json::from_str::<Message>("<html>").unwrap_err();
        let garbled = RequestError::InvalidJson {
            source: Arc::new(source),
            raw: "<html>bad gateway</html>".into(),
        };
        assert_eq!(classify_error(&garbled), Failure::Transient);
        let source = serde_json::from_str::<Message>("{}").unwrap_err();
        let not_ok = RequestError::InvalidJson {
            source: Arc::new(source),
            raw: r#"{"ok":false,"result":1}"#.into(),
        };
        assert_eq!(classify_error(&not_ok), Failure::Transient);
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

//! The Telegram staff side: tickets in a Telegram staff supergroup.
//!
//! - **Forum group** (`getChat` says `is_forum`; asked once and cached): a forum topic per
//!   ticket ("Ticket #N · name"), its first message with Claim / Close buttons; every later
//!   message is sent with the topic's `message_thread_id`. Staff answer by writing in the
//!   topic.
//! - **Plain group**: a ticket message (with the buttons) in the group; every later message of
//!   the ticket starts with `#N · ` so staff can tell tickets apart. Staff answer by replying to
//!   the ticket message or to any later message of that ticket: each posted message is
//!   recorded as a route to its ticket (in the store's channel marks, when the staff side has
//!   the store: [`TelegramStaff::with_store`]); a reply to a bot message that starts with the
//!   ticket mark routes too, so replies work even for messages posted without a store.
//!
//! Text is sent plain (no parse mode, nothing to escape), split under Telegram's 4096, with
//! flood control (`retry_after`), 5xx and timeouts retried with backoff a bounded number of
//! times (the relay retries the rest at its next sweep). Error text never holds the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_storage::{ChannelWrite, RouteKind, StaffLocation, StorageError, Store, Ticket};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    ChatFullInfoKind, ChatFullInfoPublicKind, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    MessageId, ThreadId,
};
use tokio::sync::{OnceCell, watch};

use crate::config::TelegramConfig;
use crate::delivery::{Api, Failure, with_retries};
use crate::error::TelegramError;
use crate::outbound::{MAX_TEXT, split_text};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::handoff::buttons::TicketButton;
use deskbot_desk::handoff::lifecycle::{ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{BadLocation, RelayError, StaffSide};
use deskbot_desk::marks::Mark;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::shutdown::Shutdown;

/// The platform name in [`StaffLocation`]s.
pub const PLATFORM: &str = deskbot_storage::Platform::Telegram.as_str();

/// The side named in this staff side's errors.
const SIDE: &str = "Telegram staff group";

/// The store channel whose marks hold the routes of posted messages (`route:<chat>:<id>` →
/// ticket number, big-endian).
pub const ROUTES_CHANNEL: &str = "telegram_staff";

/// Attempts per Bot API call before the relay step fails (and is retried by the next sweep).
const ATTEMPTS: u32 = 6;

/// Telegram's limit on a forum topic's name, in characters.
const TOPIC_NAME_MAX: usize = 128;

/// The forum topic that is always there and must be addressed without `message_thread_id`.
const GENERAL_TOPIC: i32 = 1;

/// The ticket a bot message in a plain staff group belongs to, from the mark its text starts
/// with: `#N · …` (relayed lines) or `Ticket #N …` (the ticket message, staff notices).
pub fn ticket_in_text(text: &str) -> Option<u64> {
    let (rest, after_mark) = match text.strip_prefix("Ticket #") {
        Some(rest) => (rest, " "),
        None => (text.strip_prefix('#')?, " · "),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with(after_mark) {
        return None;
    }
    digits.parse().ok()
}

/// `text` as posted in a plain group: starting with the ticket mark `#N · ` (unless it
/// already names the ticket that way, like "Ticket #N closed by …").
fn marked(number: u64, text: &str) -> String {
    let named = text
        .strip_prefix(&format!("Ticket #{number}"))
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()));
    if named {
        text.to_string()
    } else {
        format!("#{number} · {text}")
    }
}

fn route_mark(chat: i64, message: i32) -> String {
    Mark::Route {
        chat: &chat.to_string(),
        message: &message.to_string(),
    }
    .name()
}

/// Records that `messages` in staff `chat` belong to ticket `number`.
pub fn record_routes(
    store: &Store,
    chat: i64,
    messages: &[i32],
    number: u64,
) -> Result<(), StorageError> {
    store.channel_commit(&ChannelWrite {
        channel: ROUTES_CHANNEL.to_string(),
        target: chat.to_string(),
        marks: messages
            .iter()
            .map(|m| (route_mark(chat, *m), Some(number.to_be_bytes().to_vec())))
            .collect(),
        ..ChannelWrite::default()
    })
}

/// The ticket whose message `message` in staff `chat` is: its ticket message (the stored staff
/// location) or a message posted for it later (a recorded route).
pub fn ticket_for_message(
    store: &Store,
    chat: i64,
    message: i32,
) -> Result<Option<u64>, StorageError> {
    let (c, m) = (chat.to_string(), message.to_string());
    if let Some(n) = store.ticket_at_staff(PLATFORM, &c, RouteKind::Message, &m)? {
        return Ok(Some(n));
    }
    Ok(store
        .channel_mark(ROUTES_CHANNEL, &route_mark(chat, message))?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes))
}

/// The ticket whose forum topic is `thread` in staff `chat`.
pub fn ticket_for_topic(
    store: &Store,
    chat: i64,
    thread: i32,
) -> Result<Option<u64>, StorageError> {
    store.ticket_at_staff(
        PLATFORM,
        &chat.to_string(),
        RouteKind::Thread,
        &thread.to_string(),
    )
}

/// The ticket number in a relay nonce (`t<N>.<seq>` for user lines, `s<N>.<id>…` for staff
/// notices), used when no store is at hand to look the ticket up.
fn number_from_nonce(nonce: &str) -> Option<u64> {
    let rest = nonce.strip_prefix(['t', 's'])?;
    let (n, _) = rest.split_once('.')?;
    n.parse().ok()
}

/// A forum topic's name for a ticket: "Ticket #N · name", cut to Telegram's limit.
pub fn topic_name(ticket: &Ticket) -> String {
    let who = ticket
        .display_name
        .as_deref()
        .map(|n| deskbot_engine::redact::mask_secrets(n).0)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("user {}", ticket.conversation.user));
    let name = format!("Ticket #{} · {}", ticket.number, who.trim());
    name.chars().take(TOPIC_NAME_MAX).collect()
}

#[derive(Debug)]
struct Inner {
    api: Api,
    chat: i64,
    /// Whether the group is a forum, once `getChat` said.
    forum: OnceCell<bool>,
    /// Topics created for tickets whose first message is not sent yet (a retried open reuses
    /// the topic instead of creating another).
    topics: Mutex<HashMap<u64, i32>>,
    /// Never requested: retries stop only when they run out (the sender is kept here).
    shutdown: Shutdown,
    _stop: watch::Sender<bool>,
}

/// The Telegram staff side of the relay.
#[derive(Clone, Debug)]
pub struct TelegramStaff {
    inner: Arc<Inner>,
    store: Option<Store>,
}

impl TelegramStaff {
    /// A staff side for the staff group `staff_chat` (`[handoff] telegram_staff_chat_id`)
    /// through its own bot (honouring `telegram.api_url` and its rate limits); `None` when no
    /// Telegram staff group is configured. Its calls are counted in `metrics` (the desk's).
    /// Needs a running tokio runtime (for the rate limiter's worker).
    pub fn new(
        telegram: &TelegramConfig,
        staff_chat: Option<i64>,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Self>, TelegramError> {
        Self::with_backoff(telegram, staff_chat, Backoff::default(), metrics)
    }

    /// [`TelegramStaff::new`] with explicit retry delays (tests use short ones).
    pub fn with_backoff(
        telegram: &TelegramConfig,
        staff_chat: Option<i64>,
        backoff: Backoff,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Self>, TelegramError> {
        let Some(chat) = staff_chat else {
            return Ok(None);
        };
        let api = crate::build_api(telegram, backoff, metrics)?;
        let (stop, shutdown) = Shutdown::new();
        Ok(Some(Self {
            inner: Arc::new(Inner {
                api,
                chat,
                forum: OnceCell::new(),
                topics: Mutex::new(HashMap::new()),
                shutdown,
                _stop: stop,
            }),
            store: None,
        }))
    }

    /// Records a route for every message posted in a plain group in `store`, so staff replies
    /// to any of them reach the ticket after a restart too.
    #[must_use]
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The staff group's chat id.
    pub fn chat(&self) -> i64 {
        self.inner.chat
    }

    /// A Bot API call `call` that failed with `detail` (the channel's token-free description).
    fn call_failed(call: &'static str, detail: String) -> RelayError {
        RelayError::Call {
            side: SIDE,
            call,
            detail,
        }
    }

    /// Whether the staff group is a forum (asked once; a failed ask is asked again).
    pub async fn is_forum(&self) -> Result<bool, RelayError> {
        let inner = &self.inner;
        inner
            .forum
            .get_or_try_init(|| async {
                let info = with_retries(&inner.api, "getChat", ATTEMPTS, &inner.shutdown, || {
                    inner.api.raw.get_chat(ChatId(inner.chat)).send()
                })
                .await;
                let info = match info {
                    Ok(info) => info,
                    // Answered, but teloxide cannot read it (a Bot API change): the flag is
                    // read from the JSON.
                    Err((Failure::Accepted(result), _)) => {
                        return Ok(result["is_forum"].as_bool().unwrap_or(false));
                    }
                    Err((_, e)) => return Err(Self::call_failed("getChat", e)),
                };
                Ok(match &info.kind {
                    ChatFullInfoKind::Public(p) => match &p.kind {
                        ChatFullInfoPublicKind::Supergroup(s) => s.is_forum,
                        _ => false,
                    },
                    ChatFullInfoKind::Private(_) => false,
                })
            })
            .await
            .copied()
    }

    /// Sends `text` (split) in the group, in `thread` if any, the buttons of ticket `buttons`
    /// on the last part; returns the ids of the messages sent, in order.
    async fn send(
        &self,
        text: &str,
        thread: Option<i32>,
        buttons: Option<u64>,
    ) -> Result<Vec<i32>, RelayError> {
        let inner = &self.inner;
        let mut parts = split_text(text, MAX_TEXT);
        if parts.is_empty() {
            parts.push("…".to_string());
        }
        let last = parts.len() - 1;
        let mut ids = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let keyboard = buttons.filter(|_| i == last).map(|n| {
                InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("Claim", TicketButton::Claim.data(n)),
                    InlineKeyboardButton::callback("Close", TicketButton::Close.data(n)),
                ]])
            });
            if !inner.api.limiter.acquire(inner.chat, &inner.shutdown).await {
                return Err(Self::call_failed(
                    "sendMessage",
                    "stopped while waiting for Telegram's send limits".to_string(),
                ));
            }
            let sent = with_retries(&inner.api, "sendMessage", ATTEMPTS, &inner.shutdown, || {
                let mut req = inner.api.raw.send_message(ChatId(inner.chat), part.clone());
                if let Some(t) = thread.filter(|t| *t != GENERAL_TOPIC) {
                    req = req.message_thread_id(ThreadId(MessageId(t)));
                }
                if let Some(k) = &keyboard {
                    req = req.reply_markup(k.clone());
                }
                req.send()
            })
            .await;
            match sent {
                Ok(sent) => ids.push(sent.id.0),
                // Sent, but the answer cannot be read: never sent again; its id is read from
                // the JSON when it is there.
                Err((Failure::Accepted(result), _)) => {
                    if let Some(id) = result["message_id"]
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                    {
                        ids.push(id);
                    }
                }
                Err((_, e)) => return Err(Self::call_failed("sendMessage", e)),
            }
        }
        Ok(ids)
    }

    async fn record(&self, messages: Vec<i32>, number: u64) -> Result<(), RelayError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let chat = self.inner.chat;
        Ok(
            tokio::task::spawn_blocking(move || record_routes(&store, chat, &messages, number))
                .await??,
        )
    }

    /// The ticket of a plain-group location: from the store (its ticket message's route), else
    /// from the relay's nonce.
    async fn number_at(&self, at: &StaffLocation, nonce: &str) -> Option<u64> {
        if let (Some(store), Some(m)) = (
            self.store.clone(),
            at.message.as_deref().and_then(|m| m.parse::<i32>().ok()),
        ) {
            let chat = self.inner.chat;
            if let Ok(Ok(Some(n))) =
                tokio::task::spawn_blocking(move || ticket_for_message(&store, chat, m)).await
            {
                return Some(n);
            }
        }
        number_from_nonce(nonce)
    }

    /// A forum topic for `ticket` (the one created by an earlier attempt, if any). `Ok(None)`
    /// when Telegram refuses for good (the bot may not manage topics): the ticket then opens
    /// as a ticket message, as in a plain group.
    async fn create_topic(&self, ticket: &Ticket) -> Result<Option<i32>, RelayError> {
        let known = self
            .inner
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ticket.number)
            .copied();
        if let Some(t) = known {
            return Ok(Some(t));
        }
        let inner = &self.inner;
        let name = topic_name(ticket);
        let topic = with_retries(
            &inner.api,
            "createForumTopic",
            ATTEMPTS,
            &inner.shutdown,
            || {
                inner
                    .api
                    .raw
                    .create_forum_topic(ChatId(inner.chat), name.clone())
                    .send()
            },
        )
        .await;
        let topic = match topic {
            Ok(t) => t,
            // Created, but the answer cannot be read: its id from the JSON, else the ticket
            // opens as a message (a second topic would be a duplicate).
            Err((Failure::Accepted(result), _)) => {
                let thread = result["message_thread_id"]
                    .as_i64()
                    .and_then(|i| i32::try_from(i).ok());
                if let Some(thread) = thread {
                    inner
                        .topics
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(ticket.number, thread);
                }
                return Ok(thread);
            }
            Err((Failure::Permanent, e)) => {
                tracing::warn!(
                    ticket = ticket.number,
                    error = %e,
                    "cannot create a forum topic (does the bot have the right to manage topics?); opening the ticket as a message instead"
                );
                return Ok(None);
            }
            Err((_, e)) => return Err(Self::call_failed("createForumTopic", e)),
        };
        let thread = topic.thread_id.0.0;
        inner
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ticket.number, thread);
        Ok(Some(thread))
    }
}

/// Whether a Bot API error text is Telegram refusing a message in a closed forum topic.
fn topic_closed(detail: &str) -> bool {
    detail.to_ascii_uppercase().contains("TOPIC_CLOSED")
}

impl TelegramStaff {
    /// Closes (`closeForumTopic`) or reopens (`reopenForumTopic`) forum topic `thread`:
    /// done when Telegram did it or answers that it already was (`TOPIC_NOT_MODIFIED`), never
    /// possible when Telegram refuses for good (the topic was deleted, no right to manage
    /// topics), an error when the calls' retries ran out (tried again later).
    async fn change_topic(
        &self,
        thread: i32,
        state: ThreadState,
    ) -> Result<ThreadChange, RelayError> {
        let inner = &self.inner;
        let (chat, topic) = (ChatId(inner.chat), ThreadId(MessageId(thread)));
        let (call, result) = match state {
            ThreadState::Closed => (
                "closeForumTopic",
                with_retries(
                    &inner.api,
                    "closeForumTopic",
                    ATTEMPTS,
                    &inner.shutdown,
                    || inner.api.raw.close_forum_topic(chat, topic).send(),
                )
                .await,
            ),
            ThreadState::Open => (
                "reopenForumTopic",
                with_retries(
                    &inner.api,
                    "reopenForumTopic",
                    ATTEMPTS,
                    &inner.shutdown,
                    || inner.api.raw.reopen_forum_topic(chat, topic).send(),
                )
                .await,
            ),
        };
        match result {
            Ok(_) | Err((Failure::Accepted(_), _)) => Ok(ThreadChange::Done),
            Err((_, e)) if e.to_ascii_uppercase().contains("TOPIC_NOT_MODIFIED") => {
                Ok(ThreadChange::Done)
            }
            Err((Failure::Permanent | Failure::ChatGone, e)) => Ok(ThreadChange::Impossible(e)),
            Err((_, e)) => Err(Self::call_failed(call, e)),
        }
    }

    /// A ticket's topic was deleted by someone in the group: opens a new topic for the ticket
    /// (its first message again, with the buttons), moves the ticket there in the store, and
    /// posts `text` in it. Needs the store ([`TelegramStaff::with_store`]).
    async fn reopen_topic(
        &self,
        at: &StaffLocation,
        old: i32,
        text: &str,
    ) -> Result<(), RelayError> {
        let gone = || RelayError::bad_location(SIDE, at, BadLocation::ThreadGone);
        let Some(store) = self.store.clone() else {
            return Err(gone());
        };
        let chat = self.inner.chat;
        let ticket = tokio::task::spawn_blocking(move || {
            Ok::<_, StorageError>(match ticket_for_topic(&store, chat, old)? {
                Some(n) => store.ticket(n)?,
                None => None,
            })
        })
        .await??;
        let Some(ticket) = ticket else {
            return Err(gone());
        };
        tracing::warn!(
            ticket = ticket.number,
            "the ticket's forum topic was deleted; opening a new one"
        );
        let first = format!(
            "{}\n(The previous topic of this ticket was deleted; it continues here.)",
            deskbot_desk::handoff::staff_ticket_text(&ticket)
        );
        let location = self.open(&ticket, &first).await?;
        let (store, number, stored) = (self.store.clone(), ticket.number, location.clone());
        if let Some(store) = store {
            tokio::task::spawn_blocking(move || store.set_staff_location(number, &stored))
                .await??;
        }
        match location.thread.as_deref().and_then(|t| t.parse().ok()) {
            Some(thread) => self.send(text, Some(thread), None).await.map(|_| ()),
            None => {
                // Opened as a ticket message (topics refused): marked like in a plain group.
                let ids = self.send(&marked(number, text), None, None).await?;
                self.record(ids, number).await
            }
        }
    }
}

impl StaffSide for TelegramStaff {
    async fn open(&self, ticket: &Ticket, first: &str) -> Result<StaffLocation, RelayError> {
        let number = ticket.number;
        let chat = self.inner.chat;
        let topic = if self.is_forum().await? {
            self.create_topic(ticket).await?
        } else {
            None
        };
        let (thread, ids) = if let Some(thread) = topic {
            let ids = self.send(first, Some(thread), Some(number)).await?;
            self.inner
                .topics
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&number);
            (Some(thread), ids)
        } else {
            (None, self.send(first, None, Some(number)).await?)
        };
        self.record(ids.clone(), number).await?;
        Ok(StaffLocation {
            platform: PLATFORM.to_string(),
            chat: chat.to_string(),
            thread: thread.map(|t| t.to_string()),
            message: ids.first().map(ToString::to_string),
        })
    }

    async fn post(&self, at: &StaffLocation, text: &str, nonce: &str) -> Result<(), RelayError> {
        if at.platform != PLATFORM || at.chat != self.inner.chat.to_string() {
            return Err(RelayError::bad_location(SIDE, at, BadLocation::OtherPlace));
        }
        let thread = at.thread.as_deref().and_then(|t| t.parse::<i32>().ok());
        if let Some(t) = thread {
            return match self.send(text, thread, None).await {
                Ok(_) => Ok(()),
                Err(RelayError::Call { detail, .. })
                    if detail
                        .to_ascii_lowercase()
                        .contains("message thread not found") =>
                {
                    self.reopen_topic(at, t, text).await
                }
                // Closed by hand in the group (or a notice after the ticket's close): opened
                // again and posted once more; the relay closes a closed ticket's topic again.
                Err(RelayError::Call { detail, .. }) if topic_closed(&detail) => {
                    tracing::warn!(
                        thread = t,
                        "the ticket's forum topic is closed; reopening it to post"
                    );
                    match self.change_topic(t, ThreadState::Open).await? {
                        ThreadChange::Done => self.send(text, thread, None).await.map(|_| ()),
                        ThreadChange::Impossible(why) => {
                            Err(Self::call_failed("reopenForumTopic", why))
                        }
                    }
                }
                Err(e) => Err(e),
            };
        }
        match self.number_at(at, nonce).await {
            Some(number) => {
                let ids = self.send(&marked(number, text), None, None).await?;
                self.record(ids, number).await
            }
            None => self.send(text, None, None).await.map(|_| ()),
        }
    }

    /// Closes the ticket's forum topic (closed) or reopens it (open). A ticket in a plain
    /// group has no topic: nothing to do.
    async fn set_thread(
        &self,
        at: &StaffLocation,
        state: ThreadState,
    ) -> Result<ThreadChange, RelayError> {
        if at.platform != PLATFORM || at.chat != self.inner.chat.to_string() {
            return Ok(ThreadChange::Impossible(
                "the ticket is not in this staff group".into(),
            ));
        }
        match at.thread.as_deref().and_then(|t| t.parse::<i32>().ok()) {
            Some(t) if t != GENERAL_TOPIC => self.change_topic(t, state).await,
            _ => Ok(ThreadChange::Impossible(
                "the ticket has no forum topic of its own".into(),
            )),
        }
    }
}

/// How long the list of a staff group's administrators is trusted before it is asked again.
pub const ADMINS_TTL: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_nonces_round_trip() {
        assert_eq!(ticket_in_text("#12 · Ann: hi"), Some(12));
        assert_eq!(ticket_in_text("Ticket #7 · Telegram · Ann"), Some(7));
        assert_eq!(ticket_in_text("#12: hi"), None);
        assert_eq!(ticket_in_text("Ticket #4 closed by Bob."), Some(4));
        assert_eq!(ticket_in_text("Ticket #4x"), None);
        assert_eq!(ticket_in_text("Ann: #12 · hi"), None);
        assert_eq!(number_from_nonce("t12.5"), Some(12));
        assert_eq!(number_from_nonce("s3.777.r"), Some(3));
        assert_eq!(number_from_nonce("open3"), None);
        assert_eq!(marked(4, "Ann: hi"), "#4 · Ann: hi");
        assert_eq!(
            marked(4, "Ticket #4 closed by Bob."),
            "Ticket #4 closed by Bob."
        );
        assert_eq!(marked(4, "Ticket #41 closed."), "#4 · Ticket #41 closed.");
    }

    #[tokio::test]
    async fn built_only_for_a_staff_group_and_never_shows_the_token() {
        let token = "123456:SECRET-token-value";
        let metrics = Arc::new(Metrics::new());
        let telegram = TelegramConfig {
            token: deskbot_desk::secret::Secret::new(token),
            // Nothing listens there: every call fails fast.
            api_url: Some("http://127.0.0.1:9".into()),
            ..TelegramConfig::default()
        };
        assert!(
            TelegramStaff::new(&telegram, None, metrics.clone())
                .unwrap()
                .is_none()
        );
        let handoff = Some(-1005);
        let fast = Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let staff = TelegramStaff::with_backoff(&telegram, handoff, fast, metrics.clone())
            .unwrap()
            .unwrap();
        assert_eq!(staff.chat(), -1005);
        assert!(!format!("{staff:?}").contains("SECRET"));
        let e = staff.is_forum().await.unwrap_err().to_string();
        assert!(e.contains("getChat failed"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        let no_token = TelegramConfig {
            token: deskbot_desk::secret::Secret::new(""),
            ..telegram
        };
        assert!(TelegramStaff::new(&no_token, handoff, metrics).is_err());
    }

    #[test]
    fn routes_are_recorded_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ticket_for_message(&store, -100, 5).unwrap(), None);
        record_routes(&store, -100, &[5, 6], 9).unwrap();
        assert_eq!(ticket_for_message(&store, -100, 6).unwrap(), Some(9));
        assert_eq!(ticket_for_message(&store, -101, 6).unwrap(), None);
    }
}

//! The Telegram channel (teloxide 0.17, long polling).
//!
//! # Flow
//!
//! 1. **Receive.** [`TelegramChannel`] long-polls `getUpdates` (or, with `webhook_url`, receives
//!    Telegram's POSTs: [`webhook`]). Each batch is classified
//!    ([`inbound::classify`]: private text, group messages meant for the bot, button presses,
//!    non-text messages, block/unblock) and written to the store's inbox together with the next
//!    offset, durably, *before* the next `getUpdates` confirms the batch to Telegram. Updates
//!    the bot ignores are only confirmed.
//! 2. **Handle.** Each update goes to its chat's worker: updates of one chat are handled in
//!    order, chats concurrently. A worker runs the engine turn ([`Desk::turn`], with the
//!    sender's `language_code` as the locale a new conversation starts in) and, in the
//!    same sled transaction, the desk removes the update from the inbox and queues the reply
//!    in the outbox with its [`outbound::Route`] (the desk's platform-neutral envelope). A
//!    second attempt to handle the same update is refused by the store, so no update is
//!    handled twice, even across restarts.
//! 3. **Deliver.** The worker then has the desk's send loop make the queued calls in order
//!    ([`sending`]: the envelope rendered into calls now, each made by
//!    [`delivery::deliver`]): `answerCallbackQuery`, `editMessageReplyMarkup` for a used
//!    keyboard, `sendMessage` as plain text (no parse mode, so nothing needs escaping) split
//!    at line boundaries, each `sendMessage` waiting for the send limits first
//!    ([`limiter`]). Flood control (`retry_after`) is waited out, other failures are retried
//!    with bounded backoff and then parked as dead letters (see [`delivery`]'s poison policy;
//!    an `ok` answer teloxide cannot read counts as done); a call leaves the outbox only once
//!    Telegram accepted it, refused it for good, or it was parked. A chat that blocked the bot
//!    is marked in the store and not written to again until it unblocks. Updates are read one
//!    by one ([`updates`]): one that cannot be read is confirmed and recorded, and a panic in
//!    a chat's job ends only that job.
//!
//! **The handoff's staff group** ([`TelegramChannelBuilder::handoff`]) is not a place for
//! bot conversations: its updates are classified apart ([`inbound::classify_with`]). A
//! message in a ticket's forum topic, or a reply to one of a ticket's messages, goes to the
//! relay ([`StaffInbox::staff_message`]), with its author counted as staff when they are an
//! administrator of the group (`getChatAdministrators`, cached briefly) or listed; Claim /
//! Close presses become those commands for staff and are answered with a refusal otherwise.
//! Everything else there is confirmed and ignored. Staff updates go through the inbox like
//! the others (handled in order by the group's worker, removed once the relay handled them);
//! see `staff.rs`. Attachments become notes (never Telegram file links: they contain the
//! token); a user's attachment while a ticket is open goes into their turn as such a note.
//! A reply without text and buttons (flood control ignoring a message) sends nothing.
//!
//! On restart, queued calls are sent first, then updates still in the inbox are handled,
//! then polling resumes from the stored offset: nothing received is lost. A crash between
//! Telegram accepting a message and the outbox entry being removed resends that one message
//! (the Bot API has no idempotency key); a failed removal (a full disk) never resends it, in
//! the run or after a graceful stop (`deskbot_desk::outbox::sent_marks`); a reply sent in
//! parts resumes after the last part Telegram accepted; a stop ends every wait at once and takes
//! at most a few seconds.

pub mod config;
pub mod delivery;
pub mod error;
pub mod inbound;
pub mod limiter;
pub mod outbound;
pub mod sending;
mod staff;
pub mod staff_side;
pub mod updates;
pub mod users;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deskbot_engine::dialogue::{Input, Reply};
use deskbot_storage::{ChannelWrite, ConvKey, StorageError, Store};
use teloxide::Bot;
use teloxide::payloads::DeleteWebhookSetters;
use teloxide::requests::{JsonRequest, Request, Requester};
use teloxide::types::{AllowedUpdate, BotCommand};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::TelegramConfig;
use delivery::{Api, Failure, classify_error};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::{Desk, TurnRequest};
use deskbot_desk::handoff::relay::StaffInbox;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::outbox::send::Sender;
use deskbot_desk::outbox::{Address, Delivery};
use deskbot_desk::shutdown::Shutdown;
use deskbot_desk::shutdown::pause;
use deskbot_storage::Platform;
pub use error::{During, TelegramError};
use inbound::{BotIdentity, Event, Inbound};
use limiter::Limits;
use outbound::{Destination, Outgoing, Route, parse_callback_data};
use sending::TelegramSend;
use updates::{RawGetUpdates, Read};

/// The channel name in conversation keys and in the store's channel records.
pub const CHANNEL: &str = deskbot_storage::Platform::Telegram.as_str();

/// What the bot says to a photo, sticker, voice message or file.
pub const NON_TEXT_REPLY: &str = "Thanks! I can only read text, so I can't look at photos, stickers, voice messages or files. Could you describe the problem in words? For example, tell me what happens when you try to sign in.";

/// What a group member sees when pressing a button of someone else's conversation.
pub const NOT_YOUR_BUTTON: &str =
    "These buttons belong to someone else's conversation. Mention me to start your own.";

/// The commands registered with `setMyCommands`.
pub const COMMANDS: [(&str, &str); 5] = [
    ("start", "Start over and see what I can help with"),
    ("help", "Show the topics I know and how to use me"),
    ("reset", "Leave the current guide"),
    ("human", "Ask for a person from the support team"),
    ("forget", "Delete everything this bot stored about you"),
];

/// Updates received but not yet handled, at most (polling waits beyond this).
const MAX_PENDING: usize = 10_000;
/// A chat's worker ends after this long without updates.
const WORKER_IDLE: Duration = Duration::from_secs(30);
/// How long shutdown waits for workers to finish the update in hand (a turn, or a call
/// already on the wire; waits for rate limits and retries end at once). The whole process
/// stops within 10 s (`deploy/deskbot.service`'s `TimeoutStopSec` allows 15).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Attempts at a turn whose storage write fails, before leaving it for the next start.
const STORAGE_ATTEMPTS: u32 = 3;

/// The Telegram staff group as the channel sees it: messages and button presses there go to
/// the handoff relay, never to a bot conversation.
#[derive(Clone)]
pub struct TelegramHandoff {
    /// Where staff messages go.
    pub relay: Arc<dyn StaffInbox>,
    /// The staff group's chat id.
    pub staff_chat: i64,
    /// Users counted as staff besides the group's administrators.
    pub staff_user_ids: Vec<u64>,
}

impl std::fmt::Debug for TelegramHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramHandoff")
            .field("staff_chat", &self.staff_chat)
            .field("staff_user_ids", &self.staff_user_ids)
            .finish_non_exhaustive()
    }
}

/// The Telegram channel (see the module documentation). Start it with its builder:
/// `TelegramChannel::builder(desk, config).handoff(h).run(shutdown)`.
#[derive(Debug)]
pub struct TelegramChannel;

impl TelegramChannel {
    /// A channel serving `desk` as `config` says: default retry delays, no handoff, no
    /// deliveries asked from outside.
    pub fn builder(desk: Desk, config: TelegramConfig) -> TelegramChannelBuilder {
        TelegramChannelBuilder {
            desk,
            config,
            backoff: Backoff::default(),
            deliveries: None,
            handoff: None,
        }
    }
}

/// Settings of a [`TelegramChannel`] before it runs.
#[derive(Debug)]
pub struct TelegramChannelBuilder {
    desk: Desk,
    config: TelegramConfig,
    backoff: Backoff,
    deliveries: Option<mpsc::UnboundedReceiver<i64>>,
    handoff: Option<TelegramHandoff>,
}

impl TelegramChannelBuilder {
    /// Retry delays of the channel's calls (tests use short ones).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Also delivers a chat's outbox whenever `deliveries` names it: others (the handoff
    /// relay) queue messages in the Telegram outbox and ask for them to be sent now, through
    /// the chat's worker so that order is kept and nothing is sent twice.
    #[must_use]
    pub fn deliveries(
        mut self,
        deliveries: impl Into<Option<mpsc::UnboundedReceiver<i64>>>,
    ) -> Self {
        self.deliveries = deliveries.into();
        self
    }

    /// With the handoff's staff group: updates from that group are staff messages for the
    /// relay (see [`TelegramHandoff`]).
    #[must_use]
    pub fn handoff(mut self, handoff: impl Into<Option<TelegramHandoff>>) -> Self {
        self.handoff = handoff.into();
        self
    }

    /// Runs the channel until `shutdown`. Fails when Telegram rejects the token (at start) or
    /// the store fails at start; transient network trouble is retried, never fatal.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), TelegramError> {
        let Self {
            desk,
            config,
            backoff,
            deliveries,
            handoff,
        } = self;
        run(desk, config, shutdown, backoff, deliveries, handoff).await
    }
}

async fn run(
    desk: Desk,
    config: TelegramConfig,
    shutdown: Shutdown,
    backoff: Backoff,
    deliveries: Option<mpsc::UnboundedReceiver<i64>>,
    handoff: Option<TelegramHandoff>,
) -> Result<(), TelegramError> {
    let api = build_api(&config, backoff, Arc::clone(desk.metrics()))?;
    let sender = Arc::new(Sender::new(
        desk.clone(),
        TelegramSend::new(api.clone(), shutdown.clone()),
    ));
    let result = serve(
        &desk, &api, &config, &shutdown, deliveries, handoff, &sender,
    )
    .await;
    desk.metrics().set_channel_up(CHANNEL, false);
    drop(api);
    sender.save().await;
    desk.store()
        .flush()
        .map_err(|source| TelegramError::Storage {
            what: "cannot flush the database when stopping the Telegram channel",
            source,
        })?;
    result
}

/// The Bot API client `config` describes (its token, `api_url` and send limits), counting
/// into `metrics`. Fails without a token or with an invalid `api_url`.
pub fn build_api(
    config: &TelegramConfig,
    backoff: Backoff,
    metrics: Arc<Metrics>,
) -> Result<Api, TelegramError> {
    let token = config.token.expose().to_string();
    if token.trim().is_empty() {
        return Err(TelegramError::NoToken);
    }
    let mut raw = Bot::new(token.clone());
    if let Some(u) = &config.api_url {
        // teloxide appends `/bot<token>/<method>` as path segments: a trailing slash after a
        // path would give `//bot…`.
        let url = url::Url::parse(u.trim_end_matches('/')).map_err(TelegramError::ApiUrl)?;
        raw = raw.set_api_url(url);
    }
    let limits = Limits {
        per_sec_chat: config.messages_per_sec_chat,
        per_min_chat: config.messages_per_min_chat,
        per_min_group: config.messages_per_min_group,
        per_sec_overall: config.messages_per_sec_overall,
    };
    Ok(Api::new(raw, limits, &token, backoff, metrics))
}

/// Shared by the poller and the chat workers.
struct Ctx {
    desk: Desk,
    api: Api,
    shutdown: Shutdown,
    /// Chats whose outbox others filled ([`TelegramChannelBuilder::deliveries`]).
    deliveries: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<i64>>>,
    /// The handoff's staff group, when configured.
    staff: Option<staff::StaffGroup>,
    /// The outbox's send loop.
    sender: Arc<Sender<TelegramSend>>,
}

impl Ctx {
    /// The staff group's chat id, when the handoff is configured.
    fn staff_chat(&self) -> Option<i64> {
        self.staff.as_ref().map(|s| s.handoff.staff_chat)
    }
}

/// The next chat whose outbox should be delivered now; never resolves without a source.
async fn next_delivery(ctx: &Ctx) -> i64 {
    let mut source = ctx.deliveries.lock().await;
    if let Some(rx) = source.as_mut() {
        if let Some(chat) = rx.recv().await {
            return chat;
        }
        // Every sender is gone: nothing will come any more.
        *source = None;
    }
    drop(source);
    std::future::pending().await
}

async fn serve(
    desk: &Desk,
    api: &Api,
    config: &TelegramConfig,
    shutdown: &Shutdown,
    deliveries: Option<mpsc::UnboundedReceiver<i64>>,
    handoff: Option<TelegramHandoff>,
    sender: &Arc<Sender<TelegramSend>>,
) -> Result<(), TelegramError> {
    let polling = config.webhook_url.is_none();
    let Some(me) = start(api, shutdown, polling).await? else {
        return Ok(());
    };
    tracing::info!(bot = %me.username, "Telegram channel started");
    let ctx = Arc::new(Ctx {
        desk: desk.clone(),
        api: api.clone(),
        shutdown: shutdown.clone(),
        deliveries: tokio::sync::Mutex::new(deliveries),
        staff: handoff.map(staff::StaffGroup::new),
        sender: sender.clone(),
    });
    let mut dispatcher = Dispatcher::new(ctx.clone());

    // Left over from the previous run: calls to make, then updates to handle. Replies sent
    // before the restart but left in the outbox go first, never resent.
    sender.restore().await;
    let store = desk.store().clone();
    let (targets, pending) = tokio::task::spawn_blocking(move || {
        Ok::<_, StorageError>((
            store.outbox_targets(CHANNEL)?,
            store.inbox_pending(CHANNEL)?,
        ))
    })
    .await
    .map_err(|source| TelegramError::Task {
        what: "startup task failed",
        source,
    })?
    .map_err(|source| TelegramError::Storage {
        what: "cannot read the Telegram inbox and outbox",
        source,
    })?;
    for t in targets {
        if let Ok(chat) = t.parse::<i64>() {
            dispatcher.send(chat, Job::Deliver).await;
        }
    }
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "handling updates received before the restart"
        );
    }
    for (id, payload) in pending {
        match serde_json::from_slice::<Inbound>(&payload) {
            Ok(inbound) => {
                dispatcher
                    .send(inbound.chat, Job::Update(id, inbound))
                    .await
            }
            Err(e) => {
                // Written by an incompatible version: drop it rather than fail every start.
                tracing::error!(update = id, error = %e, "unreadable inbox entry dropped");
                let (s, write) = (
                    desk.store().clone(),
                    ChannelWrite {
                        channel: CHANNEL.to_string(),
                        consumed: Some(id),
                        ..ChannelWrite::default()
                    },
                );
                let _ = tokio::task::spawn_blocking(move || s.channel_commit(&write)).await;
            }
        }
    }

    let result = if config.webhook_url.is_some() {
        webhook::receive(&ctx, &me, config, &mut dispatcher).await
    } else {
        poll(&ctx, &me, config, &mut dispatcher).await
    };
    dispatcher.stop().await;
    result
}

/// getMe (validates the token), removes a webhook that would block polling, registers the
/// commands. `None` when shutdown came first.
async fn start(
    api: &Api,
    shutdown: &Shutdown,
    polling: bool,
) -> Result<Option<BotIdentity>, TelegramError> {
    let mut attempt = 0u32;
    let me = loop {
        let Some(result) = until_shutdown(shutdown, api.raw.get_me().send()).await else {
            return Ok(None);
        };
        match result {
            Ok(me) => {
                api.metrics.set_channel_up(CHANNEL, true);
                break me;
            }
            Err(e) => {
                api.metrics.set_channel_up(CHANNEL, false);
                api.metrics.error("telegram_api");
                let wait = match classify_error(&e) {
                    Failure::BadToken => return Err(TelegramError::TokenRejected(During::Start)),
                    Failure::RetryAfter(d) => d,
                    _ => {
                        attempt += 1;
                        api.backoff.delay(attempt)
                    }
                };
                tracing::warn!(error = %api.describe(&e), "getMe failed; retrying");
                if !pause(wait, shutdown).await {
                    return Ok(None);
                }
            }
        }
    };
    let me = BotIdentity {
        id: me.user.id.0,
        username: me.username().to_string(),
    };
    match until_shutdown(shutdown, api.raw.get_webhook_info().send()).await {
        None => return Ok(None),
        Some(Ok(info)) if polling && info.url.is_some() => {
            tracing::info!("removing the bot's webhook so that long polling works");
            let delete = api.raw.delete_webhook().drop_pending_updates(false).send();
            match until_shutdown(shutdown, delete).await {
                None => return Ok(None),
                Some(Err(e)) => tracing::warn!(error = %api.describe(&e), "deleteWebhook failed"),
                Some(Ok(_)) => {}
            }
        }
        Some(Ok(_)) => {}
        Some(Err(e)) => tracing::warn!(error = %api.describe(&e), "getWebhookInfo failed"),
    }
    let commands = COMMANDS.iter().map(|(c, d)| BotCommand::new(*c, *d));
    let set = until_shutdown(shutdown, api.raw.set_my_commands(commands).send()).await;
    let Some(set) = set else {
        return Ok(None);
    };
    if let Err(e) = set {
        tracing::warn!(error = %api.describe(&e), "setMyCommands failed; commands still work, the menu may be stale");
    }
    Ok(Some(me))
}

/// The update kinds the bot asks Telegram for.
fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::MyChatMember,
    ]
}

/// `fut`'s output, or `None` if shutdown comes first (the request is dropped).
async fn until_shutdown<T>(
    shutdown: &Shutdown,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut s = shutdown.clone();
    tokio::select! {
        () = s.wait() => None,
        v = fut => Some(v),
    }
}

/// The long-polling loop: receive, record durably, dispatch.
async fn poll(
    ctx: &Arc<Ctx>,
    me: &BotIdentity,
    config: &TelegramConfig,
    dispatcher: &mut Dispatcher,
) -> Result<(), TelegramError> {
    let store = ctx.desk.store().clone();
    let mut offset = store
        .channel_offset(CHANNEL)
        .map_err(|source| TelegramError::Storage {
            what: "cannot read the Telegram offset",
            source,
        })?;
    let mut attempt = 0u32;
    let mut stop = ctx.shutdown.clone();
    let allowed = allowed_updates();
    while !ctx.shutdown.is_requested() {
        let request = JsonRequest::new(
            ctx.api.raw.clone(),
            RawGetUpdates {
                offset: i64::try_from(offset).unwrap_or(i64::MAX),
                timeout: config.poll_timeout_secs,
                limit: None,
                allowed_updates: allowed.clone(),
            },
        );
        let sending = request.send();
        tokio::pin!(sending);
        // Deliveries asked for meanwhile are dispatched without abandoning the long poll.
        let result = loop {
            tokio::select! {
                () = stop.wait() => break None,
                r = &mut sending => break Some(r),
                chat = next_delivery(ctx) => dispatcher.send(chat, Job::Deliver).await,
            }
        };
        let Some(result) = result else {
            break;
        };
        let updates = match result {
            Ok(u) => {
                ctx.desk.metrics().set_channel_up(CHANNEL, true);
                u
            }
            Err(e) => {
                ctx.desk.metrics().set_channel_up(CHANNEL, false);
                ctx.desk.metrics().error("telegram_api");
                let wait = match classify_error(&e) {
                    Failure::BadToken => return Err(TelegramError::TokenRejected(During::Polling)),
                    Failure::RetryAfter(d) => d,
                    _ => {
                        attempt += 1;
                        ctx.api.backoff.delay(attempt)
                    }
                };
                tracing::warn!(error = %ctx.api.describe(&e), "getUpdates failed; retrying");
                pause(wait, &ctx.shutdown).await;
                continue;
            }
        };
        attempt = 0;
        let Some(next) = updates
            .iter()
            .filter_map(updates::update_id)
            .map(|id| id.saturating_add(1))
            .max()
        else {
            continue;
        };
        let (batch, skipped) = decide(&updates, me, offset, ctx.staff_chat());
        if !skipped.is_empty() {
            // Recorded before the batch is confirmed (by the offset below).
            let desk = ctx.desk.clone();
            let at = ctx.desk.now_secs();
            let _ = tokio::task::spawn_blocking(move || {
                for (id, raw, why) in &skipped {
                    updates::record_skipped(&desk, *id, raw, why, at);
                }
            })
            .await;
        }
        let entries: Vec<(u64, Vec<u8>)> = batch
            .iter()
            .filter_map(|(id, inb)| serde_json::to_vec(inb).ok().map(|v| (*id, v)))
            .collect();
        let s = store.clone();
        let accepted =
            tokio::task::spawn_blocking(move || s.inbox_accept(CHANNEL, &entries, next)).await;
        let accepted = match accepted {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                // Not confirmed to Telegram: the batch comes again.
                tracing::error!(error = %e, "cannot record received updates; retrying");
                ctx.desk.metrics().error("storage");
                pause(ctx.api.backoff.delay(2), &ctx.shutdown).await;
                continue;
            }
            Err(source) => {
                return Err(TelegramError::Task {
                    what: "the store task failed",
                    source,
                });
            }
        };
        offset = offset.max(next);
        for (id, inbound) in batch {
            if accepted.contains(&id) {
                dispatcher
                    .send(inbound.chat, Job::Update(id, inbound))
                    .await;
            }
        }
    }
    Ok(())
}

/// An update that could not be read: its id, raw JSON and why.
type Skipped = (Option<u64>, serde_json::Value, String);

/// The updates of a batch worth handling, with their ids (those below `offset` were
/// received before), and those that could not be read.
fn decide(
    updates: &[serde_json::Value],
    me: &BotIdentity,
    offset: u64,
    staff_chat: Option<i64>,
) -> (Vec<(u64, Inbound)>, Vec<Skipped>) {
    let mut batch = Vec::new();
    let mut skipped = Vec::new();
    for v in updates {
        let id = updates::update_id(v);
        if id.is_some_and(|i| i < offset) {
            continue;
        }
        match (updates::read(v, me, staff_chat), id) {
            (Read::Handle(inbound), Some(id)) => batch.push((id, inbound)),
            (Read::Handle(_), None) => {
                skipped.push((None, v.clone(), "no update_id".to_string()));
            }
            (Read::Ignore, _) => {}
            (Read::Skip(why), id) => skipped.push((id, v.clone(), why)),
        }
    }
    (batch, skipped)
}

/// Work for a chat's worker.
enum Job {
    /// Handle this inbox entry, then deliver.
    Update(u64, Inbound),
    /// Deliver what is queued.
    Deliver,
}

struct Queued {
    job: Job,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

struct ChatHandle {
    tx: mpsc::UnboundedSender<Queued>,
    /// Resolves when the worker has ended (its sender is dropped).
    done: oneshot::Receiver<()>,
}

/// One worker task per active chat, so a chat's updates run in order and chats run
/// concurrently. An idle worker ends; a new one for the same chat waits for it first.
struct Dispatcher {
    ctx: Arc<Ctx>,
    chats: HashMap<i64, ChatHandle>,
    tasks: JoinSet<()>,
    permits: Arc<Semaphore>,
    sent: u64,
}

impl Dispatcher {
    fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            ctx,
            chats: HashMap::new(),
            tasks: JoinSet::new(),
            permits: Arc::new(Semaphore::new(MAX_PENDING)),
            sent: 0,
        }
    }

    async fn send(&mut self, chat: i64, job: Job) {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let mut queued = Queued {
            job,
            _permit: permit,
        };
        if let Some(h) = self.chats.get(&chat) {
            match h.tx.send(queued) {
                Ok(()) => return,
                Err(mpsc::error::SendError(q)) => queued = q,
            }
        }
        let previous = self.chats.remove(&chat).map(|h| h.done);
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        if tx.send(queued).is_err() {
            return;
        }
        let ctx = self.ctx.clone();
        self.tasks
            .spawn(chat_worker(ctx, chat, rx, previous, done_tx));
        self.chats.insert(chat, ChatHandle { tx, done: done_rx });
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            self.prune();
        }
    }

    /// Forgets ended workers.
    fn prune(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        self.chats
            .retain(|_, h| !matches!(h.done.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
    }

    /// Lets workers finish the job in hand (queued ones stay in the inbox), then ends them.
    async fn stop(mut self) {
        self.chats.clear();
        let wait = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, wait).await.is_err() {
            tracing::warn!("Telegram workers did not stop in time; aborting them");
            self.tasks.shutdown().await;
        }
    }
}

async fn chat_worker(
    ctx: Arc<Ctx>,
    chat: i64,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    previous: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
) {
    if let Some(p) = previous {
        let _ = p.await;
    }
    let mut closing = false;
    loop {
        let next = if closing {
            rx.recv().await
        } else {
            match tokio::time::timeout(WORKER_IDLE, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    // Refuse new jobs, then finish those already queued.
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        let Some(Queued { job, _permit }) = next else {
            break;
        };
        if ctx.shutdown.is_requested() {
            break;
        }
        // Run apart, so a panic (in a handler, the engine, a dependency) ends only this job:
        // logged and counted, and the chat's next jobs go on. An update whose turn panicked
        // stays in the inbox for the next start.
        let work = tokio::spawn(run_job(ctx.clone(), chat, job));
        if let Err(e) = work.await
            && e.is_panic()
        {
            let why = deskbot_desk::panic::panic_text(&*e.into_panic());
            tracing::error!(chat, panic = %why, "a Telegram job panicked; the chat goes on");
            ctx.desk.metrics().panic_caught(CHANNEL, "worker");
        }
    }
}

async fn run_job(ctx: Arc<Ctx>, chat: i64, job: Job) {
    if let Job::Update(id, inbound) = job {
        if inbound.event.is_staff() {
            staff::handle(&ctx, id, inbound).await;
        } else {
            let user_turn = matches!(
                inbound.event,
                Event::Text { .. } | Event::NonText { .. } | Event::Button { .. }
            );
            handle(&ctx, id, inbound).await;
            if user_turn && let Some(s) = &ctx.staff {
                // A line for an open ticket reaches staff at once, not at the next sweep.
                s.handoff.relay.wake();
            }
        }
    }
    deliver_chat(&ctx, chat).await;
}

/// Runs an update's turn and queues its answer, retrying a failing store a few times (the
/// update stays in the inbox for the next start otherwise).
async fn handle(ctx: &Ctx, id: u64, inbound: Inbound) {
    let inbound = Arc::new(inbound);
    for attempt in 1..=STORAGE_ATTEMPTS {
        let desk = ctx.desk.clone();
        let inb = inbound.clone();
        let result = tokio::task::spawn_blocking(move || apply(&desk, id, &inb)).await;
        match result {
            Ok(Ok(())) => {
                tracing::debug!(update = id, chat = inbound.chat, "update handled");
                return;
            }
            Ok(Err(StorageError::AlreadyHandled { .. })) => {
                tracing::debug!(update = id, "update already handled");
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(update = id, attempt, error = %e, "cannot record a Telegram turn");
            }
            Err(e) => {
                tracing::error!(update = id, error = %e, "Telegram turn panicked");
                return;
            }
        }
        if !pause(ctx.api.backoff.delay(attempt), &ctx.shutdown).await {
            return;
        }
    }
}

/// A mark to set (`Some`) or remove (`None`), by name.
type Mark = (String, Option<Vec<u8>>);

/// The mark of a chat that blocked the bot (or removed it from the group).
pub(crate) fn blocked_mark(chat: i64) -> String {
    deskbot_desk::marks::Mark::Blocked {
        target: &chat.to_string(),
    }
    .name()
}

/// Whether `chat` blocked the bot (or removed it from the group) and has not come back.
pub fn is_blocked(store: &Store, chat: i64) -> Result<bool, StorageError> {
    Ok(store.channel_mark(CHANNEL, &blocked_mark(chat))?.is_some())
}

/// When `chat` was marked blocked (Unix seconds).
fn blocked_since(store: &Store, chat: i64) -> Result<Option<i64>, StorageError> {
    Ok(store
        .channel_mark(CHANNEL, &blocked_mark(chat))?
        .map(|v| <[u8; 8]>::try_from(v.as_slice()).map_or(0, i64::from_be_bytes)))
}

/// A message sent after the chat was marked blocked proves it is open again.
fn unblock_if_newer(store: &Store, chat: i64, date: i64) -> Result<Vec<Mark>, StorageError> {
    Ok(match blocked_since(store, chat)? {
        Some(since) if date > since => vec![(blocked_mark(chat), None)],
        _ => Vec::new(),
    })
}

fn encode(items: Vec<Outgoing>) -> Vec<Vec<u8>> {
    items
        .iter()
        .filter_map(|o| serde_json::to_vec(o).ok())
        .collect()
}

/// When Telegram says a message was sent (its `date`, Unix seconds) in Unix milliseconds, for
/// flood control: a backlog fetched after downtime is counted by when it was written, not
/// taken for a flood because it is handled all at once.
fn sent_ms(date: i64) -> Option<u64> {
    u64::try_from(date).ok().map(|s| s.saturating_mul(1_000))
}

/// Where the answer to a message goes: the chat; in groups quoting the message, with buttons
/// for its sender only.
fn answer_to(chat: i64, origin: &inbound::Origin, sender: u64) -> Route {
    Route::to(Destination {
        chat,
        reply_to: (!origin.private).then_some(origin.message),
        thread: origin.thread,
        owner: (!origin.private).then_some(sender),
    })
}

/// Decides and records (atomically with the inbox entry's removal) what answers an update:
/// a turn queues its reply for the chat as the desk's envelope, rendered when it is sent
/// ([`sending`]); what needs no turn is queued as calls of this channel's own.
fn apply(desk: &Desk, id: u64, inbound: &Inbound) -> Result<(), StorageError> {
    let store = desk.store();
    let chat = inbound.chat;
    let write = |outbox: Vec<Outgoing>, marks, clear_outbox| ChannelWrite {
        channel: CHANNEL.to_string(),
        consumed: Some(id),
        target: chat.to_string(),
        clear_outbox,
        outbox: encode(outbox),
        marks,
    };
    let delivery = |route: Route, marks: Vec<Mark>, always: bool| Delivery {
        channel: CHANNEL.to_string(),
        consumed: Some(id),
        address: Address {
            target: chat.to_string(),
            route: serde_json::to_value(&route).unwrap_or_default(),
        },
        nonce: format!("tg{id}"),
        always,
        marks,
    };
    match &inbound.event {
        Event::Text { from, text, origin } => {
            let marks = unblock_if_newer(store, chat, origin.date)?;
            let key = ConvKey::new(Platform::Telegram, from.id.to_string());
            let input = Input::Text(text.clone());
            desk.turn(
                &TurnRequest::new(&key, &input)
                    .name(Some(&from.name))
                    .locale(from.language.as_deref())
                    .sent_at(sent_ms(origin.date))
                    .deliver(delivery(answer_to(chat, origin, from.id), marks, false)),
            )?;
        }
        Event::NonText { from, origin, note } => {
            let marks = unblock_if_newer(store, chat, origin.date)?;
            let to = answer_to(chat, origin, from.id);
            let key = ConvKey::new(Platform::Telegram, from.id.to_string());
            if let Some(note) = note
                && desk.conversation(&key)?.ticket().is_some()
            {
                // In a ticket: the note goes into the user's turn, so staff see that something
                // was sent (the file itself stays on Telegram).
                let input = Input::Text(note.clone());
                desk.turn(
                    &TurnRequest::new(&key, &input)
                        .name(Some(&from.name))
                        .locale(from.language.as_deref())
                        .sent_at(sent_ms(origin.date))
                        .deliver(delivery(to, marks, false)),
                )?;
                return Ok(());
            }
            store
                .channel_commit(&delivery(to, marks, false).write(&Reply::text(NON_TEXT_REPLY)))?;
        }
        Event::Button {
            from,
            query,
            data,
            message,
            private,
            thread,
        } => {
            let (owner, button) = parse_callback_data(data);
            if owner.is_some_and(|o| o != from.id) {
                let answer = Outgoing::Answer {
                    query: query.clone(),
                    text: Some(NOT_YOUR_BUTTON.to_string()),
                };
                store.channel_commit(&write(vec![answer], Vec::new(), false))?;
                return Ok(());
            }
            // The press is answered (and its keyboard cleared) even when the turn says
            // nothing (flood control): `always`.
            let to = Route {
                answer: Some(query.clone()),
                clear_keyboard: *message,
                ..Route::to(Destination {
                    chat,
                    reply_to: None,
                    thread: *thread,
                    owner: (!private).then_some(from.id),
                })
            };
            let key = ConvKey::new(Platform::Telegram, from.id.to_string());
            let input = Input::Button(button.to_string());
            desk.turn(
                &TurnRequest::new(&key, &input)
                    .name(Some(&from.name))
                    .locale(from.language.as_deref())
                    .deliver(delivery(to, Vec::new(), true)),
            )?;
        }
        Event::Blocked { date } => {
            let marks = vec![(blocked_mark(chat), Some(date.to_be_bytes().to_vec()))];
            store.channel_commit(&write(Vec::new(), marks, true))?;
        }
        Event::Unblocked { .. } => {
            store.channel_commit(&write(Vec::new(), vec![(blocked_mark(chat), None)], false))?;
        }
        Event::Staff { .. } | Event::StaffButton { .. } => {
            // Received while a staff group was configured, handled after it no longer is:
            // there is no relay to give it to.
            tracing::info!(
                update = id,
                chat,
                "staff group update dropped: no handoff configured"
            );
            store.channel_commit(&write(Vec::new(), Vec::new(), false))?;
        }
    }
    Ok(())
}

/// Makes the calls queued for `chat`, in order, through the desk's one send loop.
async fn deliver_chat(ctx: &Ctx, chat: i64) {
    ctx.sender.flush(&chat.to_string()).await;
}

//! The serenity side: gateway events in, engine turns, REST calls out. Everything here that
//! does not need a serenity type lives in [`super::render`], [`super::route`],
//! [`super::custom_id`] and [`super::retry`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deskbot_engine::dialogue::{Input, Reply};
use deskbot_storage::{ConvKey, Speaker, TranscriptEntry};
use serenity::all::{
    ChannelId, Command, CommandInteraction, CommandOptionType, ComponentInteraction, Context,
    CreateCommand, CreateCommandOption, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, EditInteractionResponse,
    EventHandler, GuildId, Http, HttpError, Interaction, InteractionContext, Message, MessageFlags,
    MessageReference, MessageType, RatelimitInfo, Ready, User,
};
use tokio::sync::Notify;

use super::custom_id::{self, Press};
use super::order::{self, Sequencer};
use super::outbox::{self, Route};
use super::poison;
use super::render;
use super::retry::{self, Failure, Policy};
use super::route::{self, Incoming, Place};
use super::{DiscordHandoff, StaffPlace};
use crate::sending::{
    DiscordSend, allowed_mentions, components, is_transient, rendered, send_messages, send_reply,
    undelivered,
};
use crate::staff_side::PLATFORM as STAFF_PLATFORM;
use crate::staff_side::{GuildMessage, on_guild_message};
use crate::users::remember_dm;
use deskbot_desk::desk::{Desk, TurnRequest};
use deskbot_desk::handoff::attachment_note;
use deskbot_desk::handoff::buttons::TicketButton;
use deskbot_desk::handoff::relay::{Author, NOT_STAFF, StaffInbox};
use deskbot_desk::outbox::send::Sender;
use deskbot_desk::outbox::{Address, Delivery};

/// Said when the store fails during a turn: the user hears something rather than nothing.
const STORAGE_APOLOGY: &str = "Sorry, something went wrong on my side and I couldn't save that. Please try again in a moment.";
/// Said to someone pressing a button of another user's conversation.
const FOREIGN_BUTTON: &str = "That button belongs to someone else's conversation, so I've left it alone. To get help yourself, mention me or use /support.";
/// Said for a button this bot did not make (or no longer understands).
const UNKNOWN_BUTTON: &str =
    "I can't use that button any more. Send me a message, or use /support, to carry on.";
/// Said for a slash command this bot does not know (an outdated registration).
const UNKNOWN_COMMAND: &str = "I don't know that command. Try /support, /help, /reset or /human.";

/// Said when a Claim/Close press could not be carried out (the relay failed).
const TICKET_BUTTON_FAILED: &str =
    "That did not go through; nothing was changed. Please try again in a moment.";

/// Discord's error code for "Interaction has already been acknowledged": a retried
/// acknowledgement whose first attempt did arrive.
const ALREADY_ACKNOWLEDGED: isize = 40060;

/// Counts event handlers still running, so shutdown can let turns in flight finish.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    count: AtomicUsize,
    idle: Notify,
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
    fn enter(&self) -> InflightGuard<'_> {
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
    desk: Desk,
    support_channels: Vec<u64>,
    guild_ids: Vec<u64>,
    bot_id: AtomicU64,
    commands_registered: AtomicBool,
    /// The outbox's send loop (set once the client, whose REST client it uses, exists).
    sender: OnceLock<Arc<Sender<DiscordSend>>>,
    pub(super) inflight: Inflight,
    /// The human handoff, when it runs.
    handoff: Option<DiscordHandoff>,
    /// Keeps each person's messages in order.
    order: Sequencer,
    /// How hard a queued reply is tried before it is parked (or left for the next sweep).
    delivery: Policy,
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
    pub(super) fn start_sending(&self, http: Arc<Http>) {
        let sender = Sender::new(self.desk.clone(), DiscordSend::new(http, self.delivery));
        let _ = self.sender.set(Arc::new(sender));
    }

    fn relay(&self) -> Option<&dyn StaffInbox> {
        self.handoff.as_ref().map(|h| &*h.relay)
    }

    fn staff_place(&self) -> Option<(&dyn StaffInbox, StaffPlace)> {
        let h = self.handoff.as_ref()?;
        Some((&*h.relay, h.staff?))
    }

    /// Hands a guild message written by a person in a ticket thread to the relay; true when
    /// it was one (handled or failed), false for every other message.
    async fn staff_thread_message(&self, msg: &Message) -> bool {
        let Some((relay, staff)) = self.staff_place() else {
            return false;
        };
        if msg.guild_id.is_none() || msg.author.bot || msg.webhook_id.is_some() {
            return false;
        }
        let roles: Vec<u64> = msg
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default();
        let name = msg
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .or_else(|| display_name(&msg.author))
            .unwrap_or_default();
        let content = with_attachments(&msg.content, msg);
        if content.trim().is_empty() {
            // Nothing to relay (a sticker, or no MESSAGE_CONTENT intent): staff are not
            // answered and the user is not sent an empty line.
            return false;
        }
        let guild_message = GuildMessage {
            channel: msg.channel_id.get(),
            message_id: msg.id.get(),
            author_name: &name,
            author_is_bot: false,
            roles: &roles,
            content: &content,
        };
        match on_guild_message(relay, staff.channel, staff.role, &guild_message).await {
            Ok(None) => false,
            Ok(Some(handled)) => {
                tracing::info!(
                    channel = msg.channel_id.get(),
                    staff = guild_message.roles.contains(&staff.role),
                    ?handled,
                    "message in a ticket thread"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    channel = msg.channel_id.get(),
                    error = %e,
                    "a message in a ticket thread could not be relayed"
                );
                true
            }
        }
    }

    /// A press of a ticket's Claim or Close button in the staff channel: staff (by the
    /// interaction's member roles) claim or close through the relay; anyone else, or a press
    /// outside the ticket's own thread, is refused privately and nothing changes.
    async fn on_ticket_button(
        &self,
        http: &Http,
        c: &ComponentInteraction,
        action: &str,
        number: u64,
    ) {
        let Some((relay, staff)) = self.staff_place() else {
            refuse(c.id.get(), UNKNOWN_BUTTON, || {
                c.create_response(http, refusal(UNKNOWN_BUTTON))
            })
            .await;
            return;
        };
        // A press on a ticket's first message in the staff channel itself belongs to the
        // thread started from that message.
        let thread = crate::staff_side::thread_of_press(
            staff.channel,
            c.channel_id.get(),
            c.message.id.get(),
        );
        let (store, thread) = (self.desk.store().clone(), thread.to_string());
        let routed = tokio::task::spawn_blocking(move || {
            store.ticket_at_staff(
                STAFF_PLATFORM,
                &staff.channel.to_string(),
                deskbot_storage::RouteKind::Thread,
                &thread,
            )
        })
        .await;
        if !matches!(routed, Ok(Ok(Some(n))) if n == number) {
            tracing::info!(
                ticket = number,
                channel = c.channel_id.get(),
                "refused a ticket button pressed outside its ticket's thread"
            );
            refuse(c.id.get(), UNKNOWN_BUTTON, || {
                c.create_response(http, refusal(UNKNOWN_BUTTON))
            })
            .await;
            return;
        }
        let is_staff = c
            .member
            .as_ref()
            .is_some_and(|m| m.roles.iter().any(|r| r.get() == staff.role));
        if !is_staff {
            tracing::info!(
                ticket = number,
                presser = c.user.id.get(),
                action,
                "refused a ticket button pressed by someone without the staff role"
            );
            refuse(c.id.get(), NOT_STAFF, || {
                c.create_response(http, refusal(NOT_STAFF))
            })
            .await;
            return;
        }
        // Acknowledge without a message: the relay answers in the thread.
        let acked = acknowledge(true, || {
            c.create_response(http, CreateInteractionResponse::Acknowledge)
        })
        .await;
        let name = c
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .or_else(|| display_name(&c.user))
            .unwrap_or_default();
        let author = Author {
            name,
            is_staff: true,
            message_id: format!("i{}", c.id.get()),
        };
        match relay.staff_message(number, &author, action).await {
            Ok(handled) => tracing::info!(ticket = number, ?handled, "ticket button"),
            Err(e) => {
                tracing::error!(ticket = number, error = %e, "a ticket button could not be carried out");
                if acked {
                    let b = CreateInteractionResponseFollowup::new()
                        .content(render::escape_markdown(TICKET_BUTTON_FAILED))
                        .allowed_mentions(allowed_mentions())
                        .ephemeral(true);
                    if let Err(e) = http.create_followup_message(&c.token, &b, vec![]).await {
                        tracing::warn!(error = %e, "could not tell staff a button failed");
                    }
                }
            }
        }
    }

    /// Appends attachment notes to `user`'s transcript as their lines. They bypass the
    /// engine, whose masking would break the links' long ids; they are masked for staff by
    /// [`crate::handoff::mask_for_staff`], which keeps Discord attachment links whole.
    async fn note_attachments(&self, user: u64, notes: Vec<String>) {
        let desk = self.desk.clone();
        let key = ConvKey::new("discord", user.to_string());
        let at_ms = self.desk.now_ms();
        let lines: Vec<TranscriptEntry> = notes
            .into_iter()
            .map(|text| TranscriptEntry {
                at_ms,
                speaker: Speaker::User,
                text: deskbot_desk::desk::cut(&text, deskbot_desk::desk::TRANSCRIPT_CHARS),
            })
            .collect();
        let written =
            tokio::task::spawn_blocking(move || desk.store().append_transcript(&key, &lines)).await;
        match written {
            Ok(Ok(())) => {
                if let Some(r) = self.relay() {
                    r.wake();
                }
            }
            Ok(Err(e)) => tracing::error!(user, error = %e, "cannot note an attachment"),
            Err(e) => tracing::error!(user, error = %e, "noting an attachment panicked"),
        }
    }

    /// Lets the relay sweep now when the user is with staff, so their line reaches the
    /// ticket's thread promptly.
    fn wake_relay(&self, conversation: &deskbot_engine::dialogue::Conversation) {
        if conversation.ticket().is_some()
            && let Some(r) = self.relay()
        {
            r.wake();
        }
    }

    fn place(&self, guild: Option<GuildId>, channel: ChannelId) -> Place {
        Place::of(guild.is_some(), channel.get(), &self.support_channels)
    }

    /// Runs one engine turn off the async workers (the store fsyncs). A storage failure is
    /// logged and answered with an apology, so the user is never left without a reply.
    async fn turn(&self, user: u64, name: Option<String>, input: Input) -> Reply {
        let desk = self.desk.clone();
        let key = ConvKey::new("discord", user.to_string());
        let joined = tokio::task::spawn_blocking(move || {
            desk.handle(&key, name.as_deref(), &input)
                .map(|t| (t.reply, t.opened_ticket, t.conversation))
        })
        .await;
        match joined {
            Ok(Ok((reply, ticket, conversation))) => {
                if let Some(n) = ticket {
                    tracing::info!(user, ticket = n, "ticket opened from Discord");
                }
                self.wake_relay(&conversation);
                reply
            }
            Ok(Err(e)) => {
                tracing::error!(user, error = %e, "the turn could not be stored");
                Reply::text(STORAGE_APOLOGY)
            }
            Err(e) => {
                tracing::error!(user, error = %e, "the turn panicked");
                Reply::text(STORAGE_APOLOGY)
            }
        }
    }

    async fn on_message(&self, http: &Http, msg: Message) {
        if self.staff_thread_message(&msg).await {
            return;
        }
        let bot_id = self.bot_id.load(Ordering::SeqCst);
        let place = self.place(msg.guild_id, msg.channel_id);
        let mentions: Vec<u64> = msg.mentions.iter().map(|u| u.id.get()).collect();
        let incoming = Incoming {
            place,
            from_bot: msg.author.bot || msg.webhook_id.is_some() || msg.author.id.get() == bot_id,
            ordinary: matches!(msg.kind, MessageType::Regular | MessageType::InlineReply),
            content: &msg.content,
            mentions: &mentions,
            replies_to_bot: msg
                .referenced_message
                .as_ref()
                .is_some_and(|r| r.author.id.get() == bot_id && bot_id != 0),
        };
        let Some(text) = route::engine_text(&incoming, bot_id) else {
            return;
        };
        // Attachments: the engine sees their names (when there is no text), the transcript
        // (and so staff) a note with each link, written after the turn.
        let notes: Vec<String> = msg
            .attachments
            .iter()
            .map(|a| attachment_note(&a.filename, &a.url))
            .collect();
        let text = if text.trim().is_empty() && !msg.attachments.is_empty() {
            msg.attachments
                .iter()
                .map(|a| format!("📎 {}", a.filename))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            text
        };
        let user = msg.author.id.get();
        let channel = msg.channel_id.get();
        tracing::debug!(user, channel, ?place, "message");
        let reply_to = (place != Place::Dm).then_some(msg.id.get());
        let dm = place == Place::Dm;
        let nonce = format!("{:x}", msg.id.get());
        match self
            .turn_queued(
                user,
                display_name(&msg.author),
                Input::Text(text),
                channel,
                reply_to,
                &nonce,
                dm,
            )
            .await
        {
            Ok(()) => {
                if !notes.is_empty() {
                    self.note_attachments(user, notes).await;
                }
                self.flush(channel).await;
            }
            Err(apology) => {
                let reference = reply_to.map(|_| {
                    let mut r = MessageReference::from(&msg);
                    r.fail_if_not_exists = Some(false);
                    r
                });
                send_reply(http, msg.channel_id, &apology, user, reference, &nonce).await;
            }
        }
    }

    /// Runs one turn whose reply goes to `channel`, queueing the reply's messages in the
    /// outbox in the same transaction (and, for a DM, remembering that `channel` is the user's
    /// DM channel, where staff replies go). On a storage failure, returns the apology to send
    /// directly instead.
    #[allow(clippy::too_many_arguments)]
    async fn turn_queued(
        &self,
        user: u64,
        name: Option<String>,
        input: Input,
        channel: u64,
        reply_to: Option<u64>,
        nonce: &str,
        dm: bool,
    ) -> Result<(), Reply> {
        let desk = self.desk.clone();
        let key = ConvKey::new("discord", user.to_string());
        let nonce = nonce.to_string();
        let delivery = Delivery {
            channel: outbox::CHANNEL.to_string(),
            consumed: None,
            address: Address {
                target: channel.to_string(),
                route: serde_json::to_value(Route {
                    channel,
                    reply_to,
                    owner: user,
                })
                .unwrap_or_default(),
            },
            nonce,
            always: false,
            marks: if dm {
                vec![remember_dm(user, channel)]
            } else {
                Vec::new()
            },
        };
        let joined = tokio::task::spawn_blocking(move || {
            desk.turn(
                &TurnRequest::new(&key, &input)
                    .name(name.as_deref())
                    .deliver(delivery),
            )
        })
        .await;
        match joined {
            Ok(Ok(t)) => {
                if let Some(n) = t.opened_ticket {
                    tracing::info!(user, ticket = n, "ticket opened from Discord");
                }
                self.wake_relay(&t.conversation);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::error!(user, error = %e, "the turn could not be stored");
                Err(Reply::text(STORAGE_APOLOGY))
            }
            Err(e) => {
                tracing::error!(user, error = %e, "the turn panicked");
                Err(Reply::text(STORAGE_APOLOGY))
            }
        }
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

    async fn on_component(&self, http: &Http, c: ComponentInteraction) {
        if let Some((button, number)) = TicketButton::parse(&c.data.custom_id) {
            self.on_ticket_button(http, &c, button.command(), number)
                .await;
            return;
        }
        let presser = c.user.id.get();
        let engine_id = match custom_id::check(&c.data.custom_id, presser) {
            Press::Owner { engine_id } => engine_id.to_string(),
            Press::Foreign { owner } => {
                tracing::info!(
                    presser,
                    owner,
                    "refused a button press on another user's conversation"
                );
                refuse(c.id.get(), FOREIGN_BUTTON, || {
                    c.create_response(http, refusal(FOREIGN_BUTTON))
                })
                .await;
                return;
            }
            Press::Unknown => {
                tracing::info!(presser, "refused a press on a button this bot did not make");
                refuse(c.id.get(), UNKNOWN_BUTTON, || {
                    c.create_response(http, refusal(UNKNOWN_BUTTON))
                })
                .await;
                return;
            }
        };
        let place = self.place(c.guild_id, c.channel_id);
        let ephemeral = place == Place::OtherChannel
            || c.message
                .flags
                .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        let acked = acknowledge(ephemeral, || c.create_response(http, defer(ephemeral))).await;
        if !acked && ephemeral {
            // Nowhere private to answer: leave the conversation as it was.
            return;
        }
        let reply = self
            .turn(presser, display_name(&c.user), Input::Button(engine_id))
            .await;
        let to = Respond {
            token: &c.token,
            acked,
            ephemeral,
            channel: c.channel_id,
            nonce: format!("i{:x}", c.id.get()),
        };
        to.deliver(http, &reply, presser).await;
    }

    async fn on_command(&self, http: &Http, cmd: CommandInteraction) {
        let message = cmd
            .data
            .options
            .iter()
            .find(|o| o.name == route::SUPPORT_OPTION)
            .and_then(|o| o.value.as_str());
        let Some(text) = route::command_text(&cmd.data.name, message) else {
            tracing::info!(command = %cmd.data.name, "unknown slash command");
            refuse(cmd.id.get(), UNKNOWN_COMMAND, || {
                cmd.create_response(http, refusal(UNKNOWN_COMMAND))
            })
            .await;
            return;
        };
        let user = cmd.user.id.get();
        let place = self.place(cmd.guild_id, cmd.channel_id);
        let ephemeral = place == Place::OtherChannel;
        let acked = acknowledge(ephemeral, || cmd.create_response(http, defer(ephemeral))).await;
        if !acked && ephemeral {
            return;
        }
        let reply = self
            .turn(user, display_name(&cmd.user), Input::Text(text))
            .await;
        let to = Respond {
            token: &cmd.token,
            acked,
            ephemeral,
            channel: cmd.channel_id,
            nonce: format!("i{:x}", cmd.id.get()),
        };
        to.deliver(http, &reply, user).await;
    }

    /// Registers `/support`, `/human`, `/reset` and `/help` in each configured guild, or
    /// globally when none is configured.
    async fn register_commands(&self, http: &Http) {
        let commands: Vec<CreateCommand> = route::SLASH_COMMANDS
            .iter()
            .map(|c| {
                let mut b = CreateCommand::new(c.name).description(c.description);
                if let Some((name, description)) = c.text_option {
                    b = b.add_option(
                        CreateCommandOption::new(CommandOptionType::String, name, description)
                            .required(true)
                            .max_length(render::MAX_CONTENT as u16),
                    );
                }
                if self.guild_ids.is_empty() {
                    b = b.contexts(vec![InteractionContext::Guild, InteractionContext::BotDm]);
                }
                b
            })
            .collect();
        if self.guild_ids.is_empty() {
            let r = retry::retry(
                Policy::DELIVERY,
                "register global commands",
                is_transient,
                || Command::set_global_commands(http, commands.clone()),
            )
            .await;
            match r {
                Ok(c) => tracing::info!(commands = c.len(), "slash commands registered globally"),
                Err(Failure::Error { error, .. })
                    if poison::unreadable_answer("setGlobalCommands", &error) =>
                {
                    tracing::info!("slash commands registered globally (answer unreadable)")
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot register the slash commands globally")
                }
            }
        }
        for &g in &self.guild_ids {
            let Some(guild) = std::num::NonZeroU64::new(g).map(GuildId::from) else {
                continue;
            };
            let r = retry::retry(
                Policy::DELIVERY,
                "register guild commands",
                is_transient,
                || guild.set_commands(http, commands.clone()),
            )
            .await;
            match r {
                Ok(c) => tracing::info!(guild = g, commands = c.len(), "slash commands registered"),
                Err(Failure::Error { error, .. })
                    if poison::unreadable_answer("setGuildCommands", &error) =>
                {
                    tracing::info!(guild = g, "slash commands registered (answer unreadable)")
                }
                Err(e) => {
                    tracing::error!(guild = g, error = %e, "cannot register the slash commands")
                }
            }
        }
    }
}

/// What serenity calls: each event is handled in a task of its own, so a panic (in a
/// handler, the engine, a dependency) ends only that event: logged, counted in
/// `deskbot_panics_total{channel="discord",task="handler"}`, and the channel goes on.
pub(super) struct Events(pub(super) Arc<Handler>);

impl Events {
    async fn guarded<F, Fut>(&self, event: &'static str, f: F)
    where
        F: FnOnce(Arc<Handler>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let _busy = self.0.inflight.enter();
        let task = tokio::spawn(f(Arc::clone(&self.0)));
        if let Err(e) = task.await
            && e.is_panic()
        {
            let why = deskbot_desk::panic::panic_text(&*e.into_panic());
            tracing::error!(event, panic = %why, "a Discord event handler panicked; the channel goes on");
            deskbot_desk::metrics::global().panic_caught(outbox::CHANNEL, "handler");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Events {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.guarded(
            "ready",
            move |h| async move { h.on_ready(ctx, ready).await },
        )
        .await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.guarded("message", move |h| async move {
            h.on_message_event(ctx, msg).await;
        })
        .await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        self.guarded("interaction", move |h| async move {
            h.on_interaction(ctx, interaction).await;
        })
        .await;
    }

    async fn ratelimit(&self, data: RatelimitInfo) {
        // `data.path` can hold an interaction token: never log it.
        tracing::info!(
            method = ?data.method,
            wait_ms = data.timeout.as_millis() as u64,
            global = data.global,
            "Discord rate limit reached; serenity waits and retries"
        );
    }
}

impl Handler {
    async fn on_ready(&self, ctx: Context, ready: Ready) {
        self.bot_id.store(ready.user.id.get(), Ordering::SeqCst);
        deskbot_desk::metrics::global().set_channel_up(outbox::CHANNEL, true);
        tracing::info!(
            bot = %ready.user.name,
            bot_id = ready.user.id.get(),
            application_id = ready.application.id.get(),
            guilds = ready.guilds.len(),
            shard = ?ready.shard.map(|s| (s.id.0, s.total)),
            "connected to the Discord gateway"
        );
        if !self.commands_registered.swap(true, Ordering::SeqCst) {
            self.register_commands(&ctx.http).await;
        }
    }

    async fn on_message_event(&self, ctx: Context, msg: Message) {
        // One person's messages in one channel are handled one at a time, in Discord's order
        // (bots' messages, ignored anyway, do not wait).
        let _turn = if msg.author.bot {
            None
        } else {
            let key = (msg.channel_id.get(), msg.author.id.get());
            Some(self.order.enter(key, msg.id.get(), order::WINDOW).await)
        };
        self.on_message(&ctx.http, msg).await;
    }

    async fn on_interaction(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Component(c) => self.on_component(&ctx.http, c).await,
            Interaction::Command(c) => self.on_command(&ctx.http, c).await,
            other => tracing::debug!(kind = ?other.kind(), "ignored an interaction"),
        }
    }
}

/// `text` followed by a note with the link of each of the message's attachments.
fn with_attachments(text: &str, msg: &Message) -> String {
    let mut out = text.trim_end().to_string();
    for a in &msg.attachments {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&attachment_note(&a.filename, &a.url));
    }
    out
}

/// The name a ticket shows for `user`.
fn display_name(user: &User) -> Option<String> {
    Some(
        user.global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
    )
}

fn refusal(text: &str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(render::escape_markdown(text))
            .ephemeral(true)
            .allowed_mentions(allowed_mentions()),
    )
}

fn defer(ephemeral: bool) -> CreateInteractionResponse {
    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(ephemeral))
}

/// Answers an interaction right away with an ephemeral refusal.
async fn refuse<F, Fut>(id: u64, what: &str, call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<()>>,
{
    if let Err(e) = retry::retry(Policy::ACK, "refuse interaction", is_transient, call).await {
        tracing::warn!(interaction = id, refusal = what, error = %e, "could not answer an interaction");
    }
}

/// Acknowledges an interaction within Discord's 3 seconds; false when that failed.
async fn acknowledge<F, Fut>(ephemeral: bool, call: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<()>>,
{
    match retry::retry(Policy::ACK, "acknowledge interaction", is_transient, call).await {
        Ok(()) => true,
        Err(Failure::Error {
            error: serenity::Error::Http(HttpError::UnsuccessfulRequest(r)),
            ..
        }) if r.error.code == ALREADY_ACKNOWLEDGED => true,
        Err(e) => {
            tracing::warn!(
                ephemeral,
                error = %e,
                "could not acknowledge an interaction{}",
                if ephemeral { "" } else { "; answering in the channel instead" }
            );
            false
        }
    }
}

/// Where an interaction's answer goes.
struct Respond<'a> {
    token: &'a str,
    acked: bool,
    ephemeral: bool,
    channel: ChannelId,
    nonce: String,
}

impl Respond<'_> {
    /// Fills the deferred response with the first message and sends the rest as follow-ups;
    /// falls back to plain channel messages (when the answer is not private) if the
    /// interaction cannot be used.
    async fn deliver(&self, http: &Http, reply: &Reply, owner: u64) {
        if !self.acked {
            send_reply(http, self.channel, reply, owner, None, &self.nonce).await;
            return;
        }
        let messages = rendered(reply, owner);
        if messages.is_empty() {
            // Nothing to say (an ignored message): remove the "thinking…" placeholder.
            if let Err(e) = http.delete_original_interaction_response(self.token).await {
                tracing::warn!(error = %e, "could not remove a deferred interaction response");
            }
            return;
        }
        for (i, m) in messages.iter().enumerate() {
            let r = if i == 0 {
                let mut b = EditInteractionResponse::new()
                    .content(m.content.clone())
                    .allowed_mentions(allowed_mentions());
                if !m.rows.is_empty() {
                    b = b.components(components(&m.rows));
                }
                retry::retry(
                    Policy::DELIVERY,
                    "fill interaction response",
                    is_transient,
                    || http.edit_original_interaction_response(self.token, &b, vec![]),
                )
                .await
            } else {
                let mut b = CreateInteractionResponseFollowup::new()
                    .content(m.content.clone())
                    .allowed_mentions(allowed_mentions())
                    .ephemeral(self.ephemeral);
                if !m.rows.is_empty() {
                    b = b.components(components(&m.rows));
                }
                retry::retry(Policy::DELIVERY, "send follow-up", is_transient, || {
                    http.create_followup_message(self.token, &b, vec![])
                })
                .await
            };
            let method = if i == 0 {
                "editOriginalInteractionResponse"
            } else {
                "createFollowupMessage"
            };
            if let Some(e) = undelivered(method, r) {
                tracing::error!(
                    user = owner,
                    channel = self.channel.get(),
                    part = i + 1,
                    error = %e,
                    "could not deliver an interaction reply{}",
                    if self.ephemeral { "" } else { "; sending the rest to the channel" }
                );
                if !self.ephemeral {
                    send_messages(http, self.channel, &messages[i..], owner, None, &self.nonce)
                        .await;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use deskbot_engine::dialogue::Button;

    use super::*;

    /// Flood control's "ignore" through the real turn path of a DM: the third message within
    /// the window (limit 1: the second gets the slow-down answer) queues nothing at all.
    #[tokio::test]
    async fn an_ignored_turn_queues_nothing_for_discord() {
        let dir = tempfile::tempdir().unwrap();
        let engine = std::sync::Arc::new(
            deskbot_engine::dialogue::Engine::new(
                deskbot_engine::catalog::Catalog::builtin().unwrap(),
            )
            .unwrap(),
        );
        // A fixed clock: all three messages fall in one flood window whatever the machine.
        let desk = Desk::open(engine, dir.path())
            .unwrap()
            .with_clock(std::sync::Arc::new(|| 1_700_000_000_000))
            .with_flood(deskbot_desk::flood::FloodLimits::new(1, 60));
        let handler = Handler::new(desk.clone(), vec![], vec![], None, Policy::DELIVERY);
        let queued = || desk.store().outbox_pending(outbox::CHANNEL, "555").unwrap();
        let mut counts = Vec::new();
        for i in 0..3 {
            handler
                .turn_queued(
                    42,
                    None,
                    Input::Text("hello".into()),
                    555,
                    None,
                    &format!("n{i}"),
                    true,
                )
                .await
                .unwrap();
            counts.push(queued().len());
        }
        assert!(counts[0] >= 1 && counts[1] > counts[0], "{counts:?}");
        assert_eq!(counts[2], counts[1], "the ignored message queued something");
        // Each queued reply, rendered as it is at send time, says something.
        for (_, bytes) in queued() {
            let e = deskbot_desk::outbox::Envelope::decode(&bytes).unwrap();
            let route: Route = serde_json::from_value(e.route).unwrap();
            let messages = rendered(&e.reply, route.owner);
            assert!(!messages.is_empty());
            for q in outbox::queue(route.channel, messages, route.reply_to, &e.nonce) {
                assert!(!q.message.content.trim().is_empty() || !q.message.rows.is_empty());
            }
        }
    }

    /// A panic in an event's handling ends that event only: counted, and the handler is
    /// not left busy (shutdown would wait for it) or unusable.
    #[tokio::test]
    async fn a_panicking_event_is_caught_counted_and_leaves_nothing_busy() {
        let dir = tempfile::tempdir().unwrap();
        let engine = std::sync::Arc::new(
            deskbot_engine::dialogue::Engine::new(
                deskbot_engine::catalog::Catalog::builtin().unwrap(),
            )
            .unwrap(),
        );
        let desk = Desk::open(engine, dir.path()).unwrap();
        let events = Events(Arc::new(Handler::new(
            desk,
            vec![],
            vec![],
            None,
            Policy::DELIVERY,
        )));
        let count = || {
            deskbot_desk::metrics::global()
                .encode()
                .lines()
                .filter(|l| {
                    l.starts_with("deskbot_panics_total")
                        && l.contains("channel=\"discord\"")
                        && l.contains("task=\"handler\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let before = count();
        events
            .guarded("test", |_| async { panic!("a handler bug") })
            .await;
        assert_eq!(count(), before + 1.0);
        assert_eq!(events.0.inflight.drained(Duration::ZERO).await, 0);
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        events
            .guarded(
                "test",
                move |_| async move { r.store(true, Ordering::SeqCst) },
            )
            .await;
        assert!(ran.load(Ordering::SeqCst), "the next event is handled");
    }

    #[test]
    fn a_silent_reply_renders_to_nothing_and_queues_nothing() {
        for text in ["", "  \n "] {
            let silent = Reply::text(text);
            assert!(render::is_silent(&silent));
            assert!(rendered(&silent, 7).is_empty(), "{text:?}");
            assert!(outbox::queue(5, rendered(&silent, 7), Some(9), "n").is_empty());
        }
        // Text, or buttons alone, are not silent.
        assert_eq!(rendered(&Reply::text("hi"), 7).len(), 1);
        let buttons = Reply {
            text: String::new(),
            buttons: vec![Button {
                id: "1:yes".into(),
                label: "Yes".into(),
            }],
        };
        assert!(!render::is_silent(&buttons));
        assert_eq!(rendered(&buttons, 7).len(), 1);
    }
}

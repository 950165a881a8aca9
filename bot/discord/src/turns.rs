//! Users' turns: a DM, a mention in a support channel, a button press or a slash command
//! becomes an engine turn through the desk, its reply queued for the send loop (or, for an
//! interaction, answered in place). An interaction's `locale` (the user's Discord language)
//! goes with its turn, so a new conversation starts in it; messages carry no locale.

use std::sync::atomic::Ordering;

use deskbot_engine::dialogue::{Input, Reply};
use deskbot_storage::{ConvKey, Speaker, TranscriptEntry};
use serenity::all::{
    CommandInteraction, ComponentInteraction, Http, Message, MessageFlags, MessageReference,
    MessageType, User,
};

use super::custom_id::{self, Press};
use super::outbox::{self, Route};
use super::route::{self, Incoming, Place};
use crate::sending::send_reply;
use crate::users::remember_dm;
use deskbot_desk::desk::TurnRequest;
use deskbot_desk::handoff::attachment_note;
use deskbot_desk::handoff::buttons::TicketButton;
use deskbot_desk::outbox::{Address, Delivery};

use crate::handler::Handler;
use crate::interactions::Respond;
use crate::interactions::acknowledge;
use crate::interactions::defer;
use crate::interactions::refusal;
use crate::interactions::refuse;
use deskbot_storage::Platform;

/// Said when the store fails during a turn: the user hears something rather than nothing.
pub(crate) const STORAGE_APOLOGY: &str = "Sorry, something went wrong on my side and I couldn't save that. Please try again in a moment.";
/// Said to someone pressing a button of another user's conversation.
pub(crate) const FOREIGN_BUTTON: &str = "That button belongs to someone else's conversation, so I've left it alone. To get help yourself, mention me or use /support.";
/// Said for a button this bot did not make (or no longer understands).
pub(crate) const UNKNOWN_BUTTON: &str =
    "I can't use that button any more. Send me a message, or use /support, to carry on.";
/// Said for a slash command this bot does not know (an outdated registration).
pub(crate) const UNKNOWN_COMMAND: &str =
    "I don't know that command. Try /support, /help, /reset or /human.";

impl Handler {
    /// Appends attachment notes to `user`'s transcript as their lines. They bypass the
    /// engine, whose masking would break the links' long ids; they are masked for staff by
    /// [`crate::handoff::mask_for_staff`], which keeps Discord attachment links whole.
    pub(crate) async fn note_attachments(&self, user: u64, notes: Vec<String>) {
        let desk = self.desk.clone();
        let key = ConvKey::new(Platform::Discord, user.to_string());
        let at_ms = self.desk.now_ms();
        let lines: Vec<TranscriptEntry> = notes
            .into_iter()
            .map(|text| {
                TranscriptEntry::new(
                    at_ms,
                    Speaker::User,
                    deskbot_desk::desk::cut(&text, deskbot_desk::desk::TRANSCRIPT_CHARS),
                )
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
    /// Runs one engine turn off the async workers (the store fsyncs). `locale` is the
    /// interaction's (the user's Discord language, "pt-BR"): a new conversation starts in it.
    /// A storage failure is logged and answered with an apology, so the user is never left
    /// without a reply.
    pub(crate) async fn turn(
        &self,
        user: u64,
        name: Option<String>,
        input: Input,
        locale: Option<String>,
    ) -> Reply {
        let desk = self.desk.clone();
        let key = ConvKey::new(Platform::Discord, user.to_string());
        let joined = tokio::task::spawn_blocking(move || {
            desk.turn(
                &TurnRequest::new(&key, &input)
                    .name(name.as_deref())
                    .locale(locale.as_deref()),
            )
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
    pub(crate) async fn on_message(&self, http: &Http, msg: Message) {
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
                send_reply(
                    http,
                    self.desk.metrics(),
                    msg.channel_id,
                    &apology,
                    user,
                    reference,
                    &nonce,
                )
                .await;
            }
        }
    }
    /// Runs one turn whose reply goes to `channel`, queueing the reply's messages in the
    /// outbox in the same transaction (and, for a DM, remembering that `channel` is the user's
    /// DM channel, where staff replies go). On a storage failure, returns the apology to send
    /// directly instead.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn turn_queued(
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
        let key = ConvKey::new(Platform::Discord, user.to_string());
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
    pub(crate) async fn on_component(&self, http: &Http, c: ComponentInteraction) {
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
            .turn(
                presser,
                display_name(&c.user),
                Input::Button(engine_id),
                interaction_locale(&c.locale),
            )
            .await;
        let to = Respond {
            metrics: self.desk.metrics(),
            token: &c.token,
            acked,
            ephemeral,
            channel: c.channel_id,
            nonce: format!("i{:x}", c.id.get()),
        };
        to.deliver(http, &reply, presser).await;
    }
    pub(crate) async fn on_command(&self, http: &Http, cmd: CommandInteraction) {
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
            .turn(
                user,
                display_name(&cmd.user),
                Input::Text(text),
                interaction_locale(&cmd.locale),
            )
            .await;
        let to = Respond {
            metrics: self.desk.metrics(),
            token: &cmd.token,
            acked,
            ephemeral,
            channel: cmd.channel_id,
            nonce: format!("i{:x}", cmd.id.get()),
        };
        to.deliver(http, &reply, user).await;
    }
}
/// `text` followed by a note with the link of each of the message's attachments.
pub(crate) fn with_attachments(text: &str, msg: &Message) -> String {
    let mut out = text.trim_end().to_string();
    for a in &msg.attachments {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&attachment_note(&a.filename, &a.url));
    }
    out
}

/// The longest interaction `locale` kept (Discord's are like "en-US"; anything longer is not
/// a locale).
const MAX_LOCALE: usize = 35;

/// An interaction's `locale` (the user's Discord language), when it says one.
pub(crate) fn interaction_locale(locale: &str) -> Option<String> {
    let locale = locale.trim();
    (!locale.is_empty() && locale.len() <= MAX_LOCALE).then(|| locale.to_string())
}

/// The name a ticket shows for `user`.
pub(crate) fn display_name(user: &User) -> Option<String> {
    Some(
        user.global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
    )
}

#[cfg(test)]
mod tests {
    use deskbot_desk::desk::Desk;

    use super::*;
    use crate::outbox;
    use crate::retry::Policy;

    #[test]
    fn an_interactions_locale_is_kept_when_it_is_one() {
        assert_eq!(interaction_locale("pt-BR").as_deref(), Some("pt-BR"));
        assert_eq!(interaction_locale(" ru ").as_deref(), Some("ru"));
        assert_eq!(interaction_locale(""), None);
        assert_eq!(interaction_locale(&"x".repeat(100)), None);
    }

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
            let messages = outbox::render_envelope(&e).unwrap();
            assert!(!messages.is_empty());
            for q in messages {
                assert!(!q.message.content.trim().is_empty() || !q.message.rows.is_empty());
            }
        }
    }
}

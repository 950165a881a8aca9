//! The staff side in the Discord channel: a message in a ticket's thread (or a reply in the
//! staff channel) and the Claim/Close buttons, handed to the handoff relay.

use serenity::all::{
    ComponentInteraction, CreateInteractionResponse, CreateInteractionResponseFollowup, Http,
    Message,
};

use super::render;
use crate::sending::allowed_mentions;
use crate::staff_side::PLATFORM as STAFF_PLATFORM;
use crate::staff_side::{GuildMessage, on_guild_message};
use deskbot_desk::handoff::relay::{Author, NOT_STAFF};

use crate::handler::Handler;
use crate::interactions::acknowledge;
use crate::interactions::refusal;
use crate::interactions::refuse;
use crate::turns::UNKNOWN_BUTTON;
use crate::turns::display_name;
use crate::turns::with_attachments;

/// Said when a Claim/Close press could not be carried out (the relay failed).
pub(crate) const TICKET_BUTTON_FAILED: &str =
    "That did not go through; nothing was changed. Please try again in a moment.";

impl Handler {
    /// Hands a guild message written by a person in a ticket thread to the relay; true when
    /// it was one (handled or failed), false for every other message.
    pub(crate) async fn staff_thread_message(&self, msg: &Message) -> bool {
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
    pub(crate) async fn on_ticket_button(
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
}

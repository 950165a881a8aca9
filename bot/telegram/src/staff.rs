//! The handoff's staff group as the Telegram channel sees it: messages in a ticket's forum
//! topic, or replies to a ticket's messages, go to the relay ([`StaffInbox::staff_message`]);
//! Claim / Close presses become the `claim` / `close` commands. Nothing there is a bot
//! conversation.
//!
//! Who is staff: the group's administrators (`getChatAdministrators`, cached for
//! [`ADMINS_TTL`]) and the listed user ids. Anyone else is refused by the relay (a message) or
//! by the button's answer (a press), and nothing changes.
//!
//! Durability: a staff update is in the inbox like any other and leaves it once the relay has
//! handled it (with the callback answer queued in the same write), so an update received
//! before a crash is handled at the next start. The relay step and the removal are not one
//! transaction: a crash between them handles that staff message again (at least once).

use std::collections::HashSet;
use std::time::Instant;

use deskbot_storage::{ChannelWrite, StorageError};
use teloxide::requests::{Request, Requester};
use teloxide::types::ChatId;

use super::inbound::{Event, Inbound};
use super::outbound::Outgoing;
use super::{CHANNEL, Ctx, TelegramHandoff, encode};
use crate::delivery::{Failure, with_retries};
use crate::staff_side::{ADMINS_TTL, ticket_for_message, ticket_for_topic};
use deskbot_desk::handoff::buttons::TicketButton;
use deskbot_desk::handoff::relay::{Author, Handled};

/// What a non-staff member pressing Claim or Close is told (at most 200 characters).
pub const NOT_STAFF_BUTTON: &str =
    "Only support staff can claim or close tickets; nothing was changed.";

/// Attempts at `getChatAdministrators` before deciding without it.
const ADMIN_ATTEMPTS: u32 = 4;

/// The staff group: the handoff settings and the cached administrator list.
pub(super) struct StaffGroup {
    pub(super) handoff: TelegramHandoff,
    admins: tokio::sync::Mutex<Option<(Instant, HashSet<u64>)>>,
}

impl StaffGroup {
    pub(super) fn new(handoff: TelegramHandoff) -> Self {
        Self {
            handoff,
            admins: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether `user` is staff: listed, or an administrator of the staff group.
    async fn is_staff(&self, ctx: &Ctx, user: u64) -> bool {
        if self.handoff.staff_user_ids.contains(&user) {
            return true;
        }
        self.admins(ctx)
            .await
            .is_some_and(|admins| admins.contains(&user))
    }

    /// The administrators (owner included), asked again once the cached list is older than
    /// [`ADMINS_TTL`]. When Telegram cannot be asked, the last list known is used; with none,
    /// nobody counts as an administrator (refusing is the safe side).
    async fn admins(&self, ctx: &Ctx) -> Option<HashSet<u64>> {
        let mut cache = self.admins.lock().await;
        if let Some((at, set)) = cache.as_ref()
            && at.elapsed() < ADMINS_TTL
        {
            return Some(set.clone());
        }
        let chat = ChatId(self.handoff.staff_chat);
        let asked = with_retries(
            &ctx.api,
            "getChatAdministrators",
            ADMIN_ATTEMPTS,
            &ctx.shutdown,
            || ctx.api.raw.get_chat_administrators(chat).send(),
        )
        .await;
        match asked {
            Ok(members) => {
                let set: HashSet<u64> = members
                    .iter()
                    .filter(|m| m.is_privileged())
                    .map(|m| m.user.id.0)
                    .collect();
                *cache = Some((Instant::now(), set.clone()));
                Some(set)
            }
            Err((Failure::Accepted(result), _)) => {
                // Answered, but teloxide cannot read it: the ids from the JSON.
                let set: HashSet<u64> = result
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| matches!(m["status"].as_str(), Some("creator" | "administrator")))
                    .filter_map(|m| m["user"]["id"].as_u64())
                    .collect();
                *cache = Some((Instant::now(), set.clone()));
                Some(set)
            }
            Err((_, error)) => {
                tracing::warn!(%error, "cannot list the staff group's administrators");
                cache.as_ref().map(|(_, set)| set.clone())
            }
        }
    }
}

/// Which ticket a staff group message belongs to: its forum topic's, else the one of the
/// message it replies to (a stored route, or the ticket mark of a bot message).
fn ticket_of(
    store: &deskbot_storage::Store,
    chat: i64,
    thread: Option<i32>,
    reply_to: Option<i32>,
    reply_mark: Option<u64>,
) -> Result<Option<u64>, StorageError> {
    if let Some(t) = thread
        && let Some(n) = ticket_for_topic(store, chat, t)?
    {
        return Ok(Some(n));
    }
    if let Some(r) = reply_to
        && let Some(n) = ticket_for_message(store, chat, r)?
    {
        return Ok(Some(n));
    }
    Ok(reply_mark)
}

/// Handles a staff group update, then removes it from the inbox (queuing the callback
/// answer, if any).
pub(super) async fn handle(ctx: &Ctx, id: u64, inbound: Inbound) {
    let Some(group) = &ctx.staff else {
        // No handoff any more: the regular path drops it.
        super::handle(ctx, id, inbound).await;
        return;
    };
    let chat = inbound.chat;
    let calls = match inbound.event {
        Event::Staff {
            from,
            message,
            thread,
            reply_to,
            reply_mark,
            text,
            anonymous_admin,
        } => {
            let store = ctx.desk.store().clone();
            let number = tokio::task::spawn_blocking(move || {
                ticket_of(&store, chat, thread, reply_to, reply_mark)
            })
            .await;
            match number {
                Ok(Ok(Some(number))) => {
                    let author = Author {
                        name: from.name,
                        is_staff: anonymous_admin || group.is_staff(ctx, from.id).await,
                        message_id: message.to_string(),
                    };
                    match group
                        .handoff
                        .relay
                        .staff_message(number, &author, &text)
                        .await
                    {
                        Ok(handled) => {
                            tracing::debug!(ticket = number, ?handled, "staff message handled");
                        }
                        Err(e) => {
                            tracing::warn!(ticket = number, error = %e, "staff message failed");
                        }
                    }
                }
                Ok(Ok(None)) => tracing::debug!(chat, "staff group message outside tickets"),
                Ok(Err(e)) => {
                    // Left in the inbox: handled again at the next start.
                    tracing::error!(update = id, error = %e, "cannot look up a staff message's ticket");
                    return;
                }
                Err(_) => return,
            }
            Vec::new()
        }
        Event::StaffButton { from, query, data } => {
            let answer = match TicketButton::parse(&data) {
                None => None,
                Some(_) if !group.is_staff(ctx, from.id).await => {
                    Some(NOT_STAFF_BUTTON.to_string())
                }
                Some((button, number)) => {
                    let author = Author {
                        name: from.name,
                        is_staff: true,
                        message_id: format!("q{query}"),
                    };
                    let handled = group
                        .handoff
                        .relay
                        .staff_message(number, &author, button.command())
                        .await;
                    Some(match (handled, button) {
                        (Ok(Handled::Command(_)), TicketButton::Claim) => {
                            format!("Ticket #{number} is yours.")
                        }
                        (Ok(Handled::Command(_)), TicketButton::Close) => {
                            format!("Ticket #{number} closed.")
                        }
                        (Ok(_), _) => format!("Nothing changed on ticket #{number}."),
                        (Err(e), _) => {
                            tracing::warn!(ticket = number, error = %e, "staff button failed");
                            "That did not work; please try again.".to_string()
                        }
                    })
                }
            };
            vec![Outgoing::Answer {
                query,
                text: answer,
            }]
        }
        _ => {
            super::handle(ctx, id, inbound).await;
            return;
        }
    };
    let store = ctx.desk.store().clone();
    let write = ChannelWrite {
        channel: CHANNEL.to_string(),
        consumed: Some(id),
        target: chat.to_string(),
        outbox: encode(calls),
        ..ChannelWrite::default()
    };
    match tokio::task::spawn_blocking(move || store.channel_commit(&write)).await {
        Ok(Ok(()) | Err(StorageError::AlreadyHandled { .. })) => {}
        Ok(Err(e)) => tracing::error!(update = id, error = %e, "cannot record a staff update"),
        Err(_) => {}
    }
}

//! The Discord staff side: a public thread per ticket in the staff channel, started from the
//! ticket's first message (with Claim and Close buttons), relayed lines posted in the thread.
//!
//! Every message is markdown-escaped (user text shows as typed), split under Discord's 2000
//! characters, sent with allowed mentions empty (nothing pings) and with a nonce under
//! `enforce_nonce`, derived from the relay's item id, so a repeat after a lost response or a
//! restart posts nothing twice (within Discord's nonce window).
//!
//! Opening a ticket is idempotent, so a crash or a lost response before the relay stored the
//! thread's location opens no second thread: the first message is posted in the staff
//! channel with a nonce derived from the ticket number (a repeat gets the earlier message
//! back), and the thread is started *from* that message. Such a thread has the message's id,
//! and a message holds one thread only: when Discord answers that one was already started
//! (JSON error 160004), the message id is the thread id. A first message over 2000
//! characters starts the thread from its first part; the later parts go in the thread.
//!
//! Past Discord's nonce window (a few minutes) a repeat posts a new first message and starts
//! a new thread from it. That needs the process to stay down that long between posting and
//! the relay storing the location, which it does right after `open` returns; the orphaned
//! message's buttons are then refused like any button outside a ticket's thread. Finding the
//! earlier thread by name instead would need a guild-wide thread listing on every open.

use std::sync::Arc;

use deskbot_storage::{RouteKind, StaffLocation, Ticket};
use serenity::all::{
    AutoArchiveDuration, ButtonStyle, ChannelId, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateMessage, CreateThread, EditThread, Http, HttpError, MessageId, Nonce,
};

use crate::render::{escape_markdown, split_message};
use deskbot_desk::handoff::buttons::TicketButton;
use deskbot_desk::handoff::lifecycle::{ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{
    Author, BadLocation, Handled, RelayError, StaffInbox, StaffSide,
};
use deskbot_desk::metrics::Metrics;

/// The platform name in [`StaffLocation`]s.
pub const PLATFORM: &str = deskbot_storage::Platform::Discord.as_str();

/// The side named in this staff side's errors.
const SIDE: &str = "Discord staff channel";

/// Discord's message length limit (characters as Discord counts them).
const MAX_MESSAGE: usize = 2000;

/// Discord's JSON error code for "a thread has already been created for this message".
pub const THREAD_ALREADY_CREATED: isize = 160_004;

/// A nonce Discord accepts (at most 25 characters) for a relay item id: FNV-1a, so it is the
/// same after a restart.
pub fn nonce_for(item: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in item.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("h{h:016x}")
}

/// The thread a ticket button press belongs to: the channel it was pressed in, or, for a
/// press in the staff channel itself, the thread started from the pressed message (a ticket's
/// first message, whose thread has the message's id).
pub fn thread_of_press(staff_channel: u64, channel: u64, message: u64) -> u64 {
    if channel == staff_channel {
        message
    } else {
        channel
    }
}

/// Discord's JSON error code for "thread is archived" (an archived thread can only be
/// unarchived, so archiving it again is refused with it).
pub const THREAD_ARCHIVED: isize = 50_083;

/// How Discord's answer to archiving (`archive`) or unarchiving a thread reads: done, never
/// possible (the thread is gone, no permission), or worth a retry (`Err`: rate limits,
/// Discord's own errors, the network).
fn thread_change(archive: bool, e: &serenity::Error) -> Result<ThreadChange, String> {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            if archive && r.error.code == THREAD_ARCHIVED {
                Ok(ThreadChange::Done)
            } else if status == 429 || status >= 500 {
                Err(e.to_string())
            } else {
                Ok(ThreadChange::Impossible(e.to_string()))
            }
        }
        _ => Err(e.to_string()),
    }
}

/// Whether `e` is Discord saying the message already has a thread (error 160004).
fn thread_already_created(e: &serenity::Error) -> bool {
    matches!(
        e,
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
            if r.error.code == THREAD_ALREADY_CREATED
    )
}

/// The Discord staff side of the relay.
#[derive(Debug, Clone)]
pub struct DiscordStaff {
    http: Arc<Http>,
    channel: ChannelId,
    metrics: Arc<Metrics>,
}

impl DiscordStaff {
    /// Opens ticket threads in `staff_channel` through `http`, counting unreadable answers
    /// in `metrics` (the desk's).
    pub fn new(http: Arc<Http>, staff_channel: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            http,
            channel: ChannelId::new(staff_channel),
            metrics,
        }
    }

    /// Posts one part in `channel` with the nonce of `item`'s part `i` (and the ticket's
    /// buttons when `buttons` holds its number); returns the message id, `None` when Discord
    /// took the message but its answer could not be read (counted; never posted again).
    async fn send_part(
        &self,
        channel: ChannelId,
        part: String,
        buttons: Option<u64>,
        item: &str,
        i: usize,
    ) -> Result<Option<MessageId>, RelayError> {
        let mut b = CreateMessage::new()
            .content(part)
            .allowed_mentions(CreateAllowedMentions::new())
            .nonce(Nonce::String(nonce_for(&format!("{item}.{i}"))))
            .enforce_nonce(true);
        if let Some(number) = buttons {
            b = b.components(vec![CreateActionRow::Buttons(vec![
                CreateButton::new(TicketButton::Claim.data(number))
                    .label("Claim")
                    .style(ButtonStyle::Primary),
                CreateButton::new(TicketButton::Close.data(number))
                    .label("Close")
                    .style(ButtonStyle::Danger),
            ])]);
        }
        match channel.send_message(&*self.http, b).await {
            Ok(m) => Ok(Some(m.id)),
            Err(e) if crate::poison::unreadable_answer(&self.metrics, "createMessage", &e) => {
                Ok(None)
            }
            Err(e) => Err(RelayError::Call {
                side: SIDE,
                call: "createMessage",
                detail: e.to_string(),
            }),
        }
    }

    /// Posts `text` in `thread`, split and escaped.
    async fn send(&self, thread: ChannelId, text: &str, item: &str) -> Result<(), RelayError> {
        for (i, part) in split_message(&escape_markdown(text), MAX_MESSAGE)
            .into_iter()
            .enumerate()
        {
            self.send_part(thread, part, None, item, i).await?;
        }
        Ok(())
    }

    /// Starts ticket `number`'s thread from `message` in the staff channel, or finds the one
    /// started before (it has the message's id).
    async fn start_thread(&self, message: MessageId, number: u64) -> Result<ChannelId, RelayError> {
        let builder = CreateThread::new(format!("ticket-{number}"))
            .auto_archive_duration(AutoArchiveDuration::OneWeek);
        match self
            .channel
            .create_thread_from_message(&*self.http, message, builder)
            .await
        {
            Ok(thread) => Ok(thread.id),
            Err(e) if thread_already_created(&e) => Ok(ChannelId::new(message.get())),
            Err(e) => Err(RelayError::Call {
                side: SIDE,
                call: "startThreadFromMessage",
                detail: e.to_string(),
            }),
        }
    }
}

impl StaffSide for DiscordStaff {
    async fn open(&self, ticket: &Ticket, first: &str) -> Result<StaffLocation, RelayError> {
        let number = ticket.number;
        let item = format!("open{number}");
        let parts = split_message(&escape_markdown(first), MAX_MESSAGE);
        let last = parts.len().saturating_sub(1);
        let mut parts = parts.into_iter().enumerate();
        let (_, head) = parts.next().ok_or(RelayError::Empty)?;
        // The buttons go on the last part, as for any split message.
        let message = self
            .send_part(self.channel, head, (last == 0).then_some(number), &item, 0)
            .await?
            // The thread starts from this message, so its id is needed: the relay tries the
            // open again, and the nonce makes Discord answer with the same message.
            .ok_or(RelayError::UnreadableAnswer {
                side: SIDE,
                call: "createMessage",
            })?;
        let thread = self.start_thread(message, number).await?;
        for (i, part) in parts {
            self.send_part(thread, part, (i == last).then_some(number), &item, i)
                .await?;
        }
        Ok(StaffLocation {
            platform: PLATFORM.to_string(),
            chat: self.channel.get().to_string(),
            thread: Some(thread.get().to_string()),
            message: Some(message.get().to_string()),
        })
    }

    async fn post(&self, at: &StaffLocation, text: &str, nonce: &str) -> Result<(), RelayError> {
        let thread = at
            .thread
            .as_deref()
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|t| *t != 0)
            .ok_or_else(|| RelayError::bad_location(SIDE, at, BadLocation::NoThread))?;
        self.send(ChannelId::new(thread), text, nonce).await
    }

    /// Archives the ticket's thread (closed) or unarchives it (open): `PATCH
    /// /channels/{thread}` with `archived`. Not locked: staff without Manage Threads can still
    /// write `reopen` in an archived thread (their message unarchives it, as Discord does for
    /// any unlocked thread), and the bot needs no Manage Threads for its own threads.
    async fn set_thread(
        &self,
        at: &StaffLocation,
        state: ThreadState,
    ) -> Result<ThreadChange, RelayError> {
        let Some(thread) = at
            .thread
            .as_deref()
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|t| *t != 0)
        else {
            return Ok(ThreadChange::Impossible(
                "the ticket has no thread id".into(),
            ));
        };
        let archive = state == ThreadState::Closed;
        match ChannelId::new(thread)
            .edit_thread(&*self.http, EditThread::new().archived(archive))
            .await
        {
            Ok(_) => Ok(ThreadChange::Done),
            // Done, but the answer could not be read.
            Err(e) if crate::poison::unreadable_answer(&self.metrics, "modifyChannel", &e) => {
                Ok(ThreadChange::Done)
            }
            Err(e) => thread_change(archive, &e).map_err(|detail| RelayError::Call {
                side: SIDE,
                call: "modifyChannel",
                detail,
            }),
        }
    }
}

/// A guild message as the staff side needs it (taken from serenity's `Message`, whose
/// `member.roles` carries the author's roles in guild channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildMessage<'a> {
    /// The channel (a ticket thread, perhaps).
    pub channel: u64,
    /// The message id.
    pub message_id: u64,
    /// The author's display name.
    pub author_name: &'a str,
    /// Whether a bot wrote it (the bot's own relayed lines come back as events).
    pub author_is_bot: bool,
    /// The author's role ids in the guild.
    pub roles: &'a [u64],
    /// The text.
    pub content: &'a str,
}

/// Handles a guild message for the handoff: when it was written by a person in a ticket's
/// thread of `staff_channel`, it goes to the relay's
/// [`staff_message`](super::relay::Relay::staff_message) with the author counted
/// as staff only when they hold `staff_role`. `None` for messages the handoff does not own
/// (other channels, bots), which the rest of the Discord channel handles as before.
pub async fn on_guild_message(
    relay: &dyn StaffInbox,
    staff_channel: u64,
    staff_role: u64,
    msg: &GuildMessage<'_>,
) -> Result<Option<Handled>, RelayError> {
    if msg.author_is_bot {
        return Ok(None);
    }
    let (store, thread) = (relay.desk().store().clone(), msg.channel.to_string());
    let number = tokio::task::spawn_blocking(move || {
        store.ticket_at_staff(
            PLATFORM,
            &staff_channel.to_string(),
            RouteKind::Thread,
            &thread,
        )
    })
    .await??;
    let Some(number) = number else {
        return Ok(None);
    };
    let author = Author {
        name: msg.author_name.to_string(),
        is_staff: msg.roles.contains(&staff_role),
        message_id: msg.message_id.to_string(),
    };
    relay
        .staff_message(number, &author, msg.content)
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_and_are_stable() {
        let n = nonce_for("t12.18446744073709551615.3");
        assert!(n.len() <= 25);
        assert_eq!(n, nonce_for("t12.18446744073709551615.3"));
        assert_ne!(n, nonce_for("t12.18446744073709551615.4"));
    }

    #[test]
    fn a_press_on_the_first_message_in_the_staff_channel_belongs_to_its_thread() {
        assert_eq!(thread_of_press(7, 7, 55), 55);
        assert_eq!(thread_of_press(7, 55, 56), 55);
        assert_eq!(thread_of_press(7, 9, 56), 9);
    }
}

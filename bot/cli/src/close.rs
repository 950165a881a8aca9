//! Closing a ticket from outside a platform (`deskbot tickets close`): the user is told in
//! their platform's outbox, which the running bot sends, or does at its next start; the
//! ticket's staff thread is queued to be archived (Discord) or its forum topic closed
//! (Telegram) the same way ([`deskbot_desk::handoff::lifecycle`]).

use deskbot_desk::desk::Desk;
use deskbot_discord::users as discord_users;
use deskbot_storage::{ConvKey, Platform, StorageError, TicketEvent, TicketEventKind};

/// A ticket closed by [`close_ticket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The conversation it belonged to.
    pub user: ConvKey,
    /// What the user is told.
    pub text: String,
    /// Whether that message was queued for delivery (Telegram users, through the outbox);
    /// false for channels this function cannot reach on its own.
    pub queued_for_user: bool,
}

/// Closes open ticket `number` on behalf of `by` (a staff member, or `operator`), records
/// the close with its note in the ticket's history, and queues the close message (with its
/// rating buttons) in the user's platform outbox: a Telegram user's private chat, or a Discord
/// user's DM channel when it is known. The running bot sends it, or does at its next start,
/// and then archives the ticket's staff thread, queued here too. `None` when there is no such
/// open ticket; nothing changes then.
pub fn close_ticket(
    desk: &Desk,
    number: u64,
    by: &str,
    note: Option<&str>,
) -> Result<Option<Closed>, StorageError> {
    let Some((user, reply)) = desk.close_ticket(number)? else {
        return Ok(None);
    };
    desk.store().add_ticket_event(
        number,
        &TicketEvent {
            at_ms: desk.now_ms(),
            kind: TicketEventKind::Closed,
            by: by.to_string(),
            note: note.map(str::to_string),
        },
    )?;
    let mut queued_for_user = false;
    if user.platform == Platform::Telegram
        && let Ok(chat) = user.user.parse::<i64>()
    {
        deskbot_telegram::users::queue_reply(desk.store(), chat, &reply)?;
        queued_for_user = true;
    } else if user.platform == Platform::Discord
        && let Ok(id) = user.user.parse::<u64>()
        && let Some(dm) = discord_users::known_dm(desk.store(), id)?
    {
        // A Discord user whose DM channel is known (every DM turn records it) is told there;
        // one who only used a support channel is not (opening a DM needs the API).
        discord_users::queue_reply(desk.store(), id, dm, &reply, &format!("close{number}"))?;
        queued_for_user = true;
    }
    deskbot_desk::handoff::lifecycle::queue(desk.store(), number)?;
    Ok(Some(Closed {
        user,
        text: reply.text,
        queued_for_user,
    }))
}

#[cfg(test)]
mod tests {
    use deskbot_storage::Platform;
    use std::sync::Arc;

    use deskbot_desk::handoff::ticket_summary;
    use deskbot_engine::catalog::Catalog;
    use deskbot_engine::dialogue::{Engine, Input};
    use deskbot_storage::TicketStatus;

    use super::*;

    fn desk() -> (tempfile::TempDir, Desk) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
        let desk = Desk::open(engine, dir.path()).unwrap();
        (dir, desk)
    }

    fn text(t: &str) -> Input {
        Input::Text(t.to_string())
    }

    #[test]
    fn close_tells_a_telegram_user_through_the_outbox_and_records_who() {
        let (_dir, desk) = desk();
        let key = ConvKey::new(Platform::Telegram, "42");
        let number = desk
            .handle(&key, Some("Ann"), &text("/human"))
            .unwrap()
            .opened_ticket
            .unwrap();
        let closed = close_ticket(&desk, number, "operator", Some("done"))
            .unwrap()
            .unwrap();
        assert!(closed.queued_for_user);
        assert_eq!(closed.user, key);
        let queued = desk.store().outbox_pending("telegram", "42").unwrap();
        assert_eq!(queued.len(), 1);
        // As the send loop will render it for Telegram.
        let envelope = deskbot_desk::outbox::Envelope::decode(&queued[0].1).unwrap();
        let calls = serde_json::from_value::<deskbot_telegram::outbound::Route>(envelope.route)
            .unwrap()
            .calls(&envelope.reply);
        assert_eq!(calls.len(), 1);
        let call = calls[0].clone();
        assert!(
            matches!(&call, deskbot_telegram::outbound::Outgoing::Send { chat: 42, text, .. } if text.contains(&format!("#{number}"))),
            "{call:?}"
        );
        // The close message keeps its rating buttons on Telegram too.
        let deskbot_telegram::outbound::Outgoing::Send { buttons, .. } = &call else {
            panic!("{call:?}");
        };
        let labels: Vec<&str> = buttons.iter().map(|(_, l)| l.as_str()).collect();
        assert!(
            labels.len() == 2
                && labels.iter().any(|l| l.contains('👍'))
                && labels.iter().any(|l| l.contains('👎')),
            "{labels:?}"
        );
        let ticket = desk.store().ticket(number).unwrap().unwrap();
        assert_eq!(ticket.status, TicketStatus::Closed);
        let events = desk.store().ticket_events(number).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, TicketEventKind::Closed);
        assert_eq!(
            (events[0].by.as_str(), events[0].note.as_deref()),
            ("operator", Some("done"))
        );
        assert_eq!(desk.conversation(&key).unwrap().ticket(), None);
        // Its staff thread is queued to be archived by the running bot.
        assert_eq!(
            deskbot_desk::handoff::lifecycle::queued(desk.store()).unwrap(),
            vec![number]
        );
        // Closing again changes nothing.
        assert_eq!(close_ticket(&desk, number, "operator", None).unwrap(), None);
        assert_eq!(
            desk.store()
                .outbox_pending(
                    deskbot_desk::handoff::lifecycle::CHANNEL,
                    &number.to_string()
                )
                .unwrap()
                .len(),
            1
        );
        assert_eq!(desk.store().ticket_events(number).unwrap().len(), 1);
        assert_eq!(
            desk.store().outbox_pending("telegram", "42").unwrap().len(),
            1
        );
        // A console user is closed but not told through an outbox.
        let console = ConvKey::new(Platform::Console, "bob");
        let n2 = desk
            .handle(&console, None, &text("/human"))
            .unwrap()
            .opened_ticket
            .unwrap();
        let closed = close_ticket(&desk, n2, "operator", None).unwrap().unwrap();
        assert!(!closed.queued_for_user);
        assert!(ticket_summary(&desk.store().ticket(n2).unwrap().unwrap()).contains("closed"));
        // A Discord user is told in their remembered DM channel; one with no known DM is not.
        let store = desk.store();
        store
            .channel_commit(&deskbot_storage::ChannelWrite {
                channel: "discord".into(),
                target: "900".into(),
                marks: vec![discord_users::remember_dm(7, 900)],
                ..deskbot_storage::ChannelWrite::default()
            })
            .unwrap();
        for (user, told) in [("7", true), ("8", false)] {
            let key = ConvKey::new(Platform::Discord, user);
            let n = desk
                .handle(&key, None, &text("/human"))
                .unwrap()
                .opened_ticket
                .unwrap();
            let closed = close_ticket(&desk, n, "operator", None).unwrap().unwrap();
            assert_eq!(closed.queued_for_user, told, "user {user}");
        }
        let queued = store.outbox_pending("discord", "900").unwrap();
        assert!(!queued.is_empty());
        let envelope = deskbot_desk::outbox::Envelope::decode(&queued[0].1).unwrap();
        let first = deskbot_discord::outbox::render_envelope(&envelope).unwrap()[0].clone();
        assert!(format!("{first:?}").contains("closed"), "{first:?}");
    }
}

//! Human handoff: what staff see of a ticket, the staff commands, how staff messages reach
//! the user, and closing a ticket from outside a platform (the operator CLI).
//!
//! The pieces here are platform-neutral and plain text: each adapter escapes the text for
//! its own format (Discord markdown, Telegram plain text) when it sends it.
//!
//! How it runs ([`wiring`], started by `deskbot run`):
//!
//! - **User → staff**: a user's turn is stored in their transcript as usual; the [`relay`]
//!   sweeps open tickets (woken by a turn, else every second), opens a ticket's thread on the
//!   staff side its user's platform maps to, and posts the new lines there, behind a durable
//!   cursor.
//! - **Staff → user**: the staff platform's adapter hands a message written in a ticket thread
//!   (or a Claim/Close press) to the relay ([`relay::StaffInbox`]), which checks the author is
//!   staff, applies commands, and queues what the user is told in the *user's* platform outbox
//!   ([`telegram::TelegramUsers`], [`discord_users::DiscordUsers`]); that platform's running
//!   channel is then asked to deliver it, in order and once. The adapters never call each
//!   other.
//! - **Lifecycle**: closing a ticket archives its staff thread (a Discord thread archived, a
//!   Telegram forum topic closed) and reopening opens it again ([`lifecycle`]); idle tickets
//!   are warned and then closed ([`idle`], `[handoff] auto_close_days`).

pub mod buttons;
pub mod idle;
pub mod lifecycle;
pub mod relay;

use deskbot_engine::redact::mask_secrets;
use deskbot_storage::{Ticket, TicketStatus};

/// The most transcript lines shown in a ticket's first staff message (the rest stays in
/// storage and in `deskbot tickets show`).
pub const STAFF_TRANSCRIPT_LINES: usize = 30;

/// A staff command typed in a ticket's thread (or as a reply to its ticket message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffCommand {
    /// Take the ticket.
    Claim,
    /// Close it, with an optional note kept with the ticket.
    Close(Option<String>),
    /// Reopen a closed ticket.
    Reopen,
    /// Send the named canned reply to the user.
    Snippet(String),
    /// Block the user: nothing of theirs is relayed until unblocked.
    Block,
    /// Unblock the user.
    Unblock,
}

impl StaffCommand {
    /// Reads a staff message as a command: `claim`, `close [note]`, `reopen`,
    /// `snippet NAME`, `block`, `unblock`, optionally prefixed with `/` or `!` (and, on
    /// Telegram, suffixed with `@botname`). Anything else is `None`: a message for the user.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let body = text.strip_prefix(['/', '!']).unwrap_or(text);
        let (word, rest) = match body.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (body, ""),
        };
        let word = word.split_once('@').map_or(word, |(w, _)| w);
        let prefixed = body.len() != text.len();
        let cmd = match word.to_ascii_lowercase().as_str() {
            "claim" if rest.is_empty() => Self::Claim,
            "close" => Self::Close((!rest.is_empty()).then(|| rest.to_string())),
            "reopen" if rest.is_empty() => Self::Reopen,
            "snippet" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                Self::Snippet(rest.to_string())
            }
            "block" if rest.is_empty() => Self::Block,
            "unblock" if rest.is_empty() => Self::Unblock,
            _ => return None,
        };
        // "close the app and try again" is a message for the user, not a command: a close
        // with a note needs the `/` or `!` prefix.
        if !prefixed && matches!(cmd, Self::Close(Some(_))) {
            return None;
        }
        Some(cmd)
    }
}

/// The line a priority ticket's staff text starts with ([`staff_ticket_text`]).
pub const PRIORITY_LINE: &str = "🔴 PRIORITY — high-risk case: answer before other tickets";

/// The mark after a priority ticket's line in listings ([`ticket_summary`]).
pub const PRIORITY_MARK: &str = "🔴 PRIORITY";

/// The first message of a ticket's staff thread, as plain text: for a priority ticket, the
/// [`PRIORITY_LINE`] first; then number, platform, user, intent and confidence, the guide
/// steps tried with the answers, and the end of the transcript. The user's lines and answers
/// go through [`mask_secrets`] again, so a code or password stored before masking existed
/// never reaches staff; masking is idempotent, so a line masked when it was stored shows
/// unchanged. The bot's and staff's own lines and the guide steps are shown as they are:
/// they hold no secret of the user's, and masking them garbled them.
pub fn staff_ticket_text(ticket: &Ticket) -> String {
    staff_ticket_text_in(ticket, None)
}

/// [`staff_ticket_text`] with the language the user writes in ("Russian (ru)") on a line of
/// its own after the intent, so staff know what to answer in.
pub fn staff_ticket_text_in(ticket: &Ticket, language: Option<&str>) -> String {
    let mut out = String::new();
    if ticket.priority {
        out.push_str(PRIORITY_LINE);
        out.push('\n');
    }
    out.push_str(&format!(
        "Ticket #{} · {} · {}\n",
        ticket.number,
        ticket.conversation.platform.label(),
        ticket
            .display_name
            .as_deref()
            .map(|n| mask_secrets(n).0)
            .unwrap_or_else(|| format!("user {}", ticket.conversation.user)),
    ));
    match (&ticket.intent, ticket.confidence) {
        (Some(i), Some(c)) => out.push_str(&format!("Intent: {i} ({:.0} %)\n", c * 100.0)),
        (Some(i), None) => out.push_str(&format!("Intent: {i}\n")),
        _ => out.push_str("Intent: not recognised\n"),
    }
    if let Some(language) = language {
        out.push_str(&format!("Language: {language}\n"));
    }
    if ticket.steps_tried.is_empty() {
        out.push_str("Steps tried: none\n");
    } else {
        out.push_str("Steps tried:\n");
        for s in &ticket.steps_tried {
            out.push_str(&format!(
                "- {} step {}: {} → {}\n",
                s.guide,
                s.step,
                s.text,
                mask_secrets(&s.answer).0
            ));
        }
    }
    out.push_str("Transcript:\n");
    let skip = ticket
        .transcript
        .len()
        .saturating_sub(STAFF_TRANSCRIPT_LINES);
    if skip > 0 {
        out.push_str(&format!("(… {skip} earlier lines in storage)\n"));
    }
    for line in &ticket.transcript[skip..] {
        let (who, text) = match line.speaker {
            deskbot_storage::Speaker::User => ("User", mask_for_staff(&line.text)),
            deskbot_storage::Speaker::Bot => ("Bot", line.text.clone()),
            deskbot_storage::Speaker::Staff => ("Staff", line.text.clone()),
        };
        out.push_str(&format!("{who}: {text}\n"));
    }
    out.push_str("Reply here to answer the user. Commands: claim, close [note], reopen, snippet NAME, block, unblock.");
    out
}

/// What staff see of a user's message relayed into the ticket's thread.
pub fn user_message_for_staff(ticket: &Ticket, text: &str) -> String {
    let who = ticket
        .display_name
        .as_deref()
        .unwrap_or(ticket.conversation.user.as_str());
    format!("{}: {}", mask_secrets(who).0, mask_for_staff(text))
}

/// Whether `word`, the link of an attachment note ([`attachment_note`]), is kept whole when
/// a line is masked for staff: an `https` link shaped as chat platforms serve attachments
/// (`…/<numeric id>/<numeric id>/<file name>`, whose long ids look like card numbers to
/// [`mask_secrets`]) with a file name that hides no code or password.
fn is_attachment_link(word: &str) -> bool {
    let Some(rest) = word.strip_prefix("https://") else {
        return false;
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [host, .., channel, id, name]
        if !host.is_empty() && numeric(channel) && numeric(id)
            && !name.is_empty() && !mask_secrets(name).1)
}

/// Whether `pending` ends with the head of an attachment note (`📎 name: ` at the start of a
/// line), so that the next word is the note's link.
fn ends_with_note_head(pending: &str) -> bool {
    let line = pending.rsplit('\n').next().unwrap_or_default();
    line.starts_with("📎 ") && line.ends_with(": ")
}

/// `text` with secrets masked ([`mask_secrets`]) except the links of attachment notes (the
/// lines channels write for a user's attachments, [`attachment_note`]), which masking would
/// break. A link anywhere else is masked like any text.
pub fn mask_for_staff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending = String::new();
    for piece in text.split_inclusive(char::is_whitespace) {
        if ends_with_note_head(&pending) && is_attachment_link(piece.trim_end()) {
            out.push_str(&mask_secrets(&pending).0);
            pending.clear();
            out.push_str(piece);
        } else {
            pending.push_str(piece);
        }
    }
    out.push_str(&mask_secrets(&pending).0);
    out
}

/// The line that stands for an attachment in a relayed message or a transcript: its file name
/// (masked) and its link.
pub fn attachment_note(filename: &str, url: &str) -> String {
    format!("📎 {}: {url}", mask_secrets(filename.trim()).0)
}

/// One line per ticket for listings: number, status, platform and user, intent, and
/// [`PRIORITY_MARK`] for a priority ticket.
pub fn ticket_summary(ticket: &Ticket) -> String {
    format!(
        "#{:<5} {:<6} {:<9} {:<24} {}{}",
        ticket.number,
        match ticket.status {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
        },
        ticket.conversation.platform.label(),
        crate::desk::cut(
            &ticket
                .display_name
                .clone()
                .unwrap_or_else(|| ticket.conversation.user.clone()),
            24
        ),
        ticket.intent.as_deref().unwrap_or("-"),
        if ticket.priority {
            format!("  {PRIORITY_MARK}")
        } else {
            String::new()
        },
    )
}

/// Tickets in the order staff should take them: priority tickets first, then the others,
/// each group by number (for open tickets, the queue's order).
pub fn in_queue_order(tickets: &mut [Ticket]) {
    tickets.sort_by_key(|t| (!t.priority, t.number));
}

#[cfg(test)]
mod tests {
    use deskbot_storage::Platform;
    use std::sync::Arc;

    use deskbot_engine::catalog::Catalog;
    use deskbot_engine::dialogue::{Engine, Input};
    use deskbot_storage::{ConvKey, Speaker};

    use crate::desk::Desk;

    use super::*;

    #[test]
    fn commands_parse_and_ordinary_messages_do_not() {
        assert_eq!(StaffCommand::parse("claim"), Some(StaffCommand::Claim));
        assert_eq!(StaffCommand::parse(" /Claim "), Some(StaffCommand::Claim));
        assert_eq!(
            StaffCommand::parse("/claim@deskbot"),
            Some(StaffCommand::Claim)
        );
        assert_eq!(
            StaffCommand::parse("close"),
            Some(StaffCommand::Close(None))
        );
        assert_eq!(
            StaffCommand::parse("!close solved by reset"),
            Some(StaffCommand::Close(Some("solved by reset".into())))
        );
        assert_eq!(
            StaffCommand::parse("snippet reset"),
            Some(StaffCommand::Snippet("reset".into()))
        );
        assert_eq!(StaffCommand::parse("/reopen"), Some(StaffCommand::Reopen));
        assert_eq!(StaffCommand::parse("block"), Some(StaffCommand::Block));
        assert_eq!(StaffCommand::parse("unblock"), Some(StaffCommand::Unblock));
        for message in [
            "close the app and try again",
            "claim your reward? no, never click such links",
            "snippet",
            "snippet two words",
            "Please block the number",
            "Hello, I'm looking at your account",
            "",
        ] {
            assert_eq!(StaffCommand::parse(message), None, "{message:?}");
        }
    }

    #[test]
    fn attachment_links_survive_masking_and_secrets_do_not() {
        let link = "https://cdn.discordapp.com/attachments/123456789012345678/987654321098765432/shot.png?ex=1&hm=ab";
        let line = format!("my code is 492817\n{}", attachment_note("shot.png", link));
        let masked = mask_for_staff(&line);
        assert!(masked.contains(link), "{masked}");
        assert!(!masked.contains("492817"), "{masked}");
        // A link whose file name is a code, or another host, is masked like any text.
        let named = "https://cdn.discordapp.com/attachments/123456789012345678/987654321098765432/492817.png";
        assert!(!mask_for_staff(named).contains("492817"));
        let other = "https://example.com/attachments/123456789012345678/1/492817.png";
        assert!(!mask_for_staff(other).contains("492817"));
        assert_eq!(
            attachment_note(" code 492817.png ", "u"),
            "📎 code [code hidden].png: u"
        );
    }

    #[test]
    fn staff_text_is_named_or_anonymous_in_the_users_language() {
        let (_dir, desk) = desk();
        let user = ConvKey::new(Platform::Telegram, "1");
        assert_eq!(
            desk.staff_message_for(&user, "Ann", false, " try again ")
                .unwrap(),
            "Support (Ann): try again"
        );
        assert_eq!(
            desk.staff_message_for(&user, "Ann", true, "try again")
                .unwrap(),
            "Support: try again"
        );
        assert_eq!(
            desk.staff_message_for(&user, " ", false, "x").unwrap(),
            "Support: x"
        );
        // A Russian user sees the prefix in Russian (the catalog's ru strings), never the
        // English one.
        desk.handle(&user, None, &text("не могу войти в аккаунт"))
            .unwrap();
        let shown = desk
            .staff_message_for(&user, "Ann", false, "привет")
            .unwrap();
        assert!(
            shown.contains("Ann") && shown.ends_with("привет"),
            "{shown}"
        );
        assert!(!shown.starts_with("Support"), "{shown}");
    }

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
    fn staff_see_the_users_language_and_snippets_come_in_it() {
        let (_dir, desk) = desk();
        let key = ConvKey::new(Platform::Telegram, "77");
        desk.handle(
            &key,
            Some("Олег"),
            &text("забыл пароль от аккаунта, помогите"),
        )
        .unwrap();
        let turn = desk.handle(&key, Some("Олег"), &text("/human")).unwrap();
        let ticket = desk
            .store()
            .ticket(turn.opened_ticket.unwrap())
            .unwrap()
            .unwrap();
        let label = desk.language_label(&key).unwrap();
        assert_eq!(label, "Russian (ru)");
        let shown = staff_ticket_text_in(&ticket, Some(&label));
        assert!(shown.contains("\nLanguage: Russian (ru)\n"), "{shown}");
        // A user nobody has heard from is spoken to in English.
        let new = ConvKey::new(Platform::Discord, "1");
        assert_eq!(desk.language_label(&new).unwrap(), "English (en)");

        let config = super::relay::RelayConfig {
            anonymous_staff: false,
            snippets: [
                ("reset".to_string(), "Open account.xiaomi.com".to_string()),
                (
                    "reset.ru".to_string(),
                    "Откройте account.xiaomi.com".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(
            config.snippet_in("reset", Some("ru")),
            Some("Откройте account.xiaomi.com")
        );
        assert_eq!(
            config.snippet_in("Reset", Some("pt")),
            Some("Open account.xiaomi.com")
        );
        assert_eq!(
            config.snippet_in("reset", None),
            Some("Open account.xiaomi.com")
        );
        assert_eq!(config.snippet_in("other", Some("ru")), None);
    }

    #[test]
    fn staff_ticket_text_has_the_facts_and_masks_secrets() {
        let (_dir, desk) = desk();
        let key = ConvKey::new(Platform::Telegram, "42");
        desk.handle(&key, Some("Ann"), &text("my code is 492817"))
            .unwrap();
        desk.handle(&key, Some("Ann"), &text("password is hunter2"))
            .unwrap();
        let turn = desk.handle(&key, Some("Ann"), &text("/human")).unwrap();
        let number = turn.opened_ticket.unwrap();
        let ticket = desk.store().ticket(number).unwrap().unwrap();
        let all: String = ticket.transcript.iter().map(|l| l.text.as_str()).collect();
        assert!(!all.contains("492817") && !all.contains("hunter2"), "{all}");
        let shown = staff_ticket_text(&ticket);
        assert!(
            shown.starts_with(&format!("Ticket #{number} · Telegram · Ann\n")),
            "{shown}"
        );
        assert!(shown.contains("Transcript:\nUser: "), "{shown}");
        assert!(
            !shown.contains("492817") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("[code hidden]"), "{shown}");
        // Re-masked even if a stored line was not.
        let mut raw = ticket.clone();
        raw.transcript[0].text = "my code is 492817".into();
        raw.transcript[0].speaker = Speaker::User;
        assert!(!staff_ticket_text(&raw).contains("492817"));
        assert!(!user_message_for_staff(&ticket, "code 123456").contains("123456"));
        // A stored mask is shown once, never masked again; the bot's own lines are left alone.
        assert!(!shown.contains("hidden] hidden]"), "{shown}");
        assert_eq!(shown.matches("[password hidden]").count(), 1, "{shown}");
        let step = "Set a new password instead of guessing, then sign in with it.";
        raw.transcript[1].text = step.into();
        raw.transcript[1].speaker = Speaker::Bot;
        assert!(staff_ticket_text(&raw).contains(&format!("Bot: {step}\n")));
    }

    #[test]
    fn a_priority_ticket_is_marked_first_for_staff_and_in_listings() {
        let (_dir, desk) = desk();
        let key = ConvKey::new(Platform::Discord, "314");
        // A normal ticket (asked for with /human, no problem described) made priority by hand:
        // what the engine marks priority is its concern, how staff see it is this one's.
        let number = desk
            .handle(&key, Some("Mo"), &text("/human"))
            .unwrap()
            .opened_ticket
            .unwrap();
        let normal = desk.store().ticket(number).unwrap().unwrap();
        let shown = staff_ticket_text(&normal);
        assert!(!shown.contains("PRIORITY"), "{shown}");
        assert!(!ticket_summary(&normal).contains("PRIORITY"));
        let urgent = Ticket {
            priority: true,
            ..normal.clone()
        };
        let shown = staff_ticket_text(&urgent);
        let mut lines = shown.lines();
        assert_eq!(lines.next(), Some(PRIORITY_LINE), "{shown}");
        assert!(PRIORITY_LINE.starts_with("🔴 PRIORITY"));
        assert_eq!(
            lines.next(),
            Some(format!("Ticket #{number} · Discord · Mo").as_str()),
            "{shown}"
        );
        // Everything else staff see is the same as for a normal ticket.
        assert_eq!(
            shown.strip_prefix(&format!("{PRIORITY_LINE}\n")),
            Some(staff_ticket_text(&normal).as_str())
        );
        let line = ticket_summary(&urgent);
        assert!(line.starts_with(&format!("#{number}")), "{line}");
        assert!(line.ends_with(PRIORITY_MARK), "{line}");
        // Listings put priority tickets first, each group by number.
        let mut list = vec![
            Ticket {
                number: 5,
                ..normal.clone()
            },
            Ticket {
                number: 9,
                ..urgent.clone()
            },
            Ticket {
                number: 2,
                ..normal.clone()
            },
            Ticket {
                number: 7,
                ..urgent.clone()
            },
        ];
        in_queue_order(&mut list);
        let order: Vec<(u64, bool)> = list.iter().map(|t| (t.number, t.priority)).collect();
        assert_eq!(order, [(7, true), (9, true), (2, false), (5, false)]);
    }
}

//! What the bot takes from a Telegram update: decided once, when the update arrives, and
//! stored in the inbox in this compact form (not teloxide's types, whose serialisation is not
//! ours to keep stable).

use serde::{Deserialize, Serialize};
use teloxide::types::{
    CallbackQuery, ChatMemberUpdated, Message, MessageEntityKind, MessageKind, Update, UpdateKind,
};

/// Who the bot is (from `getMe`), for group filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's user id.
    pub id: u64,
    /// The bot's username, without `@`.
    pub username: String,
}

/// An update worth acting on, as stored in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The chat it happened in: updates of one chat are handled in order, and replies go
    /// there.
    pub chat: i64,
    /// What happened.
    pub event: Event,
}

/// The kinds of update the bot acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A text message for the engine (in a group: with the bot's mention removed).
    Text {
        /// Who wrote it.
        from: Sender,
        /// The text.
        text: String,
        /// Where it came from (for replies in groups and forum topics).
        origin: Origin,
    },
    /// A photo, sticker, voice message…: answered with a request to use words (or, when the
    /// user has an open ticket, added to it as a note so staff see something was sent).
    NonText {
        /// Who sent it.
        from: Sender,
        /// Where it came from.
        origin: Origin,
        /// What was sent, as a note ("📎 photo (…)" with its caption); absent in entries
        /// written before handoff existed.
        #[serde(default)]
        note: Option<String>,
    },
    /// A message in the handoff's staff group that may belong to a ticket (written in a forum
    /// topic, or a reply): for the relay, never a bot conversation.
    Staff {
        /// Who wrote it.
        from: Sender,
        /// Its message id (the relay's nonce).
        message: i32,
        /// The forum topic it was written in.
        thread: Option<i32>,
        /// The message it replies to.
        reply_to: Option<i32>,
        /// When it replies to a bot message starting with a ticket mark (`#N · `), that N.
        reply_mark: Option<u64>,
        /// The text, or a note standing for an attachment (never a file link).
        text: String,
        /// Sent by an administrator posting anonymously (as the group): staff by definition
        /// (only administrators can), named by their signature or "Support".
        #[serde(default)]
        anonymous_admin: bool,
    },
    /// A button pressed in the staff group (Claim / Close of a ticket).
    StaffButton {
        /// Who pressed it.
        from: Sender,
        /// The callback query to answer.
        query: String,
        /// The button's callback data.
        data: String,
    },
    /// An inline button was pressed.
    Button {
        /// Who pressed it.
        from: Sender,
        /// The callback query to answer.
        query: String,
        /// The button's callback data.
        data: String,
        /// The message carrying the keyboard (to remove the used keyboard).
        message: Option<i32>,
        /// Whether the chat is private.
        private: bool,
        /// The forum topic of the message, if any.
        thread: Option<i32>,
    },
    /// The bot was blocked by the user or removed from the group.
    Blocked {
        /// When (Unix seconds).
        date: i64,
    },
    /// The bot was unblocked, or added to a group again.
    Unblocked {
        /// When (Unix seconds).
        date: i64,
    },
}

impl Event {
    /// Whether it happened in the handoff's staff group.
    pub fn is_staff(&self) -> bool {
        matches!(self, Self::Staff { .. } | Self::StaffButton { .. })
    }
}

/// The user behind an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Telegram user id (the conversation key).
    pub id: u64,
    /// Their name, for tickets.
    pub name: String,
    /// Their app's language as Telegram reports it (`language_code`, an IETF tag such as
    /// "ru" or "pt-br"; optional in the Bot API): a new conversation starts in it. Absent in
    /// entries written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The message id.
    pub message: i32,
    /// Whether the chat is private (replies in groups quote the message they answer).
    pub private: bool,
    /// The forum topic, when the message is in one.
    pub thread: Option<i32>,
    /// When it was sent (Unix seconds).
    pub date: i64,
}

/// Decides what, if anything, to do with an update.
pub fn classify(update: &Update, me: &BotIdentity) -> Option<Inbound> {
    classify_with(update, me, None)
}

/// [`classify`], with the handoff's staff group: what happens there is for the relay
/// ([`Event::Staff`], [`Event::StaffButton`]); messages there that can belong to no ticket
/// (neither in a forum topic nor a reply) and the bot's own are ignored.
pub fn classify_with(
    update: &Update,
    me: &BotIdentity,
    staff_chat: Option<i64>,
) -> Option<Inbound> {
    match &update.kind {
        UpdateKind::Message(m) if Some(m.chat.id.0) == staff_chat => staff_message(m, me),
        UpdateKind::Message(m) => message(m, me),
        UpdateKind::CallbackQuery(q)
            if staff_chat.is_some() && q.message.as_ref().map(|m| m.chat().id.0) == staff_chat =>
        {
            staff_callback(q)
        }
        UpdateKind::CallbackQuery(q) => callback(q),
        UpdateKind::MyChatMember(c) => membership(c),
        _ => None,
    }
}

/// What an attachment is, for notes ("photo", "document report.pdf"…); `None` for text and
/// service messages.
pub fn attachment_kind(m: &Message) -> Option<String> {
    if !matches!(m.kind, MessageKind::Common(_)) || m.text().is_some() {
        return None;
    }
    let kind = if m.photo().is_some() {
        "photo".to_string()
    } else if let Some(d) = m.document() {
        match d.file_name.as_deref() {
            Some(name) => format!("document {}", name.trim()),
            None => "document".to_string(),
        }
    } else if m.video().is_some() {
        "video".to_string()
    } else if m.voice().is_some() {
        "voice message".to_string()
    } else if m.audio().is_some() {
        "audio file".to_string()
    } else if m.animation().is_some() {
        "animation".to_string()
    } else if m.video_note().is_some() {
        "video message".to_string()
    } else if m.sticker().is_some() {
        "sticker".to_string()
    } else {
        "attachment".to_string()
    };
    Some(kind)
}

/// The note standing for an attachment: what it was and its caption. Telegram's file links
/// (`getFile`) contain the bot token, so no link is ever given.
pub fn attachment_note(m: &Message) -> Option<String> {
    let kind = attachment_kind(m)?;
    let mut note = format!("📎 {kind} (sent on Telegram; files are not relayed)");
    if let Some(c) = m.caption().map(str::trim).filter(|c| !c.is_empty()) {
        note.push('\n');
        note.push_str(c);
    }
    Some(note)
}

fn staff_message(m: &Message, me: &BotIdentity) -> Option<Inbound> {
    // An administrator posting anonymously writes as the group itself (the `from` is
    // Telegram's GroupAnonymousBot); any other bot, ours included, is ignored.
    let anonymous_admin = m.sender_chat.as_ref().is_some_and(|c| c.id == m.chat.id);
    let from = match m.from.as_ref() {
        _ if anonymous_admin => Sender {
            id: 0,
            name: m
                .author_signature()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("Support")
                .to_string(),
            language: None,
        },
        Some(u) if !u.is_bot => sender(u),
        _ => return None,
    };
    let thread = m.thread_id.filter(|_| m.is_topic_message).map(|t| t.0.0);
    let reply = m.reply_to_message();
    let reply_to = reply.map(|r| r.id.0);
    if thread.is_none() && reply_to.is_none() {
        return None;
    }
    let text = match m.text() {
        Some(t) => t.to_string(),
        None => attachment_note(m)?,
    };
    let reply_mark = reply
        .filter(|r| r.from.as_ref().is_some_and(|u| u.id.0 == me.id))
        .and_then(|r| r.text())
        .and_then(crate::staff_side::ticket_in_text);
    Some(Inbound {
        chat: m.chat.id.0,
        event: Event::Staff {
            from,
            message: m.id.0,
            thread,
            reply_to,
            reply_mark,
            text,
            anonymous_admin,
        },
    })
}

fn staff_callback(q: &CallbackQuery) -> Option<Inbound> {
    let msg = q.message.as_ref()?;
    Some(Inbound {
        chat: msg.chat().id.0,
        event: Event::StaffButton {
            from: sender(&q.from),
            query: q.id.0.clone(),
            data: q.data.clone().unwrap_or_default(),
        },
    })
}

/// The longest `language_code` kept (a language tag is short; anything longer is not one).
const MAX_LANGUAGE_TAG: usize = 35;

fn sender(user: &teloxide::types::User) -> Sender {
    Sender {
        id: user.id.0,
        name: user.full_name(),
        language: user
            .language_code
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.len() <= MAX_LANGUAGE_TAG)
            .map(str::to_string),
    }
}

fn message(m: &Message, me: &BotIdentity) -> Option<Inbound> {
    let from = m.from.as_ref().filter(|u| !u.is_bot)?;
    let private = m.chat.is_private();
    let origin = Origin {
        message: m.id.0,
        private,
        thread: m.thread_id.filter(|_| m.is_topic_message).map(|t| t.0.0),
        date: m.date.timestamp(),
    };
    let event = if let Some(text) = m.text() {
        let text = if private {
            text.to_string()
        } else {
            addressed_text(m, text, me)?
        };
        Event::Text {
            from: sender(from),
            text,
            origin,
        }
    } else {
        // Service messages (members joining, pins…) are not user content.
        if !matches!(m.kind, MessageKind::Common(_)) {
            return None;
        }
        if !private && !replies_to_bot(m, me) && !mentions(m.caption().unwrap_or(""), me) {
            return None;
        }
        Event::NonText {
            from: sender(from),
            origin,
            note: attachment_note(m),
        }
    };
    Some(Inbound {
        chat: m.chat.id.0,
        event,
    })
}

fn replies_to_bot(m: &Message, me: &BotIdentity) -> bool {
    m.reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id.0 == me.id)
}

/// In a group: the text to hand to the engine when the message is for the bot (a command
/// not addressed to another bot, a mention, a reply to the bot), else `None`.
fn addressed_text(m: &Message, text: &str, me: &BotIdentity) -> Option<String> {
    let trimmed = text.trim_start();
    if let Some(cmd) = trimmed.strip_prefix('/') {
        let word = cmd.split_whitespace().next().unwrap_or_default();
        return match word.split_once('@') {
            Some((_, bot)) if !bot.eq_ignore_ascii_case(&me.username) => None,
            _ => Some(trimmed.to_string()),
        };
    }
    let text_mention = m.entities().is_some_and(|es| {
        es.iter().any(
            |e| matches!(&e.kind, MessageEntityKind::TextMention { user } if user.id.0 == me.id),
        )
    });
    if mentions(text, me) || text_mention || replies_to_bot(m, me) {
        Some(strip_mention(text, &me.username))
    } else {
        None
    }
}

/// Whether `text` contains `@username` as a whole word (case-insensitively).
pub fn mentions(text: &str, me: &BotIdentity) -> bool {
    mention_ranges(text, &me.username).next().is_some()
}

fn mention_ranges<'a>(
    text: &'a str,
    username: &'a str,
) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    let lower = text.to_ascii_lowercase();
    let needle = format!("@{}", username.to_ascii_lowercase());
    let mut found = Vec::new();
    if !username.is_empty() {
        let mut from = 0;
        while let Some(i) = lower[from..].find(&needle) {
            let start = from + i;
            let end = start + needle.len();
            let word = |c: char| c.is_alphanumeric() || c == '_';
            let before_ok = !text[..start].chars().next_back().is_some_and(word);
            let after_ok = !text[end..].chars().next().is_some_and(word);
            if before_ok && after_ok {
                found.push(start..end);
            }
            from = end;
        }
    }
    found.into_iter()
}

/// `text` without the bot's `@username` mentions, whitespace tidied.
pub fn strip_mention(text: &str, username: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in mention_ranges(text, username) {
        out.push_str(&text[last..r.start]);
        last = r.end;
    }
    out.push_str(&text[last..]);
    let out = out.trim();
    // "@bot, my account…" → "my account…"
    out.trim_start_matches([',', ':', ';'])
        .trim_start()
        .to_string()
}

fn callback(q: &CallbackQuery) -> Option<Inbound> {
    let data = q.data.clone()?;
    let msg = q.message.as_ref()?;
    let chat = msg.chat();
    let thread = msg
        .regular_message()
        .filter(|m| m.is_topic_message)
        .and_then(|m| m.thread_id)
        .map(|t| t.0.0);
    Some(Inbound {
        chat: chat.id.0,
        event: Event::Button {
            from: sender(&q.from),
            query: q.id.0.clone(),
            data,
            message: Some(msg.id().0),
            private: chat.is_private(),
            thread,
        },
    })
}

fn membership(c: &ChatMemberUpdated) -> Option<Inbound> {
    let date = c.date.timestamp();
    let new = &c.new_chat_member;
    let event = if new.is_banned() || new.is_left() {
        Event::Blocked { date }
    } else if new.is_present() {
        Event::Unblocked { date }
    } else {
        return None;
    };
    Some(Inbound {
        chat: c.chat.id.0,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> BotIdentity {
        BotIdentity {
            id: 999,
            username: "DeskBot".into(),
        }
    }

    fn update(json: serde_json::Value) -> Update {
        let u: Update = serde_json::from_str(&json.to_string()).unwrap();
        assert!(!matches!(u.kind, UpdateKind::Error(_)), "{:?}", u.kind);
        u
    }

    fn group_text(text: &str) -> Update {
        update(serde_json::json!({"update_id": 1, "message": {
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": -100, "type": "supergroup", "title": "G"},
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "text": text}}))
    }

    #[test]
    fn groups_only_pass_commands_and_mentions() {
        let pass = |t: &str| match classify(&group_text(t), &me()) {
            Some(Inbound {
                event: Event::Text { text, .. },
                ..
            }) => Some(text),
            _ => None,
        };
        assert_eq!(pass("my account is locked"), None);
        assert_eq!(pass("/help"), Some("/help".into()));
        assert_eq!(pass("/help@deskbot"), Some("/help@deskbot".into()));
        assert_eq!(pass("/help@OtherBot"), None);
        assert_eq!(
            pass("@deskbot, my account is locked"),
            Some("my account is locked".into())
        );
        assert_eq!(pass("mail me@deskbotx.com"), None);
        assert_eq!(pass("ask@deskbot"), None);
    }

    const STAFF: i64 = -100_777;

    fn staff_update(extra: serde_json::Value) -> Update {
        let mut m = serde_json::json!({"message_id": 50, "date": 1_700_000_000,
            "chat": {"id": STAFF, "type": "supergroup", "title": "Staff", "is_forum": true},
            "from": {"id": 7, "is_bot": false, "first_name": "Bob"}});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        update(serde_json::json!({"update_id": 1, "message": m}))
    }

    #[test]
    fn staff_group_messages_are_for_the_relay_only() {
        let staff = |u: &Update| classify_with(u, &me(), Some(STAFF));
        // Chatter outside topics and replies, even commands and mentions: nothing.
        for text in ["hello team", "/help", "@deskbot help me"] {
            assert_eq!(
                staff(&staff_update(serde_json::json!({"text": text}))),
                None
            );
        }
        // In a topic: for the relay, with the topic.
        let got = staff(&staff_update(serde_json::json!({"text": "close",
            "message_thread_id": 12, "is_topic_message": true})));
        assert!(
            matches!(&got, Some(Inbound { chat: STAFF, event: Event::Staff {
                thread: Some(12), reply_to: None, text, message: 50, .. } }) if text == "close"),
            "{got:?}"
        );
        // A reply to a bot message carries that message's ticket mark.
        let got = staff(&staff_update(serde_json::json!({"text": "hi",
            "reply_to_message": {"message_id": 40, "date": 1_700_000_000,
                "chat": {"id": STAFF, "type": "supergroup", "title": "Staff"},
                "from": {"id": 999, "is_bot": true, "first_name": "Desk"},
                "text": "#5 · Ann: help"}})));
        assert!(
            matches!(
                &got,
                Some(Inbound {
                    event: Event::Staff {
                        thread: None,
                        reply_to: Some(40),
                        reply_mark: Some(5),
                        ..
                    },
                    ..
                })
            ),
            "{got:?}"
        );
        // The same mark in someone else's message routes nowhere.
        let got = staff(&staff_update(serde_json::json!({"text": "hi",
            "reply_to_message": {"message_id": 41, "date": 1_700_000_000,
                "chat": {"id": STAFF, "type": "supergroup", "title": "Staff"},
                "from": {"id": 8, "is_bot": false, "first_name": "Eve"},
                "text": "#5 · Ann: help"}})));
        assert!(
            matches!(
                &got,
                Some(Inbound {
                    event: Event::Staff {
                        reply_mark: None,
                        ..
                    },
                    ..
                })
            ),
            "{got:?}"
        );
        // An attachment is a note, never a file link.
        let got = staff(&staff_update(serde_json::json!({"caption": "look",
            "message_thread_id": 12, "is_topic_message": true,
            "document": {"file_id": "d", "file_unique_id": "du", "file_name": "log.txt"}})));
        match got {
            Some(Inbound {
                event: Event::Staff { text, .. },
                ..
            }) => {
                assert!(text.starts_with("📎 document log.txt"), "{text}");
                assert!(text.ends_with("\nlook"), "{text}");
                assert!(!text.contains("http"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // A topic's service message (topic created) is not staff content.
        assert_eq!(
            staff(&staff_update(serde_json::json!({"message_thread_id": 12,
                "is_topic_message": true,
                "forum_topic_created": {"name": "t", "icon_color": 7_322_096}}))),
            None
        );
        // An administrator posting anonymously (as the group) is staff; another bot is not.
        let anon = serde_json::json!({"text": "claim", "message_thread_id": 12,
            "is_topic_message": true, "author_signature": "Kim",
            "from": {"id": 1_087_968_824_u64, "is_bot": true, "first_name": "Group",
                "username": "GroupAnonymousBot"},
            "sender_chat": {"id": STAFF, "type": "supergroup", "title": "Staff"}});
        let got = staff(&staff_update(anon));
        assert!(
            matches!(&got, Some(Inbound { event: Event::Staff {
                anonymous_admin: true, from: Sender { name, .. }, .. }, .. }) if name == "Kim"),
            "{got:?}"
        );
        let other_bot = serde_json::json!({"text": "claim", "message_thread_id": 12,
            "is_topic_message": true,
            "from": {"id": 31, "is_bot": true, "first_name": "Other"}});
        assert_eq!(staff(&staff_update(other_bot)), None);
        // Without a staff group the same chat is an ordinary group.
        assert_eq!(
            classify(
                &staff_update(serde_json::json!({"text": "close",
                "message_thread_id": 12, "is_topic_message": true})),
                &me()
            ),
            None
        );
    }

    #[test]
    fn staff_group_buttons_are_staff_presses() {
        let u = update(serde_json::json!({"update_id": 2, "callback_query": {
            "id": "q1", "from": {"id": 7, "is_bot": false, "first_name": "Bob"},
            "chat_instance": "ci", "data": "ticket:close:5",
            "message": {"message_id": 40, "date": 1_700_000_000,
                "chat": {"id": STAFF, "type": "supergroup", "title": "Staff"},
                "from": {"id": 999, "is_bot": true, "first_name": "Desk"}, "text": "Ticket #5"}}}));
        let got = classify_with(&u, &me(), Some(STAFF));
        assert!(
            matches!(&got, Some(Inbound { chat: STAFF, event: Event::StaffButton { query, data, .. } })
                if query == "q1" && data == "ticket:close:5"),
            "{got:?}"
        );
        assert!(matches!(
            classify(&u, &me()),
            Some(Inbound {
                event: Event::Button { .. },
                ..
            })
        ));
    }

    #[test]
    fn a_users_attachment_carries_a_note() {
        let u = update(serde_json::json!({"update_id": 1, "message": {
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 7, "type": "private", "first_name": "Ann"},
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "photo": [{"file_id": "p", "file_unique_id": "pu", "width": 9, "height": 9}],
            "caption": "my screen"}}));
        match classify(&u, &me()) {
            Some(Inbound {
                event: Event::NonText {
                    note: Some(note), ..
                },
                ..
            }) => {
                assert_eq!(
                    note,
                    "📎 photo (sent on Telegram; files are not relayed)\nmy screen"
                );
            }
            other => panic!("{other:?}"),
        }
        // Entries stored before the note existed still read.
        let old: Event = serde_json::from_str(
            r#"{"kind":"non_text","from":{"id":7,"name":"Ann"},"origin":{"message":5,"private":true,"thread":null,"date":1}}"#,
        )
        .unwrap();
        assert!(matches!(old, Event::NonText { note: None, .. }));
    }

    #[test]
    fn the_senders_language_code_is_kept_for_text_and_buttons() {
        let language = |u: &Update| match classify(u, &me()).map(|i| i.event) {
            Some(Event::Text { from, .. } | Event::Button { from, .. }) => from.language,
            other => panic!("{other:?}"),
        };
        let text = |from: serde_json::Value| {
            update(serde_json::json!({"update_id": 1, "message": {
                "message_id": 5, "date": 1_700_000_000,
                "chat": {"id": 7, "type": "private", "first_name": "Ann"},
                "from": from, "text": "privet"}}))
        };
        let ru = serde_json::json!({"id": 7, "is_bot": false, "first_name": "Ann",
            "language_code": "ru"});
        assert_eq!(language(&text(ru.clone())).as_deref(), Some("ru"));
        let none = serde_json::json!({"id": 7, "is_bot": false, "first_name": "Ann"});
        assert_eq!(language(&text(none)), None);
        let junk = serde_json::json!({"id": 7, "is_bot": false, "first_name": "Ann",
            "language_code": "x".repeat(200)});
        assert_eq!(language(&text(junk)), None);
        let press = update(serde_json::json!({"update_id": 2, "callback_query": {
            "id": "q1", "from": {"id": 7, "is_bot": false, "first_name": "Ann",
                "language_code": "pt-br"},
            "chat_instance": "ci", "data": "3:no",
            "message": {"message_id": 40, "date": 1_700_000_000,
                "chat": {"id": 7, "type": "private", "first_name": "Ann"},
                "from": {"id": 999, "is_bot": true, "first_name": "Desk"}, "text": "Step 1"}}}));
        assert_eq!(language(&press).as_deref(), Some("pt-br"));
        // Stored without it (entries written before it was kept), it reads as unknown.
        let old: Sender = serde_json::from_str(r#"{"id":7,"name":"Ann"}"#).unwrap();
        assert_eq!(old.language, None);
    }

    #[test]
    fn private_text_and_stickers() {
        let u = update(serde_json::json!({"update_id": 1, "message": {
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 7, "type": "private", "first_name": "Ann"},
            "from": {"id": 7, "is_bot": false, "first_name": "Ann", "last_name": "Lee"},
            "sticker": {"file_id": "f", "file_unique_id": "u", "type": "regular",
                        "width": 1, "height": 1, "is_animated": false, "is_video": false}}}));
        let got = classify(&u, &me()).unwrap();
        assert_eq!(got.chat, 7);
        assert!(
            matches!(got.event, Event::NonText { ref from, .. } if from.name == "Ann Lee"),
            "{got:?}"
        );
    }
}

//! What the bot sends: Bot API calls queued in the outbox, one call per entry, and how an
//! engine reply becomes them (plain text split at line boundaries, an inline keyboard).

use deskbot_engine::dialogue::Reply;
use serde::{Deserialize, Serialize};

/// Telegram's limit on a message's text, in UTF-16 code units (what Telegram counts; never
/// more than the number of characters, so the limit holds either way).
pub const MAX_TEXT: usize = 4096;

/// Telegram's limit on a button's callback data, in bytes.
pub const MAX_CALLBACK_DATA: usize = 64;

/// One Bot API call, as queued in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Outgoing {
    /// `sendMessage` as plain text (no parse mode), with an optional inline keyboard.
    Send {
        /// The chat.
        chat: i64,
        /// The text, 1..=4096 UTF-16 units.
        text: String,
        /// Buttons, one per row: (callback data, label).
        buttons: Vec<(String, String)>,
        /// The message this answers (groups), sent even if that message is gone.
        reply_to: Option<i32>,
        /// The forum topic.
        thread: Option<i32>,
    },
    /// `answerCallbackQuery`: stops the button's loading animation.
    Answer {
        /// The callback query id.
        query: String,
        /// A short notice shown to the presser.
        text: Option<String>,
    },
    /// `editMessageReplyMarkup` without a markup: removes a used keyboard.
    ClearKeyboard {
        /// The chat.
        chat: i64,
        /// The message carrying the keyboard.
        message: i32,
    },
}

impl Outgoing {
    /// The chat this call concerns, when it names one.
    pub fn chat(&self) -> Option<i64> {
        match self {
            Self::Send { chat, .. } | Self::ClearKeyboard { chat, .. } => Some(*chat),
            Self::Answer { .. } => None,
        }
    }
}

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The chat.
    pub chat: i64,
    /// Quote this message (in groups, so people see whom the bot answers).
    pub reply_to: Option<i32>,
    /// The forum topic.
    pub thread: Option<i32>,
    /// In groups, the user whose conversation the buttons belong to.
    pub owner: Option<u64>,
}

/// Where a turn's reply goes, as the desk stores it in the outbox
/// ([`deskbot_desk::outbox::Address::route`]) and the channel reads it back when it sends:
/// the [`Destination`], and for a button press the query to answer and the keyboard to clear
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The chat.
    pub chat: i64,
    /// Quote this message (groups).
    pub reply_to: Option<i32>,
    /// The forum topic.
    pub thread: Option<i32>,
    /// In groups, the user whose conversation the buttons belong to.
    pub owner: Option<u64>,
    /// The callback query to answer first (a button press).
    pub answer: Option<String>,
    /// The message whose keyboard to remove first (the pressed one).
    pub clear_keyboard: Option<i32>,
}

impl Route {
    /// A route to `to`, with nothing to do first.
    pub fn to(to: Destination) -> Self {
        Self {
            chat: to.chat,
            reply_to: to.reply_to,
            thread: to.thread,
            owner: to.owner,
            answer: None,
            clear_keyboard: None,
        }
    }

    /// Where the reply itself goes.
    pub fn destination(&self) -> Destination {
        Destination {
            chat: self.chat,
            reply_to: self.reply_to,
            thread: self.thread,
            owner: self.owner,
        }
    }

    /// The calls that send `reply` this way: answering the press and clearing its keyboard
    /// first when asked, then the reply's messages ([`render`]).
    pub fn calls(&self, reply: &Reply) -> Vec<Outgoing> {
        let mut calls = Vec::new();
        if let Some(query) = &self.answer {
            calls.push(Outgoing::Answer {
                query: query.clone(),
                text: None,
            });
        }
        if let Some(message) = self.clear_keyboard {
            calls.push(Outgoing::ClearKeyboard {
                chat: self.chat,
                message,
            });
        }
        calls.extend(render(reply, self.destination()));
        calls
    }
}

/// Turns an engine reply into `sendMessage` calls: the text split at line boundaries into
/// parts Telegram accepts, the keyboard on the last part. A reply with no text and no
/// buttons (flood control ignoring a message) gives no calls at all: nothing is sent.
pub fn render(reply: &Reply, to: Destination) -> Vec<Outgoing> {
    if reply.text.trim().is_empty() && reply.buttons.is_empty() {
        return Vec::new();
    }
    let mut parts = split_text(&reply.text, MAX_TEXT);
    if parts.is_empty() {
        // Telegram refuses empty text; the engine always says something, but be safe.
        parts.push("…".to_string());
    }
    let buttons: Vec<(String, String)> = reply
        .buttons
        .iter()
        .filter_map(|b| {
            let data = callback_data(&b.id, to.owner);
            if data.len() > MAX_CALLBACK_DATA || b.label.trim().is_empty() {
                tracing::warn!(len = data.len(), "button skipped: callback data too long");
                return None;
            }
            Some((data, b.label.clone()))
        })
        .collect();
    let last = parts.len() - 1;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Outgoing::Send {
            chat: to.chat,
            text,
            buttons: if i == last {
                buttons.clone()
            } else {
                Vec::new()
            },
            reply_to: if i == 0 { to.reply_to } else { None },
            thread: to.thread,
        })
        .collect()
}

/// The callback data for an engine button id: the id itself in private chats; in groups
/// `g<owner>/<id>`, so a press by someone else can be told apart.
pub fn callback_data(id: &str, owner: Option<u64>) -> String {
    match owner {
        None => id.to_string(),
        Some(o) => format!("g{o}/{id}"),
    }
}

/// Splits callback data back into (owner, engine button id).
pub fn parse_callback_data(data: &str) -> (Option<u64>, &str) {
    if let Some(rest) = data.strip_prefix('g')
        && let Some((owner, id)) = rest.split_once('/')
        && let Ok(owner) = owner.parse()
    {
        return (Some(owner), id);
    }
    (None, data)
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into parts of at most `max` UTF-16 units, at line boundaries when it can;
/// a single longer line is cut at a space, or else between characters. Parts that would be
/// blank are dropped (Telegram refuses them); no text is lost otherwise.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split_inclusive('\n') {
        let len = utf16_len(line);
        if current_len + len <= max {
            current.push_str(line);
            current_len += len;
            continue;
        }
        flush(&mut parts, &mut current);
        let mut rest = line;
        while utf16_len(rest) > max {
            let cut = cut_point(rest, max);
            flush(&mut parts, &mut rest[..cut].to_string());
            rest = &rest[cut..];
        }
        current.push_str(rest);
        current_len = utf16_len(rest);
    }
    flush(&mut parts, &mut current);
    parts
}

fn flush(parts: &mut Vec<String>, current: &mut String) {
    let part = current.trim_end();
    if !part.trim().is_empty() {
        parts.push(part.to_string());
    }
    current.clear();
}

/// A byte index in `line` where the prefix has at most `max` UTF-16 units: after the last
/// space in the second half of that prefix, or else at the last character that fits.
fn cut_point(line: &str, max: usize) -> usize {
    let mut units = 0;
    let mut end = 0;
    for (i, c) in line.char_indices() {
        if units + c.len_utf16() > max {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
    }
    let end = end.max(line.chars().next().map_or(0, char::len_utf8));
    match line[..end].rfind(' ') {
        Some(space) if space + 1 >= end / 2 && space > 0 => space + 1,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbot_engine::dialogue::Button;

    #[test]
    fn an_empty_reply_sends_nothing() {
        let to = Destination {
            chat: 7,
            reply_to: Some(3),
            thread: None,
            owner: None,
        };
        assert_eq!(render(&Reply::text(""), to), Vec::new());
        assert_eq!(render(&Reply::text(" \n "), to), Vec::new());
        // Buttons without text still need a message to carry them.
        let buttons = Reply {
            text: String::new(),
            buttons: vec![Button {
                id: "1:yes".into(),
                label: "Yes".into(),
            }],
        };
        assert!(
            matches!(render(&buttons, to).as_slice(), [Outgoing::Send { text, .. }] if text == "…")
        );
        assert_eq!(render(&Reply::text("hi"), to).len(), 1);
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("hello\nworld", 4096), vec!["hello\nworld"]);
        assert!(split_text("  \n \n", 4096).is_empty());
    }

    #[test]
    fn long_text_splits_at_lines_and_keeps_everything() {
        let line = "x".repeat(1000);
        let text = [line.as_str(); 9].join("\n");
        let parts = split_text(&text, 4096);
        assert_eq!(parts.len(), 3);
        for p in &parts {
            assert!(utf16_len(p) <= 4096);
            assert!(p.split('\n').all(|l| l == line), "cut inside a line");
        }
        assert_eq!(parts.join("\n"), text);
    }

    #[test]
    fn an_overlong_line_is_cut_at_spaces_or_characters() {
        let words = "word ".repeat(2000);
        let parts = split_text(&words, 4096);
        assert_eq!(parts.len(), 3);
        assert!(
            parts
                .iter()
                .all(|p| utf16_len(p) <= 4096 && p.ends_with("word"))
        );
        // Astral characters count twice and are never split.
        let emoji = "😀".repeat(3000);
        let parts = split_text(&emoji, 4096);
        assert_eq!(parts.len(), 2);
        assert_eq!(utf16_len(&parts[0]), 4096);
        assert_eq!(parts.concat(), emoji);
    }

    #[test]
    fn keyboard_goes_on_the_last_part_and_group_buttons_carry_their_owner() {
        let reply = Reply {
            text: format!("{}\n{}", "a".repeat(4090), "b".repeat(10)),
            buttons: vec![Button {
                id: "3:no".into(),
                label: "No".into(),
            }],
        };
        let out = render(
            &reply,
            Destination {
                chat: -5,
                reply_to: Some(9),
                thread: None,
                owner: Some(42),
            },
        );
        assert_eq!(out.len(), 2);
        match (&out[0], &out[1]) {
            (
                Outgoing::Send {
                    buttons: b0,
                    reply_to: r0,
                    ..
                },
                Outgoing::Send {
                    buttons: b1,
                    reply_to: r1,
                    ..
                },
            ) => {
                assert!(b0.is_empty());
                assert_eq!(b1, &vec![("g42/3:no".to_string(), "No".to_string())]);
                assert_eq!((*r0, *r1), (Some(9), None));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_callback_data("g42/3:no"), (Some(42), "3:no"));
        assert_eq!(parse_callback_data("3:no"), (None, "3:no"));
    }
}

//! Turning an engine [`Reply`] into what Discord accepts: escaped text in chunks of at most
//! [`MAX_CONTENT`] characters, and buttons in action rows. Plain functions, no serenity types,
//! so they are tested without a platform and survive serenity's next breaking release.

use deskbot_engine::dialogue::Reply;

use super::custom_id;

/// Discord's limit on a message's `content`.
pub const MAX_CONTENT: usize = 2_000;
/// Buttons in one action row.
pub const MAX_BUTTONS_PER_ROW: usize = 5;
/// Action rows in one message.
pub const MAX_ROWS: usize = 5;
/// Discord's limit on a button label.
pub const MAX_LABEL: usize = 80;

/// The length Discord measures. Discord counts characters in UTF-16 code units (a JavaScript
/// string length) on some paths and code points on others; code units are never fewer, so
/// counting them keeps every chunk under the limit either way.
pub fn discord_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Escapes Discord markdown so the engine's plain text shows as typed: `*`, `_`, `~`, `` ` ``,
/// `|`, `>`, `#`, `-`, `[`, `]`, `<` and `\` get a backslash (so `<@123>` or `*bold*` typed by
/// a user and echoed back render literally). Words starting with `http://` or `https://` are
/// left alone, since a backslash inside a URL would break the link.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    while !rest.is_empty() {
        // Whitespace passes through; each word is either a URL (raw) or escaped.
        let ws = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.starts_with("http://") || word.starts_with("https://") {
            out.push_str(word);
        } else {
            for c in word.chars() {
                if matches!(
                    c,
                    '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '-' | '[' | ']' | '<'
                ) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        rest = &rest[end..];
    }
    out
}

/// Splits `text` into chunks of at most `max` characters (as [`discord_len`] counts them),
/// cutting between lines. A single line longer than `max` is cut at the last space that fits,
/// or at a character boundary when there is none, never between an escaping backslash and
/// the character it escapes. Empty text gives one empty chunk; no chunk is empty otherwise.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for line in text.split('\n') {
        let line_len = discord_len(line);
        let joined = if current.is_empty() { 0 } else { 1 };
        if current_len + joined + line_len <= max {
            if joined == 1 {
                current.push('\n');
            }
            current.push_str(line);
            current_len += joined + line_len;
            continue;
        }
        if !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if line_len <= max {
            current.push_str(line);
            current_len = line_len;
            continue;
        }
        let mut pieces = hard_split(line, max);
        if let Some(last) = pieces.pop() {
            chunks.extend(pieces);
            current_len = discord_len(&last);
            current = last;
        }
    }
    if !current.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    // Lines that were only whitespace between chunks would make blank messages, which
    // Discord rejects; drop them (they carried no text).
    let non_blank: Vec<String> = chunks
        .iter()
        .filter(|c| !c.trim().is_empty())
        .cloned()
        .collect();
    if non_blank.is_empty() {
        vec![chunks.concat().trim().to_string()]
    } else {
        non_blank
    }
}

/// Cuts one long line into pieces of at most `max`.
fn hard_split(line: &str, max: usize) -> Vec<String> {
    // Units that must stay together: an escaping backslash with its character.
    let mut units: Vec<&str> = Vec::new();
    let mut it = line.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let mut end = i + c.len_utf8();
        if c == '\\'
            && let Some(&(j, d)) = it.peek()
        {
            end = j + d.len_utf8();
            it.next();
        }
        units.push(&line[i..end]);
    }
    let mut pieces = Vec::new();
    let mut start = 0usize;
    while start < units.len() {
        let mut len = 0usize;
        let mut end = start;
        let mut last_space = None;
        while end < units.len() {
            let l = discord_len(units[end]);
            if len + l > max {
                break;
            }
            if units[end] == " " {
                last_space = Some(end);
            }
            len += l;
            end += 1;
        }
        if end < units.len()
            && let Some(sp) = last_space.filter(|&sp| sp > start)
        {
            // Break after the space: the next piece starts with a word.
            end = sp + 1;
        }
        // A single unit wider than `max` (only possible with a tiny limit) still goes out
        // alone, so the loop always advances.
        end = end.max(start + 1);
        pieces.push(units[start..end].concat().trim_end().to_string());
        start = end;
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Green: "yes, that fixed it".
    Success,
    /// Blurple: "talk to a person".
    Primary,
    /// Grey: everything else.
    Secondary,
}

/// A button ready to render.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ButtonSpec {
    /// The `custom_id` Discord sends back when it is pressed.
    pub custom_id: String,
    /// The label, at most [`MAX_LABEL`] characters.
    pub label: String,
    /// The look.
    pub style: Style,
}

/// One message to send: escaped content, and buttons (only on the last chunk of a reply).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutMessage {
    /// The content, at most [`MAX_CONTENT`] characters.
    pub content: String,
    /// Action rows of buttons; empty for none.
    pub rows: Vec<Vec<ButtonSpec>>,
}

/// Whether `reply` says nothing: no text and no buttons (the desk's answer to a message it
/// ignores, e.g. under flood control). Nothing is sent for it: callers check this before
/// rendering, since [`render_reply`] always gives at least one message.
pub fn is_silent(reply: &Reply) -> bool {
    reply.text.trim().is_empty() && reply.buttons.is_empty()
}

/// Renders a reply for the conversation of user `owner`: escaped text split into messages,
/// the buttons on the last one. Buttons whose `custom_id` would not fit are left out (and
/// counted in the second value, for the log); so are buttons past the 25 Discord allows.
pub fn render_reply(reply: &Reply, owner: u64) -> (Vec<OutMessage>, usize) {
    let escaped = escape_markdown(&reply.text);
    let mut messages: Vec<OutMessage> = split_message(&escaped, MAX_CONTENT)
        .into_iter()
        .map(|content| OutMessage {
            content,
            rows: Vec::new(),
        })
        .collect();
    let (rows, dropped) = action_rows(reply, owner);
    if let Some(last) = messages.last_mut() {
        last.rows = rows;
    }
    (messages, dropped)
}

/// The reply's buttons in rows of at most [`MAX_BUTTONS_PER_ROW`], at most [`MAX_ROWS`] rows,
/// each `custom_id` encoding `owner` (see [`custom_id::encode`]); and how many were left out.
pub fn action_rows(reply: &Reply, owner: u64) -> (Vec<Vec<ButtonSpec>>, usize) {
    let mut specs = Vec::new();
    let mut dropped = 0usize;
    for b in &reply.buttons {
        let Some(custom_id) = custom_id::encode(owner, &b.id) else {
            dropped += 1;
            continue;
        };
        if specs.len() == MAX_BUTTONS_PER_ROW * MAX_ROWS {
            dropped += 1;
            continue;
        }
        let label = if b.label.trim().is_empty() {
            "…".to_string()
        } else {
            truncate(&b.label, MAX_LABEL)
        };
        specs.push(ButtonSpec {
            custom_id,
            label,
            style: style_for(&b.id),
        });
    }
    let rows = specs
        .chunks(MAX_BUTTONS_PER_ROW)
        .map(<[ButtonSpec]>::to_vec)
        .collect();
    (rows, dropped)
}

/// Picks a style from the engine's action (the part after `<turn>:`).
fn style_for(engine_id: &str) -> Style {
    match engine_id.split_once(':').map(|(_, action)| action) {
        Some("yes") => Style::Success,
        Some("human") => Style::Primary,
        _ => Style::Secondary,
    }
}

/// The first `max` characters (UTF-16 units) of `s`, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if discord_len(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut len = 0;
    for c in s.chars() {
        if len + c.len_utf16() > max - 1 {
            break;
        }
        out.push(c);
        len += c.len_utf16();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use deskbot_engine::dialogue::Button;

    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split_message("hello\nworld", 2000), vec!["hello\nworld"]);
        assert_eq!(split_message("", 2000), vec![""]);
    }

    #[test]
    fn splits_on_line_boundaries() {
        let line = "x".repeat(900);
        let text = format!("{line}\n{line}\n{line}\n{line}");
        let chunks = split_message(&text, 2000);
        assert_eq!(chunks.len(), 2);
        for c in &chunks {
            assert!(discord_len(c) <= 2000);
            assert!(c.split('\n').all(|l| l == line), "a line was cut");
        }
        assert_eq!(chunks.join("\n"), text);
    }

    #[test]
    fn a_3000_character_reply_gives_two_messages() {
        let text: String = (0..60)
            .map(|i| format!("{i:02} {}\n", "y".repeat(46)))
            .collect();
        assert_eq!(discord_len(&text), 3000);
        let chunks = split_message(&text, MAX_CONTENT);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| discord_len(c) <= MAX_CONTENT));
        assert_eq!(chunks.concat().replace('\n', ""), text.replace('\n', ""));
    }

    #[test]
    fn long_line_is_cut_at_spaces_then_characters() {
        let words = "word ".repeat(1000);
        let chunks = split_message(words.trim_end(), 2000);
        assert!(chunks.len() >= 3);
        for c in &chunks {
            assert!(discord_len(c) <= 2000);
            assert!(!c.starts_with(' ') && !c.ends_with(' '));
            assert!(c.split(' ').all(|w| w == "word"), "a word was cut");
        }
        let solid = "z".repeat(4500);
        let chunks = split_message(&solid, 2000);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![2000, 2000, 500]
        );
    }

    #[test]
    fn never_cuts_an_escape_or_a_surrogate_pair() {
        let escaped = escape_markdown(&"_".repeat(1500));
        for c in split_message(&escaped, 2000) {
            assert!(discord_len(&c) <= 2000);
            assert!(c.len() % 2 == 0 && c.starts_with('\\'), "escape cut");
        }
        let emoji = "😀".repeat(1500); // 2 UTF-16 units each
        let chunks = split_message(&emoji, 2000);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| discord_len(c) <= 2000));
    }

    #[test]
    fn blank_lines_never_make_blank_messages() {
        let text = format!("{}\n\n\n{}", "a".repeat(2000), "b".repeat(10));
        let chunks = split_message(&text, 2000);
        assert!(chunks.iter().all(|c| !c.trim().is_empty()), "{chunks:?}");
    }

    #[test]
    fn escapes_markdown_and_mentions_but_not_urls() {
        assert_eq!(
            escape_markdown("@everyone <@&123> *hi* __x__"),
            "@everyone \\<@&123\\> \\*hi\\* \\_\\_x\\_\\_"
        );
        assert_eq!(
            escape_markdown("see https://a.b/c_d or a_b"),
            "see https://a.b/c_d or a\\_b"
        );
        assert_eq!(
            escape_markdown("• Step 1: ok.\n> quote"),
            "• Step 1: ok.\n\\> quote"
        );
    }

    fn reply(n: usize) -> Reply {
        Reply {
            text: "t".into(),
            buttons: (0..n)
                .map(|i| Button {
                    id: format!("3:intent:i{i}"),
                    label: format!("B{i}"),
                })
                .collect(),
        }
    }

    #[test]
    fn buttons_fill_rows_of_five_and_at_most_five_rows() {
        let (rows, dropped) = action_rows(&reply(3), 42);
        assert_eq!((rows.len(), rows[0].len(), dropped), (1, 3, 0));
        let (rows, _) = action_rows(&reply(7), 42);
        assert_eq!(rows.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 2]);
        let (rows, dropped) = action_rows(&reply(30), 42);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.len() == 5));
        assert_eq!(dropped, 5);
        assert!(
            rows.iter()
                .flatten()
                .all(|b| b.custom_id.len() <= custom_id::MAX_LEN)
        );
    }

    #[test]
    fn oversized_ids_are_dropped_and_labels_cut() {
        let r = Reply {
            text: "t".into(),
            buttons: vec![
                Button {
                    id: format!("1:{}", "x".repeat(120)),
                    label: "too long id".into(),
                },
                Button {
                    id: "1:yes".into(),
                    label: "L".repeat(200),
                },
                Button {
                    id: "1:human".into(),
                    label: "Talk to a person".into(),
                },
            ],
        };
        let (rows, dropped) = action_rows(&r, u64::MAX);
        assert_eq!(dropped, 1);
        assert_eq!(rows[0].len(), 2);
        assert_eq!(discord_len(&rows[0][0].label), MAX_LABEL);
        assert_eq!(rows[0][0].style, Style::Success);
        assert_eq!(rows[0][1].style, Style::Primary);
    }

    #[test]
    fn buttons_go_on_the_last_chunk_only() {
        let mut r = reply(2);
        r.text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1500));
        let (msgs, _) = render_reply(&r, 7);
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].rows.is_empty());
        assert_eq!(msgs[1].rows[0].len(), 2);
    }
}

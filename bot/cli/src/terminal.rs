//! Text for an operator's terminal: what users wrote (names, messages) is printed with its
//! control characters as visible escapes, so a name like `ESC ]0;… BEL` cannot retitle the
//! window, clear the screen (`ESC [2J`), move the cursor or hide a line (`CR`).
//!
//! Hand-written rather than a crate: crates in this area strip ANSI sequences
//! (`strip-ansi-escapes`, `console`) and would hide that a user sent them, and the
//! standard library already does the work (`char::is_control`, `char::escape_default`).

use std::borrow::Cow;

/// Characters that change how text *reads* without being controls: bidirectional overrides
/// and isolates (which can reverse what follows on screen), zero-width characters and the
/// BOM. Shown escaped like controls.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// `text` with every control character (C0, DEL, C1: `char::is_control`), and the invisible
/// format characters above, replaced by a Rust-style escape: `\n`, `\r`, `\t`, `\u{1b}`,
/// `\u{202e}`. Everything else, including backslashes and any script or emoji, is kept as it
/// is. Borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape_controls`] for multi-line text that is ours (a reply the bot composed): line
/// breaks are kept, every other control character is escaped.
pub fn escape_controls_keep_lines(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// A JSON line made safe for a terminal. `serde_json` escapes U+0000–U+001F but writes DEL
/// and the C1 controls (U+007F–U+009F; U+009B is a CSI in many terminals) and the invisible
/// format characters raw; they can only occur inside strings, where `\uXXXX` means the same
/// character, so the JSON is unchanged for a parser.
pub fn json_line(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.chars().any(needs_escape) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_become_visible() {
        assert_eq!(
            escape_controls("Ann\u{1b}]0;pwned\u{7}\u{1b}[2J\r"),
            "Ann\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\r"
        );
        assert_eq!(escape_controls("a\nb\tc\0"), "a\\nb\\tc\\u{0}");
        assert_eq!(escape_controls("\u{9b}31m\u{7f}"), "\\u{9b}31m\\u{7f}");
        assert_eq!(
            escape_controls("admin\u{202e}txt.exe"),
            "admin\\u{202e}txt.exe"
        );
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["Zoë O'Brien", "لا أستطيع", "пароль 😀", "C:\\Users\\x", ""] {
            assert!(matches!(escape_controls(s), Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn lines_of_our_own_text_stay_lines() {
        assert_eq!(
            escape_controls_keep_lines("a\u{1b}[2J\nb\r"),
            "a\\u{1b}[2J\nb\\r"
        );
    }

    #[test]
    fn json_lines_escape_what_serde_json_leaves_raw_and_parse_the_same() {
        let v = serde_json::json!({"text": "x\u{1b}[2J\u{9b}1m\u{7f}\u{202e}y"});
        let line = json_line(&v);
        assert!(line.chars().all(|c| !c.is_control()), "{line:?}");
        assert!(line.contains("\\u009b") && line.contains("\\u007f") && line.contains("\\u202e"));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, v);
    }
}

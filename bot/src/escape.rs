//! Text for an operator's terminal: what users typed can hold terminal escape sequences
//! (`ESC ]0;…BEL` sets the window title, `ESC [2J` clears the screen), so every operator
//! command shows user-controlled text through [`visible`].

/// `text` with control characters (but line breaks) and the invisible bidirectional overrides
/// shown as escapes (`\u{1b}`), so a user's name or message cannot move the cursor, clear the
/// screen or reorder what is shown.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && c != '\n') || hidden {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn escapes_terminal_sequences_and_keeps_text() {
        assert_eq!(visible("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        assert_eq!(visible("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(visible("line\nnext ünï 👍"), "line\nnext ünï 👍");
        assert_eq!(visible("x\u{202e}y"), "x\\u{202e}y");
    }
}

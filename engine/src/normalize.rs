//! Text normalisation shared by the classifier, the pattern matcher and the dialogue policy.
//!
//! Chat text arrives in every shape: full-width letters, ligatures, zero-width joiners pasted
//! from web pages, right-to-left marks, control characters, a megabyte of the same emoji. The
//! classifier must see one canonical form of each message, and nothing a user types may make
//! the engine panic or spend unbounded time, so every message passes through [`normalize`].

use unicode_normalization::UnicodeNormalization;

/// The most characters of a message the engine looks at. Longer messages are cut (on a
/// character boundary): nobody describes a login problem in more than a few paragraphs, and
/// the cap bounds the classifier's work per message.
pub const MAX_CHARS: usize = 2_000;

/// Returns the canonical form of `text`: Unicode NFKC, lower case (full Unicode case folding
/// as `str::to_lowercase` does it), control, format and zero-width characters removed, every
/// run of whitespace folded into one space, trimmed, and cut to [`MAX_CHARS`] characters.
///
/// Emoji, CJK and right-to-left scripts pass through (lower-cased where they have case).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let mut chars = 0usize;
    let mut pending_space = false;
    // Only look at a bounded prefix: NFKC can expand a character, but never by more than 18x,
    // so 4 * MAX_CHARS input characters are more than enough to fill MAX_CHARS output ones
    // unless the input is mostly removable characters, in which case a cut is fine too.
    let bounded = text.chars().take(MAX_CHARS * 4);
    // Invisible characters go before NFKC, so that removing them cannot bring two combining
    // marks (or a letter and a mark) together after composition; and NFKC runs again after
    // lower-casing, which can leave marks out of canonical order (`İ` + U+0316 lower-cases to
    // i, U+0307, U+0316). Either would make a second pass change the text.
    let visible = bounded.filter(|&c| c.is_whitespace() || !is_invisible(c));
    for c in visible.nfkc().flat_map(char::to_lowercase).nfkc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if pending_space {
            if chars + 1 >= MAX_CHARS {
                break;
            }
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        if chars >= MAX_CHARS {
            break;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// Characters that carry no meaning for matching: C0/C1 controls, and format characters
/// (zero-width space and joiners, bidirectional marks and isolates, the BOM, soft hyphen).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FE00}'..='\u{FE0F}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_and_whitespace() {
        assert_eq!(
            normalize("  I   FORGOT\tmy\nPassword  "),
            "i forgot my password"
        );
        // Full-width letters and the "fi" ligature become plain ASCII under NFKC.
        assert_eq!(normalize("ＭＩ ａｃｃｏｕｎｔ ﬁx"), "mi account fix");
    }

    #[test]
    fn strips_invisible_characters() {
        assert_eq!(normalize("pass\u{200B}word\u{200D}"), "password");
        assert_eq!(normalize("\u{202E}abc\u{202C}"), "abc");
        assert_eq!(normalize("a\u{0007}b\u{0000}c"), "abc");
        assert_eq!(normalize("\u{FEFF}hello"), "hello");
    }

    #[test]
    fn keeps_emoji_cjk_and_rtl_text() {
        assert_eq!(normalize("😀 登录 失败"), "😀 登录 失败");
        assert_eq!(normalize("لا أستطيع تسجيل الدخول"), "لا أستطيع تسجيل الدخول");
        assert_eq!(normalize("שלום"), "שלום");
    }

    #[test]
    fn empty_and_blank_give_empty() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\t \u{200B} "), "");
    }

    #[test]
    fn caps_length_on_char_boundary() {
        let long = "é".repeat(MAX_CHARS * 10);
        let n = normalize(&long);
        assert_eq!(n.chars().count(), MAX_CHARS);
        let spaced = "ab ".repeat(MAX_CHARS);
        let n = normalize(&spaced);
        assert!(n.chars().count() <= MAX_CHARS);
        assert!(!n.ends_with(' '));
    }
}

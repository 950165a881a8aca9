//! Helpers shared by the detectors: the spans that are never masked, and the words around a
//! position.

use std::sync::LazyLock;

use regex::Regex;

/// Text that is never masked: the masks themselves (so masking twice changes nothing), web
/// links and e-mail addresses.
static PROTECTED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?xi)
        \[[a-z][a-z ]{0,30}\ hidden\]        # a mask: [code hidden], [password hidden], …
        | [\w.+-]+@[\w-]+(?:\.[\w-]+)+       # an e-mail address
        | \b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|cn|in|co|me|app|info|ru|de|uk|eu|id|br|es|global)\b
                                             # a host name (its path is read as text: a
                                             # code in a link is still a code)
        ",
    )
    .ok()
});

/// Byte ranges of `text` that no detector may touch.
pub fn protected_spans(text: &str) -> Vec<(usize, usize)> {
    PROTECTED.as_ref().map_or_else(Vec::new, |re| {
        re.find_iter(text).map(|m| (m.start(), m.end())).collect()
    })
}

/// Whether `start..end` overlaps any of `spans`.
pub fn overlaps(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    spans.iter().any(|&(s, e)| start < e && s < end)
}

/// Whether `c` is part of a word for [`words_before`] and [`words_after`].
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

/// Up to `n` words before byte `pos`, nearest first, lower-cased, apostrophes dropped
/// ("it's" → "its"). A line break or a bracket (the edge of a mask such as
/// "[code hidden]") ends the search.
pub fn words_before(text: &str, pos: usize, n: usize) -> Vec<String> {
    let head = text.get(..pos).unwrap_or_default();
    let head = head.rsplit(['\n', '[', ']']).next().unwrap_or_default();
    head.split(|c: char| !is_word_char(c))
        .rev()
        .filter(|w| !w.is_empty())
        .take(n)
        .map(fold)
        .collect()
}

/// Up to `n` words after byte `pos`, nearest first, folded as in [`words_before`].
pub fn words_after(text: &str, pos: usize, n: usize) -> Vec<String> {
    let tail = text.get(pos..).unwrap_or_default();
    let tail = tail.split(['\n', '[', ']']).next().unwrap_or_default();
    tail.split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .take(n)
        .map(fold)
        .collect()
}

fn fold(w: &str) -> String {
    w.chars()
        .filter(|c| *c != '\'' && *c != '’')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The character before byte `pos`, and the one before that.
pub fn chars_before(text: &str, pos: usize) -> (Option<char>, Option<char>) {
    let mut it = text.get(..pos).unwrap_or_default().chars().rev();
    (it.next(), it.next())
}

/// The character at byte `pos`, and the one after it.
pub fn chars_after(text: &str, pos: usize) -> (Option<char>, Option<char>) {
    let mut it = text.get(pos..).unwrap_or_default().chars();
    (it.next(), it.next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_around_a_position() {
        let t = "my OTP is: 7391 thanks";
        let at = t.find("7391").unwrap_or_default();
        assert_eq!(words_before(t, at, 2), ["is", "otp"]);
        assert_eq!(words_after(t, at + 4, 3), ["thanks"]);
        assert_eq!(words_before("line one\ncode 1", 14, 5), ["code"]);
        assert!(words_after("07700 [code hidden]", 5, 3).is_empty());
    }

    #[test]
    fn masks_links_and_emails_are_protected() {
        let t = "x [password hidden] y z ann123456@mail.com account.xiaomi.com/x";
        let spans = protected_spans(t);
        assert_eq!(spans.len(), 3);
    }
}

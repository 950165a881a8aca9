//! Masking of secrets users type: one-time codes, passwords, card numbers.
//!
//! People in a hurry paste their verification code or password into a support chat. Support
//! never needs either (the seed article's own advice: never share codes), so the transcript
//! and anything relayed to staff keep a mask instead, and the bot warns the user once.

use std::sync::LazyLock;

use regex::Regex;

/// What replaces a one-time code.
pub const CODE_MASK: &str = "[code hidden]";
/// What replaces a password.
pub const PASSWORD_MASK: &str = "[password hidden]";
/// What replaces a card number.
pub const CARD_MASK: &str = "[card number hidden]";

static PASSWORD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // "my password is hunter2", "password: hunter2", "pwd=hunter2", "pass was hunter2".
    Regex::new(r"(?i)\b(pass(?:word|code|wd)?|pwd|pw)(\s*(?:is|was|=|:|-)\s*|\s+)(\S+)").ok()
});
static CARD: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(?:\d[ -]?){12,18}\d\b").ok());
static CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(?:\d{6,8}|\d{3}[ -]\d{3})\b").ok());

/// Returns `text` with secrets masked, and whether anything was masked.
///
/// Passwords are recognised after a cue word ("password is …"), card numbers as 13 to 19
/// digits (spaces or dashes allowed), one-time codes as a standalone group of 6 to 8 digits
/// (or `123 456`; Mi codes have six digits). Phone numbers and years are left alone.
pub fn mask_secrets(text: &str) -> (String, bool) {
    let mut out = text.to_string();
    let mut found = false;
    if let Some(re) = PASSWORD.as_ref() {
        let masked = re.replace_all(&out, |c: &regex::Captures<'_>| {
            let cue = &c[1];
            let sep = &c[2];
            let value = &c[3];
            // "password reset", "password for", "password not working" are not passwords.
            let worded = matches!(sep.trim().to_lowercase().as_str(), "" | "is" | "was");
            if worded && is_common_word(value) {
                return c[0].to_string();
            }
            found = true;
            format!("{cue}{sep}{PASSWORD_MASK}")
        });
        out = masked.into_owned();
    }
    for (re, mask) in [(CARD.as_ref(), CARD_MASK), (CODE.as_ref(), CODE_MASK)] {
        if let Some(re) = re
            && re.is_match(&out)
        {
            found = true;
            out = re.replace_all(&out, mask).into_owned();
        }
    }
    (out, found)
}

fn is_common_word(word: &str) -> bool {
    let w = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    w.is_empty()
        || w.chars().all(|c| c.is_alphabetic())
            && matches!(
                w.as_str(),
                "reset"
                    | "for"
                    | "and"
                    | "is"
                    | "was"
                    | "not"
                    | "doesn't"
                    | "doesnt"
                    | "isn't"
                    | "wrong"
                    | "incorrect"
                    | "recovery"
                    | "change"
                    | "changed"
                    | "manager"
                    | "again"
                    | "but"
                    | "it"
                    | "to"
                    | "of"
                    | "on"
                    | "in"
                    | "keeps"
                    | "still"
                    | "the"
                    | "my"
                    | "a"
                    | "email"
                    | "link"
                    | "page"
                    | "field"
                    | "box"
                    | "no"
                    | "right"
                    | "correct"
                    | "expired"
                    | "won't"
                    | "wont"
                    | "or"
                    | "too"
                    | "i"
                    | "that"
                    | "so"
                    | "with"
                    | "at"
                    | "when"
                    | "every"
                    | "anymore"
            )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_codes_passwords_and_cards() {
        let (m, f) = mask_secrets("my code is 482913 but it says invalid");
        assert!(f);
        assert_eq!(m, "my code is [code hidden] but it says invalid");
        let (m, f) = mask_secrets("My password is Hunter2! please check");
        assert!(f);
        assert_eq!(m, "My password is [password hidden] please check");
        let (m, _) = mask_secrets("password: s3cr3t");
        assert_eq!(m, "password: [password hidden]");
        let (m, f) = mask_secrets("card 4111 1111 1111 1111 was charged");
        assert!(f);
        assert_eq!(m, "card [card number hidden] was charged");
        let (m, _) = mask_secrets("got 123 456 by sms");
        assert_eq!(m, "got [code hidden] by sms");
    }

    #[test]
    fn leaves_ordinary_messages_alone() {
        for text in [
            "I forgot my password",
            "password reset link never arrives",
            "my password is not working",
            "the password was wrong again",
            "error DEVICE_NOT_RECOGNIZED on redmi note 12",
            "call me on +44 20 7946 0958",
            "",
        ] {
            let (m, f) = mask_secrets(text);
            assert!(!f, "{text}");
            assert_eq!(m, text);
        }
    }
}

//! Masking of secrets users type: one-time codes, passwords, card numbers.
//!
//! People in a hurry paste their verification code or password into a support chat. Support
//! never needs either (the seed article's own advice: never share codes), so the transcript
//! and anything relayed to staff keep a mask instead, and the bot warns the user once.
//!
//! Only what the user typed is masked, once, before it is stored (the dialogue policy does it
//! on every text turn); the bot's own text is never masked. Masking is idempotent
//! (`mask(mask(x)) == mask(x)`): a mask is never masked again, so showing a stored line
//! through [`mask_secrets`] once more changes nothing.
//!
//! What is a secret, in short (details in each detector):
//! - one-time codes (`digits.rs`): 4 to 8 digits next to a code word ("OTP 7391", "my code
//!   is 48 29 13"), or six digits as one group or evenly spaced ("482913", "482 913");
//! - card numbers (`digits.rs`): 13 to 19 digits, spaces or dashes allowed, passing Luhn;
//! - passwords (`password.rs`): the value after "password is / was / : / = / 's / should be
//!   …", quoted values whole, never an ordinary word unless quoted or after `:` or `=`
//!   (`words.rs`); and tokens shaped like passwords (`shape.rs`).
//!
//! Never masked: masks, links, e-mail addresses, order, ticket, IMEI, error, model and version
//! numbers, phone numbers, years, dates, times, prices, ordinary words.
//! [`eval`] measures all this on a labelled file.

mod digits;
pub mod eval;
mod password;
mod scan;
mod shape;
mod words;

pub use eval::{MaskingReport, evaluate};
pub use words::is_ordinary_word;

/// What replaces a one-time code.
pub const CODE_MASK: &str = "[code hidden]";
/// What replaces a password.
pub const PASSWORD_MASK: &str = "[password hidden]";
/// What replaces a card number.
pub const CARD_MASK: &str = "[card number hidden]";

/// The kind of a secret found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A one-time (verification) code.
    Code,
    /// A password.
    Password,
    /// A payment card number.
    Card,
}

impl Kind {
    /// The text that replaces a secret of this kind.
    pub fn mask(self) -> &'static str {
        match self {
            Self::Code => CODE_MASK,
            Self::Password => PASSWORD_MASK,
            Self::Card => CARD_MASK,
        }
    }
}

/// A secret found in a text: its byte range and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// What it is.
    pub kind: Kind,
}

/// The secrets in `text`, in order, not overlapping. Passwords are found first: a password
/// made of digits ("password is 123456") is masked as a password, not as a code.
pub fn find_secrets(text: &str) -> Vec<Secret> {
    let protected = scan::protected_spans(text);
    let mut found = Vec::new();
    password::find(text, &protected, &mut found);
    digits::find(text, &protected, &mut found);
    // Earlier detectors win; then order by position.
    let mut kept: Vec<Secret> = Vec::with_capacity(found.len());
    for s in found {
        if s.start < s.end && !kept.iter().any(|k| s.start < k.end && k.start < s.end) {
            kept.push(s);
        }
    }
    kept.sort_by_key(|s| s.start);
    kept
}

/// Returns `text` with secrets masked, and whether anything was masked.
///
/// See the module documentation for what counts as a secret. Masking a masked text again
/// changes nothing and returns `false`.
pub fn mask_secrets(text: &str) -> (String, bool) {
    let secrets = find_secrets(text);
    if secrets.is_empty() {
        return (text.to_string(), false);
    }
    let mut out = String::with_capacity(text.len() + 16 * secrets.len());
    let mut at = 0;
    for s in &secrets {
        out.push_str(text.get(at..s.start).unwrap_or_default());
        out.push_str(s.kind.mask());
        at = s.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    (out, true)
}

#[cfg(test)]
mod tests;

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
    // Codes typed in Arabic-Indic, Persian or Devanagari digits ("٤٨٢٩١٣", "४८२९१३") are read
    // as the ASCII digits they are; the text kept has the ASCII digits too.
    let ascii;
    let text = if text.chars().any(|c| other_digit(c).is_some()) {
        ascii = text
            .chars()
            .map(|c| other_digit(c).unwrap_or(c))
            .collect::<String>();
        ascii.as_str()
    } else {
        text
    };
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

/// The ASCII digit of a decimal digit in the Arabic-Indic, Persian or Devanagari script.
fn other_digit(c: char) -> Option<char> {
    let zero = match c {
        '\u{0660}'..='\u{0669}' => 0x0660,
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        '\u{0966}'..='\u{096F}' => 0x0966,
        _ => return None,
    };
    char::from_u32(u32::from(c) - zero + u32::from(b'0'))
}

#[cfg(test)]
mod tests;

//! Tokens that have the shape of a password, wherever they stand: eight characters or more
//! mixing lower case, digits and symbols anywhere ("S3cure*Pass"), and, in a message that
//! talks about passwords, letters mixed with digits ("jaguar55 or Jaguar55"). Numbers with
//! units, times, versions, file names, product names with a number ("MIUI14"), error names
//! ("ACCOUNT_LOCKED") and what follows "username"/"login" are left alone.

use super::password::{next_token, trim_value};
use super::scan::words_before;
use super::words::is_ordinary_word;

/// Whether `v` looks like a password by its shape: at least 4 characters, not an ordinary
/// word, and letters mixed with digits or symbols, or digits only, or mixed case inside the
/// word ("hUnter").
pub fn looks_like_password(v: &str) -> bool {
    if v.chars().count() < 4 || is_ordinary_word(v) {
        return false;
    }
    let alpha = v.chars().any(char::is_alphabetic);
    let digit = v.chars().any(|c| c.is_ascii_digit());
    let symbol = v.chars().any(|c| !c.is_alphanumeric());
    let inner_upper =
        v.chars().skip(1).any(char::is_uppercase) && v.chars().any(char::is_lowercase);
    // "2nd", "10am", "5pm", "3x" are not passwords.
    let ordinal = v
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .to_lowercase();
    if digit
        && [
            "st", "nd", "rd", "th", "am", "pm", "x", "s", "h", "min", "mins",
        ]
        .contains(&ordinal.as_str())
    {
        return false;
    }
    inner_upper || (alpha && symbol) || (digit && !symbol)
}

/// Whether `v` is a word of letters that is not an ordinary word ("qwerty", "letmein").
pub(super) fn unknown_word(v: &str) -> bool {
    v.chars().count() >= 4 && v.chars().all(char::is_alphabetic) && !is_ordinary_word(v)
}

/// Whether `v` is a number with a unit or a range, a time, a version or a file name: "5pm",
/// "128GB", "8-16", "10:30am", "v14.0.6", "IMG_2041.jpg".
fn number_like(v: &str) -> bool {
    let lower = v.to_lowercase();
    let rest = lower.trim_start_matches('v');
    let digits_end = rest
        .find(|c: char| !(c.is_ascii_digit() || ".:/-,x".contains(c)))
        .unwrap_or(rest.len());
    let (num, unit) = rest.split_at(digits_end);
    let numeric = num.starts_with(|c: char| c.is_ascii_digit())
        && unit.len() <= 3
        && unit.chars().all(|c| c.is_ascii_alphabetic());
    let file = lower.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (2..=4).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphabetic())
    });
    numeric || file
}

/// Whether `v` is written like an error name or constant: capitals, digits and `_`
/// ("ACCOUNT_LOCKED", "ERR_2FA_TIMEOUT").
fn error_name(v: &str) -> bool {
    v.contains('_')
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `v` looks like a password even with no password word near it: eight characters
/// or more with lower-case letters, digits and symbols ("S3cure*Pass", "Lucky#777"). Model
/// names ("SM-G991B") have no lower case; file names, times and versions are left out.
fn strong_shape(v: &str) -> bool {
    v.chars().count() >= 8
        && v.chars().any(char::is_lowercase)
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars()
            .any(|c| !c.is_alphanumeric() && !"-._'’/".contains(c))
        && !number_like(v)
        && !v.contains("://")
        && !is_ordinary_word(v)
}

/// Whether `v`, in a message that talks about passwords, is one: six characters or more,
/// letters mixed with digits ("jaguar55", "Asdf1234") or symbols inside ("Z@x!pq").
fn password_shape(v: &str) -> bool {
    let letters = v.chars().filter(|c| c.is_alphabetic()).count();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let inner = v.trim_matches(|c: char| !c.is_alphanumeric());
    // Hyphens, dots and apostrophes join words ("sign-in", "e.g.", "didn't"); `_` joins the
    // words of an error name ("ACCOUNT_LOCKED").
    let symbols = inner
        .chars()
        .filter(|c| !c.is_alphanumeric() && !"-.'’_".contains(*c))
        .count();
    if error_name(v) {
        return false;
    }
    v.chars().count() >= 6
        && letters >= 2
        && (digits >= 1 || symbols >= 1)
        && !number_like(v)
        && !product(v)
        && !is_ordinary_word(v)
        && !v.contains("://")
}

/// Whether the token at byte `at` is given as a user name or e-mail ("username ann_92",
/// "login is ann.k92").
fn after_name(text: &str, at: usize) -> bool {
    let words = words_before(text, at, 2);
    let is_name = |w: &str| NAMES.contains(&w);
    match words.as_slice() {
        [w, ..] if is_name(w) => true,
        [link, w] => matches!(link.as_str(), "is" | "was") && is_name(w),
        _ => false,
    }
}

/// Words that name what follows as an account name, not a password.
#[rustfmt::skip]
const NAMES: &[&str] = &[
    "username", "user", "login", "id", "email", "mail", "name", "account", "handle", "nick",
    "nickname", "userid",
];

/// Product names that come with a number ("miui14", "redmi9", "android13"): not passwords.
#[rustfmt::skip]
const PRODUCTS: &[&str] = &[
    "miui", "hyperos", "android", "ios", "redmi", "poco", "mi", "note", "iphone", "galaxy",
    "pixel", "xiaomi", "samsung", "windows", "win", "pro", "max", "ultra", "lite", "plus",
    "gen", "version", "build", "model", "sim", "esim", "wifi", "lte", "usb", "type", "covid",
    "mix", "pad", "band", "watch", "civi", "fold", "flip",
];

/// Whether `v` is a product name and a number ("MIUI14", "Note10", "redmi9a").
fn product(v: &str) -> bool {
    let lower = v.to_lowercase();
    let letters: String = lower
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let rest = &lower[letters.len()..];
    PRODUCTS.contains(&letters.as_str())
        && rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.trim_start_matches(|c: char| c.is_ascii_digit()).len() <= 2
}

/// Tokens of `text` that have the shape of a password: [`strong_shape`] anywhere, and
/// [`password_shape`] when the text has a password word (`cued`).
pub(super) fn shaped(text: &str, cued: bool, out: &mut Vec<(usize, usize)>) {
    let mut pos = 0;
    while let Some((s, e)) = next_token(text, pos) {
        pos = e;
        // Quotes and brackets around a token are not part of it, nor the sentence's
        // punctuation.
        let raw = text.get(s..e).unwrap_or_default();
        let lead = raw.len()
            - raw
                .trim_start_matches(['"', '\'', '`', '“', '‘', '(', '[', '<'])
                .len();
        let tail = raw.len()
            - raw
                .trim_end_matches(['"', '\'', '`', '”', '’', ')', ']', '>'])
                .len();
        if lead + tail >= raw.len() {
            continue;
        }
        let (vs, ve) = trim_value(text, s + lead, e - tail);
        let v = text.get(vs..ve).unwrap_or_default();
        // "code=5530", "user:ann92" are a name and a value: the value's own cue judges it.
        if v.contains(['=', ':']) || after_name(text, vs) {
            continue;
        }
        if strong_shape(v) || (cued && password_shape(v)) {
            out.push((vs, ve));
        }
    }
}

//! One-time codes and card numbers: runs of digits, read with the words around them.
//!
//! A run is digits in groups separated by one space or dash ("482913", "12 34 56",
//! "4111-1111-1111-1111"). It is
//! - a **card number** when it has 13 to 19 digits, starts like a payment card (2 to 6) and
//!   passes the Luhn check (order numbers and most long ids fail it);
//! - a **one-time code** when it has 4 to 8 digits and a code word is next to it ("code",
//!   "OTP", "PIN", "verification" … before it, or "… is the code" after it), or when it is
//!   six digits typed as one group or evenly spaced (`482913`, `482 913`, `48 29 13`);
//! - nothing otherwise, and nothing at all when its neighbours say it is something else: an
//!   order, ticket, IMEI, error, model or version number, a price, a year, a date or time, a
//!   phone number (a leading `+`), a number glued to letters (`MIUI14`, `5000mAh`) or to other
//!   digits by `.`, `,`, `:`, `/` (`14.0.6.0`, `1,299`, `10:30`, `15/03/2024`).

use std::sync::LazyLock;

use regex::Regex;

use super::scan::{chars_after, chars_before, overlaps, words_after, words_before};
use super::{Kind, Secret};

static RUN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[0-9]+(?:[ \-][0-9]+)*").ok());

/// Words that make the digits next to them a one-time code.
#[rustfmt::skip]
const CODE_CUES: &[&str] = &[
    "code", "codes", "otp", "otps", "pin", "pins", "passcode", "verification", "verify",
    "verifying", "2fa", "token", "onetime", "authenticator", "auth", "digits", "digit", "kod",
    "codigo", "código", "cod", "backup", "recovery", "kode", "senha", "код", "кода", "коду",
    "кодом", "коде", "смс", "कोड", "ओटीपी", "رمز", "الرمز", "كود", "الكود", "التحقق",
];

/// Words that make digits right after them a code only when right before them ("they sent
/// 4471").
const NEAR_CODE_CUES: &[&str] = &["sent", "texted", "sms", "otp"];

/// Words before "code" that make it something else than a one-time code.
#[rustfmt::skip]
const NOT_CODE: &[&str] = &[
    "error", "err", "area", "zip", "postal", "post", "country", "promo", "promotion",
    "discount", "coupon", "qr", "referral", "invite", "invitation", "product", "region", "bar",
    "barcode", "source", "status", "gift", "voucher", "redeem", "tracking", "dialing", "dial",
    "reason", "exit", "fault", "response", "http",
];

/// Words before "code" that make it what the screen shows ("it shows code 70016": an error),
/// so not a cue (a six-digit code is still masked by its shape).
#[rustfmt::skip]
const SHOWN: &[&str] = &[
    "shows", "showing", "show", "showed", "says", "saying", "gives", "giving", "gave",
    "displays", "displaying", "throws", "throwing", "getting",
];

/// Words that make the digits next to them something else than a secret.
#[rustfmt::skip]
const NOT_SECRET: &[&str] = &[
    "order", "orders", "ordered", "tracking", "track", "invoice", "receipt", "transaction",
    "txn", "awb", "shipment", "parcel", "ref", "reference", "ticket", "tickets", "case", "imei",
    "imei1", "imei2", "meid", "serial", "sn", "error", "errors", "err", "model", "version",
    "ver", "build", "firmware", "miui", "hyperos", "android", "uid", "year", "years", "since",
    "price", "cost", "costs", "paid", "pay", "rs", "inr", "usd", "eur", "gbp", "rupees",
    "dollars", "euros", "pounds", "yuan", "rmb", "step", "steps", "page", "room", "flight",
    "zip", "postal", "postcode", "pincode", "extension", "ext", "mah", "gb", "mb", "kb", "tb",
    "times", "people", "km", "days", "hours", "minutes", "mins", "seconds", "secs", "followers",
    "points", "coins", "percent", "mp", "hz", "fps", "level", "lvl", "chapter", "line", "row",
    "id", "bill", "booking", "pnr", "claim", "request", "complaint", "sr", "issue", "bug",
    "report", "batch", "lot", "part", "sku", "item", "sender", "whatsapp", "tel", "telephone",
    "call", "dial", "fax",
];

/// Identifiers: digits after these are not a card number even when they pass Luhn (IMEIs
/// do). Money words do not count here: "paid with 5299 …" is a card.
#[rustfmt::skip]
const NOT_CARD: &[&str] = &[
    "order", "orders", "tracking", "invoice", "receipt", "transaction", "txn", "awb",
    "shipment", "parcel", "ref", "reference", "ticket", "case", "imei", "imei1", "imei2",
    "meid", "serial", "sn", "id", "uid", "booking", "pnr", "sku", "whatsapp", "tel",
    "telephone", "call",
];

/// Words before "number" that make it a phone number.
#[rustfmt::skip]
const PHONE: &[&str] = &[
    "phone", "mobile", "cell", "contact", "telephone", "whatsapp", "tel",
];

/// Words allowed between a cue and its digits ("code I got is 482913").
#[rustfmt::skip]
const CONNECTORS: &[&str] = &[
    "is", "was", "are", "were", "its", "it", "my", "the", "a", "this", "that", "i", "me", "got",
    "get", "getting", "received", "recieved", "receive", "sent", "send", "says", "said", "say",
    "shows", "showing", "show", "showed", "reads", "number", "no", "nr", "num", "new", "old",
    "just", "like", "now", "be", "here", "of", "as", "by", "via", "in", "from", "on", "with",
    "you", "your", "keeps", "giving", "gives", "gave", "typed", "type", "entered", "enter",
    "tried", "try", "put", "use", "used", "using", "sms", "text", "message", "msg", "email",
    "phone", "to", "and", "but", "still", "even", "again", "all", "last", "latest", "first",
    "one", "time", "6", "six", "4", "four", "digit", "digits", "verification", "login", "sign",
    "signin", "security", "confirmation", "access", "mi", "account", "xiaomi", "otp", "pin",
    "code", "they", "we",
];

/// How many words before (after) digits are read for a cue.
const LOOK_BEFORE: usize = 8;
const LOOK_AFTER: usize = 4;
/// How many other words may stand between a cue and its digits.
const STRANGERS: usize = 2;

/// What the words next to a run say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A code word, this many words away.
    Code(usize),
    /// "pin code": a PIN, or an Indian postal code when it has six digits.
    PinCode,
    /// Something that is not a secret (an order, an error, a price …).
    NotSecret,
    /// Nothing known.
    None,
}

/// Reads `words` (nearest first) for a cue: the nearest code or not-secret word wins. Up to
/// [`STRANGERS`] words that are neither cues nor [`CONNECTORS`] may stand in between. After
/// the digits (`after`), a not-secret word counts only right next to them ("5 times", not
/// "… and ticket 104").
fn read_cue(words: &[String], after: bool) -> Cue {
    let mut strangers = 0;
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        if NOT_SECRET.contains(&w) || (w == "number" && PHONE.contains(&next)) {
            if !after || i == 0 {
                return Cue::NotSecret;
            }
            continue;
        }
        if CODE_CUES.contains(&w) {
            if w == "code" || w == "codes" {
                if NOT_CODE.contains(&next) {
                    return Cue::NotSecret;
                }
                if SHOWN.contains(&next) {
                    return Cue::None;
                }
                if next == "pin" && !after {
                    return Cue::PinCode;
                }
            }
            return Cue::Code(i);
        }
        if i == 0 && !after && NEAR_CODE_CUES.contains(&w) {
            return Cue::Code(i);
        }
        if !CONNECTORS.contains(&w) {
            strangers += 1;
            if strangers > STRANGERS {
                break;
            }
        }
    }
    Cue::None
}

/// Whether the characters around `start..end` glue the run to something that is not a
/// secret: letters or digits directly attached, a number format (`1.5`, `1,299`, `10:30`,
/// `3/4`), a currency or `#`, `+`, `%`, `@`.
fn glued(text: &str, start: usize, end: usize) -> bool {
    let (b1, b2) = chars_before(text, start);
    let before = match b1 {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some(c) if "#+$€£¥₹₽%@\\".contains(c) => true,
        Some('/') => b2.is_some_and(char::is_alphanumeric) && !in_link(text, start),
        Some(c) if ".,:-".contains(c) => b2.is_some_and(char::is_alphanumeric),
        _ => false,
    };
    let (a1, a2) = chars_after(text, end);
    let after = match a1 {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some(c) if "%@€£¥₹₽$".contains(c) => true,
        Some(c) if ".,:-".contains(c) => a2.is_some_and(|d| d.is_ascii_digit()),
        // "15/03/2024", "3/4": a date or a fraction; a segment of a link's path is not.
        Some('/') => a2.is_some_and(|d| d.is_ascii_digit()) && !in_link(text, start),
        _ => false,
    };
    before || after
}

/// Whether the run starting at `start` is in a link's path ("https://…/482913.png",
/// "site.com/verify/482913"): its segments are read one by one, like words.
fn in_link(text: &str, start: usize) -> bool {
    let head = text.get(..start).unwrap_or_default();
    let token = head.rsplit(char::is_whitespace).next().unwrap_or_default();
    token.contains("://") || token.contains(".com/")
}

/// Luhn check of a string of ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.saturating_sub(b'0'));
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Whether `groups` (digit counts) is how people type a six-digit code: one group, or even
/// groups (3+3, 2+2+2, six single digits).
fn code_shape(groups: &[usize]) -> bool {
    matches!(groups, [6] | [3, 3] | [2, 2, 2] | [1, 1, 1, 1, 1, 1])
}

/// Whether a four-digit number reads as a year (1900–2099).
fn year_like(digits: &[u8]) -> bool {
    digits.len() == 4 && (digits.starts_with(b"19") || digits.starts_with(b"20"))
}

/// Whether one of the nearest words before a run says it is an identifier, not a card.
fn not_card(before: &[String]) -> bool {
    before
        .iter()
        .take(3)
        .any(|w| NOT_CARD.contains(&w.as_str()))
}

/// Card numbers and one-time codes in `text`, outside `protected`.
pub fn find(text: &str, protected: &[(usize, usize)], out: &mut Vec<Secret>) {
    let Some(re) = RUN.as_ref() else { return };
    for m in re.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        if overlaps(protected, start, end) || glued(text, start, end) {
            continue;
        }
        let run = m.as_str();
        let digits: Vec<u8> = run.bytes().filter(u8::is_ascii_digit).collect();
        let groups: Vec<usize> = run.split([' ', '-']).map(str::len).collect();
        let words = words_before(text, start, LOOK_BEFORE);
        let n = digits.len();
        if (13..=19).contains(&n)
            && matches!(digits.first(), Some(b'2'..=b'6'))
            && groups.iter().all(|g| *g >= 3)
            && luhn(&digits)
            && !not_card(&words)
        {
            out.push(Secret {
                start,
                end,
                kind: Kind::Card,
            });
            continue;
        }
        let before = read_cue(&words, false);
        let after = read_cue(&words_after(text, end, LOOK_AFTER), true);
        let cued = match (before, after) {
            (Cue::NotSecret, _) | (Cue::None, Cue::NotSecret) => continue,
            (Cue::PinCode, _) if n == 6 => continue,
            (Cue::PinCode, _) => true,
            (Cue::Code(d), _) | (Cue::None, Cue::Code(d)) => !year_like(&digits) || d <= 1,
            (Cue::None, _) => false,
        };
        if (cued && (4..=8).contains(&n)) || code_shape(&groups) {
            out.push(Secret {
                start,
                end,
                kind: Kind::Code,
            });
            continue;
        }
        // A phone number ("07700 900123") holds no code.
        if n >= 10 || (digits.first() == Some(&b'0') && groups.len() > 1) {
            continue;
        }
        // A longer run that holds a six-digit code as one group ("482913 2 times").
        let mut at = start;
        for g in run.split([' ', '-']) {
            if g.len() == 6 || (cued && (4..=8).contains(&g.len())) {
                out.push(Secret {
                    start: at,
                    end: at + g.len(),
                    kind: Kind::Code,
                });
            }
            at += g.len() + 1;
        }
    }
    recovery_codes(text, protected, out);
}

static RECOVERY: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b[A-Za-z0-9]{4,5}(?:-[A-Za-z0-9]{4,5}){1,4}\b").ok());

/// Backup and recovery codes: letters and digits in dashed groups ("kq7d-3mzp",
/// "R7KD-Q2LM-88XA") after a code word.
fn recovery_codes(text: &str, protected: &[(usize, usize)], out: &mut Vec<Secret>) {
    let Some(re) = RECOVERY.as_ref() else { return };
    for m in re.find_iter(text) {
        let v = m.as_str();
        let digit = v.chars().any(|c| c.is_ascii_digit());
        let letter = v.chars().any(char::is_alphabetic);
        if !digit || !letter || overlaps(protected, m.start(), m.end()) {
            continue;
        }
        if let Cue::Code(_) = read_cue(&words_before(text, m.start(), LOOK_BEFORE), false) {
            out.push(Secret {
                start: m.start(),
                end: m.end(),
                kind: Kind::Code,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_others() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
    }
}

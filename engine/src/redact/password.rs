//! Passwords: a value after (or before) a password word.
//!
//! After the cue ("password", "pass", "pwd", "pw", typos such as "pasword") the words that
//! link it to a value are read ("is", "was", "'s", "should be", "will be", "to", "as",
//! "i used was", `:`, `=`), then the value:
//! - a quoted value ("password is "my dog rex 2019"") is masked whole, spaces and all;
//! - after `:` or `=` anything but a stop word is masked ("password: sunshine");
//! - after a worded link, a value that is not an ordinary word ("is Hunter2!", "is qwerty");
//!   an ordinary word never is ("password is which …", "should be fine");
//! - with no link at all ("password Hunter2"), only a value that looks like a password
//!   (letters mixed with digits or symbols).
//!
//! "Hunter2 is my password" (value first) is read the same way backwards.

use std::sync::LazyLock;

use regex::Regex;

use super::scan::overlaps;
use super::shape::{looks_like_password, shaped, unknown_word};
use super::words::is_stop_word;
use super::{Kind, Secret};

static CUE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:pass(?:words?|wds?|wrd|ward|wort|phrase)?|pas+w[aeo]?r?ds?|pwd|pw|pswd|psw|pword|contrase(?:ñ|n)as?|clave|senhas?|kennwort|mot\ de\ passe|(?:kata\ )?sandi(?:nya)?|парол(?:ь|я|ем|ю)|пасс|पासवर्ड|पासवड|कूटशब्द|كلمة\ (?:السر|المرور|سر|مرور)|(?:ال)?باسورد|(?:ال)?رقم\ السري)\b",
    )
    .ok()
});

/// Words that link the cue to its value.
#[rustfmt::skip]
const LINKS: &[&str] = &[
    "is", "was", "be", "to", "as", "are", "were", "=", ":", "-", "—", "–", "es", "era", "é",
    "ist", "est", "adalah", "yaitu", "это", "был", "была", "hai", "tha", "है", "था", "هي", "هو",
    "كانت",
];

/// Words that may stand between the cue and the link or the value ("password I used was",
/// "password should now be", "password is still").
#[rustfmt::skip]
const FILLERS: &[&str] = &[
    "now", "still", "currently", "just", "literally", "actually", "basically", "like",
    "probably", "i", "im", "think", "used", "typed", "type", "entered", "use", "set", "tried",
    "put", "chose", "made", "my", "the", "new", "old", "current", "should", "will", "would",
    "must", "could", "can", "might", "shall", "it", "its", "changed", "has", "have", "been",
    "always", "simply", "exactly", "sure", "then", "that", "this", "one", "also", "definitely",
    "already", "gonna", "going", "being", "for", "account", "mi", "xiaomi",
    // The other languages' "my", "new", "now", "I typed"…
    "la", "nueva", "actual", "que", "puse", "minha", "a", "nova", "atual", "coloquei", "saya",
    "sy", "aku", "ku", "nya", "itu", "baru", "lama", "akun", "у", "меня", "мой", "моя",
    "теперь", "сейчас", "новый", "старый", "mera", "meri", "ka", "ki", "naya", "मेरा", "मेरी",
    "का", "की", "عندي", "حقي", "تبعي", "الجديدة", "القديمة",
];

/// Words between a value and a following cue ("Hunter2 is my password").
#[rustfmt::skip]
const DETERMINERS: &[&str] = &[
    "my", "the", "our", "new", "old", "current", "previous", "actual", "account", "mi", "real",
    "correct", "xiaomi", "wifi",
];

/// Quote pairs a value may be written in.
const QUOTES: &[(char, char)] = &[
    ('"', '"'),
    ('\'', '\''),
    ('“', '”'),
    ('‘', '’'),
    ('`', '`'),
    ('«', '»'),
];

/// How many tokens after a cue are read.
const LOOK: usize = 7;

/// A whitespace-separated token of `text` starting at or after byte `from`.
pub(super) fn next_token(text: &str, from: usize) -> Option<(usize, usize)> {
    let rest = text.get(from..)?;
    let lead = rest.len() - rest.trim_start().len();
    let start = from + lead;
    let tail = text.get(start..)?;
    if tail.is_empty() {
        return None;
    }
    let len = tail.find(char::is_whitespace).unwrap_or(tail.len());
    Some((start, start + len))
}

/// `start..end` with sentence punctuation around a value taken off: leading `(`, trailing
/// `.`, `,`, `;`, `?`, `)` and a closing run of two or more `!`.
pub(super) fn trim_value(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    let v = text.get(start..end).unwrap_or_default();
    if v.starts_with('(') && !v.contains(')') {
        start += 1;
    }
    loop {
        let v = text.get(start..end).unwrap_or_default();
        let trimmed = v.trim_end_matches(['.', ',', ';', '?', ')']);
        let trimmed = if trimmed.ends_with("!!") {
            trimmed.trim_end_matches('!')
        } else {
            trimmed
        };
        if trimmed.len() == v.len() || trimmed.is_empty() {
            return (start, end);
        }
        end = start + trimmed.len();
    }
}

/// How a value was linked to its cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Nothing: "password Hunter2".
    None,
    /// A word: "is", "was", "'s", "should be", "to".
    Worded,
    /// `:` or `=`.
    Strong,
}

/// Whether the value `v` is taken as a password after a link of kind `link`.
fn accept(v: &str, link: Link, bare_cue_ok: bool) -> bool {
    if v.trim().is_empty() {
        return false;
    }
    match link {
        Link::Strong => !is_stop_word(v),
        Link::Worded => looks_like_password(v) || unknown_word(v),
        Link::None => bare_cue_ok && looks_like_password(v),
    }
}

/// A quoted value starting at byte `start` (on its opening quote): the byte range of what is
/// inside the quotes.
fn quoted(text: &str, start: usize) -> Option<(usize, usize)> {
    let open = text.get(start..)?.chars().next()?;
    let close = QUOTES.iter().find(|(o, _)| *o == open)?.1;
    let inner_start = start + open.len_utf8();
    let inner = text.get(inner_start..)?;
    let mut len = None;
    for (i, c) in inner.char_indices() {
        if c == '\n' || i > 80 {
            break;
        }
        if c == close {
            // An apostrophe closes only before a non-letter ("'it's'" is rare; "'my pass'").
            let after = inner.get(i + c.len_utf8()..).and_then(|r| r.chars().next());
            if close == '\'' && after.is_some_and(char::is_alphanumeric) {
                continue;
            }
            len = Some(i);
            break;
        }
    }
    let len = len?;
    let value = inner.get(..len)?;
    (!value.trim().is_empty()).then_some((inner_start, inner_start + len))
}

/// Reads forward from the end of a cue; the value found, if any.
fn forward(text: &str, cue: &str, mut at: usize) -> Option<(usize, usize)> {
    let mut link = Link::None;
    let rest = text.get(at..).unwrap_or_default();
    for s in ["'s", "’s"] {
        if rest.starts_with(s) && !rest[s.len()..].starts_with(char::is_alphanumeric) {
            link = Link::Worded;
            at += s.len();
        }
    }
    // "pass" alone is a common word ("boarding pass", "pass the check"): it needs a link.
    let bare_cue_ok = !cue.eq_ignore_ascii_case("pass");
    let mut seen_token = false;
    for _ in 0..LOOK {
        let rest = text.get(at..).unwrap_or_default();
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        let first = trimmed.chars().next()?;
        if first == ':' || first == '=' {
            link = Link::Strong;
            at += first.len_utf8();
            continue;
        }
        if QUOTES.iter().any(|(o, _)| *o == first) {
            // Quoted right after the cue or after a link: "password 'Bhai@420' worked".
            if link != Link::None || !seen_token {
                return quoted(text, at);
            }
            return None;
        }
        let (s, e) = next_token(text, at)?;
        let token = text.get(s..e)?;
        seen_token = true;
        // "is:" "was=" and the like.
        let word = token.trim_end_matches([':', '=']);
        let lower = if word.chars().any(char::is_alphanumeric) {
            word.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        } else {
            word.to_string()
        };
        // After `:` or `=` the next token is the value, whatever it is.
        if link != Link::Strong && LINKS.contains(&lower.as_str()) {
            link = if word.len() < token.len() {
                Link::Strong
            } else {
                link.max_worded()
            };
            at = e;
            continue;
        }
        if link != Link::Strong && FILLERS.contains(&lower.as_str()) {
            at = e;
            continue;
        }
        let (vs, ve) = trim_value(text, s, e);
        let value = text.get(vs..ve)?;
        return accept(value, link, bare_cue_ok).then_some((vs, ve));
    }
    None
}

impl Link {
    /// A worded link, unless a stronger one was already read.
    fn max_worded(self) -> Self {
        if self == Self::Strong {
            self
        } else {
            Self::Worded
        }
    }
}

/// Reads backward from the start of a cue: "Hunter2 is my password".
fn backward(text: &str, cue_start: usize) -> Option<(usize, usize)> {
    let head = text.get(..cue_start)?;
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while let Some((s, e)) = next_token(head, pos) {
        tokens.push((s, e));
        pos = e;
    }
    let mut i = tokens.len();
    while i > 0 {
        let (s, e) = tokens[i - 1];
        let w = head.get(s..e)?.to_lowercase();
        if DETERMINERS.contains(&w.as_str()) {
            i -= 1;
        } else {
            break;
        }
    }
    let (ls, le) = *tokens.get(i.checked_sub(1)?)?;
    let link = head.get(ls..le)?.to_lowercase();
    let linked = matches!(link.as_str(), "is" | "was" | "as" | "=");
    // A quoted value: "\"Mango Lassi 5\" is my password", "its `Z@x98765` the password".
    let before = if linked { ls } else { le };
    if let Some(q) = quoted_before(head, before) {
        return Some(q);
    }
    if !linked {
        return None;
    }
    let (vs, ve) = *tokens.get(i.checked_sub(2)?)?;
    let (vs, ve) = trim_value(head, vs, ve);
    let value = head.get(vs..ve)?;
    (looks_like_password(value) || unknown_word(value)).then_some((vs, ve))
}

/// A quoted value ending (with its closing quote) right before byte `end` of `head`, spaces
/// aside: the byte range inside the quotes.
fn quoted_before(head: &str, end: usize) -> Option<(usize, usize)> {
    let h = head.get(..end)?.trim_end();
    let close = h.chars().next_back()?;
    let open = QUOTES.iter().find(|(_, c)| *c == close)?.0;
    let inner_end = h.len() - close.len_utf8();
    let inner = h.get(..inner_end)?;
    let open_at = inner.rfind(open)?;
    let inner_start = open_at + open.len_utf8();
    let value = h.get(inner_start..inner_end)?;
    (!value.trim().is_empty() && value.chars().count() <= 80 && !value.contains('\n'))
        .then_some((inner_start, inner_end))
}

/// Passwords in `text`, outside `protected`.
pub fn find(text: &str, protected: &[(usize, usize)], out: &mut Vec<Secret>) {
    let Some(re) = CUE.as_ref() else { return };
    let mut spans = Vec::new();
    let mut cued = false;
    for m in re.find_iter(text) {
        if overlaps(protected, m.start(), m.end()) {
            continue;
        }
        cued = true;
        spans.extend(forward(text, m.as_str(), m.end()));
        spans.extend(backward(text, m.start()));
    }
    shaped(text, cued, &mut spans);
    for (start, end) in spans {
        if !overlaps(protected, start, end) {
            out.push(Secret {
                start,
                end,
                kind: Kind::Password,
            });
        }
    }
}

//! Is a token an ordinary word? An ordinary word is never taken for a password unless the
//! user quoted it or wrote it after `:` or `=`.
//!
//! The dictionary is SCOWL's size-50 American English list (Debian's `wamerican`, 73 000
//! words: letters only, lower-cased, sorted; its licence allows copying with the notice
//! kept, below). A list, not a crate: the word-list crates on crates.io are one-person
//! projects bundling other lists; SCOWL is the list spell checkers use, and size 50 is the
//! size they use by default (the small list lacks words such as "anymore"). Chat words and
//! support vocabulary that a dictionary lacks ("pls", "otp", "xiaomi", "dont") are added
//! below.

use std::sync::LazyLock;

/// SCOWL size-50 American English words, one a line (Copyright 2000-2011 Kevin Atkinson;
/// permission to use, copy, modify, distribute and sell is granted provided the notice is
/// kept; parts from Moby Words II, public domain).
const DICTIONARY: &str = include_str!("words.txt");

/// Words people write in support chats that the dictionary lacks: chat spellings, contractions
/// without apostrophes, product and app names, tech vocabulary.
#[rustfmt::skip]
const CHAT_WORDS: &[&str] = &[
    "ok", "okay", "okey", "k", "kk", "pls", "plz", "plss", "thx", "thnx", "ty", "tnx", "u",
    "ur", "r", "ya", "yea", "yeah", "yep", "yup", "nope", "nah", "idk", "lol", "btw", "omg",
    "wtf", "asap", "bro", "sir", "mam", "maam", "hi", "hii", "hey", "hello", "helo", "dont",
    "cant", "wont", "didnt", "doesnt", "isnt", "wasnt", "arent", "havent", "hasnt", "couldnt",
    "shouldnt", "wouldnt", "im", "ive", "id", "ill", "youre", "thats", "whats", "theres", "its",
    "lets", "gonna", "wanna", "gotta", "dunno", "cuz", "coz", "bc", "tho", "thru", "gud", "pic",
    "pics", "screenshot", "app", "apps", "login", "logon", "signin", "logout", "email",
    "emails", "gmail", "outlook", "sms", "otp", "otps", "pin", "pins", "wifi", "sim", "esim",
    "imei", "miui", "hyperos", "xiaomi", "redmi", "poco", "mi", "android", "iphone", "ios",
    "google", "authenticator", "2fa", "captcha", "recaptcha", "url", "link", "links", "online",
    "offline", "website", "browser", "chrome", "firefox", "update", "updated", "reset",
    "unlock", "unlocked", "relock", "bootloader", "firmware", "settings", "username", "userid",
    "userids", "password", "passwords", "passcode", "passcodes", "pwd", "passwd", "smth", "sth",
    "smthg", "anyway", "anyways", "alright", "whatever", "etc", "ie", "eg", "vs", "via", "tmrw",
    "tomorrow", "today", "yesterday", "tonight", "am", "pm", "mins", "min", "hrs", "hr", "sec",
    "secs", "ago", "guys", "pls", "thanks", "thank", "sorry", "nothing", "anything",
    "something", "everything", "everytime", "someone", "anyone", "noone", "inbox", "spam",
    "junk", "verify", "verified", "verification", "sync", "synced", "cloud", "backup",
    "gallery", "notes", "contacts", "hotspot", "vpn", "router", "data", "mobile", "phone",
    "tablet", "laptop", "pc", "device", "devices", "account", "accounts", "qr", "sim2", "sim1",
];

/// Function words: never a password after a cue word ("password is not…", "password: i
/// forgot it"), even after `:`.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "mine", "you", "your", "he", "she", "it", "its", "we",
    "they", "them", "their", "this", "that", "these", "those", "is", "are", "was", "were", "be",
    "been", "being", "am", "do", "does", "did", "doesnt", "dont", "didnt", "not", "no", "yes",
    "and", "or", "but", "if", "so", "to", "of", "on", "in", "at", "for", "with", "from", "by",
    "as", "about", "into", "still", "again", "just", "now", "then", "there", "here", "which",
    "what", "who", "when", "where", "why", "how", "should", "would", "could", "will", "can",
    "cant", "wont", "must", "might", "shall", "has", "have", "had", "having", "too", "very",
    "also", "some", "any", "all", "same", "new", "old", "correct", "wrong", "incorrect",
    "invalid", "forgot", "forgotten", "reset", "none", "nothing", "unknown", "na", "n/a", "idk",
    "changed", "expired", "hidden",
];

/// The dictionary's words, in the file's (byte) order, for binary search: no sorting or
/// hashing at start-up.
static WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    DICTIONARY
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});

/// Whether `w` (lower case) is a known word.
fn known(w: &str) -> bool {
    WORDS.binary_search(&w).is_ok() || CHAT_WORDS.contains(&w) || STOP_WORDS.contains(&w)
}

/// The token lower-cased, with the punctuation around it and an English possessive or
/// contraction ending ("button?", "(there)", "user's", "don't") taken off; apostrophes inside
/// are dropped ("doesn't" → "doesnt").
fn bare(token: &str) -> String {
    let t = token.trim_matches(|c: char| !c.is_alphanumeric());
    let t = t
        .strip_suffix("'s")
        .or_else(|| t.strip_suffix("’s"))
        .unwrap_or(t);
    t.chars()
        .filter(|c| *c != '\'' && *c != '’')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `token` (with any punctuation around it) is a stop word.
pub fn is_stop_word(token: &str) -> bool {
    let w = bare(token);
    STOP_WORDS.contains(&w.as_str())
}

/// Whether `token` (with any punctuation around it) is an ordinary word: in the dictionary,
/// a chat word, a stop word, or a regular inflection of a dictionary word ("buttons",
/// "clicked", "trying"). Empty tokens and bare punctuation count as ordinary too: they are
/// never passwords either.
pub fn is_ordinary_word(token: &str) -> bool {
    // "case-sensitive", "e-mail", "and/or": every part is a word.
    let t = token.trim_matches(|c: char| !c.is_alphanumeric());
    if t.contains(['-', '/']) {
        // "wi-fi", "e-mail": a word once the hyphen is gone.
        let joined: String = t.chars().filter(|c| *c != '-').collect();
        if !joined.contains('/')
            && joined.chars().all(char::is_alphabetic)
            && is_ordinary_word(&joined)
        {
            return true;
        }
        return t
            .split(['-', '/'])
            .all(|p| !p.is_empty() && p.chars().all(char::is_alphabetic) && is_ordinary_word(p));
    }
    let w = bare(token);
    if w.is_empty() {
        return true;
    }
    if !w.chars().all(|c| c.is_alphabetic()) {
        return known(&w);
    }
    if known(&w) {
        return true;
    }
    // Inflections the small list leaves out.
    let stems = [
        w.strip_suffix("es"),
        w.strip_suffix('s'),
        w.strip_suffix("ed"),
        w.strip_suffix('d'),
        w.strip_suffix("ing"),
        w.strip_suffix("ly"),
        w.strip_suffix("er"),
    ];
    stems
        .into_iter()
        .flatten()
        .any(|s| s.len() >= 3 && known(s))
        || w.strip_suffix("ing")
            .is_some_and(|s| known(&format!("{s}e")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_list_is_sorted_for_binary_search() {
        assert!(WORDS.len() > 70_000);
        assert!(WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn words_and_non_words() {
        for w in [
            "which",
            "there",
            "button?",
            "should",
            "(there)",
            "Don't",
            "clicked",
            "pls",
            "xiaomi",
            "user's",
            "trying",
            "case-sensitive",
            "and/or",
            "Wi-Fi",
            "anymore",
        ] {
            assert!(is_ordinary_word(w), "{w}");
        }
        for w in ["Hunter2", "letmein", "xK9#pq", "482913", "Tr0ub4dor&3"] {
            assert!(!is_ordinary_word(w), "{w}");
        }
        assert!(is_stop_word("Which?"));
        assert!(!is_stop_word("sunshine"));
    }
}

//! Requests to delete what the bot stored about the user ("delete my data"), recognised in
//! words as well as by `/forget`. (How users answer a step is learned, see `crate::acts`.)

/// Verbs that ask the bot to delete something (imperative forms only: "I deleted my data"
/// describes something the user did).
const FORGET_VERBS: &[&str] = &["delete", "erase", "remove", "wipe", "forget", "purge"];

/// What the user may ask the bot to delete about them.
const FORGET_OBJECTS: &[&str] = &[
    "my data",
    "all my data",
    "my personal data",
    "my information",
    "my personal information",
    "my info",
    "my details",
    "my personal details",
    "my chat history",
    "my history",
    "my messages",
    "my conversation",
    "this conversation",
    "our conversation",
    "this chat",
    "our chat",
    "me",
    "everything about me",
    "everything you know about me",
    "what you know about me",
    "what you have about me",
    "what you stored about me",
];

/// Words that put a deletion request about the user's phone, cloud or Xiaomi account, which
/// is a support topic, not a request to delete what the bot stored.
const FORGET_ELSEWHERE: &[&str] = &[
    "phone", "device", "cloud", "app", "backup", "xiaomi", "mi", "account", "gallery", "photos",
    "contacts",
];

/// Whether a normalised message asks the bot to delete what it stored about the user
/// ("delete my data", "please forget me", "erase this conversation"). Only short messages
/// (at most 12 words) count, and none that mention the phone, the cloud or the account; the
/// request is confirmed with buttons anyway, so a wrong guess deletes nothing.
pub(crate) fn wants_forget(normalised: &str) -> bool {
    let cleaned: String = normalised
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    if words.is_empty() || words.len() > 12 || words.iter().any(|w| FORGET_ELSEWHERE.contains(w)) {
        return false;
    }
    // A verb followed by an object ("delete my data"), or by "all" and an object. Compared
    // word by word without building strings: this runs on every turn.
    let starts_with_object = |rest: &[&str]| {
        FORGET_OBJECTS.iter().any(|object| {
            let mut n = 0;
            object.split(' ').all(|w| {
                n += 1;
                rest.get(n - 1) == Some(&w)
            })
        })
    };
    words.iter().enumerate().any(|(i, w)| {
        FORGET_VERBS.contains(w)
            && (starts_with_object(&words[i + 1..])
                || (words.get(i + 1) == Some(&"all") && starts_with_object(&words[i + 2..])))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_forget_requests_and_not_support_questions() {
        for yes in [
            "delete my data",
            "please delete my data.",
            "forget me",
            "can you erase all my data please",
            "remove my personal information",
            "wipe this conversation",
            "forget everything about me",
        ] {
            assert!(wants_forget(yes), "{yes:?}");
        }
        for no in [
            "how do i delete my data from mi cloud",
            "i deleted my data and now i can't log in",
            "delete my account",
            "remove my phone from the account",
            "i forgot my password",
            "forget it",
            "delete",
            "",
        ] {
            assert!(!wants_forget(no), "{no:?}");
        }
    }
}

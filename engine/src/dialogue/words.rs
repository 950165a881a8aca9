//! Short answers understood without buttons: yes, no, next, back, restart.
//!
//! These are matched before classification for short messages, because "no" or "still
//! stuck" carry no topic for the classifier, yet mean something precise in a guide.

/// A short answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// It worked / yes.
    Yes,
    /// It did not work / no / next.
    No,
    /// Show the previous step.
    Back,
    /// Start the guide again.
    Restart,
    /// "ok", "alright": heard, without saying whether it worked.
    Ack,
}

const YES: &[&str] = &[
    "yes",
    "y",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ya",
    "sure",
    "yes please",
    "fixed",
    "it worked",
    "that worked",
    "worked",
    "it works",
    "works",
    "works now",
    "it works now",
    "working now",
    "solved",
    "resolved",
    "that fixed it",
    "yes that fixed it",
    "yes it worked",
    "all good",
    "sorted",
    "that did it",
    "that helped",
    "it's fixed",
    "its fixed",
    "i'm in",
    "im in",
    "i can log in now",
    "i can login now",
    "yes, that fixed it",
];

const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "no luck",
    "not yet",
    "still stuck",
    "no, still stuck",
    "still not working",
    "still doesn't work",
    "still doesnt work",
    "didn't work",
    "didnt work",
    "did not work",
    "doesn't work",
    "doesnt work",
    "not working",
    "no it didn't",
    "no it didnt",
    "same",
    "same problem",
    "same thing",
    "still the same",
    "next",
    "next step",
    "skip",
    "no still stuck",
    "not fixed",
    "still broken",
    "nothing changed",
    "no change",
];

const ACK: &[&str] = &[
    "ok",
    "okay",
    "k",
    "kk",
    "alright",
    "all right",
    "right",
    "got it",
    "ok let me try",
    "let me try",
    "trying",
    "one sec",
    "one moment",
    "wait",
    "hold on",
    "ok i'll try",
    "ok ill try",
    "hmm",
    "hm",
    "ok wait",
];
const BACK: &[&str] = &["back", "go back", "previous", "previous step", "prev"];
const RESTART: &[&str] = &["restart", "start over", "from the beginning", "start again"];

/// Recognises a short answer in a normalised message.
///
/// Whole-message matches come first; then, for messages of at most six words, a leading
/// "yes"/"no" word decides ("no, same error as before").
pub(crate) fn answer(normalised: &str) -> Option<Answer> {
    let cleaned: String = normalised
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let plain = normalised.trim_end_matches(['.', '!', '?', ' ']);
    for (list, ans) in [
        (YES, Answer::Yes),
        (NO, Answer::No),
        (BACK, Answer::Back),
        (RESTART, Answer::Restart),
        (ACK, Answer::Ack),
    ] {
        if list.contains(&plain) || list.contains(&cleaned.as_str()) {
            return Some(ans);
        }
    }
    let words: Vec<&str> = cleaned.split(' ').collect();
    if words.len() <= 6 {
        match words.first().copied() {
            Some("yes" | "yeah" | "yep" | "yup") => return Some(Answer::Yes),
            Some("no" | "nope" | "nah") => return Some(Answer::No),
            _ => {}
        }
        if cleaned.starts_with("still ") {
            return Some(Answer::No);
        }
    }
    None
}

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
    fn recognises_answers() {
        assert_eq!(answer("yes"), Some(Answer::Yes));
        assert_eq!(answer("yes!"), Some(Answer::Yes));
        assert_eq!(answer("it works now"), Some(Answer::Yes));
        assert_eq!(answer("no"), Some(Answer::No));
        assert_eq!(answer("nope, same error"), Some(Answer::No));
        assert_eq!(answer("still stuck"), Some(Answer::No));
        assert_eq!(answer("next"), Some(Answer::No));
        assert_eq!(answer("go back"), Some(Answer::Back));
        assert_eq!(answer("start over"), Some(Answer::Restart));
        assert_eq!(answer("ok"), Some(Answer::Ack));
        assert_eq!(answer("okay."), Some(Answer::Ack));
    }

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

    #[test]
    fn leaves_real_messages_alone() {
        assert_eq!(answer("i forgot my password"), None);
        assert_eq!(
            answer("my 2fa code never arrives when i try to log in on my new phone"),
            None
        );
        assert_eq!(answer(""), None);
        assert_eq!(answer("nothing"), None);
    }
}

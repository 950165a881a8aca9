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

//! Reading an answer in context. The act classifier says what a message does on its own;
//! what it means depends on what the bot just asked: "ok" after "Would you like a person?"
//! accepts, after "Did that fix it?" it only says the user heard; a question while waiting
//! for staff asks about the ticket; and an outcome the user describes ("ok did that but same
//! error") wins over the acknowledgement around it: negation wins over politeness.

use super::{Analysis, Engine};
use crate::acts::{Act, ActGuess};
use crate::catalog::IntentKind;

/// What the bot had just asked: the context an answer is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerContext {
    /// Nothing pending.
    Idle,
    /// A guide step ending "Did that fix it?".
    Step,
    /// "Would you like me to pass this to a person?".
    OfferHuman,
    /// "Welcome back: continue, start over or a person?".
    Resume,
    /// "Is it one of these?" with topic buttons.
    Suggest,
    /// A ticket is open; the user waits for staff.
    Ticket,
}

impl AnswerContext {
    /// The context's name in data sets (`step`, `offer_human`, `resume`, `suggest`,
    /// `ticket`, `idle`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "idle" => Self::Idle,
            "step" => Self::Step,
            "offer_human" => Self::OfferHuman,
            "resume" => Self::Resume,
            "suggest" => Self::Suggest,
            "ticket" => Self::Ticket,
            _ => return None,
        })
    }
}

/// A topic must be at least this likely to count as a new problem inside an answer.
pub(crate) const SWITCH_CONFIDENCE: f32 = 0.75;

/// A high-risk topic counts as a new problem inside an answer from this confidence on.
pub(crate) const RISK_SWITCH: f32 = 0.4;

/// Words that open a question.
const QUESTION_WORDS: &[&str] = &[
    "what", "whats", "what's", "wat", "wht", "where", "wheres", "where's", "whr", "how", "hw",
    "why", "which", "when", "who", "is", "are", "do", "does", "can", "could", "should", "will",
    "would", "shall",
];

/// Words that say something is still wrong.
const NEGATIVE: &[&str] = &[
    "no",
    "nope",
    "nah",
    "not",
    "never",
    "nothing",
    "didnt",
    "didn't",
    "doesnt",
    "doesn't",
    "dont",
    "don't",
    "cant",
    "can't",
    "cannot",
    "wont",
    "won't",
    "isnt",
    "isn't",
    "still",
    "same",
    "unfortunately",
    "failed",
    "fails",
];

/// Phrases that say it worked.
const WORKED: &[&str] = &[
    "got in",
    "i'm in",
    "im in",
    "i am in",
    "logged in",
    "signed in",
    "let me in",
    "it worked",
    "that worked",
    "worked",
    "works now",
    "working now",
    "it works",
    "fixed",
    "solved",
    "sorted",
    "synced",
    "syncing again",
    "came through",
    "arrived",
];

/// The message's words, lower case, without punctuation (apostrophes kept).
fn words(normalised: &str) -> Vec<&str> {
    normalised
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether a normalised message asks something.
pub(crate) fn interrogative(normalised: &str) -> bool {
    normalised.trim_end().ends_with('?')
        || words(normalised)
            .first()
            .is_some_and(|w| QUESTION_WORDS.contains(w))
}

fn says_negative(w: &[&str]) -> bool {
    w.iter().any(|x| NEGATIVE.contains(x))
}

/// Whether the message's words contain one of `phrases` (whole words, in order).
fn has_phrase(normalised: &str, phrases: &[&str]) -> bool {
    let padded = format!(" {} ", words(normalised).join(" "));
    phrases.iter().any(|p| padded.contains(&format!(" {p} ")))
}

fn says_worked(normalised: &str) -> bool {
    has_phrase(normalised, WORKED)
}

/// A question about the bot or the shop rather than the step ("do you sell phones",
/// "what's your name").
fn about_the_bot(w: &[&str]) -> bool {
    w.iter().any(|x| matches!(*x, "you" | "your" | "u" | "ur"))
}

/// Whether a normalised message calls out for someone ("hello??", "anyone there?").
pub(crate) fn calls_out_text(normalised: &str) -> bool {
    calls_out(&words(normalised))
}

/// Someone calling out while waiting ("hello??", "anyone there", "ping").
fn calls_out(w: &[&str]) -> bool {
    w.iter().any(|x| {
        matches!(
            *x,
            "hello" | "hellooo" | "helloo" | "hey" | "anyone" | "anybody" | "ping" | "someone"
        )
    })
}

/// "what do you mean by …", "what does that mean": asking what the bot said.
fn asks_meaning(normalised: &str) -> bool {
    has_phrase(
        normalised,
        &[
            "do you mean",
            "does that mean",
            "does it mean",
            "does this mean",
            "wdym",
            "what is meant",
        ],
    )
}

/// "continue", "keep going", "pick up where we left off": yes to "shall we continue?".
fn says_continue(normalised: &str) -> bool {
    has_phrase(
        normalised,
        &[
            "continue",
            "keep going",
            "go on",
            "carry on",
            "resume",
            "pick up",
            "left off",
            "where we were",
        ],
    )
}

/// "none of these", "something else": no to "is it one of these?".
fn says_none_of_these(normalised: &str) -> bool {
    has_phrase(
        normalised,
        &[
            "none of",
            "not any of",
            "neither",
            "something else",
            "not one of",
            "not those",
            "not these",
        ],
    )
}

/// "yes", "yeah", "yesss", "yup": a yes word (in any length of enthusiasm).
fn is_yes(word: &str) -> bool {
    let squeezed: String = {
        let mut out = String::new();
        for c in word.chars() {
            if !out.ends_with(c) {
                out.push(c);
            }
        }
        out
    };
    matches!(
        squeezed.as_str(),
        "yes" | "yeah" | "yea" | "yep" | "yup" | "ya" | "yah"
    )
}

fn guess(act: Act) -> Option<ActGuess> {
    Some(ActGuess {
        act,
        confidence: 1.0,
    })
}

impl Engine {
    /// Whether the message's topic is a greeting.
    fn greets(&self, a: &Analysis) -> bool {
        a.top().is_some_and(|g| {
            self.catalog
                .intent(&g.id)
                .is_some_and(|i| i.kind == IntentKind::Greeting)
        })
    }

    /// The act of a raw message answering the bot in `context` (`current_guide`: the guide
    /// being walked, if any). Used by the policy, and by `deskbot eval --acts`.
    pub fn read_act(
        &self,
        text: &str,
        context: AnswerContext,
        current_guide: Option<&str>,
    ) -> Option<ActGuess> {
        self.act_in_context(&self.analyze(text), context, current_guide)
    }

    /// [`Engine::read_act`] on an analysed message.
    pub(crate) fn act_in_context(
        &self,
        a: &Analysis,
        context: AnswerContext,
        current_guide: Option<&str>,
    ) -> Option<ActGuess> {
        let n = a.normalised.as_str();
        let w = words(n);
        let lang = a.language.as_deref();
        let mut act = a.act;
        // Gibberish is no answer: a guess (not an exact example) on a message with no
        // ordinary word ("jkjkjk").
        if act.is_some_and(|g| g.confidence < 1.0)
            && !w.is_empty()
            && !w
                .iter()
                .any(|x| crate::redact::is_ordinary_word(x) || self.langid.knows_word(x))
        {
            act = None;
        }
        // Answers are short: a longer message the intent classifier finds unrelated is not an
        // answer unless the act model is all but sure ("i have a dog named biscuit").
        if a.out_of_scope && w.len() >= 5 && act.is_some_and(|g| g.confidence < 0.75) {
            act = None;
        }
        let new_topic = a.top().is_some_and(|g| {
            let risky = self.catalog.intent(&g.id).is_some_and(|i| i.priority);
            g.confidence
                >= if risky {
                    RISK_SWITCH
                } else {
                    SWITCH_CONFIDENCE
                }
                && Some(g.id.as_str()) != current_guide
                && self
                    .catalog
                    .intent(&g.id)
                    .is_some_and(|i| i.kind == IntentKind::Guide)
        });
        let kind = act.map(|g| g.act);
        let answering = matches!(context, AnswerContext::Step | AnswerContext::Resume);
        // "what do you mean by …": asking what the bot said is a question about the step,
        // whatever else its words resemble.
        if context == AnswerContext::Step && !new_topic && asks_meaning(n) {
            return guess(Act::Question);
        }
        // A statement that opens with a plain "no" is a no ("no this is useless"), unless
        // it asks for something the act model recognised (a person, to stop, to go back).
        if answering
            && !new_topic
            && !interrogative(n)
            && w.first().is_some_and(|x| {
                matches!(*x, "no" | "nope" | "nah") || self.plain_answer(lang, x) == Some(Act::Deny)
            })
            && matches!(kind, Some(Act::Question | Act::Affirm | Act::Status))
        {
            return guess(Act::Deny);
        }
        // Outcomes described around an acknowledgement: negation wins over politeness.
        if answering && matches!(kind, None | Some(Act::Ack)) && !new_topic {
            let is_no = |x: &&str| {
                matches!(*x, "no" | "nope" | "nah" | "nahi")
                    || self.plain_answer(lang, x) == Some(Act::Deny)
            };
            // "no, …" / "… and nope": a no at either end.
            let plain_no = w.first().is_some_and(is_no) || w.last().is_some_and(is_no);
            // "it STILL says invalid code" inside a rhetorical question is still an outcome.
            let outcome = w.len() >= 6 && w.iter().any(|x| matches!(*x, "still" | "same"));
            // "yes", "omg yes. it was the clock": a yes among the first two words.
            let yes = w
                .iter()
                .take(2)
                .any(|x| is_yes(x) || self.plain_answer(lang, x) == Some(Act::Affirm));
            if plain_no
                || outcome
                || (says_negative(&w) && (kind.is_some() || w.len() >= 3) && !interrogative(n))
            {
                return guess(Act::Deny);
            } else if yes || says_worked(n) {
                return guess(Act::Affirm);
            } else if kind.is_none() && w.contains(&"already") && !interrogative(n) {
                return guess(Act::AlreadyTried);
            }
        }
        match context {
            AnswerContext::Step => match kind {
                // A question the classifier finds in scope, about no other guide, is about
                // the step ("is that on the website or in the app?"); an unrelated one is not.
                None if interrogative(n)
                    && !new_topic
                    && (!a.out_of_scope || !about_the_bot(&w)) =>
                {
                    guess(Act::Question)
                }
                // "hello" mid-guide is a greeting (welcome back), not a status question.
                Some(Act::Status) if !interrogative(n) && w.len() <= 2 && self.greets(a) => None,
                _ => act,
            },
            AnswerContext::Ticket => match kind {
                None | Some(Act::Question) if interrogative(n) || calls_out(&w) => {
                    guess(Act::Status)
                }
                _ => act,
            },
            AnswerContext::Resume if kind.is_none() && !new_topic && says_continue(n) => {
                guess(Act::Affirm)
            }
            AnswerContext::Suggest if !new_topic && says_none_of_these(n) => guess(Act::Deny),
            AnswerContext::OfferHuman | AnswerContext::Resume | AnswerContext::Suggest => {
                match kind {
                    // "ok", "sure" to a question that offers something: yes.
                    Some(Act::Ack) => guess(Act::Affirm),
                    _ => act,
                }
            }
            AnswerContext::Idle => act,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_and_outcomes() {
        assert!(interrogative("where is that?"));
        assert!(interrogative("how do i do that"));
        assert!(!interrogative("i did that"));
        assert!(!interrogative("did that part"));
        assert!(is_yes("yesss"));
        assert!(is_yes("yeahh"));
        assert!(!is_yes("yesterday"));
        assert!(says_worked("ok got in, thanks"));
        assert!(!says_worked("ok"));
        assert!(says_negative(&words("ok did that but same")));
    }
}

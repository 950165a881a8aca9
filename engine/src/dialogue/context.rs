//! Reading an answer in context. The act classifier says what a message does on its own;
//! what it means depends on what the bot just asked: "ok" after "Would you like a person?"
//! accepts, after "Did that fix it?" it only says the user heard; a question while waiting
//! for staff asks about the ticket; and an outcome the user describes ("ok did that but same
//! error") wins over the acknowledgement around it: negation wins over politeness.
//!
//! Every language is read the same way, from its data: the cues of its `cues.toml` (plain yes
//! and no, question words, "still", "it worked", "none of these", see
//! [`crate::catalog::cues`]) and its plain yes and no words ([`super::models::plain_answers`]);
//! none of English's words apply to another language ("ya" is "already" in Spanish, "nah"
//! is "so" in Indonesian).

use super::{Analysis, Engine, IntentGuess};
use crate::acts::{Act, ActGuess};
use crate::catalog::cues::{Cues, Said};
use crate::catalog::{Intent, IntentKind};

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

/// How many words a message may go on for after saying it worked and still end on it ("im in
/// now", "ab sab theek hai").
const SETTLED_TAIL: usize = 2;

/// The least confidence of a topic that is clearly ahead of the next one.
pub(crate) const MARGIN_FLOOR: f32 = 0.3;

/// Whether a normalised message asks something, read with its language's cues: a sentence
/// ending in a question mark (`?`, Arabic `؟`) or opened by `¿`, a question word opening it
/// (after a lead-in such as "and" or "а"), or a question word wherever it stands in a
/// language that keeps it in place ("ye kaise hoga", "settingnya di mana").
fn asks(normalised: &str, cues: &Cues, said: &Said) -> bool {
    let mut chars = normalised.chars().peekable();
    while let Some(c) = chars.next() {
        let ends_sentence = chars
            .peek()
            .is_none_or(|n| n.is_whitespace() || matches!(n, '?' | '؟' | '!' | '.' | ')'));
        if c == '¿' || (matches!(c, '?' | '؟') && ends_sentence) {
            return true;
        }
    }
    let opener = said
        .words
        .iter()
        .take(3)
        .find(|w| !cues.lead_ins.has_word(w));
    opener.is_some_and(|w| cues.question_openers.has_word(w))
        || cues.question_words.in_message(said)
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

    /// Whether an analysed message asks something (in its own language).
    pub(crate) fn asks(&self, a: &Analysis) -> bool {
        asks(
            &a.normalised,
            self.cues(a.language.as_deref()),
            &Said::new(&a.normalised),
        )
    }

    /// Whether a message ends by saying it worked, in its language's words, with no negative
    /// word and no question, and the act model reads it as a yes: "done, i changed my password
    /// and im in now", "нашёл письмо, поменял пароль и зашёл". What it names before is how the
    /// user fixed it, not a new problem, however much it sounds like one (a changed password
    /// is also what a hijacked account has). The act model must agree: cue words alone are
    /// fooled by a verb that negates them ("login refuses to let me in") or a sign-in that is
    /// the problem ("someone abroad logged in"), and the act model learnt the intents'
    /// examples as "not an answer".
    pub(crate) fn settled(&self, a: &Analysis) -> bool {
        let cues = self.cues(a.language.as_deref());
        let said = Said::new(&a.normalised);
        a.act.is_some_and(|x| x.act == Act::Affirm)
            && cues
                .worked
                .words_after_last(&said)
                .is_some_and(|n| n <= SETTLED_TAIL)
            && !cues.negative.in_message(&said)
            && !asks(&a.normalised, cues, &said)
    }

    /// Whether an analysed message calls out for someone ("hello??", "anyone there?",
    /// "алло, есть кто?").
    pub(crate) fn calls_out(&self, a: &Analysis) -> bool {
        self.cues(a.language.as_deref())
            .call_out
            .in_message(&Said::new(&a.normalised))
    }

    /// The confident topic of a message: a catalog pattern, a classification at or above
    /// the catalog's `confident` threshold, or one well ahead of the next (at least
    /// [`MARGIN_FLOOR`] and twice the runner-up's). Greetings, thanks and goodbyes are short
    /// formulas: a longer message is not one ("i have a dog named biscuit").
    pub(crate) fn topic(&self, a: &Analysis) -> Option<(&Intent, IntentGuess)> {
        let top = a.top()?;
        let second = a.ranked.get(1).map_or(0.0, |g| g.confidence);
        let clear = a.by_pattern
            || top.confidence >= self.catalog.settings.confident
            || (top.confidence >= MARGIN_FLOOR && top.confidence >= 2.0 * second);
        if !clear {
            return None;
        }
        let intent = self.catalog.intent(&top.id)?;
        let social = matches!(
            intent.kind,
            IntentKind::Greeting | IntentKind::Thanks | IntentKind::Goodbye
        );
        if social && a.normalised.split(' ').count() > 5 {
            return None;
        }
        Some((intent, top.clone()))
    }

    /// Another guide than `current` that a message clearly names, surely enough to count as
    /// a new problem inside an answer ([`SWITCH_CONFIDENCE`]; [`RISK_SWITCH`] for a high-risk
    /// guide), unless the message holds to the question the bot asked: it opens with its
    /// language's plain yes or no ("no, the code still says wrong", "нет, смс так и не
    /// пришла") or says it worked as the act model reads it, announces nothing else ("now",
    /// "actually", "another problem") or says the same problem goes on. A high-risk guide
    /// needs no new-problem confidence (a taken-over account is never left for a step), except
    /// in a message that holds to the question: it then needs as much as any other guide.
    pub(crate) fn other_guide(
        &self,
        a: &Analysis,
        current: Option<&str>,
    ) -> Option<(&Intent, IntentGuess)> {
        let (intent, g) = self.topic(a)?;
        let sure = a.by_pattern
            || g.confidence
                >= if intent.priority {
                    RISK_SWITCH
                } else {
                    SWITCH_CONFIDENCE
                };
        if intent.kind != IntentKind::Guide
            || Some(intent.id.as_str()) == current
            || !sure
            || self.settled(a)
        {
            return None;
        }
        let lang = a.language.as_deref();
        let cues = self.cues(lang);
        let said = Said::new(&a.normalised);
        let opens_with_answer = said
            .first()
            .is_some_and(|x| self.plain_answer(lang, x).is_some());
        // "it worked" as the act model reads it, or in the language's words with no negative
        // one and no other act ("oke udah beres, ternyata …").
        let worked = cues.worked.in_message(&said)
            && a.act
                .map_or(!cues.negative.in_message(&said), |x| x.act == Act::Affirm);
        // A short answer the act model is sure of ("okey ahorita lo intento") is an answer,
        // as it is for the classifier's cascade (see `ACT_SURE`).
        let short_answer = said.words.len() <= super::analysis::SHORT_ANSWER_WORDS
            && a.act
                .is_some_and(|x| x.confidence >= super::analysis::ACT_SURE);
        let holds = (opens_with_answer || worked || short_answer)
            && (cues.still.in_message(&said) || !cues.change.in_message(&said));
        // A high-risk guide is never left for a step; but an answer that holds to the step
        // ("yes it worked, turns out all the devices were mine") takes it only when it names
        // the risk as surely as any other new problem.
        if intent.priority && (!holds || g.confidence >= SWITCH_CONFIDENCE) {
            return Some((intent, g));
        }
        (!holds).then_some((intent, g))
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

    /// [`Engine::read_act`] of a message written in language `lang` (a catalog language code;
    /// `None` is English), read with that language's models and cues.
    pub fn read_act_in(
        &self,
        text: &str,
        lang: Option<&str>,
        context: AnswerContext,
        current_guide: Option<&str>,
    ) -> Option<ActGuess> {
        self.act_in_context(&self.analyze_in(text, lang), context, current_guide)
    }

    /// [`Engine::read_act`] on an analysed message: the act model's reading, then the cues of
    /// the message's language around the question the bot asked.
    pub(crate) fn act_in_context(
        &self,
        a: &Analysis,
        context: AnswerContext,
        current_guide: Option<&str>,
    ) -> Option<ActGuess> {
        let n = a.normalised.as_str();
        let lang = a.language.as_deref();
        let cues = self.cues(lang);
        let said = Said::new(n);
        let w = &said.words;
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
        // One word no answer example has, read unsurely, is no answer either ("pizza"): the
        // act model has to put every word somewhere, and a lone unknown word only resembles
        // an answer by its letters. A plain yes or no of the language is always one.
        if w.len() == 1
            && act.is_some_and(|g| g.confidence < super::analysis::ACT_SURE)
            && w.first().and_then(|x| self.plain_answer(lang, x)).is_none()
        {
            act = None;
        }
        // Answers are short: a longer message the intent classifier finds unrelated is not an
        // answer unless the act model is all but sure ("i have a dog named biscuit").
        if a.out_of_scope && w.len() >= 5 && act.is_some_and(|g| g.confidence < 0.75) {
            act = None;
        }
        let plain = |x: Option<&String>| x.and_then(|x| self.plain_answer(lang, x));
        let opening = plain(w.first());
        let asking = asks(n, cues, &said);
        // "yes", "omg yes. it was the clock": a yes opening the message, or after a lead-in
        // ("ok yeah that fixed it"; not Indonesian "bentar ya", where "ya" is a particle,
        // because "bentar" is no lead-in), in a statement: in a question the word after a
        // lead-in is rarely a yes (Spanish "y si el vendedor no contesta?", "and if …").
        let yes_first = opening == Some(Act::Affirm)
            || (!asking
                && w.first().is_some_and(|x| cues.lead_ins.has_word(x))
                && plain(w.get(1)) == Some(Act::Affirm));
        let other = self.other_guide(a, current_guide);
        let new_topic = other.is_some();
        let mut kind = act.map(|g| g.act);
        let answering = matches!(context, AnswerContext::Step | AnswerContext::Resume);
        // The act model learns English's answers beside the language's own, and can take a
        // word of the language for an English one (Indonesian "nah …" is "so", not "no"): a
        // guessed no without one negative word of the language, in a message that says it
        // worked, is no no.
        if kind == Some(Act::Deny)
            && act.is_some_and(|g| g.confidence < 1.0)
            && opening != Some(Act::Deny)
            && !cues.negative.in_message(&said)
            && cues.worked.in_message(&said)
        {
            act = None;
            kind = None;
        }
        // "what do you mean by …": asking what the bot said is a question about the step,
        // whatever else its words resemble.
        if context == AnswerContext::Step && !new_topic && cues.asks_meaning.in_message(&said) {
            return guess(Act::Question);
        }
        // A statement that opens with a plain "no" is a no ("no this is useless"), unless
        // it asks for something the act model recognised (a person, to stop, to go back).
        if answering
            && !new_topic
            && !asking
            && opening == Some(Act::Deny)
            && matches!(kind, Some(Act::Question | Act::Affirm | Act::Status))
        {
            return guess(Act::Deny);
        }
        // Outcomes described around an acknowledgement: negation wins over politeness.
        if answering && matches!(kind, None | Some(Act::Ack)) && !new_topic {
            // "no, …" / "… and nope": a no at either end.
            let plain_no = opening == Some(Act::Deny) || plain(w.last()) == Some(Act::Deny);
            // "it STILL says invalid code" inside a rhetorical question is still an outcome.
            let outcome = w.len() >= 6 && cues.still.in_message(&said);
            if plain_no
                || outcome
                || (cues.negative.in_message(&said) && (kind.is_some() || w.len() >= 3) && !asking)
            {
                return guess(Act::Deny);
            } else if yes_first || (cues.worked.in_message(&said) && !asking) {
                return guess(Act::Affirm);
            } else if kind.is_none() && cues.already.in_message(&said) && !asking {
                return guess(Act::AlreadyTried);
            }
        }
        // A plain yes or no opening an answer to a question that offers something (a person,
        // one of these topics): that answer ("si por favor", "لا").
        let offered = matches!(context, AnswerContext::OfferHuman | AnswerContext::Suggest)
            && matches!(kind, None | Some(Act::Ack))
            && !new_topic
            && !asking;
        match context {
            AnswerContext::Step => match kind {
                // A question about no high-risk guide is about the step ("is that on the
                // website or in the app?", "ye kaise hoga? …"): a question never switches
                // guides; an unrelated one about the bot is no answer.
                None if asking
                    && other.is_none_or(|(i, _)| !i.priority)
                    && (!a.out_of_scope || !cues.you.in_message(&said)) =>
                {
                    guess(Act::Question)
                }
                // "hello" mid-guide is a greeting (welcome back), not a status question.
                Some(Act::Status) if !asking && w.len() <= 2 && self.greets(a) => None,
                // Progress with a question ("the code came, where do i put it?", "kodenya
                // udah masuk, terus gimana?") is a question about the step: only an answer
                // that opens with a plain yes says it is solved.
                Some(Act::Affirm) if asking && !new_topic && !yes_first => guess(Act::Question),
                _ => act,
            },
            AnswerContext::Ticket => match kind {
                None | Some(Act::Question) if asking || cues.call_out.in_message(&said) => {
                    guess(Act::Status)
                }
                _ => act,
            },
            AnswerContext::Resume
                if kind.is_none() && !new_topic && cues.carry_on.in_message(&said) =>
            {
                guess(Act::Affirm)
            }
            AnswerContext::Suggest if !new_topic && cues.none_of_these.in_message(&said) => {
                guess(Act::Deny)
            }
            AnswerContext::OfferHuman | AnswerContext::Suggest
                if offered && opening == Some(Act::Deny) =>
            {
                guess(Act::Deny)
            }
            // "no, not now", "нет, не надо": to an offer of a person, a plain no opening a
            // message that also reads as "stop" declines the offer; it is a no.
            AnswerContext::OfferHuman
                if kind == Some(Act::Stop)
                    && !new_topic
                    && !asking
                    && opening == Some(Act::Deny) =>
            {
                guess(Act::Deny)
            }
            AnswerContext::OfferHuman if offered && opening == Some(Act::Affirm) => {
                guess(Act::Affirm)
            }
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

    fn cues(text: &str) -> Cues {
        crate::catalog::cues::Cues::parse("cues.toml", "xx", text).unwrap()
    }

    #[test]
    fn questions_by_mark_opener_or_word() {
        let en = cues("question_openers = [\"where\", \"how\"]\nlead_ins = [\"and\"]\n");
        let ask = |t: &str, c: &Cues| asks(t, c, &Said::new(t));
        assert!(ask("where is that?", &en));
        assert!(ask("how do i do that", &en));
        assert!(ask("and where is it", &en));
        assert!(!ask("i did that", &en));
        assert!(ask("is it this one? it didnt work", &en));
        assert!(!ask("go to account.xiaomi.com/?lang=en", &en));
        let hi = cues("question_words = [\"kaise\"]\n");
        assert!(ask("ye kaise hoga owner ka number nahi hai", &hi));
        assert!(!ask("ye kaise hoga", &en));
        assert!(ask("وين الاعدادات؟", &en));
        assert!(ask("¿donde esta eso", &en));
    }
}

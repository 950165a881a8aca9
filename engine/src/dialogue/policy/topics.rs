//! A new message outside a guide: find its topic, or ask one clarifying question, or say
//! (briefly, with the topics as buttons) that it is out of scope.

use super::{Action, Draft, Engine, Outcome, Phase};
use crate::acts::Act;
use crate::catalog::IntentKind;
use crate::dialogue::{Analysis, EscalationReason, IntentGuess};

/// The least confidence at which a high-risk guide among the top two starts at once.
const RISK_FLOOR: f32 = 0.3;

/// How many topic buttons a clarifying question or an out-of-scope reply offers.
const TOPIC_BUTTONS: usize = 4;

impl Engine {
    /// A message that starts something: a topic, a request, or a vague or unrelated text.
    pub(super) fn new_message<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis) {
        // "changed my password and im in now", after the guide that did it or out of the blue:
        // good news, not a new problem (see `Engine::settled`).
        if !a.by_pattern && a.unknown_code.is_none() && self.settled(a) {
            d.conv.phase = Phase::Idle;
            return d.say(d.t.s("glad"));
        }
        // A short answer the catalog lists word for word ("ok", "thanks", "bye") is that
        // answer, whatever topic its few characters resemble.
        let exact_answer = a.act.is_some_and(|g| {
            g.confidence >= 1.0 && matches!(g.act, Act::Ack | Act::Affirm | Act::Stop | Act::Status)
        });
        // With an unknown error code, only a clearly described problem starts a guide; a
        // message that is mostly the code gets one clarifying question.
        let code_only = |g: &IntentGuess| {
            a.unknown_code.is_some()
                && !a.by_pattern
                && g.confidence < self.catalog.settings.confident
        };
        if let Some((intent, guess)) =
            self.topic(a)
                .filter(|(_, g)| !code_only(g))
                .filter(|(i, _)| {
                    !exact_answer
                        || matches!(
                            i.kind,
                            IntentKind::Guide
                                | IntentKind::Handoff
                                | IntentKind::Thanks
                                | IntentKind::Greeting
                        )
                })
        {
            let intent = intent.clone();
            match intent.kind {
                IntentKind::Guide => {
                    self.act_on_intent(d, intent, guess);
                    if let Some(code) = &a.unknown_code {
                        d.lead(&d.t.unknown_code_with_guide(code));
                    }
                }
                IntentKind::Handoff => {
                    self.remember_problem(d, a);
                    self.escalate(d, EscalationReason::Requested);
                }
                IntentKind::Clarify => {
                    self.clarify(d, &a.ranked, d.t.s("vague").to_string());
                }
                _ => self.act_on_intent(d, intent, guess),
            }
            return;
        }
        // A possible account takeover is not left to a menu: better the protective steps
        // and a person for someone who only had a scare than a choice for someone whose
        // account is being taken.
        if let Some((intent, guess)) = self.risky_topic(a) {
            return self.act_on_intent(d, intent, guess);
        }
        if let Some(code) = &a.unknown_code {
            return self.clarify(d, &a.ranked, d.t.unknown_code(code));
        }
        match a.act.map(|g| g.act) {
            Some(Act::Human) => {
                self.remember_problem(d, a);
                return self.escalate(d, EscalationReason::Requested);
            }
            Some(Act::Affirm) => {
                d.conv.phase = Phase::Idle;
                return d.say(d.t.s("glad"));
            }
            Some(Act::Ack) => {
                d.conv.phase = Phase::Idle;
                return d.say(d.t.s("ok_idle"));
            }
            Some(Act::Stop) => {
                self.reset(d);
                return d.say(d.t.s("stop_idle"));
            }
            Some(Act::Status) => {
                d.conv.phase = Phase::Idle;
                d.say(d.t.s("no_ticket_status"));
                return d.button(Action::Human, d.t.s("talk_to_person"));
            }
            Some(Act::Deny | Act::Unsure | Act::Question | Act::AlreadyTried) => {
                return self.clarify(d, &a.ranked, d.t.s("vague").to_string());
            }
            _ => {}
        }
        if !a.out_of_scope && a.top().is_some() {
            return self.clarify(d, &a.ranked, d.t.s("not_sure_meant").to_string());
        }
        self.out_of_scope(d);
    }

    /// A high-risk guide among the two likeliest topics, at least [`RISK_FLOOR`] likely.
    fn risky_topic(&self, a: &Analysis) -> Option<(crate::catalog::Intent, IntentGuess)> {
        if a.out_of_scope {
            return None;
        }
        a.ranked.iter().take(2).find_map(|g| {
            let i = self.catalog.intent(&g.id)?;
            (i.priority && g.confidence >= RISK_FLOOR).then(|| (i.clone(), g.clone()))
        })
    }

    /// A request for a person that also names a problem keeps the problem for the ticket.
    fn remember_problem<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis) {
        let suggest = self.catalog.settings.suggest;
        if let Some(g) = a.ranked.iter().find(|g| {
            g.confidence >= suggest
                && self
                    .catalog
                    .intent(&g.id)
                    .is_some_and(|i| i.kind == IntentKind::Guide)
        }) {
            d.conv.last_intent = Some(g.clone());
        }
    }

    /// One clarifying question: the likeliest topics (then the most common ones) as buttons,
    /// and "Something else".
    pub(super) fn clarify<'c>(&'c self, d: &mut Draft<'c>, ranked: &[IntentGuess], text: String) {
        let suggest = self.catalog.settings.suggest;
        let mut options: Vec<String> = ranked
            .iter()
            .filter(|g| g.confidence >= suggest)
            .filter(|g| {
                self.catalog
                    .intent(&g.id)
                    .is_some_and(|i| i.kind == IntentKind::Guide)
            })
            .map(|g| g.id.clone())
            .take(3)
            .collect();
        // The likeliest problem travels with a ticket opened from here.
        if d.conv.last_intent.is_none()
            && let Some(best) = ranked.iter().find(|g| options.first() == Some(&g.id))
        {
            d.conv.last_intent = Some(best.clone());
        }
        for common in self.catalog.common_topics() {
            if options.len() >= TOPIC_BUTTONS {
                break;
            }
            if !options.contains(&common.id) {
                options.push(common.id.clone());
            }
        }
        d.conv.phase = Phase::Suggest {
            options: options.clone(),
        };
        d.say_varied(&[text, d.t.s("not_sure_meant_again").to_string()]);
        for id in options {
            if let Some(i) = self.catalog.intent(&id) {
                let title = d.t.title(i).to_string();
                d.button(Action::Intent(id), &title);
            }
        }
        d.button(Action::NoneOfThese, d.t.s("something_else"));
    }

    /// Clearly unrelated: a short answer with the common topics as buttons; the second miss
    /// in a row offers a person.
    fn out_of_scope<'c>(&'c self, d: &mut Draft<'c>) {
        d.outcome = Outcome::OutOfScope;
        d.intent = None;
        if !matches!(d.conv.phase, Phase::OfferHuman { .. }) {
            d.conv.phase = Phase::Idle;
        }
        d.conv.misses = d.conv.misses.saturating_add(1);
        if d.conv.misses >= 2 {
            return self.offer_person_after_misses(d);
        }
        d.say_varied(&[
            d.t.s("out_of_scope").to_string(),
            d.t.s("out_of_scope_again").to_string(),
        ]);
        for i in self.catalog.common_topics().into_iter().take(TOPIC_BUTTONS) {
            d.button(Action::Intent(i.id.clone()), d.t.title(i));
        }
        d.button(Action::Human, d.t.s("talk_to_person"));
    }

    /// Counts a miss; the second in a row offers a person instead of `text`.
    pub(super) fn missed<'c>(&'c self, d: &mut Draft<'c>, text: String) {
        d.conv.misses = d.conv.misses.saturating_add(1);
        if d.conv.misses >= 2 {
            self.offer_person_after_misses(d);
        } else {
            d.say(text);
        }
    }

    fn offer_person_after_misses<'c>(&'c self, d: &mut Draft<'c>) {
        d.conv.phase = Phase::OfferHuman {
            exhausted_guide: None,
            resume: None,
        };
        d.say(d.t.s("missed_twice"));
        self.offer_buttons(d);
    }
}

//! What the user writes back while the bot waits for an answer: to a guide step, to an offer
//! of a person, to a welcome back. The act classifier says what the message does; what that
//! means depends on what the bot asked ("ok" after "Did that fix it?" is not a yes).

use super::{Action, Draft, Engine, Phase};
use crate::acts::Act;
use crate::catalog::{Intent, IntentKind};
use crate::dialogue::{Analysis, AnswerContext, EscalationReason, GuidePlace, IntentGuess};

/// An act at least this sure wins over a topic the message also seems to name.
const FIRM_ACT: f32 = 0.8;

impl Engine {
    /// A typed message, in whatever phase the conversation is (an open ticket aside).
    pub(super) fn text<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis, paused: bool) {
        let (context, guide) = match &d.conv.phase {
            Phase::Guide { intent, .. } => (AnswerContext::Step, Some(intent.as_str())),
            Phase::Resume { intent, .. } => (AnswerContext::Resume, Some(intent.as_str())),
            Phase::OfferHuman { .. } => (AnswerContext::OfferHuman, None),
            Phase::Suggest { .. } => (AnswerContext::Suggest, None),
            Phase::Escalated { .. } => (AnswerContext::Ticket, None),
            Phase::Idle => (AnswerContext::Idle, None),
        };
        // Whether the message names another guide is decided once, on the message as the act
        // model read it, so the answer's reading and the switch agree.
        let other = self.other_guide(a, guide).map(|(i, g)| (i.clone(), g));
        let mut read = a.clone();
        read.act = self.act_in_context(a, context, guide);
        d.act = read.act;
        let a = &read;
        match d.conv.phase.clone() {
            Phase::Guide { intent, step } => {
                if paused && !self.is_firm_answer(a) {
                    let other = self
                        .topic(a)
                        .map(|(i, _)| i)
                        .filter(|i| i.kind == IntentKind::Guide && i.id != intent);
                    return self.welcome_back(d, &intent, step, other);
                }
                self.answer_step(d, a, other, &intent, step)
            }
            Phase::OfferHuman { .. } => self.answer_offer(d, a),
            Phase::Suggest { options } => self.answer_suggest(d, a, &options),
            Phase::Resume { intent, step } => self.answer_resume(d, a, &intent, step),
            Phase::Idle | Phase::Escalated { .. } => self.new_message(d, a),
        }
    }

    /// A clear yes, no or "already tried" answers the step even after a pause.
    fn is_firm_answer(&self, a: &Analysis) -> bool {
        a.act.is_some_and(|g| {
            g.confidence >= FIRM_ACT && matches!(g.act, Act::Affirm | Act::AlreadyTried)
        })
    }

    /// An answer to "Did that fix it?" (`other`: another guide the message names, see
    /// [`Engine::other_guide`]).
    fn answer_step<'c>(
        &'c self,
        d: &mut Draft<'c>,
        a: &Analysis,
        other: Option<(Intent, IntentGuess)>,
        current: &str,
        step: usize,
    ) {
        let Some(guide) = self.catalog.intent(current).cloned() else {
            self.reset(d);
            return self.new_message(d, a);
        };
        let words = a.normalised.split(' ').count();
        // A clear new topic in a descriptive message switches guides ("now it says my account
        // is locked"); a high-risk one always does. What counts as one is what the answer was
        // read with (see `other_guide`): a plain "no, …" holds to the step.
        if let Some((t, g)) = other {
            let firm = a.act.is_some_and(|x| {
                x.confidence >= FIRM_ACT
                    && matches!(
                        x.act,
                        Act::Affirm
                            | Act::AlreadyTried
                            | Act::Stop
                            | Act::Human
                            | Act::Restart
                            | Act::Back
                    )
            });
            let asks = a.act.is_some_and(|x| x.act == Act::Question) || self.asks(a);
            if t.priority || (words >= 4 && !firm && !asks) {
                return self.act_on_intent(d, t, g);
            }
        }
        match a.act.map(|g| g.act) {
            Some(Act::Affirm) => self.resolved(d),
            Some(Act::Deny) => {
                self.next_step(d, current, step, "no");
                if matches!(d.conv.phase, Phase::Guide { .. }) {
                    let lead = if tone_previous_was_deny(d) {
                        d.t.s("deny_alt")
                    } else {
                        d.t.s("deny")
                    };
                    d.lead(lead);
                }
            }
            Some(Act::AlreadyTried) => {
                self.next_step(d, current, step, "already tried");
                d.lead(d.t.s("already_tried"));
            }
            Some(Act::Question | Act::Status) => {
                d.conv.misses = 0;
                self.explain_step(d, &guide, step, d.t.s("question_lead"));
            }
            Some(Act::Unsure) => {
                d.conv.misses = 0;
                d.say(d.t.unsure(&guide, step));
                self.guide_buttons(d, &guide);
            }
            Some(Act::Ack) => self.ack_step(d, &guide, step),
            Some(Act::Stop) => self.leave_guide(d),
            Some(Act::Human) => self.escalate(d, EscalationReason::Requested),
            Some(Act::Restart) => self.restart_guide(d, current),
            Some(Act::Back) => self.show_step_exact(d, current, step.saturating_sub(1)),
            None => match self.topic(a).map(|(i, _)| i.kind) {
                Some(IntentKind::Greeting) => self.welcome_back(d, current, step, None),
                Some(IntentKind::Handoff) => self.escalate(d, EscalationReason::Requested),
                Some(IntentKind::Thanks) => self.ack_step(d, &guide, step),
                Some(IntentKind::Goodbye) => self.leave_guide(d),
                _ => self.guide_miss(d, &guide, step),
            },
        }
    }

    /// "ok", "done": heard, but did it work? Stay on the step and ask.
    fn ack_step<'c>(&'c self, d: &mut Draft<'c>, guide: &Intent, step: usize) {
        d.conv.misses = 0;
        self.show_step_exact(d, &guide.id, step);
        let step_text = d.reply.text.clone();
        let variants: Vec<String> =
            d.t.ack_leads()
                .iter()
                .map(|lead| format!("{lead}\n\n{step_text}"))
                .collect();
        d.say_varied(&variants);
        d.reply.buttons.clear();
        self.guide_buttons(d, guide);
    }

    /// The step in other words (its help text), with the buttons.
    fn explain_step<'c>(&'c self, d: &mut Draft<'c>, guide: &Intent, step: usize, lead: &str) {
        d.conv.phase = Phase::Guide {
            intent: guide.id.clone(),
            step,
        };
        d.say(d.t.step_help(guide, step, lead));
        self.guide_buttons(d, guide);
    }

    /// An answer the bot did not understand: first the step in other words, then (second
    /// in a row) an offer of a person; declining it goes back to the step.
    fn guide_miss<'c>(&'c self, d: &mut Draft<'c>, guide: &Intent, step: usize) {
        d.conv.misses = d.conv.misses.saturating_add(1);
        if d.conv.misses >= 2 {
            d.conv.phase = Phase::OfferHuman {
                exhausted_guide: None,
                resume: Some(GuidePlace {
                    intent: guide.id.clone(),
                    step,
                }),
            };
            d.say(d.t.s("missed_in_guide"));
            self.offer_buttons(d);
        } else {
            self.explain_step(d, guide, step, d.t.s("miss_lead"));
        }
    }

    /// The user left the guide without it being fixed.
    fn leave_guide<'c>(&'c self, d: &mut Draft<'c>) {
        self.reset(d);
        d.say(d.t.s("left_guide"));
    }

    /// An answer to "Would you like a person?".
    fn answer_offer<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis) {
        match a.act.map(|g| g.act) {
            Some(Act::Affirm | Act::Ack | Act::Human) => self.act(d, Action::Yes),
            Some(Act::Deny | Act::Stop) => self.act(d, Action::Decline),
            Some(Act::AlreadyTried | Act::Restart | Act::Back)
                if matches!(
                    d.conv.phase,
                    Phase::OfferHuman {
                        resume: Some(_),
                        ..
                    }
                ) =>
            {
                self.act(d, Action::Decline)
            }
            _ => match self.topic(a) {
                Some((t, g)) if t.kind == IntentKind::Guide => {
                    let t = t.clone();
                    self.act_on_intent(d, t, g)
                }
                _ => {
                    let variants = [
                        d.t.s("offer_explained").to_string(),
                        d.t.s("offer_again").to_string(),
                    ];
                    d.say_varied(&variants);
                    self.offer_buttons(d);
                }
            },
        }
    }

    /// An answer to "Is it one of these?".
    fn answer_suggest<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis, options: &[String]) {
        match a.act.map(|g| g.act) {
            Some(Act::Affirm) if options.len() == 1 => {
                self.act(d, Action::Intent(options[0].clone()))
            }
            // "no" (or "no, none of them"): none of these, unless the message names a guide.
            Some(Act::Deny)
                if a.normalised.split(' ').count() <= 2
                    || self
                        .topic(a)
                        .is_none_or(|(i, _)| i.kind != IntentKind::Guide) =>
            {
                self.act(d, Action::NoneOfThese)
            }
            Some(Act::Stop) => {
                self.reset(d);
                d.say(d.t.s("stop_idle"));
            }
            Some(Act::Human) => self.escalate(d, EscalationReason::Requested),
            _ => self.new_message(d, a),
        }
    }

    /// An answer to "Welcome back: continue, start over or a person?".
    fn answer_resume<'c>(&'c self, d: &mut Draft<'c>, a: &Analysis, current: &str, step: usize) {
        match a.act.map(|g| g.act) {
            Some(Act::Restart) => self.restart_guide(d, current),
            Some(Act::AlreadyTried) => {
                self.next_step(d, current, step, "already tried");
                d.lead(d.t.s("already_tried"));
            }
            Some(Act::Back) => self.show_step_exact(d, current, step.saturating_sub(1)),
            Some(Act::Human) => self.escalate(d, EscalationReason::Requested),
            Some(Act::Stop) => self.leave_guide(d),
            Some(_) => self.show_step(d, current, step),
            None => match self.topic(a) {
                Some((t, g)) if t.kind == IntentKind::Guide && t.id != current => {
                    let t = t.clone();
                    self.act_on_intent(d, t, g)
                }
                Some((t, _)) if t.kind == IntentKind::Handoff => {
                    self.escalate(d, EscalationReason::Requested)
                }
                _ => self.show_step(d, current, step),
            },
        }
    }
}

/// Whether the previous turn already led with the "next thing" line.
fn tone_previous_was_deny(d: &Draft<'_>) -> bool {
    d.conv
        .tried
        .iter()
        .rev()
        .nth(1)
        .is_some_and(|r| r.answer == "no")
}

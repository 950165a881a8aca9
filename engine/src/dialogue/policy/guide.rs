//! Moving through a guide: showing steps (never one the user already tried), recording
//! answers, resolving, running out of steps, and escalating with the problem's facts.

use super::{Action, Draft, Engine, Escalation, Outcome, Phase};
use crate::catalog::{Intent, IntentKind};
use crate::dialogue::{EscalationReason, IntentGuess, StepRecord};

impl Engine {
    /// Acts on a recognised intent: starts its guide, escalates, greets, thanks, clarifies.
    pub(super) fn act_on_intent<'c>(
        &'c self,
        d: &mut Draft<'c>,
        intent: Intent,
        guess: IntentGuess,
    ) {
        match intent.kind {
            IntentKind::Guide => {
                d.conv.misses = 0;
                if d.conv.last_intent.as_ref().map(|g| &g.id) != Some(&intent.id) {
                    d.conv.last_intent = Some(guess);
                }
                d.outcome = Outcome::GuideStarted;
                self.show_step(d, &intent.id, 0);
                if intent.priority {
                    d.lead(d.t.s("high_risk"));
                } else if intent.offer_person {
                    d.lead(d.t.s("person_offered"));
                }
            }
            IntentKind::Handoff => self.escalate(d, EscalationReason::Requested),
            IntentKind::Greeting => match d.conv.phase.clone() {
                Phase::Guide { intent, step } => self.welcome_back(d, &intent, step, None),
                _ => {
                    d.conv.phase = Phase::Idle;
                    d.say(d.t.greeting());
                }
            },
            IntentKind::Thanks => {
                d.conv.phase = Phase::Idle;
                d.say(d.t.s("you_are_welcome"));
            }
            IntentKind::Goodbye => {
                self.reset(d);
                d.say(d.t.s("goodbye"));
            }
            IntentKind::Clarify => self.clarify(d, &[], d.t.s("vague").to_string()),
        }
    }

    /// Shows step `step` of a guide or, when the user already tried it, the next untried
    /// one; past the last step, offers a person.
    pub(super) fn show_step<'c>(&'c self, d: &mut Draft<'c>, intent_id: &str, step: usize) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        let tried = |i: usize| {
            d.conv
                .tried
                .iter()
                .any(|r| r.guide == intent.id && r.step == i + 1)
        };
        match (step..intent.steps.len()).find(|&i| !tried(i)) {
            Some(i) => self.show_step_exact(d, intent_id, i),
            None => self.exhausted(d, intent),
        }
    }

    /// Shows exactly step `step` (clamped), tried or not (the user asked to go back).
    pub(super) fn show_step_exact<'c>(&'c self, d: &mut Draft<'c>, intent_id: &str, step: usize) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        let step = step.min(intent.steps.len().saturating_sub(1));
        d.conv.phase = Phase::Guide {
            intent: intent.id.clone(),
            step,
        };
        d.say(d.t.step(intent, step));
        self.guide_buttons(d, intent);
    }

    /// The step's buttons; a person comes first in high-risk guides.
    pub(super) fn guide_buttons<'c>(&'c self, d: &mut Draft<'c>, intent: &Intent) {
        if intent.priority || intent.offer_person {
            d.button(Action::Human, d.t.s("talk_to_person"));
            d.button(Action::Yes, d.t.s("yes_fixed"));
            d.button(Action::No, d.t.s("no_stuck"));
        } else {
            d.button(Action::Yes, d.t.s("yes_fixed"));
            d.button(Action::No, d.t.s("no_stuck"));
            d.button(Action::Human, d.t.s("talk_to_person"));
        }
    }

    /// The buttons of an offer of a person.
    pub(super) fn offer_buttons<'c>(&'c self, d: &mut Draft<'c>) {
        let keep_going = matches!(
            d.conv.phase,
            Phase::OfferHuman {
                resume: Some(_),
                ..
            }
        );
        d.button(Action::Human, d.t.s("yes_person"));
        d.button(
            Action::Decline,
            if keep_going {
                d.t.s("keep_trying")
            } else {
                d.t.s("no_thanks")
            },
        );
    }

    /// Starts a guide again from its first step: the user asked, so tried steps are shown
    /// again.
    pub(super) fn restart_guide<'c>(&'c self, d: &mut Draft<'c>, intent_id: &str) {
        d.conv.tried.retain(|r| r.guide != intent_id);
        d.conv.misses = 0;
        self.show_step(d, intent_id, 0);
    }

    /// Records the user's answer to step `step` and moves on.
    pub(super) fn next_step<'c>(
        &'c self,
        d: &mut Draft<'c>,
        intent_id: &str,
        step: usize,
        answer: &str,
    ) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        d.conv.misses = 0;
        if !d
            .conv
            .tried
            .iter()
            .any(|r| r.guide == intent.id && r.step == step + 1)
        {
            d.conv.tried.push(StepRecord {
                guide: intent.id.clone(),
                step: step + 1,
                text: intent
                    .steps
                    .get(step)
                    .map(|s| s.text.clone())
                    .unwrap_or_default(),
                answer: answer.to_string(),
            });
        }
        self.show_step(d, intent_id, step + 1);
    }

    /// Every step was tried: offer a person.
    fn exhausted<'c>(&'c self, d: &mut Draft<'c>, intent: &Intent) {
        d.conv.phase = Phase::OfferHuman {
            exhausted_guide: Some(intent.id.clone()),
            resume: None,
        };
        d.say(d.t.exhausted(intent));
        self.offer_buttons(d);
    }

    /// The user said the guide fixed it.
    pub(super) fn resolved<'c>(&'c self, d: &mut Draft<'c>) {
        // In a high-risk guide, getting back in is not the end: whoever got in can do it
        // again until the remaining protective steps are done.
        if let Phase::Guide { intent, step } = d.conv.phase.clone()
            && let Some(guide) = self.catalog.intent(&intent)
            && guide.priority
            && step + 1 < guide.steps.len()
        {
            self.next_step(d, &intent, step, "done");
            if matches!(d.conv.phase, Phase::Guide { .. }) {
                d.lead(d.t.s("keep_protecting"));
                return;
            }
        }
        self.reset(d);
        d.outcome = Outcome::Resolved;
        d.say(d.t.s("resolved"));
    }

    /// Asks the caller to open a ticket carrying the problem (the last guide's intent, the
    /// steps tried) however the person was asked for.
    pub(super) fn escalate<'c>(&'c self, d: &mut Draft<'c>, reason: EscalationReason) {
        let priority = d
            .conv
            .last_intent
            .as_ref()
            .and_then(|g| self.catalog.intent(&g.id))
            .is_some_and(|i| i.priority);
        d.escalation = Some(Escalation {
            reason: if priority {
                EscalationReason::HighRisk
            } else {
                reason
            },
            intent: d.conv.last_intent.clone(),
            steps_tried: d.conv.tried.clone(),
            priority,
        });
        d.conv.priority = priority;
        d.outcome = Outcome::Escalated;
        d.say("Opening a ticket for you…");
    }

    /// Welcomes a user back to an unfinished guide: continue, start over or a person (and
    /// `other`, a different guide their message is about).
    pub(super) fn welcome_back<'c>(
        &'c self,
        d: &mut Draft<'c>,
        intent_id: &str,
        step: usize,
        other: Option<&Intent>,
    ) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        d.conv.phase = Phase::Resume {
            intent: intent.id.clone(),
            step,
        };
        d.conv.misses = 0;
        d.say(d.t.welcome_back(intent, step));
        d.button(Action::Continue, d.t.s("continue"));
        d.button(Action::Restart, d.t.s("start_over"));
        if let Some(o) = other.filter(|o| o.id != intent.id) {
            d.button(Action::Intent(o.id.clone()), d.t.title(o));
        }
        d.button(Action::Human, d.t.s("talk_to_person"));
    }
}

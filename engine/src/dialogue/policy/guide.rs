//! Moving through a guide: showing steps (never one the user already tried), recording
//! answers, resolving, running out of steps, and escalating with the problem's facts.

use super::{Action, Draft, Engine, Escalation, Outcome, Phase, texts};
use crate::catalog::{Intent, IntentKind};
use crate::dialogue::{EscalationReason, IntentGuess, StepRecord};

impl Engine {
    /// Acts on a recognised intent: starts its guide, escalates, greets, thanks, clarifies.
    pub(super) fn act_on_intent(&self, d: &mut Draft<'_>, intent: Intent, guess: IntentGuess) {
        match intent.kind {
            IntentKind::Guide => {
                d.conv.misses = 0;
                if d.conv.last_intent.as_ref().map(|g| &g.id) != Some(&intent.id) {
                    d.conv.last_intent = Some(guess);
                }
                d.outcome = Outcome::GuideStarted;
                self.show_step(d, &intent.id, 0);
                if intent.priority {
                    d.lead(texts::high_risk_lead());
                } else if intent.offer_person {
                    d.lead(texts::person_offered_lead());
                }
            }
            IntentKind::Handoff => self.escalate(d, EscalationReason::Requested),
            IntentKind::Greeting => match d.conv.phase.clone() {
                Phase::Guide { intent, step } => self.welcome_back(d, &intent, step, None),
                _ => {
                    d.conv.phase = Phase::Idle;
                    d.say(texts::greeting(&self.catalog));
                }
            },
            IntentKind::Thanks => {
                d.conv.phase = Phase::Idle;
                d.say(texts::YOU_ARE_WELCOME);
            }
            IntentKind::Goodbye => {
                self.reset(d);
                d.say(texts::GOODBYE);
            }
            IntentKind::Clarify => self.clarify(d, &[], texts::VAGUE.to_string()),
        }
    }

    /// Shows step `step` of a guide or, when the user already tried it, the next untried
    /// one; past the last step, offers a person.
    pub(super) fn show_step(&self, d: &mut Draft<'_>, intent_id: &str, step: usize) {
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
    pub(super) fn show_step_exact(&self, d: &mut Draft<'_>, intent_id: &str, step: usize) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        let step = step.min(intent.steps.len().saturating_sub(1));
        d.conv.phase = Phase::Guide {
            intent: intent.id.clone(),
            step,
        };
        d.say(texts::step(intent, step));
        self.guide_buttons(d, intent);
    }

    /// The step's buttons; a person comes first in high-risk guides.
    pub(super) fn guide_buttons(&self, d: &mut Draft<'_>, intent: &Intent) {
        if intent.priority || intent.offer_person {
            d.button(Action::Human, texts::TALK_TO_PERSON);
            d.button(Action::Yes, texts::YES_FIXED);
            d.button(Action::No, texts::NO_STUCK);
        } else {
            d.button(Action::Yes, texts::YES_FIXED);
            d.button(Action::No, texts::NO_STUCK);
            d.button(Action::Human, texts::TALK_TO_PERSON);
        }
    }

    /// The buttons of an offer of a person.
    pub(super) fn offer_buttons(&self, d: &mut Draft<'_>) {
        let keep_going = matches!(
            d.conv.phase,
            Phase::OfferHuman {
                resume: Some(_),
                ..
            }
        );
        d.button(Action::Human, texts::YES_PERSON);
        d.button(
            Action::Decline,
            if keep_going {
                texts::KEEP_TRYING
            } else {
                texts::NO_THANKS
            },
        );
    }

    /// Starts a guide again from its first step: the user asked, so tried steps are shown
    /// again.
    pub(super) fn restart_guide(&self, d: &mut Draft<'_>, intent_id: &str) {
        d.conv.tried.retain(|r| r.guide != intent_id);
        d.conv.misses = 0;
        self.show_step(d, intent_id, 0);
    }

    /// Records the user's answer to step `step` and moves on.
    pub(super) fn next_step(&self, d: &mut Draft<'_>, intent_id: &str, step: usize, answer: &str) {
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
    fn exhausted(&self, d: &mut Draft<'_>, intent: &Intent) {
        d.conv.phase = Phase::OfferHuman {
            exhausted_guide: Some(intent.id.clone()),
            resume: None,
        };
        d.say(texts::exhausted(intent));
        self.offer_buttons(d);
    }

    /// The user said the guide fixed it.
    pub(super) fn resolved(&self, d: &mut Draft<'_>) {
        // In a high-risk guide, getting back in is not the end: whoever got in can do it
        // again until the remaining protective steps are done.
        if let Phase::Guide { intent, step } = d.conv.phase.clone()
            && let Some(guide) = self.catalog.intent(&intent)
            && guide.priority
            && step + 1 < guide.steps.len()
        {
            self.next_step(d, &intent, step, "done");
            if matches!(d.conv.phase, Phase::Guide { .. }) {
                d.lead(texts::KEEP_PROTECTING);
                return;
            }
        }
        self.reset(d);
        d.outcome = Outcome::Resolved;
        d.say(texts::RESOLVED);
    }

    /// Asks the caller to open a ticket carrying the problem (the last guide's intent, the
    /// steps tried) however the person was asked for.
    pub(super) fn escalate(&self, d: &mut Draft<'_>, reason: EscalationReason) {
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
    pub(super) fn welcome_back(
        &self,
        d: &mut Draft<'_>,
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
        d.say(texts::welcome_back(intent, step));
        d.button(Action::Continue, texts::CONTINUE);
        d.button(Action::Restart, texts::START_OVER);
        if let Some(o) = other.filter(|o| o.id != intent.id) {
            d.button(Action::Intent(o.id.clone()), &o.title);
        }
        d.button(Action::Human, texts::TALK_TO_PERSON);
    }
}

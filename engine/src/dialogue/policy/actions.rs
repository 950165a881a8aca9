//! What a button asks for, and what pressing it does in each phase.

use super::{Draft, Engine, Outcome, Phase};
use crate::dialogue::{EscalationReason, IntentGuess, Rating};

/// What a button (or a typed answer the policy maps to one) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    Yes,
    No,
    Back,
    Restart,
    Human,
    Decline,
    Intent(String),
    NoneOfThese,
    /// Continue a guide from where the user left it.
    Continue,
    /// Confirms `/forget`: delete everything stored about the user.
    ForgetYes,
    /// Cancels `/forget`.
    ForgetNo,
    /// Speak this language (a catalog language code) from now on.
    Language(String),
    /// Rates closed ticket `ticket`.
    Rate {
        ticket: u64,
        rating: Rating,
    },
}

impl Action {
    pub(super) fn code(&self) -> String {
        match self {
            Self::Yes => "yes".into(),
            Self::No => "no".into(),
            Self::Back => "back".into(),
            Self::Restart => "restart".into(),
            Self::Human => "human".into(),
            Self::Decline => "decline".into(),
            Self::Intent(id) => format!("intent:{id}"),
            Self::NoneOfThese => "none".into(),
            Self::Continue => "continue".into(),
            Self::ForgetYes => "forget_yes".into(),
            Self::ForgetNo => "forget_no".into(),
            Self::Language(code) => format!("lang:{code}"),
            Self::Rate { ticket, rating } => format!(
                "rate:{ticket}:{}",
                match rating {
                    Rating::Up => "up",
                    Rating::Down => "down",
                }
            ),
        }
    }

    pub(super) fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "yes" => Self::Yes,
            "no" => Self::No,
            "back" => Self::Back,
            "restart" => Self::Restart,
            "human" => Self::Human,
            "decline" => Self::Decline,
            "none" => Self::NoneOfThese,
            "continue" => Self::Continue,
            "forget_yes" => Self::ForgetYes,
            "forget_no" => Self::ForgetNo,
            other => {
                if let Some(rest) = other.strip_prefix("rate:") {
                    let (ticket, rating) = rest.split_once(':')?;
                    let rating = match rating {
                        "up" => Rating::Up,
                        "down" => Rating::Down,
                        _ => return None,
                    };
                    return Some(Self::Rate {
                        ticket: ticket.parse().ok()?,
                        rating,
                    });
                }
                if let Some(code) = other.strip_prefix("lang:") {
                    return Some(Self::Language(code.to_string()));
                }
                Self::Intent(other.strip_prefix("intent:")?.to_string())
            }
        })
    }
}

impl Engine {
    /// A button press (or an answer that means one) in the current phase.
    pub(super) fn act<'c>(&'c self, d: &mut Draft<'c>, action: Action) {
        let phase = d.conv.phase.clone();
        match (action, phase) {
            (
                Action::Human | Action::Yes,
                Phase::OfferHuman {
                    exhausted_guide, ..
                },
            ) => {
                let reason = if exhausted_guide.is_some() {
                    EscalationReason::GuideExhausted
                } else {
                    EscalationReason::NotUnderstood
                };
                self.escalate(d, reason);
            }
            (Action::Human, _) => self.escalate(d, EscalationReason::Requested),
            (Action::Yes, Phase::Guide { .. }) => self.resolved(d),
            (Action::No, Phase::Guide { intent, step }) => {
                self.next_step(d, &intent, step, "no");
                if matches!(d.conv.phase, Phase::Guide { .. }) {
                    d.lead(d.t.s("deny"));
                }
            }
            (Action::Back, Phase::Guide { intent, step }) => {
                self.show_step_exact(d, &intent, step.saturating_sub(1))
            }
            (Action::Restart, Phase::Guide { intent, .. } | Phase::Resume { intent, .. }) => {
                self.restart_guide(d, &intent)
            }
            (Action::Continue, Phase::Resume { intent, step }) => self.show_step(d, &intent, step),
            (Action::Decline | Action::No, Phase::OfferHuman { resume, .. }) => match resume {
                Some(place) => {
                    d.conv.misses = 0;
                    self.show_step(d, &place.intent, place.step);
                    d.lead(d.t.s("keep_going"));
                }
                None => {
                    self.reset(d);
                    d.say(d.t.s("declined_person"));
                }
            },
            (Action::Intent(id), _) => match self.catalog.intent(&id) {
                Some(intent) => {
                    let guess = IntentGuess {
                        id,
                        confidence: 1.0,
                    };
                    d.intent = Some(guess.clone());
                    self.act_on_intent(d, intent.clone(), guess);
                }
                None => self.prompt(d),
            },
            (Action::NoneOfThese | Action::No, Phase::Suggest { .. }) => {
                d.conv.phase = Phase::Idle;
                self.missed(d, d.t.s("no_suggestion_fits").to_string());
            }
            (Action::Yes, Phase::Suggest { options }) if options.len() == 1 => {
                self.act(d, Action::Intent(options[0].clone()))
            }
            _ => {
                d.outcome = Outcome::None;
                self.prompt(d)
            }
        }
    }
}

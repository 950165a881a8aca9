//! The decision record of a turn ([`deskbot_storage::Decision`]): what the engine made of the
//! user's message, stored on the user's transcript line in the turn's own transaction.

use deskbot_engine::dialogue::{Act, Conversation, EscalationReason, Input, Outcome, Phase, Turn};
use deskbot_storage::{Decision, EscalationKind, GuideStep, InputKind, Miss};

/// The record of `turn`, run on the state `before`, for `input`. The caller fills in
/// [`Decision::ticket`] and [`Decision::latency_us`] once the ticket is open.
pub(crate) fn record(before: &Conversation, input: &Input, turn: &Turn) -> Decision {
    let after = &turn.conversation;
    let input_kind = match input {
        Input::Button(_) => InputKind::Button,
        Input::Text(t) if t.trim_start().starts_with('/') => InputKind::Command,
        Input::Text(_) => InputKind::Text,
    };
    let fallback = after.misses > before.misses || turn.outcome == Outcome::OutOfScope;
    let declined_suggestion = match &before.phase {
        Phase::Suggest { options } => {
            input_kind != InputKind::Command
                && !matches!(turn.outcome, Outcome::Rated)
                && !matches!(&after.phase, Phase::Guide { intent, .. } if options.contains(intent))
                && !matches!(turn.escalation, Some(ref e) if e.reason == EscalationReason::Requested)
        }
        _ => false,
    };
    let miss = (input_kind == InputKind::Text && turn.nearest.is_some())
        .then(|| {
            if turn.outcome == Outcome::OutOfScope {
                Some(Miss::OutOfScope)
            } else if matches!(after.phase, Phase::Suggest { .. })
                && !matches!(before.phase, Phase::Suggest { .. })
            {
                Some(Miss::LowConfidence)
            } else if fallback {
                match before.phase {
                    Phase::Idle => Some(Miss::OutOfScope),
                    // An answer to "did you mean …" that is none of its options is recorded
                    // as `declined_suggestion`: the message that was not understood is the
                    // one before it.
                    Phase::Suggest { .. } => None,
                    _ => Some(Miss::GuideFallback),
                }
            } else {
                None
            }
        })
        .flatten();
    // The nearest intent is kept for every typed message, so that a review can group the
    // misunderstood ones; the decided intent is what the engine acted on.
    let guess = turn.intent.as_ref().or(turn.nearest.as_ref());
    Decision {
        language: Some(after.language.clone().unwrap_or_else(|| "en".to_string())),
        input: input_kind,
        intent: guess.map(|g| g.id.clone()),
        confidence: guess.map(|g| g.confidence),
        act: turn
            .act
            .map(|a| a.act.as_str())
            .or_else(|| {
                (input_kind == InputKind::Button)
                    .then(|| pressed(before, turn))
                    .flatten()
            })
            .map(str::to_string),
        answered: place(&before.phase),
        shown: place(&after.phase),
        outcome: turn.outcome.as_str().to_string(),
        escalation: turn.escalation.as_ref().map(|e| match e.reason {
            EscalationReason::Requested => EscalationKind::Asked,
            EscalationReason::GuideExhausted => EscalationKind::GuideExhausted,
            EscalationReason::NotUnderstood => EscalationKind::Misses,
            EscalationReason::HighRisk => EscalationKind::HighRisk,
        }),
        ticket: None,
        fallback,
        miss,
        declined_suggestion,
        latency_us: 0,
    }
}

/// The guide step a phase is on (1-based), if any.
fn place(phase: &Phase) -> Option<GuideStep> {
    match phase {
        Phase::Guide { intent, step } => Some(GuideStep {
            guide: intent.clone(),
            step: step + 1,
        }),
        _ => None,
    }
}

/// What a button press answered to a guide step, read from what it did (the engine reports
/// acts of typed text only): `affirm` when it resolved the problem, `deny` when the guide moved
/// on or ran out, `human` when it asked for a person.
fn pressed(before: &Conversation, turn: &Turn) -> Option<&'static str> {
    let Phase::Guide { intent, step } = &before.phase else {
        return None;
    };
    if turn.outcome == Outcome::Resolved {
        return Some(Act::Affirm.as_str());
    }
    if turn
        .escalation
        .as_ref()
        .is_some_and(|e| e.reason == EscalationReason::Requested)
    {
        return Some(Act::Human.as_str());
    }
    match &turn.conversation.phase {
        Phase::Guide { intent: g, step: s } if g == intent && *s == step + 1 => {
            Some(Act::Deny.as_str())
        }
        Phase::OfferHuman {
            exhausted_guide: Some(g),
            ..
        } if g == intent => Some(Act::Deny.as_str()),
        _ => None,
    }
}

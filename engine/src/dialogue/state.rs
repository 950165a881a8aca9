//! Conversation state, persisted between turns by the storage crate.

use serde::{Deserialize, Serialize};

use super::Button;

/// Where a conversation is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Nothing under way.
    #[default]
    Idle,
    /// Walking through a guide; `step` is 0-based.
    Guide {
        /// The guide's intent id.
        intent: String,
        /// The step currently shown (0-based).
        step: usize,
    },
    /// The bot offered a person and waits for yes or no.
    OfferHuman {
        /// Set when the offer was made because this guide ran out of steps.
        exhausted_guide: Option<String>,
        /// Set when the offer interrupted a guide (the user's answers were not understood
        /// twice in a row): declining goes back to this step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<GuidePlace>,
    },
    /// The bot asked "did you mean …" with these intent ids.
    Suggest {
        /// The suggested intent ids.
        options: Vec<String>,
    },
    /// A ticket is open; messages go to staff.
    Escalated {
        /// The ticket's number.
        ticket: u64,
    },
    /// The user came back to an unfinished guide (after a pause, or greeting it): the bot
    /// asked whether to continue, start over or talk to a person.
    Resume {
        /// The guide's intent id.
        intent: String,
        /// The step to continue from (0-based).
        step: usize,
    },
}

/// A place in a guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidePlace {
    /// The guide's intent id.
    pub intent: String,
    /// The step (0-based).
    pub step: usize,
}

/// An intent and the classifier's confidence in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentGuess {
    /// The intent id.
    pub id: String,
    /// Confidence in 0..=1 (1 for a pattern match or a button).
    pub confidence: f32,
}

/// A guide step the user tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The guide's intent id.
    pub guide: String,
    /// 1-based step number.
    pub step: usize,
    /// The step's text.
    pub text: String,
    /// What the user answered.
    pub answer: String,
}

/// The state of one conversation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// Where it is.
    #[serde(flatten)]
    pub phase: Phase,
    /// Messages in a row the bot did not understand.
    #[serde(default)]
    pub misses: u8,
    /// Steps tried on the current problem.
    #[serde(default)]
    pub tried: Vec<StepRecord>,
    /// The last intent detected.
    #[serde(default)]
    pub last_intent: Option<IntentGuess>,
    /// Turn counter; buttons carry the value of the turn that made them.
    #[serde(default)]
    pub turn: u64,
    /// The buttons of the last reply, so a typed number or label can press them.
    #[serde(default)]
    pub buttons: Vec<Button>,
    /// True once the user was warned not to share passwords or codes (warned once only).
    #[serde(default)]
    pub warned_secrets: bool,
    /// When the user last wrote (Unix seconds), to welcome them back after a pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_secs: Option<u64>,
    /// True once the user's frustration was acknowledged in this conversation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soothed: bool,
    /// A hash of the last reply's text, so the same reply is never sent twice in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_reply: u64,
    /// True while the open ticket is a priority one (a high-risk case).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub priority: bool,
    /// The language the bot speaks with this user (a catalog language code); `None` until
    /// the first message or a platform's language hint sets it (English meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// True once the user chose the language with `/language`: what they write no longer
    /// switches it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub language_chosen: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Conversation {
    /// `idle`, `guide`, `offer_human`, `suggest` or `escalated` (a welcome-back choice is
    /// `suggest`: the stable names scripts rely on).
    pub fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Idle => "idle",
            Phase::Guide { .. } => "guide",
            Phase::OfferHuman { .. } => "offer_human",
            Phase::Suggest { .. } | Phase::Resume { .. } => "suggest",
            Phase::Escalated { .. } => "escalated",
        }
    }

    /// The open ticket's number, if any.
    pub fn ticket(&self) -> Option<u64> {
        match self.phase {
            Phase::Escalated { ticket } => Some(ticket),
            _ => None,
        }
    }
}

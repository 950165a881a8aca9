//! What the bot decided about one user message, recorded for the support team's reports and
//! its review of misunderstood messages.
//!
//! A [`Decision`] rides on the user's own [`TranscriptEntry`](crate::TranscriptEntry) line, so
//! it is written in the turn's transaction, and retention, `/forget`, export and import treat
//! it exactly like the transcript: nothing of it outlives the line it describes.

use serde::{Deserialize, Serialize};

/// A place in a guide, as recorded (1-based step, as people count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuideStep {
    /// The guide's intent id.
    pub guide: String,
    /// The step, 1-based.
    pub step: usize,
}

/// What the user sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Typed text.
    Text,
    /// A typed command (`/help`).
    Command,
    /// A button press.
    Button,
}

/// Why a ticket was opened, as the report groups escalations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationKind {
    /// The user asked for a person.
    Asked,
    /// The guide ran out of steps.
    GuideExhausted,
    /// The bot did not understand the user repeatedly.
    Misses,
    /// A high-risk case (priority ticket).
    HighRisk,
}

/// Why a message counts as not understood (what `deskbot review` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Miss {
    /// Judged out of scope.
    OutOfScope,
    /// The bot was unsure and asked "did you mean …".
    LowConfidence,
    /// Inside a guide, the bot did not understand the answer (a fallback fired).
    GuideFallback,
    /// The bot asked "did you mean …" about this message and the user's answer was none of
    /// the options (recorded on the answer as [`Decision::declined_suggestion`]; a review
    /// reports the asking message with this reason).
    SuggestionIgnored,
}

/// What the bot decided about one user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The language the bot answered in (a catalog code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// What the user sent.
    pub input: InputKind,
    /// The intent the text was classified as, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The classifier's confidence in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// What the message did as an answer (`deny`, `affirm`, …), if read as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    /// The guide step the conversation was on when the message came (what it answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<GuideStep>,
    /// The guide step shown after the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<GuideStep>,
    /// What the turn did: `none`, `guide_started`, `resolved`, `escalated`,
    /// `added_to_ticket`, `out_of_scope`, `rated`, `unsupported_language`.
    pub outcome: String,
    /// Why a ticket was opened by this turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationKind>,
    /// The ticket this turn opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    /// True when a fallback fired: the bot said it did not understand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// Set when the message counts as not understood, with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss: Option<Miss>,
    /// True when the message answered a "did you mean …" with something other than one of
    /// its options: the user's previous message was not understood
    /// ([`Miss::SuggestionIgnored`] describes that previous message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declined_suggestion: bool,
    /// How long the bot took to decide (load, engine, ticket), in microseconds; the durable
    /// commit after it is not counted.
    pub latency_us: u64,
}

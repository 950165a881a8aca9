//! The records stored besides conversation state: transcripts and tickets.

use serde::{Deserialize, Serialize};

use crate::ConvKey;

/// Who said a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The person asking for help.
    User,
    /// The bot.
    Bot,
    /// A member of the support staff.
    Staff,
}

/// One line of a conversation's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// Who said it.
    pub speaker: Speaker,
    /// What was said (for a button press, the button's label).
    pub text: String,
    /// For a user's line: what the bot decided about it (absent on bot and staff lines, and
    /// in records written before decisions were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Box<crate::Decision>>,
}

impl TranscriptEntry {
    /// A line without a decision.
    pub fn new(at_ms: u64, speaker: Speaker, text: impl Into<String>) -> Self {
        Self {
            at_ms,
            speaker,
            text: text.into(),
            decision: None,
        }
    }
}

/// A guide step the user tried before escalating, and their answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTried {
    /// The guide's intent id.
    pub guide: String,
    /// 1-based step number.
    pub step: usize,
    /// The step's text.
    pub text: String,
    /// The user's answer ("no", "skipped", …).
    pub answer: String,
}

/// Whether a ticket still needs staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting for or in conversation with staff.
    Open,
    /// Done.
    Closed,
}

/// How the user rated the help they got in a ticket (asked when it closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 👍
    Up,
    /// 👎
    Down,
}

/// What stands in a ticket for personal data deleted at the user's request.
pub const DELETED: &str = "[deleted]";

/// A request for human support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Human-friendly, monotonically increasing number (#1, #2, …).
    pub number: u64,
    /// The conversation it belongs to.
    pub conversation: ConvKey,
    /// The user's display name, when the channel knows it.
    pub display_name: Option<String>,
    /// The intent detected before escalation, if any.
    pub intent: Option<String>,
    /// The classifier's confidence in that intent.
    pub confidence: Option<f32>,
    /// Guide steps tried, with answers.
    pub steps_tried: Vec<StepTried>,
    /// The conversation's transcript up to the escalation.
    pub transcript: Vec<TranscriptEntry>,
    /// Open or closed.
    pub status: TicketStatus,
    /// Unix time (ms) the ticket was opened.
    pub opened_at_ms: u64,
    /// Unix time (ms) it was closed.
    pub closed_at_ms: Option<u64>,
    /// The user's rating after the close, if they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    /// True once the user's personal data was deleted from the ticket at their request
    /// (`/forget`): name, transcript, answers and user id are gone; the number, platform,
    /// intent, status, times and rating stay for statistics. Such a ticket cannot be reopened.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forgotten: bool,
    /// A high-risk case (e.g. a possible account takeover): shown to staff as priority and
    /// placed before every normal ticket in the queue ([`crate::Store::queue_position`]).
    /// Absent in records written before priority existed, which read as `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub priority: bool,
}

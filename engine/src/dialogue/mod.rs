//! The dialogue policy: given a conversation's state and the user's input, decide the reply,
//! the buttons and the next state.
//!
//! Everything here is a pure function of (catalog, trained classifier, state, input), which is
//! what makes the bot testable without a platform and lets every channel share one behaviour.
//! The caller persists [`Turn::conversation`] and, when [`Turn::escalation`] is set, opens a
//! ticket and asks [`Engine::ticket_opened`] for the reply that names it.

mod analysis;
mod codes;
mod context;
mod forget;
mod models;
mod policy;
mod reply;
mod state;
mod texts;

pub use analysis::{Analysis, Engine, EngineError, SPECIFIC_OVER_VAGUE, prefer_specific};
pub use context::AnswerContext;
pub use policy::{MAX_INPUT_CHARS, MAX_KEPT_CHARS};
pub use reply::{Button, Reply};
pub use state::{Conversation, GuidePlace, IntentGuess, Phase, StepRecord};

pub use crate::acts::{Act, ActGuess};

/// What the caller knows about the moment of a turn, beside the state and the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnContext {
    /// The time of the user's message (Unix seconds); `None` leaves pauses unnoticed.
    pub now_secs: Option<u64>,
    /// The open ticket's place in the queue (1 = next), when the conversation has one.
    pub queue_position: Option<usize>,
}

/// What a user did: typed text, or pressed a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text message, as typed (commands such as `/help` included).
    Text(String),
    /// A button press, carrying the button's [`Button::id`].
    Button(String),
}

/// How a turn ended a piece of work; channels count these for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing notable.
    None,
    /// A guide started.
    GuideStarted,
    /// The user said a guide fixed their problem.
    Resolved,
    /// The turn asks for a ticket (see [`Turn::escalation`]).
    Escalated,
    /// The message was added to an open ticket.
    AddedToTicket,
    /// The message was judged out of scope.
    OutOfScope,
    /// The user sent too many messages too fast and was asked to slow down (set by the desk's
    /// flood control; the engine never ran).
    Throttled,
    /// The message was ignored under flood control: nothing was said, nothing changed.
    Ignored,
    /// The user confirmed `/forget`: the caller deletes everything stored about them (see
    /// [`Turn::forget`]).
    Forgotten,
    /// The user rated a closed ticket (see [`Turn::rating`]).
    Rated,
    /// The message was in a language the bot does not speak: it said which it speaks, in
    /// English, and offered a person.
    UnsupportedLanguage,
}

impl Outcome {
    /// The outcome's stable snake_case name, as decision records and reports store it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::GuideStarted => "guide_started",
            Self::Resolved => "resolved",
            Self::Escalated => "escalated",
            Self::AddedToTicket => "added_to_ticket",
            Self::OutOfScope => "out_of_scope",
            Self::Throttled => "throttled",
            Self::Ignored => "ignored",
            Self::Forgotten => "forgotten",
            Self::Rated => "rated",
            Self::UnsupportedLanguage => "unsupported_language",
        }
    }
}

/// How a user rated the help they got in a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    /// 👍
    Up,
    /// 👎
    Down,
}

/// Why a conversation is handed to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationReason {
    /// The user asked for a person.
    Requested,
    /// The guide ran out of steps and the user accepted a person.
    GuideExhausted,
    /// The bot did not understand the user repeatedly and the user accepted a person.
    NotUnderstood,
    /// A high-risk case (a taken-over account): a priority ticket.
    HighRisk,
}

/// What a ticket needs to know about the conversation that opens it.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// Why.
    pub reason: EscalationReason,
    /// The last intent detected, if any.
    pub intent: Option<IntentGuess>,
    /// Guide steps tried, with the user's answers.
    pub steps_tried: Vec<StepRecord>,
    /// A high-risk case: the ticket is marked priority and goes first in the queue.
    pub priority: bool,
}

/// The result of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The conversation's new state, to persist.
    pub conversation: Conversation,
    /// What to send the user. When [`Turn::escalation`] is set, replace it by
    /// [`Engine::ticket_opened`] once the ticket has a number.
    pub reply: Reply,
    /// The intent this turn's text was classified as (none for buttons and commands).
    pub intent: Option<IntentGuess>,
    /// Set when the caller must open a ticket.
    pub escalation: Option<Escalation>,
    /// What the turn did, for metrics.
    pub outcome: Outcome,
    /// The text to record in the transcript for the user's side of the turn: a button's
    /// label rather than its id, and typed text with passwords, codes and card numbers masked.
    pub user_text: String,
    /// Set when the user confirmed that everything stored about them must be deleted: the
    /// caller deletes the conversation's state, transcript and personal data in tickets
    /// instead of persisting [`Turn::conversation`] (which is then the empty state).
    pub forget: bool,
    /// Set when the user rated closed ticket `.0`: the caller records the rating on it.
    pub rating: Option<(u64, Rating)>,
    /// What the user's typed message did as an answer (none for buttons, commands and
    /// messages that are not answers).
    pub act: Option<ActGuess>,
    /// True when the conversation's ticket (opened by this turn or before) is a priority one.
    pub priority: bool,
    /// The classifier's likeliest intent for the typed text, whatever was decided (also when
    /// the text was judged out of scope): what a support lead reviewing misunderstood messages
    /// sees as the nearest intent. `None` for buttons, commands and empty text.
    pub nearest: Option<IntentGuess>,
}

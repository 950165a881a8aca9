//! Platform-neutral replies: text plus buttons. Channels decide how to render them.

/// A button offered with a reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    /// What the channel sends back when it is pressed: `<turn>:<action>`. The turn number lets
    /// the engine recognise a press on an outdated message.
    pub id: String,
    /// The label shown to the user.
    pub label: String,
}

/// What the bot says in one turn.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// Plain text (no markup: channels escape it for their format).
    pub text: String,
    /// Buttons, in display order.
    pub buttons: Vec<Button>,
}

impl Reply {
    /// A reply without buttons.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            buttons: Vec::new(),
        }
    }
}

//! The Telegram staff side: a forum topic per ticket when the staff group is a forum, else a
//! ticket message in the group that staff answer by replying to it.

use std::sync::Arc;

use deskbot_storage::{StaffLocation, Ticket};

use super::relay::{RelayError, StaffSide};
use crate::config::{HandoffConfig, TelegramConfig};

/// The platform name in [`StaffLocation`]s.
pub const PLATFORM: &str = "telegram";

/// The Telegram staff side of the relay.
#[derive(Clone, Debug)]
pub struct TelegramStaff {
    chat: i64,
    _inner: Arc<()>,
}

impl TelegramStaff {
    /// A staff side for `handoff.telegram_staff_chat_id` through its own bot (honouring
    /// `telegram.api_url`); `None` when no Telegram staff group is configured.
    pub fn new(telegram: &TelegramConfig, handoff: &HandoffConfig) -> anyhow::Result<Option<Self>> {
        let _ = telegram;
        Ok(handoff.telegram_staff_chat_id.map(|chat| Self {
            chat,
            _inner: Arc::new(()),
        }))
    }
}

impl StaffSide for TelegramStaff {
    async fn open(&self, ticket: &Ticket, _first: &str) -> Result<StaffLocation, RelayError> {
        Err(RelayError::Platform(format!(
            "the Telegram staff side cannot open ticket #{} in {} yet",
            ticket.number, self.chat
        )))
    }

    async fn post(&self, _at: &StaffLocation, _text: &str, _nonce: &str) -> Result<(), RelayError> {
        Err(RelayError::Platform(
            "the Telegram staff side cannot post yet".into(),
        ))
    }
}

//! The Telegram channel (teloxide). Being written.

use anyhow::Result;

use crate::config::TelegramConfig;
use crate::desk::Desk;
use crate::run::Shutdown;

/// Runs the Telegram channel until `shutdown`.
pub async fn run(_desk: Desk, _config: TelegramConfig, _shutdown: Shutdown) -> Result<()> {
    anyhow::bail!("the Telegram channel is not available in this build yet")
}

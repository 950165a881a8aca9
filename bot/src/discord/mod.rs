//! The Discord channel (serenity). Being written.

use anyhow::Result;

use crate::config::DiscordConfig;
use crate::desk::Desk;
use crate::run::Shutdown;

/// Runs the Discord channel until `shutdown`.
pub async fn run(_desk: Desk, _config: DiscordConfig, _shutdown: Shutdown) -> Result<()> {
    anyhow::bail!("the Discord channel is not available in this build yet")
}

//! `[discord]`: the Discord channel's settings.

use deskbot_desk::secret::Secret;
use serde::Deserialize;

/// The number of Discord gateway shards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Shards {
    /// A fixed count.
    Count(u32),
    /// `"auto"`: ask Discord.
    Auto(String),
}

impl Default for Shards {
    fn default() -> Self {
        Self::Count(1)
    }
}

/// `[discord]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Start the Discord channel.
    pub enabled: bool,
    /// The bot token; `DISCORD_BOT_TOKEN` overrides it.
    pub token: Secret,
    /// A Discord-compatible base URL such as `http://127.0.0.1:8080` (a local fake in tests;
    /// serenity appends `/api/v10/...`, and a trailing `/api/v10` here is dropped). When set,
    /// the gateway URL comes from that base's `/api/v10/gateway` and serenity's ratelimiter is
    /// off, since serenity only honours a custom base then.
    pub api_url: Option<String>,
    /// Guild channels where the bot answers messages that mention it (or reply to it) and
    /// answers slash commands publicly; elsewhere in a guild mentions are ignored and slash
    /// commands are answered privately (ephemeral).
    pub support_channel_ids: Vec<u64>,
    /// Guilds where slash commands are registered; empty registers them globally.
    pub guild_ids: Vec<u64>,
    /// Gateway shards: a number, or "auto".
    pub shards: Shards,
}

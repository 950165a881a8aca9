//! `deskbot.toml`: the configuration of `deskbot run`.
//!
//! Every key is optional except what an enabled channel needs; unknown keys are errors (a typo
//! must not silently disable a setting). Tokens come from the environment
//! (`TELEGRAM_BOT_TOKEN`, `DISCORD_BOT_TOKEN`) or, for local use, from the file; they are held
//! in [`Secret`], which never prints its value.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// A token or password. Its `Debug` and `Display` print `[redacted]`, so it cannot leak into
/// logs or error messages by accident; [`Secret::expose`] is the one way to read it.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database lives (`--data-dir` overrides it).
    pub data_dir: Option<PathBuf>,
    /// A catalog directory to use instead of the built-in catalog.
    pub catalog: Option<PathBuf>,
    /// The Telegram channel.
    pub telegram: TelegramConfig,
    /// The Discord channel.
    pub discord: DiscordConfig,
}

/// `[telegram]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Start the Telegram channel.
    pub enabled: bool,
    /// The bot token; `TELEGRAM_BOT_TOKEN` overrides it.
    pub token: Secret,
    /// A Bot API server other than Telegram's (a self-hosted one, or a fake in tests).
    pub api_url: Option<String>,
    /// Long-poll timeout in seconds (kept below teloxide's 17 s client timeout).
    pub poll_timeout_secs: u32,
    /// Receive updates by webhook at this public URL instead of long polling. Telegram
    /// requires HTTPS on port 443, 80, 88 or 8443 (terminate TLS in a reverse proxy that
    /// forwards to `listen`). Needs `listen` and `webhook_secret`.
    pub webhook_url: Option<String>,
    /// Where the webhook server listens (`0.0.0.0:8443`); only with `webhook_url`.
    pub listen: Option<String>,
    /// The secret Telegram sends with every webhook request (1 to 256 of `A-Z a-z 0-9 _ -`);
    /// requests without it are refused.
    pub webhook_secret: Secret,
    /// Outgoing messages per second over all chats (teloxide's Throttle; Telegram allows
    /// about 30).
    pub messages_per_sec_overall: u32,
    /// Outgoing messages per second to one chat (Telegram allows about 1).
    pub messages_per_sec_chat: u32,
    /// Outgoing messages per minute to one chat (Telegram allows about 20).
    pub messages_per_min_chat: u32,
    /// Outgoing messages per minute to one supergroup (Telegram allows about 20; teloxide's
    /// default of 10 leaves a margin).
    pub messages_per_min_group: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token: Secret::default(),
            api_url: None,
            poll_timeout_secs: 10,
            webhook_url: None,
            listen: None,
            webhook_secret: Secret::default(),
            messages_per_sec_overall: 30,
            messages_per_sec_chat: 1,
            messages_per_min_chat: 20,
            messages_per_min_group: 10,
        }
    }
}

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

/// Why the configuration is unusable. Messages name the file and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, which names the key and quotes the line.
        message: String,
    },
    /// A key has an unusable value.
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, dotted (`telegram.api_url`).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads `path`; a missing file gives the defaults only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: shown,
                    source,
                });
            }
        };
        let mut cfg = Self::parse(&shown, &text)?;
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.validate(&shown)?;
        Ok(cfg)
    }

    /// Parses TOML text (`path` is only used in errors).
    pub fn parse(path: &str, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Applies environment overrides: the tokens, and `DESKBOT_DATA_DIR`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(t) = get("TELEGRAM_BOT_TOKEN").filter(|t| !t.trim().is_empty()) {
            self.telegram.token = Secret::new(t);
        }
        if let Some(t) = get("DISCORD_BOT_TOKEN").filter(|t| !t.trim().is_empty()) {
            self.discord.token = Secret::new(t);
        }
        if let Some(d) = get("DESKBOT_DATA_DIR").filter(|d| !d.trim().is_empty()) {
            self.data_dir = Some(PathBuf::from(d));
        }
    }

    /// Checks what parsing cannot: tokens of enabled channels, URLs, ranges.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let bad = |key, message: &str| {
            Err(ConfigError::Invalid {
                path: path.to_string(),
                key,
                message: message.to_string(),
            })
        };
        if self.telegram.enabled && self.telegram.token.is_empty() {
            return bad(
                "telegram.token",
                "the Telegram channel is enabled but no token is set (set TELEGRAM_BOT_TOKEN)",
            );
        }
        if let Some(u) = &self.telegram.api_url
            && !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return bad("telegram.api_url", "is not a valid http(s) URL");
        }
        if !(1..=16).contains(&self.telegram.poll_timeout_secs) {
            return bad(
                "telegram.poll_timeout_secs",
                "must be 1 to 16 (teloxide's HTTP client gives up after 17 s)",
            );
        }
        let t = &self.telegram;
        match (&t.webhook_url, &t.listen) {
            (Some(_), None) => return bad("telegram.listen", "is needed with webhook_url"),
            (None, Some(_)) => return bad("telegram.webhook_url", "is needed with listen"),
            (Some(u), Some(l)) => {
                if !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                    return bad("telegram.webhook_url", "is not a valid http(s) URL");
                }
                if l.parse::<std::net::SocketAddr>().is_err() {
                    return bad("telegram.listen", "is not an address such as 0.0.0.0:8443");
                }
                let secret = t.webhook_secret.expose();
                if !(1..=256).contains(&secret.len())
                    || !secret
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return bad(
                        "telegram.webhook_secret",
                        "must be set in webhook mode: 1 to 256 of A-Z a-z 0-9 _ -",
                    );
                }
            }
            (None, None) => {}
        }
        for (key, value, max) in [
            (
                "telegram.messages_per_sec_overall",
                self.telegram.messages_per_sec_overall,
                10_000,
            ),
            (
                "telegram.messages_per_sec_chat",
                self.telegram.messages_per_sec_chat,
                10_000,
            ),
            (
                "telegram.messages_per_min_chat",
                self.telegram.messages_per_min_chat,
                600_000,
            ),
            (
                "telegram.messages_per_min_group",
                self.telegram.messages_per_min_group,
                600_000,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return bad(key, &format!("must be 1 to {max}"));
            }
        }
        if self.discord.enabled && self.discord.token.is_empty() {
            return bad(
                "discord.token",
                "the Discord channel is enabled but no token is set (set DISCORD_BOT_TOKEN)",
            );
        }
        if let Some(u) = &self.discord.api_url
            && url::Url::parse(u).is_err()
        {
            return bad("discord.api_url", "is not a valid URL");
        }
        match &self.discord.shards {
            Shards::Count(0) => return bad("discord.shards", "must be at least 1, or \"auto\""),
            Shards::Auto(s) if s != "auto" => {
                return bad("discord.shards", "must be a number or \"auto\"");
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("d.toml", "[telegram]\nenabeld = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.toml") && err.contains("enabeld"), "{err}");
    }

    #[test]
    fn enabled_channel_needs_a_token() {
        let cfg = Config::parse("d.toml", "[telegram]\nenabled = true\n").unwrap();
        let err = cfg.validate("d.toml").unwrap_err().to_string();
        assert!(err.contains("telegram.token"), "{err}");
        let mut cfg = cfg;
        cfg.apply_env(|k| (k == "TELEGRAM_BOT_TOKEN").then(|| "123:abc".to_string()));
        cfg.validate("d.toml").unwrap();
    }

    #[test]
    fn secrets_never_print() {
        let cfg = Config::parse("d.toml", "[discord]\ntoken = \"very-secret-token\"\n").unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert_eq!(cfg.discord.token.expose(), "very-secret-token");
    }

    #[test]
    fn telegram_rate_limits_have_defaults_and_are_checked() {
        let cfg = Config::parse("d.toml", "").unwrap();
        assert_eq!(cfg.telegram.messages_per_sec_overall, 30);
        assert_eq!(cfg.telegram.messages_per_sec_chat, 1);
        cfg.validate("d.toml").unwrap();
        let cfg = Config::parse("d.toml", "[telegram]\napi_url = \"ftp://x\"\n").unwrap();
        let err = cfg.validate("d.toml").unwrap_err().to_string();
        assert!(err.contains("telegram.api_url"), "{err}");
        let cfg = Config::parse("d.toml", "[telegram]\nmessages_per_sec_chat = 0\n").unwrap();
        let err = cfg.validate("d.toml").unwrap_err().to_string();
        assert!(err.contains("telegram.messages_per_sec_chat"), "{err}");
        let cfg = Config::parse(
            "d.toml",
            "[telegram]\napi_url = \"http://127.0.0.1:1\"\nmessages_per_min_group = 20\n",
        )
        .unwrap();
        cfg.validate("d.toml").unwrap();
    }

    #[test]
    fn telegram_webhook_settings_come_together() {
        let base = "[telegram]\nwebhook_url = \"https://bot.example/tg\"\n";
        let err = Config::parse("d.toml", base)
            .unwrap()
            .validate("d.toml")
            .unwrap_err();
        assert!(err.to_string().contains("telegram.listen"), "{err}");
        let with_listen = format!("{base}listen = \"0.0.0.0:8443\"\n");
        let err = Config::parse("d.toml", &with_listen)
            .unwrap()
            .validate("d.toml")
            .unwrap_err();
        assert!(err.to_string().contains("telegram.webhook_secret"), "{err}");
        let ok = format!("{with_listen}webhook_secret = \"s3cret_-x\"\n");
        let cfg = Config::parse("d.toml", &ok).unwrap();
        cfg.validate("d.toml").unwrap();
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn shards_accept_number_or_auto() {
        let cfg = Config::parse("d.toml", "[discord]\nshards = \"auto\"\n").unwrap();
        cfg.validate("d.toml").unwrap();
        let cfg = Config::parse("d.toml", "[discord]\nshards = \"many\"\n").unwrap();
        assert!(
            cfg.validate("d.toml")
                .unwrap_err()
                .to_string()
                .contains("discord.shards")
        );
        let cfg = Config::parse("d.toml", "[telegram]\napi_url = \"not a url\"\n").unwrap();
        assert!(
            cfg.validate("d.toml")
                .unwrap_err()
                .to_string()
                .contains("telegram.api_url")
        );
    }
}

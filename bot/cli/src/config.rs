//! `deskbot.toml`: the configuration of `deskbot run`.
//!
//! Every key is optional except what an enabled channel needs; unknown keys are errors (a typo
//! must not silently disable a setting). Tokens come from the environment
//! (`TELEGRAM_BOT_TOKEN`, `DISCORD_BOT_TOKEN`) or, for local use, from the file; they are held
//! in [`Secret`], which never prints its value.

use std::path::{Path, PathBuf};

pub use deskbot_desk::flood::FloodConfig;
pub use deskbot_desk::secret::Secret;
pub use deskbot_discord::config::{DiscordConfig, Shards};
use deskbot_storage::Platform;
pub use deskbot_telegram::config::TelegramConfig;
use serde::Deserialize;
use thiserror::Error;

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
    /// Human handoff: where tickets go to staff.
    pub handoff: HandoffConfig,
    /// Flood control per user.
    pub flood: FloodConfig,
    /// Data retention.
    pub privacy: PrivacyConfig,
    /// The observability endpoint (`/healthz`, `/metrics`).
    pub http: HttpConfig,
    /// Sentence embeddings (the multilingual model the classifier reads messages with).
    pub embeddings: EmbeddingsConfig,
}

/// `[embeddings]`: the sentence-embedding model (see [`crate::embedding`]).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsConfig {
    /// Understand messages with the model too (fetched once into the cache on first start);
    /// `false` runs on n-grams alone.
    pub enabled: bool,
    /// Where the model and the catalog's vectors are cached (default: `$DESKBOT_CACHE_DIR`,
    /// else `$XDG_CACHE_HOME/deskbot`, else `~/.cache/deskbot`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_dir: None,
        }
    }
}

/// `[http]`: the endpoint serving `/healthz` and `/metrics` while `deskbot run` runs (see
/// [`crate::observe`]).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve the endpoint.
    pub enabled: bool,
    /// Where it listens: loopback by default, since neither page is meant for the public.
    pub listen: String,
    /// How long `/healthz` waits for the store's durable-write probe before answering 503.
    pub health_timeout_secs: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9464".to_string(),
            health_timeout_secs: 5,
        }
    }
}

/// `[privacy]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Transcript lines older than this many days are deleted by a background task (hourly),
    /// also from closed tickets' copies; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

/// `[handoff]`: where staff answer tickets, who counts as staff, and canned replies.
///
/// A ticket opens on the staff side of the user's own platform when that is configured, else
/// on the other one, so a Telegram user can be answered from Discord and the other way round
/// ([`HandoffConfig::destination`]). With neither configured, tickets are only stored (and
/// listed by `deskbot tickets`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// The Discord text channel where a thread opens per ticket.
    pub discord_staff_channel_id: Option<u64>,
    /// The Discord role whose members may use the staff commands; needed with
    /// `discord_staff_channel_id`.
    pub discord_staff_role_id: Option<u64>,
    /// The Telegram staff supergroup (a negative id such as `-1001234567890`): a forum topic
    /// per ticket when it is a forum, else a ticket message staff reply to.
    pub telegram_staff_chat_id: Option<i64>,
    /// Telegram users allowed to use the staff commands besides the group's administrators.
    pub telegram_staff_user_ids: Vec<u64>,
    /// Relay staff messages as "Support: …" instead of "Support (name): …".
    pub anonymous_staff: bool,
    /// Canned replies by name, sent with `snippet NAME`.
    pub snippets: std::collections::BTreeMap<String, String>,
    /// Close tickets whose user has not written for this many days (a positive number;
    /// `0.5` is twelve hours): they are warned first, then closed (with the rating buttons)
    /// when `auto_close_warn_hours` more pass without a message from them or staff. Absent:
    /// idle tickets stay open.
    pub auto_close_days: Option<f64>,
    /// Hours between the idle warning and the close (a positive number, default 24); only
    /// with `auto_close_days`.
    pub auto_close_warn_hours: Option<f64>,
}

/// The longest `[handoff] auto_close_days`: ten years.
pub const AUTO_CLOSE_DAYS_MAX: f64 = 3_650.0;

/// The longest `[handoff] auto_close_warn_hours`: thirty days.
pub const AUTO_CLOSE_WARN_HOURS_MAX: f64 = 720.0;

/// Whether `v` is a usable positive amount up to `max`.
fn positive_up_to(v: f64, max: f64) -> bool {
    v.is_finite() && v > 0.0 && v <= max
}

/// A platform's staff side, as chosen by [`HandoffConfig::destination`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffSide {
    /// The Discord staff channel (its id).
    Discord(u64),
    /// The Telegram staff group (its chat id).
    Telegram(i64),
}

/// The longest snippet, in characters: with the "Support (name): " prefix it still fits one
/// Discord message (2000) and one Telegram message (4096).
pub const SNIPPET_MAX_CHARS: usize = 1_800;

impl HandoffConfig {
    /// Where a ticket of a user on `platform` opens: that platform's staff side when
    /// configured, else the other one; `None` when no staff side is set.
    pub fn destination(&self, platform: Platform) -> Option<StaffSide> {
        let discord = self.discord_staff_channel_id.map(StaffSide::Discord);
        let telegram = self.telegram_staff_chat_id.map(StaffSide::Telegram);
        if platform == Platform::Telegram {
            telegram.or(discord)
        } else {
            discord.or(telegram)
        }
    }

    /// When idle tickets are warned and closed; `None` when `auto_close_days` is not set.
    pub fn idle_policy(&self) -> Option<deskbot_desk::handoff::idle::IdlePolicy> {
        // Validated positive and bounded; clamped anyway, so the conversion cannot panic.
        let secs = |v: f64, unit: f64, max: f64| {
            std::time::Duration::from_secs_f64(
                if v.is_finite() {
                    v.clamp(0.0, max)
                } else {
                    0.0
                } * unit,
            )
        };
        let days = self.auto_close_days?;
        Some(deskbot_desk::handoff::idle::IdlePolicy {
            after: secs(days, 86_400.0, AUTO_CLOSE_DAYS_MAX),
            grace: self
                .auto_close_warn_hours
                .map_or(deskbot_desk::handoff::idle::DEFAULT_GRACE, |h| {
                    secs(h, 3_600.0, AUTO_CLOSE_WARN_HOURS_MAX)
                }),
        })
    }

    /// What the relay needs of these settings (staff naming and snippets).
    pub fn relay(&self) -> deskbot_desk::handoff::relay::RelayConfig {
        deskbot_desk::handoff::relay::RelayConfig {
            anonymous_staff: self.anonymous_staff,
            snippets: self.snippets.clone(),
        }
    }
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
    /// A `DESKBOT_*` environment variable names no setting or has an unusable value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
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
        let mut cfg = Self::parse_with_env(&shown, &text, std::env::vars())?;
        cfg.apply_env(|k| std::env::var(k).ok());
        crate::observe::register_config_secrets(&cfg);
        cfg.validate(&shown)
            .map_err(|e| blame_env_for_invalid(e, std::env::vars()))?;
        Ok(cfg)
    }

    /// Parses TOML text (`path` is only used in errors).
    pub fn parse(path: &str, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            message: parse_error_message(text, &e),
        })
    }

    /// Parses TOML text with `DESKBOT_*` variables from `vars` overriding its settings:
    /// `DESKBOT_<KEY>` for a top-level key and `DESKBOT_<SECTION>__<KEY>` (two underscores
    /// between levels) inside a section, e.g. `DESKBOT_TELEGRAM__ENABLED=true`,
    /// `DESKBOT_HTTP__LISTEN=127.0.0.1:9000`, `DESKBOT_HANDOFF__SNIPPETS__RESET=…`. A value is
    /// read as a TOML value when it is one (`true`, `8`, `[1, 2]`), else as a string.
    /// `DESKBOT_LOG` (the log filter) and `DESKBOT_TEST_PANIC` are not settings and are
    /// skipped; any other variable naming no setting is an error naming it.
    pub fn parse_with_env(
        path: &str,
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let overrides: Vec<(String, Vec<String>, String)> = vars
            .into_iter()
            .filter_map(|(var, value)| {
                let rest = var.strip_prefix(ENV_PREFIX)?;
                (!ENV_NOT_SETTINGS.contains(&rest)).then(|| {
                    let keys = rest.split("__").map(str::to_ascii_lowercase).collect();
                    (var.clone(), keys, value)
                })
            })
            .collect();
        if overrides.is_empty() {
            return Self::parse(path, text);
        }
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            message: parse_error_message(text, &e),
        })?;
        // The file alone first, so a bad value in it is blamed on the file, not on a variable.
        let file_only = table.clone();
        let mut applied: Vec<(String, String, toml::Value)> = Vec::new();
        for (var, keys, value) in overrides {
            let env_err = |message: &str| ConfigError::Env {
                var: var.clone(),
                message: message.to_string(),
            };
            if keys.iter().any(String::is_empty) || !ENV_TOP_LEVEL.contains(&keys[0].as_str()) {
                return Err(env_err(&format!(
                    "names no setting (use DESKBOT_<KEY> or DESKBOT_<SECTION>__<KEY>, sections: {})",
                    ENV_TOP_LEVEL.join(", ")
                )));
            }
            let parsed = env_value(&value);
            let (last, parents) = keys.split_last().ok_or_else(|| env_err("is empty"))?;
            let mut at = &mut table;
            for k in parents {
                let entry = at
                    .entry(k.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                at = entry
                    .as_table_mut()
                    .ok_or_else(|| env_err(&format!("`{k}` is not a section")))?;
            }
            applied.push((var.clone(), keys.join("."), parsed.clone()));
            at.insert(last.clone(), parsed);
        }
        match toml::Value::Table(table).try_into() {
            Ok(cfg) => Ok(cfg),
            Err(e) => Err(blame_override(path, text, file_only, &applied, &e)),
        }
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
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("http.listen", "is not an address such as 127.0.0.1:9464");
        }
        if !(1..=300).contains(&self.http.health_timeout_secs) {
            return bad("http.health_timeout_secs", "must be 1 to 300");
        }
        if self.flood.max_messages > 1_000 {
            return bad("flood.max_messages", "must be 0 (off) to 1000");
        }
        if self.flood.max_messages > 0 && !(1..=86_400).contains(&self.flood.mute_secs) {
            return bad("flood.mute_secs", "must be 1 to 86400");
        }
        if self.privacy.retention_days > 36_500 {
            return bad(
                "privacy.retention_days",
                "must be 0 (keep forever) to 36500",
            );
        }
        self.validate_handoff(path)
    }

    fn validate_handoff(&self, path: &str) -> Result<(), ConfigError> {
        let bad = |key, message: &str| {
            Err(ConfigError::Invalid {
                path: path.to_string(),
                key,
                message: message.to_string(),
            })
        };
        let h = &self.handoff;
        match (h.discord_staff_channel_id, h.discord_staff_role_id) {
            (Some(0), _) => return bad("handoff.discord_staff_channel_id", "must not be 0"),
            (_, Some(0)) => return bad("handoff.discord_staff_role_id", "must not be 0"),
            (Some(_), None) => {
                return bad(
                    "handoff.discord_staff_role_id",
                    "is needed with discord_staff_channel_id (only members of this role may use the staff commands)",
                );
            }
            (None, Some(_)) => {
                return bad(
                    "handoff.discord_staff_channel_id",
                    "is needed with discord_staff_role_id",
                );
            }
            (Some(_), Some(_)) if !self.discord.enabled => {
                return bad(
                    "handoff.discord_staff_channel_id",
                    "is set but the Discord channel is not enabled ([discord] enabled = true)",
                );
            }
            _ => {}
        }
        match h.telegram_staff_chat_id {
            Some(id) if id >= 0 => {
                return bad(
                    "handoff.telegram_staff_chat_id",
                    "must be a group's id, which is negative (supergroups look like -100…)",
                );
            }
            Some(_) if !self.telegram.enabled => {
                return bad(
                    "handoff.telegram_staff_chat_id",
                    "is set but the Telegram channel is not enabled ([telegram] enabled = true)",
                );
            }
            None if !h.telegram_staff_user_ids.is_empty() => {
                return bad(
                    "handoff.telegram_staff_user_ids",
                    "only means something with telegram_staff_chat_id",
                );
            }
            _ => {}
        }
        if h.telegram_staff_user_ids.contains(&0) {
            return bad("handoff.telegram_staff_user_ids", "0 is not a user id");
        }
        match h.auto_close_days {
            Some(d) if !positive_up_to(d, AUTO_CLOSE_DAYS_MAX) => {
                return bad(
                    "handoff.auto_close_days",
                    &format!(
                        "must be a positive number of days, at most {AUTO_CLOSE_DAYS_MAX} (leave it out to keep idle tickets open)"
                    ),
                );
            }
            Some(_)
                if h.discord_staff_channel_id.is_none() && h.telegram_staff_chat_id.is_none() =>
            {
                return bad(
                    "handoff.auto_close_days",
                    "needs a staff side (discord_staff_channel_id or telegram_staff_chat_id): idle tickets are warned and closed by the handoff relay",
                );
            }
            None if h.auto_close_warn_hours.is_some() => {
                return bad(
                    "handoff.auto_close_warn_hours",
                    "only means something with auto_close_days",
                );
            }
            _ => {}
        }
        if let Some(hours) = h.auto_close_warn_hours
            && !positive_up_to(hours, AUTO_CLOSE_WARN_HOURS_MAX)
        {
            return bad(
                "handoff.auto_close_warn_hours",
                &format!("must be a positive number of hours, at most {AUTO_CLOSE_WARN_HOURS_MAX}"),
            );
        }
        for (name, text) in &h.snippets {
            // `reset` and its language variants `reset.ru`, `reset.pt`.
            let (base, language) = match name.split_once('.') {
                Some((b, l)) => (b, Some(l)),
                None => (name.as_str(), None),
            };
            if base.is_empty()
                || base.len() > 32
                || !base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || language.is_some_and(|l| {
                    !(2..=3).contains(&l.len()) || !l.chars().all(|c| c.is_ascii_lowercase())
                })
            {
                return bad(
                    "handoff.snippets",
                    &format!(
                        "snippet name {name:?} must be 1 to 32 of A-Z a-z 0-9 _ -, optionally followed by a language code (`reset.ru`)"
                    ),
                );
            }
            if text.trim().is_empty() || text.chars().count() > SNIPPET_MAX_CHARS {
                return bad(
                    "handoff.snippets",
                    &format!("snippet {name:?} must have 1 to {SNIPPET_MAX_CHARS} characters"),
                );
            }
            if h.snippets
                .keys()
                .filter(|k| k.eq_ignore_ascii_case(name))
                .count()
                > 1
            {
                return bad(
                    "handoff.snippets",
                    &format!("snippet names differ only in case: {name:?}"),
                );
            }
        }
        Ok(())
    }
}

/// Which part of a configuration with `DESKBOT_*` overrides does not deserialize: the file
/// alone (its error names the key and line), else the first override (in the order applied)
/// that makes it fail, named with its variable and its dotted key. `e` is the error of the
/// whole; it is used when neither can be blamed alone.
fn blame_override(
    path: &str,
    text: &str,
    file_only: toml::Table,
    applied: &[(String, String, toml::Value)],
    e: &toml::de::Error,
) -> ConfigError {
    if let Err(file_error) = Config::parse(path, text) {
        return file_error;
    }
    let mut table = file_only;
    for (var, key, value) in applied {
        set_dotted(&mut table, key, value.clone());
        if let Err(e) = toml::Value::Table(table.clone()).try_into::<Config>() {
            return ConfigError::Env {
                var: var.clone(),
                message: format!("key `{key}`: {}", elide_quoted(e.message().trim_end())),
            };
        }
    }
    ConfigError::Parse {
        path: format!("{path} with DESKBOT_* environment overrides"),
        message: elide_quoted(e.message().trim_end()),
    }
}

/// A variable's value as a TOML value when it is one (`true`, `8`, `[1, 2]`), else a string.
fn env_value(value: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

/// Sets `a.b.c` in `table`, making sections on the way (a non-table on the way is left as
/// it is: the override was already refused for it).
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut at = table;
    for k in parents {
        let entry = at
            .entry((*k).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry.as_table_mut() {
            Some(t) => at = t,
            None => return,
        }
    }
    at.insert((*last).to_string(), value);
}

/// An unusable value set by a `DESKBOT_*` variable is reported as that variable's error
/// (naming the variable and the key), not the file's; other errors are returned as they are.
fn blame_env_for_invalid(
    e: ConfigError,
    vars: impl IntoIterator<Item = (String, String)>,
) -> ConfigError {
    let ConfigError::Invalid { key, message, .. } = &e else {
        return e;
    };
    let set_by = vars.into_iter().find_map(|(var, _)| {
        let rest = var.strip_prefix(ENV_PREFIX)?;
        let dotted = rest.split("__").collect::<Vec<_>>().join(".");
        dotted.eq_ignore_ascii_case(key).then_some(var)
    });
    match set_by {
        Some(var) => ConfigError::Env {
            var,
            message: format!("key `{key}`: {message}"),
        },
        None => e,
    }
}

/// toml's error as `line L, column C: what`, without the source line toml quotes (it may hold
/// a token, and a file that does not parse has no tokens known to redact) and with quoted
/// values elided (`invalid type: string "…"`): a config error never repeats a value.
/// The prefix of environment variables that override settings.
const ENV_PREFIX: &str = "DESKBOT_";

/// `DESKBOT_*` variables that are not settings: the log filter, the panic test hook, and
/// the embedding model's switches (read where the model is set up, see
/// [`crate::embedding`] and [`crate::model`]).
const ENV_NOT_SETTINGS: [&str; 6] = [
    "LOG",
    "TEST_PANIC",
    "NO_EMBEDDINGS",
    "CACHE_DIR",
    "MODEL_URL",
    "E5_MODEL",
];

/// The top-level keys of the config file, for `DESKBOT_*` overrides.
const ENV_TOP_LEVEL: [&str; 9] = [
    "data_dir",
    "catalog",
    "telegram",
    "discord",
    "handoff",
    "flood",
    "privacy",
    "http",
    "embeddings",
];

fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let what = elide_quoted(e.message().trim_end());
    let place = e
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
    format!("{}{what}", place.unwrap_or_default())
}

/// `s` with the text between each pair of double quotes replaced by `…` (a lone quote, as
/// in ``expected `"` ``, is kept).
fn elide_quoted(s: &str) -> String {
    let parts: Vec<&str> = s.split('"').collect();
    let mut out = String::with_capacity(s.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('"');
        }
        // Odd pieces are inside quotes when a closing quote follows them.
        let quoted = i % 2 == 1 && i + 1 < parts.len() && !part.is_empty();
        out.push_str(if quoted { "…" } else { part });
    }
    out
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
    fn deskbot_environment_variables_override_settings() {
        let vars = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let file = "[telegram]\nenabled = false\n[flood]\nmax_messages = 8\n";
        let cfg = Config::parse_with_env(
            "d.toml",
            file,
            vars(&[
                ("DESKBOT_TELEGRAM__ENABLED", "true"),
                ("DESKBOT_FLOOD__MAX_MESSAGES", "3"),
                ("DESKBOT_HTTP__LISTEN", "127.0.0.1:9000"),
                ("DESKBOT_HANDOFF__TELEGRAM_STAFF_USER_IDS", "[5, 6]"),
                (
                    "DESKBOT_HANDOFF__SNIPPETS__RESET",
                    "Open the site yourself.",
                ),
                ("DESKBOT_LOG", "debug"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert!(cfg.telegram.enabled);
        assert_eq!(cfg.flood.max_messages, 3);
        assert_eq!(cfg.http.listen, "127.0.0.1:9000");
        assert_eq!(cfg.handoff.telegram_staff_user_ids, [5, 6]);
        assert_eq!(
            cfg.handoff.relay().snippet("reset"),
            Some("Open the site yourself.")
        );
        // Without overrides the file alone counts.
        let plain = Config::parse_with_env("d.toml", file, vars(&[])).unwrap();
        assert!(!plain.telegram.enabled);
        // A variable naming no setting, and a value of the wrong type, are named.
        let err = Config::parse_with_env("d.toml", file, vars(&[("DESKBOT_TELEGRAMM__X", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DESKBOT_TELEGRAMM__X"), "{err}");
        let err = Config::parse_with_env(
            "d.toml",
            file,
            vars(&[("DESKBOT_TELEGRAM__ENABLEDD", "true")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("DESKBOT_TELEGRAM__ENABLEDD") && err.contains("enabledd"),
            "{err}"
        );
        let err = Config::parse_with_env(
            "d.toml",
            file,
            vars(&[("DESKBOT_FLOOD__MAX_MESSAGES", "many")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("environment") && !err.contains("many"),
            "{err}"
        );
        assert!(
            err.contains("DESKBOT_FLOOD__MAX_MESSAGES") && err.contains("`flood.max_messages`"),
            "the error names the variable and the key: {err}"
        );
        // A bad value in the file is the file's error, even with good overrides beside it.
        let err = Config::parse_with_env(
            "d.toml",
            "[flood]\nmax_messages = \"lots\"\n",
            vars(&[("DESKBOT_TELEGRAM__ENABLED", "true")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("d.toml: line 2") && !err.contains("DESKBOT_"),
            "{err}"
        );
        // Of several overrides, the bad one is named.
        let err = Config::parse_with_env(
            "d.toml",
            file,
            vars(&[
                ("DESKBOT_TELEGRAM__ENABLED", "true"),
                ("DESKBOT_HTTP__ENABLED", "maybe"),
                ("DESKBOT_FLOOD__MAX_MESSAGES", "3"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("DESKBOT_HTTP__ENABLED") && err.contains("`http.enabled`"),
            "{err}"
        );
        // A value that parses but validation refuses is blamed on its variable too.
        let invalid = ConfigError::Invalid {
            path: "d.toml".into(),
            key: "telegram.api_url",
            message: "not a URL".into(),
        };
        let err = blame_env_for_invalid(invalid, vars(&[("DESKBOT_TELEGRAM__API_URL", "ftp:/x")]))
            .to_string();
        assert!(
            err.contains("DESKBOT_TELEGRAM__API_URL") && err.contains("`telegram.api_url`"),
            "{err}"
        );
        let err = Config::parse_with_env("d.toml", file, vars(&[("DESKBOT_FLOOD__", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DESKBOT_FLOOD__"), "{err}");
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
    fn handoff_settings_are_checked() {
        let cfg = Config::parse("d.toml", "").unwrap();
        assert_eq!(cfg.handoff, HandoffConfig::default());
        assert_eq!(cfg.handoff.destination(Platform::Telegram), None);
        let base = "[discord]\nenabled = true\ntoken = \"t\"\n[telegram]\nenabled = true\ntoken = \"1:a\"\n";
        let err = |extra: &str| {
            Config::parse("d.toml", &format!("{base}[handoff]\n{extra}"))
                .unwrap()
                .validate("d.toml")
                .unwrap_err()
                .to_string()
        };
        assert!(err("discord_staff_channel_id = 5\n").contains("handoff.discord_staff_role_id"));
        assert!(err("discord_staff_role_id = 5\n").contains("handoff.discord_staff_channel_id"));
        assert!(err("telegram_staff_chat_id = 5\n").contains("handoff.telegram_staff_chat_id"));
        assert!(err("telegram_staff_user_ids = [1]\n").contains("telegram_staff_user_ids"));
        assert!(err("[handoff.snippets]\n\"bad name\" = \"x\"\n").contains("handoff.snippets"));
        assert!(err("[handoff.snippets]\nempty = \" \"\n").contains("handoff.snippets"));
        assert!(err("[handoff.snippets]\n\"reset.RUS1\" = \"x\"\n").contains("handoff.snippets"));
        assert!(
            err("[handoff.snippets]\nReset = \"a\"\nreset = \"b\"\n")
                .contains("differ only in case")
        );
        assert!(
            Config::parse(
                "d.toml",
                "[handoff]\ndiscord_staff_channel_id = 1\ndiscord_staff_role_id = 2\n"
            )
            .unwrap()
            .validate("d.toml")
            .unwrap_err()
            .to_string()
            .contains("not enabled")
        );
        let text = format!(
            "{base}[handoff]\ndiscord_staff_channel_id = 10\ndiscord_staff_role_id = 11\nanonymous_staff = true\n[handoff.snippets]\nreset = \"Open account.xiaomi.com\"\n\"reset.ru\" = \"Откройте account.xiaomi.com\"\n"
        );
        let cfg = Config::parse("d.toml", &text).unwrap();
        cfg.validate("d.toml").unwrap();
        assert_eq!(
            cfg.handoff.destination(Platform::Telegram),
            Some(StaffSide::Discord(10))
        );
        assert_eq!(
            cfg.handoff.relay().snippet("RESET"),
            Some("Open account.xiaomi.com")
        );
        let mut both = cfg.handoff.clone();
        both.telegram_staff_chat_id = Some(-100_123);
        assert_eq!(
            both.destination(Platform::Telegram),
            Some(StaffSide::Telegram(-100_123))
        );
        assert_eq!(
            both.destination(Platform::Discord),
            Some(StaffSide::Discord(10))
        );
        assert!(Config::parse("d.toml", "[handoff]\nanonymus_staff = true\n").is_err());
    }

    #[test]
    fn auto_close_is_off_by_default_and_checked() {
        let base = "[telegram]\nenabled = true\ntoken = \"1:a\"\n[handoff]\ntelegram_staff_chat_id = -100\n";
        let load = |extra: &str| {
            Config::parse("desk.toml", &format!("{base}{extra}"))
                .and_then(|c| c.validate("desk.toml").map(|()| c))
        };
        assert_eq!(load("").unwrap().handoff.idle_policy(), None);
        let day = std::time::Duration::from_secs(86_400);
        let on = load("auto_close_days = 7\n").unwrap().handoff.idle_policy();
        assert_eq!(
            on.map(|p| (p.after, p.grace)),
            Some((7 * day, deskbot_desk::handoff::idle::DEFAULT_GRACE))
        );
        let own = load("auto_close_days = 2\nauto_close_warn_hours = 6\n")
            .unwrap()
            .handoff
            .idle_policy();
        assert_eq!(
            own.map(|p| (p.after, p.grace)),
            Some((2 * day, std::time::Duration::from_secs(6 * 3_600)))
        );
        let half = load("auto_close_days = 0.5\nauto_close_warn_hours = 1.5\n")
            .unwrap()
            .handoff
            .idle_policy();
        assert_eq!(
            half.map(|p| (p.after, p.grace)),
            Some((day / 2, std::time::Duration::from_secs(90 * 60)))
        );
        // Every refusal names the file and the field.
        for (extra, field) in [
            ("auto_close_days = 0\n", "handoff.auto_close_days"),
            ("auto_close_days = 4000\n", "handoff.auto_close_days"),
            ("auto_close_days = -3\n", "handoff.auto_close_days"),
            ("auto_close_days = -0.5\n", "handoff.auto_close_days"),
            ("auto_close_days = nan\n", "handoff.auto_close_days"),
            ("auto_close_days = inf\n", "handoff.auto_close_days"),
            // Not a number at all: the file and where (as for every key of the wrong type).
            ("auto_close_days = \"7\"\n", "line 6, column 19"),
            (
                "auto_close_days = 3\nauto_close_warn_hours = 0\n",
                "handoff.auto_close_warn_hours",
            ),
            (
                "auto_close_days = 3\nauto_close_warn_hours = 1000\n",
                "handoff.auto_close_warn_hours",
            ),
            (
                "auto_close_days = 3\nauto_close_warn_hours = -2\n",
                "handoff.auto_close_warn_hours",
            ),
            (
                "auto_close_warn_hours = 5\n",
                "handoff.auto_close_warn_hours",
            ),
            ("auto_close_day = 5\n", "auto_close_day"),
        ] {
            let err = load(extra).unwrap_err().to_string();
            assert!(
                err.starts_with("desk.toml") && err.contains(field),
                "{extra:?}: {err}"
            );
        }
        // Without a staff side nothing could warn or close idle tickets.
        let err = Config::parse("desk.toml", "[handoff]\nauto_close_days = 3\n")
            .unwrap()
            .validate("desk.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("handoff.auto_close_days") && err.contains("staff side"),
            "{err}"
        );
    }

    #[test]
    fn flood_and_privacy_have_defaults_and_are_checked() {
        let cfg = Config::parse("d.toml", "").unwrap();
        assert_eq!(cfg.flood.max_messages, 8);
        assert_eq!(cfg.flood.mute_secs, 30);
        assert_eq!(cfg.privacy.retention_days, 90);
        let limits = cfg.flood.limits().unwrap();
        assert_eq!((limits.max_messages, limits.mute_ms), (8, 30_000));
        let off = Config::parse("d.toml", "[flood]\nmax_messages = 0\nmute_secs = 0\n").unwrap();
        off.validate("d.toml").unwrap();
        assert_eq!(off.flood.limits(), None);
        for (text, key) in [
            ("[flood]\nmute_secs = 0\n", "flood.mute_secs"),
            ("[flood]\nmax_messages = 5000\n", "flood.max_messages"),
            (
                "[privacy]\nretention_days = 99999\n",
                "privacy.retention_days",
            ),
        ] {
            let err = Config::parse("d.toml", text)
                .unwrap()
                .validate("d.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
        assert!(Config::parse("d.toml", "[privacy]\nretention = 3\n").is_err());
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

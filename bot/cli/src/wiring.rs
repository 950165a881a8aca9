//! The relay as `deskbot run` wires it: one staff side dispatching to the Discord staff
//! channel or the Telegram staff group, one user side dispatching to Telegram or Discord
//! users, built from the [`Config`].
//!
//! A ticket opens where [`HandoffConfig::destination`] says for its user's platform; later
//! posts go wherever it was opened (the stored [`StaffLocation`]'s platform), so changing the
//! configuration does not strand open tickets on a side that is still configured.

use std::sync::Arc;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{ConvKey, Platform, StaffLocation, Ticket};
use tokio::sync::mpsc;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::lifecycle::{ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{
    NoStaffSide, Relay, RelayError, StaffSide, Unreachable, UserSide,
};
use deskbot_discord::staff_side::{self as discord_staff, DiscordStaff};
use deskbot_discord::users::DiscordUsers;
use deskbot_telegram::staff_side::{self as telegram_staff, TelegramStaff};
use deskbot_telegram::users::TelegramUsers;

use crate::config::{self, Config, HandoffConfig};
use deskbot_desk::backoff::Backoff;

/// The staff side of `deskbot run`: Discord and/or Telegram.
#[derive(Debug, Clone)]
pub struct Staff {
    config: HandoffConfig,
    discord: Option<DiscordStaff>,
    telegram: Option<TelegramStaff>,
}

impl Staff {
    /// A staff side opening tickets as `config` says, on the sides given.
    pub fn new(
        config: HandoffConfig,
        discord: Option<DiscordStaff>,
        telegram: Option<TelegramStaff>,
    ) -> Self {
        Self {
            config,
            discord,
            telegram,
        }
    }

    fn telegram(&self) -> Result<&TelegramStaff, RelayError> {
        self.telegram
            .as_ref()
            .ok_or_else(|| NoStaffSide::NotConfigured(telegram_staff::PLATFORM.into()).into())
    }

    fn discord(&self) -> Result<&DiscordStaff, RelayError> {
        self.discord
            .as_ref()
            .ok_or_else(|| NoStaffSide::NotConfigured(discord_staff::PLATFORM.into()).into())
    }
}

impl StaffSide for Staff {
    async fn open(&self, ticket: &Ticket, first: &str) -> Result<StaffLocation, RelayError> {
        match self.config.destination(ticket.conversation.platform) {
            Some(config::StaffSide::Discord(_)) => self.discord()?.open(ticket, first).await,
            Some(config::StaffSide::Telegram(_)) => self.telegram()?.open(ticket, first).await,
            None => Err(NoStaffSide::ForUsersOf(ticket.conversation.platform).into()),
        }
    }

    async fn post(&self, at: &StaffLocation, text: &str, nonce: &str) -> Result<(), RelayError> {
        match at.platform.as_str() {
            discord_staff::PLATFORM => self.discord()?.post(at, text, nonce).await,
            telegram_staff::PLATFORM => self.telegram()?.post(at, text, nonce).await,
            other => Err(NoStaffSide::NotConfigured(other.to_string()).into()),
        }
    }

    async fn set_thread(
        &self,
        at: &StaffLocation,
        state: ThreadState,
    ) -> Result<ThreadChange, RelayError> {
        // A side no longer configured cannot change its threads: dropped, not retried.
        let gone = |e: RelayError| Ok(ThreadChange::Impossible(e.to_string()));
        match at.platform.as_str() {
            discord_staff::PLATFORM => match self.discord() {
                Ok(d) => d.set_thread(at, state).await,
                Err(e) => gone(e),
            },
            telegram_staff::PLATFORM => match self.telegram() {
                Ok(t) => t.set_thread(at, state).await,
                Err(e) => gone(e),
            },
            other => gone(NoStaffSide::NotConfigured(other.to_string()).into()),
        }
    }
}

/// The user side of `deskbot run`: Telegram and Discord users.
#[derive(Debug, Clone)]
pub struct Users {
    telegram: TelegramUsers,
    discord: DiscordUsers,
}

impl Users {
    /// Reaches Telegram users through `telegram` and Discord users through `discord`.
    pub fn new(telegram: TelegramUsers, discord: DiscordUsers) -> Self {
        Self { telegram, discord }
    }
}

impl UserSide for Users {
    async fn send(&self, user: &ConvKey, text: &str, nonce: &str) -> Result<(), RelayError> {
        // Both user sides send a text as a reply without buttons.
        self.send_reply(user, &Reply::text(text), nonce).await
    }

    async fn send_reply(
        &self,
        user: &ConvKey,
        reply: &Reply,
        nonce: &str,
    ) -> Result<(), RelayError> {
        match user.platform {
            Platform::Telegram => self.telegram.send_reply(user, reply, nonce).await,
            Platform::Discord => self.discord.send_reply(user, reply, nonce).await,
            Platform::Console => Err(RelayError::Unreachable {
                user: user.clone(),
                why: Unreachable::OtherPlatform,
            }),
        }
    }
}

/// The relay `deskbot run` uses.
pub type DeskRelay = Relay<Staff, Users>;

/// A relay built from the configuration, with the receiving ends the channels need.
#[derive(Debug)]
pub struct Wired {
    /// The relay.
    pub relay: Arc<DeskRelay>,
    /// Telegram chats whose outbox the relay filled: for the Telegram channel to send now.
    pub telegram_deliveries: mpsc::UnboundedReceiver<i64>,
    /// Discord channels whose outbox the relay filled: for the Discord channel to send now.
    pub discord_deliveries: mpsc::UnboundedReceiver<u64>,
}

/// Whether `config` names any staff side (the relay runs only then).
pub fn configured(config: &HandoffConfig) -> bool {
    config.discord_staff_channel_id.is_some() || config.telegram_staff_chat_id.is_some()
}

/// Builds the relay of `deskbot run` over `desk`; `None` when no staff side is configured.
/// The Discord side gets its own REST client (serenity's client owns its `Http`), the
/// Telegram staff side its own bot with `backoff` between retries. Needs a tokio runtime.
pub fn build(config: &Config, desk: &Desk, backoff: Backoff) -> anyhow::Result<Option<Wired>> {
    if !configured(&config.handoff) {
        return Ok(None);
    }
    let http = if config.discord.enabled {
        Some(Arc::new(deskbot_discord::build_http(&config.discord)?))
    } else {
        None
    };
    let discord_staff = match (config.handoff.discord_staff_channel_id, &http) {
        (Some(channel), Some(http)) => Some(DiscordStaff::new(
            Arc::clone(http),
            channel,
            Arc::clone(desk.metrics()),
        )),
        (Some(_), None) => anyhow::bail!(
            "handoff.discord_staff_channel_id is set but the Discord channel is not enabled"
        ),
        (None, _) => None,
    };
    let telegram_staff = match TelegramStaff::with_backoff(
        &config.telegram,
        config.handoff.telegram_staff_chat_id,
        backoff,
        Arc::clone(desk.metrics()),
    )? {
        Some(_) if !config.telegram.enabled => anyhow::bail!(
            "handoff.telegram_staff_chat_id is set but the Telegram channel is not enabled"
        ),
        Some(s) => Some(s.with_store(desk.store().clone())),
        None => None,
    };
    let (tg_tx, tg_rx) = mpsc::unbounded_channel();
    let (dc_tx, dc_rx) = mpsc::unbounded_channel();
    let users = Users::new(
        TelegramUsers::new(desk.store().clone(), Some(tg_tx)),
        DiscordUsers::new(desk.store().clone(), http, Some(dc_tx)),
    );
    let relay = Relay::new(
        desk.clone(),
        config.handoff.relay(),
        Staff::new(config.handoff.clone(), discord_staff, telegram_staff),
        users,
    );
    Ok(Some(Wired {
        relay: Arc::new(relay),
        telegram_deliveries: tg_rx,
        discord_deliveries: dc_rx,
    }))
}

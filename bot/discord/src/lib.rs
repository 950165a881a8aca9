//! The Discord channel (serenity 0.12).
//!
//! - **DMs**: every message goes through the engine; replies carry the engine's buttons.
//! - **Support channels** (`support_channel_ids`): the bot answers messages that mention it
//!   (or reply to it), and the slash commands `/support <message>`, `/human`, `/reset` and
//!   `/help`, registered at start in `guild_ids` (globally when empty). In other guild
//!   channels mentions are ignored and slash commands are answered privately (ephemeral).
//! - **Buttons**: a button's `custom_id` is `db:<user id>:<engine button id>`. A press by
//!   anyone but that user is refused politely and leaves the conversation alone; the engine
//!   itself refuses presses on outdated messages. Interactions are acknowledged at once
//!   (deferred) and answered when the turn is done.
//! - Every message is sent with empty allowed mentions, so echoed text never pings; text is
//!   markdown-escaped and split at line boundaries into messages of at most 2000 characters.
//! - REST calls that fail transiently (5xx, 429, timeouts, dropped connections) are retried
//!   with bounded backoff; channel messages carry a nonce with `enforce_nonce`, so a retry
//!   never posts a reply twice. Replies to messages are queued in the store's outbox in the
//!   same transaction as the turn ([`outbox`]) and leave it only once Discord accepted them:
//!   what an outage or a restart interrupts is sent by a sweep at start and every minute.
//! - **Poison policy** ([`poison`]): an answer serenity cannot read after a 2xx counts as
//!   sent (logged once, counted) and is never resent; a reply Discord refuses, or that still
//!   fails with server errors after its retries, is parked as a dead letter and the channel's
//!   later replies go on; a gateway event serenity cannot read is skipped and counted (a
//!   person's message recorded as a dead letter), and never stops the gateway; a panic in an
//!   event handler, the sweep or a delivery ends only that task (logged, counted).
//! - The conversation key is (`discord`, user id), shared by DMs and support channels.
//! - One person's messages in one channel are handled in Discord's order ([`order`]).
//! - **Human handoff** ([`DiscordChannelBuilder::handoff`]): a person's message in a ticket thread of the staff
//!   channel goes to the relay (staff by the author's roles), as do the tickets' Claim/Close
//!   buttons (staff by the interaction member's roles; anyone else is refused privately and
//!   nothing changes). What staff say to a Discord user is queued in this outbox for the
//!   user's DM channel and delivered when the relay asks. Attachments travel as notes with
//!   their links. A silent reply (flood control ignoring a message) sends nothing.
//!
//! serenity's types stay inside this module (0.13 breaks its API); the platform-neutral logic
//! is in [`render`], [`route`], [`custom_id`], [`retry`] and [`outbox`].

mod commands;
pub mod config;
pub mod custom_id;
pub mod error;
mod events;
mod handler;
mod interactions;
pub mod order;
pub mod outbox;
pub mod poison;
pub mod render;
pub mod retry;
pub mod route;
pub mod sending;
mod staff;
pub mod staff_side;
mod turns;
pub mod users;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{ClientBuilder, GatewayError, GatewayIntents, Http, HttpBuilder};

use crate::config::{DiscordConfig, Shards};
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::StaffInbox;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::shutdown::Shutdown;
use tokio::sync::mpsc;

pub use error::DiscordError;
use events::Events;
use handler::Handler;
use retry::Policy;
use sending::is_transient;

/// How long shutdown waits for the gateway to close and for turns in flight to be answered
/// (replies still queued stay in the outbox for the next start, sent with their nonces): the
/// whole process stops within 10 s.
const DRAIN: Duration = Duration::from_secs(8);
/// How often replies left in the outbox by an outage are tried again.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Aborts a background task when dropped, whichever way `run` leaves.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The gateway intents the bot asks for.
fn wanted_intents() -> GatewayIntents {
    GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// The REST base serenity should use instead of `https://discord.com`: `api_url` without a
/// trailing slash or `/api/v10` (serenity appends those itself).
pub fn proxy_base(api_url: &str) -> String {
    let base = api_url.trim().trim_end_matches('/');
    base.strip_suffix("/api/v10")
        .unwrap_or(base)
        .trim_end_matches('/')
        .to_string()
}

/// Builds the REST client: serenity's ratelimiter in production; with `api_url`, that base and
/// no ratelimiter, since serenity only honours a custom base then. The handoff relay builds
/// its own with this (serenity's client takes its `Http` by value).
pub fn build_http(config: &DiscordConfig) -> Result<Http, DiscordError> {
    let token = config.token.expose().trim();
    if token.is_empty() {
        return Err(DiscordError::NoToken);
    }
    let mut builder = HttpBuilder::new(token);
    if let Some(api_url) = &config.api_url {
        let parsed = url::Url::parse(api_url).map_err(DiscordError::ApiUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DiscordError::ApiUrlScheme);
        }
        tracing::warn!(
            api = %parsed.origin().ascii_serialization(),
            "discord.api_url is set: using that Discord-compatible API with serenity's ratelimiter OFF (serenity honours a custom base only without it); the gateway URL comes from its /api/v10/gateway"
        );
        builder = builder
            .proxy(proxy_base(api_url))
            .ratelimiter_disabled(true);
    }
    Ok(builder.build())
}

/// The staff channel and role, when staff answer tickets on Discord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffPlace {
    /// The channel where a thread opens per ticket.
    pub channel: u64,
    /// The role whose members count as staff.
    pub role: u64,
}

/// What the Discord channel needs of the human handoff.
#[derive(Clone)]
pub struct DiscordHandoff {
    /// The relay: staff messages and ticket buttons go to it; Discord users' turns wake it.
    pub relay: Arc<dyn StaffInbox>,
    /// Where staff work, when on Discord (`None` when tickets go to Telegram staff only).
    pub staff: Option<StaffPlace>,
}

impl std::fmt::Debug for DiscordHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordHandoff")
            .field("staff", &self.staff)
            .finish_non_exhaustive()
    }
}

/// Runs `task` in a task of its own: a panic ends only that run, logged and counted as
/// `task` in `metrics`' `deskbot_panics_total{channel="discord"}`.
async fn guarded(
    metrics: Arc<Metrics>,
    task: &'static str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = tokio::spawn(work).await
        && e.is_panic()
    {
        let why = deskbot_desk::panic::panic_text(&*e.into_panic());
        tracing::error!(task, panic = %why, "a Discord task panicked; the channel goes on");
        metrics.panic_caught(outbox::CHANNEL, task);
    }
}

/// The Discord channel: connects to the gateway, registers the slash commands, and answers
/// DMs, mentions in support channels, slash commands and buttons. Start it with its builder:
/// `DiscordChannel::builder(desk, config).handoff(h).run(shutdown)`.
///
/// If Discord refuses the privileged `MESSAGE_CONTENT` intent (not enabled in the developer
/// portal), the bot says so once in the log and reconnects without it: DMs, mentions and slash
/// commands still work.
#[derive(Debug)]
pub struct DiscordChannel;

impl DiscordChannel {
    /// A channel serving `desk` as `config` says: no handoff, no deliveries asked from
    /// outside, queued replies tried as [`Policy::DELIVERY`] says.
    pub fn builder(desk: Desk, config: DiscordConfig) -> DiscordChannelBuilder {
        DiscordChannelBuilder {
            desk,
            config,
            handoff: None,
            deliveries: None,
            delivery: Policy::DELIVERY,
        }
    }
}

/// Settings of a [`DiscordChannel`] before it runs.
#[derive(Debug)]
pub struct DiscordChannelBuilder {
    desk: Desk,
    config: DiscordConfig,
    handoff: Option<DiscordHandoff>,
    deliveries: Option<mpsc::UnboundedReceiver<u64>>,
    delivery: Policy,
}

impl DiscordChannelBuilder {
    /// With the human handoff: messages in ticket threads and the tickets' Claim/Close buttons
    /// go to its relay.
    #[must_use]
    pub fn handoff(mut self, handoff: impl Into<Option<DiscordHandoff>>) -> Self {
        self.handoff = handoff.into();
        self
    }

    /// Every channel id received on `deliveries` has its outbox sent now (the relay queues
    /// staff replies to Discord users there).
    #[must_use]
    pub fn deliveries(
        mut self,
        deliveries: impl Into<Option<mpsc::UnboundedReceiver<u64>>>,
    ) -> Self {
        self.deliveries = deliveries.into();
        self
    }

    /// How hard a queued reply is tried before it is parked (tests use short waits).
    #[must_use]
    pub fn delivery_policy(mut self, delivery: Policy) -> Self {
        self.delivery = delivery;
        self
    }

    /// Runs the channel until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), DiscordError> {
        run_tuned(
            self.desk,
            self.config,
            shutdown,
            self.handoff,
            self.deliveries,
            self.delivery,
        )
        .await
    }
}

async fn run_tuned(
    desk: Desk,
    config: DiscordConfig,
    mut shutdown: Shutdown,
    handoff: Option<DiscordHandoff>,
    deliveries: Option<mpsc::UnboundedReceiver<u64>>,
    delivery: Policy,
) -> Result<(), DiscordError> {
    let deliveries = deliveries.map(|d| Arc::new(tokio::sync::Mutex::new(d)));
    let mut intents = wanted_intents();
    loop {
        let http = build_http(&config)?;
        let ws_url = match &config.api_url {
            Some(_) => {
                let fetch = retry::retry(Policy::DELIVERY, "get gateway URL", is_transient, || {
                    http.get_gateway()
                });
                // Retries take up to a minute and a half: a shutdown must not wait for them.
                let gateway = tokio::select! {
                    r = fetch => r.map_err(|e| DiscordError::GatewayUrl(Box::new(e)))?,
                    () = shutdown.wait() => return Ok(()),
                };
                Some(gateway.url)
            }
            None => None,
        };
        let handler = Arc::new(Handler::new(
            desk.clone(),
            config.support_channel_ids.clone(),
            config.guild_ids.clone(),
            handoff.clone(),
            delivery,
        ));
        let mut client = ClientBuilder::new_with_http(http, intents)
            .event_handler(Events(Arc::clone(&handler)))
            .raw_event_handler(poison::SkipWatch { desk: desk.clone() })
            .await
            .map_err(|e| DiscordError::Client(Box::new(e)))?;
        if let Some(url) = ws_url {
            *client.ws_url.lock().await = url;
        }
        handler.start_sending(Arc::clone(&client.http)).await;
        tracing::info!(
            message_content = intents.contains(GatewayIntents::MESSAGE_CONTENT),
            support_channels = config.support_channel_ids.len(),
            command_guilds = config.guild_ids.len(),
            "starting the Discord channel"
        );
        // Replies queued before a restart or an outage go out now, and again every minute.
        let sweeper = {
            let h = Arc::clone(&handler);
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    let h = Arc::clone(&h);
                    let metrics = Arc::clone(h.desk.metrics());
                    guarded(metrics, "sweep", async move { h.sweep().await }).await;
                    tokio::time::sleep(SWEEP_EVERY).await;
                }
            }))
        };
        // Outboxes the relay asks for go out now, each through the channel's one sender.
        let delivery = deliveries.as_ref().map(|d| {
            let (h, d) = (Arc::clone(&handler), Arc::clone(d));
            AbortOnDrop(tokio::spawn(async move {
                let mut d = d.lock().await;
                while let Some(channel) = d.recv().await {
                    let h = Arc::clone(&h);
                    let metrics = Arc::clone(h.desk.metrics());
                    tokio::spawn(guarded(metrics, "delivery", async move {
                        h.flush(channel).await
                    }));
                }
            }))
        });
        let manager = Arc::clone(&client.shard_manager);
        let shards = config.shards.clone();
        let mut started = pin!(async move {
            match shards {
                Shards::Count(n) => client.start_shards(n.max(1)).await,
                Shards::Auto(_) => client.start_autosharded().await,
            }
        });
        let ended = tokio::select! {
            r = &mut started => Some(r),
            () = shutdown.wait() => None,
        };
        match ended {
            None => {
                tracing::info!("Discord: closing the gateway");
                drop(sweeper);
                drop(delivery);
                manager.shutdown_all().await;
                // shutdown_all returns early when no shard was up yet: never wait forever.
                let _ = tokio::time::timeout(DRAIN, &mut started).await;
                let left = handler.inflight.drained(DRAIN).await;
                if left > 0 {
                    tracing::warn!(
                        unfinished = left,
                        "Discord: stopped with events still being handled"
                    );
                }
                handler.stop_sending().await;
                return Ok(());
            }
            Some(Ok(())) => return Ok(()),
            Some(Err(serenity::Error::Gateway(GatewayError::DisallowedGatewayIntents)))
                if intents.contains(GatewayIntents::MESSAGE_CONTENT) =>
            {
                tracing::warn!(
                    "Discord refused the MESSAGE_CONTENT intent: it is privileged and not enabled for this bot in the developer portal (Bot > Privileged Gateway Intents). Continuing without it: DMs, mentions and slash commands still work"
                );
                intents.remove(GatewayIntents::MESSAGE_CONTENT);
            }
            Some(Err(e)) => {
                return Err(DiscordError::Gateway(Box::new(e)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_base_drops_slashes_and_api_path() {
        assert_eq!(proxy_base("http://127.0.0.1:9/"), "http://127.0.0.1:9");
        assert_eq!(proxy_base("http://h:9/api/v10"), "http://h:9");
        assert_eq!(proxy_base("http://h:9/api/v10/"), "http://h:9");
        assert_eq!(
            proxy_base("https://proxy.example/discord"),
            "https://proxy.example/discord"
        );
    }

    #[test]
    fn asks_for_the_three_intents() {
        let i = wanted_intents();
        assert!(i.contains(GatewayIntents::DIRECT_MESSAGES));
        assert!(i.contains(GatewayIntents::GUILD_MESSAGES));
        assert!(i.contains(GatewayIntents::MESSAGE_CONTENT));
        assert_eq!(i.bits(), (1 << 12) | (1 << 9) | (1 << 15));
    }

    #[test]
    fn http_needs_a_token_and_a_web_url() {
        let mut c = DiscordConfig::default();
        assert!(build_http(&c).is_err());
        c.token = deskbot_desk::secret::Secret::new("abc");
        c.api_url = Some("ftp://x".into());
        assert!(build_http(&c).is_err());
        c.api_url = Some("http://127.0.0.1:1".into());
        let http = build_http(&c).unwrap();
        assert!(http.ratelimiter.is_none());
        assert_eq!(http.proxy.as_deref(), Some("http://127.0.0.1:1"));
        c.api_url = None;
        assert!(build_http(&c).unwrap().ratelimiter.is_some());
    }
}

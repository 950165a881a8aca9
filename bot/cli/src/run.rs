//! `deskbot run`: starts every channel enabled in the configuration on one tokio runtime,
//! all sharing one engine and one store, with the human handoff relay when a staff side is
//! configured, and stops them together on Ctrl-C or SIGTERM ([`run`]) or when told
//! ([`run_until`], for tests and embedding).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use deskbot_desk::shutdown::Shutdown;
use deskbot_storage::Platform;

use crate::config::Config;
use crate::wiring;
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::StaffInbox;
use deskbot_discord::{DiscordChannel, DiscordHandoff, StaffPlace};
use deskbot_telegram::{TelegramChannel, TelegramHandoff};

type ChannelTask = Pin<Box<dyn Future<Output = (&'static str, Result<()>)> + Send>>;

/// How often the handoff relay sweeps when nothing wakes it (a Discord user's turn in a ticket
/// wakes it at once; other lines wait at most this long).
pub const RELAY_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of [`run_with_options`] that tests shorten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Retry delays of the Telegram channel.
    pub telegram_backoff: Backoff,
    /// How often the handoff relay sweeps when nothing wakes it.
    pub relay_interval: Duration,
    /// How often idle tickets are looked for (`[handoff] auto_close_days`; the idle times
    /// themselves are measured with the desk's clock).
    pub idle_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            telegram_backoff: Backoff::default(),
            relay_interval: RELAY_INTERVAL,
            idle_interval: deskbot_desk::handoff::idle::SWEEP_INTERVAL,
        }
    }
}

/// Runs the enabled channels until Ctrl-C or SIGTERM or until one of them fails, then flushes
/// the store: [`run_until`] with the process's signals.
pub async fn run(config: Config, desk: Desk) -> Result<()> {
    let (stop, shutdown) = Shutdown::new();
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing turns in flight");
        let _ = stop.send(true);
    });
    let result = run_until(config, desk, shutdown).await;
    signals.abort();
    result
}

/// Runs the enabled channels, and the handoff relay when a staff side is configured, until
/// `shutdown` or until one of them fails; then stops them all and flushes the store.
pub async fn run_until(config: Config, desk: Desk, shutdown: Shutdown) -> Result<()> {
    run_with_options(config, desk, shutdown, RunOptions::default()).await
}

/// [`run_until`] with explicit [`RunOptions`].
///
/// Beside the channels: the `/healthz` and `/metrics` endpoint when `[http]` is enabled, the
/// transcript retention purge (`[privacy] retention_days`), and with `[handoff]
/// auto_close_days` the idle-ticket sweeper (every `idle_interval`).
///
/// With a `[handoff]` staff side the relay runs as one more task: it opens ticket threads and
/// relays users' lines (woken by Discord users' turns, else every `relay_interval`); staff
/// messages and ticket buttons reach it through the Discord channel; what staff say to a user
/// is queued in that user's platform outbox and that channel is told to send it now.
pub async fn run_with_options(
    config: Config,
    desk: Desk,
    mut outer: Shutdown,
    options: RunOptions,
) -> Result<()> {
    let (stop, shutdown) = Shutdown::new();
    let (relay, telegram_deliveries, discord_deliveries) =
        match wiring::build(&config, &desk, options.telegram_backoff)? {
            Some(w) => (
                Some(w.relay),
                Some(w.telegram_deliveries),
                Some(w.discord_deliveries),
            ),
            None => (None, None, None),
        };
    let mut tasks: Vec<ChannelTask> = Vec::new();
    if config.telegram.enabled {
        let (d, c, s) = (desk.clone(), config.telegram.clone(), shutdown.clone());
        let backoff = options.telegram_backoff;
        let handoff = relay
            .as_ref()
            .zip(config.handoff.telegram_staff_chat_id)
            .map(|(r, staff_chat)| TelegramHandoff {
                relay: Arc::clone(r) as Arc<dyn StaffInbox>,
                staff_chat,
                staff_user_ids: config.handoff.telegram_staff_user_ids.clone(),
            });
        tasks.push(Box::pin(async move {
            (
                Platform::Telegram.as_str(),
                TelegramChannel::builder(d, c)
                    .backoff(backoff)
                    .deliveries(telegram_deliveries)
                    .handoff(handoff)
                    .run(s)
                    .await
                    .map_err(anyhow::Error::from),
            )
        }));
    }
    if config.discord.enabled {
        let (d, c, s) = (desk.clone(), config.discord.clone(), shutdown.clone());
        let metrics = Arc::clone(desk.metrics());
        let handoff = relay.as_ref().map(|r| DiscordHandoff {
            relay: Arc::clone(r) as Arc<dyn StaffInbox>,
            staff: config
                .handoff
                .discord_staff_channel_id
                .zip(config.handoff.discord_staff_role_id)
                .map(|(channel, role)| StaffPlace { channel, role }),
        });
        tasks.push(Box::pin(async move {
            let result = DiscordChannel::builder(d, c)
                .handoff(handoff)
                .deliveries(discord_deliveries)
                .run(s)
                .await
                .map_err(anyhow::Error::from);
            metrics.set_channel_up(Platform::Discord.as_str(), false);
            (Platform::Discord.as_str(), result)
        }));
    }
    if tasks.is_empty() {
        anyhow::bail!(
            "no channel is enabled: set `enabled = true` under [telegram] or [discord] in the config (or use `deskbot chat`)"
        );
    }
    // The observability endpoint (when `[http] enabled`; an unusable address fails the start,
    // naming http.listen) and the retention purge run beside the channels, never stopping them.
    let endpoint = crate::observe::spawn(&config.http, desk.clone(), shutdown.clone()).await?;
    let retention = tokio::spawn(deskbot_desk::retention::run(
        desk.clone(),
        config.privacy.retention_days,
        shutdown.clone(),
    ));
    // Idle tickets are warned and closed through the relay (the config requires a staff side
    // with auto_close_days).
    if let (Some(r), Some(policy)) = (&relay, config.handoff.idle_policy()) {
        let (r, s, every) = (Arc::clone(r), shutdown.clone(), options.idle_interval);
        tracing::info!(
            after_secs = policy.after.as_secs(),
            grace_secs = policy.grace.as_secs(),
            "closing idle tickets"
        );
        tasks.push(Box::pin(async move {
            r.run_idle(policy, s, every).await;
            ("idle tickets", Ok(()))
        }));
    }
    if let Some(r) = relay {
        let (s, every) = (shutdown.clone(), options.relay_interval);
        tracing::info!(
            discord_staff = config.handoff.discord_staff_channel_id.is_some(),
            telegram_staff = config.handoff.telegram_staff_chat_id.is_some(),
            "starting the handoff relay"
        );
        tasks.push(Box::pin(async move {
            r.run(s, every).await;
            ("handoff relay", Ok(()))
        }));
    }
    let mut set = tokio::task::JoinSet::new();
    for t in tasks {
        set.spawn(t);
    }
    let mut failure = None;
    tokio::select! {
        () = outer.wait() => tracing::info!("stopping the channels"),
        Some(done) = set.join_next() => {
            match done {
                Ok((name, Ok(()))) => tracing::info!(channel = name, "channel stopped"),
                Ok((name, Err(e))) => {
                    tracing::error!(channel = name, error = %format!("{e:#}"), "channel failed");
                    failure = Some(e.context(format!("the {name} channel failed")));
                }
                Err(e) => failure = Some(anyhow::anyhow!("a channel task panicked: {e}")),
            }
        }
    }
    let _ = stop.send(true);
    while let Some(done) = set.join_next().await {
        if let Ok((name, Err(e))) = done {
            tracing::warn!(channel = name, error = %format!("{e:#}"), "channel ended with an error");
        }
    }
    if let Some((_, task)) = endpoint {
        let _ = task.await;
    }
    let _ = retention.await;
    desk.store()
        .flush()
        .context("cannot flush the database at shutdown")?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

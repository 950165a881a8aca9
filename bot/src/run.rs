//! `deskbot run`: starts every channel enabled in the configuration on one tokio runtime,
//! all sharing one engine and one store, and stops them together on Ctrl-C or SIGTERM.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::config::Config;
use crate::desk::Desk;

/// Tells channel tasks to stop: clone it into each task and `await` [`Shutdown::wait`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown signal and the sender that triggers it (for tests and the runner).
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Resolves once shutdown was requested (or the sender is gone).
    pub async fn wait(&mut self) {
        // An error means the sender was dropped: treat it as a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once shutdown was requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

type ChannelTask = Pin<Box<dyn Future<Output = (&'static str, Result<()>)> + Send>>;

/// Runs the enabled channels until a signal arrives or one of them fails, then flushes the
/// store.
pub async fn run(config: Config, desk: Desk) -> Result<()> {
    let (stop, shutdown) = Shutdown::new();
    let mut tasks: Vec<ChannelTask> = Vec::new();
    if config.telegram.enabled {
        let (d, c, s) = (desk.clone(), config.telegram.clone(), shutdown.clone());
        tasks.push(Box::pin(async move {
            ("telegram", crate::telegram::run(d, c, s).await)
        }));
    }
    if config.discord.enabled {
        let (d, c, s) = (desk.clone(), config.discord.clone(), shutdown.clone());
        tasks.push(Box::pin(async move {
            ("discord", crate::discord::run(d, c, s).await)
        }));
    }
    if tasks.is_empty() {
        anyhow::bail!(
            "no channel is enabled: set `enabled = true` under [telegram] or [discord] in the config (or use `deskbot chat`)"
        );
    }
    let mut set = tokio::task::JoinSet::new();
    for t in tasks {
        set.spawn(t);
    }
    let mut failure = None;
    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutdown requested; finishing turns in flight"),
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

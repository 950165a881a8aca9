//! What serenity calls ([`Events`]): each gateway event is handled in a task of its own, so
//! a panic ends only that event.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serenity::all::{Context, EventHandler, Interaction, Message, RatelimitInfo, Ready};

use super::order::{self};
use super::outbox::{self};

use crate::handler::Handler;

/// What serenity calls: each event is handled in a task of its own, so a panic (in a
/// handler, the engine, a dependency) ends only that event: logged, counted in
/// `deskbot_panics_total{channel="discord",task="handler"}`, and the channel goes on.
pub(crate) struct Events(pub(super) Arc<Handler>);

impl Events {
    pub(crate) async fn guarded<F, Fut>(&self, event: &'static str, f: F)
    where
        F: FnOnce(Arc<Handler>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let _busy = self.0.inflight.enter();
        let task = tokio::spawn(f(Arc::clone(&self.0)));
        if let Err(e) = task.await
            && e.is_panic()
        {
            let why = deskbot_desk::panic::panic_text(&*e.into_panic());
            tracing::error!(event, panic = %why, "a Discord event handler panicked; the channel goes on");
            self.0
                .desk
                .metrics()
                .panic_caught(outbox::CHANNEL, "handler");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Events {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.guarded(
            "ready",
            move |h| async move { h.on_ready(ctx, ready).await },
        )
        .await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.guarded("message", move |h| async move {
            h.on_message_event(ctx, msg).await;
        })
        .await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        self.guarded("interaction", move |h| async move {
            h.on_interaction(ctx, interaction).await;
        })
        .await;
    }

    async fn ratelimit(&self, data: RatelimitInfo) {
        // `data.path` can hold an interaction token: never log it.
        tracing::info!(
            method = ?data.method,
            wait_ms = data.timeout.as_millis() as u64,
            global = data.global,
            "Discord rate limit reached; serenity waits and retries"
        );
    }
}

impl Handler {
    async fn on_ready(&self, ctx: Context, ready: Ready) {
        self.bot_id.store(ready.user.id.get(), Ordering::SeqCst);
        self.desk.metrics().set_channel_up(outbox::CHANNEL, true);
        tracing::info!(
            bot = %ready.user.name,
            bot_id = ready.user.id.get(),
            application_id = ready.application.id.get(),
            guilds = ready.guilds.len(),
            shard = ?ready.shard.map(|s| (s.id.0, s.total)),
            "connected to the Discord gateway"
        );
        if !self.commands_registered.swap(true, Ordering::SeqCst) {
            self.register_commands(&ctx.http).await;
        }
    }

    async fn on_message_event(&self, ctx: Context, msg: Message) {
        // One person's messages in one channel are handled one at a time, in Discord's order
        // (bots' messages, ignored anyway, do not wait).
        let _turn = if msg.author.bot {
            None
        } else {
            let key = (msg.channel_id.get(), msg.author.id.get());
            Some(self.order.enter(key, msg.id.get(), order::WINDOW).await)
        };
        self.on_message(&ctx.http, msg).await;
    }

    async fn on_interaction(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Component(c) => self.on_component(&ctx.http, c).await,
            Interaction::Command(c) => self.on_command(&ctx.http, c).await,
            other => tracing::debug!(kind = ?other.kind(), "ignored an interaction"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use deskbot_desk::desk::Desk;

    use super::*;
    use crate::retry::Policy;

    /// A panic in an event's handling ends that event only: counted, and the handler is
    /// not left busy (shutdown would wait for it) or unusable.
    #[tokio::test]
    async fn a_panicking_event_is_caught_counted_and_leaves_nothing_busy() {
        let dir = tempfile::tempdir().unwrap();
        let engine = std::sync::Arc::new(
            deskbot_engine::dialogue::Engine::new(
                deskbot_engine::catalog::Catalog::builtin().unwrap(),
            )
            .unwrap(),
        );
        let desk = Desk::open(engine, dir.path()).unwrap();
        let events = Events(Arc::new(Handler::new(
            desk,
            vec![],
            vec![],
            None,
            Policy::DELIVERY,
        )));
        let count = || {
            events
                .0
                .desk
                .metrics()
                .encode()
                .lines()
                .filter(|l| {
                    l.starts_with("deskbot_panics_total")
                        && l.contains("channel=\"discord\"")
                        && l.contains("task=\"handler\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let before = count();
        events
            .guarded("test", |_| async { panic!("a handler bug") })
            .await;
        assert_eq!(count(), before + 1.0);
        assert_eq!(events.0.inflight.drained(Duration::ZERO).await, 0);
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        events
            .guarded(
                "test",
                move |_| async move { r.store(true, Ordering::SeqCst) },
            )
            .await;
        assert!(ran.load(Ordering::SeqCst), "the next event is handled");
    }
}

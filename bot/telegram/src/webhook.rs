//! Webhook mode: Telegram POSTs each update to `webhook_url`; a small HTTP server on
//! `listen` receives it.
//!
//! The same durability rule as polling: an update is answered `200 OK` only once it is in
//! the inbox (durably), so Telegram re-sends anything the bot did not record. The webhook is
//! registered with `max_connections = 1`, which makes Telegram deliver one update at a time,
//! in order; an update at or below the stored offset (a re-delivery) is acknowledged and
//! skipped. Requests without the configured secret token are refused.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::{Request, Requester};
use tokio::sync::mpsc;

use super::delivery::{Failure, classify_error};
use super::inbound::{BotIdentity, Inbound};
use super::updates::{self, Read};
use super::{CHANNEL, Ctx, Dispatcher, Job, allowed_updates, until_shutdown};
use crate::config::TelegramConfig;
use crate::error::{During, TelegramError};
use deskbot_desk::shutdown::pause;

/// The header carrying the webhook secret.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

struct Receiver {
    ctx: Arc<Ctx>,
    me: BotIdentity,
    secret: String,
    /// The path Telegram posts to (from `webhook_url`).
    path: String,
    accepted: mpsc::Sender<(u64, Inbound)>,
    /// One update recorded at a time, so offsets advance in order.
    order: tokio::sync::Mutex<()>,
}

/// Serves the webhook until shutdown, dispatching what arrives.
pub(super) async fn receive(
    ctx: &Arc<Ctx>,
    me: &BotIdentity,
    config: &TelegramConfig,
    dispatcher: &mut Dispatcher,
) -> Result<(), TelegramError> {
    let (Some(url), Some(listen)) = (&config.webhook_url, &config.listen) else {
        return Err(TelegramError::WebhookSettings);
    };
    let url = url::Url::parse(url).map_err(TelegramError::WebhookUrl)?;
    let addr: SocketAddr = listen.parse().map_err(TelegramError::ListenAddress)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TelegramError::Listen { addr, source })?;
    let (tx, mut rx) = mpsc::channel(1024);
    let secret = config.webhook_secret.expose().to_string();
    let receiver = Arc::new(Receiver {
        ctx: ctx.clone(),
        me: me.clone(),
        secret: secret.clone(),
        path: url.path().to_string(),
        accepted: tx,
        order: tokio::sync::Mutex::new(()),
    });
    let app = Router::new()
        // Every request reaches the handler, which checks method and path itself: the path
        // comes from the config and is never parsed as a route pattern.
        .fallback(on_update)
        .with_state(receiver);
    let mut stop = ctx.shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await
    });
    tracing::info!(%addr, "Telegram webhook server listening");

    // Register only once the server is up, so Telegram's first delivery finds it.
    let mut attempt = 0u32;
    loop {
        let request = ctx
            .api
            .raw
            .set_webhook(url.clone())
            .secret_token(secret.clone())
            .max_connections(1)
            .allowed_updates(allowed_updates())
            .drop_pending_updates(false)
            .send();
        let Some(result) = until_shutdown(&ctx.shutdown, request).await else {
            break;
        };
        let Err(e) = result else { break };
        let wait = match classify_error(&e) {
            Failure::BadToken => return Err(TelegramError::TokenRejected(During::SetWebhook)),
            Failure::RetryAfter(d) => d,
            Failure::Permanent => {
                return Err(TelegramError::WebhookRefused {
                    detail: ctx.api.describe(&e),
                });
            }
            _ => {
                attempt += 1;
                ctx.api.backoff.delay(attempt)
            }
        };
        tracing::warn!(error = %ctx.api.describe(&e), "setWebhook failed; retrying");
        if !pause(wait, &ctx.shutdown).await {
            break;
        }
    }

    let mut stop = ctx.shutdown.clone();
    loop {
        tokio::select! {
            () = stop.wait() => break,
            next = rx.recv() => match next {
                Some((id, inbound)) => dispatcher.send(inbound.chat, Job::Update(id, inbound)).await,
                None => break,
            },
            chat = super::next_delivery(ctx) => dispatcher.send(chat, Job::Deliver).await,
        }
    }
    // Updates recorded but not dispatched stay in the inbox for the next start. The webhook
    // stays registered: Telegram keeps updates until the bot is back. Closing the channel
    // first lets handlers still waiting to hand over an update finish.
    drop(rx);
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(TelegramError::Server(e)),
        Err(source) => Err(TelegramError::Task {
            what: "the webhook server task failed",
            source,
        }),
    }
}

/// Constant-time comparison, so the secret cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn on_update(
    State(r): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if uri.path() != r.path {
        return StatusCode::NOT_FOUND;
    }
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same(given, r.secret.as_bytes()) {
        tracing::warn!("webhook request without the right secret token refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    // Not JSON, or no update id: not from Telegram.
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(id) = updates::update_id(&value) else {
        return StatusCode::BAD_REQUEST;
    };
    // One that cannot be read is confirmed (200) and recorded, never refused: Telegram would
    // send it again forever, holding up every update behind it.
    let inbound = match updates::read(&value, &r.me, r.ctx.staff_chat()) {
        Read::Handle(i) => Some(i),
        Read::Ignore => None,
        Read::Skip(why) => {
            let desk = r.ctx.desk.clone();
            let at = r.ctx.desk.now_secs();
            let _ = tokio::task::spawn_blocking(move || {
                updates::record_skipped(&desk, Some(id), &value, &why, at);
            })
            .await;
            None
        }
    };
    let entries: Vec<(u64, Vec<u8>)> = inbound
        .iter()
        .filter_map(|i| serde_json::to_vec(i).ok().map(|v| (id, v)))
        .collect();
    let _in_order = r.order.lock().await;
    let store = r.ctx.desk.store().clone();
    let accepted = tokio::task::spawn_blocking(move || {
        store.inbox_accept(CHANNEL, &entries, id.saturating_add(1))
    })
    .await;
    match accepted {
        Ok(Ok(ids)) => {
            if let Some(inbound) = inbound
                && ids.contains(&id)
            {
                // Recorded durably; if the dispatcher is gone (shutdown) the next start
                // handles it.
                let _ = r.accepted.send((id, inbound)).await;
            }
            StatusCode::OK
        }
        Ok(Err(e)) => {
            tracing::error!(update = id, error = %e, "cannot record a webhook update; Telegram will retry");
            StatusCode::SERVICE_UNAVAILABLE
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}

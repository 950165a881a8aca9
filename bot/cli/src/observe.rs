//! Observability: the HTTP endpoint (`/healthz`, `/metrics`), and keeping tokens out of
//! everything the process prints (logs, errors, panics).
//!
//! ## The endpoint
//! `[http]` in the config ([`HttpConfig`]); loopback by default, since neither page needs to
//! be public. [`spawn`] is what `deskbot run` calls: [`bind`] opens the listener (so a taken
//! port fails `deskbot run` at start) and [`serve`] answers until shutdown:
//! - `GET /healthz`: `200` and `{"status":"ok",...}` when the store takes a durable write
//!   within `[http] health_timeout_secs`
//!   ([`Store::health_check_within`](deskbot_storage::Store::health_check_within)); still `200`, with
//!   `"status":"degraded"`, when a channel reports its platform connection down (restarting
//!   the bot would not bring Telegram back); `503` and `"status":"unavailable"` when the store
//!   fails, which is what a restart or an operator must fix.
//! - `GET /metrics`: the desk's metrics ([`Desk::metrics`]) in the Prometheus text format,
//!   with the open-ticket gauge read from the store at scrape time. `/healthz` reads the
//!   channels' status from the same registry.
//!
//! ## Secrets
//! Tokens are held in [`Secret`](crate::config::Secret), which never prints; as a second line
//! of defence every token known to the process ([`register_secret`]; the environment's at
//! [`install_panic_hook`], the config file's at [`Config::load`](crate::config::Config::load))
//! is replaced by `[redacted]` in every log line ([`RedactingStderr`]), in the error `main`
//! reports ([`report_error`]) and in panic messages ([`install_panic_hook`]), whatever library
//! produced the text (an HTTP error quoting a URL, a server echoing a request).

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::{Config, HttpConfig};
use deskbot_desk::desk::Desk;
use deskbot_desk::shutdown::Shutdown;

/// Opens the listener of the endpoint when `[http] enabled`; `None` when it is disabled.
/// Fails, naming `http.listen`, when the address is unusable or taken.
pub async fn bind(config: &HttpConfig) -> anyhow::Result<Option<TcpListener>> {
    if !config.enabled {
        return Ok(None);
    }
    let addr: SocketAddr = config
        .listen
        .parse()
        .with_context(|| format!("http.listen: {:?} is not an address", config.listen))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("http.listen: cannot listen on {addr}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(address = %local, "http endpoint listening (/healthz, /metrics)");
    Ok(Some(listener))
}

/// Answers `/healthz` and `/metrics` on `listener` until `shutdown`; requests in flight are
/// finished first. `/healthz` waits up to [`DEFAULT_HEALTH_TIMEOUT`] for the store.
pub async fn serve(listener: TcpListener, desk: Desk, shutdown: Shutdown) -> anyhow::Result<()> {
    serve_with(listener, desk, shutdown, DEFAULT_HEALTH_TIMEOUT).await
}

/// [`serve`] with `/healthz` waiting up to `health_timeout` for the store.
pub async fn serve_with(
    listener: TcpListener,
    desk: Desk,
    mut shutdown: Shutdown,
    health_timeout: Duration,
) -> anyhow::Result<()> {
    axum::serve(listener, router(desk, health_timeout))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .context("the http endpoint failed")
}

/// For `deskbot run`: binds `[http]` (failing, naming `http.listen`, when it cannot) and
/// serves the endpoint in a task of its own until `shutdown`; `None` when it is disabled.
/// A failure of the endpoint later is logged and counted (`errors_total{kind="http"}`) but
/// does not stop the bot. Await the handle after shutdown to let requests in flight finish.
/// Must be called within the tokio runtime.
pub async fn spawn(
    config: &HttpConfig,
    desk: Desk,
    shutdown: Shutdown,
) -> anyhow::Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>> {
    let Some(listener) = bind(config).await? else {
        return Ok(None);
    };
    let addr = listener
        .local_addr()
        .context("http.listen: no local address")?;
    let health_timeout = Duration::from_secs(u64::from(config.health_timeout_secs));
    let task = tokio::spawn(async move {
        let metrics = Arc::clone(desk.metrics());
        if let Err(e) = serve_with(listener, desk, shutdown, health_timeout).await {
            metrics.error("http");
            tracing::error!(error = %format!("{e:#}"), "the http endpoint stopped");
        }
    });
    Ok(Some((addr, task)))
}

/// The endpoint's routes, for [`serve`] (and for embedding elsewhere); `/healthz` waits up to
/// `health_timeout` for the store.
pub fn router(desk: Desk, health_timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(Endpoint {
            desk,
            health_timeout,
        })
}

/// What the handlers share.
#[derive(Debug, Clone)]
struct Endpoint {
    desk: Desk,
    health_timeout: Duration,
}

/// How long `/healthz` waits for the store's durable-write probe before answering 503 unless
/// `[http] health_timeout_secs` says otherwise: a healthy fsync takes milliseconds, and after
/// a failed write (a full disk) sled's flush can block for good
/// ([`deskbot_storage::HealthError::Stalled`]).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/healthz` answers, as JSON.
#[derive(Debug, serde::Serialize)]
struct Health {
    /// `ok`, `degraded` (a channel is down) or `unavailable` (the store fails).
    status: &'static str,
    /// `ok`, or why the store fails.
    store: String,
    /// Each channel that reported its status: `up` or `down`.
    channels: std::collections::BTreeMap<String, &'static str>,
}

async fn healthz(State(endpoint): State<Endpoint>) -> Response {
    let store = endpoint.desk.store().clone();
    let limit = endpoint.health_timeout;
    let check = tokio::task::spawn_blocking(move || store.health_check_within(limit)).await;
    let store_status = match check {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the health check did not finish: {e}")),
    };
    let channels: std::collections::BTreeMap<_, _> = endpoint
        .desk
        .metrics()
        .channels()
        .into_iter()
        .map(|(name, up)| (name, if up { "up" } else { "down" }))
        .collect();
    let (code, status, store) = match store_status {
        Err(why) => {
            endpoint.desk.metrics().error("store_health");
            tracing::error!(error = %why, "health check: the store is unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", why)
        }
        Ok(()) if channels.values().any(|s| *s == "down") => {
            (StatusCode::OK, "degraded", "ok".to_string())
        }
        Ok(()) => (StatusCode::OK, "ok", "ok".to_string()),
    };
    let body = serde_json::to_string(&Health {
        status,
        store,
        channels,
    })
    .unwrap_or_else(|_| format!("{{\"status\":\"{status}\"}}"));
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics(State(endpoint): State<Endpoint>) -> Response {
    let store = endpoint.desk.store().clone();
    let m = endpoint.desk.metrics();
    match tokio::task::spawn_blocking(move || store.open_ticket_count()).await {
        Ok(Ok(n)) => m.set_open_tickets(n),
        // The gauge keeps its last value; the failure is counted and logged.
        Ok(Err(e)) => {
            m.error("store_metrics");
            tracing::warn!(error = %e, "metrics: cannot count open tickets");
        }
        Err(e) => {
            m.error("store_metrics");
            tracing::warn!(error = %e, "metrics: counting open tickets did not finish");
        }
    }
    (
        [(header::CONTENT_TYPE, deskbot_desk::metrics::CONTENT_TYPE)],
        m.encode(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Secrets out of the output.

/// Every secret the process knows, longest first (so a token is replaced before a part of it).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter values are not treated as secrets: replacing them would mangle ordinary text, and
/// no real token is that short.
const MIN_SECRET_LEN: usize = 8;

/// The environment variables that hold tokens.
pub const TOKEN_ENV: [&str; 2] = ["TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"];

/// Adds `value` to the secrets replaced by [`redact`]. For a Telegram-style token
/// (`123456:secret`) the part after the colon is added too, since it is the secret half and
/// could be printed alone. Values shorter than 8 characters are ignored.
pub fn register_secret(value: &str) {
    let value = value.trim();
    let mut new = vec![value];
    if let Some((_, after)) = value.split_once(':') {
        new.push(after);
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for v in new {
        if v.chars().count() >= MIN_SECRET_LEN && !secrets.iter().any(|s| s == v) {
            secrets.push(v.to_string());
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the tokens of a loaded configuration (after environment overrides).
pub fn register_config_secrets(config: &Config) {
    for s in [
        &config.telegram.token,
        &config.telegram.webhook_secret,
        &config.discord.token,
    ] {
        register_secret(s.expose());
    }
}

/// `text` with every registered secret replaced by `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), "[redacted]"));
        }
    }
    out
}

/// A `tracing-subscriber` writer to stderr that passes each log line through [`redact`]
/// (the formatter writes one event per writer, so a secret is never split across writes).
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

/// The writer [`RedactingStderr`] makes: buffers one event, redacts and writes it on drop.
#[derive(Debug, Default)]
pub struct RedactingWriter(Vec<u8>);

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.0.is_empty() {
            let text = String::from_utf8_lossy(&self.0);
            let clean = redact(&text);
            let mut err = std::io::stderr().lock();
            err.write_all(clean.as_bytes())?;
            err.flush()?;
            self.0.clear();
        }
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        // Nothing to do about a failed write to stderr.
        let _ = self.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::default()
    }
}

/// Reports the error that ends the process, with secrets redacted: as an `ERROR` log event
/// when a log subscriber is installed (so `--log-format json` output stays all JSON), else the
/// way `main` returning `Err` would (`Error: ` and anyhow's chain of causes).
pub fn report_error(error: &anyhow::Error) {
    // Unless the log filter would swallow it (`DESKBOT_LOG=off`): a fatal error is never silent.
    if tracing::dispatcher::has_been_set() && tracing::enabled!(tracing::Level::ERROR) {
        let chain = format!("{error:#}");
        tracing::error!(error = %redact(&chain), "deskbot stopped with an error");
        return;
    }
    // The chain can quote what a user wrote (a name in a key, a line of a backup): control
    // characters are shown as escapes, line breaks of the chain itself are kept.
    let text = format!("Error: {error:?}");
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{}",
        crate::terminal::escape_controls_keep_lines(&redact(&text))
    );
}

/// Registers the tokens in the environment and replaces the panic hook with one that redacts
/// secrets from the message (and the backtrace, when `RUST_BACKTRACE` asks for one). Once a
/// log subscriber is installed, the panic is logged as an `ERROR` event of target
/// `deskbot::panic`, so it is a JSON line under `--log-format json`; before that, or when the
/// log filter drops that event, it goes to stderr as text. Call first thing in `main`.
pub fn install_panic_hook() {
    for var in TOKEN_ENV {
        if let Ok(v) = std::env::var(var) {
            register_secret(&v);
        }
    }
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a panic without a message)");
        let message = redact(message);
        let location = info
            .location()
            .map_or_else(|| "an unknown place".to_string(), |l| l.to_string());
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("<unnamed>");
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => {
                redact(&backtrace.to_string()).into_owned()
            }
            _ => String::new(),
        };
        if tracing::dispatcher::has_been_set()
            && tracing::enabled!(target: "deskbot::panic", tracing::Level::ERROR)
        {
            tracing::error!(
                target: "deskbot::panic",
                thread,
                location,
                backtrace,
                "panic: {message}"
            );
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "thread '{thread}' panicked at {location}:\n{message}");
            if !backtrace.is_empty() {
                let _ = writeln!(err, "{backtrace}");
            }
        }
    }));
}

/// Panics on purpose when `DESKBOT_TEST_PANIC=1`, with a message that quotes the configured
/// tokens, so the token-leak test can prove the panic hook redacts them. Does nothing
/// otherwise.
pub fn panic_if_requested(config: &Config) {
    if std::env::var("DESKBOT_TEST_PANIC").is_ok_and(|v| v == "1") {
        panic!(
            "deliberate panic (DESKBOT_TEST_PANIC=1) quoting the tokens: telegram {} discord {}",
            config.telegram.token.expose(),
            config.discord.token.expose()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_and_their_secret_half_are_redacted() {
        register_secret("987654:unit-test-secret-half-QWERTY");
        register_secret("short");
        let text = "url /bot987654:unit-test-secret-half-QWERTY/getMe, alone unit-test-secret-half-QWERTY, short stays";
        let clean = redact(text);
        assert_eq!(
            clean,
            "url /bot[redacted]/getMe, alone [redacted], short stays"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_redacts_a_line_written_in_pieces() {
        register_secret("piecewise-secret-0123456789");
        let text = "a piecewise-secret-0123456789 b";
        let mut w = RedactingWriter::default();
        w.write_all(&text.as_bytes()[..10]).unwrap();
        w.write_all(&text.as_bytes()[10..]).unwrap();
        assert_eq!(redact(&String::from_utf8_lossy(&w.0)), "a [redacted] b");
        w.0.clear();
    }
}

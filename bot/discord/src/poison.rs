//! The Discord side of the poison policy (the Telegram side is in
//! [`crate::telegram::delivery`]; both share [`note_unreadable`]).
//!
//! - **REST answers**: a call Discord answered with a 2xx whose body serenity cannot read
//!   (`serenity::Error::Json` / `Decode`: Discord added or changed a field) **is done**: it is
//!   logged once per method and field, counted in
//!   `deskbot_platform_unparsed_answers_total{channel="discord",method}` and never repeated
//!   ([`unreadable_answer`]).
//! - **Replies that keep failing**: a refusal (4xx), or a server error (5xx) still there after
//!   the retries, parks the reply as a dead letter ([`Sent::Park`]) and the channel's later
//!   replies go on; no answer at all (the network, an outage) or Discord's rate limit keeps it
//!   queued for the next sweep, since it holds up every channel alike
//!   ([`Sent::Later`]).
//! - **Gateway events**: serenity 0.12.5 reads a dispatch whose `d` does not fit its type (a
//!   `MESSAGE_CREATE` with a malformed field) as `Event::Unknown`, like an event type it does
//!   not know, and drops it (a `debug!` in `client/dispatch.rs`); a frame that is not a gateway
//!   payload at all is logged and dropped by the shard (`gateway/shard.rs`, "Unhandled
//!   error"). Neither stops the shard. [`SkipWatch`] sees the `Unknown` ones: each is counted
//!   in `deskbot_updates_skipped_total{channel="discord"}` and logged once per kind and field;
//!   a person's message or interaction that could not be read is also recorded as a dead
//!   letter with its raw JSON, secrets and interaction tokens masked.

use serde_json::Value;
use serenity::all::{Context, Event, HttpError, Interaction, Message, RawEventHandler};

use super::retry::Failure;
use deskbot_desk::desk::Desk;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::outbox::send::Sent;
use deskbot_desk::unreadable::note_unreadable;

/// The channel name in metrics and dead letters.
const CHANNEL: &str = super::outbox::CHANNEL;

/// The longest field description kept (serde's text can quote a value from the answer).
const FIELD_MAX: usize = 160;

/// Event kinds that carry a person's message or press: one that cannot be read is recorded
/// as a dead letter.
const PEOPLES_EVENTS: [&str; 2] = ["MESSAGE_CREATE", "INTERACTION_CREATE"];

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(FIELD_MAX).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// When `e` means Discord answered with a 2xx that serenity could not read: what did not fit.
pub fn unreadable_field(e: &serenity::Error) -> Option<String> {
    match e {
        serenity::Error::Json(j) => Some(short(&j.to_string())),
        serenity::Error::Decode(what, _) => Some(short(what)),
        _ => None,
    }
}

/// When a call ended with an answer serenity could not read: counts it in `metrics`, logs it
/// (once per method and field) and returns true, the call being done.
pub fn unreadable_answer(metrics: &Metrics, method: &'static str, e: &serenity::Error) -> bool {
    match unreadable_field(e) {
        Some(field) => {
            note_unreadable(metrics, CHANNEL, method, &field);
            true
        }
        None => false,
    }
}

/// Sorts how one reply's sending (with its retries) ended; `method` names the call for the
/// unreadable-answer count in `metrics`.
pub fn outcome<T>(
    metrics: &Metrics,
    method: &'static str,
    r: Result<T, Failure<serenity::Error>>,
) -> Sent {
    match r {
        Ok(_) => Sent::Done,
        Err(Failure::Error { error, .. }) if unreadable_answer(metrics, method, &error) => {
            Sent::Done
        }
        Err(e @ Failure::TimedOut { .. }) => Sent::Later(e.to_string()),
        Err(
            ref e @ Failure::Error {
                ref error,
                transient,
                ..
            },
        ) => {
            let unanswered = match error {
                serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
                    r.status_code.as_u16() == 429
                }
                serenity::Error::Http(HttpError::Request(_)) | serenity::Error::Io(_) => true,
                _ => false,
            };
            if transient && unanswered {
                return Sent::Later(e.to_string());
            }
            let status = match error {
                serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
                    format!("HTTP {} (code {}): ", r.status_code.as_u16(), r.error.code)
                }
                _ => String::new(),
            };
            Sent::Park(format!("{method}: {status}{e}"))
        }
    }
}

/// An event's JSON with secrets masked: interaction tokens replaced, then what
/// [`deskbot_engine::redact::mask_secrets`] finds (passwords, codes) in the rest.
pub fn masked(kind: &str, value: &Value) -> String {
    let mut v = value.clone();
    hide_tokens(&mut v);
    let raw = serde_json::json!({"t": kind, "d": v}).to_string();
    deskbot_engine::redact::mask_secrets(&raw).0
}

fn hide_tokens(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if k == "token" && item.is_string() {
                    *item = Value::String("[token]".into());
                } else {
                    hide_tokens(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_tokens),
        _ => {}
    }
}

/// Why serenity could not read event `kind` with data `value`.
pub fn why_unreadable(kind: &str, value: &Value) -> String {
    let error = match kind {
        "MESSAGE_CREATE" => serde_json::from_value::<Message>(value.clone()).err(),
        "INTERACTION_CREATE" => serde_json::from_value::<Interaction>(value.clone()).err(),
        _ => return "an event type this version does not know".to_string(),
    };
    match error {
        Some(e) => format!("does not parse: {}", short(&e.to_string())),
        None => "does not parse".to_string(),
    }
}

/// Counts (in `desk`'s metrics), logs (once per kind and reason) and, for a person's message
/// or interaction, records as a dead letter in `desk`'s store a gateway event serenity could
/// not read.
pub fn skipped(desk: &Desk, kind: &str, value: &Value, at: i64) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    desk.metrics().update_skipped(CHANNEL);
    let reason = why_unreadable(kind, value);
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((kind.to_string(), reason.clone()));
    let person = PEOPLES_EVENTS.contains(&kind);
    if first {
        tracing::warn!(
            event = kind,
            reason,
            recorded = person,
            "a Discord gateway event could not be read; skipped (the gateway goes on)"
        );
    } else {
        tracing::debug!(event = kind, reason, "unreadable Discord event skipped");
    }
    if !person {
        return;
    }
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| "?".to_string(), str::to_string);
    let target = format!("{kind}:{id}");
    if let Err(e) =
        desk.store()
            .record_skipped_update(CHANNEL, &target, &masked(kind, value), &reason, at)
    {
        tracing::error!(event = kind, error = %e, "cannot record a skipped Discord event");
    }
}

/// Sees every gateway event serenity read as `Unknown` ([`skipped`]).
pub struct SkipWatch {
    /// The desk whose store keeps the dead letters, whose clock dates them and whose metrics
    /// count them.
    pub desk: Desk,
}

#[serenity::async_trait]
impl RawEventHandler for SkipWatch {
    async fn raw_event(&self, _ctx: Context, ev: Event) {
        let Event::Unknown(u) = ev else {
            return;
        };
        let desk = self.desk.clone();
        let at = self.desk.now_secs();
        let done = tokio::task::spawn_blocking(move || skipped(&desk, &u.kind, &u.value, at));
        if let Err(e) = done.await
            && e.is_panic()
        {
            self.desk.metrics().panic_caught(CHANNEL, "gateway");
            tracing::error!("recording an unreadable Discord event panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_message_is_unknown_to_serenity_and_masked_when_recorded() {
        let d = json!({"id": "17", "channel_id": "5", "author": "not a user",
            "content": "my password is hunter22", "token": "itoken-secret"});
        let ev: Event = serde_json::from_value(json!({"t": "MESSAGE_CREATE", "d": d})).unwrap();
        assert!(matches!(ev, Event::Unknown(ref u) if u.kind == "MESSAGE_CREATE"));
        assert!(why_unreadable("MESSAGE_CREATE", &d).starts_with("does not parse"));
        assert_eq!(
            why_unreadable("BRAND_NEW_EVENT", &d),
            "an event type this version does not know"
        );
        let m = masked("MESSAGE_CREATE", &d);
        assert!(
            !m.contains("itoken-secret") && !m.contains("hunter22"),
            "{m}"
        );
    }

    #[test]
    fn outcomes_tell_done_park_and_later_apart() {
        let json_err = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        let unreadable: Result<(), _> = Err(Failure::Error {
            error: serenity::Error::Json(json_err),
            transient: false,
            attempts: 1,
        });
        let metrics = Metrics::new();
        assert_eq!(outcome(&metrics, "test", unreadable), Sent::Done);
        assert!(
            metrics.encode().contains(
                "deskbot_platform_unparsed_answers_total{channel=\"discord\",method=\"test\"} 1"
            ),
            "{}",
            metrics.encode()
        );
        assert!(matches!(
            outcome::<()>(&metrics, "test", Err(Failure::TimedOut { attempts: 3 })),
            Sent::Later(_)
        ));
        let other: Result<(), _> = Err(Failure::Error {
            error: serenity::Error::Other("refused"),
            transient: false,
            attempts: 1,
        });
        assert!(
            matches!(outcome(&metrics, "test", other), Sent::Park(r) if r.starts_with("test:"))
        );
    }
}

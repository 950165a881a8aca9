//! Reading updates one by one, so that one Telegram cannot parse does not take its batch (or
//! the poller) with it.
//!
//! `getUpdates` is asked for plain JSON values ([`RawGetUpdates`], through teloxide's own
//! request machinery, so errors, flood control and the token's redaction are as for any
//! call), and each value is turned into teloxide's [`Update`] and classified on its own,
//! with panics caught: teloxide-core 0.13's `message_reaction` deserializer unwraps when
//! neither `user` nor `actor_chat` is present. An update that cannot be read ([`Read::Skip`])
//! is confirmed like any other and recorded as a dead letter with its raw JSON, secrets
//! masked ([`record_skipped`]), and counted (`deskbot_updates_skipped`). The offset is an
//! `i64`, as in the Bot API: teloxide's `i32` would stop at 2^31 and ask for the same update
//! forever.

use std::panic::{AssertUnwindSafe, catch_unwind};

use deskbot_desk::desk::Desk;
use serde::Serialize;
use serde_json::Value;
use teloxide::requests::Payload;
use teloxide::types::{AllowedUpdate, Update, UpdateKind};

use super::inbound::{BotIdentity, Inbound, classify_with};
use crate::CHANNEL;

/// `getUpdates`, answered as raw JSON values.
#[derive(Debug, Clone, Serialize)]
pub struct RawGetUpdates {
    /// The first update to return; confirms every update below it.
    pub offset: i64,
    /// Long-poll timeout in seconds.
    pub timeout: u32,
    /// At most this many updates (1..=100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u8>,
    /// The kinds of update wanted.
    pub allowed_updates: Vec<AllowedUpdate>,
}

impl Payload for RawGetUpdates {
    type Output = Vec<Value>;
    const NAME: &'static str = "GetUpdates";
}

/// One received update, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Worth handling.
    Handle(Inbound),
    /// Read fine, nothing for the bot to do: only confirmed.
    Ignore,
    /// Could not be read: confirmed and recorded, with why.
    Skip(String),
}

/// An update's id, when it has one Telegram could confirm.
pub fn update_id(v: &Value) -> Option<u64> {
    v.get("update_id").and_then(Value::as_u64)
}

/// Reads one update: parses it as teloxide's [`Update`] and classifies it, catching panics.
pub fn read(v: &Value, me: &BotIdentity, staff_chat: Option<i64>) -> Read {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // From text, not from the `Value`: teloxide's `UpdateKind` reads its key as a
        // borrowed `&str` first, which only a text source can give.
        match serde_json::from_str::<Update>(&v.to_string()) {
            Err(e) => Read::Skip(format!("does not parse: {e}")),
            Ok(u) if matches!(u.kind, UpdateKind::Error(_)) => {
                Read::Skip("its content does not parse (unknown kind or changed fields)".into())
            }
            Ok(u) => match classify_with(&u, me, staff_chat) {
                Some(i) => Read::Handle(i),
                None => Read::Ignore,
            },
        }
    }));
    outcome.unwrap_or_else(|p| {
        Read::Skip(format!(
            "parsing panicked: {}",
            deskbot_desk::panic::panic_text(&*p)
        ))
    })
}

/// Records a skipped update as a dead letter in `desk`'s store (its JSON with secrets
/// masked), counts it in the desk's metrics and logs it. A failure to record is logged, not
/// fatal: the update is confirmed either way.
pub fn record_skipped(desk: &Desk, id: Option<u64>, raw: &Value, reason: &str, at: i64) {
    desk.metrics().update_skipped(CHANNEL);
    let (masked, _) = deskbot_engine::redact::mask_secrets(&raw.to_string());
    let shown = id.map_or_else(|| "?".to_string(), |i| i.to_string());
    tracing::warn!(
        update = %shown,
        reason,
        "a Telegram update could not be read; confirmed and recorded as a dead letter"
    );
    if let Err(e) = desk
        .store()
        .record_skipped_update(CHANNEL, &shown, &masked, reason, at)
    {
        tracing::error!(update = %shown, error = %e, "cannot record a skipped update");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> BotIdentity {
        BotIdentity {
            id: 999,
            username: "deskbot_test_bot".into(),
        }
    }

    #[test]
    fn a_reaction_without_user_or_actor_chat_is_skipped_not_a_panic() {
        let v = json!({"update_id": 7, "message_reaction": {
            "chat": {"id": 42, "type": "private", "first_name": "A"},
            "message_id": 3, "date": 1_700_000_000,
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}});
        match read(&v, &me(), None) {
            Read::Skip(why) => assert!(why.contains("panicked"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_is_handled_and_garbage_skipped() {
        let text = json!({"update_id": 8, "message": {"message_id": 1, "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "A"},
            "from": {"id": 42, "is_bot": false, "first_name": "A"}, "text": "hi"}});
        assert!(matches!(read(&text, &me(), None), Read::Handle(_)));
        let broken = json!({"update_id": 9, "message": {"message_id": "x"}});
        assert!(matches!(read(&broken, &me(), None), Read::Skip(_)));
        assert!(matches!(read(&json!([1, 2]), &me(), None), Read::Skip(_)));
        assert_eq!(
            update_id(&json!({"update_id": 3_000_000_000_u64})),
            Some(3_000_000_000)
        );
    }
}

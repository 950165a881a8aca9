//! How `deskbot import` and `deskbot export --salvage` decode what only the bot can: a
//! conversation's state with the engine's type, and the channels' queued payloads with the
//! types their adapters read them with. Passed to the storage crate as its
//! [`PayloadCheck`](deskbot_storage::validate::PayloadCheck).

use deskbot_desk::outbox::Envelope;
use deskbot_engine::dialogue::Conversation;
use deskbot_storage::validate::Payload;

/// Decodes `payload` the way the bot will read it; `Err` says why it cannot (serde's message,
/// e.g. "missing field `phase`"). Payloads of channels this build does not know are accepted.
pub fn check(payload: Payload<'_>) -> Result<(), String> {
    match payload {
        Payload::Conversation { state, .. } => serde_json::from_slice::<Conversation>(state)
            .map(drop)
            .map_err(|e| e.to_string()),
        Payload::Inbox { channel, payload } if channel == deskbot_telegram::CHANNEL => {
            serde_json::from_slice::<deskbot_telegram::inbound::Inbound>(payload)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Payload::Outbox { channel, payload } if Envelope::decode(payload).is_some() => {
            envelope(channel, payload)
        }
        Payload::Outbox { channel, payload } if channel == deskbot_telegram::CHANNEL => {
            serde_json::from_slice::<deskbot_telegram::outbound::Outgoing>(payload)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Payload::Outbox { channel, payload } if channel == deskbot_discord::outbox::CHANNEL => {
            deskbot_discord::outbox::Queued::decode(payload)
                .map(drop)
                .ok_or_else(|| "not a Discord reply this version can send".to_string())
        }
        _ => Ok(()),
    }
}

/// A reply the desk queued: its route must be one the channel can read.
fn envelope(channel: &str, payload: &[u8]) -> Result<(), String> {
    let Some(e) = Envelope::decode(payload) else {
        return Err("not a queued reply".into());
    };
    let route = match channel {
        c if c == deskbot_telegram::CHANNEL => {
            serde_json::from_value::<deskbot_telegram::outbound::Route>(e.route).map(drop)
        }
        c if c == deskbot_discord::outbox::CHANNEL => {
            serde_json::from_value::<deskbot_discord::outbox::Route>(e.route).map(drop)
        }
        _ => Ok(()),
    };
    route.map_err(|e| format!("a queued reply's route: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(state: &str) -> Result<(), String> {
        check(Payload::Conversation {
            channel: "telegram",
            user: "42",
            state: state.as_bytes(),
        })
    }

    #[test]
    fn conversation_states_decode_as_the_engine_reads_them() {
        let err = conversation("{}").unwrap_err();
        assert!(err.contains("missing field `phase`"), "{err}");
        let stored = serde_json::to_string(&Conversation::default()).unwrap();
        conversation(&stored).unwrap();
        assert!(conversation("not json").is_err());
    }

    #[test]
    fn channel_payloads_decode_with_their_adapters_types() {
        let bad = Payload::Outbox {
            channel: "telegram",
            payload: b"{\"nope\":1}",
        };
        assert!(check(bad).is_err());
        let bad = Payload::Outbox {
            channel: "discord",
            payload: b"\xff",
        };
        assert!(check(bad).is_err());
        let other = Payload::Inbox {
            channel: "some_future_channel",
            payload: b"anything",
        };
        check(other).unwrap();
    }
}

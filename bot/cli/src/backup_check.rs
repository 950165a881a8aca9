//! How `deskbot import` and `deskbot export --salvage` decode what only the bot can: a
//! conversation's state with the engine's type, and the channels' queued payloads with the
//! types their adapters read them with. Passed to the storage crate as its
//! [`PayloadCheck`](deskbot_storage::validate::PayloadCheck).

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

//! Replies to channel messages wait in the store's outbox (written in the same transaction as
//! the turn) until Discord accepted them, so neither a long outage nor a restart loses one.
//! This file holds the payload formats (the route of the desk's envelopes, and the rendered
//! messages the channel queues itself); the sending is in [`crate::sending`].
//!
//! Interaction answers are not queued: their token expires after 15 minutes and they must be
//! fast; they are retried in place and fall back to a channel message.

use serde::{Deserialize, Serialize};

use super::render::OutMessage;

/// Where a turn's reply goes, as the desk stores it in the outbox
/// ([`deskbot_desk::outbox::Address::route`]) and the channel reads it back when it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The Discord channel to post in (a DM channel or a support channel).
    pub channel: u64,
    /// The user's message to reply to (support channels), if any.
    pub reply_to: Option<u64>,
    /// The user whose conversation the buttons belong to.
    pub owner: u64,
}

/// The outbox channel name in the store.
pub const CHANNEL: &str = deskbot_storage::Platform::Discord.as_str();

/// One queued message, as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// Format version.
    pub v: u8,
    /// The Discord channel to post in.
    pub channel: u64,
    /// The message.
    pub message: OutMessage,
    /// The user's message to reply to (support channels), if any.
    pub reply_to: Option<u64>,
    /// Sent with `enforce_nonce`, so a resend after a crash does not post twice.
    pub nonce: String,
}

impl Queued {
    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain strings, numbers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a payload; `None` for one this version cannot read.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|q| q.v == 1)
    }
}

/// The messages a queued envelope stands for, rendered now: its reply for its [`Route`], the
/// first part answering `reply_to`, nonces from the envelope's; `None` when the route cannot
/// be read.
pub fn render_envelope(e: &deskbot_desk::outbox::Envelope) -> Option<Vec<Queued>> {
    let route: Route = serde_json::from_value(e.route.clone()).ok()?;
    Some(queue(
        route.channel,
        crate::sending::rendered(&e.reply, route.owner),
        route.reply_to,
        &e.nonce,
    ))
}

/// The queued messages for one reply: its rendered parts, the first replying to
/// `reply_to`, with nonces `<nonce_base>.<part>`.
pub fn queue(
    channel: u64,
    messages: Vec<OutMessage>,
    reply_to: Option<u64>,
    nonce_base: &str,
) -> Vec<Queued> {
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| Queued {
            v: 1,
            channel,
            message,
            reply_to: if i == 0 { reply_to } else { None },
            nonce: format!("{nonce_base}.{i}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{ButtonSpec, Style};

    #[test]
    fn round_trips_and_only_the_first_part_replies() {
        let parts = vec![
            OutMessage {
                content: "a".into(),
                rows: vec![],
            },
            OutMessage {
                content: "b".into(),
                rows: vec![vec![ButtonSpec {
                    custom_id: "db:1:2:yes".into(),
                    label: "Yes".into(),
                    style: Style::Success,
                }]],
            },
        ];
        let q = queue(5, parts, Some(77), "ff");
        assert_eq!(q[0].reply_to, Some(77));
        assert_eq!(q[1].reply_to, None);
        assert_eq!((q[0].nonce.as_str(), q[1].nonce.as_str()), ("ff.0", "ff.1"));
        for item in &q {
            assert_eq!(Queued::decode(&item.encode()).as_ref(), Some(item));
        }
        assert_eq!(Queued::decode(b"{\"v\":2}"), None);
        assert_eq!(Queued::decode(b"garbage"), None);
    }
}

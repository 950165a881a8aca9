//! The durable outbox every channel sends from.
//!
//! A turn's reply is queued here by the desk, in the turn's own transaction, as an
//! [`Envelope`]: the platform-neutral [`Reply`] and the channel's [`Address`] for it. The
//! channel renders it into platform calls only when it sends ([`send`]), so the desk never
//! calls into a channel. What staff say to a user (the relay's user sides) and a ticket's close
//! message are queued the same way ([`queue`]). A channel may also queue entries of its own
//! format (acknowledging a button press without a turn, entries written by earlier versions);
//! its [`send::Channel::decode`] reads those.
//!
//! Store layout: the storage crate's channel outbox (`channel NUL target NUL seq`), one entry
//! per envelope; marks beside it (see [`crate::marks`]).

pub mod send;
pub mod sent_marks;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{ChannelWrite, StorageError, Store};
use serde::{Deserialize, Serialize};

/// The version tag of [`Envelope`] payloads.
pub const ENVELOPE_VERSION: u8 = 1;

/// Where a reply goes on its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// The outbox target: what the channel sends to in order (a chat, a channel id).
    pub target: String,
    /// The channel's own routing details (which message to answer, which thread, whose
    /// buttons…), as JSON the channel reads back when it renders. The desk only stores it.
    pub route: serde_json::Value,
}

/// One outbox entry the desk wrote: a reply for an address, rendered by the channel at send
/// time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`]; tells an envelope from a channel's own entries.
    pub envelope: u8,
    /// The channel's routing details ([`Address::route`]).
    pub route: serde_json::Value,
    /// What to say.
    pub reply: Reply,
    /// Unique per entry and stable over restarts (platforms with an idempotency key use it).
    pub nonce: String,
    /// How many of the rendered calls were already made (a long reply sent in parts resumes
    /// after the last part the platform accepted, see [`Store::outbox_update`]).
    #[serde(default)]
    pub done: u32,
}

impl Envelope {
    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Plain strings, numbers and JSON values always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a payload; `None` for anything that is not an envelope of this version.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|e| e.envelope == ENVELOPE_VERSION)
    }
}

/// What a turn queues on its channel, committed with the turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The store's channel name (the platform's).
    pub channel: String,
    /// The inbox entry (platform update) the turn handles: removed in the same transaction,
    /// and the turn refused when it is already gone (handled before).
    pub consumed: Option<u64>,
    /// Where the reply goes.
    pub address: Address,
    /// The envelope's nonce.
    pub nonce: String,
    /// Queue even a reply with nothing to say, because the route does something of its own
    /// (acknowledging the button press that started the turn).
    pub always: bool,
    /// Channel marks to set (`Some`) or remove (`None`) with the turn.
    pub marks: Vec<(String, Option<Vec<u8>>)>,
}

impl Delivery {
    /// The channel write that queues `reply` (and applies the marks).
    pub fn write(&self, reply: &Reply) -> ChannelWrite {
        let silent = reply.text.trim().is_empty() && reply.buttons.is_empty();
        let outbox = if silent && !self.always {
            Vec::new()
        } else {
            vec![
                Envelope {
                    envelope: ENVELOPE_VERSION,
                    route: self.address.route.clone(),
                    reply: reply.clone(),
                    nonce: self.nonce.clone(),
                    done: 0,
                }
                .encode(),
            ]
        };
        ChannelWrite {
            channel: self.channel.clone(),
            consumed: self.consumed,
            target: self.address.target.clone(),
            clear_outbox: false,
            outbox,
            marks: self.marks.clone(),
        }
    }
}

/// Queues `reply` for `delivery`'s address outside a turn (a staff message for a user, the
/// close message of a ticket), durably.
pub fn queue(store: &Store, delivery: &Delivery, reply: &Reply) -> Result<(), StorageError> {
    store.channel_commit(&delivery.write(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(always: bool) -> Delivery {
        Delivery {
            channel: "chat".into(),
            consumed: Some(7),
            address: Address {
                target: "42".into(),
                route: serde_json::json!({"chat": 42}),
            },
            nonce: "n1".into(),
            always,
            marks: vec![("m".into(), None)],
        }
    }

    #[test]
    fn a_reply_becomes_one_envelope_and_a_silent_one_none_unless_asked() {
        let w = delivery(false).write(&Reply::text("hello"));
        assert_eq!((w.consumed, w.target.as_str()), (Some(7), "42"));
        assert_eq!(w.outbox.len(), 1);
        let e = Envelope::decode(&w.outbox[0]).unwrap();
        assert_eq!(e.reply.text, "hello");
        assert_eq!(e.route, serde_json::json!({"chat": 42}));
        assert_eq!((e.nonce.as_str(), e.done), ("n1", 0));
        assert_eq!(w.marks.len(), 1);
        assert!(delivery(false).write(&Reply::default()).outbox.is_empty());
        assert_eq!(delivery(true).write(&Reply::default()).outbox.len(), 1);
    }

    #[test]
    fn only_envelopes_decode_as_envelopes() {
        assert_eq!(Envelope::decode(br#"{"op":"send","chat":1}"#), None);
        assert_eq!(Envelope::decode(br#"{"v":1,"channel":5}"#), None);
        assert_eq!(Envelope::decode(b"garbage"), None);
        let future = br#"{"envelope":2,"route":null,"reply":{"text":"x","buttons":[]},"nonce":""}"#;
        assert_eq!(Envelope::decode(future), None);
    }
}

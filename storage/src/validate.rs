//! Whether a stored record can be read back the way the bot reads it.
//!
//! [`check_record`] decodes one key/value of a tree with the types this crate reads it with
//! (transcript lines, tickets, handoff records, counters) and hands what only the bot can
//! decode (conversation states, channel payloads: their types live in the bot) to a
//! [`PayloadCheck`]. [`Store::import_checked`](crate::Store::import_checked) runs it on every
//! line before writing anything, and [`crate::salvage`] on every record it recovers, so a
//! record that would stop the bot is neither imported nor exported as good.

use serde::de::DeserializeOwned;

use crate::backup::{CONVERSATIONS, INBOX, META, OPEN_TICKETS, OUTBOX, TICKETS, TRANSCRIPTS};
use crate::handoff::{BLOCKED, CURSORS, EVENTS, LOCATIONS, ROUTES};
use crate::store::META_TICKET_COUNTER;
use crate::{BlockRecord, StaffLocation, TicketEvent, TranscriptEntry};

/// A record whose value only the bot can decode, handed to a [`PayloadCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A conversation's stored state (JSON of the engine's conversation type).
    Conversation {
        /// The channel of the conversation.
        channel: &'a str,
        /// The user.
        user: &'a str,
        /// The stored bytes.
        state: &'a [u8],
    },
    /// An update a chat channel received and has not handled yet.
    Inbox {
        /// The channel.
        channel: &'a str,
        /// The stored bytes.
        payload: &'a [u8],
    },
    /// A call a chat channel has still to make.
    Outbox {
        /// The channel.
        channel: &'a str,
        /// The stored bytes.
        payload: &'a [u8],
    },
}

/// Decodes a [`Payload`] the way the bot will; `Err` holds why it cannot.
pub type PayloadCheck<'a> = &'a dyn Fn(Payload<'_>) -> Result<(), String>;

/// A check that accepts every payload (storage tests, whose state type is their own).
pub fn accept_any(_: Payload<'_>) -> Result<(), String> {
    Ok(())
}

fn json<T: DeserializeOwned>(what: &str, v: &[u8]) -> Result<T, String> {
    serde_json::from_slice(v).map_err(|e| format!("{what}: {e}"))
}

fn be64(what: &str, b: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(b)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("{what} is not 8 bytes"))
}

/// `channel NUL user NUL` → (channel, user).
fn conv_parts(what: &str, k: &[u8]) -> Result<(String, String, usize), String> {
    let bad = || format!("{what}: not `channel NUL user NUL`");
    let first = k.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let rest = &k[first + 1..];
    let second = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let channel = std::str::from_utf8(&k[..first]).map_err(|_| bad())?;
    let user = std::str::from_utf8(&rest[..second]).map_err(|_| bad())?;
    if channel.is_empty() {
        return Err(bad());
    }
    Ok((
        channel.to_string(),
        user.to_string(),
        first + 1 + second + 1,
    ))
}

/// The channel name before the first NUL of a channel tree's key.
fn channel_of(k: &[u8]) -> Result<&str, String> {
    let end = k
        .iter()
        .position(|&b| b == 0)
        .ok_or("channel key without a NUL")?;
    std::str::from_utf8(&k[..end]).map_err(|_| "channel name is not UTF-8".to_string())
}

/// Checks that the bot can read `value` stored under `key` in `tree`. Trees this build does
/// not know are accepted as they are (they are kept, never read).
pub fn check_record(
    tree: &str,
    key: &[u8],
    value: &[u8],
    payload: PayloadCheck<'_>,
) -> Result<(), String> {
    match tree {
        CONVERSATIONS => {
            let (channel, user, used) = conv_parts("conversation key", key)?;
            if used != key.len() {
                return Err("conversation key has bytes after the user".into());
            }
            payload(Payload::Conversation {
                channel: &channel,
                user: &user,
                state: value,
            })
            .map_err(|e| format!("conversation state: {e}"))
        }
        TRANSCRIPTS => {
            let (_, _, used) = conv_parts("transcript key", key)?;
            be64("transcript sequence number", &key[used..])?;
            json::<TranscriptEntry>("transcript line", value).map(drop)
        }
        TICKETS => {
            let number = be64("ticket key", key)?;
            let ticket = crate::store::decode_ticket(value).map_err(|e| e.to_string())?;
            if ticket.number != number {
                return Err(format!(
                    "ticket #{} stored under number {number}",
                    ticket.number
                ));
            }
            Ok(())
        }
        OPEN_TICKETS => {
            be64("open ticket key", key)?;
            let (_, _, used) = conv_parts("open ticket value", value)?;
            if used != value.len() {
                return Err("open ticket value has bytes after the user".into());
            }
            Ok(())
        }
        META if key == META_TICKET_COUNTER => be64("ticket counter", value).map(drop),
        INBOX => payload(Payload::Inbox {
            channel: channel_of(key)?,
            payload: value,
        })
        .map_err(|e| format!("inbox entry: {e}")),
        OUTBOX => payload(Payload::Outbox {
            channel: channel_of(key)?,
            payload: value,
        })
        .map_err(|e| format!("outbox entry: {e}")),
        EVENTS => json::<TicketEvent>("ticket event", value).map(drop),
        BLOCKED => json::<BlockRecord>("block record", value).map(drop),
        LOCATIONS => {
            be64("staff location key", key)?;
            json::<StaffLocation>("staff location", value).map(drop)
        }
        CURSORS => {
            be64("relay cursor key", key)?;
            be64("relay cursor", value).map(drop)
        }
        ROUTES => be64("staff route", value).map(drop),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_checked_with_the_types_the_bot_reads_them_with() {
        let ok = |tree: &str, k: &[u8], v: &[u8]| check_record(tree, k, v, &accept_any);
        let mut tk = b"console\0ann\0".to_vec();
        tk.extend_from_slice(&7u64.to_be_bytes());
        assert!(
            ok(
                TRANSCRIPTS,
                &tk,
                br#"{"at_ms":1,"speaker":"user","text":"hi"}"#
            )
            .is_ok()
        );
        let err = ok(
            TRANSCRIPTS,
            &tk,
            br#"{"at_ms":1,"speaker":"robot","text":"hi"}"#,
        );
        assert!(err.unwrap_err().contains("robot"));
        assert!(ok(TRANSCRIPTS, b"console\0ann\0", b"{}").is_err());
        assert!(ok(TICKETS, &1u64.to_be_bytes(), b"{}").is_err());
        assert!(ok(META, META_TICKET_COUNTER, b"abc").is_err());
        assert!(ok(META, b"something_else", b"abc").is_ok());
        assert!(ok(CURSORS, &1u64.to_be_bytes(), b"x").is_err());
        assert!(ok("a_future_tree", b"k", b"v").is_ok());
        // What only the bot can decode goes to its check, with the parts of the key.
        let seen = std::cell::RefCell::new(Vec::new());
        let bot = |p: Payload<'_>| {
            seen.borrow_mut().push(format!("{p:?}"));
            Err("missing field `phase`".to_string())
        };
        let err = check_record(CONVERSATIONS, b"telegram\x0042\0", b"{}", &bot).unwrap_err();
        assert!(err.contains("missing field `phase`"), "{err}");
        assert!(seen.borrow()[0].contains("channel: \"telegram\", user: \"42\""));
    }
}

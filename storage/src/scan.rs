//! Streaming reads over the whole store, for reports: every transcript line of every
//! conversation ([`Store::transcript_lines`]) and every ticket ([`Store::ticket_records`]),
//! read one record at a time from sled's iterators, so memory stays flat however many
//! records there are (a report over a million turns must not load them into a `Vec`).

use crate::keys::Platform;
use crate::store::{Store, decode_ticket};
use crate::{ConvKey, StorageError, Ticket, TranscriptEntry};

/// One transcript line with the conversation it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLine {
    /// The conversation.
    pub conversation: ConvKey,
    /// The line's sequence number (global, increasing in the order lines were written).
    pub seq: u64,
    /// The line.
    pub entry: TranscriptEntry,
}

fn corrupt(message: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        tree: "transcripts",
        message: message.into(),
    }
}

/// The conversation and sequence number of a transcript key (`channel NUL user NUL seq`).
fn decode_key(key: &[u8]) -> Result<(ConvKey, u64), StorageError> {
    let bad = || corrupt(format!("unexpected transcript key {key:?}"));
    let split = key.len().checked_sub(8).ok_or_else(bad)?;
    let (prefix, seq) = key.split_at(split);
    let seq = u64::from_be_bytes(<[u8; 8]>::try_from(seq).map_err(|_| bad())?);
    let prefix = prefix.strip_suffix(&[0]).ok_or_else(bad)?;
    let nul = prefix.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let channel = std::str::from_utf8(&prefix[..nul]).map_err(|_| bad())?;
    let user = std::str::from_utf8(&prefix[nul + 1..]).map_err(|_| bad())?;
    let platform: Platform = channel.parse().map_err(|_| bad())?;
    Ok((ConvKey::new(platform, user), seq))
}

impl Store {
    /// Every transcript line of every conversation: grouped by conversation (in key order)
    /// and, within one, oldest first. Read lazily, one line at a time.
    pub fn transcript_lines(&self) -> impl Iterator<Item = Result<StoredLine, StorageError>> + '_ {
        // Consecutive lines share their conversation: the key is decoded once per conversation.
        let mut last: Option<(Vec<u8>, ConvKey)> = None;
        self.transcripts.iter().map(move |item| {
            let (k, v) = item?;
            let split = k.len().checked_sub(8).ok_or_else(|| corrupt("short key"))?;
            let conversation = match &last {
                Some((prefix, key)) if prefix.as_slice() == &k[..split] => key.clone(),
                _ => {
                    let (key, _) = decode_key(&k)?;
                    last = Some((k[..split].to_vec(), key.clone()));
                    key
                }
            };
            let seq = u64::from_be_bytes(
                <[u8; 8]>::try_from(&k[split..]).map_err(|_| corrupt("short key"))?,
            );
            let entry = serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?;
            Ok(StoredLine {
                conversation,
                seq,
                entry,
            })
        })
    }

    /// Every ticket, by number, read lazily one at a time (unlike [`Store::tickets`]).
    pub fn ticket_records(&self) -> impl Iterator<Item = Result<Ticket, StorageError>> + '_ {
        self.tickets.iter().map(|item| {
            let (_, v) = item?;
            decode_ticket(&v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Speaker, TurnWrite};

    #[test]
    fn lines_come_back_grouped_by_conversation_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ann = ConvKey::new(Platform::Telegram, "ann");
        let bob = ConvKey::new(Platform::Console, "bob\u{1}x");
        for (key, text) in [(&ann, "a1"), (&bob, "b1"), (&ann, "a2"), (&bob, "b2")] {
            store
                .commit_turn(&TurnWrite {
                    key,
                    state: &(),
                    transcript: &[TranscriptEntry::new(1, Speaker::User, text)],
                    tickets: &[],
                    channel: None,
                })
                .unwrap();
        }
        let lines: Vec<StoredLine> = store.transcript_lines().map(Result::unwrap).collect();
        let seen: Vec<(String, &str)> = lines
            .iter()
            .map(|l| (l.conversation.to_string(), l.entry.text.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("console:bob\u{1}x".to_string(), "b1"),
                ("console:bob\u{1}x".to_string(), "b2"),
                ("telegram:ann".to_string(), "a1"),
                ("telegram:ann".to_string(), "a2"),
            ]
        );
        assert!(lines[0].seq < lines[1].seq && lines[2].seq < lines[3].seq);
        assert_eq!(store.ticket_records().count(), 0);
    }

    #[test]
    fn a_bad_key_is_reported_not_panicked_on() {
        assert!(decode_key(b"short").is_err());
        assert!(decode_key(b"web\0ann\0\0\0\0\0\0\0\0\x01").is_err());
        let (key, seq) = decode_key(b"discord\x00ann\x00\0\0\0\0\0\0\0\x07").unwrap();
        assert_eq!((key, seq), (ConvKey::new(Platform::Discord, "ann"), 7));
    }
}

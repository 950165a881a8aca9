//! Human handoff records: where each ticket lives on the staff side, what staff did with it,
//! and which users are blocked.
//!
//! - **Staff locations** (`handoff_locations`, ticket number → [`StaffLocation`]): the staff
//!   platform, chat, thread (a Discord thread, a Telegram forum topic) and first message of a
//!   ticket. Written once the platform created them.
//! - **Routes** (`handoff_routes`): the reverse index, `platform NUL chat NUL kind NUL id` →
//!   ticket number, so a staff message in a thread (or a reply to a ticket message) finds its
//!   ticket after a restart. Written in the same transaction as the location.
//! - **Events** (`handoff_events`, `number(be64) seq(be64)` → [`TicketEvent`]): claimed,
//!   closed, reopened, notes, blocks; in order.
//! - **Blocked users** (`handoff_blocked`, conversation key → [`BlockRecord`]).
//! - **Relay cursors** (`handoff_cursors`, ticket number → transcript sequence number): the
//!   last line of the user's transcript already relayed to staff, so a restart relays the
//!   rest once, in order.
//!
//! The trees are opened by name on use, so stores written before handoff existed open
//! unchanged, and [`Store::export`](crate::Store::export) includes them like every tree.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::channel::AlreadyHandled;
use crate::store::{Store, transaction_error};
use crate::{ConvKey, StorageError, TranscriptEntry};

pub(crate) const LOCATIONS: &str = "handoff_locations";
pub(crate) const ROUTES: &str = "handoff_routes";
pub(crate) const EVENTS: &str = "handoff_events";
pub(crate) const BLOCKED: &str = "handoff_blocked";
pub(crate) const CURSORS: &str = "handoff_cursors";

/// Where a ticket lives on the staff side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffLocation {
    /// The staff platform (`discord`, `telegram`).
    pub platform: String,
    /// The staff channel (Discord) or group (Telegram) id.
    pub chat: String,
    /// The ticket's thread: a Discord thread's channel id, a Telegram forum topic's
    /// `message_thread_id`; `None` in a plain Telegram group.
    pub thread: Option<String>,
    /// The ticket's first message (in a plain Telegram group staff reply to it).
    pub message: Option<String>,
}

/// What happened to a ticket on the staff side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEventKind {
    /// A staff member took the ticket.
    Claimed,
    /// Staff (or an operator) closed it.
    Closed,
    /// Staff reopened it.
    Reopened,
    /// A note for staff, not relayed.
    Note,
    /// The user was blocked.
    Blocked,
    /// The user was unblocked.
    Unblocked,
    /// The user rated the help after the close (`note` holds `up` or `down`).
    Rated,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// What happened.
    pub kind: TicketEventKind,
    /// Who did it (a staff member's display name, `operator` for the CLI).
    pub by: String,
    /// A note (the close note, the rating).
    pub note: Option<String>,
}

/// Why and by whom a user was blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// Who blocked the user.
    pub by: String,
    /// The ticket it was done from, if any.
    pub ticket: Option<u64>,
}

/// The kind of staff-side id a route key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// A thread or forum topic.
    Thread,
    /// A message (a ticket message in a plain group).
    Message,
}

impl RouteKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Thread => "thread",
            Self::Message => "message",
        }
    }
}

fn route_key(
    platform: &str,
    chat: &str,
    kind: RouteKind,
    id: &str,
) -> Result<Vec<u8>, StorageError> {
    let mut k = Vec::new();
    for part in [platform, chat, kind.tag(), id] {
        if part.is_empty() || part.contains('\0') {
            return Err(StorageError::InvalidKey(format!(
                "handoff route parts must be non-empty without NUL: {platform:?}/{chat:?}/{id:?}"
            )));
        }
        k.extend_from_slice(part.as_bytes());
        k.push(0);
    }
    Ok(k)
}

fn routes_of(loc: &StaffLocation) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut out = Vec::new();
    if let Some(t) = &loc.thread {
        out.push(route_key(&loc.platform, &loc.chat, RouteKind::Thread, t)?);
    }
    if let Some(m) = &loc.message {
        out.push(route_key(&loc.platform, &loc.chat, RouteKind::Message, m)?);
    }
    Ok(out)
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        tree,
        message: e.to_string(),
    }
}

fn be64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

impl Store {
    fn handoff_tree(&self, name: &str) -> Result<sled::Tree, StorageError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Records where ticket `number` lives on the staff side, with its reverse routes,
    /// atomically and durably. Replaces (and unroutes) an earlier location.
    pub fn set_staff_location(
        &self,
        number: u64,
        location: &StaffLocation,
    ) -> Result<(), StorageError> {
        let (locations, routes) = (self.handoff_tree(LOCATIONS)?, self.handoff_tree(ROUTES)?);
        let old = match self.staff_location(number)? {
            Some(old) => routes_of(&old)?,
            None => Vec::new(),
        };
        let new = routes_of(location)?;
        let value = serde_json::to_vec(location)?;
        (&locations, &routes)
            .transaction(|(locations, routes)| {
                for k in &old {
                    routes.remove(k.as_slice())?;
                }
                for k in &new {
                    routes.insert(k.as_slice(), &number.to_be_bytes())?;
                }
                locations.insert(&number.to_be_bytes(), value.as_slice())?;
                Ok::<(), ConflictableTransactionError<AlreadyHandled>>(())
            })
            .map_err(transaction_error)?;
        self.sync()
    }

    /// Where ticket `number` lives on the staff side, once known.
    pub fn staff_location(&self, number: u64) -> Result<Option<StaffLocation>, StorageError> {
        match self.handoff_tree(LOCATIONS)?.get(number.to_be_bytes())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt("handoff_locations", e)),
        }
    }

    /// The ticket whose staff thread (or ticket message) is `id` in `chat` on `platform`.
    pub fn ticket_at_staff(
        &self,
        platform: &str,
        chat: &str,
        kind: RouteKind,
        id: &str,
    ) -> Result<Option<u64>, StorageError> {
        let key = route_key(platform, chat, kind, id)?;
        match self.handoff_tree(ROUTES)?.get(key)? {
            None => Ok(None),
            Some(v) => be64(&v)
                .map(Some)
                .ok_or_else(|| corrupt("handoff_routes", "ticket number is not 8 bytes")),
        }
    }

    /// Open tickets that have no staff location yet (their thread still has to be opened,
    /// e.g. after a crash between the turn and the platform's answer), oldest first.
    pub fn open_tickets_without_staff_location(&self) -> Result<Vec<u64>, StorageError> {
        let locations = self.handoff_tree(LOCATIONS)?;
        let mut out = Vec::new();
        for item in self.open_tickets.iter().keys() {
            let k = item?;
            if !locations.contains_key(&k)?
                && let Some(n) = be64(&k)
            {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Appends an event to ticket `number`'s history, durably.
    pub fn add_ticket_event(&self, number: u64, event: &TicketEvent) -> Result<(), StorageError> {
        let mut k = number.to_be_bytes().to_vec();
        k.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.handoff_tree(EVENTS)?
            .insert(k, serde_json::to_vec(event)?)?;
        self.sync()
    }

    /// Ticket `number`'s history, oldest first.
    pub fn ticket_events(&self, number: u64) -> Result<Vec<TicketEvent>, StorageError> {
        let mut out = Vec::new();
        for item in self.handoff_tree(EVENTS)?.scan_prefix(number.to_be_bytes()) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt("handoff_events", e))?);
        }
        Ok(out)
    }

    /// Who holds ticket `number`: the last claim not followed by a close or reopen.
    pub fn ticket_claimed_by(&self, number: u64) -> Result<Option<String>, StorageError> {
        let mut holder = None;
        for e in self.ticket_events(number)? {
            match e.kind {
                TicketEventKind::Claimed => holder = Some(e.by),
                TicketEventKind::Closed | TicketEventKind::Reopened => holder = None,
                _ => {}
            }
        }
        Ok(holder)
    }

    /// Blocks `user`: handoff relays nothing from them until unblocked. Durable.
    pub fn block_user(&self, user: &ConvKey, record: &BlockRecord) -> Result<(), StorageError> {
        self.handoff_tree(BLOCKED)?
            .insert(user.encode()?, serde_json::to_vec(record)?)?;
        self.sync()
    }

    /// Unblocks `user`; returns whether they were blocked. Durable.
    pub fn unblock_user(&self, user: &ConvKey) -> Result<bool, StorageError> {
        let was = self
            .handoff_tree(BLOCKED)?
            .remove(user.encode()?)?
            .is_some();
        self.sync()?;
        Ok(was)
    }

    /// Why `user` is blocked, if they are.
    pub fn user_block(&self, user: &ConvKey) -> Result<Option<BlockRecord>, StorageError> {
        match self.handoff_tree(BLOCKED)?.get(user.encode()?)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt("handoff_blocked", e)),
        }
    }
}

impl Store {
    /// The transcript sequence number up to which ticket `number`'s user lines were relayed
    /// to staff.
    pub fn relay_cursor(&self, number: u64) -> Result<Option<u64>, StorageError> {
        match self.handoff_tree(CURSORS)?.get(number.to_be_bytes())? {
            None => Ok(None),
            Some(v) => be64(&v)
                .map(Some)
                .ok_or_else(|| corrupt("handoff_cursors", "cursor is not 8 bytes")),
        }
    }

    /// Records that ticket `number`'s transcript was relayed up to `seq`, durably.
    pub fn set_relay_cursor(&self, number: u64, seq: u64) -> Result<(), StorageError> {
        self.handoff_tree(CURSORS)?
            .insert(number.to_be_bytes(), &seq.to_be_bytes())?;
        self.sync()
    }

    /// The conversation's transcript lines after sequence number `after` (all when `None`),
    /// oldest first, with their sequence numbers.
    pub fn transcript_after(
        &self,
        key: &ConvKey,
        after: Option<u64>,
    ) -> Result<Vec<(u64, TranscriptEntry)>, StorageError> {
        let prefix = key.encode()?;
        let start = match after {
            Some(seq) => match seq.checked_add(1) {
                Some(next) => crate::keys::transcript_key(&prefix, next),
                None => return Ok(Vec::new()),
            },
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.transcripts.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let seq = be64(&k[prefix.len()..])
                .ok_or_else(|| corrupt("transcripts", "key without an 8-byte sequence"))?;
            out.push((
                seq,
                serde_json::from_slice(&v).map_err(|e| corrupt("transcripts", e))?,
            ));
        }
        Ok(out)
    }

    /// Appends lines to a conversation's transcript (what staff said), durably.
    pub fn append_transcript(
        &self,
        key: &ConvKey,
        lines: &[TranscriptEntry],
    ) -> Result<(), StorageError> {
        let prefix = key.encode()?;
        let mut batch = sled::Batch::default();
        for line in lines {
            let seq = self.db.generate_id()?;
            batch.insert(
                crate::keys::transcript_key(&prefix, seq),
                serde_json::to_vec(line)?,
            );
        }
        self.transcripts.apply_batch(batch)?;
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Platform;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn loc(thread: Option<&str>, message: Option<&str>) -> StaffLocation {
        StaffLocation {
            platform: "discord".into(),
            chat: "10".into(),
            thread: thread.map(str::to_string),
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn locations_route_both_ways_and_survive_a_reopen_of_the_store() {
        let (dir, store) = store();
        store
            .set_staff_location(7, &loc(Some("700"), Some("701")))
            .unwrap();
        assert_eq!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Thread, "700")
                .unwrap(),
            Some(7)
        );
        assert_eq!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Message, "701")
                .unwrap(),
            Some(7)
        );
        // Another chat, platform or kind does not match.
        assert_eq!(
            store
                .ticket_at_staff("discord", "11", RouteKind::Thread, "700")
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .ticket_at_staff("telegram", "10", RouteKind::Thread, "700")
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Message, "700")
                .unwrap(),
            None
        );
        // Replacing the location unroutes the old ids.
        store
            .set_staff_location(7, &loc(Some("800"), None))
            .unwrap();
        assert_eq!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Thread, "700")
                .unwrap(),
            None
        );
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.staff_location(7).unwrap(),
            Some(loc(Some("800"), None))
        );
        assert_eq!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Thread, "800")
                .unwrap(),
            Some(7)
        );
        assert!(
            store
                .ticket_at_staff("discord", "10", RouteKind::Thread, "a\0b")
                .is_err()
        );
    }

    #[test]
    fn events_keep_order_and_give_the_holder() {
        let (_dir, store) = store();
        let ev = |kind, by: &str| TicketEvent {
            at_ms: 1,
            kind,
            by: by.into(),
            note: None,
        };
        assert_eq!(store.ticket_claimed_by(3).unwrap(), None);
        store
            .add_ticket_event(3, &ev(TicketEventKind::Claimed, "ann"))
            .unwrap();
        store
            .add_ticket_event(4, &ev(TicketEventKind::Claimed, "bob"))
            .unwrap();
        store
            .add_ticket_event(3, &ev(TicketEventKind::Note, "bob"))
            .unwrap();
        assert_eq!(store.ticket_claimed_by(3).unwrap().as_deref(), Some("ann"));
        store
            .add_ticket_event(3, &ev(TicketEventKind::Closed, "bob"))
            .unwrap();
        assert_eq!(store.ticket_claimed_by(3).unwrap(), None);
        let kinds: Vec<_> = store
            .ticket_events(3)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                TicketEventKind::Claimed,
                TicketEventKind::Note,
                TicketEventKind::Closed
            ]
        );
        assert_eq!(store.ticket_events(4).unwrap().len(), 1);
    }

    #[test]
    fn transcript_after_a_cursor() {
        let (_dir, store) = store();
        let key = ConvKey::new(Platform::Telegram, "1");
        let other = ConvKey::new(Platform::Telegram, "10");
        let line = |t: &str| TranscriptEntry::new(1, crate::Speaker::User, t);
        store
            .append_transcript(&key, &[line("a"), line("b")])
            .unwrap();
        store.append_transcript(&other, &[line("x")]).unwrap();
        store.append_transcript(&key, &[line("c")]).unwrap();
        let all = store.transcript_after(&key, None).unwrap();
        let texts: Vec<_> = all.iter().map(|(_, l)| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        let rest = store.transcript_after(&key, Some(all[0].0)).unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].1.text, "b");
        assert!(
            store
                .transcript_after(&key, Some(u64::MAX))
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.relay_cursor(4).unwrap(), None);
        store.set_relay_cursor(4, all[1].0).unwrap();
        assert_eq!(store.relay_cursor(4).unwrap(), Some(all[1].0));
    }

    #[test]
    fn block_list() {
        let (_dir, store) = store();
        let user = ConvKey::new(Platform::Telegram, "42");
        assert_eq!(store.user_block(&user).unwrap(), None);
        let rec = BlockRecord {
            at_ms: 5,
            by: "ann".into(),
            ticket: Some(1),
        };
        store.block_user(&user, &rec).unwrap();
        assert_eq!(store.user_block(&user).unwrap(), Some(rec));
        assert_eq!(
            store
                .user_block(&ConvKey::new(Platform::Discord, "42"))
                .unwrap(),
            None
        );
        assert!(store.unblock_user(&user).unwrap());
        assert!(!store.unblock_user(&user).unwrap());
        assert_eq!(store.user_block(&user).unwrap(), None);
    }
}

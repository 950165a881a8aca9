//! Privacy: deleting everything stored about one user at their request
//! ([`Store::forget_user`]), and purging transcripts older than the retention period
//! ([`Store::purge_transcripts_before`]).
//!
//! What `forget_user` removes, in one transaction: the conversation's state, every line of its
//! transcript, the user's block record (unless kept, see its doc), and the personal data in
//! their tickets: display name, transcript, the answers they gave to guide steps, the user id
//! in the ticket's conversation key, and staff notes in the tickets' history. What stays, for
//! statistics: ticket numbers, platform, intent and confidence, status, open/close times and
//! the rating. An open ticket is closed first (and a `closed` event by `user` records why).
//! Channel marks the caller names (a channel's per-user values, such as the Discord DM channel
//! remembered for a user) are removed too. Not touched: channel delivery bookkeeping (replies
//! still queued for the user, updates not handled yet), which only lives until delivered; and
//! staff-side copies (messages already posted in a Discord thread or a Telegram staff group),
//! which the bot cannot recall.

use serde::Deserialize;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::channel::{AlreadyHandled, ChannelWrite};
use crate::handoff::{BLOCKED, EVENTS, TicketEvent, TicketEventKind};
use crate::records::DELETED;
use crate::store::{Store, decode_ticket, transaction_error};
use crate::{ConvKey, StorageError, Ticket, TicketStatus};

/// What [`Store::forget_user`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetSummary {
    /// Whether a conversation state was deleted.
    pub state: bool,
    /// Transcript lines deleted.
    pub transcript_lines: usize,
    /// Tickets whose personal data was deleted, by number.
    pub tickets: Vec<u64>,
    /// Of those, the tickets that were open and were closed.
    pub closed: Vec<u64>,
    /// Whether a block record was deleted.
    pub block: bool,
}

/// What [`Store::purge_transcripts_before`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeSummary {
    /// Transcript lines deleted.
    pub lines: usize,
    /// Closed tickets whose copy of the transcript lost lines.
    pub tickets: usize,
}

impl std::fmt::Display for PurgeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} transcript lines, transcripts of {} closed tickets",
            self.lines, self.tickets
        )
    }
}

/// The note that replaces staff notes in a forgotten ticket's history.
const CLOSED_BY_FORGET: &str = "closed because the user deleted their data";

/// Transcript lines removed per batch while purging, to bound memory on a large database.
const PURGE_BATCH: usize = 1_000;

/// Removes the personal data from `ticket`, closing it at `now_ms` if open.
fn scrub(ticket: &mut Ticket, now_ms: u64) {
    ticket.display_name = None;
    ticket.conversation.user = DELETED.to_string();
    ticket.transcript.clear();
    for step in &mut ticket.steps_tried {
        // The step's own text is the catalog's; the answer is the user's.
        step.answer = DELETED.to_string();
    }
    if ticket.status == TicketStatus::Open {
        ticket.status = TicketStatus::Closed;
        ticket.closed_at_ms = Some(now_ms);
    }
    ticket.forgotten = true;
}

impl Store {
    /// Deletes everything stored about the user of conversation `key` (see the module doc for
    /// exactly what), atomically and durably, together with `channel` (the turn's channel
    /// bookkeeping: the update that asked, the confirmation to send). Refused with
    /// [`StorageError::AlreadyHandled`], deleting nothing, when that update was handled before.
    ///
    /// `keep_block` keeps the user's block record (the one thing a blocked user could
    /// otherwise shed by asking to be forgotten). `marks` are channel marks (channel, name) that
    /// hold something about this user; they are removed after `channel` is applied. Callers
    /// serialise this with the user's turns (the desk holds the user's lock), so no ticket of
    /// theirs opens meanwhile.
    pub fn forget_user(
        &self,
        key: &ConvKey,
        now_ms: u64,
        keep_block: bool,
        channel: Option<&ChannelWrite>,
        marks: &[(String, String)],
    ) -> Result<ForgetSummary, StorageError> {
        let k = key.encode()?;
        let mut mark_keys = Vec::with_capacity(marks.len());
        for (channel, name) in marks {
            mark_keys.push(crate::channel::mark_key(channel, name)?);
        }
        let events_tree = self.db.open_tree(EVENTS)?;
        let blocked_tree = self.db.open_tree(BLOCKED)?;
        let mut summary = ForgetSummary {
            state: self.conversations.contains_key(&k)?,
            block: !keep_block && blocked_tree.contains_key(&k)?,
            ..ForgetSummary::default()
        };
        let mut lines = Vec::new();
        for item in self.transcripts.scan_prefix(&k).keys() {
            lines.push(item?);
        }
        summary.transcript_lines = lines.len();
        let mut tickets = Vec::new();
        let mut events = Vec::new();
        for item in self.tickets.iter() {
            let (number_key, value) = item?;
            let mut ticket = decode_ticket(&value)?;
            if ticket.conversation != *key {
                continue;
            }
            let was_open = ticket.status == TicketStatus::Open;
            scrub(&mut ticket, now_ms);
            for event in events_tree.scan_prefix(&number_key) {
                let (event_key, value) = event?;
                let mut e: TicketEvent =
                    serde_json::from_slice(&value).map_err(|e| StorageError::Corrupt {
                        tree: "handoff_events",
                        message: e.to_string(),
                    })?;
                if e.note.is_some() && e.kind != TicketEventKind::Rated {
                    e.note = Some(DELETED.to_string());
                    events.push((event_key.to_vec(), serde_json::to_vec(&e)?));
                }
            }
            if was_open {
                let mut event_key = number_key.to_vec();
                event_key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
                let e = TicketEvent {
                    at_ms: now_ms,
                    kind: TicketEventKind::Closed,
                    by: "user".to_string(),
                    note: Some(CLOSED_BY_FORGET.to_string()),
                };
                events.push((event_key, serde_json::to_vec(&e)?));
                summary.closed.push(ticket.number);
            }
            summary.tickets.push(ticket.number);
            tickets.push((number_key, serde_json::to_vec(&ticket)?));
        }
        let channel = match channel {
            Some(w) => Some(self.prepare_channel_write(w)?),
            None => None,
        };
        // Held across the transaction so the open-ticket mirror stays equal to the tree.
        let mut index = crate::batch::lock(&self.open_index);
        (
            &self.conversations,
            &self.transcripts,
            &self.tickets,
            &self.open_tickets,
            &events_tree,
            &blocked_tree,
            &self.inbox,
            &self.outbox,
            &self.channel_marks,
        )
            .transaction(
                |(conv, trans, tick, open, events_t, blocked, inbox, outbox, marks)| {
                    if let Some(p) = &channel {
                        Self::apply_channel_write(p, inbox, outbox, marks)?;
                    }
                    conv.remove(k.as_slice())?;
                    for line in &lines {
                        trans.remove(line)?;
                    }
                    for (number, value) in &tickets {
                        tick.insert(number, value.as_slice())?;
                        open.remove(number)?;
                    }
                    for (event_key, value) in &events {
                        events_t.insert(event_key.as_slice(), value.as_slice())?;
                    }
                    if !keep_block {
                        blocked.remove(k.as_slice())?;
                    }
                    for mark in &mark_keys {
                        marks.remove(mark.as_slice())?;
                    }
                    Ok::<(), ConflictableTransactionError<AlreadyHandled>>(())
                },
            )
            .map_err(transaction_error)?;
        if let Some(queue) = index.as_mut() {
            for number in &summary.tickets {
                queue.close(*number);
            }
        }
        drop(index);
        // Staff lines are appended without the user's lock (the handoff relay); one written
        // between the scan and the transaction is caught here.
        let mut late = sled::Batch::default();
        for item in self.transcripts.scan_prefix(&k).keys() {
            late.remove(item?);
            summary.transcript_lines += 1;
        }
        self.transcripts.apply_batch(late)?;
        self.sync()?;
        Ok(summary)
    }

    /// Deletes every transcript line older than `cutoff_ms` (Unix ms), and those lines from the
    /// copies of the transcript kept in closed tickets (open tickets keep theirs: staff still
    /// work on them). Durable when it returns. Conversation state and ticket records stay.
    /// Safe to run while the bot serves users: it only removes old lines, in batches.
    pub fn purge_transcripts_before(&self, cutoff_ms: u64) -> Result<PurgeSummary, StorageError> {
        #[derive(Deserialize)]
        struct At {
            at_ms: u64,
        }
        let mut summary = PurgeSummary::default();
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in self.transcripts.iter() {
            let (key, value) = item?;
            let at: At = serde_json::from_slice(&value).map_err(|e| StorageError::Corrupt {
                tree: "transcripts",
                message: e.to_string(),
            })?;
            if at.at_ms < cutoff_ms {
                batch.remove(key);
                in_batch += 1;
                summary.lines += 1;
                if in_batch == PURGE_BATCH {
                    self.transcripts.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
        }
        self.transcripts.apply_batch(batch)?;
        for item in self.tickets.iter() {
            let (key, value) = item?;
            let mut ticket = decode_ticket(&value)?;
            if ticket.status != TicketStatus::Closed
                || !ticket.transcript.iter().any(|l| l.at_ms < cutoff_ms)
            {
                continue;
            }
            ticket.transcript.retain(|l| l.at_ms >= cutoff_ms);
            let new = serde_json::to_vec(&ticket)?;
            // A ticket changed meanwhile (reopened, rated) is left for the next run.
            if self
                .tickets
                .compare_and_swap(&key, Some(value), Some(new))?
                .is_ok()
            {
                summary.tickets += 1;
            }
        }
        self.sync()?;
        Ok(summary)
    }
}

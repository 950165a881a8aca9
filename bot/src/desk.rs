//! The turn runner: engine decision, durable storage, then the reply. Every channel goes
//! through [`Desk::handle`], so they all share one behaviour and one state model.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use deskbot_engine::dialogue::{Conversation, Engine, Input, IntentGuess, Outcome, Reply};
use deskbot_storage::{
    ChannelWrite, ConvKey, Speaker, StepTried, StorageError, Store, Ticket, TicketStatus,
    TranscriptEntry, TurnWrite,
};

/// How many characters of a user's message are kept in the transcript. Messages are cut,
/// never dropped: staff see that something long was sent.
pub const TRANSCRIPT_CHARS: usize = 4_000;

/// Lock stripes serialising turns of the same user. Turns of users in different stripes run
/// in parallel; a fixed array (rather than a map of per-user locks) keeps memory bounded.
const STRIPES: usize = 64;

/// What one turn produced.
#[derive(Debug, Clone)]
pub struct TurnResult {
    /// What to send the user.
    pub reply: Reply,
    /// The conversation's state after the turn (already durable).
    pub conversation: Conversation,
    /// The intent the user's text was classified as, if any.
    pub intent: Option<IntentGuess>,
    /// The ticket opened by this turn, if any.
    pub opened_ticket: Option<u64>,
    /// What the turn did, for metrics.
    pub outcome: Outcome,
}

/// The engine plus the store: runs turns for every channel.
#[derive(Clone)]
pub struct Desk {
    engine: Arc<Engine>,
    store: Store,
    stripes: Arc<[Mutex<()>; STRIPES]>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("store", &self.store.path())
            .finish()
    }
}

impl Desk {
    /// Opens the store in `data_dir` and serves `engine`.
    pub fn open(engine: Arc<Engine>, data_dir: &Path) -> Result<Self, StorageError> {
        Ok(Self::new(engine, Store::open(data_dir)?))
    }

    /// Serves `engine` with an already open store.
    pub fn new(engine: Arc<Engine>, store: Store) -> Self {
        Self {
            engine,
            store,
            stripes: Arc::new(std::array::from_fn(|_| Mutex::new(()))),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current state of a conversation (the default for a new one).
    pub fn conversation(&self, key: &ConvKey) -> Result<Conversation, StorageError> {
        Ok(self.store.conversation(key)?.unwrap_or_default())
    }

    /// Runs one turn: loads the state, lets the engine decide, opens a ticket when the engine
    /// escalates, and commits state, transcript and ticket atomically and durably before
    /// returning the reply.
    pub fn handle(
        &self,
        key: &ConvKey,
        display_name: Option<&str>,
        input: &Input,
    ) -> Result<TurnResult, StorageError> {
        self.handle_with(key, display_name, input, |_| None)
    }

    /// Like [`Desk::handle`], for channels that deliver replies later: `channel` turns the
    /// final reply into channel bookkeeping ([`ChannelWrite`]: the platform update this turn
    /// consumes, the replies to queue) that is committed atomically with the turn. Fails with
    /// [`StorageError::AlreadyHandled`], changing nothing, when that update was handled before.
    pub fn handle_with(
        &self,
        key: &ConvKey,
        display_name: Option<&str>,
        input: &Input,
        channel: impl FnOnce(&Reply) -> Option<ChannelWrite>,
    ) -> Result<TurnResult, StorageError> {
        let started = std::time::Instant::now();
        let _guard = self.lock(key);
        let conv = self.conversation(key)?;
        let turn = self.engine.turn(&conv, input);
        let mut state = turn.conversation;
        let mut reply = turn.reply;
        let now = now_ms();
        let user_line = TranscriptEntry {
            at_ms: now,
            speaker: Speaker::User,
            text: cut(&turn.user_text, TRANSCRIPT_CHARS),
        };
        let mut tickets = Vec::new();
        let mut opened_ticket = None;
        if let Some(esc) = &turn.escalation {
            let number = self.store.next_ticket_number()?;
            let position = self.store.queue_position(number)?;
            let mut transcript = self.store.transcript_for_ticket(key)?;
            transcript.push(user_line.clone());
            tickets.push(Ticket {
                number,
                conversation: key.clone(),
                display_name: display_name.map(str::to_string),
                intent: esc.intent.as_ref().map(|g| g.id.clone()),
                confidence: esc.intent.as_ref().map(|g| g.confidence),
                steps_tried: esc
                    .steps_tried
                    .iter()
                    .map(|s| StepTried {
                        guide: s.guide.clone(),
                        step: s.step,
                        text: s.text.clone(),
                        answer: s.answer.clone(),
                    })
                    .collect(),
                transcript,
                status: TicketStatus::Open,
                opened_at_ms: now,
                closed_at_ms: None,
            });
            reply = self.engine.ticket_opened(&mut state, number, position);
            opened_ticket = Some(number);
        }
        let bot_line = TranscriptEntry {
            at_ms: now,
            speaker: Speaker::Bot,
            text: reply.text.clone(),
        };
        let channel_write = channel(&reply);
        self.store.commit_turn(&TurnWrite {
            key,
            state: &state,
            transcript: &[user_line, bot_line],
            tickets: &tickets,
            channel: channel_write.as_ref(),
        })?;
        let result = TurnResult {
            reply,
            conversation: state,
            intent: turn.intent,
            opened_ticket,
            outcome: turn.outcome,
        };
        crate::metrics::global().record_turn(&key.channel, &result, started.elapsed());
        Ok(result)
    }

    /// Closes ticket `number` (staff or an operator did), returns the conversation it belonged
    /// to and what to tell its user; `None` when there is no such open ticket.
    pub fn close_ticket(&self, number: u64) -> Result<Option<(ConvKey, Reply)>, StorageError> {
        let Some(mut ticket) = self.store.ticket(number)? else {
            return Ok(None);
        };
        if ticket.status != TicketStatus::Open {
            return Ok(None);
        }
        let key = ticket.conversation.clone();
        let _guard = self.lock(&key);
        let mut conv = self.conversation(&key)?;
        let reply = if conv.ticket() == Some(number) {
            self.engine.ticket_closed(&mut conv, number)
        } else {
            Reply::text(format!("Ticket #{number} has been closed."))
        };
        let now = now_ms();
        ticket.status = TicketStatus::Closed;
        ticket.closed_at_ms = Some(now);
        self.commit_ticket_change(&key, &conv, ticket, &reply, now)?;
        Ok(Some((key, reply)))
    }

    /// Reopens closed ticket `number` (staff did): the ticket is open again and, unless its
    /// user is in another ticket now, their conversation is back with staff. Returns the
    /// conversation and what to tell its user; `None` when there is no such closed ticket.
    pub fn reopen_ticket(&self, number: u64) -> Result<Option<(ConvKey, Reply)>, StorageError> {
        let Some(mut ticket) = self.store.ticket(number)? else {
            return Ok(None);
        };
        if ticket.status != TicketStatus::Closed {
            return Ok(None);
        }
        let key = ticket.conversation.clone();
        let _guard = self.lock(&key);
        let mut conv = self.conversation(&key)?;
        let reply = if conv.ticket().is_none() {
            let position = self.store.queue_position(number)?;
            self.engine.ticket_opened(&mut conv, number, position)
        } else {
            Reply::text(format!("Ticket #{number} has been reopened."))
        };
        let now = now_ms();
        ticket.status = TicketStatus::Open;
        ticket.closed_at_ms = None;
        self.commit_ticket_change(&key, &conv, ticket, &reply, now)?;
        Ok(Some((key, reply)))
    }

    /// Commits a staff-side change of a ticket together with the conversation state it implies
    /// and the bot line that tells the user.
    fn commit_ticket_change(
        &self,
        key: &ConvKey,
        conv: &Conversation,
        ticket: Ticket,
        reply: &Reply,
        now: u64,
    ) -> Result<(), StorageError> {
        self.store.commit_turn(&TurnWrite {
            key,
            state: conv,
            transcript: &[TranscriptEntry {
                at_ms: now,
                speaker: Speaker::Bot,
                text: reply.text.clone(),
            }],
            tickets: &[ticket],
            channel: None,
        })
    }

    fn lock(&self, key: &ConvKey) -> std::sync::MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let stripe = &self.stripes[(h.finish() as usize) % STRIPES];
        // A panic while holding the lock cannot leave the () inside inconsistent.
        stripe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The first `max` characters of `s`, with an ellipsis when it was cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

//! The turn runner: engine decision, durable storage, then the reply. Every channel goes
//! through [`Desk::handle`], so they all share one behaviour and one state model.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use deskbot_engine::dialogue::{
    ActGuess, Conversation, Engine, Input, IntentGuess, Outcome, Rating, Reply, TurnContext,
};
use deskbot_storage::{
    ConvKey, Speaker, StepTried, StorageError, Store, Ticket, TicketStatus, TranscriptEntry,
    TurnWrite,
};

use crate::flood::{FloodGuard, FloodLimits, Verdict};
use crate::metrics::Metrics;
use crate::outbox::Delivery;

/// How many characters of a user's message are kept in the transcript. Messages are cut,
/// never dropped: staff see that something long was sent.
pub const TRANSCRIPT_CHARS: usize = deskbot_engine::dialogue::MAX_KEPT_CHARS;

/// Lock stripes serialising turns of the same user. Turns of users in different stripes run
/// in parallel; a fixed array (rather than a map of per-user locks) keeps memory bounded. A
/// stripe is held for the whole turn, including the wait for its commit to be flushed, so
/// there are many: with 64, 48 concurrent turns nearly always had two on one stripe, one
/// waiting out the other's flush (the load bench went from ~4 400 to ~5 600 turns/s).
const STRIPES: usize = 4096;

/// Whether `/forget` keeps the user's block record. It does: otherwise a user blocked by staff
/// could shed the block by asking to be forgotten. The record holds only the user's platform
/// id, when and by whom they were blocked and the ticket number (abuse prevention is a
/// legitimate reason to keep it); everything else of theirs is deleted. Staff's `unblock`
/// removes it.
pub const FORGET_KEEPS_BLOCK: bool = true;

pub use crate::clock::Clock;

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
    /// What the user's message did as an answer (it worked, it didn't, a question…), if the
    /// engine read it as one.
    pub act: Option<ActGuess>,
    /// True when the conversation's open ticket is a priority (high-risk) one.
    pub priority: bool,
}

/// One turn to run ([`Desk::turn`]): who wrote what, when, and what the channel needs
/// committed with it.
#[derive(Debug, Clone)]
pub struct TurnRequest<'a> {
    /// The conversation.
    pub key: &'a ConvKey,
    /// The user's name as the platform shows it (kept with a ticket for staff).
    pub display_name: Option<&'a str>,
    /// What they wrote or pressed.
    pub input: &'a Input,
    /// When the platform says the message was sent (Unix ms): flood control counts messages
    /// by that time, so a backlog handled at once after a restart is not taken for a flood.
    /// A time in the future counts as now.
    pub sent_ms: Option<u64>,
    /// The update consumed and where the reply goes; `None` when the caller shows the reply
    /// itself (the console).
    pub delivery: Option<Delivery>,
    /// The user's language as the platform reports it (Telegram's `language_code`, Discord's
    /// `locale`): a new conversation starts in it when the catalog speaks it.
    pub locale: Option<&'a str>,
}

impl<'a> TurnRequest<'a> {
    /// A turn of `key` reading `input`, sent now, with nothing queued.
    pub fn new(key: &'a ConvKey, input: &'a Input) -> Self {
        Self {
            key,
            display_name: None,
            input,
            sent_ms: None,
            delivery: None,
            locale: None,
        }
    }

    /// With the user's display name.
    #[must_use]
    pub fn name(mut self, display_name: Option<&'a str>) -> Self {
        self.display_name = display_name;
        self
    }

    /// Sent at `sent_ms` (Unix ms), by the platform's clock.
    #[must_use]
    pub fn sent_at(mut self, sent_ms: Option<u64>) -> Self {
        self.sent_ms = sent_ms;
        self
    }

    /// With the user's language as the platform reports it ("pt-BR", "ru").
    #[must_use]
    pub fn locale(mut self, locale: Option<&'a str>) -> Self {
        self.locale = locale;
        self
    }

    /// Queues the reply (and the rest of `delivery`) with the turn.
    #[must_use]
    pub fn deliver(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(delivery);
        self
    }
}

/// The engine plus the store: runs turns for every channel.
#[derive(Clone)]
pub struct Desk {
    engine: Arc<Engine>,
    store: Store,
    stripes: Arc<[Mutex<()>]>,
    clock: Clock,
    flood: Option<Arc<FloodGuard>>,
    metrics: Arc<Metrics>,
    decisions: bool,
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
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            clock: crate::clock::system(),
            flood: None,
            metrics: Arc::new(Metrics::new()),
            decisions: true,
        }
    }

    /// Uses `clock` for the time (transcript lines, ticket times, flood control).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Counts into `metrics` (shared with whoever else holds them, such as `/metrics`) instead
    /// of the fresh registry [`Desk::new`] makes.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Turns flood control on with `limits` (`None`: off, the default). `deskbot run` turns it
    /// on from `[flood]`; `deskbot chat` (the console, scripted by the kill test) leaves it off.
    #[must_use]
    pub fn with_flood(mut self, limits: Option<FloodLimits>) -> Self {
        self.flood = limits.map(|l| Arc::new(FloodGuard::new(l)));
        self
    }

    /// Whether turns store their decision record on the user's transcript line (on by
    /// default: reports and the review of misunderstood messages read them). The load bench
    /// turns it off to measure what the records cost in the same run.
    #[must_use]
    pub fn with_decision_records(mut self, on: bool) -> Self {
        self.decisions = on;
        self
    }

    /// The current time by the desk's clock, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The current time by the desk's clock, in Unix seconds.
    pub fn now_secs(&self) -> i64 {
        crate::clock::secs(self.now_ms())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The metrics this desk and everything serving it count into (served by `/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The current state of a conversation (the default for a new one).
    /// What the user of `key` sees of a staff message, in the user's language: "Support
    /// (name): …", or "Support: …" when staff are anonymous or the name is empty.
    pub fn staff_message_for(
        &self,
        key: &ConvKey,
        staff_name: &str,
        anonymous: bool,
        text: &str,
    ) -> Result<String, StorageError> {
        let conv = self.conversation(key)?;
        let name = staff_name.trim();
        let text = text.trim();
        Ok(if anonymous || name.is_empty() {
            self.engine.say(&conv, "support_says", &[("text", &text)])
        } else {
            self.engine.say(
                &conv,
                "support_named_says",
                &[("name", &name), ("text", &text)],
            )
        })
    }

    /// The language the user of `key` is spoken to in, for staff: "Russian (ru)".
    pub fn language_label(&self, key: &ConvKey) -> Result<String, StorageError> {
        let conv = self.conversation(key)?;
        let catalog = self.engine.catalog();
        let language = conv
            .language
            .as_deref()
            .and_then(|c| catalog.language(c))
            .unwrap_or_else(|| catalog.english());
        Ok(format!("{} ({})", language.english_name, language.code))
    }

    /// The stored state of conversation `key` (a new one when there is none).
    pub fn conversation(&self, key: &ConvKey) -> Result<Conversation, StorageError> {
        Ok(self.store.conversation(key)?.unwrap_or_default())
    }

    /// Runs one turn with no delivery (the console, tests): [`Desk::turn`] of a plain
    /// [`TurnRequest`].
    pub fn handle(
        &self,
        key: &ConvKey,
        display_name: Option<&str>,
        input: &Input,
    ) -> Result<TurnResult, StorageError> {
        self.turn(&TurnRequest::new(key, input).name(display_name))
    }

    /// Runs one turn: loads the state, lets the engine decide, opens a ticket when the engine
    /// escalates, and commits state, transcript, ticket and the request's
    /// [`Delivery`](crate::outbox::Delivery) (the platform update consumed, the reply queued in
    /// the outbox as an [`Envelope`](crate::outbox::Envelope) for the channel to render and
    /// send) atomically and durably before returning. Fails with
    /// [`StorageError::AlreadyHandled`], changing nothing, when the delivery's update was
    /// handled before.
    ///
    /// Under flood control a message may not reach the engine: the result then has outcome
    /// [`Outcome::Throttled`] (the reply asks to slow down) or [`Outcome::Ignored`] (the reply
    /// has no text and no buttons: nothing is queued unless the delivery asks for it). Either
    /// way the state and the transcript are unchanged and only the delivery is committed. When
    /// the user confirmed `/forget` (outcome [`Outcome::Forgotten`]), their data is deleted
    /// instead of a turn being stored ([`Store::forget_user`]).
    pub fn turn(&self, req: &TurnRequest<'_>) -> Result<TurnResult, StorageError> {
        let key = req.key;
        let started = std::time::Instant::now();
        let result = self
            .run_turn(req)
            .inspect_err(|e| self.metrics.turn_failed(key.platform.as_str(), e))?;
        self.metrics
            .record_turn(key.platform.as_str(), &result, started.elapsed());
        if matches!(result.outcome, Outcome::Throttled | Outcome::Ignored) {
            self.metrics.message_dropped(key.platform.as_str(), "flood");
        }
        Ok(result)
    }

    fn run_turn(&self, req: &TurnRequest<'_>) -> Result<TurnResult, StorageError> {
        let TurnRequest {
            key,
            display_name,
            input,
            sent_ms,
            delivery,
            locale,
        } = req;
        let (key, display_name, sent_ms) = (*key, *display_name, *sent_ms);
        let started = std::time::Instant::now();
        let channel = |reply: &Reply| delivery.as_ref().map(|d| d.write(reply));
        let _guard = self.lock(key);
        let now = self.now_ms();
        let mut conv = self.conversation(key)?;
        if let Some(locale) = locale {
            self.engine.seed_language(&mut conv, locale);
        }
        if let Some(flood) = &self.flood {
            let sent = sent_ms.map_or(now, |t| t.min(now));
            let (reply, outcome) = match flood.check(key, sent) {
                Verdict::Allow => (None, Outcome::None),
                Verdict::SlowDown => (
                    Some(
                        self.engine
                            .slow_down_reply(&conv, flood.limits().mute_ms.div_ceil(1_000)),
                    ),
                    Outcome::Throttled,
                ),
                Verdict::Ignore => (Some(Reply::default()), Outcome::Ignored),
            };
            if let Some(reply) = reply {
                if let Some(write) = channel(&reply) {
                    self.store.channel_commit(&write)?;
                }
                return Ok(TurnResult {
                    reply,
                    conversation: conv,
                    intent: None,
                    opened_ticket: None,
                    outcome,
                    act: None,
                    priority: false,
                });
            }
        }
        let ctx = TurnContext {
            now_secs: Some(sent_ms.map_or(now, |t| t.min(now)) / 1_000),
            queue_position: match conv.ticket() {
                Some(n) => Some(self.store.queue_position(n)?),
                None => None,
            },
        };
        let turn = self.engine.turn_with(&conv, input, &ctx);
        if turn.forget {
            let reply = turn.reply;
            let write = channel(&reply);
            self.store.forget_user(
                key,
                now,
                FORGET_KEEPS_BLOCK,
                write.as_ref(),
                &crate::marks::of_user(key),
            )?;
            return Ok(TurnResult {
                reply,
                conversation: turn.conversation,
                intent: None,
                opened_ticket: None,
                outcome: turn.outcome,
                act: None,
                priority: false,
            });
        }
        let mut decision = self
            .decisions
            .then(|| crate::decision::record(&conv, input, &turn));
        let mut state = turn.conversation;
        let mut reply = turn.reply;
        let mut user_line =
            TranscriptEntry::new(now, Speaker::User, cut(&turn.user_text, TRANSCRIPT_CHARS));
        let mut tickets = Vec::new();
        let mut opened_ticket = None;
        if let Some((number, rating)) = turn.rating
            && let Some(mut ticket) = self.store.ticket(number)?
            && ticket.conversation == *key
            && ticket.status == TicketStatus::Closed
        {
            ticket.rating = Some(match rating {
                Rating::Up => deskbot_storage::Rating::Up,
                Rating::Down => deskbot_storage::Rating::Down,
            });
            tickets.push(ticket);
        }
        if let Some(esc) = &turn.escalation {
            let number = self.store.next_ticket_number()?;
            let position = self.store.queue_position_as(number, esc.priority)?;
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
                rating: None,
                forgotten: false,
                priority: esc.priority,
            });
            reply = self.engine.ticket_opened(&mut state, number, position);
            opened_ticket = Some(number);
        }
        if let Some(mut decision) = decision.take() {
            decision.ticket = opened_ticket;
            decision.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            user_line.decision = Some(Box::new(decision));
        }
        let bot_line = TranscriptEntry::new(now, Speaker::Bot, reply.text.clone());
        let channel_write = channel(&reply);
        self.store.commit_turn(&TurnWrite {
            key,
            state: &state,
            transcript: &[user_line, bot_line],
            tickets: &tickets,
            channel: channel_write.as_ref(),
        })?;
        Ok(TurnResult {
            reply,
            conversation: state,
            intent: turn.intent,
            opened_ticket,
            outcome: turn.outcome,
            act: turn.act,
            priority: turn.priority,
        })
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
            Reply::text(
                self.engine
                    .say(&conv, "ticket_closed_other", &[("number", &number)]),
            )
        };
        let now = self.now_ms();
        ticket.status = TicketStatus::Closed;
        ticket.closed_at_ms = Some(now);
        self.commit_ticket_change(&key, &conv, ticket, &reply, now)?;
        Ok(Some((key, reply)))
    }

    /// Reopens closed ticket `number` (staff did): the ticket is open again and, unless its
    /// user is in another ticket now, their conversation is back with staff. Returns the
    /// conversation and what to tell its user; `None` when there is no such closed ticket, or
    /// when its user deleted their data (`/forget`: there is nobody to reopen it for).
    pub fn reopen_ticket(&self, number: u64) -> Result<Option<(ConvKey, Reply)>, StorageError> {
        let Some(mut ticket) = self.store.ticket(number)? else {
            return Ok(None);
        };
        if ticket.status != TicketStatus::Closed || ticket.forgotten {
            return Ok(None);
        }
        let key = ticket.conversation.clone();
        let _guard = self.lock(&key);
        let mut conv = self.conversation(&key)?;
        let reply = if conv.ticket().is_none() {
            let position = self.store.queue_position(number)?;
            self.engine.ticket_opened(&mut conv, number, position)
        } else {
            Reply::text(
                self.engine
                    .say(&conv, "ticket_reopened_other", &[("number", &number)]),
            )
        };
        let now = self.now_ms();
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
            transcript: &[TranscriptEntry::new(now, Speaker::Bot, reply.text.clone())],
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

/// The first `max` characters of `s`, with an ellipsis when it was cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

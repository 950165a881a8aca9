//! The relay between a ticket's user and its staff thread, independent of the platforms.
//!
//! A platform plugs in as a [`StaffSide`] (opens a ticket's thread, posts in it) and a
//! [`UserSide`] (sends a user a message). Everything the relay decides is derived from the
//! store, so a restart resumes where it stopped:
//!
//! - [`Relay::sweep`] opens a thread for every open ticket that has none yet, then relays the
//!   user's transcript lines written after the ticket opened, in order, advancing a durable
//!   cursor after each (a line is posted at least once; the nonce it is posted with, `t<ticket>.
//!   <seq>`, lets a platform with idempotent sends drop a repeat).
//! - [`Relay::staff_message`] handles what someone wrote in a ticket's thread: a staff command
//!   (claim, close, reopen, snippet, block, unblock) or a message for the user. Only staff may
//!   do either; anyone else is refused and nothing changes.
//! - A ticket's thread follows the ticket ([`super::lifecycle`]): archived or closed when the
//!   ticket closes, opened again on reopen before anything is posted in it; the sweep does
//!   what is queued. Idle tickets are warned and closed by [`super::idle`].

use std::future::Future;
use std::sync::Arc;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{
    BlockRecord, ChannelWrite, ConvKey, Speaker, StaffLocation, StorageError, Ticket, TicketEvent,
    TicketEventKind, TicketStatus, TranscriptEntry,
};
use thiserror::Error;

use super::lifecycle::{self, LeftOpen, ThreadChange, ThreadState};
use super::{StaffCommand, staff_ticket_text_in, user_message_for_staff};
use crate::desk::{Desk, TRANSCRIPT_CHARS, cut};
use crate::marks::{Mark, RELAY_SEEN};

/// What the relay needs of the `[handoff]` settings: how staff are named to users and the
/// canned replies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayConfig {
    /// Relay staff messages as "Support: …" instead of "Support (name): …".
    pub anonymous_staff: bool,
    /// Canned replies by name, sent with `snippet NAME`.
    pub snippets: std::collections::BTreeMap<String, String>,
}

impl RelayConfig {
    /// The snippet called `name` in language `language`: its variant `name.<code>` when
    /// there is one (`reset.ru`), else `name` itself.
    pub fn snippet_in(&self, name: &str, language: Option<&str>) -> Option<&str> {
        language
            .and_then(|code| self.snippet(&format!("{name}.{code}")))
            .or_else(|| self.snippet(name))
    }

    /// The snippet called `name` (names are matched case-insensitively).
    pub fn snippet(&self, name: &str) -> Option<&str> {
        self.snippets
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the relay tells someone who is not staff and writes in a ticket's thread.
pub const NOT_STAFF: &str =
    "Only support staff can answer tickets or use ticket commands here; nothing was changed.";

/// Why a relay step failed; the step is retried by the next sweep or message.
#[derive(Debug, Error)]
pub enum RelayError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A platform call failed or was refused after the channel's retries.
    #[error("{side}: {call} failed: {detail}")]
    Call {
        /// The platform side that made the call ("Telegram staff group", "Discord", …).
        side: &'static str,
        /// The platform's name of the call (`sendMessage`, `createMessage`, …).
        call: &'static str,
        /// The platform's answer (or why there was none) as the channel describes it; never
        /// holds a token.
        detail: String,
    },
    /// The platform did the call, but the part of its answer needed to go on could not be
    /// read (the call is not made again blindly; the relay retries the step).
    #[error("{side}: {call} was done but its answer could not be read")]
    UnreadableAnswer {
        /// The platform side that made the call.
        side: &'static str,
        /// The platform's name of the call.
        call: &'static str,
    },
    /// The user cannot be reached from this user side.
    #[error("cannot reach {user}: {why}")]
    Unreachable {
        /// The user.
        user: ConvKey,
        /// Why not.
        why: Unreachable,
    },
    /// The ticket's stored staff location cannot be used by this staff side.
    #[error("{side}: the ticket's thread on {at:?} cannot be used: {why}")]
    BadLocation {
        /// The staff side asked to use it.
        side: &'static str,
        /// The stored location's `platform:chat` (shown escaped: it comes from the store).
        at: String,
        /// What is wrong with it.
        why: BadLocation,
    },
    /// The relay's wiring has no staff side for the ticket.
    #[error(transparent)]
    NoStaffSide(#[from] NoStaffSide),
    /// There was nothing to send.
    #[error("nothing to send")]
    Empty,
    /// A storage task panicked or was cancelled.
    #[error("a storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl RelayError {
    /// [`RelayError::BadLocation`] for the stored location `at`.
    pub fn bad_location(side: &'static str, at: &StaffLocation, why: BadLocation) -> Self {
        Self::BadLocation {
            side,
            at: format!("{}:{}", at.platform, at.chat),
            why,
        }
    }
}

/// Why a user cannot be reached (see [`RelayError::Unreachable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Unreachable {
    /// The user is on a platform this side does not serve.
    #[error("they are on a platform this side does not serve")]
    OtherPlatform,
    /// Their id is not a valid user id of their platform.
    #[error("their id is not a valid user id of their platform")]
    BadId,
    /// No way to message them is known, and the platform is not connected to open one.
    #[error("no direct-message channel is known for them and the platform is not connected")]
    NotConnected,
}

/// What is wrong with a ticket's stored staff location (see [`RelayError::BadLocation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BadLocation {
    /// It is on another platform or in another chat than this staff side's.
    #[error("it is not in this staff side's chat")]
    OtherPlace,
    /// Its thread id is missing or not a valid id.
    #[error("its thread id is not stored")]
    NoThread,
    /// Its thread was deleted and no new one can be opened for it here.
    #[error("its thread is gone (deleted?) and cannot be replaced")]
    ThreadGone,
}

/// Which staff side the relay's wiring lacks (see [`RelayError::NoStaffSide`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoStaffSide {
    /// `[handoff]` names no staff side for tickets of users of this platform.
    #[error("no staff side is configured for {} users ([handoff])", .0.label())]
    ForUsersOf(deskbot_storage::Platform),
    /// The ticket is on this staff platform, whose staff side is not configured.
    #[error("the {0:?} staff side is not configured")]
    NotConfigured(String),
}

/// A staff platform: where ticket threads live.
pub trait StaffSide: Send + Sync {
    /// Opens ticket's thread with `first` as its first message (with Claim and Close
    /// buttons where the platform has them); returns where it lives.
    fn open(
        &self,
        ticket: &Ticket,
        first: &str,
    ) -> impl Future<Output = Result<StaffLocation, RelayError>> + Send;
    /// Posts `text` in a ticket's thread; `nonce` is unique per relayed item.
    fn post(
        &self,
        at: &StaffLocation,
        text: &str,
        nonce: &str,
    ) -> impl Future<Output = Result<(), RelayError>> + Send;

    /// Puts the ticket's thread at `at` in `state`: closed is a Discord thread archived or a
    /// Telegram forum topic closed, open undoes it. Idempotent: a thread already in `state`
    /// (the platform answering "not modified") is [`ThreadChange::Done`]; a change that can
    /// never be made (the thread is gone, a plain group has no thread, no right to) is
    /// [`ThreadChange::Impossible`]; an error is retried later. By default a staff side has no
    /// threads to close.
    fn set_thread(
        &self,
        at: &StaffLocation,
        state: ThreadState,
    ) -> impl Future<Output = Result<ThreadChange, RelayError>> + Send {
        let _ = (at, state);
        async {
            Ok(ThreadChange::Impossible(
                "this staff side has no threads to close".into(),
            ))
        }
    }
}

/// A user platform: how a ticket's user is told something.
pub trait UserSide: Send + Sync {
    /// Sends `text` to `user`; `nonce` is unique per relayed item.
    fn send(
        &self,
        user: &ConvKey,
        text: &str,
        nonce: &str,
    ) -> impl Future<Output = Result<(), RelayError>> + Send;

    /// Sends an engine reply (the close or reopen message) to `user`, with its buttons where
    /// the platform can show them; by default only its text.
    fn send_reply(
        &self,
        user: &ConvKey,
        reply: &Reply,
        nonce: &str,
    ) -> impl Future<Output = Result<(), RelayError>> + Send {
        self.send(user, &reply.text, nonce)
    }
}

/// Who wrote a message in a ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Their display name.
    pub name: String,
    /// Whether the platform says they are staff (Discord: the staff role; Telegram: a staff
    /// group administrator or a listed user).
    pub is_staff: bool,
    /// The platform's id of their message (unique; used as the relay nonce).
    pub message_id: String,
}

/// What [`Relay::staff_message`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The message was relayed to the user.
    Relayed,
    /// The command was applied.
    Command(StaffCommand),
    /// The author is not staff: refused, nothing changed.
    Refused,
    /// Not possible now (closed ticket, unknown snippet, …): staff were told why.
    Rejected,
    /// This message was handled before (a replayed event): nothing was done again.
    Duplicate,
}

/// A boxed future, for the object-safe [`StaffInbox`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The relay as the platform adapters see it: where a message written in a ticket's staff
/// thread goes. Object-safe, so an adapter holds an `Arc<dyn StaffInbox>` without knowing
/// which platforms the relay's two sides are.
pub trait StaffInbox: Send + Sync {
    /// The desk the relay serves (for looking up which ticket a thread belongs to).
    fn desk(&self) -> &Desk;
    /// Handles a message written in ticket `number`'s thread: see [`Relay::staff_message`].
    fn staff_message<'a>(
        &'a self,
        number: u64,
        author: &'a Author,
        text: &'a str,
    ) -> BoxFuture<'a, Result<Handled, RelayError>>;
    /// Asks the relay to sweep soon (a user with an open ticket wrote something), so their
    /// line reaches staff without waiting for the next interval. Cheap; wakes coalesce. By
    /// default nothing (a relay that only sweeps on its interval).
    fn wake(&self) {}
}

impl<S: StaffSide, U: UserSide> StaffInbox for Relay<S, U> {
    fn desk(&self) -> &Desk {
        &self.desk
    }

    fn staff_message<'a>(
        &'a self,
        number: u64,
        author: &'a Author,
        text: &'a str,
    ) -> BoxFuture<'a, Result<Handled, RelayError>> {
        Box::pin(Relay::staff_message(self, number, author, text))
    }

    fn wake(&self) {
        Relay::wake(self);
    }
}

/// The relay: a desk, the handoff settings, and the two platform sides.
#[derive(Debug, Clone)]
pub struct Relay<S, U> {
    pub(super) desk: Desk,
    pub(super) config: RelayConfig,
    pub(super) staff: S,
    pub(super) users: U,
    wake: Arc<tokio::sync::Notify>,
    /// Held while a ticket's thread is brought in line with its status ([`lifecycle`]), so
    /// two changes of one thread never cross.
    pub(super) lifecycle: Arc<tokio::sync::Mutex<()>>,
    /// Tickets seen open by the last sweep and those that left since (closed by a path that
    /// queued nothing, such as `/forget`): see [`LeftOpen`].
    left_open: Arc<std::sync::Mutex<LeftOpen>>,
}

impl<S: StaffSide, U: UserSide> Relay<S, U> {
    /// A relay over `desk`.
    pub fn new(desk: Desk, config: RelayConfig, staff: S, users: U) -> Self {
        Self {
            desk,
            config,
            staff,
            users,
            wake: Arc::new(tokio::sync::Notify::new()),
            lifecycle: Arc::new(tokio::sync::Mutex::new(())),
            left_open: Arc::new(std::sync::Mutex::new(LeftOpen::default())),
        }
    }

    /// Makes [`Relay::run`] sweep now instead of at the end of its interval (one stored wake
    /// when it is busy, so a line written during a sweep is picked up by the next).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The desk the relay serves.
    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Desk) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, RelayError> {
        let desk = self.desk.clone();
        Ok(tokio::task::spawn_blocking(move || f(&desk)).await??)
    }

    /// Opens missing threads and relays new user lines of every open ticket; returns how many
    /// items were posted. A ticket whose platform step fails stops there (its cursor keeps
    /// the place) and the others go on; the first failure is returned after all were tried.
    pub async fn sweep(&self) -> Result<usize, RelayError> {
        let (posted, failed) = self.sweep_where(|_| true).await?;
        match failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(posted),
        }
    }

    /// [`Relay::sweep`] over the open tickets `due` accepts; returns how many items were
    /// posted and the tickets that failed, with why (each logged).
    async fn sweep_where(
        &self,
        due: impl Fn(u64) -> bool,
    ) -> Result<(usize, Vec<(u64, RelayError)>), RelayError> {
        let open = self.blocking(|d| d.store().tickets(true)).await?;
        let left = self
            .left_open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(open.iter().map(|t| t.number), std::time::Instant::now());
        if !left.is_empty() {
            self.blocking(move |d| {
                left.iter()
                    .try_for_each(|n| lifecycle::queue(d.store(), *n))
            })
            .await?;
        }
        let mut posted = 0;
        let mut failed = Vec::new();
        for ticket in open {
            let number = ticket.number;
            if !due(number) {
                continue;
            }
            match self.sweep_ticket(ticket).await {
                Ok(n) => posted += n,
                Err(e) => {
                    tracing::warn!(ticket = number, error = %e, "handoff relay step failed");
                    failed.push((number, e));
                }
            }
        }
        // Threads of tickets closed or reopened since: archived or opened again.
        let queued = self.blocking(|d| lifecycle::queued(d.store())).await?;
        for number in queued {
            if !due(number) {
                continue;
            }
            if let Err(e) = self.sync_thread(number).await {
                tracing::warn!(ticket = number, error = %e, "cannot archive or reopen a ticket's staff thread; retrying");
                failed.push((number, e));
            }
        }
        Ok((posted, failed))
    }

    /// Sweeps now, then whenever [`Relay::wake`] is called and at least every `interval`,
    /// until `shutdown`; what a sweep did not finish is still in the store and is retried.
    ///
    /// A ticket whose relay step keeps failing (its thread was deleted, its platform is down)
    /// is retried after a pause doubling per failure up to [`MAX_RETRY_PAUSE`], so an outage
    /// is not hammered, while the other tickets go on at the usual pace; its first good step
    /// resets it.
    pub async fn run(
        &self,
        mut shutdown: crate::shutdown::Shutdown,
        interval: std::time::Duration,
    ) {
        use std::collections::HashMap;
        use tokio::time::Instant;
        // Ticket → (consecutive failures, not before).
        let mut backoff: HashMap<u64, (u32, Instant)> = HashMap::new();
        loop {
            let now = Instant::now();
            let due = |n: u64| backoff.get(&n).is_none_or(|(_, at)| *at <= now);
            match self.sweep_where(due).await {
                Ok((_, failed)) => {
                    let failed: HashMap<u64, RelayError> = failed.into_iter().collect();
                    // Tickets tried now without failing start afresh.
                    backoff.retain(|n, (_, at)| *at > now || failed.contains_key(n));
                    for n in failed.into_keys() {
                        let count = backoff.get(&n).map_or(1, |(f, _)| f.saturating_add(1));
                        let at = Instant::now() + retry_pause(interval, count);
                        backoff.insert(n, (count, at));
                    }
                }
                Err(e) => {
                    self.desk.metrics().error("relay");
                    tracing::warn!(error = %e, "handoff sweep failed; retrying");
                }
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn sweep_ticket(&self, ticket: Ticket) -> Result<usize, RelayError> {
        let number = ticket.number;
        let (location, cursor) = self
            .blocking(move |d| {
                let s = d.store();
                Ok((s.staff_location(number)?, s.relay_cursor(number)?))
            })
            .await?;
        let mut posted = 0;
        let cursor = match cursor {
            Some(c) => Some(c),
            None => {
                let key = ticket.conversation.clone();
                let opened = ticket.opened_at_ms;
                self.blocking(move |d| {
                    let start =
                        initial_cursor(&d.store().transcript_after(&key, None)?, number, opened);
                    if let Some(seq) = start {
                        d.store().set_relay_cursor(number, seq)?;
                    }
                    Ok(start)
                })
                .await?
            }
        };
        let location = match location {
            Some(l) => l,
            None => {
                let user = ticket.conversation.clone();
                let language = self.blocking(move |d| d.language_label(&user)).await?;
                let text = staff_ticket_text_in(&ticket, Some(&language));
                let l = self.staff.open(&ticket, &text).await?;
                let stored = l.clone();
                self.blocking(move |d| d.store().set_staff_location(number, &stored))
                    .await?;
                posted += 1;
                l
            }
        };
        // A reopened ticket's thread is opened again before anything is posted in it.
        if location.thread.is_some()
            && self
                .blocking(move |d| lifecycle::thread_state(d.store(), number))
                .await?
                == ThreadState::Closed
        {
            self.sync_thread(number).await?;
        }
        let key = ticket.conversation.clone();
        let (lines, blocked) = self
            .blocking(move |d| {
                Ok((
                    d.store().transcript_after(&key, cursor)?,
                    d.store().user_block(&key)?.is_some(),
                ))
            })
            .await?;
        for (seq, line) in lines {
            if line.speaker == Speaker::User && !blocked {
                let text = user_message_for_staff(&ticket, &line.text);
                self.staff
                    .post(&location, &text, &format!("t{number}.{seq}"))
                    .await?;
                posted += 1;
            }
            self.blocking(move |d| d.store().set_relay_cursor(number, seq))
                .await?;
        }
        Ok(posted)
    }

    /// Handles a message written in ticket `number`'s thread by `author`.
    ///
    /// A message handled before (a gateway replaying an event after a resume, a Telegram
    /// update handled again after a crash) is recognised by its platform id and answered with
    /// [`Handled::Duplicate`]: nothing is relayed or changed twice. The id is recorded only once
    /// the message was handled, so a failure is retried.
    pub async fn staff_message(
        &self,
        number: u64,
        author: &Author,
        text: &str,
    ) -> Result<Handled, RelayError> {
        let mark = Mark::StaffSeen {
            ticket: number,
            message: &author.message_id,
        }
        .name();
        let seen = mark.clone();
        if self
            .blocking(move |d| d.store().channel_mark(RELAY_SEEN, &seen))
            .await?
            .is_some()
        {
            tracing::debug!(ticket = number, "a staff message seen before was skipped");
            return Ok(Handled::Duplicate);
        }
        let handled = self.staff_message_once(number, author, text).await?;
        self.blocking(move |d| {
            d.store().channel_commit(&ChannelWrite {
                channel: RELAY_SEEN.to_string(),
                target: String::new(),
                marks: vec![(mark, Some(Vec::new()))],
                ..ChannelWrite::default()
            })
        })
        .await?;
        // A closed ticket's thread is closed again: the ticket was just closed, or a message
        // written in it (a Discord message unarchives its thread) may have opened it. After
        // everything was posted, so no post of this message opens it again.
        let closed = self
            .blocking(move |d| {
                let closed = d
                    .store()
                    .ticket(number)?
                    .is_some_and(|t| t.status != TicketStatus::Open);
                if closed {
                    lifecycle::reassert(d.store(), number)?;
                }
                Ok(closed)
            })
            .await?;
        if closed && let Err(e) = self.sync_thread(number).await {
            tracing::warn!(ticket = number, error = %e, "cannot close a closed ticket's staff thread now; queued for the next sweep");
        }
        Ok(handled)
    }

    async fn staff_message_once(
        &self,
        number: u64,
        author: &Author,
        text: &str,
    ) -> Result<Handled, RelayError> {
        let Some(ticket) = self.blocking(move |d| d.store().ticket(number)).await? else {
            return Ok(Handled::Rejected);
        };
        let location = self
            .blocking(move |d| d.store().staff_location(number))
            .await?;
        let nonce = format!("s{number}.{}", author.message_id);
        // In a closed ticket's thread a notice is best effort: the platform may refuse posts
        // there (a closed Telegram topic), and the message must not fail for it.
        let was_closed = ticket.status != TicketStatus::Open;
        let tell_staff = |text: String| {
            let location = location.clone();
            let nonce = nonce.clone();
            async move {
                match &location {
                    Some(l) => match self.staff.post(l, &text, &format!("{nonce}.r")).await {
                        Err(e) if was_closed => {
                            tracing::warn!(ticket = number, error = %e, "cannot post a notice in a closed ticket's thread");
                            Ok(())
                        }
                        r => r,
                    },
                    None => Ok(()),
                }
            }
        };
        if !author.is_staff {
            tell_staff(NOT_STAFF.to_string()).await?;
            return Ok(Handled::Refused);
        }
        let command = StaffCommand::parse(text);
        let open = ticket.status == TicketStatus::Open;
        if !open && command != Some(StaffCommand::Reopen) {
            tell_staff(format!(
                "Ticket #{number} is closed; write `reopen` to reopen it first."
            ))
            .await?;
            return Ok(Handled::Rejected);
        }
        let user = ticket.conversation.clone();
        let event = |kind, note: Option<String>| TicketEvent {
            at_ms: self.desk.now_ms(),
            kind,
            by: author.name.clone(),
            note,
        };
        match command {
            None => {
                self.relay_to_user(&user, &author.name, text, &nonce)
                    .await?;
                Ok(Handled::Relayed)
            }
            Some(StaffCommand::Snippet(name)) => {
                let key = user.clone();
                let language = self
                    .blocking(move |d| Ok(d.conversation(&key)?.language))
                    .await?;
                let body = self
                    .config
                    .snippet_in(&name, language.as_deref())
                    .map(str::to_string);
                match body {
                    Some(body) => {
                        self.relay_to_user(&user, &author.name, &body, &nonce)
                            .await?;
                        Ok(Handled::Command(StaffCommand::Snippet(name)))
                    }
                    None => {
                        // Language variants (`reset.ru`) are listed once, by their name.
                        let mut names: Vec<&str> = self
                            .config
                            .snippets
                            .keys()
                            .map(|k| k.split('.').next().unwrap_or(k))
                            .collect();
                        names.dedup();
                        tell_staff(format!(
                            "There is no snippet {name:?}. Snippets: {}.",
                            if names.is_empty() {
                                "none configured".to_string()
                            } else {
                                names.join(", ")
                            }
                        ))
                        .await?;
                        Ok(Handled::Rejected)
                    }
                }
            }
            Some(StaffCommand::Claim) => {
                let e = event(TicketEventKind::Claimed, None);
                self.blocking(move |d| d.store().add_ticket_event(number, &e))
                    .await?;
                tell_staff(format!("Ticket #{number} claimed by {}.", author.name)).await?;
                Ok(Handled::Command(StaffCommand::Claim))
            }
            Some(StaffCommand::Close(note)) => {
                let e = event(TicketEventKind::Closed, note.clone());
                let closed = self
                    .blocking(move |d| {
                        let closed = d.close_ticket(number)?;
                        if closed.is_some() {
                            d.store().add_ticket_event(number, &e)?;
                        }
                        Ok(closed)
                    })
                    .await?;
                if let Some((user, reply)) = closed {
                    self.users
                        .send_reply(&user, &reply, &format!("{nonce}.close"))
                        .await?;
                }
                tell_staff(format!("Ticket #{number} closed by {}.", author.name)).await?;
                Ok(Handled::Command(StaffCommand::Close(note)))
            }
            Some(StaffCommand::Reopen) => {
                if open {
                    tell_staff(format!("Ticket #{number} is already open.")).await?;
                    return Ok(Handled::Rejected);
                }
                let e = event(TicketEventKind::Reopened, None);
                let reopened = self
                    .blocking(move |d| {
                        let r = d.reopen_ticket(number)?;
                        if r.is_some() {
                            d.store().add_ticket_event(number, &e)?;
                        }
                        Ok(r)
                    })
                    .await?;
                let Some((user, reply)) = reopened else {
                    tell_staff(format!(
                        "Ticket #{number} cannot be reopened: its user deleted their data."
                    ))
                    .await?;
                    return Ok(Handled::Rejected);
                };
                // The thread opens again before anything is posted in it (a failure stays
                // queued, and the sweep posts nothing there before it is done).
                self.blocking(move |d| lifecycle::queue(d.store(), number))
                    .await?;
                if let Err(e) = self.sync_thread(number).await {
                    tracing::warn!(ticket = number, error = %e, "cannot reopen the ticket's staff thread now; queued for the next sweep");
                }
                self.users
                    .send_reply(&user, &reply, &format!("{nonce}.reopen"))
                    .await?;
                tell_staff(format!("Ticket #{number} reopened by {}.", author.name)).await?;
                Ok(Handled::Command(StaffCommand::Reopen))
            }
            Some(StaffCommand::Block) => {
                let (e, rec, u) = (
                    event(TicketEventKind::Blocked, None),
                    BlockRecord {
                        at_ms: self.desk.now_ms(),
                        by: author.name.clone(),
                        ticket: Some(number),
                    },
                    user.clone(),
                );
                self.blocking(move |d| {
                    d.store().block_user(&u, &rec)?;
                    d.store().add_ticket_event(number, &e)
                })
                .await?;
                tell_staff(format!(
                    "The user of ticket #{number} is blocked: their messages are no longer relayed."
                ))
                .await?;
                Ok(Handled::Command(StaffCommand::Block))
            }
            Some(StaffCommand::Unblock) => {
                let (e, u) = (event(TicketEventKind::Unblocked, None), user.clone());
                self.blocking(move |d| {
                    d.store().unblock_user(&u)?;
                    d.store().add_ticket_event(number, &e)
                })
                .await?;
                tell_staff(format!("The user of ticket #{number} is unblocked.")).await?;
                Ok(Handled::Command(StaffCommand::Unblock))
            }
        }
    }

    /// Records a staff line in the user's transcript, then sends it to the user.
    async fn relay_to_user(
        &self,
        user: &ConvKey,
        staff_name: &str,
        text: &str,
        nonce: &str,
    ) -> Result<(), RelayError> {
        let (key, name, said) = (user.clone(), staff_name.to_string(), text.to_string());
        let anonymous = self.config.anonymous_staff;
        let shown = self
            .blocking(move |d| d.staff_message_for(&key, &name, anonymous, &said))
            .await?;
        let line = TranscriptEntry::new(
            self.desk.now_ms(),
            Speaker::Staff,
            cut(&shown, TRANSCRIPT_CHARS),
        );
        let key = user.clone();
        self.blocking(move |d| d.store().append_transcript(&key, &[line]))
            .await?;
        self.users.send(user, &shown, nonce).await
    }
}

/// The longest pause before a failing ticket is tried again.
pub const MAX_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(30);

/// The pause before a ticket is tried again: `interval` when its last step worked (`failures`
/// 0), else `interval` doubled per consecutive failure, at most [`MAX_RETRY_PAUSE`] (never less
/// than `interval`).
pub fn retry_pause(interval: std::time::Duration, failures: u32) -> std::time::Duration {
    if failures == 0 {
        return interval;
    }
    // `interval` doubled `failures` times is the backoff from twice the interval.
    crate::backoff::Backoff::new(interval.saturating_mul(2), MAX_RETRY_PAUSE)
        .delay(failures)
        .max(interval)
}

/// Where relaying a new ticket's transcript starts: after the bot's "I've opened ticket #N"
/// line of the escalation turn (what came before is in the ticket's first message); failing
/// that, after the last line not newer than the ticket. (`deskbot tickets show` starts the
/// lines added to an open ticket there too.)
pub fn initial_cursor(
    lines: &[(u64, TranscriptEntry)],
    number: u64,
    opened_at_ms: u64,
) -> Option<u64> {
    lines
        .iter()
        .find(|(_, l)| {
            l.speaker == Speaker::Bot && l.at_ms >= opened_at_ms && mentions(&l.text, number)
        })
        .or_else(|| lines.iter().rev().find(|(_, l)| l.at_ms <= opened_at_ms))
        .map(|(seq, _)| *seq)
}

/// Whether `text` names ticket `#number` (and not `#number0`).
fn mentions(text: &str, number: u64) -> bool {
    let mark = format!("#{number}");
    text.match_indices(&mark).any(|(i, m)| {
        !text[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use deskbot_storage::Platform;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use deskbot_engine::catalog::Catalog;
    use deskbot_engine::dialogue::{Engine, Input};

    use super::*;

    /// Opens threads, except for ticket `broken`, whose every attempt fails and is counted.
    struct FlakyStaff {
        broken: u64,
        attempts: Arc<AtomicUsize>,
    }

    impl StaffSide for FlakyStaff {
        async fn open(&self, ticket: &Ticket, _first: &str) -> Result<StaffLocation, RelayError> {
            if ticket.number == self.broken {
                self.attempts.fetch_add(1, Ordering::SeqCst);
                return Err(RelayError::Call {
                    side: "test staff",
                    call: "createThread",
                    detail: "Unknown Channel".into(),
                });
            }
            Ok(StaffLocation {
                platform: "test".into(),
                chat: "1".into(),
                thread: Some(ticket.number.to_string()),
                message: None,
            })
        }

        async fn post(&self, _: &StaffLocation, _: &str, _: &str) -> Result<(), RelayError> {
            Ok(())
        }
    }

    struct NoUsers;

    impl UserSide for NoUsers {
        async fn send(&self, _: &ConvKey, _: &str, _: &str) -> Result<(), RelayError> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_ticket_backs_off_while_the_others_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
        let desk = Desk::open(engine, dir.path()).unwrap();
        let human = |user: &str| {
            desk.handle(
                &ConvKey::new(Platform::Telegram, user),
                None,
                &Input::Text("/human".into()),
            )
            .unwrap()
            .opened_ticket
            .unwrap()
        };
        let broken = human("1");
        let attempts = Arc::new(AtomicUsize::new(0));
        let relay = Arc::new(Relay::new(
            desk.clone(),
            RelayConfig::default(),
            FlakyStaff {
                broken,
                attempts: Arc::clone(&attempts),
            },
            NoUsers,
        ));
        let (stop, shutdown) = crate::shutdown::Shutdown::new();
        let interval = Duration::from_millis(10);
        let task = {
            let r = Arc::clone(&relay);
            tokio::spawn(async move { r.run(shutdown, interval).await })
        };
        // Tickets opened while it runs still get their thread (a hang guard, not a timing).
        for user in ["2", "3", "4"] {
            let n = human(user);
            relay.wake();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
            while desk.store().staff_location(n).unwrap().is_none() {
                assert!(tokio::time::Instant::now() < deadline, "ticket {n} stuck");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Then a second of 10 ms sweeps. With backoff the broken ticket is tried at 0, 20,
        // 60, 140, 300, 620 ms, … then every 30 s: under 20 times even if this test took the
        // full hang guards; without it, about once per sweep (~100 in that second alone).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = stop.send(true);
        task.await.unwrap();
        let tried = attempts.load(Ordering::SeqCst);
        assert!(tried >= 1, "{tried}");
        assert!(tried < 30, "tried {tried} times: no backoff");
        assert!(desk.store().staff_location(broken).unwrap().is_none());
    }

    #[test]
    fn failing_sweeps_back_off_to_a_cap_and_success_resets() {
        let i = Duration::from_secs(1);
        assert_eq!(retry_pause(i, 0), i);
        assert_eq!(retry_pause(i, 1), Duration::from_secs(2));
        assert_eq!(retry_pause(i, 3), Duration::from_secs(8));
        assert_eq!(retry_pause(i, 10), MAX_RETRY_PAUSE);
        assert_eq!(retry_pause(i, u32::MAX), MAX_RETRY_PAUSE);
        // An interval longer than the cap is kept.
        let long = Duration::from_secs(60);
        assert_eq!(retry_pause(long, 4), long);
        assert_eq!(retry_pause(Duration::ZERO, 5), Duration::ZERO);
    }
}

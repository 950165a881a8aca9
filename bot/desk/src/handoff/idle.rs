//! Idle tickets (`[handoff] auto_close_days`): an open ticket whose user has not written for
//! that long is warned, in the user's language (`ticket_idle_warning`), and closed when a
//! further grace period (`auto_close_warn_hours`) passes without news: the normal close, so the
//! user gets the rating buttons, staff a note in the thread, and the thread is archived.
//!
//! What counts as news: a line of the user's or of staff in the conversation's transcript
//! (a staff reply resets the clock, and a warned user who writes is not closed), the ticket
//! opening, and a staff claim or reopen. The bot's own lines (the warning itself) do not.
//!
//! Time is the desk's clock ([`Desk::now_ms`](crate::desk::Desk::now_ms)), so tests move it.
//! Restart-safe: that a ticket was warned is a mark in the store (with the news it was based
//! on and when), written before the warning is queued, so a restart neither warns twice nor
//! forgets the warning; a ticket is closed only through
//! [`Desk::close_ticket`](crate::desk::Desk::close_ticket), which closes an open ticket once.

use std::time::Duration;

use deskbot_engine::dialogue::Reply;
use deskbot_storage::{
    ChannelWrite, Speaker, StorageError, Store, Ticket, TicketEvent, TicketEventKind,
    TranscriptEntry,
};

use super::lifecycle;
use super::relay::{Relay, RelayError, StaffSide, UserSide};
use crate::shutdown::Shutdown;

/// The store channel of the warning marks (`warned:<ticket>`).
pub const CHANNEL: &str = "handoff_idle";

/// Who closed an idle ticket, in its history.
pub const AUTO_CLOSE_BY: &str = "auto-close";

/// The catalog string the warning is (`{number}`: the ticket, `{hours}`: the grace period).
pub const WARNING_KEY: &str = "ticket_idle_warning";

/// The grace period between the warning and the close when none is configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// How often `deskbot run` looks for idle tickets.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// When tickets are warned and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    /// A ticket with no news for this long is warned (`auto_close_days`).
    pub after: Duration,
    /// A warned ticket with no news for this long after the warning is closed
    /// (`auto_close_warn_hours`).
    pub grace: Duration,
}

/// What one idle sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdleSweep {
    /// Tickets whose users were warned.
    pub warned: Vec<u64>,
    /// Tickets closed.
    pub closed: Vec<u64>,
    /// Tickets whose step failed (logged; tried again by the next sweep).
    pub failed: Vec<u64>,
}

/// A ticket's warning: the time of the last news it was based on and when it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Warned {
    basis_ms: u64,
    at_ms: u64,
}

fn warned_mark(number: u64) -> String {
    format!("warned:{number}")
}

fn read_warned(store: &Store, number: u64) -> Result<Option<Warned>, StorageError> {
    Ok(store
        .channel_mark(CHANNEL, &warned_mark(number))?
        .and_then(|v| {
            let basis = <[u8; 8]>::try_from(v.get(..8)?).ok()?;
            let at = <[u8; 8]>::try_from(v.get(8..16)?).ok()?;
            Some(Warned {
                basis_ms: u64::from_be_bytes(basis),
                at_ms: u64::from_be_bytes(at),
            })
        }))
}

fn write_warned(store: &Store, number: u64, w: Option<Warned>) -> Result<(), StorageError> {
    let value = w.map(|w| {
        let mut v = w.basis_ms.to_be_bytes().to_vec();
        v.extend_from_slice(&w.at_ms.to_be_bytes());
        v
    });
    store.channel_commit(&ChannelWrite {
        channel: CHANNEL.to_string(),
        target: String::new(),
        marks: vec![(warned_mark(number), value)],
        ..ChannelWrite::default()
    })
}

/// When ticket `ticket` last had news (Unix ms): its opening, a claim or reopen, or the
/// latest line of its user or of staff in the conversation.
pub fn last_news(store: &Store, ticket: &Ticket) -> Result<u64, StorageError> {
    let mut last = ticket.opened_at_ms;
    for e in store.ticket_events(ticket.number)? {
        if matches!(e.kind, TicketEventKind::Reopened | TicketEventKind::Claimed) {
            last = last.max(e.at_ms);
        }
    }
    let lines = store.transcript_after(&ticket.conversation, None)?;
    if let Some((_, line)) = lines
        .iter()
        .rev()
        .find(|(_, l)| matches!(l.speaker, Speaker::User | Speaker::Staff))
    {
        last = last.max(line.at_ms);
    }
    Ok(last)
}

/// `d` for people: whole days as days, else whole hours (at least 1).
pub fn span(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 86_400 && secs.is_multiple_of(86_400) {
        let days = secs / 86_400;
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else {
        let hours = hours_of(d);
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    }
}

/// `d` in whole hours, rounded up, at least 1 (the `{hours}` of the warning).
pub fn hours_of(d: Duration) -> u64 {
    d.as_secs().div_ceil(3_600).max(1)
}

/// What to do with one ticket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Nothing,
    Warn { basis_ms: u64 },
    Close,
}

fn due(policy: &IdlePolicy, last_ms: u64, warned: Option<Warned>, now_ms: u64) -> Due {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match warned {
        // Warned, and no news since.
        Some(w) if w.basis_ms >= last_ms => {
            if now_ms >= w.at_ms.saturating_add(ms(policy.grace)) {
                Due::Close
            } else {
                Due::Nothing
            }
        }
        _ if now_ms >= last_ms.saturating_add(ms(policy.after)) => Due::Warn { basis_ms: last_ms },
        _ => Due::Nothing,
    }
}

impl<S: StaffSide, U: UserSide> Relay<S, U> {
    /// Warns the users of open tickets idle for `policy.after` and closes the tickets warned
    /// `policy.grace` ago with no news since. A ticket whose step fails is logged and listed
    /// in [`IdleSweep::failed`]; the others go on.
    pub async fn sweep_idle(&self, policy: &IdlePolicy) -> Result<IdleSweep, RelayError> {
        let open = self.blocking(|d| d.store().tickets(true)).await?;
        let mut done = IdleSweep::default();
        for ticket in open {
            let number = ticket.number;
            match self.idle_ticket(ticket, policy).await {
                Ok(Due::Nothing) => {}
                Ok(Due::Warn { .. }) => done.warned.push(number),
                Ok(Due::Close) => done.closed.push(number),
                Err(e) => {
                    tracing::warn!(ticket = number, error = %e, "idle ticket step failed");
                    done.failed.push(number);
                }
            }
        }
        Ok(done)
    }

    /// Sweeps for idle tickets now and then every `interval`, until `shutdown`.
    pub async fn run_idle(&self, policy: IdlePolicy, mut shutdown: Shutdown, interval: Duration) {
        loop {
            match self.sweep_idle(&policy).await {
                Ok(s) if !s.failed.is_empty() => self.desk.metrics().error("idle"),
                Ok(_) => {}
                Err(e) => {
                    self.desk.metrics().error("idle");
                    tracing::warn!(error = %e, "idle ticket sweep failed; retrying");
                }
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Warns or closes `ticket` when due; returns what was done (`Due::Nothing` also when it
    /// was closed meanwhile).
    async fn idle_ticket(&self, ticket: Ticket, policy: &IdlePolicy) -> Result<Due, RelayError> {
        let number = ticket.number;
        let t = ticket.clone();
        let (last, warned) = self
            .blocking(move |d| Ok((last_news(d.store(), &t)?, read_warned(d.store(), number)?)))
            .await?;
        let now = self.desk.now_ms();
        let what = due(policy, last, warned, now);
        match what {
            Due::Nothing => {}
            Due::Warn { basis_ms } => self.warn_idle(&ticket, policy, basis_ms, now).await?,
            Due::Close => {
                if !self.close_idle(&ticket, policy).await? {
                    return Ok(Due::Nothing);
                }
            }
        }
        Ok(what)
    }

    async fn warn_idle(
        &self,
        ticket: &Ticket,
        policy: &IdlePolicy,
        basis_ms: u64,
        now: u64,
    ) -> Result<(), RelayError> {
        let number = ticket.number;
        let key = ticket.conversation.clone();
        let k = key.clone();
        let conv = self.blocking(move |d| d.conversation(&k)).await?;
        let hours = hours_of(policy.grace);
        let text = self.desk.engine().say(
            &conv,
            WARNING_KEY,
            &[("number", &number), ("hours", &hours)],
        );
        // Recorded first: a restart after the warning was queued never warns again.
        let warned = Warned {
            basis_ms,
            at_ms: now,
        };
        self.blocking(move |d| write_warned(d.store(), number, Some(warned)))
            .await?;
        let nonce = format!("idle{number}.{basis_ms}");
        match self
            .users
            .send_reply(&key, &Reply::text(text.clone()), &nonce)
            .await
        {
            Ok(()) => {}
            // Nobody to warn: the close still comes after the grace period.
            Err(e @ RelayError::Unreachable { .. }) => {
                tracing::warn!(ticket = number, error = %e, "cannot warn the user of an idle ticket");
            }
            Err(e) => {
                self.blocking(move |d| write_warned(d.store(), number, None))
                    .await?;
                return Err(e);
            }
        }
        let (k, line) = (
            key.clone(),
            TranscriptEntry::new(now, Speaker::Bot, text.as_str()),
        );
        self.blocking(move |d| d.store().append_transcript(&k, &[line]))
            .await?;
        self.note_staff(
            number,
            &format!(
                "Ticket #{number}: no message from the user for {}. They were asked whether they still need help; the ticket closes by itself in {} unless they write.",
                span(policy.after),
                span(policy.grace)
            ),
            &format!("{nonce}.n"),
        )
        .await;
        tracing::info!(ticket = number, "idle ticket warned");
        Ok(())
    }

    /// Closes idle `ticket` the normal way; false when it was closed meanwhile.
    async fn close_idle(&self, ticket: &Ticket, policy: &IdlePolicy) -> Result<bool, RelayError> {
        let number = ticket.number;
        let event = TicketEvent {
            at_ms: self.desk.now_ms(),
            kind: TicketEventKind::Closed,
            by: AUTO_CLOSE_BY.to_string(),
            note: Some(format!(
                "closed automatically: no message from the user for {} after a warning",
                span(policy.after)
            )),
        };
        let closed = self
            .blocking(move |d| {
                let closed = d.close_ticket(number)?;
                if closed.is_some() {
                    d.store().add_ticket_event(number, &event)?;
                }
                write_warned(d.store(), number, None)?;
                Ok(closed)
            })
            .await?;
        let Some((user, reply)) = closed else {
            return Ok(false);
        };
        // The ticket is closed whatever happens to this message (as a staff close).
        if let Err(e) = self
            .users
            .send_reply(&user, &reply, &format!("idle{number}.close"))
            .await
        {
            tracing::warn!(ticket = number, error = %e, "cannot tell the user their idle ticket was closed");
        }
        self.note_staff(
            number,
            &format!(
                "Ticket #{number} closed automatically: no message from the user for {} after a warning.",
                span(policy.after)
            ),
            &format!("idle{number}.close.n"),
        )
        .await;
        // After the note, so it is not posted in an archived thread.
        self.blocking(move |d| lifecycle::queue(d.store(), number))
            .await?;
        if let Err(e) = self.sync_thread(number).await {
            tracing::warn!(ticket = number, error = %e, "cannot archive the idle ticket's thread now; queued for the next sweep");
        }
        tracing::info!(ticket = number, "idle ticket closed");
        Ok(true)
    }

    /// Posts `text` in ticket `number`'s thread when it has one; best effort (logged).
    async fn note_staff(&self, number: u64, text: &str, nonce: &str) {
        let location = self
            .blocking(move |d| d.store().staff_location(number))
            .await;
        match location {
            Ok(Some(at)) => {
                if let Err(e) = self.staff.post(&at, text, nonce).await {
                    tracing::warn!(ticket = number, error = %e, "cannot post an idle-ticket note for staff");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(ticket = number, error = %e, "cannot look up the ticket's staff thread");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    fn policy() -> IdlePolicy {
        IdlePolicy {
            after: Duration::from_secs(2 * 86_400),
            grace: DEFAULT_GRACE,
        }
    }

    #[test]
    fn warned_after_the_idle_time_closed_after_the_grace_and_news_resets() {
        let p = policy();
        let last = 1_000 * H;
        assert_eq!(due(&p, last, None, last + 47 * H), Due::Nothing);
        assert_eq!(
            due(&p, last, None, last + 48 * H),
            Due::Warn { basis_ms: last }
        );
        let w = Warned {
            basis_ms: last,
            at_ms: last + 48 * H,
        };
        assert_eq!(due(&p, last, Some(w), last + 71 * H), Due::Nothing);
        assert_eq!(due(&p, last, Some(w), last + 72 * H), Due::Close);
        // The user (or staff) wrote after the warning: no close; a new idle period starts.
        let news = last + 60 * H;
        assert_eq!(due(&p, news, Some(w), last + 100 * H), Due::Nothing);
        assert_eq!(
            due(&p, news, Some(w), news + 48 * H),
            Due::Warn { basis_ms: news }
        );
        // Never overflows.
        assert_eq!(due(&p, u64::MAX - 1, None, u64::MAX - 1), Due::Nothing);
    }

    #[test]
    fn spans_read_as_days_or_hours() {
        assert_eq!(span(Duration::from_secs(86_400)), "1 day");
        assert_eq!(span(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(span(Duration::from_secs(36 * 3_600)), "36 hours");
        assert_eq!(span(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(hours_of(Duration::from_secs(90 * 60)), 2);
        assert_eq!(hours_of(Duration::ZERO), 1);
    }

    #[test]
    fn the_warning_mark_round_trips_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(read_warned(&store, 3).unwrap(), None);
        let w = Warned {
            basis_ms: 5,
            at_ms: u64::MAX,
        };
        write_warned(&store, 3, Some(w)).unwrap();
        assert_eq!(read_warned(&store, 3).unwrap(), Some(w));
        assert_eq!(read_warned(&store, 4).unwrap(), None);
        write_warned(&store, 3, None).unwrap();
        assert_eq!(read_warned(&store, 3).unwrap(), None);
    }
}

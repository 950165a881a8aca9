//! Telegram's send limits (per chat per second and per minute, overall per second), waited
//! out *before* a message is sent.
//!
//! Why not teloxide's Throttle adaptor, which the channel used first:
//!
//! - its worker panics on a chat id outside the range teloxide-core 0.13 knows
//!   (`ChatId::to_bare`: "malformed chat id" for user ids ≥ 2^40, which Telegram hands out:
//!   ids have up to 52 significant bits), and with the worker gone rate limiting is off for
//!   the rest of the run (and it happens again at every start while that chat's reply is
//!   queued);
//! - a request waiting in its queue cannot be told apart from one already on the wire, so a
//!   shutdown must either wait out the queue (up to a minute for a chat past its per-minute
//!   limit) or abandon a request that Telegram may have received (a duplicate after restart).
//!
//! Here a sender waits for its turn ([`Limiter::acquire`]) and only then makes the call
//! itself, so a shutdown during the wait sends nothing (the reply stays queued in the outbox
//! for the next start). The accounting is the same sliding window Throttle keeps: the send
//! times of the last minute, per chat and overall.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deskbot_desk::shutdown::Shutdown;

use deskbot_desk::shutdown::pause;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
/// Chat ids at or below this are channels and supergroups (`-100…`): Telegram's group limit.
const MAX_CHANNEL_ID: i64 = -1_000_000_000_000;

/// Send limits; a zero counts as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages per second over all chats.
    pub per_sec_overall: u32,
    /// Messages per second to one chat.
    pub per_sec_chat: u32,
    /// Messages per minute to one private chat or basic group.
    pub per_min_chat: u32,
    /// Messages per minute to one supergroup or channel.
    pub per_min_group: u32,
}

impl Default for Limits {
    /// Telegram's documented limits, the group one as low as teloxide's default.
    fn default() -> Self {
        Self {
            per_sec_overall: 30,
            per_sec_chat: 1,
            per_min_chat: 20,
            per_min_group: 10,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Send times of the last second, over all chats.
    overall: VecDeque<Instant>,
    /// Send times of the last minute, per chat.
    chats: HashMap<i64, VecDeque<Instant>>,
    /// Calls since the last sweep of idle chats.
    since_sweep: u32,
}

/// The shared limiter of one bot token.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    state: Mutex<State>,
}

/// How long until fewer than `limit` of `times` (sorted) fall in the `window` before `now`.
fn wait_in(times: &VecDeque<Instant>, window: Duration, limit: u32, now: Instant) -> Duration {
    let limit = limit.max(1) as usize;
    let recent: Vec<&Instant> = times
        .iter()
        .rev()
        .take_while(|t| now.saturating_duration_since(**t) < window)
        .collect();
    if recent.len() < limit {
        return Duration::ZERO;
    }
    // The oldest send that must leave the window before one more fits.
    let blocking = recent[limit - 1];
    (*blocking + window).saturating_duration_since(now)
}

impl Limiter {
    /// A limiter with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// Zero when a message to `chat` may go now (and then counts it as sent), else how long
    /// to wait before asking again.
    pub fn try_take(&self, chat: i64, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s
            .overall
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= SECOND)
        {
            s.overall.pop_front();
        }
        s.since_sweep += 1;
        if s.since_sweep >= 1024 {
            s.since_sweep = 0;
            s.chats.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < MINUTE)
            });
        }
        let per_min = if chat <= MAX_CHANNEL_ID {
            self.limits.per_min_group
        } else {
            self.limits.per_min_chat
        };
        let overall = wait_in(&s.overall, SECOND, self.limits.per_sec_overall, now);
        let times = s.chats.entry(chat).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            times.pop_front();
        }
        let wait = overall
            .max(wait_in(times, SECOND, self.limits.per_sec_chat, now))
            .max(wait_in(times, MINUTE, per_min, now));
        if wait.is_zero() {
            times.push_back(now);
            s.overall.push_back(now);
        }
        wait
    }

    /// Waits until a message to `chat` may be sent and counts it; false (nothing counted) when
    /// shutdown came first.
    pub async fn acquire(&self, chat: i64, shutdown: &Shutdown) -> bool {
        loop {
            if shutdown.is_requested() {
                return false;
            }
            let wait = self.try_take(chat, Instant::now());
            if wait.is_zero() {
                return true;
            }
            // A few milliseconds more, so the window has surely moved on.
            if !pause(wait + Duration::from_millis(5), shutdown).await {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_gets_one_message_per_second_and_its_minute_limit() {
        let l = Limiter::new(Limits {
            per_sec_overall: 30,
            per_sec_chat: 1,
            per_min_chat: 3,
            per_min_group: 2,
        });
        let t0 = Instant::now();
        assert_eq!(l.try_take(42, t0), Duration::ZERO);
        assert_eq!(l.try_take(42, t0), SECOND);
        // Another chat is not held up.
        assert_eq!(l.try_take(43, t0), Duration::ZERO);
        assert_eq!(l.try_take(42, t0 + SECOND), Duration::ZERO);
        assert_eq!(l.try_take(42, t0 + 2 * SECOND), Duration::ZERO);
        // Three in this minute: the next may go once the first is a minute old.
        assert_eq!(l.try_take(42, t0 + 3 * SECOND), MINUTE - 3 * SECOND);
        assert_eq!(l.try_take(42, t0 + MINUTE), Duration::ZERO);
    }

    #[test]
    fn supergroups_have_their_own_minute_limit_and_huge_ids_are_fine() {
        let l = Limiter::new(Limits {
            per_sec_overall: 30,
            per_sec_chat: 10,
            per_min_chat: 10,
            per_min_group: 1,
        });
        let t0 = Instant::now();
        let group = -1_001_234_567_890;
        assert_eq!(l.try_take(group, t0), Duration::ZERO);
        assert_eq!(l.try_take(group, t0), MINUTE);
        // Ids teloxide's Throttle panics on (≥ 2^40) are just keys here.
        let big = 1_i64 << 45;
        assert_eq!(l.try_take(big, t0), Duration::ZERO);
        assert_eq!(l.try_take(big, t0), Duration::ZERO);
        assert_eq!(l.try_take(i64::MIN, t0), Duration::ZERO);
    }

    #[test]
    fn the_overall_limit_holds_across_chats() {
        let l = Limiter::new(Limits {
            per_sec_overall: 2,
            ..Limits::default()
        });
        let t0 = Instant::now();
        assert_eq!(l.try_take(1, t0), Duration::ZERO);
        assert_eq!(l.try_take(2, t0), Duration::ZERO);
        assert_eq!(l.try_take(3, t0), SECOND);
        assert_eq!(l.try_take(3, t0 + SECOND), Duration::ZERO);
    }
}

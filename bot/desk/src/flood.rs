//! Flood control: a user who sends more than [`FloodLimits::max_messages`] messages within
//! [`FloodLimits::window_ms`] gets one "please slow down" reply, then everything they send is
//! ignored for [`FloodLimits::mute_ms`], then they are served normally again.
//!
//! The state is in memory, per conversation, and bounded: users quiet for longer than the
//! window (and not muted) are dropped from the table every few thousand checks. A restart
//! forgets it, which at worst lets a flooder send one more window's worth of messages.
//! Time comes from the caller ([`crate::desk::Desk`]'s clock), so tests control it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use deskbot_storage::ConvKey;
use serde::Deserialize;

/// The flood window the issue asks for: more than `max_messages` in 10 seconds.
pub const WINDOW_MS: u64 = 10_000;

/// How often (in checks) the table is swept of idle users.
const SWEEP_EVERY: u64 = 4_096;

/// The limits of flood control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    /// The most messages allowed within `window_ms`; one more is a flood.
    pub max_messages: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// How long a flooding user is ignored, in milliseconds.
    pub mute_ms: u64,
}

impl FloodLimits {
    /// `max_messages` per [`WINDOW_MS`], muted `mute_secs` seconds; `None` when
    /// `max_messages` is 0 (flood control off).
    pub fn new(max_messages: u32, mute_secs: u32) -> Option<Self> {
        (max_messages > 0).then_some(Self {
            max_messages,
            window_ms: WINDOW_MS,
            mute_ms: u64::from(mute_secs) * 1_000,
        })
    }
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// This message tipped the user over the limit: tell them to slow down (once), and do not
    /// serve it.
    SlowDown,
    /// The user is muted: ignore it silently.
    Ignore,
}

#[derive(Debug, Default)]
struct UserFlood {
    /// Arrival times (ms) of the messages within the window, oldest first.
    recent: VecDeque<u64>,
    /// Muted until this time (ms), exclusive.
    muted_until: Option<u64>,
}

/// Per-user flood state.
#[derive(Debug)]
pub struct FloodGuard {
    limits: FloodLimits,
    users: Mutex<HashMap<ConvKey, UserFlood>>,
    checks: std::sync::atomic::AtomicU64,
}

impl FloodGuard {
    /// Flood control with these limits.
    pub fn new(limits: FloodLimits) -> Self {
        Self {
            limits,
            users: Mutex::new(HashMap::new()),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The limits.
    pub fn limits(&self) -> FloodLimits {
        self.limits
    }

    /// Counts a message from `key` arriving at `now_ms` and says what to do with it. Messages
    /// ignored while muted do not count and do not extend the mute.
    pub fn check(&self, key: &ConvKey, now_ms: u64) -> Verdict {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let window = self.limits.window_ms;
            users.retain(|_, u| {
                u.muted_until.is_some_and(|t| now_ms < t)
                    || u.recent
                        .back()
                        .is_some_and(|&t| now_ms < t.saturating_add(window))
            });
        }
        let user = users.entry(key.clone()).or_default();
        if let Some(until) = user.muted_until {
            if now_ms < until {
                return Verdict::Ignore;
            }
            user.muted_until = None;
            user.recent.clear();
        }
        while user
            .recent
            .front()
            .is_some_and(|&t| t.saturating_add(self.limits.window_ms) <= now_ms)
        {
            user.recent.pop_front();
        }
        user.recent.push_back(now_ms);
        if user.recent.len() > self.limits.max_messages as usize {
            user.recent.clear();
            user.muted_until = Some(now_ms.saturating_add(self.limits.mute_ms));
            return Verdict::SlowDown;
        }
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbot_storage::Platform;

    #[test]
    fn a_flood_is_slowed_then_ignored_then_served_again() {
        let g = FloodGuard::new(FloodLimits {
            max_messages: 3,
            window_ms: 10_000,
            mute_ms: 30_000,
        });
        let ann = ConvKey::new(Platform::Telegram, "1");
        let bob = ConvKey::new(Platform::Telegram, "2");
        for t in [0, 100, 200] {
            assert_eq!(g.check(&ann, t), Verdict::Allow);
        }
        assert_eq!(g.check(&ann, 300), Verdict::SlowDown);
        // Others are not affected.
        assert_eq!(g.check(&bob, 300), Verdict::Allow);
        assert_eq!(g.check(&ann, 400), Verdict::Ignore);
        assert_eq!(g.check(&ann, 30_299), Verdict::Ignore);
        assert_eq!(g.check(&ann, 30_300), Verdict::Allow);
    }

    #[test]
    fn messages_spread_over_the_window_are_fine() {
        let g = FloodGuard::new(FloodLimits::new(3, 30).unwrap());
        let ann = ConvKey::new(Platform::Discord, "1");
        // Four messages, but never more than three within 10 s.
        for t in [0, 4_000, 9_999, 10_000, 14_000, 19_999, 20_000] {
            assert_eq!(g.check(&ann, t), Verdict::Allow, "at {t}");
        }
        assert_eq!(FloodLimits::new(0, 30), None);
    }

    #[test]
    fn idle_users_are_swept() {
        let g = FloodGuard::new(FloodLimits::new(3, 30).unwrap());
        for i in 0..SWEEP_EVERY - 1 {
            g.check(&ConvKey::new(Platform::Telegram, i.to_string()), 0);
        }
        assert_eq!(g.users.lock().unwrap().len(), (SWEEP_EVERY - 1) as usize);
        // The next check sweeps: everyone above has been quiet for longer than the window.
        g.check(&ConvKey::new(Platform::Telegram, "late"), 100_000);
        let users = g.users.lock().unwrap().len();
        assert_eq!(users, 1, "only the user checked after the sweep remains");
    }
}

/// `[flood]`: more than `max_messages` messages from one user within 10 seconds get one
/// "please slow down" reply, then the user's messages are ignored for `mute_secs`. Applies to
/// the channels of `deskbot run` (not to `deskbot chat`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Messages allowed per user within 10 seconds; 0 turns flood control off.
    pub max_messages: u32,
    /// How long a flooding user is ignored, in seconds.
    pub mute_secs: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            max_messages: 8,
            mute_secs: 30,
        }
    }
}

impl FloodConfig {
    /// The limits for [`crate::desk::Desk::with_flood`]; `None` when off.
    pub fn limits(&self) -> Option<FloodLimits> {
        FloodLimits::new(self.max_messages, self.mute_secs)
    }
}

//! Where the time comes from: one injectable clock for the desk and every channel, so tests
//! control it and no module reads the system time on its own.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds. Tests inject their own ([`crate::desk::Desk::with_clock`]).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system() -> Clock {
    Arc::new(system_ms)
}

/// The system time in Unix milliseconds (0 before 1970, saturating far in the future).
pub fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds as Unix seconds (the unit of dead letters and platform dates).
pub fn secs(ms: u64) -> i64 {
    i64::try_from(ms / 1_000).unwrap_or(i64::MAX)
}

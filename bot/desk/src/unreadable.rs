//! Answers a platform gave that its client library could not read: counted and logged once.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::metrics::Metrics;

/// Counts an unreadable `ok: true` answer to `method` on `channel` in `metrics`, and logs it
/// once per method and field in the process (the same change in the Bot API would otherwise
/// log every call).
pub fn note_unreadable(metrics: &Metrics, channel: &str, method: &'static str, field: &str) {
    /// (channel, method, field) already logged.
    type Seen = Mutex<HashSet<(String, &'static str, String)>>;
    static SEEN: OnceLock<Seen> = OnceLock::new();
    metrics.unparsed_answer(channel, method);
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((channel.to_string(), method, field.to_string()));
    if first {
        tracing::warn!(
            channel,
            method,
            field,
            "the platform did the call but its answer could not be read (a Bot API change?); counted as done, not repeated"
        );
    } else {
        tracing::debug!(channel, method, field, "unreadable answer counted as done");
    }
}

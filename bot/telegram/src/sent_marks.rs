//! Replies Telegram accepted whose removal from the outbox failed (a full disk), carried over
//! a restart.
//!
//! While the channel runs, such replies are remembered in memory and never sent again (their
//! removal is retried instead). The store cannot keep that memory when it is the store that
//! fails, so at shutdown the remaining marks are written to a small file beside the database
//! (`telegram-sent.json` in the data directory: a new small file, which a full database file
//! does not prevent) and read back at the next start, before anything queued is sent. Only a
//! crash (kill -9, power loss) in that state can still resend one reply per chat: the Bot
//! API has no idempotency key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use deskbot_storage::Store;

use crate::CHANNEL;

const FILE: &str = "telegram-sent.json";

fn path(store: &Store) -> Option<PathBuf> {
    store.path().parent().map(|dir| dir.join(FILE))
}

/// Removes from the outbox what an earlier run recorded as sent; returns the entries whose
/// removal fails again (to keep in memory: never send them). The file is removed once read.
pub fn restore(store: &Store) -> HashSet<(i64, u64)> {
    let mut still = HashSet::new();
    let Some(file) = path(store) else {
        return still;
    };
    let marks: Vec<(i64, u64)> = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::error!(error = %e, "unreadable sent-marks file ignored");
            Vec::new()
        }),
        Err(_) => return still,
    };
    for (chat, seq) in marks {
        if let Err(e) = store.outbox_remove(CHANNEL, &chat.to_string(), seq) {
            tracing::error!(chat, seq, error = %e, "cannot remove a reply sent before the restart; it will not be sent again");
            still.insert((chat, seq));
        }
    }
    tracing::info!("replies sent before the restart removed from the outbox");
    if let Err(e) = std::fs::remove_file(&file) {
        tracing::warn!(error = %e, file = %file.display(), "cannot remove the sent-marks file");
    }
    still
}

/// Retries the removals of `marks`; writes those still failing to the file for the next
/// start. Logged, never fatal.
pub fn save(store: &Store, marks: &HashSet<(i64, u64)>) {
    let left: Vec<(i64, u64)> = marks
        .iter()
        .filter(|(chat, seq)| {
            store
                .outbox_remove(CHANNEL, &chat.to_string(), *seq)
                .is_err()
        })
        .copied()
        .collect();
    if left.is_empty() {
        return;
    }
    let Some(file) = path(store) else {
        return;
    };
    match write(&file, &left) {
        Ok(()) => tracing::warn!(
            count = left.len(),
            file = %file.display(),
            "replies sent but still in the outbox (the store cannot write); recorded so the next start does not send them again"
        ),
        Err(e) => tracing::error!(
            count = left.len(),
            error = %e,
            "cannot record replies sent but still in the outbox; the next start may send them again"
        ),
    }
}

fn write(file: &Path, marks: &[(i64, u64)]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(marks).map_err(std::io::Error::other)?;
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, file)
}

//! Replies a platform accepted whose removal from the outbox failed (a full disk), carried
//! over a restart.
//!
//! While the channel runs, such replies are remembered in memory and never sent again (their
//! removal is retried instead). The store cannot keep that memory when it is the store that
//! fails, so at shutdown the remaining marks are written to a small file beside the database
//! (`<channel>-sent.json` in the data directory, `telegram-sent.json` for Telegram: a new small file, which a full database file
//! does not prevent) and read back at the next start, before anything queued is sent. Only a
//! crash (kill -9, power loss) in that state can still resend one reply per target on a
//! platform without an idempotency key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use deskbot_storage::Store;

fn path(store: &Store, channel: &str) -> Option<PathBuf> {
    store
        .path()
        .parent()
        .map(|dir| dir.join(format!("{channel}-sent.json")))
}

/// One mark: (target, sequence number).
type Mark = (String, u64);

/// Reads the file's marks: `[[target, seq], …]`, the target a string (or, as Telegram's
/// file was written before, a chat number).
fn parse(bytes: &[u8]) -> Result<Vec<Mark>, serde_json::Error> {
    let raw: Vec<(serde_json::Value, u64)> = serde_json::from_slice(bytes)?;
    Ok(raw
        .into_iter()
        .filter_map(|(target, seq)| match target {
            serde_json::Value::String(t) => Some((t, seq)),
            serde_json::Value::Number(n) => Some((n.to_string(), seq)),
            _ => None,
        })
        .collect())
}

/// Removes from `channel`'s outbox what an earlier run recorded as sent; returns the entries
/// whose removal fails again (to keep in memory: never send them). The file is removed once
/// read.
pub fn restore(store: &Store, channel: &str) -> HashSet<Mark> {
    let mut still = HashSet::new();
    let Some(file) = path(store, channel) else {
        return still;
    };
    let marks = match std::fs::read(&file) {
        Ok(bytes) => parse(&bytes).unwrap_or_else(|e| {
            tracing::error!(channel, error = %e, "unreadable sent-marks file ignored");
            Vec::new()
        }),
        Err(_) => return still,
    };
    for (target, seq) in marks {
        if let Err(e) = store.outbox_remove(channel, &target, seq) {
            tracing::error!(channel, target, seq, error = %e, "cannot remove a reply sent before the restart; it will not be sent again");
            still.insert((target, seq));
        }
    }
    tracing::info!(
        channel,
        "replies sent before the restart removed from the outbox"
    );
    if let Err(e) = std::fs::remove_file(&file) {
        tracing::warn!(error = %e, file = %file.display(), "cannot remove the sent-marks file");
    }
    still
}

/// Retries the removals of `marks` from `channel`'s outbox; writes those still failing to the
/// file for the next start. Logged, never fatal.
pub fn save(store: &Store, channel: &str, marks: &HashSet<Mark>) {
    let left: Vec<&Mark> = marks
        .iter()
        .filter(|(target, seq)| store.outbox_remove(channel, target, *seq).is_err())
        .collect();
    if left.is_empty() {
        return;
    }
    let Some(file) = path(store, channel) else {
        return;
    };
    match write(&file, &left) {
        Ok(()) => tracing::warn!(
            channel,
            count = left.len(),
            file = %file.display(),
            "replies sent but still in the outbox (the store cannot write); recorded so the next start does not send them again"
        ),
        Err(e) => tracing::error!(
            channel,
            count = left.len(),
            error = %e,
            "cannot record replies sent but still in the outbox; the next start may send them again"
        ),
    }
}

fn write(file: &Path, marks: &[&Mark]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(marks).map_err(std::io::Error::other)?;
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_read_in_both_target_forms() {
        assert_eq!(
            parse(br#"[["42",7],[-100123,8]]"#).unwrap(),
            vec![("42".to_string(), 7), ("-100123".to_string(), 8)]
        );
        assert!(parse(b"nonsense").is_err());
    }

    #[test]
    fn a_saved_mark_is_removed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let file = path(&store, "chat").unwrap();
        std::fs::write(&file, br#"[["5",1]]"#).unwrap();
        assert!(restore(&store, "chat").is_empty());
        assert!(!file.exists(), "the file is removed once read");
    }
}

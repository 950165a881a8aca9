//! The operator's view of dead letters (`deskbot dead-letters list|retry`): replies a channel
//! gave up on after its retries, and received updates it could not read (see
//! `deskbot_storage::dead_letter`).
//!
//! Output goes to an operator's terminal: every field is shown with control characters as
//! visible escapes (a user's text or a raw update could carry terminal escape sequences).

use std::io::Write;

use anyhow::{Context, Result};
use deskbot_storage::{DeadLetterKind, RetryOutcome, Store};

/// The longest payload shown in a listing, in characters.
const PAYLOAD_SHOWN: usize = 300;

/// `text` with control characters (and other invisible ones) as escapes: `\n`, `\u{1b}`…
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn shortened(text: &str, max: usize) -> String {
    let mut s: String = text.chars().take(max).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Writes every dead letter, oldest first, one block each; "no dead letters" when there are
/// none. Returns how many there are.
pub fn list(store: &Store, out: &mut dyn Write) -> Result<usize> {
    let letters = store
        .dead_letters()
        .context("cannot read the dead letters")?;
    if letters.is_empty() {
        writeln!(out, "no dead letters")?;
        return Ok(0);
    }
    for d in &letters {
        let (kind, what) = match d.kind {
            DeadLetterKind::Reply => ("reply", "to"),
            DeadLetterKind::Update => ("update", "id"),
        };
        writeln!(
            out,
            "#{id} {channel} {kind} {what} {target} at {at}{retry}",
            id = d.id,
            channel = visible(&d.channel),
            target = visible(&d.target),
            at = d.at,
            retry = if d.kind == DeadLetterKind::Reply {
                " (retry with: deskbot dead-letters retry <id>)"
            } else {
                ""
            },
        )?;
        writeln!(out, "  reason: {}", visible(&shortened(&d.reason, 500)))?;
        writeln!(
            out,
            "  payload: {}",
            visible(&shortened(&d.payload, PAYLOAD_SHOWN))
        )?;
    }
    Ok(letters.len())
}

/// Queues the parked reply `id` again (it goes out at the channel's next delivery to that
/// chat, at the latest at its next start) and says so on `out`. Fails for an unknown id or an
/// unreadable update (there is nothing to retry).
pub fn retry(store: &Store, id: u64, out: &mut dyn Write) -> Result<()> {
    match store
        .retry_dead_letter(id)
        .context("cannot retry the dead letter")?
    {
        RetryOutcome::Requeued { channel, target } => {
            writeln!(
                out,
                "dead letter #{id} queued again for {} {} (sent at the channel's next delivery there, at the latest at its next start)",
                visible(&channel),
                visible(&target)
            )?;
            Ok(())
        }
        RetryOutcome::NotFound => {
            anyhow::bail!("no dead letter #{id} (see deskbot dead-letters list)")
        }
        RetryOutcome::NotRetryable => anyhow::bail!(
            "dead letter #{id} is an update that could not be read: there is nothing to retry"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbot_storage::ChannelWrite;

    #[test]
    fn lists_escaped_and_retries_a_parked_reply() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut out = Vec::new();
        assert_eq!(list(&store, &mut out).unwrap(), 0);
        store
            .channel_commit(&ChannelWrite {
                channel: "telegram".into(),
                target: "42".into(),
                outbox: vec![br#"{"text":"ok \u001b]0;pwned\u0007"}"#.to_vec()],
                ..ChannelWrite::default()
            })
            .unwrap();
        let (seq, _) = store.outbox_pending("telegram", "42").unwrap()[0].clone();
        let id = store
            .park_outbox("telegram", "42", seq, "sendMessage: refused\x1b[2J", 1)
            .unwrap()
            .unwrap();
        store
            .record_skipped_update("telegram", "7", "{}", "parsing panicked", 2)
            .unwrap();
        let mut out = Vec::new();
        assert_eq!(list(&store, &mut out).unwrap(), 2);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("refused\\u{1b}[2J"), "{text}");
        assert!(text.contains("telegram update id 7"), "{text}");

        let mut out = Vec::new();
        retry(&store, id, &mut out).unwrap();
        assert_eq!(store.outbox_pending("telegram", "42").unwrap().len(), 1);
        assert!(retry(&store, id, &mut out).is_err(), "already retried");
        let update = store.dead_letters().unwrap()[0].id;
        assert!(
            retry(&store, update, &mut out).is_err(),
            "updates are not retried"
        );
    }
}

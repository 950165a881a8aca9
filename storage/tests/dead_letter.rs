//! Dead letters in a real sled store: a parked reply leaves the outbox atomically and survives
//! a restart; a skipped update is recorded once however often it comes; a retry puts the
//! reply back at the end of its chat's queue.

use deskbot_storage::{ChannelWrite, DeadLetterKind, RetryOutcome, Store};

fn queue(store: &Store, target: &str, payloads: &[&str]) {
    store
        .channel_commit(&ChannelWrite {
            channel: "telegram".into(),
            target: target.into(),
            outbox: payloads.iter().map(|p| p.as_bytes().to_vec()).collect(),
            ..ChannelWrite::default()
        })
        .unwrap();
}

#[test]
fn a_parked_reply_leaves_the_queue_survives_a_restart_and_comes_back_last() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = Store::open(dir.path()).unwrap();
        queue(&store, "42", &["first", "second"]);
        let pending = store.outbox_pending("telegram", "42").unwrap();
        let id = store
            .park_outbox("telegram", "42", pending[0].0, "sendMessage: refused", 10)
            .unwrap()
            .expect("parked");
        // Parking what is no longer queued writes nothing.
        assert_eq!(
            store
                .park_outbox("telegram", "42", pending[0].0, "again", 11)
                .unwrap(),
            None
        );
        let left: Vec<Vec<u8>> = store
            .outbox_pending("telegram", "42")
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(left, vec![b"second".to_vec()]);
        id
    };
    let store = Store::open(dir.path()).unwrap();
    let letters = store.dead_letters().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, id);
    assert_eq!(letters[0].kind, DeadLetterKind::Reply);
    assert_eq!(letters[0].payload, "first");
    assert_eq!(letters[0].reason, "sendMessage: refused");
    assert_eq!(
        store.retry_dead_letter(id).unwrap(),
        RetryOutcome::Requeued {
            channel: "telegram".into(),
            target: "42".into()
        }
    );
    let order: Vec<Vec<u8>> = store
        .outbox_pending("telegram", "42")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(order, vec![b"second".to_vec(), b"first".to_vec()]);
    assert!(store.dead_letters().unwrap().is_empty());
    assert_eq!(store.retry_dead_letter(id).unwrap(), RetryOutcome::NotFound);
}

#[test]
fn a_skipped_update_is_recorded_once_and_cannot_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store
        .record_skipped_update("telegram", "500", r#"{"update_id":500}"#, "panicked", 1)
        .unwrap();
    let b = store
        .record_skipped_update("telegram", "500", r#"{"update_id":500}"#, "panicked", 2)
        .unwrap();
    assert_eq!(a, b);
    let other = store
        .record_skipped_update("discord", "500", "{}", "does not parse", 3)
        .unwrap();
    assert_ne!(a, other);
    assert_eq!(store.dead_letters().unwrap().len(), 2);
    assert_eq!(
        store.retry_dead_letter(a).unwrap(),
        RetryOutcome::NotRetryable
    );
    assert!(store.dismiss_dead_letter(a).unwrap());
    assert!(!store.dismiss_dead_letter(a).unwrap());
    assert_eq!(store.dead_letters().unwrap().len(), 1);
}

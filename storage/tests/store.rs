//! The store against a real sled database in a temporary directory.

use deskbot_storage::Platform;
use deskbot_storage::{
    ConvKey, Speaker, StorageError, Store, Ticket, TicketStatus, TranscriptEntry, TurnWrite,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    step: u32,
}

fn line(speaker: Speaker, text: &str) -> TranscriptEntry {
    TranscriptEntry::new(1, speaker, text)
}

fn ticket(number: u64, key: &ConvKey, status: TicketStatus) -> Ticket {
    Ticket {
        number,
        conversation: key.clone(),
        display_name: None,
        intent: Some("password_reset".into()),
        confidence: Some(0.9),
        steps_tried: vec![],
        transcript: vec![],
        status,
        opened_at_ms: 1,
        closed_at_ms: None,
        rating: None,
        forgotten: false,
        priority: false,
    }
}

#[test]
fn turns_survive_reopen_with_transcript_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConvKey::new(Platform::Console, "ann");
    {
        let store = Store::open(dir.path()).unwrap();
        for step in 1..=3 {
            store
                .commit_turn(&TurnWrite {
                    key: &key,
                    state: &State { step },
                    transcript: &[
                        line(Speaker::User, &format!("u{step}")),
                        line(Speaker::Bot, &format!("b{step}")),
                    ],
                    tickets: &[],
                    channel: None,
                })
                .unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.conversation::<State>(&key).unwrap(),
        Some(State { step: 3 })
    );
    let texts: Vec<String> = store
        .transcript(&key, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, ["u1", "b1", "u2", "b2", "u3", "b3"]);
    let last_two: Vec<String> = store
        .transcript(&key, 2)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(last_two, ["u3", "b3"]);
    // Another user's transcript is separate, even with a name that extends this one.
    let other = ConvKey::new(Platform::Console, "anna");
    assert!(store.transcript(&other, 100).unwrap().is_empty());
    assert_eq!(store.conversation::<State>(&other).unwrap(), None);
}

#[test]
fn ticket_numbers_grow_across_restarts_and_queue_positions_follow_open_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConvKey::new(Platform::Telegram, "42");
    let (a, b) = {
        let store = Store::open(dir.path()).unwrap();
        let a = store.next_ticket_number().unwrap();
        let b = store.next_ticket_number().unwrap();
        for n in [a, b] {
            store
                .commit_turn(&TurnWrite {
                    key: &key,
                    state: &State { step: 0 },
                    transcript: &[],
                    tickets: &[ticket(n, &key, TicketStatus::Open)],
                    channel: None,
                })
                .unwrap();
        }
        (a, b)
    };
    assert_eq!((a, b), (1, 2));
    let store = Store::open(dir.path()).unwrap();
    let c = store.next_ticket_number().unwrap();
    assert_eq!(c, 3);
    assert_eq!(store.queue_position(a).unwrap(), 1);
    assert_eq!(store.queue_position(b).unwrap(), 2);
    assert_eq!(store.queue_position(c).unwrap(), 3);
    // Closing #1 moves everyone up.
    store
        .commit_turn(&TurnWrite {
            key: &key,
            state: &State { step: 0 },
            transcript: &[],
            tickets: &[ticket(a, &key, TicketStatus::Closed)],
            channel: None,
        })
        .unwrap();
    assert_eq!(store.queue_position(b).unwrap(), 1);
    let open: Vec<u64> = store
        .tickets(true)
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(open, [b]);
    assert_eq!(store.tickets(false).unwrap().len(), 2);
    assert_eq!(
        store.ticket(a).unwrap().unwrap().status,
        TicketStatus::Closed
    );
}

#[test]
fn second_open_is_a_clear_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("in use by another deskbot process"),
        "{err}"
    );
}

#[test]
fn incompatible_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        Store::open(dir.path()).unwrap();
    }
    {
        // Simulate a database written by a future version.
        let db = sled::open(dir.path().join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::IncompatibleSchema {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn corrupt_state_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConvKey::new(Platform::Console, "bob");
    let store = Store::open(dir.path()).unwrap();
    store
        .commit_turn(&TurnWrite {
            key: &key,
            state: &"just a string",
            transcript: &[],
            tickets: &[],
            channel: None,
        })
        .unwrap();
    let err = store.conversation::<State>(&key).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Corrupt {
                tree: "conversations",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Queue positions come from an in-memory mirror of the open tickets: it must follow every
/// writer of the open-ticket index (turns opening and closing tickets, `/forget`).
#[test]
fn queue_positions_follow_opens_closes_and_forget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ann = ConvKey::new(Platform::Telegram, "ann");
    let bob = ConvKey::new(Platform::Telegram, "bob");
    let open = |key: &ConvKey, status| {
        let n = store.next_ticket_number().unwrap();
        store
            .commit_turn(&TurnWrite {
                key,
                state: &State { step: 0 },
                transcript: &[],
                tickets: &[ticket(n, key, status)],
                channel: None,
            })
            .unwrap();
        n
    };
    let a1 = open(&ann, TicketStatus::Open);
    // The mirror is loaded here, then kept up to date.
    assert_eq!(store.queue_position(a1).unwrap(), 1);
    let b1 = open(&bob, TicketStatus::Open);
    let a2 = open(&ann, TicketStatus::Open);
    let b2 = open(&bob, TicketStatus::Open);
    assert_eq!(store.queue_position(b2).unwrap(), 4);
    // A number not open counts the open ones below it.
    assert_eq!(store.queue_position(b2 + 10).unwrap(), 5);
    // Ann forgets: both her tickets close.
    store.forget_user(&ann, 5, false, None, &[]).unwrap();
    assert_eq!(store.queue_position(b1).unwrap(), 1);
    assert_eq!(store.queue_position(b2).unwrap(), 2);
    assert_eq!(store.queue_position(a2).unwrap(), 2);
    // A reopened old ticket (a turn writing it as open again) takes its place by number.
    let reopened = ticket(a1, &ann, TicketStatus::Open);
    store
        .commit_turn(&TurnWrite {
            key: &ann,
            state: &State { step: 0 },
            transcript: &[],
            tickets: &[reopened],
            channel: None,
        })
        .unwrap();
    assert_eq!(store.queue_position(b2).unwrap(), 3);
    drop(store);
    // After a restart the mirror is rebuilt from the tree.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.queue_position(b2).unwrap(), 3);
    assert_eq!(store.queue_position(a1).unwrap(), 1);
}

//! Priority tickets against a real sled database in a temporary directory: the queue puts them
//! first, the in-memory mirror follows every writer and a restart, and the field survives
//! export/import while records and backups written before it existed still load.

use std::collections::BTreeMap;

use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, Speaker, Store, Ticket, TicketStatus, TranscriptEntry, TurnWrite};

fn ticket(number: u64, key: &ConvKey, status: TicketStatus, priority: bool) -> Ticket {
    Ticket {
        number,
        conversation: key.clone(),
        display_name: Some(format!("user {}", key.user)),
        intent: Some(
            if priority {
                "account_compromised"
            } else {
                "sms_code"
            }
            .into(),
        ),
        confidence: Some(0.8),
        steps_tried: vec![],
        transcript: vec![TranscriptEntry::new(
            3,
            Speaker::User,
            "someone changed my email and phone on the account",
        )],
        status,
        opened_at_ms: 3,
        closed_at_ms: (status == TicketStatus::Closed).then_some(4),
        rating: None,
        forgotten: false,
        priority,
    }
}

fn write(store: &Store, t: &Ticket) {
    store
        .commit_turn(&TurnWrite {
            key: &t.conversation,
            state: &serde_json::json!({"phase": "escalated"}),
            transcript: &[],
            tickets: std::slice::from_ref(t),
            channel: None,
        })
        .unwrap();
}

/// Opens a new ticket for `key` and returns its number.
fn open(store: &Store, key: &ConvKey, priority: bool) -> u64 {
    let n = store.next_ticket_number().unwrap();
    write(store, &ticket(n, key, TicketStatus::Open, priority));
    n
}

/// The queue worked out from the ticket records (not from the store's mirror): open tickets
/// sorted priority first, then by number; each number's 1-based position.
fn expected_positions(store: &Store) -> BTreeMap<u64, usize> {
    let mut open = store.tickets(true).unwrap();
    open.sort_by_key(|t| (!t.priority, t.number));
    open.iter()
        .enumerate()
        .map(|(i, t)| (t.number, i + 1))
        .collect()
}

fn positions(store: &Store) -> BTreeMap<u64, usize> {
    store
        .tickets(true)
        .unwrap()
        .iter()
        .map(|t| (t.number, store.queue_position(t.number).unwrap()))
        .collect()
}

#[test]
fn priority_tickets_are_served_first_through_opens_closes_forget_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = |u: &str| ConvKey::new(Platform::Telegram, u);
    let (n1, n2, n3, n4, n5, n6);
    {
        let store = Store::open(dir.path()).unwrap();
        n1 = open(&store, &key("ann"), false);
        // The mirror is loaded here and kept up to date by the writes after.
        assert_eq!(store.queue_position(n1).unwrap(), 1);
        n2 = open(&store, &key("bob"), false);
        n3 = open(&store, &key("cat"), true);
        assert_eq!(
            store.queue_position(n3).unwrap(),
            1,
            "priority jumps the queue"
        );
        assert_eq!(store.queue_position(n1).unwrap(), 2);
        assert_eq!(store.queue_position(n2).unwrap(), 3);
        n4 = open(&store, &key("dan"), false);
        n5 = open(&store, &key("eve"), true);
        // A later priority ticket waits behind the earlier one only.
        assert_eq!(store.queue_position(n5).unwrap(), 2);
        assert_eq!(store.queue_position(n4).unwrap(), 5);
        // A ticket about to be opened is placed where it will go.
        assert_eq!(store.queue_position_as(n5 + 1, true).unwrap(), 3);
        assert_eq!(store.queue_position_as(n5 + 1, false).unwrap(), 6);
        // An unknown number counts as normal.
        assert_eq!(store.queue_position(n5 + 1).unwrap(), 6);
        assert_eq!(positions(&store), expected_positions(&store));

        // Staff close the first priority ticket and a normal one.
        write(&store, &ticket(n3, &key("cat"), TicketStatus::Closed, true));
        write(
            &store,
            &ticket(n1, &key("ann"), TicketStatus::Closed, false),
        );
        assert_eq!(store.queue_position(n5).unwrap(), 1);
        assert_eq!(store.queue_position(n2).unwrap(), 2);
        assert_eq!(store.queue_position(n4).unwrap(), 3);
        assert_eq!(positions(&store), expected_positions(&store));

        // Reopened as priority (a later turn marks it so): it moves ahead of the normal ones,
        // behind no priority ticket opened after it.
        write(&store, &ticket(n1, &key("ann"), TicketStatus::Open, true));
        assert_eq!(store.queue_position(n1).unwrap(), 1);
        assert_eq!(store.queue_position(n5).unwrap(), 2);
        assert_eq!(store.queue_position(n2).unwrap(), 3);
        // And back to normal: it takes its place by number among the normal tickets.
        write(&store, &ticket(n1, &key("ann"), TicketStatus::Open, false));
        assert_eq!(store.queue_position(n1).unwrap(), 2);
        assert_eq!(store.queue_position(n5).unwrap(), 1);
        assert_eq!(positions(&store), expected_positions(&store));

        // Eve forgets herself: her priority ticket closes and leaves the queue.
        store
            .forget_user(&key("eve"), 10, false, None, &[])
            .unwrap();
        assert_eq!(store.queue_position(n1).unwrap(), 1);
        assert_eq!(store.queue_position(n4).unwrap(), 3);
        // The forgotten ticket keeps its priority mark for statistics.
        let forgotten = store.ticket(n5).unwrap().unwrap();
        assert!(forgotten.forgotten && forgotten.priority);
        n6 = open(&store, &key("fay"), true);
        assert_eq!(store.queue_position(n6).unwrap(), 1);
        assert_eq!(positions(&store), expected_positions(&store));
    }
    // After a restart the mirror is rebuilt from the tree and the ticket records.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.queue_position(n6).unwrap(), 1);
    assert_eq!(store.queue_position(n1).unwrap(), 2);
    assert_eq!(store.queue_position(n2).unwrap(), 3);
    assert_eq!(store.queue_position(n4).unwrap(), 4);
    assert_eq!(positions(&store), expected_positions(&store));
}

/// Many users opening and closing tickets at once (committed in shared batches): the mirror
/// the writers keep equals the queue worked out from the records, and equals the mirror a
/// restart loads.
#[test]
fn concurrent_writers_keep_the_mirror_equal_to_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let store = Store::open(dir.path()).unwrap();
        // Loaded before the writes, so every write has to update it.
        assert_eq!(store.queue_position(1).unwrap(), 1);
        std::thread::scope(|s| {
            for w in 0..8u64 {
                let store = store.clone();
                s.spawn(move || {
                    let key = ConvKey::new(Platform::Discord, format!("user{w}"));
                    for i in 0..12u64 {
                        let priority = (w + i) % 3 == 0;
                        let n = open(&store, &key, priority);
                        if i % 2 == 1 {
                            write(&store, &ticket(n, &key, TicketStatus::Closed, priority));
                        }
                    }
                });
            }
        });
        let live = positions(&store);
        assert_eq!(live.len(), 8 * 6);
        assert_eq!(live, expected_positions(&store));
        let firsts = store
            .tickets(true)
            .unwrap()
            .into_iter()
            .filter(|t| t.priority)
            .count();
        assert!(firsts > 0 && firsts < live.len(), "a mix of both kinds");
        live
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(positions(&store), live);
}

#[test]
fn priority_survives_export_and_import_and_the_queue_is_rebuilt() {
    let a = tempfile::tempdir().unwrap();
    let store = Store::open(a.path()).unwrap();
    let ann = ConvKey::new(Platform::Telegram, "ann");
    let bob = ConvKey::new(Platform::Discord, "bob");
    let n1 = open(&store, &ann, false);
    let n2 = open(&store, &bob, true);
    let n3 = open(&store, &ann, false);
    let n4 = open(&store, &bob, true);
    write(&store, &ticket(n4, &bob, TicketStatus::Closed, true));
    let before = positions(&store);
    assert_eq!(before[&n2], 1);
    let mut backup = Vec::new();
    store.export(&mut backup).unwrap();
    let text = String::from_utf8(backup.clone()).unwrap();
    // Only priority tickets carry the field; normal ones look as they always did.
    let tickets: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "ticket")
        .map(|v| v["ticket"].clone())
        .collect();
    assert_eq!(tickets.len(), 4);
    for t in &tickets {
        let priority = t["number"] == n2 || t["number"] == n4;
        assert_eq!(
            t.get("priority"),
            priority.then_some(&serde_json::Value::Bool(true))
        );
    }

    let b = tempfile::tempdir().unwrap();
    let restored = Store::open(b.path()).unwrap();
    restored.import(&mut backup.as_slice()).unwrap();
    assert!(restored.ticket(n2).unwrap().unwrap().priority);
    assert!(restored.ticket(n4).unwrap().unwrap().priority);
    assert!(!restored.ticket(n1).unwrap().unwrap().priority);
    assert_eq!(positions(&restored), before);
    assert_eq!(positions(&restored), expected_positions(&restored));
    // Later writes keep the queue going in the restored store.
    let n5 = restored.next_ticket_number().unwrap();
    assert!(n5 > n4);
    write(&restored, &ticket(n5, &ann, TicketStatus::Open, true));
    assert_eq!(restored.queue_position(n5).unwrap(), 2);
    assert_eq!(restored.queue_position(n3).unwrap(), 4);
    // And a second export equals the first plus that ticket.
    let mut again = Vec::new();
    restored.export(&mut again).unwrap();
    let again = String::from_utf8(again).unwrap();
    assert!(again.contains(r#""priority":true"#));
    assert_eq!(again.matches(r#""priority":true"#).count(), 3);
}

/// A backup written before priority existed (no `priority` anywhere) imports, its tickets read
/// as normal, and the queue is ordered by number as before.
#[test]
fn records_and_backups_from_before_priority_still_load() {
    let old = r#"{"number":7,"conversation":{"channel":"telegram","user":"42"},"display_name":"Zoe","intent":"password_reset","confidence":0.7,"steps_tried":[],"transcript":[{"at_ms":1,"speaker":"user","text":"cant log in since yesterday"}],"status":"open","opened_at_ms":1,"closed_at_ms":null}"#;
    let t: Ticket = serde_json::from_str(old).unwrap();
    assert!(!t.priority);
    // Written back, a normal ticket has no `priority` key: older builds read it unchanged.
    let back = serde_json::to_value(&t).unwrap();
    assert!(back.get("priority").is_none(), "{back}");

    let backup = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        r#"{"kind":"header","format":1,"schema_version":1}"#,
        format_args!(r#"{{"kind":"ticket","ticket":{old}}}"#),
        r#"{"kind":"ticket","ticket":{"number":9,"conversation":{"channel":"console","user":"bo"},"display_name":null,"intent":null,"confidence":null,"steps_tried":[],"transcript":[],"status":"open","opened_at_ms":2,"closed_at_ms":null}}"#,
        r#"{"kind":"open_ticket","number":7,"channel":"telegram","user":"42"}"#,
        r#"{"kind":"open_ticket","number":9,"channel":"console","user":"bo"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.import(&mut backup.as_bytes()).unwrap();
    assert!(!store.ticket(7).unwrap().unwrap().priority);
    assert_eq!(store.queue_position(7).unwrap(), 1);
    assert_eq!(store.queue_position(9).unwrap(), 2);
    // A new priority ticket goes before both.
    write(
        &store,
        &ticket(
            10,
            &ConvKey::new(Platform::Telegram, "5"),
            TicketStatus::Open,
            true,
        ),
    );
    assert_eq!(store.queue_position(10).unwrap(), 1);
    assert_eq!(store.queue_position(9).unwrap(), 3);
}

/// A ticket whose priority is not a boolean is refused at import, naming the line, and
/// nothing of the file is written (not a panic, not a silent guess later).
#[test]
fn a_corrupt_priority_is_a_clear_error() {
    let backup = concat!(
        r#"{"kind":"header","format":1,"schema_version":1}"#,
        "\n",
        r#"{"kind":"ticket","ticket":{"number":3,"priority":"yes"}}"#,
        "\n",
        r#"{"kind":"open_ticket","number":3,"channel":"console","user":"x"}"#,
        "\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.import(&mut backup.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, deskbot_storage::BackupError::Line { line: 2, message } if message.contains("expected a boolean")),
        "{err:?}"
    );
    assert!(store.ticket(3).unwrap().is_none(), "nothing was written");
    assert_eq!(store.queue_position(3).unwrap(), 1);
}

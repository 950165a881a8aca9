//! `forget_user` and `purge_transcripts_before` against a real sled database, and old ticket
//! records (before ratings and `/forget`) still loading.

use deskbot_storage::Platform;
use deskbot_storage::{
    BlockRecord, ChannelWrite, ConvKey, DELETED, Rating, Speaker, StepTried, Store, Ticket,
    TicketEvent, TicketEventKind, TicketStatus, TranscriptEntry, TurnWrite,
};

fn line(at_ms: u64, text: &str) -> TranscriptEntry {
    TranscriptEntry::new(at_ms, Speaker::User, text)
}

fn ticket(number: u64, key: &ConvKey, status: TicketStatus, text: &str) -> Ticket {
    Ticket {
        number,
        conversation: key.clone(),
        display_name: Some(format!("Name of {}", key.user)),
        intent: Some("password_reset".into()),
        confidence: Some(0.9),
        steps_tried: vec![StepTried {
            guide: "password_reset".into(),
            step: 1,
            text: "Open the reset page.".into(),
            answer: format!("answer {text}"),
        }],
        transcript: vec![line(1, text), line(50, text)],
        status,
        opened_at_ms: 1,
        closed_at_ms: (status == TicketStatus::Closed).then_some(2),
        rating: None,
        forgotten: false,
        priority: false,
    }
}

fn turn(store: &Store, key: &ConvKey, lines: &[TranscriptEntry], tickets: &[Ticket]) {
    store
        .commit_turn(&TurnWrite {
            key,
            state: &serde_json::json!({"phase": "idle", "who": key.user}),
            transcript: lines,
            tickets,
            channel: None,
        })
        .unwrap();
}

fn dump(store: &Store) -> String {
    let mut out = Vec::new();
    store.export(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn forget_user_removes_one_users_data_in_every_tree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ann = ConvKey::new(Platform::Discord, "ann-991");
    let anna = ConvKey::new(Platform::Discord, "ann-9910");
    turn(
        &store,
        &ann,
        &[
            line(1, "ann secret-sauce one"),
            line(2, "ann secret-sauce two"),
        ],
        &[
            ticket(1, &ann, TicketStatus::Closed, "ann secret-sauce one"),
            ticket(2, &ann, TicketStatus::Open, "ann secret-sauce two"),
        ],
    );
    turn(
        &store,
        &anna,
        &[line(3, "anna keeps this")],
        &[ticket(3, &anna, TicketStatus::Open, "anna keeps this")],
    );
    store
        .add_ticket_event(
            1,
            &TicketEvent {
                at_ms: 5,
                kind: TicketEventKind::Note,
                by: "Staffer".into(),
                note: Some("ann secret-sauce note".into()),
            },
        )
        .unwrap();
    let block = BlockRecord {
        at_ms: 1,
        by: "Staffer".into(),
        ticket: Some(1),
    };
    store.block_user(&ann, &block).unwrap();
    store.block_user(&anna, &block).unwrap();
    for user in ["ann-991", "ann-9910"] {
        store
            .channel_commit(&ChannelWrite {
                channel: "discord".into(),
                marks: vec![(format!("dm:{user}"), Some(b"5".to_vec()))],
                ..ChannelWrite::default()
            })
            .unwrap();
    }

    // Keeping the block keeps only the block.
    let marks = [("discord".to_string(), "dm:ann-991".to_string())];
    let summary = store.forget_user(&ann, 99, true, None, &marks).unwrap();
    assert_eq!(store.channel_mark("discord", "dm:ann-991").unwrap(), None);
    assert!(
        store
            .channel_mark("discord", "dm:ann-9910")
            .unwrap()
            .is_some()
    );
    assert!(summary.state);
    assert_eq!(summary.transcript_lines, 2);
    assert_eq!(summary.tickets, vec![1, 2]);
    assert_eq!(summary.closed, vec![2]);
    assert!(!summary.block);
    assert!(store.user_block(&ann).unwrap().is_some());
    let all = dump(&store);
    assert!(!all.contains("secret-sauce"), "{all}");
    assert!(!all.contains("Name of ann-991\""), "{all}");
    // Forgetting again finds nothing more but the block, and removes it now.
    let again = store.forget_user(&ann, 100, false, None, &[]).unwrap();
    assert_eq!(again.transcript_lines, 0);
    assert!(again.block && !again.state);
    assert!(store.user_block(&ann).unwrap().is_none());

    for number in [1, 2] {
        let t = store.ticket(number).unwrap().unwrap();
        assert!(t.forgotten);
        assert_eq!(t.status, TicketStatus::Closed);
        assert_eq!(t.display_name, None);
        assert_eq!(t.conversation.user, DELETED);
        assert!(t.transcript.is_empty());
        assert_eq!(t.steps_tried[0].answer, DELETED);
        assert_eq!(t.steps_tried[0].text, "Open the reset page.");
        assert_eq!(t.intent.as_deref(), Some("password_reset"));
    }
    assert_eq!(store.ticket(2).unwrap().unwrap().closed_at_ms, Some(99));
    let notes: Vec<_> = store
        .ticket_events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.note)
        .collect();
    assert_eq!(notes, vec![Some(DELETED.to_string())]);
    assert!(
        store
            .ticket_events(2)
            .unwrap()
            .iter()
            .any(|e| e.kind == TicketEventKind::Closed && e.by == "user")
    );
    // The user whose id starts the same is untouched.
    assert_eq!(store.transcript(&anna, 10).unwrap().len(), 1);
    assert!(store.user_block(&anna).unwrap().is_some());
    let t3 = store.ticket(3).unwrap().unwrap();
    assert_eq!(t3.display_name.as_deref(), Some("Name of ann-9910"));
    assert_eq!(t3.status, TicketStatus::Open);
    assert_eq!(store.tickets(true).unwrap().len(), 1);
}

#[test]
fn purge_removes_old_lines_everywhere_but_open_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = ConvKey::new(Platform::Telegram, "1");
    turn(
        &store,
        &a,
        &[line(10, "old"), line(60, "new")],
        &[
            ticket(1, &a, TicketStatus::Closed, "t"),
            ticket(2, &a, TicketStatus::Open, "t"),
        ],
    );
    let s = store.purge_transcripts_before(50).unwrap();
    assert_eq!((s.lines, s.tickets), (1, 1));
    let left: Vec<_> = store
        .transcript(&a, 10)
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(left, ["new"]);
    let closed = store.ticket(1).unwrap().unwrap();
    assert_eq!(closed.transcript.len(), 1);
    assert_eq!(closed.transcript[0].at_ms, 50, "a line at the cutoff stays");
    assert_eq!(store.ticket(2).unwrap().unwrap().transcript.len(), 2);
    // Reopening the store: the purge was durable.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.transcript(&a, 10).unwrap().len(), 1);
    assert_eq!(store.purge_transcripts_before(50).unwrap().lines, 0);
}

#[test]
fn a_rating_is_stored_and_old_tickets_without_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConvKey::new(Platform::Telegram, "5");
    // A ticket as written before ratings and /forget existed.
    let old = serde_json::json!({
        "number": 7, "conversation": {"channel": "telegram", "user": "5"},
        "display_name": "Old", "intent": null, "confidence": null, "steps_tried": [],
        "transcript": [], "status": "closed", "opened_at_ms": 1, "closed_at_ms": 2
    });
    let backup = format!(
        "{}\n{}\n",
        serde_json::json!({"kind": "header", "format": deskbot_storage::BACKUP_FORMAT, "schema_version": deskbot_storage::SCHEMA_VERSION}),
        serde_json::json!({"kind": "ticket", "ticket": old})
    );
    let store = Store::open(dir.path()).unwrap();
    store.import(&mut backup.as_bytes()).unwrap();
    let t = store.ticket(7).unwrap().unwrap();
    assert_eq!(t.rating, None);
    assert!(!t.forgotten);
    assert_eq!(t.display_name.as_deref(), Some("Old"));
    let mut rated = ticket(8, &key, TicketStatus::Closed, "x");
    rated.rating = Some(Rating::Down);
    turn(&store, &key, &[], &[rated.clone()]);
    assert_eq!(store.ticket(8).unwrap().unwrap().rating, Some(Rating::Down));
    let text = serde_json::to_string(&rated).unwrap();
    assert!(text.contains("\"rating\":\"down\""), "{text}");
    assert!(
        !text.contains("forgotten"),
        "unset flags stay out of records"
    );
}

//! Export and import (JSON Lines backup) against real sled databases in temporary directories.

use deskbot_storage::Platform;
use deskbot_storage::{
    BackupError, ChannelWrite, ConvKey, Speaker, Store, Ticket, TicketStatus, TranscriptEntry,
    TurnWrite,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    step: u32,
    note: String,
}

fn line(speaker: Speaker, text: &str) -> TranscriptEntry {
    TranscriptEntry::new(1_700_000_000_000, speaker, text)
}

fn ticket(number: u64, key: &ConvKey, status: TicketStatus) -> Ticket {
    Ticket {
        number,
        conversation: key.clone(),
        display_name: Some("Ann \u{1F600}".into()),
        intent: Some("password_reset".into()),
        confidence: Some(0.8765),
        steps_tried: vec![],
        transcript: vec![line(Speaker::User, "help")],
        status,
        opened_at_ms: 5,
        closed_at_ms: (status == TicketStatus::Closed).then_some(9),
        rating: None,
        forgotten: false,
        priority: false,
    }
}

fn keys() -> Vec<ConvKey> {
    vec![
        ConvKey::new(Platform::Console, "ann"),
        ConvKey::new(Platform::Console, "anna"),
        ConvKey::new(Platform::Telegram, "42"),
        ConvKey::new(Platform::Discord, "üñí \"quoted\" \n newline"),
    ]
}

/// A store holding every kind of record: states, transcripts, open and closed tickets, the
/// ticket counter, inbox, outbox and marks (including a non-UTF-8 payload).
fn populate(store: &Store) {
    for (i, key) in keys().iter().enumerate() {
        for step in 0..3u32 {
            let number = store.next_ticket_number().unwrap();
            let status = if step == 1 {
                TicketStatus::Closed
            } else {
                TicketStatus::Open
            };
            store
                .commit_turn(&TurnWrite {
                    key,
                    state: &State {
                        step,
                        note: format!("user {i}"),
                    },
                    transcript: &[
                        line(Speaker::User, &format!("{i} says {step}")),
                        line(Speaker::Bot, &format!("bot answers {i}/{step}")),
                    ],
                    tickets: &[ticket(number, key, status)],
                    channel: None,
                })
                .unwrap();
        }
    }
    store
        .inbox_accept(
            "telegram",
            &[(5, b"{\"update\":5}".to_vec()), (6, vec![0, 255, 7])],
            7,
        )
        .unwrap();
    store
        .channel_commit(&ChannelWrite {
            channel: "telegram".into(),
            consumed: Some(5),
            target: "42".into(),
            outbox: vec![b"first".to_vec(), vec![1, 2, 0xfe], b"third".to_vec()],
            marks: vec![("blocked:9".into(), Some(b"1".to_vec()))],
            ..ChannelWrite::default()
        })
        .unwrap();
    store
        .channel_commit(&ChannelWrite {
            channel: "discord".into(),
            target: "77".into(),
            outbox: vec![b"d1".to_vec()],
            ..ChannelWrite::default()
        })
        .unwrap();
}

fn export(store: &Store) -> String {
    let mut out = Vec::new();
    store.export(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The export with the sequence numbers (which an import renumbers) blanked.
fn without_seqs(backup: &str) -> Vec<serde_json::Value> {
    backup
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(seq) = v.get_mut("seq") {
                *seq = serde_json::Value::Null;
            }
            v
        })
        .collect()
}

#[test]
fn round_trip_restores_everything_the_store_holds() {
    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    let backup = {
        let store = Store::open(src_dir.path()).unwrap();
        populate(&store);
        let mut out = Vec::new();
        let summary = store.export(&mut out).unwrap();
        assert_eq!(summary.conversations, 4);
        assert_eq!(summary.transcript_lines, 24);
        assert_eq!(summary.tickets, 12);
        // inbox: 1 left (6), outbox: 3 + 1, marks: offset + blocked.
        assert_eq!(summary.channel_records, 7);
        String::from_utf8(out).unwrap()
    };
    assert!(backup.lines().next().unwrap().contains("\"header\""));

    {
        let restored = Store::open(dst_dir.path()).unwrap();
        let summary = restored.import(&mut backup.as_bytes()).unwrap();
        assert_eq!(summary.transcript_lines, 24);
        assert_eq!(summary.total() + 1, backup.lines().count() as u64);
    }
    // Reopen: the import was flushed and the database opens cleanly.
    let restored = Store::open(dst_dir.path()).unwrap();
    let original = Store::open(src_dir.path()).unwrap();
    for key in keys() {
        assert_eq!(
            restored.conversation::<State>(&key).unwrap(),
            original.conversation::<State>(&key).unwrap()
        );
        assert_eq!(
            restored.transcript(&key, 100).unwrap(),
            original.transcript(&key, 100).unwrap(),
            "{key}"
        );
    }
    assert_eq!(
        restored.tickets(false).unwrap(),
        original.tickets(false).unwrap()
    );
    assert_eq!(
        restored.tickets(true).unwrap(),
        original.tickets(true).unwrap()
    );
    assert_eq!(restored.tickets(true).unwrap().len(), 8);
    assert_eq!(restored.queue_position(12).unwrap(), 8);
    assert_eq!(restored.channel_offset("telegram").unwrap(), 7);
    assert_eq!(
        restored.inbox_pending("telegram").unwrap(),
        vec![(6, vec![0, 255, 7])]
    );
    let payloads = |s: &Store, c: &str, t: &str| -> Vec<Vec<u8>> {
        s.outbox_pending(c, t)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    };
    assert_eq!(
        payloads(&restored, "telegram", "42"),
        vec![b"first".to_vec(), vec![1, 2, 0xfe], b"third".to_vec()]
    );
    assert_eq!(payloads(&restored, "discord", "77"), vec![b"d1".to_vec()]);
    assert_eq!(
        restored.channel_mark("telegram", "blocked:9").unwrap(),
        Some(b"1".to_vec())
    );
    // A second export is the same backup, up to the renumbered sequence numbers.
    assert_eq!(without_seqs(&export(&restored)), without_seqs(&backup));

    // Life goes on after a restore: ticket numbers continue, new transcript lines sort last.
    assert_eq!(restored.next_ticket_number().unwrap(), 13);
    let ann = ConvKey::new(Platform::Console, "ann");
    restored
        .commit_turn(&TurnWrite {
            key: &ann,
            state: &State {
                step: 9,
                note: "after".into(),
            },
            transcript: &[line(Speaker::User, "after the restore")],
            tickets: &[],
            channel: None,
        })
        .unwrap();
    let t = restored.transcript(&ann, 100).unwrap();
    assert_eq!(t.len(), 7);
    assert_eq!(t.last().unwrap().text, "after the restore");
    assert_eq!(t[0].text, "0 says 0");
}

#[test]
fn import_refuses_a_store_that_holds_data_and_changes_nothing() {
    let src_dir = tempfile::tempdir().unwrap();
    let store = Store::open(src_dir.path()).unwrap();
    populate(&store);
    let backup = export(&store);
    let before = store.record_count().unwrap();
    assert!(before > 0);
    let err = store.import(&mut backup.as_bytes()).unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("empty data directory"), "{err}");
    assert_eq!(store.record_count().unwrap(), before);
    assert_eq!(without_seqs(&export(&store)), without_seqs(&backup));
}

#[test]
fn a_bad_line_names_its_number_and_leaves_the_store_empty() {
    let src_dir = tempfile::tempdir().unwrap();
    let store = Store::open(src_dir.path()).unwrap();
    populate(&store);
    let backup = export(&store);
    let mut lines: Vec<&str> = backup.lines().collect();
    lines.insert(5, "{\"kind\":\"conversation\",\"channel\":\"console\"}");
    let broken = lines.join("\n");

    let dst_dir = tempfile::tempdir().unwrap();
    let restored = Store::open(dst_dir.path()).unwrap();
    let err = restored.import(&mut broken.as_bytes()).unwrap_err();
    assert!(
        matches!(err, BackupError::Line { line: 6, .. }),
        "wrong error: {err}"
    );
    assert_eq!(restored.record_count().unwrap(), 0);
    // The same store then takes the good backup.
    restored.import(&mut backup.as_bytes()).unwrap();
    assert_eq!(restored.tickets(false).unwrap().len(), 12);
}

#[test]
fn files_that_are_not_backups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for bad in [
        "",
        "{\"kind\":\"meta\",\"key\":{\"text\":\"x\"},\"value\":{\"text\":\"y\"}}\n",
        "{\"kind\":\"header\",\"format\":99,\"schema_version\":1}\n",
        "not json at all\n",
    ] {
        let err = store.import(&mut bad.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::Format(_) | BackupError::Line { line: 1, .. }
            ),
            "{bad:?}: {err}"
        );
        assert_eq!(store.record_count().unwrap(), 0, "{bad:?}");
    }
    // An empty database exports just the header, and that imports.
    let empty = export(&store);
    assert_eq!(empty.lines().count(), 1);
    let other = tempfile::tempdir().unwrap();
    let summary = Store::open(other.path())
        .unwrap()
        .import(&mut empty.as_bytes())
        .unwrap();
    assert_eq!(summary.total(), 0);
}

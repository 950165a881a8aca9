//! Channel bookkeeping (inbox, outbox, marks) against a real sled database.

use deskbot_storage::Platform;
use deskbot_storage::{ChannelWrite, ConvKey, StorageError, Store, TurnWrite};

fn reply_for(id: u64, target: &str, texts: &[&str]) -> ChannelWrite {
    ChannelWrite {
        channel: "telegram".into(),
        consumed: Some(id),
        target: target.into(),
        outbox: texts.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..ChannelWrite::default()
    }
}

#[test]
fn accepted_updates_survive_reopen_and_are_never_accepted_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.channel_offset("telegram").unwrap(), 0);
        let got = store
            .inbox_accept("telegram", &[(5, b"a".to_vec()), (6, b"b".to_vec())], 7)
            .unwrap();
        assert_eq!(got, vec![5, 6]);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.channel_offset("telegram").unwrap(), 7);
    assert_eq!(
        store.inbox_pending("telegram").unwrap(),
        vec![(5, b"a".to_vec()), (6, b"b".to_vec())]
    );
    // Telegram sends 6 again (our confirmation was lost) along with a new 7.
    let got = store
        .inbox_accept("telegram", &[(6, b"b".to_vec()), (7, b"c".to_vec())], 8)
        .unwrap();
    assert_eq!(got, vec![7]);
    // Another channel has its own offset.
    assert_eq!(store.channel_offset("discord").unwrap(), 0);
}

#[test]
fn an_update_is_consumed_at_most_once_with_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .inbox_accept("telegram", &[(1, b"x".to_vec())], 2)
        .unwrap();
    let key = ConvKey::new(Platform::Telegram, "42");
    let write = reply_for(1, "42", &["hello", "world"]);
    store
        .commit_turn(&TurnWrite {
            key: &key,
            state: &1u32,
            transcript: &[],
            tickets: &[],
            channel: Some(&write),
        })
        .unwrap();
    assert!(store.inbox_pending("telegram").unwrap().is_empty());
    let err = store
        .commit_turn(&TurnWrite {
            key: &key,
            state: &2u32,
            transcript: &[],
            tickets: &[],
            channel: Some(&write),
        })
        .unwrap_err();
    assert!(
        matches!(err, StorageError::AlreadyHandled { id: 1, .. }),
        "{err:?}"
    );
    // Nothing of the refused turn was written.
    assert_eq!(store.conversation::<u32>(&key).unwrap(), Some(1));
    let queued = store.outbox_pending("telegram", "42").unwrap();
    let texts: Vec<&[u8]> = queued.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(texts, vec![b"hello".as_slice(), b"world".as_slice()]);
}

#[test]
fn outbox_keeps_order_per_target_and_clears_for_blocked_users() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .inbox_accept("telegram", &[(1, vec![]), (2, vec![]), (3, vec![])], 4)
        .unwrap();
    store
        .channel_commit(&reply_for(1, "7", &["a1", "a2"]))
        .unwrap();
    store.channel_commit(&reply_for(2, "8", &["b1"])).unwrap();
    store.channel_commit(&reply_for(3, "7", &["a3"])).unwrap();
    assert_eq!(store.outbox_targets("telegram").unwrap(), vec!["7", "8"]);
    let a = store.outbox_pending("telegram", "7").unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a[2].1, b"a3");
    store.outbox_remove("telegram", "7", a[0].0).unwrap();
    assert_eq!(store.outbox_pending("telegram", "7").unwrap().len(), 2);
    store
        .channel_commit(&ChannelWrite {
            channel: "telegram".into(),
            target: "7".into(),
            clear_outbox: true,
            marks: vec![("blocked:7".into(), Some(b"1".to_vec()))],
            ..ChannelWrite::default()
        })
        .unwrap();
    assert!(store.outbox_pending("telegram", "7").unwrap().is_empty());
    assert_eq!(store.outbox_pending("telegram", "8").unwrap().len(), 1);
    assert_eq!(
        store.channel_mark("telegram", "blocked:7").unwrap(),
        Some(b"1".to_vec())
    );
    store
        .channel_commit(&ChannelWrite {
            channel: "telegram".into(),
            target: "7".into(),
            marks: vec![("blocked:7".into(), None)],
            ..ChannelWrite::default()
        })
        .unwrap();
    assert_eq!(store.channel_mark("telegram", "blocked:7").unwrap(), None);
}

/// Concurrent turns are committed in shared batches (one transaction and one flush for many
/// turns): every turn lands whole with its channel write, and a turn whose update was handled
/// before fails alone with `AlreadyHandled`, writing nothing, while the others land.
#[test]
fn concurrent_turns_land_in_batches_and_a_handled_update_fails_alone() {
    use deskbot_storage::{Speaker, TranscriptEntry};
    const THREADS: u64 = 16;
    const TURNS: u64 = 25;
    let contested = THREADS * TURNS + 1;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let entries: Vec<(u64, Vec<u8>)> = (1..=contested).map(|id| (id, b"u".to_vec())).collect();
        store
            .inbox_accept("telegram", &entries, contested + 1)
            .unwrap();
        let barrier = std::sync::Barrier::new(THREADS as usize);
        let contested_wins = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (store, barrier, contested_wins) = (&store, &barrier, &contested_wins);
                scope.spawn(move || {
                    // All threads race for one update, each as a different user: one wins.
                    let rival = ConvKey::new(Platform::Telegram, format!("rival{t}"));
                    barrier.wait();
                    match store.commit_turn(&TurnWrite {
                        key: &rival,
                        state: &t,
                        transcript: &[],
                        tickets: &[],
                        channel: Some(&reply_for(contested, &rival.user, &["won"])),
                    }) {
                        Ok(()) => {
                            contested_wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(StorageError::AlreadyHandled { id, .. }) => assert_eq!(id, contested),
                        Err(e) => panic!("contested turn: {e}"),
                    }
                    let key = ConvKey::new(Platform::Telegram, format!("u{t}"));
                    let replay = ConvKey::new(Platform::Telegram, format!("replay{t}"));
                    for n in 0..TURNS {
                        let id = 1 + t * TURNS + n;
                        let lines = [
                            TranscriptEntry::new(n, Speaker::User, format!("u{n}")),
                            TranscriptEntry::new(n, Speaker::Bot, format!("b{n}")),
                        ];
                        store
                            .commit_turn(&TurnWrite {
                                key: &key,
                                state: &n,
                                transcript: &lines,
                                tickets: &[],
                                channel: Some(&reply_for(id, &key.user, &[&format!("r{n}")])),
                            })
                            .unwrap();
                        // Every few turns, the first update handled again (a redelivery).
                        if n % 5 == 4 {
                            let err = store
                                .commit_turn(&TurnWrite {
                                    key: &replay,
                                    state: &n,
                                    transcript: &lines,
                                    tickets: &[],
                                    channel: Some(&reply_for(1 + t * TURNS, &replay.user, &["x"])),
                                })
                                .unwrap_err();
                            assert!(
                                matches!(err, StorageError::AlreadyHandled { id, .. } if id == 1 + t * TURNS),
                                "{err:?}"
                            );
                        }
                    }
                });
            }
        });
        assert_eq!(contested_wins.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.inbox_pending("telegram").unwrap().is_empty());
    let mut winners = 0;
    for t in 0..THREADS {
        let key = ConvKey::new(Platform::Telegram, format!("u{t}"));
        assert_eq!(store.conversation::<u64>(&key).unwrap(), Some(TURNS - 1));
        let transcript = store.transcript(&key, usize::MAX).unwrap();
        let texts: Vec<String> = transcript.into_iter().map(|l| l.text).collect();
        let expected: Vec<String> = (0..TURNS)
            .flat_map(|n| [format!("u{n}"), format!("b{n}")])
            .collect();
        assert_eq!(texts, expected);
        let queued = store.outbox_pending("telegram", &key.user).unwrap();
        let queued: Vec<Vec<u8>> = queued.into_iter().map(|(_, p)| p).collect();
        let expected: Vec<Vec<u8>> = (0..TURNS).map(|n| format!("r{n}").into_bytes()).collect();
        assert_eq!(queued, expected);
        // Refused turns wrote nothing.
        let replay = ConvKey::new(Platform::Telegram, format!("replay{t}"));
        assert_eq!(store.conversation::<u64>(&replay).unwrap(), None);
        assert!(store.transcript(&replay, usize::MAX).unwrap().is_empty());
        assert!(
            store
                .outbox_pending("telegram", &replay.user)
                .unwrap()
                .is_empty()
        );
        let rival = ConvKey::new(Platform::Telegram, format!("rival{t}"));
        let won = store.outbox_pending("telegram", &rival.user).unwrap();
        match store.conversation::<u64>(&rival).unwrap() {
            Some(state) => {
                assert_eq!(state, t);
                assert_eq!(won.len(), 1);
                winners += 1;
            }
            None => assert!(won.is_empty()),
        }
    }
    assert_eq!(winners, 1);
}

#[test]
fn an_entry_is_updated_in_place_in_its_order_and_a_removed_one_is_not_revived() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let queue = ChannelWrite {
            consumed: None,
            ..reply_for(1, "9", &["first", "second"])
        };
        store.channel_commit(&queue).unwrap();
        let queued = store.outbox_pending("telegram", "9").unwrap();
        let (first, second) = (queued[0].0, queued[1].0);
        assert!(
            store
                .outbox_update("telegram", "9", first, b"first, part 2")
                .unwrap()
        );
        store.outbox_remove("telegram", "9", second).unwrap();
        assert!(!store.outbox_update("telegram", "9", second, b"x").unwrap());
    }
    let store = Store::open(dir.path()).unwrap();
    let payloads: Vec<Vec<u8>> = store
        .outbox_pending("telegram", "9")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(payloads, vec![b"first, part 2".to_vec()]);
}

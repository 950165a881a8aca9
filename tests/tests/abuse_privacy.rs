//! Abuse resistance and privacy through the real engine, the desk and a real sled database:
//! flood control, the length cap, `/forget`, retention, and rating a closed ticket.
//!
//! Time is injected (the desk's clock is a counter the test moves), so no assertion depends on
//! the wall clock.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use deskbot_desk::desk::{Desk, TurnRequest, TurnResult};
use deskbot_desk::flood::FloodLimits;
use deskbot_desk::outbox::{Address, Delivery, Envelope};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input, MAX_INPUT_CHARS, Outcome, Phase};
use deskbot_storage::Platform;
use deskbot_storage::{
    BlockRecord, ChannelWrite, ConvKey, DELETED, Rating, StorageError, TicketStatus,
};

const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let catalog = Catalog::builtin().expect("built-in catalog loads");
            Arc::new(Engine::new(catalog).expect("engine trains"))
        })
        .clone()
}

/// A desk whose clock reads `clock` (Unix ms).
fn desk_at(dir: &Path, clock: &Arc<AtomicU64>) -> Desk {
    let c = clock.clone();
    Desk::open(engine(), dir)
        .expect("store opens")
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)))
}

fn say(desk: &Desk, key: &ConvKey, name: &str, text: &str) -> TurnResult {
    desk.handle(key, Some(name), &Input::Text(text.into()))
        .expect("turn commits")
}

fn press(desk: &Desk, key: &ConvKey, last: &TurnResult, label: &str) -> TurnResult {
    let button = last
        .reply
        .buttons
        .iter()
        .find(|b| b.label.starts_with(label))
        .unwrap_or_else(|| panic!("no button {label:?} in {:?}", last.reply));
    desk.handle(key, None, &Input::Button(button.id.clone()))
        .expect("turn commits")
}

/// What a chat adapter queues for a reply: nothing for a silent one (no text, no buttons).
/// What a Telegram-like channel hands the desk with a turn: the update it consumes, and its
/// chat as the reply's address.
fn delivery(key: &ConvKey, update: u64) -> Delivery {
    Delivery {
        channel: "telegram".into(),
        consumed: Some(update),
        address: Address {
            target: key.user.clone(),
            route: serde_json::json!({ "chat": key.user }),
        },
        nonce: format!("u{update}"),
        always: false,
        marks: Vec::new(),
    }
}

/// One Telegram-like update: accepted into the inbox, then handled through the desk with the
/// channel bookkeeping that consumes it.
fn telegram_text(
    desk: &Desk,
    key: &ConvKey,
    update: u64,
    text: &str,
) -> Result<TurnResult, StorageError> {
    desk.store()
        .inbox_accept(
            "telegram",
            &[(update, text.as_bytes().to_vec())],
            update + 1,
        )
        .expect("inbox accepts");
    handle_update(desk, key, update, text)
}

fn handle_update(
    desk: &Desk,
    key: &ConvKey,
    update: u64,
    text: &str,
) -> Result<TurnResult, StorageError> {
    let input = Input::Text(text.into());
    desk.turn(
        &TurnRequest::new(key, &input)
            .name(Some("Flo"))
            .deliver(delivery(key, update)),
    )
}

fn queued(desk: &Desk, key: &ConvKey) -> Vec<String> {
    desk.store()
        .outbox_pending("telegram", &key.user)
        .unwrap()
        .into_iter()
        .map(|(_, p)| Envelope::decode(&p).unwrap().reply.text)
        .collect()
}

#[test]
fn flood_gets_one_slow_down_then_is_ignored_then_served_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(1_000 * DAY_MS));
    let limits = FloodLimits::new(4, 30).unwrap();
    let desk = desk_at(dir.path(), &clock).with_flood(Some(limits));
    let flo = ConvKey::new(Platform::Telegram, "501");
    let calm = ConvKey::new(Platform::Telegram, "502");

    // Four messages within a second are fine: a guide starts and goes on.
    let mut update = 10;
    let r = telegram_text(&desk, &flo, update, "I forgot my password").unwrap();
    assert_eq!(r.outcome, Outcome::GuideStarted);
    for text in ["ok", "ok", "ok"] {
        update += 1;
        clock.fetch_add(100, Ordering::SeqCst);
        let r = telegram_text(&desk, &flo, update, text).unwrap();
        assert!(!r.reply.text.is_empty());
    }
    let state = desk.conversation(&flo).unwrap();
    let lines = desk.store().transcript(&flo, 1_000).unwrap().len();
    assert_eq!(lines, 8, "four turns of two lines each");
    let replies = queued(&desk, &flo).len();

    // The fifth within 10 s: one slow-down reply, the engine does not run.
    update += 1;
    clock.fetch_add(100, Ordering::SeqCst);
    let r = telegram_text(&desk, &flo, update, "no").unwrap();
    assert_eq!(r.outcome, Outcome::Throttled);
    assert!(r.reply.text.contains("slow") || r.reply.text.contains("quickly"));
    assert!(r.reply.text.contains("30 seconds"), "{}", r.reply.text);
    assert!(r.reply.buttons.is_empty());
    let q = queued(&desk, &flo);
    assert_eq!(q.len(), replies + 1);
    assert_eq!(q.last().unwrap(), &r.reply.text);

    // Then everything is ignored: empty reply, nothing queued, nothing stored, state as it
    // was; but each update is consumed from the inbox.
    for (i, text) in ["no", "hello??", "/human", "my code is 492817"]
        .iter()
        .enumerate()
    {
        update += 1;
        clock.fetch_add(5_000, Ordering::SeqCst);
        let r = telegram_text(&desk, &flo, update, text).unwrap();
        assert_eq!(r.outcome, Outcome::Ignored, "message {i}");
        assert!(r.reply.text.is_empty() && r.reply.buttons.is_empty());
        assert_eq!(r.opened_ticket, None);
    }
    assert!(desk.store().inbox_pending("telegram").unwrap().is_empty());
    assert_eq!(queued(&desk, &flo).len(), replies + 1);
    assert_eq!(desk.conversation(&flo).unwrap(), state);
    let transcript = desk.store().transcript(&flo, 1_000).unwrap();
    assert_eq!(transcript.len(), lines);
    assert!(!transcript.iter().any(|l| l.text.contains("hello??")));
    assert!(desk.store().tickets(false).unwrap().is_empty());
    // An ignored update that comes again is still refused as already handled.
    assert!(matches!(
        handle_update(&desk, &flo, update, "again"),
        Err(StorageError::AlreadyHandled { .. })
    ));

    // Another user is not affected meanwhile.
    // (Update ids are per bot, not per chat, so they keep growing across users.)
    update += 1;
    let r = telegram_text(&desk, &calm, update, "I forgot my password").unwrap();
    assert_eq!(r.outcome, Outcome::GuideStarted);

    // 30 s after the slow-down (20 s have passed): served normally again.
    clock.fetch_add(10_000, Ordering::SeqCst);
    update += 1;
    let r = telegram_text(&desk, &flo, update, "no").unwrap();
    assert_ne!(r.outcome, Outcome::Ignored);
    assert_ne!(r.outcome, Outcome::Throttled);
    assert!(matches!(r.conversation.phase, Phase::Guide { .. }));
    assert_eq!(
        desk.store().transcript(&flo, 1_000).unwrap().len(),
        lines + 2
    );
    assert_eq!(queued(&desk, &flo).len(), replies + 2);
}

#[test]
fn a_backlog_handled_at_once_is_counted_by_when_it_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_000 * DAY_MS;
    let clock = Arc::new(AtomicU64::new(now));
    let desk = desk_at(dir.path(), &clock).with_flood(FloodLimits::new(4, 30));
    let key = ConvKey::new(Platform::Telegram, "808");
    // Twelve messages sent a minute apart while the bot was down, handled in one instant.
    for i in 0..12u64 {
        let sent = now - (12 - i) * 60_000;
        let input = Input::Text("hello".into());
        let r = desk
            .turn(&TurnRequest::new(&key, &input).sent_at(Some(sent)))
            .unwrap();
        assert!(
            !matches!(r.outcome, Outcome::Throttled | Outcome::Ignored),
            "message {i}"
        );
    }
    // The same twelve really sent within a second are a flood.
    let fast = ConvKey::new(Platform::Telegram, "809");
    let outcomes: Vec<Outcome> = (0..12u64)
        .map(|i| {
            let input = Input::Text("hello".into());
            desk.turn(&TurnRequest::new(&fast, &input).sent_at(Some(now - 1_000 + i * 50)))
                .unwrap()
                .outcome
        })
        .collect();
    assert_eq!(outcomes[4], Outcome::Throttled);
    assert!(outcomes[5..].iter().all(|o| *o == Outcome::Ignored));
}

#[test]
fn flood_control_is_off_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(5));
    let desk = desk_at(dir.path(), &clock);
    let key = ConvKey::new(Platform::Console, "script");
    for _ in 0..30 {
        let r = say(&desk, &key, "script", "hello");
        assert!(!r.reply.text.is_empty());
        assert_ne!(r.outcome, Outcome::Ignored);
    }
    assert_eq!(desk.store().transcript(&key, 1_000).unwrap().len(), 60);
}

#[test]
fn a_huge_message_gets_a_clear_answer_and_is_stored_cut() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(5));
    let desk = desk_at(dir.path(), &clock);
    let key = ConvKey::new(Platform::Telegram, "77");
    let r = say(&desk, &key, "Long", "I forgot my password");
    let step = r.conversation.phase.clone();
    let huge = "my account is locked ".repeat(50_000);
    let r = say(&desk, &key, "Long", &huge);
    assert!(r.reply.text.contains("too long"), "{}", r.reply.text);
    // The guide is still where it was, its buttons offered again.
    assert_eq!(r.conversation.phase, step);
    assert!(!r.reply.buttons.is_empty());
    let last_user = desk.store().transcript(&key, 2).unwrap()[0].clone();
    assert_eq!(
        last_user.text.chars().count(),
        deskbot_desk::desk::TRANSCRIPT_CHARS + 1
    );
    // Exactly at the cap is still read normally.
    let at_cap = format!("{}{}", "a".repeat(MAX_INPUT_CHARS - 10), " thank you");
    let r = say(&desk, &key, "Long", &at_cap);
    assert!(!r.reply.text.contains("too long"), "{}", r.reply.text);
}

/// Everything stored, as `deskbot export` writes it.
fn dump(desk: &Desk) -> String {
    let mut out = Vec::new();
    desk.store().export(&mut out).expect("export");
    String::from_utf8(out).expect("utf-8")
}

/// Ann's distinctive texts, name and id: none may survive `/forget`.
const ANN_ID: &str = "ann-7731";
const ANN_NAME: &str = "Annabelle Quark";
const ANN_TEXTS: [&str; 3] = [
    "my redmi with the zebra case says account locked",
    "still locked on the zebra phone",
    "the zebra phone again",
];

fn ann_and_bob(desk: &Desk, clock: &AtomicU64) -> (ConvKey, ConvKey, u64, u64) {
    let ann = ConvKey::new(Platform::Telegram, ANN_ID);
    let bob = ConvKey::new(Platform::Telegram, "bob-2200");
    say(
        desk,
        &bob,
        "Bob Builder",
        "I forgot my password, walrus edition",
    );
    // Ann: a ticket opened and closed, then a second one still open.
    let r = say(desk, &ann, ANN_NAME, ANN_TEXTS[0]);
    assert!(matches!(r.conversation.phase, Phase::Guide { .. }));
    let r = press(desk, &ann, &r, "No, still stuck");
    let r = press(desk, &ann, &r, "Talk to a person");
    let first = r.opened_ticket.expect("first ticket");
    clock.fetch_add(1_000, Ordering::SeqCst);
    desk.close_ticket(first).unwrap().expect("closed");
    say(desk, &ann, ANN_NAME, ANN_TEXTS[1]);
    let r = say(desk, &ann, ANN_NAME, "/human");
    let second = r.opened_ticket.expect("second ticket");
    say(desk, &ann, ANN_NAME, ANN_TEXTS[2]);
    // Bob escalates too.
    let r = say(desk, &bob, "Bob Builder", "/human");
    assert!(r.opened_ticket.is_some());
    desk.store()
        .block_user(
            &ann,
            &BlockRecord {
                at_ms: 1,
                by: "Staffer".into(),
                ticket: Some(first),
            },
        )
        .unwrap();
    (ann, bob, first, second)
}

#[test]
fn forget_asks_first_and_no_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(10 * DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let (ann, _bob, _first, second) = ann_and_bob(&desk, &clock);
    let r = say(&desk, &ann, ANN_NAME, "/forget");
    assert!(
        r.reply.text.contains("delete everything"),
        "{}",
        r.reply.text
    );
    assert!(
        r.reply.text.contains(&format!("#{second}")),
        "the open ticket is named: {}",
        r.reply.text
    );
    let labels: Vec<&str> = r.reply.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["Yes, delete", "No, keep"]);
    // Asking changed nothing yet: the ticket is still open.
    assert_eq!(r.conversation.ticket(), Some(second));
    let before = dump(&desk);
    let r = press(&desk, &ann, &r, "No, keep");
    assert_eq!(r.outcome, Outcome::None);
    assert!(r.reply.text.contains("haven't deleted"), "{}", r.reply.text);
    assert_eq!(r.conversation.ticket(), Some(second));
    let after = dump(&desk);
    for needle in ANN_TEXTS.iter().chain([&ANN_NAME, &ANN_ID]) {
        assert!(before.contains(needle), "{needle} before");
        assert!(after.contains(needle), "{needle} kept after No");
    }
    assert!(desk.store().user_block(&ann).unwrap().is_some());
    assert_eq!(
        desk.store().ticket(second).unwrap().unwrap().status,
        TicketStatus::Open
    );
}

#[test]
fn forget_deletes_all_of_the_users_data_and_nobody_elses() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(10 * DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let (ann, bob, first, second) = ann_and_bob(&desk, &clock);
    let bob_lines = desk.store().transcript(&bob, 1_000).unwrap();
    let bob_state = desk.conversation(&bob).unwrap();
    // A natural phrase asks too; a forged or stale "yes" deletes nothing.
    let ask = say(&desk, &ann, ANN_NAME, "please delete my data");
    assert_eq!(ask.reply.buttons.len(), 2);
    let stale = desk
        .handle(&ann, None, &Input::Button("1:forget_yes".into()))
        .unwrap();
    assert_ne!(stale.outcome, Outcome::Forgotten);
    assert!(dump(&desk).contains(ANN_TEXTS[0]));
    let ask = say(&desk, &ann, ANN_NAME, "/forget");

    clock.fetch_add(1_000, Ordering::SeqCst);
    let done = press(&desk, &ann, &ask, "Yes, delete");
    assert_eq!(done.outcome, Outcome::Forgotten);
    assert!(done.reply.text.contains("deleted"), "{}", done.reply.text);

    // Nothing of Ann's is left anywhere in the database but the staff block on her id, kept
    // so that /forget cannot shed a block: one record, with only who blocked her and when.
    let dumped = dump(&desk);
    let (blocks, rest): (Vec<&str>, Vec<&str>) = dumped
        .lines()
        .partition(|l| l.contains("\"tree\":\"handoff_blocked\""));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert!(blocks[0].contains("Staffer"), "{}", blocks[0]);
    for needle in ANN_TEXTS.iter().chain([&ANN_NAME, &"zebra", &"Annabelle"]) {
        assert!(
            !blocks[0].contains(needle),
            "{needle:?} in the block record"
        );
    }
    let all = rest.join("\n");
    for needle in ANN_TEXTS
        .iter()
        .chain([&ANN_NAME, &ANN_ID, &"zebra", &"Annabelle"])
    {
        assert!(!all.contains(needle), "{needle:?} survived /forget");
    }
    assert!(
        desk.store()
            .conversation::<serde_json::Value>(&ann)
            .unwrap()
            .is_none()
    );
    assert!(desk.store().transcript(&ann, 1_000).unwrap().is_empty());
    assert!(desk.store().user_block(&ann).unwrap().is_some());
    // Her tickets stay for statistics, closed and stripped.
    for number in [first, second] {
        let t = desk.store().ticket(number).unwrap().expect("ticket kept");
        assert_eq!(t.status, TicketStatus::Closed);
        assert!(t.forgotten);
        assert_eq!(t.display_name, None);
        assert!(t.transcript.is_empty());
        assert_eq!(t.conversation, ConvKey::new(Platform::Telegram, DELETED));
        assert!(t.steps_tried.iter().all(|s| s.answer == DELETED));
        assert!(t.closed_at_ms.is_some());
    }
    assert_eq!(
        desk.store()
            .ticket(first)
            .unwrap()
            .unwrap()
            .intent
            .as_deref(),
        Some("account_locked")
    );
    assert!(
        desk.store()
            .tickets(true)
            .unwrap()
            .iter()
            .all(|t| t.number != second),
        "the open ticket was closed"
    );
    let history = desk.store().ticket_events(second).unwrap();
    assert!(history.iter().any(|e| e.by == "user"), "{history:?}");
    // Staff cannot reopen a forgotten ticket.
    assert!(desk.reopen_ticket(first).unwrap().is_none());

    // Bob is untouched.
    assert_eq!(desk.store().transcript(&bob, 1_000).unwrap(), bob_lines);
    assert_eq!(desk.conversation(&bob).unwrap(), bob_state);
    assert!(all.contains("walrus edition") && all.contains("Bob Builder"));
    assert_eq!(desk.store().tickets(true).unwrap().len(), 1);

    // Ann can start over as a stranger.
    let r = say(&desk, &ann, "Ann", "I forgot my password");
    assert_eq!(r.outcome, Outcome::GuideStarted);
}

#[test]
fn forget_commits_with_the_channel_update_that_confirmed_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(10 * DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let key = ConvKey::new(Platform::Telegram, "31337");
    let ask = telegram_text(&desk, &key, 1, "forget me").unwrap();
    let yes = ask.reply.buttons[0].id.clone();
    desk.store()
        .inbox_accept("telegram", &[(2, b"press".to_vec())], 3)
        .unwrap();
    let press = Input::Button(yes.clone());
    let r = desk
        .turn(&TurnRequest::new(&key, &press).deliver(delivery(&key, 2)))
        .unwrap();
    assert_eq!(r.outcome, Outcome::Forgotten);
    assert!(desk.store().inbox_pending("telegram").unwrap().is_empty());
    assert_eq!(queued(&desk, &key).last().unwrap(), &r.reply.text);
    assert!(desk.store().transcript(&key, 10).unwrap().is_empty());
    // The same update again is refused and deletes nothing more.
    let press = Input::Button(yes);
    let again = desk.turn(&TurnRequest::new(&key, &press).deliver(delivery(&key, 2)));
    assert!(matches!(again, Err(StorageError::AlreadyHandled { .. })));
}

#[test]
fn retention_purges_old_transcripts_and_closed_tickets_copies_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let old = ConvKey::new(Platform::Discord, "1");
    let open = ConvKey::new(Platform::Discord, "2");
    // Day 1: both users talk and escalate; the first ticket is closed on day 2.
    say(&desk, &old, "Old", "ancient walrus problem");
    let closed = say(&desk, &old, "Old", "/human").opened_ticket.unwrap();
    say(&desk, &open, "Open", "ancient open problem");
    let still_open = say(&desk, &open, "Open", "/human").opened_ticket.unwrap();
    clock.store(2 * DAY_MS, Ordering::SeqCst);
    desk.close_ticket(closed).unwrap().unwrap();
    // Day 95: recent messages.
    clock.store(95 * DAY_MS, Ordering::SeqCst);
    say(&desk, &old, "Old", "fresh walrus problem");
    say(&desk, &open, "Open", "fresh open problem");
    let before_old = desk.store().transcript(&old, 1_000).unwrap().len();
    let before_open = desk.store().transcript(&open, 1_000).unwrap().len();

    // Day 100, 30 days of retention: everything before day 70 goes.
    clock.store(100 * DAY_MS, Ordering::SeqCst);
    let summary = deskbot_desk::retention::purge_once(&desk, 30).unwrap();
    let kept = desk.store().transcript(&old, 1_000).unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|l| l.at_ms >= 70 * DAY_MS));
    assert!(kept[0].text.contains("fresh walrus"));
    assert_eq!(summary.lines, (before_old - 2) + (before_open - 2));
    assert_eq!(desk.store().transcript(&open, 1_000).unwrap().len(), 2);
    assert_eq!(summary.tickets, 1);
    let t = desk.store().ticket(closed).unwrap().unwrap();
    assert!(t.transcript.is_empty(), "closed ticket's copy purged");
    assert_eq!(t.status, TicketStatus::Closed);
    let t = desk.store().ticket(still_open).unwrap().unwrap();
    assert!(
        t.transcript.iter().any(|l| l.text.contains("ancient open")),
        "an open ticket keeps its copy"
    );
    // Running again purges nothing more; 0 days is off.
    let again = deskbot_desk::retention::purge_once(&desk, 30).unwrap();
    assert_eq!((again.lines, again.tickets), (0, 0));
    clock.store(10_000 * DAY_MS, Ordering::SeqCst);
    assert_eq!(
        deskbot_desk::retention::purge_once(&desk, 0).unwrap().lines,
        0
    );
    assert_eq!(desk.store().transcript(&old, 1_000).unwrap().len(), 2);
}

#[test]
fn a_closed_ticket_can_be_rated_and_guides_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let key = ConvKey::new(Platform::Telegram, "4242");
    let number = say(&desk, &key, "Rita", "/human").opened_ticket.unwrap();
    let (_, close) = desk.close_ticket(number).unwrap().unwrap();
    assert!(close.text.contains("has been closed"), "{}", close.text);
    let labels: Vec<&str> = close.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["👍", "👎"]);
    let up = close.buttons[0].id.clone();
    let r = desk.handle(&key, None, &Input::Button(up.clone())).unwrap();
    assert_eq!(r.outcome, Outcome::Rated);
    assert!(r.reply.text.contains("Thank you"), "{}", r.reply.text);
    assert_eq!(r.conversation.phase, Phase::Idle);
    let t = desk.store().ticket(number).unwrap().unwrap();
    assert_eq!(t.rating, Some(Rating::Up));
    assert_eq!(t.status, TicketStatus::Closed);
    // The same button again is stale: the rating stays.
    let r = desk.handle(&key, None, &Input::Button(up)).unwrap();
    assert_ne!(r.outcome, Outcome::Rated);
    // Guides run as normal.
    let r = say(&desk, &key, "Rita", "I forgot my password");
    assert_eq!(r.outcome, Outcome::GuideStarted);

    // A second ticket rated by typing the emoji.
    let number2 = say(&desk, &key, "Rita", "/human").opened_ticket.unwrap();
    desk.close_ticket(number2).unwrap().unwrap();
    let r = say(&desk, &key, "Rita", "👎");
    assert_eq!(r.outcome, Outcome::Rated);
    assert_eq!(
        desk.store().ticket(number2).unwrap().unwrap().rating,
        Some(Rating::Down)
    );

    // A third: the user just types on; no rating, the guide starts.
    let number3 = say(&desk, &key, "Rita", "/human").opened_ticket.unwrap();
    desk.close_ticket(number3).unwrap().unwrap();
    let r = say(&desk, &key, "Rita", "I forgot my password");
    assert_eq!(r.outcome, Outcome::GuideStarted);
    assert_eq!(desk.store().ticket(number3).unwrap().unwrap().rating, None);
    // Ratings are kept on the other tickets.
    assert_eq!(
        desk.store().ticket(number).unwrap().unwrap().rating,
        Some(Rating::Up)
    );
}

#[test]
fn forget_drops_the_discord_dm_channel_remembered_for_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(10 * DAY_MS));
    let desk = desk_at(dir.path(), &clock);
    let dan = ConvKey::new(Platform::Discord, "31337");
    let other = ConvKey::new(Platform::Discord, "31338");
    for key in [&dan, &other] {
        let user: u64 = key.user.parse().unwrap();
        desk.store()
            .channel_commit(&ChannelWrite {
                channel: deskbot_discord::outbox::CHANNEL.into(),
                marks: vec![deskbot_discord::users::remember_dm(user, 41_337)],
                ..ChannelWrite::default()
            })
            .unwrap();
    }
    let ask = say(&desk, &dan, "Dan", "/forget");
    press(&desk, &dan, &ask, "Yes, delete");
    assert_eq!(
        deskbot_discord::users::known_dm(desk.store(), 31_337).unwrap(),
        None
    );
    assert_eq!(
        deskbot_discord::users::known_dm(desk.store(), 31_338).unwrap(),
        Some(41_337)
    );
}

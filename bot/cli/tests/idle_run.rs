//! Idle tickets through the real `deskbot run` wiring ([`run_with_options`]) with `[handoff]
//! auto_close_days`: the real Telegram channel against the fake Bot API, a forum staff group,
//! and the desk's clock moved by the test. The run's idle sweeper warns the user in their chat
//! (through the Telegram outbox), notes it for staff in the ticket's topic, and after the
//! grace period closes the ticket: the close message with its rating buttons reaches the
//! user, staff get a note, and the forum topic is closed.
//!
//! Waits are hang guards (generous, for loaded CI), never timing assertions.

use deskbot_tests::fake_telegram as tg_fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deskbot::config::{Config, HandoffConfig, Secret, TelegramConfig};
use deskbot::run::{RunOptions, run_with_options};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_storage::{TicketEventKind, TicketStatus};
use tg_fake::FakeTelegram;

const STAFF_GROUP: i64 = -100_555;
const ANN: i64 = 5151;
const HOUR: u64 = 3_600_000;
/// Hang guards, not timing assertions.
const WAIT: Duration = Duration::from_secs(180);
const HANG_GUARD: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deskbot_run_warns_then_closes_an_idle_ticket_and_closes_its_topic() {
    tokio::time::timeout(HANG_GUARD, idle_run())
        .await
        .expect("hang guard");
}

/// Waits until `chat` was sent a message containing `needle`.
async fn wait_text(tg: &FakeTelegram, chat: i64, needle: &'static str) {
    tg.wait_for(&format!("{needle:?} in {chat}"), WAIT, move |f| {
        f.sent_to(chat).iter().any(|m| m.text.contains(needle))
    })
    .await;
}

async fn idle_run() {
    let tg = FakeTelegram::start().await;
    tg.set_forum(STAFF_GROUP, true);
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let clock = Arc::new(AtomicU64::new(deskbot_desk::clock::system_ms()));
    let c = Arc::clone(&clock);
    let desk = Desk::open(engine, dir.path())
        .unwrap()
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    let config = Config {
        telegram: TelegramConfig {
            enabled: true,
            token: Secret::new(tg_fake::TOKEN),
            api_url: Some(tg.url.clone()),
            poll_timeout_secs: 1,
            messages_per_sec_overall: 1000,
            messages_per_sec_chat: 100,
            messages_per_min_chat: 100_000,
            messages_per_min_group: 100_000,
            ..TelegramConfig::default()
        },
        handoff: HandoffConfig {
            telegram_staff_chat_id: Some(STAFF_GROUP),
            auto_close_days: Some(1.0),
            auto_close_warn_hours: Some(2.0),
            ..HandoffConfig::default()
        },
        ..Config::default()
    };
    config.validate("test").unwrap();
    let (stop, shutdown) = Shutdown::new();
    let options = RunOptions {
        telegram_backoff: Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        relay_interval: Duration::from_millis(200),
        idle_interval: Duration::from_millis(50),
    };
    let run = tokio::spawn(run_with_options(config, desk.clone(), shutdown, options));

    tg.push_text(
        ANN,
        ANN as u64,
        "my mi account says wrong password but i never changed it",
    );
    tg.wait_for("a first reply", WAIT, |f| !f.sent_to(ANN).is_empty())
        .await;
    tg.push_text(ANN, ANN as u64, "/human");
    wait_text(&tg, ANN, "I've opened ticket #").await;
    wait_text(&tg, STAFF_GROUP, "Ticket #").await;
    let number = desk.store().tickets(true).unwrap()[0].number;
    // The relay stores the topic right after Telegram answered.
    let deadline = tokio::time::Instant::now() + WAIT;
    let topic: i32 = loop {
        let at = desk.store().staff_location(number).unwrap();
        if let Some(t) = at.and_then(|l| l.thread).and_then(|t| t.parse().ok()) {
            break t;
        }
        assert!(tokio::time::Instant::now() < deadline, "no forum topic");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // A day without a word: warned in their chat, and staff told in the topic.
    clock.fetch_add(24 * HOUR, Ordering::SeqCst);
    wait_text(&tg, ANN, "haven't heard from you").await;
    wait_text(&tg, STAFF_GROUP, "closes by itself in 2 hours").await;
    assert_eq!(
        desk.store().ticket(number).unwrap().unwrap().status,
        TicketStatus::Open
    );

    // Two more hours: closed with the rating buttons; the topic's note, then the topic closed.
    clock.fetch_add(2 * HOUR, Ordering::SeqCst);
    wait_text(&tg, ANN, "has been closed").await;
    wait_text(&tg, STAFF_GROUP, "closed automatically").await;
    tg.wait_for("the topic closed", WAIT, move |f| {
        f.topic_closed(STAFF_GROUP, topic)
    })
    .await;
    let close = tg
        .sent_to(ANN)
        .into_iter()
        .find(|m| m.text.contains("has been closed"))
        .unwrap();
    let labels: Vec<&str> = close.buttons.iter().map(|(l, _)| l.as_str()).collect();
    assert!(
        labels.len() == 2 && labels.iter().any(|l| l.contains('👍')),
        "{labels:?}"
    );
    let ticket = desk.store().ticket(number).unwrap().unwrap();
    assert_eq!(ticket.status, TicketStatus::Closed);
    let events = desk.store().ticket_events(number).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == TicketEventKind::Closed && e.by == "auto-close"),
        "{events:?}"
    );

    let _ = stop.send(true);
    run.await.expect("no panic").expect("stops cleanly");
    let warnings = tg
        .sent_to(ANN)
        .iter()
        .filter(|m| m.text.contains("haven't heard from you"))
        .count();
    assert_eq!(warnings, 1);
    assert!(tg.violations().is_empty(), "{:?}", tg.violations());
}

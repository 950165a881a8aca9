//! Must-show 1 of the handoff, against both fakes: a Telegram user (through the real Telegram
//! channel and the fake Bot API) escalates, a thread opens in the fake Discord's staff
//! channel with the masked transcript, a staff message reaches the Telegram user, the user's
//! answer appears in the thread, and a staff close tells the user and closes the ticket.
//!
//! What staff say is queued in the Telegram outbox and the running channel is asked to deliver
//! it (`TelegramChannelBuilder::deliveries`). Halfway, the Telegram channel and the relay are restarted with
//! the ticket open: relays still work both ways and nothing is sent twice.

use deskbot_tests::fake_telegram as tg_fake;

use deskbot_tests::fake_discord;

use std::sync::Arc;
use std::time::Duration;

use deskbot::config::{HandoffConfig, Secret, TelegramConfig};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::{Author, Relay};
use deskbot_desk::shutdown::Shutdown;
use deskbot_discord::staff_side::DiscordStaff;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_storage::TicketStatus;
use deskbot_telegram as telegram;
use deskbot_telegram::users::TelegramUsers;
use serenity::http::HttpBuilder;
use tg_fake::FakeTelegram;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const ANN: i64 = 4242;
const STAFF_CHANNEL: u64 = 7_100;
/// Hang guards, not timing assertions.
const WAIT: Duration = Duration::from_secs(60);
const HANG_GUARD: Duration = Duration::from_secs(300);

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
}

fn start(desk: &Desk, fake: &FakeTelegram, deliveries: mpsc::UnboundedReceiver<i64>) -> Running {
    let config = TelegramConfig {
        enabled: true,
        token: Secret::new(tg_fake::TOKEN),
        api_url: Some(fake.url.clone()),
        poll_timeout_secs: 1,
        messages_per_sec_overall: 1000,
        messages_per_sec_chat: 100,
        messages_per_min_chat: 100_000,
        messages_per_min_group: 100_000,
        ..TelegramConfig::default()
    };
    let (stop, shutdown) = Shutdown::new();
    let backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    let task = tokio::spawn(
        telegram::TelegramChannel::builder(desk.clone(), config)
            .backoff(backoff)
            .deliveries(deliveries)
            .run(shutdown),
    );
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the Telegram channel stops")
            .expect("no panic")
            .expect("stops without an error");
    }
}

async fn wait_text(fake: &FakeTelegram, what: &str, needle: &str) {
    let needle = needle.to_string();
    fake.wait_for(what, WAIT, move |f| {
        f.sent_to(ANN).iter().any(|m| m.text.contains(&needle))
    })
    .await;
}

/// The posts shown in `thread`: the message it was started from (in the staff channel), then
/// those posted in it.
fn thread_posts(fake: &fake_discord::FakeDiscord, thread: &str) -> Vec<String> {
    fake.posts_in(thread.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telegram_user_is_answered_from_a_discord_staff_thread() {
    tokio::time::timeout(HANG_GUARD, scenario())
        .await
        .expect("hang guard");
}

async fn scenario() {
    let tg = FakeTelegram::start().await;
    let dc = fake_discord::FakeDiscord::start(fake_discord::Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let desk = Desk::open(engine, dir.path()).unwrap();
    let http = Arc::new(
        HttpBuilder::new("fake-bot-token")
            .proxy(deskbot_discord::proxy_base(&dc.api_url))
            .ratelimiter_disabled(true)
            .build(),
    );
    let relay_for = |deliver: mpsc::UnboundedSender<i64>| {
        Relay::new(
            desk.clone(),
            HandoffConfig {
                discord_staff_channel_id: Some(STAFF_CHANNEL),
                discord_staff_role_id: Some(1),
                ..HandoffConfig::default()
            }
            .relay(),
            DiscordStaff::new(http.clone(), STAFF_CHANNEL, Arc::clone(desk.metrics())),
            TelegramUsers::new(desk.store().clone(), Some(deliver)),
        )
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let relay = relay_for(tx);

    // The user talks to the real Telegram channel and asks for a person.
    let running = start(&desk, &tg, rx);
    tg.push_text(ANN, ANN as u64, "I can't sign in, my code is 492817");
    tg.wait_for("a first reply", WAIT, |f| !f.sent_to(ANN).is_empty())
        .await;
    tg.push_text(ANN, ANN as u64, "/human");
    wait_text(&tg, "the ticket message", "I've opened ticket #").await;
    let number = desk.store().tickets(true).unwrap()[0].number;

    // A thread opens in the Discord staff channel with the masked transcript.
    relay.sweep().await.unwrap();
    let location = desk.store().staff_location(number).unwrap().unwrap();
    let thread = location.thread.clone().unwrap();
    let posts = thread_posts(&dc, &thread);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains(&format!("Ticket \\#{number} · Telegram")),
        "{}",
        posts[0]
    );
    assert!(posts[0].contains("\\[code hidden\\]"), "{}", posts[0]);
    assert!(!posts[0].contains("492817"), "{}", posts[0]);

    // Staff answer in the thread; the running Telegram channel delivers it.
    let bob = |id: &str| Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    };
    relay
        .staff_message(number, &bob("m1"), "Which phone do you use?")
        .await
        .unwrap();
    wait_text(
        &tg,
        "the staff message",
        "Support (Bob): Which phone do you use?",
    )
    .await;

    // Restart with the ticket open: a new channel and relay over the same store.
    running.stop().await;
    drop(relay);
    let (tx, rx) = mpsc::unbounded_channel();
    let relay = relay_for(tx);
    let running = start(&desk, &tg, rx);
    relay.sweep().await.unwrap();
    assert_eq!(
        thread_posts(&dc, &thread).len(),
        1,
        "nothing reposted after the restart"
    );

    // The user's answer goes through the channel into the ticket, and into the thread.
    tg.push_text(ANN, ANN as u64, "A Redmi Note 12");
    wait_text(&tg, "the added-to-ticket reply", "added that to ticket").await;
    relay.sweep().await.unwrap();
    let posts = thread_posts(&dc, &thread);
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(posts[1].ends_with(": A Redmi Note 12"), "{}", posts[1]);

    // Staff close: the ticket is closed in storage and the user is told.
    relay
        .staff_message(number, &bob("m2"), "close")
        .await
        .unwrap();
    assert_eq!(
        desk.store().ticket(number).unwrap().unwrap().status,
        TicketStatus::Closed
    );
    wait_text(&tg, "the close message", "has been closed").await;
    running.stop().await;

    // Each relayed message reached the user exactly once across the restart.
    let sent = tg.sent_to(ANN);
    for needle in ["Support (Bob): Which phone do you use?", "has been closed"] {
        assert_eq!(
            sent.iter().filter(|m| m.text.contains(needle)).count(),
            1,
            "{needle}: {sent:?}"
        );
    }
    assert!(tg.violations().is_empty(), "{:?}", tg.violations());
    assert!(dc.violations().is_empty(), "{:?}", dc.violations());
}

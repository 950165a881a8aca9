//! Flood control through the real Discord channel against the fake Discord: a DM answered,
//! the next one told to slow down, the rest ignored. An ignored DM sends nothing at all, and an
//! ignored slash command removes its "thinking…" placeholder instead of leaving it hanging.

use deskbot_tests::fake_discord;

use std::sync::Arc;
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::flood::FloodLimits;
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_discord::config::DiscordConfig;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use fake_discord::{FakeDiscord, Options};

const ANN: u64 = 111_111_111_111_111_111;
const DM: u64 = 5_001;
/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_messages_and_commands_send_nothing() {
    tokio::time::timeout(HANG_GUARD, scenario())
        .await
        .expect("hang guard");
}

async fn scenario() {
    let fake = FakeDiscord::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    // A fixed clock keeps every message in one flood window, however slow the machine.
    let desk = Desk::open(engine, dir.path())
        .unwrap()
        .with_clock(Arc::new(|| 1_700_000_000_000))
        .with_flood(FloodLimits::new(1, 600));
    let config = DiscordConfig {
        enabled: true,
        token: Secret::new("fake-bot-token"),
        api_url: Some(fake.api_url.clone()),
        ..DiscordConfig::default()
    };
    let (stop, shutdown) = Shutdown::new();
    let task =
        tokio::spawn(deskbot_discord::DiscordChannel::builder(desk.clone(), config).run(shutdown));
    fake.wait_ready_within(HANG_GUARD).await;

    // The first DM is answered, the second told to slow down.
    fake.dispatch("MESSAGE_CREATE", fake.dm(ANN, DM, "my account is locked"));
    fake.wait_for("the answer", HANG_GUARD, |r| {
        r.iter()
            .filter(|x| x.is_channel_message(DM) && x.ok())
            .count()
            >= 1
    })
    .await;
    let answered = fake.posts_in(DM).len();
    fake.dispatch("MESSAGE_CREATE", fake.dm(ANN, DM, "hello?"));
    fake.wait_for("the slow-down answer", HANG_GUARD, |r| {
        r.iter()
            .filter(|x| x.is_channel_message(DM) && x.ok())
            .count()
            > answered
    })
    .await;
    let before = fake.posts_in(DM);

    // Then a DM and a slash command are ignored: the command's deferred placeholder is
    // deleted, and nothing is posted.
    fake.dispatch("MESSAGE_CREATE", fake.dm(ANN, DM, "hello??"));
    let help = fake.slash(ANN, None, DM, "help", &[]);
    let token = help["token"].as_str().unwrap().to_string();
    fake.dispatch("INTERACTION_CREATE", help);
    fake.wait_for("the placeholder deleted", HANG_GUARD, |r| {
        r.iter()
            .any(|x| x.method == "DELETE" && x.path.contains(&token) && x.ok())
    })
    .await;
    // Stopping drains the handlers in flight, so the ignored DM has been handled by then.
    let _ = stop.send(true);
    task.await.unwrap().unwrap();
    assert_eq!(
        fake.posts_in(DM),
        before,
        "an ignored message sent something"
    );
    assert!(
        !fake
            .requests()
            .iter()
            .any(|x| x.path.contains(&token) && x.method == "PATCH"),
        "the ignored command was answered"
    );
    assert!(
        desk.store().outbox_targets("discord").unwrap().is_empty(),
        "something was queued"
    );
    let v = fake.violations();
    assert!(v.is_empty(), "{v:#?}");
}

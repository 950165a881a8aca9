//! The Discord staff side of the handoff relay against the fake Discord's REST API: a
//! Telegram user's ticket opens a thread in the staff channel with the masked transcript and
//! Claim/Close buttons, the user's later lines are posted in it, and a repeat after a lost
//! cursor posts nothing twice (enforce_nonce). Opening is idempotent: a repeated open (a
//! crash or a lost response before the location was stored) finds the thread started from
//! the first message instead of opening a second one. The fake checks every message as
//! Discord would (allowed_mentions present and empty, content ≤ 2000, components well formed).

use deskbot_tests::fake_discord;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::{
    Author, Handled, Relay, RelayConfig, RelayError, StaffSide, UserSide,
};
use deskbot_discord::staff_side::{DiscordStaff, GuildMessage, on_guild_message};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input};
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, RouteKind, StaffLocation, TicketStatus};
use fake_discord::{FakeDiscord, Options, Recorded};
use serenity::http::HttpBuilder;

const STAFF_CHANNEL: u64 = 7_100;
/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[derive(Clone, Default)]
struct FakeUsers {
    sent: Arc<Mutex<Vec<(ConvKey, String)>>>,
}

impl UserSide for FakeUsers {
    async fn send(&self, user: &ConvKey, text: &str, _nonce: &str) -> Result<(), RelayError> {
        self.sent
            .lock()
            .unwrap()
            .push((user.clone(), text.to_string()));
        Ok(())
    }
}

fn say(desk: &Desk, key: &ConvKey, text: &str) -> Option<u64> {
    desk.handle(key, Some("Ann <@&1> @everyone"), &Input::Text(text.into()))
        .unwrap()
        .opened_ticket
}

/// The message posts shown in `channel` (for a thread: its starter message first).
fn posts_in(requests: &[Recorded], channel: &str) -> Vec<Recorded> {
    let channel: u64 = channel.parse().unwrap();
    requests
        .iter()
        .filter(|r| r.is_channel_message(channel))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_ticket_opens_a_discord_staff_thread_with_the_transcript() {
    tokio::time::timeout(HANG_GUARD, scenario())
        .await
        .expect("hang guard");
}

async fn scenario() {
    let fake = FakeDiscord::start(Options::default()).await;
    let http = Arc::new(
        HttpBuilder::new("fake-bot-token")
            .proxy(deskbot_discord::proxy_base(&fake.api_url))
            .ratelimiter_disabled(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let desk = Desk::open(engine, dir.path()).unwrap();
    let users = FakeUsers::default();
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        DiscordStaff::new(http, STAFF_CHANNEL, Arc::clone(desk.metrics())),
        users.clone(),
    );
    let user = ConvKey::new(Platform::Telegram, "4242");
    say(&desk, &user, "I can't sign in, my code is 492817");
    say(&desk, &user, "password is hunter2");
    let number = say(&desk, &user, "/human").expect("a ticket");
    relay.sweep().await.unwrap();

    let requests = fake.requests();
    let threads: Vec<_> = requests
        .iter()
        .filter(|r| r.is_thread_start(STAFF_CHANNEL))
        .collect();
    assert_eq!(threads.len(), 1, "{requests:?}");
    assert!(threads[0].ok());
    assert_eq!(threads[0].body["name"], format!("ticket-{number}"));
    let thread = threads[0].response["id"].as_str().unwrap().to_string();
    assert_eq!(
        fake.threads_in(STAFF_CHANNEL),
        [(thread.parse().unwrap(), format!("ticket-{number}"))]
    );
    let location = desk.store().staff_location(number).unwrap().unwrap();
    assert_eq!(location.thread.as_deref(), Some(thread.as_str()));
    // The thread was started from the first message, posted in the staff channel.
    assert_eq!(location.message.as_deref(), Some(thread.as_str()));
    let starter = fake.message(&thread);
    assert_eq!(starter["channel_id"], STAFF_CHANNEL.to_string());
    assert_eq!(
        desk.store()
            .ticket_at_staff(
                "discord",
                &STAFF_CHANNEL.to_string(),
                RouteKind::Thread,
                &thread
            )
            .unwrap(),
        Some(number)
    );
    let first = posts_in(&requests, &thread);
    assert_eq!(first.len(), 1, "{first:?}");
    let content = first[0].content();
    assert!(
        content.contains(&format!("Ticket \\#{number}")),
        "{content}"
    );
    assert!(content.contains("Telegram"), "{content}");
    assert!(content.contains("Transcript:"), "{content}");
    assert!(
        !content.contains("492817") && !content.contains("hunter2"),
        "{content}"
    );
    // The display name cannot ping: escaped, and allowed_mentions is empty (the fake checks).
    assert!(content.contains("\\<@&1\\>"), "{content}");
    assert_eq!(
        first[0].buttons(),
        [
            (format!("ticket:claim:{number}"), "Claim".to_string()),
            (format!("ticket:close:{number}"), "Close".to_string())
        ]
    );

    // The user's answer appears in the thread.
    say(&desk, &user, "A Redmi Note 12, *new*");
    relay.sweep().await.unwrap();
    let posts = posts_in(&fake.requests(), &thread);
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1].content().ends_with(": A Redmi Note 12, \\*new\\*"),
        "{}",
        posts[1].content()
    );

    // A lost cursor (crash before it was stored) resends with the same nonce: Discord keeps
    // one message.
    let before = desk.store().relay_cursor(number).unwrap().unwrap();
    let lines = desk.store().transcript_after(&user, None).unwrap();
    let earlier = lines
        .iter()
        .rev()
        .map(|(seq, _)| *seq)
        .find(|seq| *seq < before)
        .unwrap();
    desk.store().set_relay_cursor(number, earlier).unwrap();
    relay.sweep().await.unwrap();
    let posts = posts_in(&fake.requests(), &thread);
    let ids: std::collections::BTreeSet<_> = posts
        .iter()
        .map(|r| r.response["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "a resend made a new message: {posts:?}");

    // Staff answer from the thread reaches the user; close closes it.
    let bob = |id: &str| Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    };
    let h = relay
        .staff_message(number, &bob("m1"), "Which phone?")
        .await
        .unwrap();
    assert_eq!(h, Handled::Relayed);
    relay
        .staff_message(number, &bob("m2"), "close")
        .await
        .unwrap();
    let sent = users.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0],
        (user.clone(), "Support (Bob): Which phone?".to_string())
    );
    assert!(sent[1].1.contains("has been closed"), "{sent:?}");
    assert_eq!(
        desk.store().ticket(number).unwrap().unwrap().status,
        TicketStatus::Closed
    );
    let posts = posts_in(&fake.requests(), &thread);
    assert!(posts.last().unwrap().content().contains("closed by Bob"));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_staff_role_acts_in_a_ticket_thread() {
    tokio::time::timeout(HANG_GUARD, role_scenario())
        .await
        .expect("hang guard");
}

async fn role_scenario() {
    const STAFF_ROLE: u64 = 8_800;
    let fake = FakeDiscord::start(Options::default()).await;
    let http = Arc::new(
        HttpBuilder::new("fake-bot-token")
            .proxy(deskbot_discord::proxy_base(&fake.api_url))
            .ratelimiter_disabled(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let desk = Desk::open(engine, dir.path()).unwrap();
    let mut config = RelayConfig::default();
    config
        .snippets
        .insert("reset".into(), "Open account.xiaomi.com".into());
    let users = FakeUsers::default();
    let relay = Relay::new(
        desk.clone(),
        config,
        DiscordStaff::new(http, STAFF_CHANNEL, Arc::clone(desk.metrics())),
        users.clone(),
    );
    let user = ConvKey::new(Platform::Telegram, "77");
    let number = say(&desk, &user, "/human").unwrap();
    relay.sweep().await.unwrap();
    let thread: u64 = desk
        .store()
        .staff_location(number)
        .unwrap()
        .unwrap()
        .thread
        .unwrap()
        .parse()
        .unwrap();
    let before = desk.store().ticket(number).unwrap().unwrap();
    let msg = |id: u64, roles: &'static [u64], content: &'static str| GuildMessage {
        channel: thread,
        message_id: id,
        author_name: "Eve",
        author_is_bot: false,
        roles,
        content,
    };
    for (i, cmd) in ["claim", "close", "snippet reset", "hello"]
        .iter()
        .enumerate()
    {
        let h = on_guild_message(
            &relay,
            STAFF_CHANNEL,
            STAFF_ROLE,
            &msg(i as u64, &[1, 2], cmd),
        )
        .await
        .unwrap();
        assert_eq!(h, Some(Handled::Refused), "{cmd}");
    }
    assert_eq!(desk.store().ticket(number).unwrap().unwrap(), before);
    assert!(desk.store().ticket_events(number).unwrap().is_empty());
    assert!(users.sent.lock().unwrap().is_empty());
    let refusals = posts_in(&fake.requests(), &thread.to_string())
        .iter()
        .filter(|r| r.content().starts_with("Only support staff"))
        .count();
    assert_eq!(refusals, 4);

    // Bots and other channels are not the handoff's business.
    let mut bot = msg(10, &[STAFF_ROLE], "claim");
    bot.author_is_bot = true;
    assert_eq!(
        on_guild_message(&relay, STAFF_CHANNEL, STAFF_ROLE, &bot)
            .await
            .unwrap(),
        None
    );
    let mut elsewhere = msg(11, &[STAFF_ROLE], "claim");
    elsewhere.channel = 12_345;
    assert_eq!(
        on_guild_message(&relay, STAFF_CHANNEL, STAFF_ROLE, &elsewhere)
            .await
            .unwrap(),
        None
    );

    // The staff role can.
    let h = on_guild_message(
        &relay,
        STAFF_CHANNEL,
        STAFF_ROLE,
        &msg(12, &[STAFF_ROLE], "claim"),
    )
    .await
    .unwrap();
    assert_eq!(
        h,
        Some(Handled::Command(deskbot_desk::handoff::StaffCommand::Claim))
    );
    assert_eq!(
        desk.store().ticket_claimed_by(number).unwrap().as_deref(),
        Some("Eve")
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// A fresh world: the fake, a store with one open ticket, and the staff side.
struct OpenWorld {
    fake: FakeDiscord,
    staff: DiscordStaff,
    ticket: deskbot_storage::Ticket,
    _dir: tempfile::TempDir,
}

async fn open_world() -> OpenWorld {
    let fake = FakeDiscord::start(Options::default()).await;
    let http = Arc::new(
        HttpBuilder::new("fake-bot-token")
            .proxy(deskbot_discord::proxy_base(&fake.api_url))
            .ratelimiter_disabled(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let desk = Desk::open(engine, dir.path()).unwrap();
    let user = ConvKey::new(Platform::Telegram, "5151");
    let number = say(&desk, &user, "/human").expect("a ticket");
    let ticket = desk.store().ticket(number).unwrap().unwrap();
    OpenWorld {
        fake,
        staff: DiscordStaff::new(http, STAFF_CHANNEL, Arc::clone(desk.metrics())),
        ticket,
        _dir: dir,
    }
}

/// Exactly one thread and one first message exist for the ticket, and `at` points at them.
fn assert_one_thread(w: &OpenWorld, at: &StaffLocation) {
    let number = w.ticket.number;
    let threads = w.fake.threads_in(STAFF_CHANNEL);
    assert_eq!(threads.len(), 1, "{threads:?}");
    let (thread, name) = &threads[0];
    assert_eq!(name, &format!("ticket-{number}"));
    assert_eq!(at.platform, "discord");
    assert_eq!(at.chat, STAFF_CHANNEL.to_string());
    assert_eq!(at.thread.as_deref(), Some(thread.to_string().as_str()));
    assert_eq!(at.message.as_deref(), Some(thread.to_string().as_str()));
    let firsts = w.fake.messages_in(STAFF_CHANNEL);
    assert_eq!(firsts.len(), 1, "{firsts:?}");
    assert_eq!(firsts[0]["id"], thread.to_string());
    assert!(w.fake.violations().is_empty(), "{:?}", w.fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_twice_keeps_one_thread_and_one_first_message() {
    tokio::time::timeout(HANG_GUARD, async {
        let w = open_world().await;
        let first = format!("Ticket #{} · Telegram", w.ticket.number);
        // A crash after Discord made the thread, before the relay stored where it is: the
        // next sweep opens again.
        let a = w.staff.open(&w.ticket, &first).await.unwrap();
        let b = w.staff.open(&w.ticket, &first).await.unwrap();
        assert_eq!(a, b);
        assert_one_thread(&w, &b);
        // The second start was answered "already created" (160004), as Discord does.
        let starts: Vec<_> = w
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.is_thread_start(STAFF_CHANNEL))
            .collect();
        assert_eq!(starts.len(), 2, "{starts:?}");
        assert!(starts[0].ok());
        assert_eq!(starts[1].status, 400);
        assert_eq!(starts[1].response["code"], 160004);
        // The first message carries the buttons and nothing was posted in the thread.
        let thread: u64 = b.thread.as_deref().unwrap().parse().unwrap();
        let m = w.fake.message(b.message.as_deref().unwrap());
        assert_eq!(
            m["components"][0]["components"].as_array().unwrap().len(),
            2
        );
        assert!(w.fake.messages_in(thread).is_empty());
        // Relayed lines still go in the thread.
        w.staff.post(&b, "later", "x1").await.unwrap();
        assert_eq!(w.fake.messages_in(thread).len(), 1);
    })
    .await
    .expect("hang guard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_first_message_opened_twice_is_posted_once() {
    tokio::time::timeout(HANG_GUARD, async {
        let w = open_world().await;
        let first = format!(
            "Ticket #{} · Telegram\n{}",
            w.ticket.number,
            "a line of the transcript\n".repeat(200)
        );
        let a = w.staff.open(&w.ticket, &first).await.unwrap();
        let b = w.staff.open(&w.ticket, &first).await.unwrap();
        assert_eq!(a, b);
        assert_one_thread(&w, &b);
        // The thread starts from the first part; the later parts are in it, once, and the
        // last carries the buttons.
        let thread: u64 = b.thread.as_deref().unwrap().parse().unwrap();
        let later = w.fake.messages_in(thread);
        assert!(later.len() >= 2, "{later:?}");
        let starter = w.fake.message(b.message.as_deref().unwrap());
        assert_eq!(starter["components"], serde_json::json!([]));
        assert_eq!(
            later[later.len() - 1]["components"][0]["components"][0]["custom_id"],
            format!("ticket:claim:{}", w.ticket.number)
        );
        let shown: String = std::iter::once(&starter)
            .chain(&later)
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(shown.matches("a line of the transcript").count(), 200);
    })
    .await
    .expect("hang guard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_while_opening_opens_no_second_thread() {
    tokio::time::timeout(HANG_GUARD, async {
        // The thread start takes effect but its answer is lost (a 500).
        let w = open_world().await;
        let first = format!("Ticket #{} · Telegram", w.ticket.number);
        w.fake.lose_next_response("POST", "/threads", 500);
        assert!(w.staff.open(&w.ticket, &first).await.is_err());
        assert_eq!(w.fake.threads_in(STAFF_CHANNEL).len(), 1);
        let at = w.staff.open(&w.ticket, &first).await.unwrap();
        assert_one_thread(&w, &at);

        // The first message's post takes effect but its answer is lost.
        let w = open_world().await;
        let first = format!("Ticket #{} · Telegram", w.ticket.number);
        w.fake
            .lose_next_response("POST", &format!("/channels/{STAFF_CHANNEL}/messages"), 500);
        assert!(w.staff.open(&w.ticket, &first).await.is_err());
        assert_eq!(w.fake.messages_in(STAFF_CHANNEL).len(), 1);
        assert!(w.fake.threads_in(STAFF_CHANNEL).is_empty());
        let at = w.staff.open(&w.ticket, &first).await.unwrap();
        assert_one_thread(&w, &at);
    })
    .await
    .expect("hang guard");
}

//! The human handoff through the real `deskbot run` wiring ([`run_with_options`]): the real
//! Telegram channel against the fake Bot API, the real Discord channel (serenity) against the
//! fake Discord REST API and gateway, and the relay task, all started by the run function.
//! Staff act only through gateway events (messages typed in the ticket thread, button
//! presses), users only through their platform.
//!
//! - `telegram_user_answered_from_discord_thread`: must-show 1 and 6 (escalation → thread with
//!   the masked transcript; a staff message typed in the thread reaches the user; the user's
//!   answer and a staff attachment are relayed; a snippet; claim and close by button, close by
//!   text; the user is told and the ticket is closed in storage; secrets masked in thread and
//!   storage).
//! - `non_staff_are_refused_and_nothing_changes`: must-show 3 (claim, close and snippet typed,
//!   claim and close pressed, by a member without the staff role).
//! - `restart_with_an_open_ticket_relays_both_ways_once`: must-show 4 (a Telegram and a
//!   Discord user; the whole run stopped and started over the store reopened from disk; a
//!   Discord user's attachment and masked code after the restart).
//! - `discord_user_answered_from_telegram_forum`: the other direction of must-show 1 (only a
//!   Telegram staff forum; a Discord user's ticket opens there, relays both ways, the close
//!   reaches the DM with working rating buttons).
//! - `with_both_staff_sides_each_platform_uses_its_own`: with both staff sides configured,
//!   each user's ticket opens on their own platform's staff side and is answered there.
//! - `fifty_tickets_from_both_platforms_never_cross`: must-show 5 (Telegram users, Discord
//!   users by DM and in a support channel, whose DM is opened through the API; every person
//!   writes twice back to back, and order is kept both ways).
//!
//! Waits are hang guards (generous, for loaded CI), never timing assertions.

use deskbot_tests::fake_telegram as tg_fake;

use deskbot_tests::fake_discord;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deskbot::config::{Config, DiscordConfig, HandoffConfig, Secret, TelegramConfig};
use deskbot::run::{RunOptions, run_with_options};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, TicketEventKind, TicketStatus};
use fake_discord::{BOT_ID, FakeDiscord, Options};
use serde_json::Value;
use tg_fake::FakeTelegram;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const GUILD: u64 = 6_000;
const STAFF_CHANNEL: u64 = 7_100;
const SUPPORT_CHANNEL: u64 = 7_200;
const STAFF_ROLE: u64 = 8_800;
const OTHER_ROLE: u64 = 8_801;
const STAFF_BOB: u64 = 9_001;
const MEMBER_EVE: u64 = 9_002;
const ANN: i64 = 4242;
/// Hang guards, not timing assertions.
const WAIT: Duration = Duration::from_secs(180);
const HANG_GUARD: Duration = Duration::from_secs(900);

struct World {
    tg: FakeTelegram,
    dc: FakeDiscord,
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    desk: Desk,
    config: Config,
}

impl World {
    async fn new() -> Self {
        Self::with_handoff(None).await
    }

    /// A world whose `[handoff]` is `handoff` instead of the Discord staff channel.
    async fn with_handoff(handoff: Option<HandoffConfig>) -> Self {
        // RUST_LOG=... shows the bot's and serenity's logs when a run needs explaining.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let tg = FakeTelegram::start().await;
        let dc = FakeDiscord::start(Options::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
        let desk = Desk::open(Arc::clone(&engine), dir.path()).unwrap();
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
            discord: DiscordConfig {
                enabled: true,
                token: Secret::new("fake-bot-token"),
                api_url: Some(dc.api_url.clone()),
                support_channel_ids: vec![SUPPORT_CHANNEL],
                guild_ids: vec![GUILD],
                ..DiscordConfig::default()
            },
            handoff: HandoffConfig {
                discord_staff_channel_id: Some(STAFF_CHANNEL),
                discord_staff_role_id: Some(STAFF_ROLE),
                snippets: [(
                    "reset".to_string(),
                    "Reset your password at the sign-in page.".to_string(),
                )]
                .into_iter()
                .collect(),
                ..HandoffConfig::default()
            },
            ..Config::default()
        };
        let mut config = config;
        if let Some(h) = handoff {
            config.handoff = h;
        }
        config.validate("test").unwrap();
        Self {
            tg,
            dc,
            _dir: dir,
            engine,
            desk,
            config,
        }
    }

    /// Starts `deskbot run` (channels and relay) and waits until the Discord bot is ready.
    async fn start(&self) -> Running {
        let (stop, shutdown) = Shutdown::new();
        let identified = self.dc.identifies().len();
        let options = RunOptions {
            telegram_backoff: Backoff {
                base: Duration::from_millis(50),
                max: Duration::from_millis(400),
            },
            relay_interval: Duration::from_millis(300),
            ..RunOptions::default()
        };
        // Counted before starting: the bot may register before this task looks again.
        let registered = self
            .dc
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .count();
        let task = tokio::spawn(run_with_options(
            self.config.clone(),
            self.desk.clone(),
            shutdown,
            options,
        ));
        self.dc
            .wait_for("the Discord bot to identify and register", WAIT, |r| {
                r.iter()
                    .filter(|x| x.method == "PUT" && x.path.ends_with("/commands") && x.ok())
                    .count()
                    > registered
            })
            .await;
        assert!(self.dc.identifies().len() > identified);
        Running { stop, task }
    }

    /// Closes the store and opens it again from disk, as a new process would (fails if
    /// anything of the stopped run still holds it).
    fn reopen_store(&mut self) {
        let spare = tempfile::tempdir().unwrap();
        let placeholder = Desk::open(Arc::clone(&self.engine), spare.path()).unwrap();
        drop(std::mem::replace(&mut self.desk, placeholder));
        self.desk = Desk::open(Arc::clone(&self.engine), self._dir.path())
            .expect("the stopped run let go of the store");
    }

    async fn eventually(&self, what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !cond() {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; Discord violations {:?}; Telegram violations {:?}",
                    self.dc.violations(),
                    self.tg.violations()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for ticket `number`'s thread and its first message; returns (thread, message id).
    async fn thread_of(&self, number: u64) -> (u64, String) {
        self.eventually(&format!("the thread of ticket #{number}"), || {
            self.desk.store().staff_location(number).unwrap().is_some()
        })
        .await;
        let loc = self.desk.store().staff_location(number).unwrap().unwrap();
        assert_eq!(loc.platform, "discord");
        assert_eq!(loc.chat, STAFF_CHANNEL.to_string());
        (loc.thread.unwrap().parse().unwrap(), loc.message.unwrap())
    }

    async fn wait_thread_post(&self, thread: u64, needle: &str) {
        self.eventually(&format!("{needle:?} in thread {thread}"), || {
            self.dc.posts_in(thread).iter().any(|p| p.contains(needle))
        })
        .await;
    }

    async fn wait_tg(&self, chat: i64, needle: &str) {
        let n = needle.to_string();
        self.tg
            .wait_for(&format!("{needle:?} for {chat}"), WAIT, move |f| {
                f.sent_to(chat).iter().any(|m| m.text.contains(&n))
            })
            .await;
    }

    /// A staff-channel thread message typed by `user` holding `roles` (a gateway event).
    fn type_in(&self, thread: u64, user: u64, roles: &[u64], text: &str) {
        let m = self.dc.member_message(user, GUILD, thread, text, roles);
        self.dc.dispatch("MESSAGE_CREATE", m);
    }

    /// `user` holding `roles` presses a ticket button in `thread` (a gateway event); returns
    /// the interaction id.
    fn press(&self, thread: u64, message: &str, user: u64, roles: &[u64], id: &str) -> String {
        let i = self
            .dc
            .member_button_press(user, GUILD, thread, message, id, roles);
        let iid = i["id"].as_str().unwrap().to_string();
        self.dc.dispatch("INTERACTION_CREATE", i);
        iid
    }

    fn open_ticket_of(&self, key: &ConvKey) -> Option<u64> {
        self.desk
            .store()
            .tickets(true)
            .unwrap()
            .into_iter()
            .find(|t| &t.conversation == key)
            .map(|t| t.number)
    }

    async fn ticket_for(&self, key: &ConvKey) -> u64 {
        self.eventually(&format!("a ticket for {key}"), || {
            self.open_ticket_of(key).is_some()
        })
        .await;
        self.open_ticket_of(key).unwrap()
    }

    fn assert_clean(&self) {
        assert!(
            self.dc.violations().is_empty(),
            "{:?}",
            self.dc.violations()
        );
        assert!(
            self.tg.violations().is_empty(),
            "{:?}",
            self.tg.violations()
        );
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("deskbot run stops")
            .expect("no panic")
            .expect("stops without an error");
    }
}

fn escaped_ticket(number: u64) -> String {
    format!("Ticket \\#{number} · ")
}

/// The callback the fake got for interaction `id`.
fn callback(dc: &FakeDiscord, id: &str) -> Option<Value> {
    dc.requests()
        .into_iter()
        .find(|r| r.path.starts_with(&format!("/api/v10/interactions/{id}/")))
        .map(|r| r.body)
}

async fn guarded(f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .expect("hang guard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telegram_user_answered_from_discord_thread() {
    guarded(answered_from_discord()).await;
}

async fn answered_from_discord() {
    let w = World::new().await;
    let running = w.start().await;
    let ann = ConvKey::new(Platform::Telegram, ANN.to_string());

    // The user tells a code and a password, then asks for a person.
    w.tg.push_text(ANN, ANN as u64, "I can't sign in, my code is 492817");
    w.tg.wait_for("a first reply", WAIT, |f| !f.sent_to(ANN).is_empty())
        .await;
    w.tg.push_text(ANN, ANN as u64, "password is hunter2");
    w.tg.wait_for("a second reply", WAIT, |f| f.sent_to(ANN).len() >= 2)
        .await;
    w.tg.push_text(ANN, ANN as u64, "/human");
    w.wait_tg(ANN, "I've opened ticket #").await;
    let number = w.ticket_for(&ann).await;

    // A thread opens in the staff channel with the masked transcript and the buttons.
    let (thread, first_id) = w.thread_of(number).await;
    w.wait_thread_post(thread, &escaped_ticket(number)).await;
    let first =
        w.dc.requests()
            .into_iter()
            .find(|r| r.is_channel_message(thread))
            .unwrap();
    let text = first.content();
    assert!(
        text.contains(&format!("{}Telegram", escaped_ticket(number))),
        "{text}"
    );
    assert!(text.contains("\\[code hidden\\]"), "{text}");
    assert!(text.contains("\\[password hidden\\]"), "{text}");
    assert!(
        !text.contains("492817") && !text.contains("hunter2"),
        "{text}"
    );
    let ids: Vec<String> = first.buttons().into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            format!("ticket:claim:{number}"),
            format!("ticket:close:{number}")
        ]
    );
    assert!(
        w.dc.requests()
            .iter()
            .any(|r| r.is_thread_start(STAFF_CHANNEL) && r.ok()),
    );
    // Must-show 6 in storage: the ticket and the whole transcript.
    let stored = w.desk.store().ticket(number).unwrap().unwrap();
    let transcript = w.desk.store().transcript_after(&ann, None).unwrap();
    let all: String = stored
        .transcript
        .iter()
        .map(|l| l.text.clone())
        .chain(transcript.iter().map(|(_, l)| l.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("[code hidden]") && all.contains("[password hidden]"),
        "{all}"
    );
    assert!(!all.contains("492817") && !all.contains("hunter2"), "{all}");

    // Staff type in the thread (a gateway event); the Telegram user gets it. An empty message
    // first (a sticker) is not relayed.
    w.type_in(thread, STAFF_BOB, &[STAFF_ROLE], "");
    w.type_in(thread, STAFF_BOB, &[STAFF_ROLE], "Which phone do you use?");
    w.wait_tg(
        ANN,
        &format!("Support (Nick{STAFF_BOB}): Which phone do you use?"),
    )
    .await;

    assert!(
        !w.tg.sent_to(ANN).iter().any(|m| m
            .text
            .trim_end()
            .ends_with(&format!("Support (Nick{STAFF_BOB}):"))),
        "{:?}",
        w.tg.sent_to(ANN)
    );

    // The user's answer appears in the thread.
    w.tg.push_text(ANN, ANN as u64, "A Redmi Note 12");
    w.wait_thread_post(thread, ": A Redmi Note 12").await;

    // A staff attachment reaches the user as a note with its link.
    let link =
        "https://cdn.discordapp.com/attachments/123456789012345678/987654321098765432/steps.png";
    let m = fake_discord::with_attachment(
        w.dc.member_message(STAFF_BOB, GUILD, thread, "See this:", &[STAFF_ROLE]),
        55,
        "steps.png",
        link,
    );
    w.dc.dispatch("MESSAGE_CREATE", m);
    w.wait_tg(ANN, &format!("📎 steps.png: {link}")).await;

    // Claim by button: acknowledged, said in the thread, recorded.
    let claim = w.press(
        thread,
        &first_id,
        STAFF_BOB,
        &[OTHER_ROLE, STAFF_ROLE],
        &format!("ticket:claim:{number}"),
    );
    w.wait_thread_post(thread, &format!("claimed by Nick{STAFF_BOB}"))
        .await;
    assert_eq!(callback(&w.dc, &claim).unwrap()["type"], 6);
    assert_eq!(
        w.desk.store().ticket_claimed_by(number).unwrap().as_deref(),
        Some(format!("Nick{STAFF_BOB}").as_str())
    );

    // A snippet typed by staff reaches the user as a staff message.
    w.type_in(thread, STAFF_BOB, &[STAFF_ROLE], "snippet reset");
    w.wait_tg(
        ANN,
        &format!("Support (Nick{STAFF_BOB}): Reset your password at the sign-in page."),
    )
    .await;

    // Close by button: the user is told and the ticket is closed in storage.
    w.press(
        thread,
        &first_id,
        STAFF_BOB,
        &[STAFF_ROLE],
        &format!("ticket:close:{number}"),
    );
    w.wait_tg(ANN, &format!("Ticket #{number} has been closed"))
        .await;
    w.eventually("the close in storage", || {
        w.desk.store().ticket(number).unwrap().unwrap().status == TicketStatus::Closed
    })
    .await;
    w.wait_thread_post(
        thread,
        &format!("Ticket \\#{number} closed by Nick{STAFF_BOB}"),
    )
    .await;
    let bob = format!("Nick{STAFF_BOB}");
    let history: Vec<_> = w
        .desk
        .store()
        .ticket_events(number)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.by))
        .collect();
    assert_eq!(
        history,
        [
            (TicketEventKind::Claimed, bob.clone()),
            (TicketEventKind::Closed, bob.clone())
        ]
    );

    // A second ticket, closed by typing `close`.
    w.tg.push_text(ANN, ANN as u64, "/human");
    w.eventually("a second ticket", || {
        w.open_ticket_of(&ann).is_some_and(|n| n != number)
    })
    .await;
    let second = w.open_ticket_of(&ann).unwrap();
    let (thread2, _) = w.thread_of(second).await;
    assert_ne!(thread2, thread);
    w.wait_thread_post(thread2, &escaped_ticket(second)).await;
    w.type_in(thread2, STAFF_BOB, &[STAFF_ROLE], "close");
    w.eventually("the second close in storage", || {
        w.desk.store().ticket(second).unwrap().unwrap().status == TicketStatus::Closed
    })
    .await;
    w.wait_thread_post(thread2, &format!("Ticket \\#{second} closed by"))
        .await;
    w.wait_tg(ANN, &format!("Ticket #{second} has been closed"))
        .await;
    let events = w.desk.store().ticket_events(second).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, TicketEventKind::Closed);
    running.stop().await;

    // Everything relayed once.
    let sent = w.tg.sent_to(ANN);
    for needle in ["Which phone do you use?", "steps.png"] {
        assert_eq!(
            sent.iter().filter(|m| m.text.contains(needle)).count(),
            1,
            "{needle}: {sent:?}"
        );
    }
    assert_eq!(
        w.dc.posts_in(thread)
            .iter()
            .filter(|p| p.contains("A Redmi Note 12"))
            .count(),
        1
    );
    w.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_staff_are_refused_and_nothing_changes() {
    guarded(non_staff()).await;
}

async fn non_staff() {
    let w = World::new().await;
    let running = w.start().await;
    let ann = ConvKey::new(Platform::Telegram, ANN.to_string());
    w.tg.push_text(ANN, ANN as u64, "/human");
    let number = w.ticket_for(&ann).await;
    let (thread, first_id) = w.thread_of(number).await;
    w.wait_thread_post(thread, &escaped_ticket(number)).await;
    let told_before = w.tg.sent_to(ANN).len();

    // Typed commands and a message by a member without the staff role: refused in the thread.
    for (i, text) in [
        "claim",
        "close",
        "snippet reset",
        "/close done",
        "hello there",
    ]
    .iter()
    .enumerate()
    {
        w.type_in(thread, MEMBER_EVE, &[OTHER_ROLE], text);
        w.eventually(&format!("refusal {}", i + 1), || {
            w.dc.posts_in(thread)
                .iter()
                .filter(|p| p.contains("Only support staff"))
                .count()
                > i
        })
        .await;
    }
    // Button presses: refused privately (ephemeral), nothing posted.
    for id in [
        format!("ticket:claim:{number}"),
        format!("ticket:close:{number}"),
    ] {
        let iid = w.press(thread, &first_id, MEMBER_EVE, &[OTHER_ROLE], &id);
        w.eventually("the refusal of a press", || callback(&w.dc, &iid).is_some())
            .await;
        let body = callback(&w.dc, &iid).unwrap();
        assert_eq!(body["type"], 4, "{body}");
        assert_eq!(body["data"]["flags"], 64, "{body}");
        assert!(
            body["data"]["content"]
                .as_str()
                .unwrap()
                .contains("Only support staff"),
            "{body}"
        );
    }
    // A staff button on another ticket's thread is refused too (the id must match the thread).
    let iid = w.press(
        thread,
        &first_id,
        STAFF_BOB,
        &[STAFF_ROLE],
        &format!("ticket:close:{}", number + 1),
    );
    w.eventually("the refusal of a foreign button", || {
        callback(&w.dc, &iid).is_some()
    })
    .await;
    assert_eq!(callback(&w.dc, &iid).unwrap()["data"]["flags"], 64);

    // Nothing changed: open, unclaimed, no events, the user told nothing.
    let t = w.desk.store().ticket(number).unwrap().unwrap();
    assert_eq!(t.status, TicketStatus::Open);
    assert!(w.desk.store().ticket_events(number).unwrap().is_empty());
    assert_eq!(w.desk.store().ticket_claimed_by(number).unwrap(), None);
    assert_eq!(
        w.tg.sent_to(ANN).len(),
        told_before,
        "{:?}",
        w.tg.sent_to(ANN)
    );
    assert_eq!(w.desk.conversation(&ann).unwrap().ticket(), Some(number));

    // Staff still can: the same typed claim from Bob works.
    w.type_in(thread, STAFF_BOB, &[STAFF_ROLE], "claim");
    w.wait_thread_post(thread, &format!("claimed by Nick{STAFF_BOB}"))
        .await;
    running.stop().await;
    w.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_with_an_open_ticket_relays_both_ways_once() {
    guarded(restart()).await;
}

async fn restart() {
    let mut w = World::new().await;
    let running = w.start().await;
    let ann = ConvKey::new(Platform::Telegram, ANN.to_string());
    // A Discord user too, by DM.
    let (dan, dan_dm) = (31_337u64, 41_337u64);
    let dan_key = ConvKey::new(Platform::Discord, dan.to_string());
    w.tg.push_text(ANN, ANN as u64, "/human");
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dan_dm, "/human"));
    let n_ann = w.ticket_for(&ann).await;
    let n_dan = w.ticket_for(&dan_key).await;
    let (t_ann, _) = w.thread_of(n_ann).await;
    let (t_dan, _) = w.thread_of(n_dan).await;
    w.wait_thread_post(t_ann, &escaped_ticket(n_ann)).await;
    w.wait_thread_post(t_dan, &format!("{}Discord", escaped_ticket(n_dan)))
        .await;

    w.type_in(t_ann, STAFF_BOB, &[STAFF_ROLE], "before restart to Ann");
    w.type_in(t_dan, STAFF_BOB, &[STAFF_ROLE], "before restart to Dan");
    w.wait_tg(ANN, "before restart to Ann").await;
    w.eventually("Dan's DM before the restart", || {
        w.dc.posts_in(dan_dm)
            .iter()
            .any(|p| p.contains("before restart to Dan"))
    })
    .await;
    w.tg.push_text(ANN, ANN as u64, "Ann before restart");
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dan_dm, "Dan before restart"));
    w.wait_thread_post(t_ann, "Ann before restart").await;
    w.wait_thread_post(t_dan, "Dan before restart").await;

    // The whole run stops and starts again with both tickets open, over the store reopened
    // from disk.
    running.stop().await;
    w.reopen_store();
    let running = w.start().await;

    w.type_in(t_ann, STAFF_BOB, &[STAFF_ROLE], "after restart to Ann");
    w.type_in(t_dan, STAFF_BOB, &[STAFF_ROLE], "after restart to Dan");
    w.wait_tg(ANN, "after restart to Ann").await;
    w.eventually("Dan's DM after the restart", || {
        w.dc.posts_in(dan_dm)
            .iter()
            .any(|p| p.contains("after restart to Dan"))
    })
    .await;
    w.tg.push_text(ANN, ANN as u64, "Ann after restart");
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dan_dm, "Dan after restart"));
    w.wait_thread_post(t_ann, "Ann after restart").await;
    w.wait_thread_post(t_dan, "Dan after restart").await;
    // Dan's attachment (with a code in his text) reaches the thread as a note with its link
    // whole, the code masked.
    let link =
        "https://cdn.discordapp.com/attachments/41337000000000000/55500000000000000/error.png";
    let m = fake_discord::with_attachment(
        w.dc.dm(dan, dan_dm, "it says 492817 is wrong"),
        77,
        "error.png",
        link,
    );
    w.dc.dispatch("MESSAGE_CREATE", m);
    w.wait_thread_post(t_dan, &format!("📎 error.png: {link}"))
        .await;
    w.wait_thread_post(t_dan, "it says \\[code hidden\\] is wrong")
        .await;
    assert!(
        !w.dc.posts_in(t_dan).iter().any(|p| p.contains("492817")),
        "{:?}",
        w.dc.posts_in(t_dan)
    );
    // Close Dan's ticket by button after the restart: he is told in his DM.
    let first_dan = w
        .desk
        .store()
        .staff_location(n_dan)
        .unwrap()
        .unwrap()
        .message
        .unwrap();
    w.press(
        t_dan,
        &first_dan,
        STAFF_BOB,
        &[STAFF_ROLE],
        &format!("ticket:close:{n_dan}"),
    );
    w.eventually("Dan told of the close", || {
        w.dc.posts_in(dan_dm)
            .iter()
            .any(|p| p.contains(&format!("Ticket \\#{n_dan} has been closed")))
    })
    .await;
    w.eventually("the Discord outbox drained", || {
        w.desk.store().outbox_targets("discord").unwrap().is_empty()
    })
    .await;
    running.stop().await;

    // Nothing duplicated: each line requested once, each thread opened once.
    let count =
        |posts: Vec<String>, needle: &str| posts.iter().filter(|p| p.contains(needle)).count();
    for (thread, needles) in [
        (
            t_ann,
            [
                "Ann before restart",
                "Ann after restart",
                &escaped_ticket(n_ann),
            ],
        ),
        (
            t_dan,
            [
                "Dan before restart",
                "Dan after restart",
                &escaped_ticket(n_dan),
            ],
        ),
    ] {
        for n in needles {
            assert_eq!(
                count(w.dc.posts_in(thread), n),
                1,
                "{n}: {:?}",
                w.dc.posts_in(thread)
            );
        }
    }
    for n in ["before restart to Dan", "after restart to Dan"] {
        assert_eq!(count(w.dc.posts_in(dan_dm), n), 1, "{n}");
    }
    let sent = w.tg.sent_to(ANN);
    for n in ["before restart to Ann", "after restart to Ann"] {
        assert_eq!(
            sent.iter().filter(|m| m.text.contains(n)).count(),
            1,
            "{n}: {sent:?}"
        );
    }
    let threads = w.dc.threads_in(STAFF_CHANNEL).len();
    assert_eq!(threads, 2);
    assert_eq!(
        w.desk.store().ticket(n_dan).unwrap().unwrap().status,
        TicketStatus::Closed
    );
    w.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tickets_from_both_platforms_never_cross() {
    guarded(fifty()).await;
}

/// A user of the 50: where they write and how to reach them.
#[derive(Debug, Clone)]
enum Who {
    Telegram(i64),
    DiscordDm { user: u64, dm: u64 },
    DiscordSupport { user: u64 },
}

impl Who {
    fn key(&self) -> ConvKey {
        match self {
            Who::Telegram(c) => ConvKey::new(Platform::Telegram, c.to_string()),
            Who::DiscordDm { user, .. } | Who::DiscordSupport { user } => {
                ConvKey::new(Platform::Discord, user.to_string())
            }
        }
    }

    fn say(&self, w: &World, text: &str) {
        match self {
            Who::Telegram(c) => {
                w.tg.push_text(*c, *c as u64, text);
            }
            Who::DiscordDm { user, dm } => {
                w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(*user, *dm, text))
            }
            Who::DiscordSupport { user } => {
                let m = w.dc.guild_message(
                    *user,
                    GUILD,
                    SUPPORT_CHANNEL,
                    &format!("<@{BOT_ID}> {text}"),
                    &[BOT_ID],
                );
                w.dc.dispatch("MESSAGE_CREATE", m);
            }
        }
    }

    /// What the user was sent, as text.
    fn received(&self, w: &World) -> Vec<String> {
        match self {
            Who::Telegram(c) => w.tg.sent_to(*c).into_iter().map(|m| m.text).collect(),
            Who::DiscordDm { dm, .. } => w.dc.posts_in(*dm),
            Who::DiscordSupport { user } => {
                w.dc.dm_channel_of(*user)
                    .map(|dm| w.dc.posts_in(dm))
                    .unwrap_or_default()
            }
        }
    }
}

async fn fifty() {
    let w = World::new().await;
    let running = w.start().await;
    let mut users = Vec::new();
    for i in 0..25 {
        users.push(Who::Telegram(50_000 + i));
    }
    for i in 0..20 {
        users.push(Who::DiscordDm {
            user: 60_000 + i,
            dm: 70_000 + i,
        });
    }
    for i in 0..5 {
        users.push(Who::DiscordSupport { user: 61_000 + i });
    }
    // Everyone asks for a person at once.
    for u in &users {
        u.say(&w, "/human");
    }
    let mut tickets = BTreeMap::new();
    for (i, u) in users.iter().enumerate() {
        let n = w.ticket_for(&u.key()).await;
        tickets.insert(i, n);
    }
    let distinct: std::collections::HashSet<u64> = tickets.values().copied().collect();
    assert_eq!(distinct.len(), 50);
    let mut threads = BTreeMap::new();
    for (&i, &n) in &tickets {
        let (t, _) = w.thread_of(n).await;
        threads.insert(i, t);
    }
    let distinct: std::collections::HashSet<u64> = threads.values().copied().collect();
    assert_eq!(distinct.len(), 50);

    // Interleaved: staff write twice in all 50 threads and all 50 users write twice, at once
    // (each person's two messages back to back, everyone's mixed).
    for round in 0..2 {
        for (i, u) in users.iter().enumerate() {
            w.type_in(
                threads[&i],
                STAFF_BOB,
                &[STAFF_ROLE],
                &format!("staff r{round} to u{i}."),
            );
            u.say(&w, &format!("user r{round} from u{i}."));
        }
    }
    for (i, u) in users.iter().enumerate() {
        for round in 0..2 {
            w.wait_thread_post(threads[&i], &format!("user r{round} from u{i}."))
                .await;
            let needle = format!("staff r{round} to u{i}.");
            w.eventually(&format!("{needle} reaching {u:?}"), || {
                u.received(&w).iter().any(|t| t.contains(&needle))
            })
            .await;
        }
    }
    running.stop().await;

    // None crossed, and each arrived once.
    for (i, u) in users.iter().enumerate() {
        let got = u.received(&w);
        let staff_lines: Vec<&String> = got.iter().filter(|t| t.contains("staff r")).collect();
        assert_eq!(staff_lines.len(), 2, "{u:?}: {got:?}");
        assert!(
            staff_lines
                .iter()
                .all(|t| t.ends_with(&format!("to u{i}."))),
            "{u:?}: {got:?}"
        );
        let posts = w.dc.posts_in(threads[&i]);
        let user_lines: Vec<&String> = posts.iter().filter(|p| p.contains("user r")).collect();
        assert_eq!(user_lines.len(), 2, "thread of u{i}: {posts:?}");
        assert!(
            user_lines
                .iter()
                .all(|p| p.ends_with(&format!("from u{i}."))),
            "thread of u{i}: {posts:?}"
        );
        // In order.
        assert!(
            user_lines[0].contains("r0") && user_lines[1].contains("r1"),
            "thread of u{i}: {user_lines:?}"
        );
        assert!(
            staff_lines[0].contains("r0") && staff_lines[1].contains("r1"),
            "{u:?}: {staff_lines:?}"
        );
    }
    // Support-channel users were reached in a DM the bot opened, never in the channel.
    for u in &users {
        if let Who::DiscordSupport { user } = u {
            assert!(w.dc.dm_channel_of(*user).is_some(), "{u:?}");
        }
    }
    assert!(
        !w.dc
            .posts_in(SUPPORT_CHANNEL)
            .iter()
            .any(|p| p.contains("staff r")),
    );
    w.assert_clean();
}

const STAFF_GROUP: i64 = -100_777;
const TG_ADMIN: u64 = 3_003;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discord_user_answered_from_telegram_forum() {
    guarded(answered_from_telegram()).await;
}

/// The other way round: only a Telegram staff forum is configured, so a Discord user's ticket
/// opens there; staff answer in the topic, the Discord user gets it in their DM, their answer
/// reaches the topic, staff close it, and the close message's rating buttons work on Discord.
async fn answered_from_telegram() {
    let w = World::with_handoff(Some(HandoffConfig {
        telegram_staff_chat_id: Some(STAFF_GROUP),
        ..HandoffConfig::default()
    }))
    .await;
    w.tg.set_forum(STAFF_GROUP, true);
    w.tg.set_admins(STAFF_GROUP, &[TG_ADMIN]);
    let running = w.start().await;
    let (dan, dm) = (31_338u64, 41_338u64);
    let key = ConvKey::new(Platform::Discord, dan.to_string());
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dm, "my code is 492817"));
    w.eventually("a first reply", || !w.dc.posts_in(dm).is_empty())
        .await;
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dm, "/human"));
    let number = w.ticket_for(&key).await;
    w.wait_tg(STAFF_GROUP, &format!("Ticket #{number} · Discord"))
        .await;
    let first =
        w.tg.sent_to(STAFF_GROUP)
            .into_iter()
            .find(|m| m.text.contains(&format!("Ticket #{number} · ")))
            .unwrap();
    assert!(first.text.contains("[code hidden]"), "{}", first.text);
    assert!(!first.text.contains("492817"), "{}", first.text);
    let topic = first.thread.expect("a forum topic");
    w.eventually("the staff location", || {
        w.desk.store().staff_location(number).unwrap().is_some()
    })
    .await;
    assert_eq!(
        w.desk
            .store()
            .staff_location(number)
            .unwrap()
            .unwrap()
            .platform,
        "telegram"
    );

    // Staff write in the topic; the Discord user gets it in their DM.
    w.tg.push_topic_text(STAFF_GROUP, topic, TG_ADMIN, "Which phone do you use?");
    w.eventually("the staff message in the DM", || {
        w.dc.posts_in(dm)
            .iter()
            .any(|p| p.contains("): Which phone do you use?"))
    })
    .await;
    // The user's answer reaches the topic.
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dm, "A Redmi Note 12"));
    w.wait_tg(STAFF_GROUP, ": A Redmi Note 12").await;
    let answer =
        w.tg.sent_to(STAFF_GROUP)
            .into_iter()
            .find(|m| m.text.contains(": A Redmi Note 12"))
            .unwrap();
    assert_eq!(answer.thread, Some(topic));

    // Staff close it: the Discord user is told, with the rating buttons.
    w.tg.push_topic_text(STAFF_GROUP, topic, TG_ADMIN, "close");
    w.eventually("the close in storage", || {
        w.desk.store().ticket(number).unwrap().unwrap().status == TicketStatus::Closed
    })
    .await;
    w.eventually("the close message in the DM", || {
        w.dc.messages_in(dm).iter().any(|m| {
            m["content"]
                .as_str()
                .unwrap_or_default()
                .contains("has been closed")
        })
    })
    .await;
    let closed =
        w.dc.messages_in(dm)
            .into_iter()
            .find(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("has been closed")
            })
            .unwrap();
    let rate_up = closed["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a rating button")
        .to_string();
    assert!(rate_up.starts_with(&format!("db:{dan}:")), "{rate_up}");
    // Dan presses 👍 in his DM: the rating is stored on the ticket.
    let press = w.dc.button_press(dan, None, &closed, &rate_up);
    w.dc.dispatch("INTERACTION_CREATE", press);
    w.eventually("the rating", || {
        w.desk
            .store()
            .ticket(number)
            .unwrap()
            .unwrap()
            .rating
            .is_some()
    })
    .await;
    running.stop().await;
    assert_eq!(
        w.dc.posts_in(dm)
            .iter()
            .filter(|p| p.contains("Which phone do you use?"))
            .count(),
        1
    );
    w.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_both_staff_sides_each_platform_uses_its_own() {
    guarded(both_sides()).await;
}

/// Both staff sides configured: a Telegram user's ticket opens in the Telegram staff forum, a
/// Discord user's in the Discord staff channel, and each is answered there.
async fn both_sides() {
    let w = World::with_handoff(Some(HandoffConfig {
        discord_staff_channel_id: Some(STAFF_CHANNEL),
        discord_staff_role_id: Some(STAFF_ROLE),
        telegram_staff_chat_id: Some(STAFF_GROUP),
        ..HandoffConfig::default()
    }))
    .await;
    w.tg.set_forum(STAFF_GROUP, true);
    w.tg.set_admins(STAFF_GROUP, &[TG_ADMIN]);
    let running = w.start().await;
    let ann = ConvKey::new(Platform::Telegram, ANN.to_string());
    let (dan, dm) = (31_339u64, 41_339u64);
    let dan_key = ConvKey::new(Platform::Discord, dan.to_string());
    w.tg.push_text(ANN, ANN as u64, "/human");
    w.dc.dispatch("MESSAGE_CREATE", w.dc.dm(dan, dm, "/human"));
    let n_ann = w.ticket_for(&ann).await;
    let n_dan = w.ticket_for(&dan_key).await;
    let location = |n: u64| w.desk.store().staff_location(n).unwrap();
    w.eventually("both located", || {
        location(n_ann).is_some() && location(n_dan).is_some()
    })
    .await;
    assert_eq!(location(n_ann).unwrap().platform, "telegram");
    assert_eq!(location(n_dan).unwrap().platform, "discord");
    let topic: i32 = location(n_ann).unwrap().thread.unwrap().parse().unwrap();
    let thread: u64 = location(n_dan).unwrap().thread.unwrap().parse().unwrap();
    w.wait_thread_post(thread, &format!("{}Discord", escaped_ticket(n_dan)))
        .await;

    w.tg.push_topic_text(STAFF_GROUP, topic, TG_ADMIN, "hello Ann from Telegram");
    w.type_in(thread, STAFF_BOB, &[STAFF_ROLE], "hello Dan from Discord");
    w.wait_tg(ANN, "hello Ann from Telegram").await;
    w.eventually("Dan's answer", || {
        w.dc.posts_in(dm)
            .iter()
            .any(|p| p.contains("hello Dan from Discord"))
    })
    .await;
    running.stop().await;
    // One thread in the Discord staff channel (Dan's), one topic in the Telegram forum (Ann's).
    let threads = w.dc.threads_in(STAFF_CHANNEL).len();
    assert_eq!(threads, 1);
    assert_eq!(w.tg.topics(STAFF_GROUP).len(), 1);
    assert!(
        !w.tg
            .sent_to(STAFF_GROUP)
            .iter()
            .any(|m| m.text.contains(&format!("Ticket #{n_dan} ")))
    );
    w.assert_clean();
}

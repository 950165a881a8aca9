//! The handoff's Telegram staff side, end to end against the fake Bot API: Telegram users talk
//! to the real Telegram channel (`TelegramChannelBuilder::handoff` with the staff group), and a relay
//! (`TelegramStaff` + `TelegramUsers`) runs its sweep loop, as `deskbot run` wires them.
//!
//! - Must-show 2: a forum staff group gets a topic per ticket, every message in it sent with
//!   the topic's `message_thread_id`; staff answer in the topic, the user's answer appears
//!   there, staff close by button or by `close`.
//! - The same for a plain staff group, by replies to the ticket's messages.
//! - Must-show 3 (Telegram): members who are neither administrators nor listed are refused
//!   (claim, close, snippet; as text and as buttons) and the ticket is unchanged; an
//!   administrator (from getChatAdministrators) and a listed id are accepted.
//! - Two tickets at once never cross.

use deskbot_tests::fake_telegram as tg_fake;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::config as telegram_config;
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::{NOT_STAFF, Relay, RelayConfig, StaffInbox};
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_storage::{TicketEventKind, TicketStatus};
use deskbot_telegram::config::TelegramConfig;
use deskbot_telegram::staff_side::TelegramStaff;
use deskbot_telegram::users::TelegramUsers;
use deskbot_telegram::{self as telegram, TelegramHandoff};
use tg_fake::{FakeTelegram, Fault, Sent};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The staff supergroup.
const STAFF: i64 = -100_777;
/// Its owner and an administrator (listed by getChatAdministrators).
const OWNER: u64 = 500;
const ADMIN: u64 = 501;
/// A member listed in `telegram_staff_user_ids`.
const LISTED: u64 = 502;
/// A member who is neither.
const MEMBER: u64 = 503;
/// Telegram users asking for help (private chats have their user ids).
const ANN: i64 = 4242;
const BEN: i64 = 4343;

/// Hang guards, not timing assertions.
const WAIT: Duration = Duration::from_secs(120);
const HANG_GUARD: Duration = Duration::from_secs(300);

type TgRelay = Relay<TelegramStaff, TelegramUsers>;

struct World {
    tg: FakeTelegram,
    desk: Desk,
    _dir: tempfile::TempDir,
    config: TelegramConfig,
    stop: watch::Sender<bool>,
    channel: JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
    relay_task: JoinHandle<()>,
}

fn backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
    }
}

impl World {
    async fn start(forum: bool) -> Self {
        Self::start_with(forum, false).await
    }

    /// With `webhook`, the channel receives Telegram's POSTs instead of polling.
    async fn start_with(forum: bool, webhook: bool) -> Self {
        let tg = FakeTelegram::start().await;
        tg.set_forum(STAFF, forum);
        tg.set_admins(STAFF, &[OWNER, ADMIN]);
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
        let desk = Desk::open(engine, dir.path()).unwrap();
        let mut config = telegram_config(&tg);
        if webhook {
            let port = {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                l.local_addr().unwrap().port()
            };
            config.webhook_url = Some(format!("http://127.0.0.1:{port}/tg-hook"));
            config.listen = Some(format!("127.0.0.1:{port}"));
            config.webhook_secret = Secret::new("s3cret_token-1");
        }
        let (stop, channel, relay_task) = launch(&config, &desk);
        Self {
            tg,
            desk,
            _dir: dir,
            config,
            stop,
            channel,
            relay_task,
        }
    }

    /// Stops the channel and the relay and starts new ones (a new staff side, nothing cached)
    /// over the same store, as a restart of `deskbot run` would.
    async fn restart(&mut self) {
        self.halt().await;
        let (stop, channel, relay_task) = launch(&self.config, &self.desk);
        self.stop = stop;
        self.channel = channel;
        self.relay_task = relay_task;
    }

    async fn halt(&mut self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, &mut self.channel)
            .await
            .expect("the Telegram channel stops")
            .expect("no panic")
            .expect("stops without an error");
        tokio::time::timeout(WAIT, &mut self.relay_task)
            .await
            .expect("the relay stops")
            .expect("no panic");
    }

    async fn stop(mut self) {
        self.halt().await;
        let violations = self.tg.violations();
        assert!(violations.is_empty(), "{violations:?}");
        let leaked: Vec<Sent> = self
            .tg
            .sent()
            .into_iter()
            .filter(|m| m.text.contains(tg_fake::TOKEN) || m.text.contains("/file/bot"))
            .collect();
        assert!(
            leaked.is_empty(),
            "a token or file link was sent: {leaked:?}"
        );
    }

    /// Waits until `chat` was sent a message containing `needle`; returns it.
    async fn wait_text(&self, chat: i64, needle: &str) -> Sent {
        let n = needle.to_string();
        self.tg
            .wait_for(&format!("{needle:?} in chat {chat}"), WAIT, move |f| {
                f.sent_to(chat).iter().any(|m| m.text.contains(&n))
            })
            .await;
        self.tg
            .sent_to(chat)
            .into_iter()
            .find(|m| m.text.contains(needle))
            .unwrap()
    }

    fn count(&self, chat: i64, needle: &str) -> usize {
        self.tg
            .sent_to(chat)
            .iter()
            .filter(|m| m.text.contains(needle))
            .count()
    }

    /// `user` asks for a person; returns the ticket number and the ticket's first staff message.
    async fn escalate(&self, user: i64, first_words: &str) -> (u64, Sent) {
        self.tg.push_text(user, user as u64, first_words);
        self.tg
            .wait_for("a first reply", WAIT, move |f| !f.sent_to(user).is_empty())
            .await;
        self.tg.push_text(user, user as u64, "/human");
        let opened = self.wait_text(user, "I've opened ticket #").await;
        let number: u64 = opened
            .text
            .split("ticket #")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("the ticket number");
        let first = self.wait_text(STAFF, &format!("Ticket #{number} · ")).await;
        (number, first)
    }

    fn status(&self, number: u64) -> TicketStatus {
        self.desk.store().ticket(number).unwrap().unwrap().status
    }

    fn events(&self, number: u64) -> Vec<TicketEventKind> {
        self.desk
            .store()
            .ticket_events(number)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// The answer text given to callback query `q`, once it was answered.
    async fn answer_of(&self, q: &str) -> Option<String> {
        let id = q.to_string();
        self.tg
            .wait_for("the callback answer", WAIT, move |f| f.answered(&id))
            .await;
        self.tg
            .calls("answercallbackquery")
            .iter()
            .find(|r| r.body["callback_query_id"] == q && r.error.is_none())
            .and_then(|r| r.body["text"].as_str().map(str::to_string))
    }
}

/// Starts the relay's sweep loop and the Telegram channel with the staff group, as
/// `deskbot run` wires them.
fn launch(
    config: &TelegramConfig,
    desk: &Desk,
) -> (
    watch::Sender<bool>,
    JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
    JoinHandle<()>,
) {
    let relay_config = RelayConfig {
        snippets: BTreeMap::from([(
            "reset".to_string(),
            "Please reset your password at account.xiaomi.com.".to_string(),
        )]),
        ..RelayConfig::default()
    };
    let config = config.clone();
    let staff =
        TelegramStaff::with_backoff(&config, Some(STAFF), backoff(), Arc::clone(desk.metrics()))
            .unwrap()
            .expect("a staff group is configured")
            .with_store(desk.store().clone());
    let (deliver_tx, deliver_rx) = mpsc::unbounded_channel();
    let relay: Arc<TgRelay> = Arc::new(Relay::new(
        desk.clone(),
        relay_config,
        staff,
        TelegramUsers::new(desk.store().clone(), Some(deliver_tx)),
    ));
    let (stop, shutdown) = Shutdown::new();
    let r = relay.clone();
    let s = shutdown.clone();
    let relay_task = tokio::spawn(async move {
        r.run(s, Duration::from_millis(200)).await;
    });
    let inbox: Arc<dyn StaffInbox> = relay;
    let channel = tokio::spawn(
        telegram::TelegramChannel::builder(desk.clone(), config)
            .backoff(backoff())
            .deliveries(deliver_rx)
            .handoff(TelegramHandoff {
                relay: inbox,
                staff_chat: STAFF,
                staff_user_ids: vec![LISTED],
            })
            .run(shutdown),
    );
    (stop, channel, relay_task)
}

fn buttons(number: u64) -> Vec<(String, String)> {
    vec![
        ("Claim".to_string(), format!("ticket:claim:{number}")),
        ("Close".to_string(), format!("ticket:close:{number}")),
    ]
}

async fn guarded(f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .expect("hang guard");
}

/// Must-show 2: forum staff group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forum_staff_group_gets_a_topic_per_ticket_and_relays_both_ways() {
    guarded(async {
        let w = World::start(true).await;
        let (number, first) = w.escalate(ANN, "I can't sign in, my code is 492817").await;

        // A topic named for the ticket; the first message in it, masked, with the buttons.
        let topics = w.tg.topics(STAFF);
        assert_eq!(topics.len(), 1, "{topics:?}");
        let (topic, name) = topics[0].clone();
        assert_eq!(name, format!("Ticket #{number} · User{ANN}"));
        assert_eq!(first.thread, Some(topic));
        assert!(
            first
                .text
                .starts_with(&format!("Ticket #{number} · Telegram · User{ANN}")),
            "{}",
            first.text
        );
        assert!(first.text.contains("[code hidden]"), "{}", first.text);
        assert!(!first.text.contains("492817"), "{}", first.text);
        assert_eq!(first.buttons, buttons(number));

        // Staff write in the topic; the user gets it.
        w.tg.push_topic_text(STAFF, topic, ADMIN, "Which phone do you use?");
        w.wait_text(
            ANN,
            &format!("Support (User{ADMIN}): Which phone do you use?"),
        )
        .await;

        // The user's answer appears in the topic.
        w.tg.push_text(ANN, ANN as u64, "A Redmi Note 12");
        let answer = w.wait_text(STAFF, ": A Redmi Note 12").await;
        assert_eq!(answer.thread, Some(topic));

        // Attachments: staff's become a note for the user (no link), the user's a note for
        // staff.
        w.tg.push_topic_photo(STAFF, topic, ADMIN, "this screen");
        let note = w.wait_text(ANN, "📎 photo").await;
        assert!(note.text.contains("this screen"), "{}", note.text);
        assert!(!note.text.contains("http"), "{}", note.text);
        w.tg.push_photo(ANN, ANN as u64);
        let seen = w.wait_text(STAFF, &format!("User{ANN}: 📎 photo")).await;
        assert_eq!(seen.thread, Some(topic));

        // Close by the button: the press is answered, the user told, the ticket closed.
        let q = w.tg.push_callback(
            STAFF,
            ADMIN,
            first.message_id,
            &format!("ticket:close:{number}"),
        );
        assert_eq!(
            w.answer_of(&q).await.as_deref(),
            Some(format!("Ticket #{number} closed.").as_str())
        );
        w.wait_text(ANN, &format!("Ticket #{number} has been closed"))
            .await;
        assert_eq!(w.status(number), TicketStatus::Closed);
        w.wait_text(STAFF, &format!("Ticket #{number} closed by User{ADMIN}."))
            .await;

        // A second ticket gets its own topic and is closed by typing `close` in it.
        let (second, first2) = w.escalate(BEN, "my account is locked").await;
        assert_ne!(second, number);
        let topic2 = first2.thread.expect("in a topic");
        assert_ne!(topic2, topic);
        assert_eq!(w.tg.topics(STAFF).len(), 2);
        w.tg.push_topic_text(STAFF, topic2, OWNER, "close");
        w.wait_text(BEN, &format!("Ticket #{second} has been closed"))
            .await;
        assert_eq!(w.status(second), TicketStatus::Closed);

        // Every message in the staff group went to its ticket's topic.
        let staff_msgs = w.tg.sent_to(STAFF);
        for m in &staff_msgs {
            let expected = if m.text.contains(&format!("#{second}"))
                || m.text.contains(&format!("User{BEN}"))
            {
                topic2
            } else {
                topic
            };
            assert_eq!(m.thread, Some(expected), "{m:?}");
        }
        // … and every sendMessage to it carried the thread id (none was refused).
        let sends: Vec<_> =
            w.tg.calls("sendmessage")
                .into_iter()
                .filter(|r| r.body["chat_id"] == STAFF)
                .collect();
        assert!(sends.len() >= staff_msgs.len());
        assert!(sends.iter().all(|r| r.body["message_thread_id"].is_i64()));
        assert_eq!(w.tg.calls("getchat").len(), 1, "is_forum is cached");
        // Nothing the user or staff said was sent twice.
        assert_eq!(w.count(ANN, "Which phone do you use?"), 1);
        assert_eq!(w.count(STAFF, ": A Redmi Note 12"), 1);
        w.stop().await;
    })
    .await;
}

/// Must-show 2, plain group: staff answer by replying to the ticket's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_staff_group_answers_by_replying_to_ticket_messages() {
    guarded(async {
        let w = World::start(false).await;
        let (number, first) = w
            .escalate(ANN, "I can't sign in, password is hunter2")
            .await;
        assert_eq!(first.thread, None);
        assert_eq!(first.buttons, buttons(number));
        assert!(!first.text.contains("hunter2"), "{}", first.text);
        assert!(w.tg.calls("createforumtopic").is_empty());

        // A reply to the ticket message reaches the user.
        w.tg.push_reply(STAFF, ADMIN, "Which phone do you use?", first.message_id);
        w.wait_text(
            ANN,
            &format!("Support (User{ADMIN}): Which phone do you use?"),
        )
        .await;

        // The user's answer is posted marked with the ticket.
        w.tg.push_text(ANN, ANN as u64, "A Redmi Note 12");
        let relayed = w
            .wait_text(STAFF, &format!("#{number} · User{ANN}: A Redmi Note 12"))
            .await;
        assert_eq!(relayed.thread, None);

        // A reply to that relayed message reaches the user too (a listed staff member).
        w.tg.push_reply(STAFF, LISTED, "Try the Mi Account app", relayed.message_id);
        w.wait_text(
            ANN,
            &format!("Support (User{LISTED}): Try the Mi Account app"),
        )
        .await;

        // A staff document becomes a note with its name, no link.
        w.tg.push_reply_document(STAFF, ADMIN, "guide.pdf", relayed.message_id);
        let note = w.wait_text(ANN, "📎 document guide.pdf").await;
        assert!(!note.text.contains("http"), "{}", note.text);

        // Group chatter that replies to nothing is not for the user, nor a bot conversation.
        w.tg.push_group_text(STAFF, ADMIN, "/help anyone seen this before?");
        w.tg.push_group_text(STAFF, ADMIN, "hello team");
        // Handled in order in the staff group: once `close` is done, the chatter was seen.
        w.tg.push_reply(STAFF, ADMIN, "close", first.message_id);
        w.wait_text(ANN, &format!("Ticket #{number} has been closed"))
            .await;
        assert_eq!(w.status(number), TicketStatus::Closed);
        assert_eq!(w.count(ANN, "hello team"), 0);
        assert_eq!(w.count(ANN, "anyone seen"), 0);
        let staff_msgs = w.tg.sent_to(STAFF);
        // Ticket message, the user's line, the close notice: nothing answers the chatter.
        w.wait_text(STAFF, &format!("Ticket #{number} closed by User{ADMIN}."))
            .await;
        assert!(
            staff_msgs
                .iter()
                .all(|m| m.text.contains(&format!("#{number}"))),
            "{staff_msgs:?}"
        );
        assert!(
            w.tg.calls("sendmessage")
                .iter()
                .all(|r| r.body.get("message_thread_id").is_none()),
            "no thread ids in a plain group"
        );
        w.stop().await;
    })
    .await;
}

/// Writes `text` as `user` where staff answer ticket `first`: in its topic, or as a reply.
fn say(w: &World, first: &Sent, user: u64, text: &str) {
    match first.thread {
        Some(t) => {
            w.tg.push_topic_text(STAFF, t, user, text);
        }
        None => {
            w.tg.push_reply(STAFF, user, text, first.message_id);
        }
    }
}

/// Must-show 3 (Telegram), forum group: who may use the staff commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_staff_members_are_refused_and_admins_and_listed_ids_are_accepted() {
    guarded(staff_only(true)).await;
}

/// Must-show 3 (Telegram), plain group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_staff_members_are_refused_in_a_plain_group_too() {
    guarded(staff_only(false)).await;
}

async fn staff_only(forum: bool) {
    {
        let w = World::start(forum).await;
        let (number, first) = w.escalate(ANN, "my account is locked").await;
        assert_eq!(first.thread.is_some(), forum);

        // A plain member: text commands and a message for the user are refused.
        for text in ["claim", "close", "snippet reset", "Hello, I can help you"] {
            say(&w, &first, MEMBER, text);
        }
        w.tg.wait_for("four refusals", WAIT, |f| {
            f.sent_to(STAFF)
                .iter()
                .filter(|m| m.text.ends_with(NOT_STAFF))
                .count()
                == 4
        })
        .await;
        // Buttons too: the press is answered with a refusal.
        let q1 = w.tg.push_callback(
            STAFF,
            MEMBER,
            first.message_id,
            &format!("ticket:claim:{number}"),
        );
        let q2 = w.tg.push_callback(
            STAFF,
            MEMBER,
            first.message_id,
            &format!("ticket:close:{number}"),
        );
        for q in [&q1, &q2] {
            let answer = w.answer_of(q).await.unwrap_or_default();
            assert!(answer.starts_with("Only support staff"), "{answer}");
        }
        assert_eq!(w.status(number), TicketStatus::Open);
        assert!(w.events(number).is_empty(), "{:?}", w.events(number));
        assert!(
            !w.tg
                .sent_to(ANN)
                .iter()
                .any(|m| m.text.starts_with("Support")),
            "{:?}",
            w.tg.sent_to(ANN)
        );
        assert!(!w.tg.calls("getchatadministrators").is_empty());

        // An administrator (from getChatAdministrators) claims by button.
        let q = w.tg.push_callback(
            STAFF,
            ADMIN,
            first.message_id,
            &format!("ticket:claim:{number}"),
        );
        assert_eq!(
            w.answer_of(&q).await.as_deref(),
            Some(format!("Ticket #{number} is yours.").as_str())
        );
        assert_eq!(w.events(number), vec![TicketEventKind::Claimed]);
        let claimed = w.desk.store().ticket_events(number).unwrap();
        assert_eq!(claimed[0].by, format!("User{ADMIN}"));

        // A listed member sends a snippet, then closes by button.
        say(&w, &first, LISTED, "snippet reset");
        w.wait_text(
            ANN,
            &format!("Support (User{LISTED}): Please reset your password at account.xiaomi.com."),
        )
        .await;
        let q = w.tg.push_callback(
            STAFF,
            LISTED,
            first.message_id,
            &format!("ticket:close:{number}"),
        );
        assert_eq!(
            w.answer_of(&q).await.as_deref(),
            Some(format!("Ticket #{number} closed.").as_str())
        );
        assert_eq!(w.status(number), TicketStatus::Closed);
        assert_eq!(
            w.events(number),
            vec![TicketEventKind::Claimed, TicketEventKind::Closed]
        );
        w.wait_text(ANN, &format!("Ticket #{number} has been closed"))
            .await;
        w.stop().await;
    }
}

async fn two_tickets(forum: bool) {
    let w = World::start(forum).await;
    let (a, first_a) = w.escalate(ANN, "my account is locked").await;
    let (b, first_b) = w.escalate(BEN, "I forgot my password").await;
    assert_ne!(a, b);
    let say = |first: &Sent, user: u64, text: &str| match first.thread {
        Some(t) => {
            w.tg.push_topic_text(STAFF, t, user, text);
        }
        None => {
            w.tg.push_reply(STAFF, user, text, first.message_id);
        }
    };
    for i in 0..3 {
        say(&first_a, ADMIN, &format!("to-ann-{i}"));
        say(&first_b, LISTED, &format!("to-ben-{i}"));
        w.tg.push_text(BEN, BEN as u64, &format!("from-ben-{i}"));
        w.tg.push_text(ANN, ANN as u64, &format!("from-ann-{i}"));
    }
    for i in 0..3 {
        w.wait_text(ANN, &format!("to-ann-{i}")).await;
        w.wait_text(BEN, &format!("to-ben-{i}")).await;
        w.wait_text(STAFF, &format!("User{ANN}: from-ann-{i}"))
            .await;
        w.wait_text(STAFF, &format!("User{BEN}: from-ben-{i}"))
            .await;
    }
    assert_eq!(w.count(ANN, "to-ben"), 0);
    assert_eq!(w.count(BEN, "to-ann"), 0);
    // Each user's lines went to their own ticket's thread (or carry their own ticket's mark),
    // in order.
    let staff = w.tg.sent_to(STAFF);
    for (user, first, number) in [(ANN, &first_a, a), (BEN, &first_b, b)] {
        let lines: Vec<&Sent> = staff
            .iter()
            .filter(|m| m.text.contains(&format!("User{user}: from-")))
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for (i, m) in lines.iter().enumerate() {
            assert!(
                m.text.ends_with(&format!(
                    "from-{}-{i}",
                    if user == ANN { "ann" } else { "ben" }
                )),
                "{m:?}"
            );
            match first.thread {
                Some(t) => assert_eq!(m.thread, Some(t), "{m:?}"),
                None => assert!(m.text.starts_with(&format!("#{number} · ")), "{m:?}"),
            }
        }
    }
    let order = |chat: i64, prefix: &str| -> Vec<String> {
        w.tg.sent_to(chat)
            .into_iter()
            .filter(|m| m.text.contains(prefix))
            .map(|m| m.text)
            .collect()
    };
    assert_eq!(
        order(ANN, "to-ann-"),
        (0..3)
            .map(|i| format!("Support (User{ADMIN}): to-ann-{i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        order(BEN, "to-ben-"),
        (0..3)
            .map(|i| format!("Support (User{LISTED}): to-ben-{i}"))
            .collect::<Vec<_>>()
    );
    w.stop().await;
}

/// Two tickets at once in a forum group never cross.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tickets_at_once_never_cross_in_a_forum() {
    guarded(two_tickets(true)).await;
}

/// Two tickets at once in a plain group never cross.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tickets_at_once_never_cross_in_a_plain_group() {
    guarded(two_tickets(false)).await;
}

/// After a restart every open ticket is routable both ways, in both kinds of group, and
/// nothing is posted or sent twice.
async fn restart_keeps_routes(forum: bool) {
    let mut w = World::start(forum).await;
    // A long first message, so the ticket message is split: its last part (with the buttons)
    // does not start with the ticket mark, only a stored route leads from it to the ticket.
    let long = "my account is locked and I tried everything ".repeat(85);
    w.tg.push_text(ANN, ANN as u64, &long);
    w.tg.wait_for("a first reply", WAIT, |f| !f.sent_to(ANN).is_empty())
        .await;
    let (number, first) = w.escalate(ANN, &long).await;
    w.tg.wait_for("the buttons", WAIT, |f| {
        f.sent_to(STAFF).iter().any(|m| !m.buttons.is_empty())
    })
    .await;
    let with_buttons =
        w.tg.sent_to(STAFF)
            .into_iter()
            .find(|m| !m.buttons.is_empty())
            .expect("the ticket message's buttons");
    assert_ne!(with_buttons.message_id, first.message_id, "split in parts");
    assert!(!with_buttons.text.starts_with('#') && !with_buttons.text.starts_with("Ticket #"));
    w.tg.push_text(ANN, ANN as u64, "before the restart");
    let relayed = w
        .wait_text(STAFF, &format!("User{ANN}: before the restart"))
        .await;

    w.restart().await;

    // A reply to the ticket message's last part reaches the ticket (a stored route).
    w.tg.push_reply(
        STAFF,
        ADMIN,
        "reply to the buttons part",
        with_buttons.message_id,
    );
    w.wait_text(ANN, "Support (User501): reply to the buttons part")
        .await;

    // Staff answer to the message relayed before the restart (a reply in a plain group; in
    // the topic in a forum).
    match first.thread {
        Some(t) => {
            w.tg.push_topic_text(STAFF, t, ADMIN, "answer after the restart");
        }
        None => {
            w.tg.push_reply(STAFF, ADMIN, "answer after the restart", relayed.message_id);
        }
    }
    w.wait_text(ANN, "Support (User501): answer after the restart")
        .await;
    w.tg.push_text(ANN, ANN as u64, "after the restart");
    let after = w
        .wait_text(STAFF, &format!("User{ANN}: after the restart"))
        .await;
    assert_eq!(after.thread, first.thread);
    assert_eq!(w.tg.topics(STAFF).len(), usize::from(forum));
    assert_eq!(
        w.count(STAFF, &format!("Ticket #{number} · ")),
        1,
        "opened once"
    );
    assert_eq!(w.count(STAFF, "before the restart"), 1);
    assert_eq!(w.count(ANN, "answer after the restart"), 1);
    assert_eq!(w.status(number), TicketStatus::Open);
    w.stop().await;
}

/// Restart with a ticket open, forum group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_keeps_forum_topics_routable() {
    guarded(restart_keeps_routes(true)).await;
}

/// Restart with a ticket open, plain group (routes of relayed messages are stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_keeps_plain_group_replies_routable() {
    guarded(restart_keeps_routes(false)).await;
}

/// The staff side rides out flood control and garbled answers: getChat, createForumTopic and
/// sendMessage in the staff group are retried, nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_side_retries_flood_control_and_garbled_answers() {
    guarded(async {
        let w = World::start(true).await;
        w.tg.fault("getchat", Fault::Garbled);
        w.tg.fault("createforumtopic", Fault::RetryAfter(1));
        w.tg.fault_chat(STAFF, Fault::RetryAfter(1));
        w.tg.fault("getchatadministrators", Fault::Garbled);
        let (number, first) = w.escalate(ANN, "my account is locked").await;
        let topic = first.thread.expect("a topic");
        assert_eq!(w.tg.topics(STAFF).len(), 1, "one topic despite the retry");
        for method in ["getchat", "createforumtopic"] {
            let calls = w.tg.calls(method);
            assert_eq!(calls.len(), 2, "{method}: {calls:?}");
            assert!(calls[0].error.is_some() && calls[1].error.is_none());
        }
        let refused =
            w.tg.calls("sendmessage")
                .into_iter()
                .filter(|r| r.body["chat_id"] == STAFF && r.error.is_some())
                .count();
        assert_eq!(refused, 1, "the flood-controlled send was made again");
        assert_eq!(w.count(STAFF, &format!("Ticket #{number} · ")), 1);

        // The administrator list is asked again after a garbled answer.
        w.tg.push_topic_text(STAFF, topic, ADMIN, "claim");
        w.wait_text(STAFF, &format!("Ticket #{number} claimed by User{ADMIN}."))
            .await;
        assert_eq!(w.events(number), vec![TicketEventKind::Claimed]);
        w.stop().await;
    })
    .await;
}

/// Someone deletes a ticket's topic: the next line opens a new topic for the ticket (first
/// message and buttons again), the ticket moves there, and staff answer there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_topic_is_opened_again() {
    guarded(async {
        let w = World::start(true).await;
        let (number, first) = w.escalate(ANN, "my account is locked").await;
        let old = first.thread.expect("a topic");
        w.tg.delete_topic(STAFF, old);
        w.tg.push_text(ANN, ANN as u64, "are you there?");
        let line = w
            .wait_text(STAFF, &format!("User{ANN}: are you there?"))
            .await;
        let new = line.thread.expect("in a topic");
        assert_ne!(new, old);
        assert_eq!(w.tg.topics(STAFF).len(), 1);
        let reopened = w.wait_text(STAFF, "it continues here").await;
        assert_eq!(reopened.thread, Some(new));
        let location = w.desk.store().staff_location(number).unwrap().unwrap();
        assert_eq!(location.thread, Some(new.to_string()));
        w.tg.push_topic_text(STAFF, new, ADMIN, "yes, here");
        w.wait_text(ANN, &format!("Support (User{ADMIN}): yes, here"))
            .await;
        assert_eq!(w.count(STAFF, "are you there?"), 1);
        w.stop().await;
    })
    .await;
}

/// A forum where the bot may not create topics: the ticket opens as a ticket message in the
/// General topic (no `message_thread_id`), and staff answer by replying, as in a plain group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forum_refusing_topics_falls_back_to_ticket_messages() {
    guarded(async {
        let w = World::start(true).await;
        w.tg.fault(
            "createforumtopic",
            Fault::Refused("Bad Request: not enough rights to create a topic".into()),
        );
        let (number, first) = w.escalate(ANN, "my account is locked").await;
        assert_eq!(first.thread, None);
        assert_eq!(first.buttons, buttons(number));
        assert!(w.tg.topics(STAFF).is_empty());
        w.tg.push_reply(STAFF, ADMIN, "Which phone?", first.message_id);
        w.wait_text(ANN, &format!("Support (User{ADMIN}): Which phone?"))
            .await;
        w.tg.push_text(ANN, ANN as u64, "A Redmi");
        let line = w
            .wait_text(STAFF, &format!("#{number} · User{ANN}: A Redmi"))
            .await;
        assert_eq!(line.thread, None);
        // The refusal was one ask, not retried.
        assert_eq!(w.tg.calls("createforumtopic").len(), 1);
        w.stop().await;
    })
    .await;
}

/// The staff group works the same when updates arrive by webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_group_works_in_webhook_mode() {
    guarded(async {
        let w = World::start_with(true, true).await;
        let (number, first) = w.escalate(ANN, "my account is locked").await;
        let topic = first.thread.expect("a topic");
        w.tg.push_topic_text(STAFF, topic, ADMIN, "Hello from staff");
        w.wait_text(ANN, &format!("Support (User{ADMIN}): Hello from staff"))
            .await;
        w.tg.push_text(ANN, ANN as u64, "thanks");
        let line = w.wait_text(STAFF, &format!("User{ANN}: thanks")).await;
        assert_eq!(line.thread, Some(topic));
        let q = w.tg.push_callback(
            STAFF,
            MEMBER,
            first.message_id,
            &format!("ticket:close:{number}"),
        );
        let refused = w.answer_of(&q).await.unwrap_or_default();
        assert!(refused.starts_with("Only support staff"), "{refused}");
        assert_eq!(w.status(number), TicketStatus::Open);
        let q = w.tg.push_callback(
            STAFF,
            ADMIN,
            first.message_id,
            &format!("ticket:close:{number}"),
        );
        w.answer_of(&q).await;
        w.wait_text(ANN, &format!("Ticket #{number} has been closed"))
            .await;
        assert_eq!(w.status(number), TicketStatus::Closed);
        assert!(w.tg.calls("getupdates").is_empty(), "no polling");
        w.stop().await;
    })
    .await;
}

//! The real Telegram adapter (`deskbot_telegram::TelegramChannel`, in-process, a sled store in a
//! temporary directory, the built-in catalog) against a fake Bot API server on 127.0.0.1.
//! Every test is bounded by a timeout; the fake never answers 5xx.

use deskbot_tests::fake_telegram as fake;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{config, engine};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Conversation, Engine, Input, Phase};
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, Speaker, Store};
use deskbot_telegram::config::TelegramConfig;
use deskbot_telegram::{self as telegram, NON_TEXT_REPLY, NOT_YOUR_BUTTON};
use fake::{FakeTelegram, Fault, Sent};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a test waits for something before it fails: a guard against hangs, generous so
/// a loaded CI machine never trips it (conditions are normally met in milliseconds).
const WAIT: Duration = Duration::from_secs(60);

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
}

fn start(desk: Desk, config: TelegramConfig) -> Running {
    let (stop, shutdown) = Shutdown::new();
    let backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    let task = tokio::spawn(
        telegram::TelegramChannel::builder(desk, config)
            .backoff(backoff)
            .run(shutdown),
    );
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the adapter stops within 60 s")
            .expect("the adapter task does not panic")
            .expect("the adapter stops without an error");
    }
}

fn desk_in(dir: &Path) -> Desk {
    Desk::open(engine(), dir).unwrap()
}

/// Runs a test body with a hard limit, so no test can hang.
async fn bounded(limit: Duration, body: impl Future<Output = ()>) {
    tokio::time::timeout(limit, body)
        .await
        .expect("test exceeded its time limit");
}

fn conversation(store: &Store, user: u64) -> Conversation {
    store
        .conversation(&ConvKey::new(Platform::Telegram, user.to_string()))
        .unwrap()
        .unwrap_or_default()
}

fn button<'a>(m: &'a Sent, label: &str) -> &'a str {
    m.buttons
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, d)| d.as_str())
        .unwrap_or_else(|| panic!("no button {label:?} in {m:?}"))
}

async fn wait_sent(fake: &FakeTelegram, chat: i64, n: usize) -> Vec<Sent> {
    fake.wait_for(&format!("{n} messages to chat {chat}"), WAIT, |f| {
        f.sent_to(chat).len() >= n
    })
    .await;
    fake.sent_to(chat)
}

/// What the engine answers these inputs, from a separate store (the console's view).
fn expected_replies(user: u64, inputs: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk_in(dir.path());
    let key = ConvKey::new(Platform::Telegram, user.to_string());
    inputs
        .iter()
        .map(|t| {
            desk.handle(&key, None, &Input::Text((*t).to_string()))
                .unwrap()
                .reply
                .text
        })
        .collect()
}

fn no_parse_mode(fake: &FakeTelegram) {
    for r in fake.calls("sendmessage") {
        assert!(r.body.get("parse_mode").is_none(), "{:?}", r.body);
    }
}

/// Named so that `cargo test telegram` selects every test here.
mod telegram_adapter {
    use super::*;

    /// Must show 1 and 6: a private conversation through a guide with buttons to a ticket, and
    /// the state is the engine's state model, readable from storage.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn private_chat_walks_a_guide_with_buttons_to_a_ticket() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let desk = desk_in(dir.path());
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            fake.wait_for("setMyCommands", WAIT, |f| f.commands().is_some())
                .await;
            let names: Vec<String> = fake
                .commands()
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["command"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(names, ["start", "help", "reset", "human", "forget"]);
            let methods: Vec<String> = fake.requests().iter().map(|r| r.method.clone()).collect();
            assert_eq!(methods[..2], ["getme", "getwebhookinfo"]);

            let user = 42u64;
            let chat = 42i64;
            fake.push_text(chat, user, "my account is locked");
            let sent = wait_sent(&fake, chat, 1).await;
            let first = &sent[0];
            assert!(first.text.contains("Step 1 of"), "{}", first.text);
            assert_eq!(
                first
                    .buttons
                    .iter()
                    .map(|(l, _)| l.as_str())
                    .collect::<Vec<_>>(),
                ["Yes, that fixed it", "No, still stuck", "Talk to a person"]
            );
            assert_eq!(first.reply_to, None, "private replies do not quote");
            // Must show 6: the same state model as the console.
            let c = conversation(&store, user);
            assert_eq!(
                c.phase,
                Phase::Guide {
                    intent: "account_locked".into(),
                    step: 0
                }
            );

            // Press "No" until the guide runs out, then accept a person.
            let mut last = first.clone();
            let mut presses = 0;
            loop {
                let label = if last.buttons.iter().any(|(l, _)| l == "Yes, connect me") {
                    "Yes, connect me"
                } else {
                    "No, still stuck"
                };
                let data = button(&last, label).to_string();
                let query = fake.push_callback(chat, user, last.message_id, &data);
                presses += 1;
                let sent = wait_sent(&fake, chat, presses + 1).await;
                fake.wait_for("the callback answer", WAIT, |f| f.answered(&query))
                    .await;
                assert_eq!(
                    fake.markup(chat, last.message_id),
                    None,
                    "used keyboard removed"
                );
                let now = sent.last().unwrap().clone();
                if label == "Yes, connect me" {
                    assert!(now.text.contains("ticket #"), "{}", now.text);
                    break;
                }
                if presses == 1 {
                    assert!(now.text.contains("Step 2 of"), "{}", now.text);
                    assert_eq!(
                        conversation(&store, user).phase,
                        Phase::Guide {
                            intent: "account_locked".into(),
                            step: 1
                        }
                    );
                }
                last = now;
                assert!(presses < 10, "the guide never ended");
            }
            let c = conversation(&store, user);
            let Phase::Escalated { ticket } = c.phase else {
                panic!("not escalated: {:?}", c.phase);
            };
            let t = store.ticket(ticket).unwrap().unwrap();
            assert_eq!(t.conversation, ConvKey::new(Platform::Telegram, "42"));
            assert_eq!(t.display_name.as_deref(), Some("User42"));
            assert!(!t.steps_tried.is_empty());
            assert_eq!(fake.calls("answercallbackquery").len(), presses);
            assert_eq!(fake.calls("editmessagereplymarkup").len(), presses);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            no_parse_mode(&fake);
            drop(store);
            bot.stop().await;
        })
        .await;
    }

    /// A press on an outdated keyboard is answered, its keyboard removed, and the engine says
    /// where the conversation is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_button_is_handled_gracefully() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.push_text(43, 43, "my account is locked");
            let sent = wait_sent(&fake, 43, 1).await;
            let old = sent[0].clone();
            fake.push_text(43, 43, "no");
            let sent = wait_sent(&fake, 43, 2).await;
            assert!(sent[1].text.contains("Step 2 of"), "{}", sent[1].text);
            let query = fake.push_callback(43, 43, old.message_id, button(&old, "No, still stuck"));
            let sent = wait_sent(&fake, 43, 3).await;
            fake.wait_for("the stale press answered", WAIT, |f| f.answered(&query))
                .await;
            assert!(sent[2].text.contains("earlier message"), "{}", sent[2].text);
            assert!(sent[2].text.contains("Step 2 of"), "{}", sent[2].text);
            assert!(!sent[2].buttons.is_empty());
            assert_eq!(fake.markup(43, old.message_id), None);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// Groups: only commands (not for another bot), mentions and replies to the bot are
    /// answered; buttons there belong to the user who started the conversation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn groups_answer_only_commands_mentions_and_replies() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), config(&fake));
            let g = -1001i64;
            fake.push_text(g, 7, "my account is locked");
            fake.push_text(g, 7, "/help@some_other_bot");
            fake.push_service(g, 7);
            fake.push_sticker(g, 7);
            fake.push_text(g, 7, "/help");
            let sent = wait_sent(&fake, g, 1).await;
            assert!(sent[0].text.contains("Topics I know"), "{}", sent[0].text);
            fake.push_text(g, 7, "@deskbot_test_bot my account is locked");
            let sent = wait_sent(&fake, g, 2).await;
            let step = sent[1].clone();
            assert!(step.text.contains("Step 1 of"), "{}", step.text);
            assert!(step.reply_to.is_some(), "group replies quote the message");
            let data = button(&step, "No, still stuck").to_string();
            assert!(data.starts_with("g7/"), "{data}");
            // Someone else presses user 7's button.
            let q = fake.push_callback(g, 8, step.message_id, &data);
            fake.wait_for("the foreign press answered", WAIT, |f| f.answered(&q))
                .await;
            let answer = fake.calls("answercallbackquery").pop().unwrap();
            assert_eq!(answer.body["text"], NOT_YOUR_BUTTON);
            assert!(
                fake.markup(g, step.message_id).is_some(),
                "keyboard kept for its owner"
            );
            // A reply to the bot continues the conversation.
            fake.push_reply(g, 7, "no", step.message_id);
            let sent = wait_sent(&fake, g, 3).await;
            assert!(sent[2].text.contains("Step 2 of"), "{}", sent[2].text);
            // The ignored updates were all confirmed, and answered nothing.
            fake.wait_for("all updates confirmed", WAIT, |f| {
                f.unconfirmed().is_empty()
            })
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(fake.sent_to(g).len(), 3);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// Must show 2: user text full of markup characters and a reply over 4096 characters; every
    /// request passes the fake's validation (plain text, split at line boundaries).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn markup_characters_and_overlong_replies_pass_validation() {
        bounded(Duration::from_secs(180), async {
            let mut catalog = Catalog::builtin().unwrap();
            let long_step: String = (0..120)
                .map(|i| {
                    format!("Line {i}: tap <Settings> & then *Account* _now_ [x] (y) {{z}} #{i}!")
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert!(long_step.chars().count() > 4096);
            let intent = catalog
                .intents
                .iter_mut()
                .find(|i| i.id == "account_locked")
                .unwrap();
            intent.steps[0].text = long_step.clone();
            let engine = Arc::new(Engine::new(catalog).unwrap());
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(Desk::open(engine, dir.path()).unwrap(), config(&fake));
            fake.push_text(
                44,
                44,
                "<b>hi</b> & *bold* _it_ [link](x) `code` \\ > # + - = | { } . !",
            );
            fake.push_text(44, 44, "my account is locked <>&*_[");
            // 1 reply to the markup text, then the long step in several parts.
            fake.wait_for("the long reply", WAIT, |f| {
                f.sent_to(44)
                    .iter()
                    .any(|m| !m.buttons.is_empty() && m.text.contains("Did that fix it?"))
            })
            .await;
            let sent = fake.sent_to(44);
            let parts: Vec<&Sent> = sent.iter().skip(1).collect();
            assert!(
                parts.len() >= 2,
                "the long reply was split: {}",
                parts.len()
            );
            for p in &parts {
                assert!(p.text.chars().count() <= 4096);
            }
            for p in &parts[..parts.len() - 1] {
                assert!(p.buttons.is_empty(), "keyboard only on the last part");
            }
            let joined = parts
                .iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(joined.contains(&long_step), "no text lost or altered");
            // Lines are never cut.
            for p in &parts {
                for line in p.text.lines().filter(|l| l.starts_with("Line ")) {
                    assert!(line.ends_with('!'), "line cut: {line}");
                }
            }
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            assert!(fake.calls("sendmessage").iter().all(|r| r.error.is_none()));
            no_parse_mode(&fake);
            bot.stop().await;
        })
        .await;
    }

    /// Must show 3: the first sendMessage gets 429 with retry_after 1; the reply still arrives,
    /// exactly once, after the wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flood_control_is_waited_out_and_the_reply_arrives_once() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.wait_for("startup", WAIT, |f| f.commands().is_some())
                .await;
            fake.fault("sendMessage", Fault::RetryAfter(1));
            fake.push_text(50, 50, "my account is locked");
            let sent = wait_sent(&fake, 50, 1).await;
            assert!(sent[0].text.contains("Step 1 of"));
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(fake.sent_to(50).len(), 1, "delivered exactly once");
            let calls = fake.calls("sendmessage");
            assert_eq!(calls.len(), 2, "one refused, one accepted");
            assert!(
                calls[0]
                    .error
                    .as_deref()
                    .unwrap_or("")
                    .contains("RetryAfter")
            );
            let gap = calls[1].at.duration_since(calls[0].at);
            assert!(
                gap >= Duration::from_millis(950),
                "retry_after honoured: {gap:?}"
            );
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// A transient failure (a garbled answer from a proxy) is retried with backoff, flood
    /// control on unthrottled calls (editMessageReplyMarkup) is waited out; nothing is dropped
    /// or doubled, for messages, callback answers and keyboard edits alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transient_failures_are_retried_without_dropping_replies() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.wait_for("startup", WAIT, |f| f.commands().is_some())
                .await;
            fake.fault("sendmessage", Fault::Garbled);
            fake.fault("sendmessage", Fault::Garbled);
            fake.push_text(51, 51, "my account is locked");
            let sent = wait_sent(&fake, 51, 1).await;
            fake.fault("answercallbackquery", Fault::Garbled);
            fake.fault("editmessagereplymarkup", Fault::RetryAfter(1));
            let q = fake.push_callback(
                51,
                51,
                sent[0].message_id,
                button(&sent[0], "No, still stuck"),
            );
            wait_sent(&fake, 51, 2).await;
            fake.wait_for("the answer", WAIT, |f| f.answered(&q)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(fake.sent_to(51).len(), 2);
            assert_eq!(fake.calls("sendmessage").len(), 4);
            assert_eq!(fake.calls("answercallbackquery").len(), 2);
            assert_eq!(fake.calls("editmessagereplymarkup").len(), 2);
            assert_eq!(fake.markup(51, sent[0].message_id), None);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// Photos and stickers get a polite request to use words.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn non_text_messages_get_a_request_for_words() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.push_photo(60, 60);
            fake.push_sticker(60, 60);
            let sent = wait_sent(&fake, 60, 2).await;
            assert_eq!(sent[0].text, NON_TEXT_REPLY);
            assert_eq!(sent[1].text, NON_TEXT_REPLY);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// A user who blocked the bot is marked (persisted) and not sent to again, until they
    /// unblock it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_who_blocked_the_bot_is_not_sent_to_again() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let desk = desk_in(dir.path());
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            fake.wait_for("startup", WAIT, |f| f.commands().is_some())
                .await;
            fake.block(70);
            fake.push_text(70, 70, "my account is locked");
            fake.push_text(70, 70, "hello?");
            fake.push_text(70, 70, "/help");
            // Another chat proves the adapter went on working.
            fake.push_text(71, 71, "hello");
            wait_sent(&fake, 71, 1).await;
            fake.wait_for("all updates confirmed", WAIT, |f| {
                f.unconfirmed().is_empty()
            })
            .await;
            let done = |s: &Store| {
                s.inbox_pending("telegram").unwrap().is_empty()
                    && s.outbox_pending("telegram", "70").unwrap().is_empty()
            };
            let deadline = Instant::now() + WAIT;
            while !done(&store) {
                assert!(Instant::now() < deadline, "chat 70 never settled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let to_70 = fake
                .calls("sendmessage")
                .iter()
                .filter(|r| r.body["chat_id"] == 70)
                .count();
            assert_eq!(to_70, 1, "only the first reply was tried");
            assert!(telegram::is_blocked(&store, 70).unwrap());
            // The turns still happened (the conversation state moved on).
            assert_eq!(conversation(&store, 70).turn, 3);
            // The user unblocks the bot: Telegram says so, and replies flow again.
            fake.unblock(70);
            fake.push_membership(70, 70, "member");
            fake.push_text(70, 70, "/help");
            let sent = wait_sent(&fake, 70, 1).await;
            assert!(sent[0].text.contains("Topics I know"));
            assert!(!telegram::is_blocked(&store, 70).unwrap());
            // Blocking through my_chat_member marks the chat too.
            fake.push_membership(72, 72, "kicked");
            let deadline = Instant::now() + WAIT;
            while !telegram::is_blocked(&store, 72).unwrap() {
                assert!(Instant::now() < deadline, "chat 72 never marked");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            drop(store);
            bot.stop().await;
        })
        .await;
    }

    const SCRIPT: [&str; 4] = ["hello", "my account is locked", "no", "/reset"];

    fn push_script(fake: &FakeTelegram, chats: std::ops::RangeInclusive<i64>) {
        for text in SCRIPT {
            for chat in chats.clone() {
                fake.push_text(chat, chat as u64, text);
            }
        }
    }

    /// Each chat's bot messages, deduplicated in a row (a crash can resend one message).
    fn texts(fake: &FakeTelegram, chat: i64) -> Vec<String> {
        fake.sent_to(chat).into_iter().map(|m| m.text).collect()
    }

    fn transcript_user_lines(store: &Store, chat: i64) -> Vec<String> {
        store
            .transcript(&ConvKey::new(Platform::Telegram, chat.to_string()), 1000)
            .unwrap()
            .into_iter()
            .filter(|l| l.speaker == Speaker::User)
            .map(|l| l.text)
            .collect()
    }

    /// Must show 4: stopped and restarted in the middle of a scripted run, the adapter answers
    /// every update exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_mid_run_answers_every_update_exactly_once() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            fake.set_send_delay(Duration::from_millis(60));
            let dir = tempfile::tempdir().unwrap();
            let chats = 81..=85i64;
            push_script(&fake, chats.clone());
            let total = SCRIPT.len() * 5;
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.wait_for("a few replies", WAIT, |f| f.sent().len() >= 5)
                .await;
            bot.stop().await;
            let at_stop = fake.sent().len();
            assert!(
                at_stop < total,
                "stopped too late to test anything: {at_stop}"
            );
            eprintln!("restart: {at_stop} of {total} replies before the stop");

            let desk = desk_in(dir.path());
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            fake.wait_for("every reply", WAIT, |f| f.sent().len() >= total)
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            bot.stop().await;
            let expected = expected_replies(81, &SCRIPT);
            for chat in chats {
                assert_eq!(texts(&fake, chat), expected, "chat {chat}");
                assert_eq!(transcript_user_lines(&store, chat), SCRIPT, "chat {chat}");
            }
            assert_eq!(fake.sent().len(), total);
            assert!(fake.unconfirmed().is_empty());
            assert!(store.inbox_pending("telegram").unwrap().is_empty());
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        })
        .await;
    }

    /// A crash (the adapter's task aborted mid-run) loses no update and runs no turn twice; at
    /// worst a message in flight at the crash is sent again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_mid_run_loses_nothing_and_runs_no_turn_twice() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            fake.set_send_delay(Duration::from_millis(60));
            let dir = tempfile::tempdir().unwrap();
            let chats = 91..=95i64;
            push_script(&fake, chats.clone());
            let total = SCRIPT.len() * 5;
            let bot = start(desk_in(dir.path()), config(&fake));
            fake.wait_for("a few replies", WAIT, |f| f.sent().len() >= 5)
                .await;
            bot.task.abort();
            let _ = bot.task.await;
            // Blocking store calls already started finish on their own; wait for the lock.
            let deadline = Instant::now() + WAIT;
            let desk = loop {
                match Desk::open(engine(), dir.path()) {
                    Ok(d) => break d,
                    Err(e) => {
                        assert!(Instant::now() < deadline, "store never released: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            let expected = expected_replies(91, &SCRIPT);
            let complete = |f: &FakeTelegram| {
                chats.clone().all(|c| {
                    let mut t = texts(f, c);
                    t.dedup();
                    t.len() >= expected.len()
                })
            };
            fake.wait_for("every reply", WAIT, complete).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            bot.stop().await;
            let mut resent = 0;
            for chat in chats {
                let mut t = texts(&fake, chat);
                resent += t.len();
                t.dedup();
                resent -= t.len();
                assert_eq!(t, expected, "chat {chat}");
                assert_eq!(transcript_user_lines(&store, chat), SCRIPT, "chat {chat}");
            }
            eprintln!("crash: {resent} message(s) resent");
            assert!(
                resent <= 5,
                "at most the messages in flight were resent: {resent}"
            );
            assert!(fake.sent().len() >= total);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        })
        .await;
    }

    /// Must show 5: 200 chats sending 5 messages each at once; every chat gets exactly its
    /// replies, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_chats_get_their_own_replies_in_order() {
        bounded(Duration::from_secs(180), async {
            let inputs = ["hello", "my account is locked", "no", "/help", "/reset"];
            let fake = FakeTelegram::start().await;
            // Each send takes 20 ms, so concurrent chats overlap their sends.
            fake.set_send_delay(Duration::from_millis(20));
            let dir = tempfile::tempdir().unwrap();
            let chats: Vec<i64> = (2000..2200).collect();
            for text in inputs {
                for &chat in &chats {
                    fake.push_text(chat, chat as u64, text);
                }
            }
            let started = Instant::now();
            let desk = desk_in(dir.path());
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            fake.wait_for("1000 replies", Duration::from_secs(90), |f| {
                f.sent().len() >= 1000
            })
            .await;
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_millis(300)).await;
            bot.stop().await;
            let expected = expected_replies(1, &inputs);
            let mut per_chat: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for m in fake.sent() {
                per_chat.entry(m.chat).or_default().push(m.text);
            }
            assert_eq!(per_chat.len(), 200);
            for (chat, got) in &per_chat {
                assert_eq!(got, &expected, "chat {chat}");
            }
            assert_eq!(fake.sent().len(), 1000);
            for &chat in chats.iter().step_by(37) {
                assert_eq!(transcript_user_lines(&store, chat), inputs);
            }
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            eprintln!(
                "200 chats x 5 messages handled in {took:?}, up to {} sends at once",
                fake.max_sends_in_flight()
            );
            // Different chats are served concurrently: while one chat's send is held up, other
            // chats' sends are in flight (handled one after another, this would stay at 1).
            assert!(
                fake.max_sends_in_flight() >= 2,
                "chats were not handled concurrently"
            );
        })
        .await;
    }

    /// The fake refuses what Telegram refuses, so the tests above mean something.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_fake_validates_like_telegram() {
        use teloxide::payloads::SendMessageSetters;
        use teloxide::prelude::Requester;
        use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, ParseMode};
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let bot = teloxide::Bot::new(fake::TOKEN).set_api_url(fake.url.parse().unwrap());
            let too_long = "x".repeat(4097);
            assert!(
                bot.send_message(teloxide::types::ChatId(1), too_long)
                    .await
                    .is_err()
            );
            assert!(
                bot.send_message(teloxide::types::ChatId(1), " \n")
                    .await
                    .is_err()
            );
            let md = bot
                .send_message(teloxide::types::ChatId(1), "Version 1.2")
                .parse_mode(ParseMode::MarkdownV2)
                .await;
            assert!(
                matches!(
                    md,
                    Err(teloxide::RequestError::Api(
                        teloxide::ApiError::CantParseEntities(_)
                    ))
                ),
                "{md:?}"
            );
            let html = bot
                .send_message(teloxide::types::ChatId(1), "a < b & c")
                .parse_mode(ParseMode::Html)
                .await;
            assert!(html.is_err());
            let keyboard =
                InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("x", "d".repeat(65))]]);
            assert!(
                bot.send_message(teloxide::types::ChatId(1), "ok")
                    .reply_markup(keyboard)
                    .await
                    .is_err()
            );
            assert!(
                bot.answer_callback_query(teloxide::types::CallbackQueryId("nope".into()))
                    .await
                    .is_err()
            );
            assert_eq!(fake.violations().len(), 6, "{:?}", fake.violations());
            // Correct requests pass.
            let ok = bot
                .send_message(teloxide::types::ChatId(1), "Version 1\\.2 *bold*")
                .parse_mode(ParseMode::MarkdownV2)
                .await;
            assert!(ok.is_ok(), "{ok:?}");
            assert!(
                bot.send_message(teloxide::types::ChatId(1), "x".repeat(4096))
                    .await
                    .is_ok()
            );
            assert_eq!(fake.violations().len(), 6);
        })
        .await;
    }

    /// A webhook left by another deployment is removed, so long polling works; an `api_url`
    /// with a path and a trailing slash works.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leftover_webhook_is_deleted_before_polling() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            fake.set_webhook("https://old.example/hook");
            let dir = tempfile::tempdir().unwrap();
            // A Bot API server under a path, written with a trailing slash.
            let mut cfg = config(&fake);
            cfg.api_url = Some(format!("{}/tg/", fake.url));
            let bot = start(desk_in(dir.path()), cfg);
            fake.push_text(30, 30, "/help");
            wait_sent(&fake, 30, 1).await;
            assert_eq!(fake.calls("deletewebhook").len(), 1);
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// A token Telegram rejects stops the channel with an error naming the setting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rejected_token_is_a_clear_error() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = config(&fake);
            cfg.token = Secret::new("1:wrong");
            let (_stop, shutdown) = Shutdown::new();
            let err = telegram::TelegramChannel::builder(desk_in(dir.path()), cfg)
                .run(shutdown)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("telegram.token"), "{err}");
            assert!(!err.contains("1:wrong"), "{err}");
        })
        .await;
    }

    /// While Telegram is unreachable the adapter keeps retrying (no crash), stops promptly on
    /// shutdown, and error text never carries the token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_telegram_is_retried_and_errors_hide_the_token() {
        bounded(Duration::from_secs(180), async {
            // A port nobody listens on.
            let closed = {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                l.local_addr().unwrap()
            };
            let url = format!("http://{closed}");
            let token = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr";
            let bot = teloxide::Bot::new(token).set_api_url(url.parse().unwrap());
            let err = teloxide::requests::Requester::get_me(&bot)
                .await
                .unwrap_err();
            let api = telegram::delivery::Api::new(
                bot,
                telegram::limiter::Limits::default(),
                token,
                Backoff::default(),
                Arc::new(deskbot_desk::metrics::Metrics::new()),
            );
            let shown = api.describe(&err);
            assert!(
                !shown.contains(token) && !shown.contains("AAbbCC"),
                "{shown}"
            );

            let dir = tempfile::tempdir().unwrap();
            let cfg = TelegramConfig {
                enabled: true,
                token: Secret::new(token),
                api_url: Some(url),
                ..TelegramConfig::default()
            };
            let running = start(desk_in(dir.path()), cfg);
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert!(!running.task.is_finished(), "still retrying");
            let stopped = Instant::now();
            running.stop().await;
            assert!(stopped.elapsed() < Duration::from_secs(5));
        })
        .await;
    }

    /// Webhook mode: Telegram's POSTs (one at a time, with the secret) are received and
    /// answered, requests without the secret are refused, and updates sent while the bot is
    /// down arrive after it is back, each answered once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_mode_receives_updates_and_survives_a_restart() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let port = {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                l.local_addr().unwrap().port()
            };
            let hook = format!("http://127.0.0.1:{port}/tg-hook");
            let mut cfg = config(&fake);
            cfg.webhook_url = Some(hook.clone());
            cfg.listen = Some(format!("127.0.0.1:{port}"));
            cfg.webhook_secret = Secret::new("s3cret_token-1");
            let dir = tempfile::tempdir().unwrap();
            let bot = start(desk_in(dir.path()), cfg.clone());
            fake.wait_for("setWebhook", WAIT, |f| f.webhook_settings().is_some())
                .await;
            let settings = fake.webhook_settings().unwrap();
            assert_eq!(settings["url"], hook.as_str());
            assert_eq!(settings["secret_token"], "s3cret_token-1");
            assert_eq!(settings["max_connections"], 1);

            fake.push_text(40, 40, "my account is locked");
            let sent = wait_sent(&fake, 40, 1).await;
            let q = fake.push_callback(
                40,
                40,
                sent[0].message_id,
                button(&sent[0], "No, still stuck"),
            );
            let sent = wait_sent(&fake, 40, 2).await;
            assert!(sent[1].text.contains("Step 2 of"), "{}", sent[1].text);
            fake.wait_for("the answer", WAIT, |f| f.answered(&q)).await;

            let client = teloxide::net::default_reqwest_settings().build().unwrap();
            let forged = serde_json::json!({"update_id": 1, "message": {"message_id": 1,
                "date": 1, "chat": {"id": 666, "type": "private", "first_name": "M"},
                "from": {"id": 666, "is_bot": false, "first_name": "M"}, "text": "hi"}});
            for secret in ["wrong", ""] {
                let r = client
                    .post(hook.as_str())
                    .header("x-telegram-bot-api-secret-token", secret)
                    .body(forged.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 401);
            }
            let elsewhere = hook.replace("/tg-hook", "/other");
            let r = client.post(elsewhere.as_str()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 404);
            let r = client.get(hook.as_str()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 405);

            bot.stop().await;
            fake.push_text(40, 40, "no");
            fake.push_text(41, 41, "hello");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let bot = start(desk_in(dir.path()), cfg);
            wait_sent(&fake, 40, 3).await;
            wait_sent(&fake, 41, 1).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(fake.sent_to(40).len(), 3);
            assert_eq!(fake.sent_to(41).len(), 1);
            assert!(fake.sent_to(666).is_empty());
            assert!(
                fake.calls("getupdates").is_empty(),
                "no polling in webhook mode"
            );
            assert!(fake.unconfirmed().is_empty());
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
            bot.stop().await;
        })
        .await;
    }

    /// Flood control: a user who floods gets their replies, one slow-down message, then
    /// nothing at all (an ignored message's reply is empty: no sendMessage), while every
    /// update still leaves the inbox and is confirmed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ignored_flood_message_sends_nothing_and_is_consumed() {
        bounded(Duration::from_secs(180), async {
            let fake = FakeTelegram::start().await;
            let dir = tempfile::tempdir().unwrap();
            // A fixed clock: every message falls in the same flood window.
            let desk = desk_in(dir.path())
                .with_clock(Arc::new(|| 1_700_000_000_000))
                .with_flood(deskbot_desk::flood::FloodLimits::new(2, 600));
            let store = desk.store().clone();
            let bot = start(desk, config(&fake));
            for i in 0..6 {
                fake.push_text(77, 77, &format!("my account is locked {i}"));
            }
            let deadline = Instant::now() + WAIT;
            loop {
                let drained = store.inbox_pending("telegram").unwrap().is_empty()
                    && fake.unconfirmed().is_empty()
                    && fake.sent_to(77).len() >= 3;
                if drained {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "not drained: {:?}",
                    fake.sent_to(77)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            bot.stop().await;
            let sent = fake.sent_to(77);
            assert_eq!(sent.len(), 3, "two replies and one slow-down: {sent:?}");
            assert!(
                fake.calls("sendmessage").iter().all(|r| r.error.is_none()),
                "no empty message was attempted"
            );
            assert!(store.outbox_pending("telegram", "77").unwrap().is_empty());
            assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        })
        .await;
    }
}

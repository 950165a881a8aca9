//! Languages on Telegram (#15, must-show 4 and the locale seed), end to end: the real Telegram
//! channel and the handoff relay (`TelegramStaff` + `TelegramUsers`, a forum staff group)
//! against the fake Bot API, with sled in a temp dir.
//!
//! - A Russian user and an Arabic user (their apps set to `ru` and `ar`, so their updates
//!   carry `language_code`) write a sign-in problem in their language, answer a guide step
//!   with a typed "no", press "still stuck" once, ask for a person, and get staff's answer
//!   from the staff group. Every message and button label they receive is in their language
//!   (the catalog's own strings and guide texts; no English sentence of `en/strings.toml` or
//!   of the English guides), is exactly what the engine said (the transcript's bot and staff
//!   lines, sent as plain text with no parse mode), and carries no added direction marks.
//! - A new user whose app is in Russian and whose first message is "hi" is greeted in
//!   Russian (an emoji too is answered in Russian); `pt-br` gives Portuguese; an app language
//!   the catalog lacks, or none, gives English. A conversation keeps the language it has
//!   (English words from a Portuguese app stay English); a button press that starts a new
//!   conversation (an old message's button after `/forget`) is answered in the app's language.

use deskbot_tests::fake_telegram as tg_fake;

use std::sync::Arc;
use std::time::Duration;

use crate::common::{config as telegram_config, engine};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::{Relay, RelayConfig, StaffInbox};
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Phase;
use deskbot_storage::{ConvKey, Platform, Speaker};
use deskbot_telegram::staff_side::TelegramStaff;
use deskbot_telegram::users::TelegramUsers;
use deskbot_telegram::{self as telegram, TelegramHandoff};
use deskbot_tests::speech::{Speech, arabic, cyrillic, fill, latin};
use tg_fake::{FakeTelegram, Sent};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The staff supergroup (a forum) and its administrator.
const STAFF: i64 = -100_515;
const ADMIN: u64 = 615;
/// Telegram users (private chats have their user ids).
const IVAN: i64 = 7_301;
const LAYLA: i64 = 7_302;
const OLGA: i64 = 7_303;
const PETR: i64 = 7_304;
const JOHN: i64 = 7_305;
const MARIA: i64 = 7_306;
const KLAUS: i64 = 7_307;
const FELIPE: i64 = 7_308;

/// Hang guards, not timing assertions.
const WAIT: Duration = Duration::from_secs(120);
const HANG_GUARD: Duration = Duration::from_secs(300);

struct World {
    tg: FakeTelegram,
    desk: Desk,
    _dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    channel: JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
    relay_task: JoinHandle<()>,
}

impl World {
    /// The Telegram channel with a forum staff group and the relay's sweep loop, as
    /// `deskbot run` wires them.
    async fn start() -> Self {
        let tg = FakeTelegram::start().await;
        tg.set_forum(STAFF, true);
        tg.set_admins(STAFF, &[ADMIN]);
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::open(engine(), dir.path()).unwrap();
        let config = telegram_config(&tg);
        let backoff = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
        };
        let staff =
            TelegramStaff::with_backoff(&config, Some(STAFF), backoff, Arc::clone(desk.metrics()))
                .unwrap()
                .expect("a staff group is configured")
                .with_store(desk.store().clone());
        let (deliver_tx, deliver_rx) = mpsc::unbounded_channel();
        let relay = Arc::new(Relay::new(
            desk.clone(),
            RelayConfig::default(),
            staff,
            TelegramUsers::new(desk.store().clone(), Some(deliver_tx)),
        ));
        let (stop, shutdown) = Shutdown::new();
        let (r, s) = (relay.clone(), shutdown.clone());
        let relay_task = tokio::spawn(async move {
            r.run(s, Duration::from_millis(200)).await;
        });
        let inbox: Arc<dyn StaffInbox> = relay;
        let channel = tokio::spawn(
            telegram::TelegramChannel::builder(desk.clone(), config)
                .backoff(backoff)
                .deliveries(deliver_rx)
                .handoff(TelegramHandoff {
                    relay: inbox,
                    staff_chat: STAFF,
                    staff_user_ids: Vec::new(),
                })
                .run(shutdown),
        );
        Self {
            tg,
            desk,
            _dir: dir,
            stop,
            channel,
            relay_task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.channel)
            .await
            .expect("the Telegram channel stops")
            .expect("no panic")
            .expect("stops without an error");
        tokio::time::timeout(WAIT, self.relay_task)
            .await
            .expect("the relay stops")
            .expect("no panic");
        let violations = self.tg.violations();
        assert!(violations.is_empty(), "{violations:?}");
    }

    /// Waits for message number `n` (0-based) sent to `chat`, and returns it.
    async fn nth(&self, chat: i64, n: usize) -> Sent {
        self.tg
            .wait_for(&format!("message {n} in chat {chat}"), WAIT, move |f| {
                f.sent_to(chat).len() > n
            })
            .await;
        self.tg.sent_to(chat).swap_remove(n)
    }

    fn key(chat: i64) -> ConvKey {
        ConvKey::new(Platform::Telegram, chat.to_string())
    }

    fn phase(&self, chat: i64) -> Phase {
        self.desk.conversation(&Self::key(chat)).unwrap().phase
    }

    /// What the bot and staff said to `chat`, as the transcript keeps it.
    fn said(&self, chat: i64) -> Vec<String> {
        self.desk
            .store()
            .transcript(&Self::key(chat), 1_000)
            .unwrap()
            .into_iter()
            .filter(|l| matches!(l.speaker, Speaker::Bot | Speaker::Staff))
            .map(|l| l.text)
            .collect()
    }
}

async fn guarded(f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .expect("hang guard");
}

/// What a user of one language writes, in their own words.
struct Script {
    chat: i64,
    /// The app language Telegram reports.
    language_code: &'static str,
    /// The catalog language the bot must speak.
    code: &'static str,
    script: fn(char) -> bool,
    problem: &'static str,
    no: &'static str,
    person: &'static str,
    staff_answer: &'static str,
}

/// The guide's step `step` (0-based) is shown: the phase says so and the message holds the
/// step's text and the guide's title in the language, with the language's three buttons.
fn assert_step(w: &World, speech: &Speech, chat: i64, step: usize, m: &Sent) -> String {
    let Phase::Guide { intent, step: at } = w.phase(chat) else {
        panic!("not in a guide: {:?}; said {:?}", w.phase(chat), m.text);
    };
    assert_eq!(at, step, "{:?}", m.text);
    let texts = &speech.lang.intents[&intent];
    assert!(m.text.contains(&texts.title), "{:?}", m.text);
    assert!(m.text.contains(&texts.steps[step].text), "{:?}", m.text);
    let labels: Vec<&str> = m.buttons.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            speech.s("yes_fixed"),
            speech.s("no_stuck"),
            speech.s("talk_to_person")
        ],
        "{:?}",
        m.text
    );
    intent
}

/// Must-show 4 on Telegram: a guide, a typed "no", a pressed "still stuck", a ticket and
/// staff's answer, every word of it in the user's language.
async fn conversation_in(s: Script) {
    let catalog = Catalog::builtin().unwrap();
    let speech = Speech::of(&catalog, s.code, s.script);
    let w = World::start().await;
    let chat = s.chat;
    let user = chat as u64;
    w.tg.set_language(user, s.language_code);

    // The problem, in their words: the guide's first step.
    w.tg.push_text(chat, user, s.problem);
    let first = w.nth(chat, 0).await;
    let intent = assert_step(&w, &speech, chat, 0, &first);
    assert!(first.text.ends_with(speech.s("fixed_question")));

    // A typed "no": the next step.
    w.tg.push_text(chat, user, s.no);
    let second = w.nth(chat, 1).await;
    assert_eq!(assert_step(&w, &speech, chat, 1, &second), intent);
    assert!(
        [speech.s("deny"), speech.s("deny_alt")]
            .iter()
            .any(|d| second.text.starts_with(d)),
        "{:?}",
        second.text
    );

    // "Still stuck", pressed: the step after.
    let (_, data) = second
        .buttons
        .iter()
        .find(|(l, _)| l == speech.s("no_stuck"))
        .cloned()
        .expect("the still-stuck button");
    let q = w.tg.push_callback(chat, user, second.message_id, &data);
    let third = w.nth(chat, 2).await;
    assert_eq!(assert_step(&w, &speech, chat, 2, &third), intent);
    assert!(w.tg.answered(&q));

    // A person: a ticket opens, said in their language.
    w.tg.push_text(chat, user, s.person);
    let opened = w.nth(chat, 3).await;
    let ticket = w
        .desk
        .conversation(&World::key(chat))
        .unwrap()
        .ticket()
        .expect("a ticket is open");
    let template = speech.s("ticket_opened");
    let lead = template.split("{number}").next().unwrap();
    assert!(
        opened.text.starts_with(&format!("{lead}{ticket}")),
        "{:?}",
        opened.text
    );
    assert!(opened.buttons.is_empty());

    // Staff answer in the ticket's topic; the user gets it in their language.
    let store = w.desk.store().clone();
    w.tg.wait_for("the ticket's topic", WAIT, move |_| {
        store.staff_location(ticket).unwrap().is_some()
    })
    .await;
    let location = w.desk.store().staff_location(ticket).unwrap().unwrap();
    let topic: i32 = location.thread.as_deref().unwrap().parse().unwrap();
    assert_eq!(w.tg.topics(STAFF).len(), 1);
    w.tg.push_topic_text(STAFF, topic, ADMIN, s.staff_answer);
    let answer = w.nth(chat, 4).await;
    let staff_name = format!("User{ADMIN}");
    let expected = fill(
        speech.s("support_named_says"),
        &[("name", &staff_name), ("text", s.staff_answer)],
    );
    assert_eq!(answer.text, expected);
    assert_eq!(
        answer.text,
        w.desk
            .staff_message_for(&World::key(chat), &staff_name, false, s.staff_answer)
            .unwrap()
    );

    // Everything the user received: what the engine and staff said, as plain text, in the
    // language, with the language's labels.
    let sent = w.tg.sent_to(chat);
    assert_eq!(sent.len(), 5, "{sent:#?}");
    let texts: Vec<String> = sent.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, w.said(chat));
    for m in &sent {
        speech.check_text(&m.text);
        for (label, _) in &m.buttons {
            speech.check_label(label);
        }
    }
    let bodies: Vec<serde_json::Value> =
        w.tg.calls("sendmessage")
            .into_iter()
            .filter(|r| r.body["chat_id"] == chat && r.error.is_none())
            .map(|r| r.body)
            .collect();
    let sent_texts: Vec<&str> = bodies.iter().filter_map(|b| b["text"].as_str()).collect();
    assert_eq!(sent_texts, texts, "the text on the wire is the engine's");
    for b in &bodies {
        assert!(b.get("parse_mode").is_none(), "plain text: {b}");
        for row in b["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for button in row.as_array().into_iter().flatten() {
                speech.check_label(button["text"].as_str().unwrap_or_default());
            }
        }
    }
    // The press was answered without a notice (nothing in another language popped up).
    for r in w.tg.calls("answercallbackquery") {
        assert!(r.body.get("text").is_none(), "{}", r.body);
    }
    assert_eq!(
        w.desk
            .conversation(&World::key(chat))
            .unwrap()
            .language
            .as_deref(),
        Some(s.code)
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_russian_user_hears_only_russian_from_guide_to_staff_answer() {
    guarded(conversation_in(Script {
        chat: IVAN,
        language_code: "ru",
        code: "ru",
        script: cyrillic,
        problem: "добрый день не могу войти в аккаунт ксяоми пишет что пароль неверный",
        no: "нет",
        person: "слушайте дайте уже поговорить с человеком из поддержки",
        staff_answer: "Здравствуйте! Подскажите модель телефона и с какого устройства вы входите?",
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_arabic_user_hears_only_arabic_intact_from_guide_to_staff_answer() {
    guarded(conversation_in(Script {
        chat: LAYLA,
        language_code: "ar",
        code: "ar",
        script: arabic,
        problem: "نسيت كلمة السر حقت الاكونت حق شاومي وكل ما اضغط نسيت كلمة المرور ما يجيني ايميل",
        no: "لا",
        person: "خلاص تعبت، ابي احد من خدمة العملاء يرد علي",
        staff_answer: "مرحبا، شيكت على حسابك. ممكن تقول لي موديل جوالك؟",
    }))
    .await;
}

/// The locale seed: a new user's first words in another language (or none) still get the
/// greeting in their app's language, when the catalog speaks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_users_app_language_sets_the_first_answer() {
    guarded(async {
        let catalog = Catalog::builtin().unwrap();
        let ru = Speech::of(&catalog, "ru", cyrillic);
        let w = World::start().await;
        let greeting = |code: &str| {
            let lang = catalog.language(code).unwrap();
            fill(
                lang.string("greeting").unwrap(),
                &[
                    ("name", &catalog.settings.bot_name),
                    ("scope", lang.string("scope").unwrap()),
                ],
            )
        };
        let language = |chat: i64| w.desk.conversation(&World::key(chat)).unwrap().language;

        // "hi" from a Russian app: the greeting in Russian.
        w.tg.set_language(OLGA as u64, "ru");
        w.tg.push_text(OLGA, OLGA as u64, "hi");
        let hello = w.nth(OLGA, 0).await;
        assert_eq!(hello.text, greeting("ru"));
        ru.check_text(&hello.text);
        assert_eq!(language(OLGA).as_deref(), Some("ru"));

        // An emoji from a Russian app: answered in Russian.
        w.tg.set_language(PETR as u64, "ru");
        w.tg.push_text(PETR, PETR as u64, "🙂");
        let smile = w.nth(PETR, 0).await;
        ru.check_text(&smile.text);
        for (label, _) in &smile.buttons {
            ru.check_label(label);
        }
        assert_eq!(language(PETR).as_deref(), Some("ru"));

        // Telegram's Brazilian Portuguese tag: Portuguese.
        w.tg.set_language(MARIA as u64, "pt-br");
        w.tg.push_text(MARIA, MARIA as u64, "hi");
        assert_eq!(w.nth(MARIA, 0).await.text, greeting("pt"));
        assert_eq!(language(MARIA).as_deref(), Some("pt"));

        // A language the catalog lacks, and no language at all: English.
        w.tg.set_language(KLAUS as u64, "de");
        w.tg.push_text(KLAUS, KLAUS as u64, "hi");
        w.tg.push_text(JOHN, JOHN as u64, "hi");
        let english = greeting("en");
        assert_eq!(w.nth(KLAUS, 0).await.text, english);
        assert_eq!(w.nth(JOHN, 0).await.text, english);
        assert_eq!(language(KLAUS), language(JOHN), "as if it had none");
        w.stop().await;
    })
    .await;
}

/// A press is the first turn of a new conversation when the user had everything deleted
/// (`/forget`) and presses a button of an old message: the new conversation starts in their
/// app's language. Until then, the language the conversation has is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_press_that_starts_a_new_conversation_is_answered_in_the_apps_language() {
    guarded(async {
        let catalog = Catalog::builtin().unwrap();
        let pt = Speech::of(&catalog, "pt", latin);
        let en = catalog.english();
        let w = World::start().await;
        let (chat, user) = (FELIPE, FELIPE as u64);
        let button = |m: &Sent, label: &str| {
            m.buttons
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, data)| data.clone())
                .unwrap_or_else(|| panic!("no {label:?} in {m:?}"))
        };

        // English words from a Brazilian app: the conversation is in English, and stays so.
        w.tg.set_language(user, "pt-br");
        w.tg.push_text(
            chat,
            user,
            "forgot my password and the reset code never comes",
        );
        let step = w.nth(chat, 0).await;
        let stuck = button(&step, en.string("no_stuck").unwrap());
        w.tg.push_text(chat, user, "/forget");
        let confirm = w.nth(chat, 1).await;
        let lead = en
            .string("forget_confirm")
            .unwrap()
            .split("{ticket}")
            .next()
            .unwrap();
        assert!(confirm.text.starts_with(lead), "{}", confirm.text);
        let yes = button(&confirm, en.string("yes_delete").unwrap());
        w.tg.push_callback(chat, user, confirm.message_id, &yes);
        assert_eq!(w.nth(chat, 2).await.text, en.string("forgotten").unwrap());
        assert_eq!(
            w.desk.conversation(&World::key(chat)).unwrap().language,
            None,
            "everything was deleted"
        );

        // The old step's button, pressed now: a new conversation, in Portuguese.
        let q = w.tg.push_callback(chat, user, step.message_id, &stuck);
        let answer = w.nth(chat, 3).await;
        assert!(w.tg.answered(&q));
        assert_eq!(
            w.desk
                .conversation(&World::key(chat))
                .unwrap()
                .language
                .as_deref(),
            Some("pt")
        );
        assert_eq!(w.said(chat), std::slice::from_ref(&answer.text));
        assert!(
            answer.text.starts_with(pt.s("stale_button")),
            "{}",
            answer.text
        );
        pt.check_text(&answer.text);
        for (label, _) in &answer.buttons {
            pt.check_label(label);
        }
        w.stop().await;
    })
    .await;
}

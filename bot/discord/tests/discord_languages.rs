//! Languages on Discord (#15, must-show 4 and the locale seed), end to end: the real Discord
//! channel with the handoff (a staff channel whose tickets get threads, a staff role) and the
//! relay (`DiscordStaff` + `DiscordUsers`) against the fake Discord (REST and gateway), with
//! sled in a temp dir.
//!
//! - A Russian user and an Arabic user DM a sign-in problem in their language, answer a guide
//!   step with a typed "no", press "still stuck" once (the interaction carries their client's
//!   `locale`: "ru"; Discord has no Arabic client, so the Arabic user's is "en-US", which must
//!   not turn an Arabic conversation English), ask for a person, and get staff's answer from
//!   the ticket's thread. Every message and button label they receive is in their language
//!   (the catalog's own strings and guide texts; no English sentence of `en/strings.toml` or
//!   of the English guides), is exactly what the engine said with Discord's markdown escaped
//!   (the transcript's bot and staff lines), and carries no added direction marks.
//! - A new user's `/help` from a Brazilian Portuguese client (`locale` "pt-BR") is answered in
//!   Portuguese; from an English client, in English. A conversation keeps the language it has
//!   (English words from a Portuguese client stay English); a button press that starts a new
//!   conversation (an old message's button after `/forget`) is answered in the client's
//!   language.

use deskbot_tests::fake_discord;

use std::sync::Arc;
use std::time::Duration;

use crate::common::engine;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::{Relay, RelayConfig, StaffInbox};
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_discord::config::DiscordConfig;
use deskbot_discord::render::{MAX_CONTENT, escape_markdown, split_message};
use deskbot_discord::staff_side::DiscordStaff;
use deskbot_discord::users::DiscordUsers;
use deskbot_discord::{DiscordHandoff, StaffPlace};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Phase;
use deskbot_storage::{ConvKey, Platform, Speaker};
use deskbot_tests::speech::{Speech, arabic, cyrillic, fill, is_direction_mark, latin};
use fake_discord::{FakeDiscord, Options, Recorded};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const GUILD: u64 = 7_500;
const SUPPORT: u64 = 7_501;
/// The staff channel (a thread per ticket) and the staff role.
const STAFF_CHANNEL: u64 = 7_502;
const STAFF_ROLE: u64 = 7_503;
/// A staff member.
const SAMIR: u64 = 333_333_333_333_333_333;
/// Users and their DM channels.
const IVAN: u64 = 444_444_444_444_444_441;
const LAYLA: u64 = 444_444_444_444_444_442;
const JOANA: u64 = 444_444_444_444_444_443;
const EMMA: u64 = 444_444_444_444_444_444;
const FELIPE: u64 = 444_444_444_444_444_445;
const DM_IVAN: u64 = 6_001;
const DM_LAYLA: u64 = 6_002;
const DM_JOANA: u64 = 6_003;
const DM_EMMA: u64 = 6_004;
const DM_FELIPE: u64 = 6_005;
const TOKEN: &str = "fake-bot-token-languages";

/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(240);

struct World {
    fake: FakeDiscord,
    desk: Desk,
    _dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    channel: JoinHandle<Result<(), deskbot_discord::DiscordError>>,
    relay_task: JoinHandle<()>,
}

impl World {
    /// The Discord channel with the staff channel and role, and the relay's sweep loop, as
    /// `deskbot run` wires them.
    async fn start() -> Self {
        let fake = FakeDiscord::start(Options::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::open(engine(), dir.path()).unwrap();
        let config = DiscordConfig {
            enabled: true,
            token: Secret::new(TOKEN),
            api_url: Some(fake.api_url.clone()),
            support_channel_ids: vec![SUPPORT],
            guild_ids: vec![GUILD],
            ..DiscordConfig::default()
        };
        let http = Arc::new(deskbot_discord::build_http(&config).unwrap());
        let (deliver_tx, deliver_rx) = mpsc::unbounded_channel();
        let relay = Arc::new(Relay::new(
            desk.clone(),
            RelayConfig::default(),
            DiscordStaff::new(Arc::clone(&http), STAFF_CHANNEL, Arc::clone(desk.metrics())),
            DiscordUsers::new(desk.store().clone(), Some(http), Some(deliver_tx)),
        ));
        let (stop, shutdown) = Shutdown::new();
        let (r, s) = (relay.clone(), shutdown.clone());
        let relay_task = tokio::spawn(async move {
            r.run(s, Duration::from_millis(200)).await;
        });
        let inbox: Arc<dyn StaffInbox> = relay;
        let channel = tokio::spawn(
            deskbot_discord::DiscordChannel::builder(desk.clone(), config)
                .handoff(DiscordHandoff {
                    relay: inbox,
                    staff: Some(StaffPlace {
                        channel: STAFF_CHANNEL,
                        role: STAFF_ROLE,
                    }),
                })
                .deliveries(deliver_rx)
                .run(shutdown),
        );
        fake.wait_ready().await;
        Self {
            fake,
            desk,
            _dir: dir,
            stop,
            channel,
            relay_task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(60), self.channel)
            .await
            .expect("the Discord channel stops")
            .expect("no panic")
            .expect("stops without an error");
        tokio::time::timeout(Duration::from_secs(60), self.relay_task)
            .await
            .expect("the relay stops")
            .expect("no panic");
        let v = self.fake.violations();
        assert!(v.is_empty(), "Discord would have rejected: {v:#?}");
    }

    fn key(user: u64) -> ConvKey {
        ConvKey::new(Platform::Discord, user.to_string())
    }

    fn phase(&self, user: u64) -> Phase {
        self.desk.conversation(&Self::key(user)).unwrap().phase
    }

    fn language(&self, user: u64) -> Option<String> {
        self.desk.conversation(&Self::key(user)).unwrap().language
    }

    /// What the bot and staff said to `user`, as the transcript keeps it.
    fn said(&self, user: u64) -> Vec<String> {
        self.desk
            .store()
            .transcript(&Self::key(user), 1_000)
            .unwrap()
            .into_iter()
            .filter(|l| matches!(l.speaker, Speaker::Bot | Speaker::Staff))
            .map(|l| l.text)
            .collect()
    }

    /// `user` DMs `text` in `dm`; returns the bot's answer there.
    async fn dm(&self, user: u64, dm: u64, text: &str) -> Recorded {
        let from = self.fake.requests().len();
        self.fake
            .dispatch("MESSAGE_CREATE", self.fake.dm(user, dm, text));
        self.fake
            .wait_new("the bot's DM answer", from, 1, |r| {
                r.is_channel_message(dm) && r.ok()
            })
            .await
            .remove(0)
    }

    /// Dispatches `interaction` and returns its acknowledgement and the filled-in answer.
    async fn interact(&self, interaction: Value) -> (Recorded, Recorded) {
        let token = interaction["token"].as_str().unwrap().to_string();
        let from = self.fake.requests().len();
        self.fake.dispatch("INTERACTION_CREATE", interaction);
        let t = token.clone();
        let cb = self
            .fake
            .wait_new("the interaction callback", from, 1, move |r| {
                r.path.ends_with("/callback") && r.path.contains(&t) && r.ok()
            })
            .await
            .remove(0);
        assert_eq!(cb.body["type"], 5, "deferred first: {}", cb.body);
        let edit = self
            .fake
            .wait_new("the filled-in response", from, 1, move |r| {
                r.method == "PATCH" && r.path.contains(&token) && r.ok()
            })
            .await
            .remove(0);
        (cb, edit)
    }

    /// Everything `user` was shown, in order: the bot's posts in their DM channel and the
    /// answers to their interactions (`tokens`).
    fn shown_to(&self, dm: u64, tokens: &[String]) -> Vec<Recorded> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.ok())
            .filter(|r| {
                r.is_channel_message(dm)
                    || tokens.iter().any(|t| r.path.contains(t.as_str()))
                        && (r.method == "PATCH"
                            || (r.method == "POST" && !r.path.ends_with("/callback")))
            })
            .collect()
    }
}

async fn guarded(f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .expect("hang guard");
}

/// The messages Discord shows for a line the engine said: escaped, split at 2000 characters.
fn as_sent(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| split_message(&escape_markdown(l), MAX_CONTENT))
        .collect()
}

/// An interaction from a client whose language is `locale`.
fn with_locale(mut interaction: Value, locale: &str) -> Value {
    interaction["locale"] = json!(locale);
    interaction
}

/// What a user of one language writes, in their own words.
struct Script {
    user: u64,
    dm: u64,
    /// Their Discord client's language, sent with interactions.
    locale: &'static str,
    /// The catalog language the bot must speak.
    code: &'static str,
    script: fn(char) -> bool,
    problem: &'static str,
    no: &'static str,
    person: &'static str,
    staff_answer: &'static str,
}

/// The guide's step `step` (0-based) is shown: the phase says so and the message holds the
/// step's text and the guide's title in the language (escaped for Discord), with the
/// language's three buttons.
fn assert_step(w: &World, speech: &Speech, user: u64, step: usize, r: &Recorded) -> String {
    let content = r.content();
    let Phase::Guide { intent, step: at } = w.phase(user) else {
        panic!("not in a guide: {:?}; said {content:?}", w.phase(user));
    };
    assert_eq!(at, step, "{content:?}");
    let texts = &speech.lang.intents[&intent];
    assert!(
        content.contains(&escape_markdown(&texts.title)),
        "{content:?}"
    );
    assert!(
        content.contains(&escape_markdown(&texts.steps[step].text)),
        "{content:?}"
    );
    let labels: Vec<String> = r.buttons().into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        labels,
        [
            speech.s("yes_fixed"),
            speech.s("no_stuck"),
            speech.s("talk_to_person")
        ],
        "{content:?}"
    );
    intent
}

/// Must-show 4 on Discord: a guide, a typed "no", a pressed "still stuck", a ticket and
/// staff's answer from the ticket's thread, every word of it in the user's language.
async fn conversation_in(s: Script) {
    let catalog = Catalog::builtin().unwrap();
    let speech = Speech::of(&catalog, s.code, s.script);
    let w = World::start().await;
    let (user, dm) = (s.user, s.dm);

    // The problem, in their words: the guide's first step.
    let first = w.dm(user, dm, s.problem).await;
    let intent = assert_step(&w, &speech, user, 0, &first);

    // A typed "no": the next step.
    let second = w.dm(user, dm, s.no).await;
    assert_eq!(assert_step(&w, &speech, user, 1, &second), intent);

    // "Still stuck", pressed from a client in `locale`: the step after, in the same language.
    let (custom_id, _) = second
        .buttons()
        .into_iter()
        .find(|(_, l)| l == speech.s("no_stuck"))
        .expect("the still-stuck button");
    let press = with_locale(
        w.fake
            .button_press(user, None, &second.response, &custom_id),
        s.locale,
    );
    let token = press["token"].as_str().unwrap().to_string();
    let (_, third) = w.interact(press).await;
    assert_eq!(assert_step(&w, &speech, user, 2, &third), intent);

    // A person: a ticket opens, said in their language.
    let opened = w.dm(user, dm, s.person).await;
    let ticket = w
        .desk
        .conversation(&World::key(user))
        .unwrap()
        .ticket()
        .expect("a ticket is open");
    let lead = speech.s("ticket_opened").split("{number}").next().unwrap();
    assert!(
        opened
            .content()
            .starts_with(&escape_markdown(&format!("{lead}{ticket}"))),
        "{}",
        opened.content()
    );
    assert!(opened.buttons().is_empty());

    // Staff answer in the ticket's thread; the user gets it in their language.
    // Staff can answer once the relay stored the thread it opened (hang-guarded).
    while w.desk.store().staff_location(ticket).unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let location = w.desk.store().staff_location(ticket).unwrap().unwrap();
    let thread: u64 = location.thread.as_deref().unwrap().parse().unwrap();
    assert_eq!(w.fake.threads_in(STAFF_CHANNEL).len(), 1);
    let expected = fill(
        speech.s("support_named_says"),
        &[("name", &format!("Nick{SAMIR}")), ("text", s.staff_answer)],
    );
    let from = w.fake.requests().len();
    w.fake.dispatch(
        "MESSAGE_CREATE",
        w.fake
            .member_message(SAMIR, GUILD, thread, s.staff_answer, &[STAFF_ROLE]),
    );
    let answer = w
        .fake
        .wait_new("staff's answer in the DM", from, 1, |r| {
            r.is_channel_message(dm) && r.ok()
        })
        .await
        .remove(0);
    assert_eq!(answer.content(), escape_markdown(&expected));

    // Everything the user was shown: what the engine and staff said, escaped for Discord and
    // nothing else, in the language, with the language's labels.
    let shown = w.shown_to(dm, &[token]);
    let contents: Vec<String> = shown.iter().map(Recorded::content).collect();
    let said = w.said(user);
    assert_eq!(said.len(), 5, "{said:#?}");
    assert_eq!(contents, as_sent(&said));
    assert_eq!(shown.len(), said.len(), "each line is one message");
    assert_eq!(said.last(), Some(&expected));
    for (line, r) in said.iter().zip(&shown) {
        speech.check_text(line);
        assert!(!r.content().chars().any(is_direction_mark));
        for (_, label) in r.buttons() {
            speech.check_label(&label);
        }
    }
    assert_eq!(w.language(user).as_deref(), Some(s.code));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_russian_user_hears_only_russian_from_guide_to_staff_answer() {
    guarded(conversation_in(Script {
        user: IVAN,
        dm: DM_IVAN,
        locale: "ru",
        code: "ru",
        script: cyrillic,
        problem: "здравствуйте не получается зайти в ми аккаунт, пароль верный а пишет что неверный",
        no: "неа",
        person: "позовите кого нибудь из поддержки пожалуйста",
        staff_answer: "Добрый день! Уточните, пожалуйста, на каком телефоне вы входите?",
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_arabic_user_hears_only_arabic_intact_from_guide_to_staff_answer() {
    guarded(conversation_in(Script {
        user: LAYLA,
        dm: DM_LAYLA,
        // Discord has no Arabic client: an Arabic speaker's client sends English.
        locale: "en-US",
        code: "ar",
        script: arabic,
        problem: "نسيت كلمة المرور حق حسابي في شاومي وابي ارجعه بس ما اعرف كيف",
        no: "لا ما نفع",
        person: "ممكن تحولني على شخص من الدعم الفني",
        staff_answer: "اهلين، ممكن ترسل لي رقم الجوال المربوط بالحساب بدون الكود؟",
    }))
    .await;
}

/// The locale seed: a new user's first interaction, `/help`, is answered in their client's
/// language when the catalog speaks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_users_client_language_sets_the_first_answer() {
    guarded(async {
        let catalog = Catalog::builtin().unwrap();
        let pt = Speech::of(&catalog, "pt", latin);
        let w = World::start().await;

        let help = with_locale(w.fake.slash(JOANA, None, DM_JOANA, "help", &[]), "pt-BR");
        let token = help["token"].as_str().unwrap().to_string();
        w.interact(help).await;
        assert_eq!(w.language(JOANA).as_deref(), Some("pt"));
        let said = w.said(JOANA);
        assert_eq!(said.len(), 1, "{said:?}");
        let expected = as_sent(&said);
        w.fake
            .wait_for("the whole answer", Duration::from_secs(60), |_| {
                w.shown_to(DM_JOANA, std::slice::from_ref(&token)).len() >= expected.len()
            })
            .await;
        let shown: Vec<String> = w
            .shown_to(DM_JOANA, &[token])
            .iter()
            .map(Recorded::content)
            .collect();
        assert_eq!(shown, expected);
        let lead = pt.s("help").split("{name}").next().unwrap();
        assert!(said[0].starts_with(lead), "{}", said[0]);
        assert!(said[0].contains(pt.s("scope")), "{}", said[0]);
        pt.check_text(&said[0]);

        // The same from an English client: English.
        let help = with_locale(w.fake.slash(EMMA, None, DM_EMMA, "help", &[]), "en-US");
        let (_, answer) = w.interact(help).await;
        let en = catalog.english();
        let lead = en.string("help").unwrap().split("{name}").next().unwrap();
        assert!(answer.content().starts_with(lead), "{}", answer.content());
        assert_eq!(w.language(EMMA).as_deref(), Some("en"));
        w.stop().await;
    })
    .await;
}

/// A press is the first interaction of a new conversation when the user had everything
/// deleted (`/forget`) and presses a button of an old message: the new conversation starts in
/// the client's language. Until then, the language the conversation has is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_press_that_starts_a_new_conversation_is_answered_in_the_clients_language() {
    guarded(async {
        let catalog = Catalog::builtin().unwrap();
        let pt = Speech::of(&catalog, "pt", latin);
        let en = catalog.english();
        let w = World::start().await;

        // English words from a Brazilian client: the conversation is in English, and stays so
        // when their client's language comes with /forget.
        let step = w
            .dm(
                FELIPE,
                DM_FELIPE,
                "forgot my password and the reset code never comes",
            )
            .await;
        let stuck = step
            .buttons()
            .into_iter()
            .find(|(_, l)| l == en.string("no_stuck").unwrap())
            .expect("an English guide step")
            .0;
        let forget = with_locale(
            w.fake.slash(FELIPE, None, DM_FELIPE, "forget", &[]),
            "pt-BR",
        );
        let (_, confirm) = w.interact(forget).await;
        let lead = en
            .string("forget_confirm")
            .unwrap()
            .split("{ticket}")
            .next()
            .unwrap();
        assert!(
            confirm.content().starts_with(&escape_markdown(lead)),
            "{}",
            confirm.content()
        );
        let yes = confirm
            .buttons()
            .into_iter()
            .find(|(_, l)| l == en.string("yes_delete").unwrap())
            .expect("the delete button")
            .0;
        let press = with_locale(
            w.fake.button_press(FELIPE, None, &confirm.response, &yes),
            "pt-BR",
        );
        let (_, done) = w.interact(press).await;
        assert_eq!(
            done.content(),
            escape_markdown(en.string("forgotten").unwrap())
        );
        assert_eq!(w.language(FELIPE), None, "everything was deleted");

        // The old step's button, pressed now: a new conversation, in Portuguese.
        let press = with_locale(
            w.fake.button_press(FELIPE, None, &step.response, &stuck),
            "pt-BR",
        );
        let (_, answer) = w.interact(press).await;
        assert_eq!(w.language(FELIPE).as_deref(), Some("pt"));
        let said = w.said(FELIPE);
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(answer.content(), escape_markdown(&said[0]));
        assert!(said[0].starts_with(pt.s("stale_button")), "{}", said[0]);
        pt.check_text(&said[0]);
        for (_, label) in answer.buttons() {
            pt.check_label(&label);
        }
        w.stop().await;
    })
    .await;
}

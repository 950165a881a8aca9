//! The real Discord adapter (`deskbot_discord::DiscordChannel`, a temp-dir sled store, the built-in
//! catalog) against a fake Discord on 127.0.0.1: REST plus a gateway websocket. The fake
//! validates every request as Discord would (content ≤ 2000 characters, well-formed
//! components, `allowed_mentions` present and empty, interactions acknowledged within 3 s),
//! and each test ends by checking it saw no violation. Every wait is bounded.

use deskbot_tests::fake_discord;

use std::sync::Arc;
use std::time::Duration;

use crate::common::engine;
use deskbot_desk::desk::Desk;
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_discord::config::{DiscordConfig, Shards};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Phase};
use deskbot_storage::Platform;
use deskbot_storage::{ChannelWrite, ConvKey};
use fake_discord::{BOT_ID, FakeDiscord, Options, Recorded};
use serde_json::Value;

const ANN: u64 = 111_111_111_111_111_111;
const BOB: u64 = 222_222_222_222_222_222;
const DM_ANN: u64 = 5_001;
const DM_BOB: u64 = 5_002;
const GUILD: u64 = 7_000;
const SUPPORT: u64 = 7_001;
const OTHER: u64 = 7_002;
const TOKEN: &str = "fake-bot-token-do-not-log";

/// One engine for the whole file: training the classifier takes seconds.
struct Running {
    fake: FakeDiscord,
    desk: Desk,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), deskbot_discord::DiscordError>>,
    _dir: tempfile::TempDir,
}

fn config(api_url: &str) -> DiscordConfig {
    DiscordConfig {
        enabled: true,
        token: Secret::new(TOKEN),
        api_url: Some(api_url.to_string()),
        support_channel_ids: vec![SUPPORT],
        guild_ids: vec![GUILD],
        ..DiscordConfig::default()
    }
}

async fn start_with(options: Options, tweak: impl FnOnce(&mut DiscordConfig)) -> Running {
    start_engine(engine(), options, tweak).await
}

async fn start_engine(
    engine: Arc<Engine>,
    options: Options,
    tweak: impl FnOnce(&mut DiscordConfig),
) -> Running {
    let fake = FakeDiscord::start(options).await;
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(engine, dir.path()).unwrap();
    let mut cfg = config(&fake.api_url);
    tweak(&mut cfg);
    let (stop, shutdown): (_, Shutdown) = Shutdown::new();
    let task =
        tokio::spawn(deskbot_discord::DiscordChannel::builder(desk.clone(), cfg).run(shutdown));
    fake.wait_ready().await;
    Running {
        fake,
        desk,
        stop,
        task,
        _dir: dir,
    }
}

async fn start() -> Running {
    start_with(Options::default(), |_| {}).await
}

impl Running {
    /// Stops the adapter (bounded) and checks the fake saw nothing Discord would reject.
    async fn finish(self) {
        self.stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the adapter stops within 20 s")
            .expect("the adapter task does not panic");
        ended.expect("the adapter stops without error");
        let v = self.fake.violations();
        assert!(v.is_empty(), "Discord would have rejected: {v:#?}");
        for r in self.fake.requests() {
            if r.path.contains("/webhooks/") {
                continue; // interaction webhooks are authorised by their token
            }
            assert_eq!(r.auth, format!("Bot {TOKEN}"), "{} {}", r.method, r.path);
        }
    }

    fn conversation(&self, user: u64) -> deskbot_engine::dialogue::Conversation {
        self.desk
            .conversation(&ConvKey::new(Platform::Discord, user.to_string()))
            .unwrap()
    }

    /// Sends a message event and waits for `n` successful bot messages in `channel`.
    async fn message(&self, event: Value, channel: u64, n: usize) -> Vec<Recorded> {
        let from = self.fake.requests().len();
        self.fake.dispatch("MESSAGE_CREATE", event);
        self.fake
            .wait_new("the bot's messages", from, n, |r| {
                r.is_channel_message(channel) && r.ok()
            })
            .await
    }

    /// Dispatches an interaction and waits for its acknowledgement and then its first
    /// successful answer (the deferred response filled in, or an immediate message).
    /// Returns (callback, answer).
    async fn interact(&self, interaction: Value) -> (Recorded, Recorded) {
        let token = interaction["token"].as_str().unwrap().to_string();
        let from = self.fake.requests().len();
        self.fake.dispatch("INTERACTION_CREATE", interaction);
        let cb = self
            .fake
            .wait_new("the interaction callback", from, 1, |r| {
                r.path.ends_with("/callback") && r.path.contains(&token) && r.ok()
            })
            .await
            .remove(0);
        if cb.body["type"] == 4 {
            return (cb.clone(), cb);
        }
        let edit = self
            .fake
            .wait_new("the filled-in response", from, 1, |r| {
                r.method == "PATCH" && r.path.contains(&token) && r.ok()
            })
            .await
            .remove(0);
        (cb, edit)
    }
}

/// The custom_id of the button whose label starts with `label`.
fn button(r: &Recorded, label: &str) -> String {
    r.buttons()
        .into_iter()
        .find(|(_, l)| l.starts_with(label))
        .unwrap_or_else(|| panic!("no button {label:?} in {:?}", r.buttons()))
        .0
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("test finished within 90 s")
}

/// Must show 1: a DM "error DEVICE_NOT_RECOGNIZED" gives step 1 with buttons; "No" gives step
/// 2 through the interaction response (acknowledged first, within 3 s); going on and
/// accepting a person gives a ticket number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_guide_buttons_and_ticket() {
    bounded(async {
        let bot = start().await;
        let ident = bot.fake.identifies();
        let intents = ident[0]["d"]["intents"].as_u64().unwrap();
        assert_eq!(
            intents,
            (1 << 12) | (1 << 9) | (1 << 15),
            "DMs, guild messages, content"
        );

        let first = bot
            .message(
                bot.fake.dm(ANN, DM_ANN, "error DEVICE_NOT_RECOGNIZED"),
                DM_ANN,
                1,
            )
            .await
            .remove(0);
        assert!(first.content().contains("Step 1 of"), "{}", first.content());
        assert!(first.content().contains("New device not recognised"));
        let buttons = first.buttons();
        assert_eq!(buttons.len(), 3, "{buttons:?}");
        assert!(
            buttons
                .iter()
                .all(|(id, _)| id.starts_with(&format!("db:{ANN}:")))
        );
        assert!(
            first.body.get("message_reference").is_none(),
            "no reply-to in DMs"
        );

        // "No" → step 2, through the interaction.
        let msg = first.response.clone();
        let (cb, edit) = bot
            .interact(
                bot.fake
                    .button_press(ANN, None, &msg, &button(&first, "No")),
            )
            .await;
        assert_eq!(cb.body["type"], 5, "deferred first");
        assert!(edit.content().contains("Step 2 of"), "{}", edit.content());
        assert_eq!(edit.buttons().len(), 3);

        // Keep saying no until the guide runs out, then accept a person.
        let mut last = edit;
        for _ in 0..10 {
            if !last
                .buttons()
                .iter()
                .any(|(_, l)| l.starts_with("No, still"))
            {
                break;
            }
            let msg = last.response.clone();
            last = bot
                .interact(
                    bot.fake
                        .button_press(ANN, None, &msg, &button(&last, "No, still")),
                )
                .await
                .1;
        }
        let human = last
            .buttons()
            .into_iter()
            .find(|(id, _)| id.ends_with(":human"))
            .expect("a button to reach a person")
            .0;
        let msg = last.response.clone();
        let (_, done) = bot
            .interact(bot.fake.button_press(ANN, None, &msg, &human))
            .await;
        let ticket = bot.conversation(ANN).ticket().expect("a ticket is open");
        assert!(
            done.content().contains(&format!("#{ticket}")),
            "{}",
            done.content()
        );
        let stored = bot.desk.store().ticket(ticket).unwrap().unwrap();
        assert_eq!(
            stored.conversation,
            ConvKey::new(Platform::Discord, ANN.to_string())
        );
        assert!(stored.steps_tried.len() >= 4);
        bot.finish().await;
    })
    .await;
}

/// Must show 2: text with @everyone, a role and a user mention can never ping: the request
/// carries `allowed_mentions` with an empty `parse` and no users or roles. The engine only
/// ever echoes a command word (cut at `@`), so to get the mentions echoed verbatim into a
/// reply this test also runs a catalog whose bot name is that text (`/help` says "I'm …").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_mentions_cannot_ping() {
    bounded(async {
        let text = "@everyone <@&123> <@456>";
        let mut catalog = Catalog::builtin().unwrap();
        catalog.settings.bot_name = text.to_string();
        let echoing = Arc::new(Engine::new(catalog).unwrap());
        let bot = start_engine(echoing, Options::default(), |_| {}).await;
        let mut replies = bot.message(bot.fake.dm(ANN, DM_ANN, text), DM_ANN, 1).await;
        let help = bot
            .message(bot.fake.dm(ANN, DM_ANN, "/help"), DM_ANN, 1)
            .await;
        let echoed = help[0].content();
        assert!(
            echoed.contains("@everyone \\<@&123\\> \\<@456\\>"),
            "the mentions are in the reply, escaped: {echoed}"
        );
        // And with the guild path (a reply to the user's message): replied_user stays off.
        replies.extend(
            bot.message(
                bot.fake.guild_message(
                    ANN,
                    GUILD,
                    SUPPORT,
                    &format!("<@{BOT_ID}> {text}"),
                    &[BOT_ID],
                ),
                SUPPORT,
                1,
            )
            .await,
        );
        for r in replies.iter().chain(&help) {
            let am = &r.body["allowed_mentions"];
            assert_eq!(am["parse"], serde_json::json!([]), "{}", r.body);
            for k in ["users", "roles"] {
                assert!(
                    am.get(k).is_none_or(|v| v == &serde_json::json!([])),
                    "{}",
                    r.body
                );
            }
            assert_ne!(am.get("replied_user"), Some(&serde_json::json!(true)));
        }
        bot.finish().await;
    })
    .await;
}

/// A mention in a support channel is answered there (as a reply, mention stripped); the same
/// mention in another channel, and an unaddressed message in the support channel, are
/// ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_channel_mentions_only() {
    bounded(async {
        let bot = start().await;
        let from = bot.fake.requests().len();
        bot.fake.dispatch(
            "MESSAGE_CREATE",
            bot.fake.guild_message(
                BOB,
                GUILD,
                OTHER,
                &format!("<@{BOT_ID}> I forgot my password"),
                &[BOT_ID],
            ),
        );
        bot.fake.dispatch(
            "MESSAGE_CREATE",
            bot.fake
                .guild_message(BOB, GUILD, SUPPORT, "my 2fa code is invalid", &[]),
        );
        let event = bot.fake.guild_message(
            ANN,
            GUILD,
            SUPPORT,
            &format!("<@{BOT_ID}> my 2fa code is invalid"),
            &[BOT_ID],
        );
        let event_id = event["id"].as_str().unwrap().to_string();
        let r = bot.message(event, SUPPORT, 1).await.remove(0);
        assert!(
            r.content().contains("Verification code problems"),
            "{}",
            r.content()
        );
        assert_eq!(r.body["message_reference"]["message_id"], event_id.as_str());
        assert_eq!(r.body["message_reference"]["fail_if_not_exists"], false);
        assert!(
            r.buttons()
                .iter()
                .all(|(id, _)| id.starts_with(&format!("db:{ANN}:")))
        );
        // Give the ignored messages time to (not) be answered.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let sent: Vec<Recorded> = bot.fake.requests()[from..]
            .iter()
            .filter(|r| r.path.contains("/messages"))
            .cloned()
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "only the mention in the support channel: {sent:?}"
        );
        assert_eq!(
            bot.conversation(BOB).turn,
            0,
            "BOB's messages never reached the engine"
        );
        bot.finish().await;
    })
    .await;
}

/// Must show 3: the slash commands are registered at start, and `/support my 2fa code is
/// invalid` in a support channel starts the `two_factor` guide; `/help`, `/reset` and
/// `/human` work; outside support channels the answer is private (ephemeral).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_registered_and_answered() {
    bounded(async {
        let bot = start().await;
        let reg = bot
            .fake
            .requests()
            .into_iter()
            .find(|r| r.method == "PUT")
            .unwrap();
        assert!(reg.path.ends_with(&format!("/guilds/{GUILD}/commands")), "{}", reg.path);
        let names: Vec<&str> = reg.body.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["support", "human", "reset", "help", "forget"]);
        let support = &reg.body[0]["options"][0];
        assert_eq!((support["name"].as_str(), support["type"].as_u64(), support["required"].as_bool()), (Some("message"), Some(3), Some(true)));

        let (cb, answer) = bot
            .interact(bot.fake.slash(ANN, Some(GUILD), SUPPORT, "support", &[("message", "my 2fa code is invalid")]))
            .await;
        assert_eq!(cb.body["type"], 5);
        assert!(cb.body["data"]["flags"].as_u64().unwrap_or(0) & 64 == 0, "public in a support channel");
        assert!(answer.content().contains("Verification code problems"), "{}", answer.content());
        assert!(matches!(&bot.conversation(ANN).phase, Phase::Guide { intent, step: 0 } if intent == "two_factor"));
        assert_eq!(answer.buttons().len(), 3);

        let (_, help) = bot.interact(bot.fake.slash(ANN, Some(GUILD), SUPPORT, "help", &[])).await;
        assert!(help.content().contains("/human"), "{}", help.content());
        let (_, reset) = bot.interact(bot.fake.slash(ANN, Some(GUILD), SUPPORT, "reset", &[])).await;
        assert!(!reset.content().is_empty());
        assert_eq!(bot.conversation(ANN).phase, Phase::Idle);

        // Elsewhere in the guild: deferred ephemerally, still answered.
        let (cb, human) = bot.interact(bot.fake.slash(BOB, Some(GUILD), OTHER, "human", &[])).await;
        assert_eq!(cb.body["data"]["flags"].as_u64().unwrap_or(0) & 64, 64, "ephemeral elsewhere");
        let ticket = bot.conversation(BOB).ticket().expect("/human opens a ticket");
        assert!(human.content().contains(&format!("#{ticket}")), "{}", human.content());

        // A command this bot does not know (an outdated registration) is refused at once.
        let (cb, _) = bot.interact(bot.fake.slash(ANN, None, DM_ANN, "ban", &[])).await;
        assert_eq!(cb.body["type"], 4);
        assert_eq!(cb.body["data"]["flags"], 64);
        bot.finish().await;
    })
    .await;
}

/// Must show 4: a reply over 2000 characters (here over 3000) is split at line boundaries
/// into messages of at most 2000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reply_is_split() {
    bounded(async {
        let bot = start().await;
        // The engine answers an unknown command by naming it and then listing the topics.
        let word = "x".repeat(1500);
        let before = bot.fake.requests().len();
        bot.fake.dispatch(
            "MESSAGE_CREATE",
            bot.fake.dm(ANN, DM_ANN, &format!("/{word}")),
        );
        // Wait until the whole reply (the help ends with the commands line) is in.
        let reqs = bot
            .fake
            .wait_for("the long reply", Duration::from_secs(60), |r| {
                r[before..]
                    .iter()
                    .any(|x| x.is_channel_message(DM_ANN) && x.content().contains("/human"))
            })
            .await;
        let parts: Vec<Recorded> = reqs[before..]
            .iter()
            .filter(|r| r.is_channel_message(DM_ANN))
            .cloned()
            .collect();
        assert!(parts.len() >= 2, "{} parts", parts.len());
        let total: usize = parts.iter().map(|p| p.content().chars().count()).sum();
        assert!(total >= 3000, "the reply has {total} characters");
        for p in &parts {
            let n = p.content().chars().count();
            assert!(n <= 2000 && n > 0, "a part of {n} characters");
            assert!(p.ok());
        }
        assert!(
            parts[0].content().contains(&word),
            "the first line stays whole"
        );
        let nonces: std::collections::HashSet<_> =
            parts.iter().map(|p| p.body["nonce"].to_string()).collect();
        assert_eq!(nonces.len(), parts.len(), "one nonce per part");
        bot.finish().await;
    })
    .await;
}

/// Must show 5: the fake answers a message with 429 and a retry-after; the reply still
/// arrives, exactly once. A 500 on an interaction response is retried too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_without_duplicates() {
    bounded(async {
        let bot = start().await;
        bot.fake.fail_next(
            "POST",
            &format!("/channels/{DM_ANN}/messages"),
            429,
            Some(0.2),
        );
        let from = bot.fake.requests().len();
        let got = bot
            .message(bot.fake.dm(ANN, DM_ANN, "I forgot my password"), DM_ANN, 1)
            .await;
        assert!(got[0].content().contains("Step 1 of"));
        // Nothing else arrives later.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let attempts: Vec<Recorded> = bot.fake.requests()[from..]
            .iter()
            .filter(|r| r.is_channel_message(DM_ANN))
            .cloned()
            .collect();
        assert_eq!(
            attempts.iter().map(|r| r.status).collect::<Vec<_>>(),
            [429, 200],
            "one rate-limited attempt, one delivery"
        );
        assert_eq!(
            attempts[0].body, attempts[1].body,
            "the same message, same nonce"
        );
        assert!(
            bot.desk
                .store()
                .outbox_pending("discord", &DM_ANN.to_string())
                .unwrap()
                .is_empty(),
            "delivered replies leave the outbox"
        );

        // A 502 on filling in an interaction response.
        bot.fake
            .fail_next("PATCH", "/messages/@original", 502, None);
        let msg = got[0].response.clone();
        let (_, edit) = bot
            .interact(
                bot.fake
                    .button_press(ANN, None, &msg, &button(&got[0], "No")),
            )
            .await;
        assert!(edit.content().contains("Step 2 of"));
        let edits = bot
            .fake
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count();
        assert_eq!(edits, 2, "one failed and one successful edit");

        // The acknowledgement itself keeps failing: the answer goes to the DM channel instead
        // (and the turn still happens exactly once).
        for _ in 0..3 {
            bot.fake.fail_next("POST", "/callback", 503, None);
        }
        let from = bot.fake.requests().len();
        let msg = edit.response.clone();
        bot.fake.dispatch(
            "INTERACTION_CREATE",
            bot.fake.button_press(ANN, None, &msg, &button(&edit, "No")),
        );
        let sent = bot
            .fake
            .wait_new("the channel fallback", from, 1, |r| {
                r.is_channel_message(DM_ANN) && r.ok()
            })
            .await;
        assert!(
            sent[0].content().contains("Step 3 of"),
            "{}",
            sent[0].content()
        );
        let callbacks = bot.fake.requests()[from..]
            .iter()
            .filter(|r| r.path.ends_with("/callback"))
            .count();
        assert_eq!(callbacks, 3, "bounded acknowledgement attempts");
        bot.finish().await;
    })
    .await;
}

/// Must show 6: a button pressed by another user is refused (privately) and the owner's
/// conversation is unchanged; a stale button is refused politely by the engine; a forged
/// `custom_id` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_stale_and_forged_buttons_are_refused() {
    bounded(async {
        let bot = start().await;
        let step1 = bot
            .message(
                bot.fake.guild_message(
                    ANN,
                    GUILD,
                    SUPPORT,
                    &format!("<@{BOT_ID}> I forgot my password"),
                    &[BOT_ID],
                ),
                SUPPORT,
                1,
            )
            .await
            .remove(0);
        let before = bot.conversation(ANN);
        let no = button(&step1, "No");

        // BOB presses ANN's button.
        let (cb, _) = bot
            .interact(
                bot.fake
                    .button_press(BOB, Some(GUILD), &step1.response, &no),
            )
            .await;
        assert_eq!(cb.body["type"], 4, "answered at once, no turn");
        assert_eq!(cb.body["data"]["flags"], 64, "only BOB sees it");
        assert!(cb.content().contains("someone else"), "{}", cb.content());
        assert_eq!(
            bot.conversation(ANN),
            before,
            "ANN's conversation unchanged"
        );
        assert_eq!(bot.conversation(BOB).turn, 0);

        // ANN presses it: step 2. Then presses it again: stale.
        let (_, step2) = bot
            .interact(
                bot.fake
                    .button_press(ANN, Some(GUILD), &step1.response, &no),
            )
            .await;
        assert!(step2.content().contains("Step 2 of"));
        let (_, stale) = bot
            .interact(
                bot.fake
                    .button_press(ANN, Some(GUILD), &step1.response, &no),
            )
            .await;
        assert!(
            stale.content().contains("earlier message"),
            "{}",
            stale.content()
        );
        assert!(
            matches!(bot.conversation(ANN).phase, Phase::Guide { step: 1, .. }),
            "still on step 2"
        );

        // Forged ids: not ours at all, and ours with a made-up engine id.
        let (cb, _) = bot
            .interact(
                bot.fake
                    .button_press(ANN, Some(GUILD), &step1.response, "delete-everything"),
            )
            .await;
        assert_eq!(
            (cb.body["type"].as_u64(), cb.body["data"]["flags"].as_u64()),
            (Some(4), Some(64))
        );
        let (_, forged) = bot
            .interact(bot.fake.button_press(
                ANN,
                Some(GUILD),
                &step1.response,
                &format!("db:{ANN}:999:yes"),
            ))
            .await;
        assert!(
            forged.content().contains("earlier message"),
            "{}",
            forged.content()
        );
        assert!(matches!(
            bot.conversation(ANN).phase,
            Phase::Guide { step: 1, .. }
        ));
        bot.finish().await;
    })
    .await;
}

/// Without MESSAGE_CONTENT enabled in the portal Discord closes the gateway with 4014: the
/// adapter logs it and reconnects without the intent, and DMs still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_without_message_content() {
    bounded(async {
        let bot = start_with(
            Options {
                refuse_message_content: true,
            },
            |_| {},
        )
        .await;
        let ids = bot.fake.identifies();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0]["d"]["intents"].as_u64().unwrap() & (1 << 15), 0);
        assert_eq!(ids[1]["d"]["intents"].as_u64().unwrap() & (1 << 15), 0);
        let r = bot
            .message(bot.fake.dm(BOB, DM_BOB, "hello"), DM_BOB, 1)
            .await;
        assert!(!r[0].content().is_empty());
        bot.finish().await;
    })
    .await;
}

/// Global registration when no guild is configured (usable in DMs too), with
/// `shards = "auto"` (the shard count comes from `/gateway/bot`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_global_without_guilds() {
    bounded(async {
        let bot = start_with(Options::default(), |c| {
            c.guild_ids.clear();
            c.shards = Shards::Auto("auto".into());
        })
        .await;
        assert!(
            bot.fake
                .requests()
                .iter()
                .any(|r| r.path == "/api/v10/gateway/bot")
        );
        let reg = bot
            .fake
            .requests()
            .into_iter()
            .find(|r| r.method == "PUT")
            .unwrap();
        assert_eq!(
            reg.path,
            format!("/api/v10/applications/{}/commands", fake_discord::APP_ID)
        );
        assert_eq!(reg.body[0]["contexts"], serde_json::json!([0, 1]));
        let (_, a) = bot
            .interact(bot.fake.slash(
                BOB,
                None,
                DM_BOB,
                "support",
                &[("message", "my account is locked")],
            ))
            .await;
        assert!(!a.content().is_empty());
        bot.finish().await;
    })
    .await;
}

/// A shutdown during startup retries (the fake's gateway endpoint keeps failing) stops the
/// adapter at once instead of after the retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_startup_retries() {
    bounded(async {
        let fake = FakeDiscord::start(Options::default()).await;
        for _ in 0..20 {
            fake.fail_next("GET", "/gateway", 503, None);
        }
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::open(engine(), dir.path()).unwrap();
        let (stop, shutdown) = Shutdown::new();
        let task = tokio::spawn(
            deskbot_discord::DiscordChannel::builder(desk, config(&fake.api_url)).run(shutdown),
        );
        fake.wait_for("a failed gateway request", Duration::from_secs(60), |r| {
            r.iter()
                .any(|x| x.path == "/api/v10/gateway" && x.status == 503)
        })
        .await;
        stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("stopped within 10 s, long before the retries would end")
            .unwrap();
        assert!(ended.is_ok(), "{ended:?}");
        assert!(fake.identifies().is_empty(), "never connected");
    })
    .await;
}

/// A reply still in the outbox when the process stopped (an outage outlasted the retries, or
/// a crash came between the turn and the send) is sent at the next start, once, and leaves
/// the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_replies_are_sent_after_a_restart() {
    bounded(async {
        let fake = FakeDiscord::start(Options::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::open(engine(), dir.path()).unwrap();
        let queued = serde_json::json!({
            "v": 1,
            "channel": DM_ANN,
            "message": {"content": "left over from before", "rows": [[
                {"custom_id": format!("db:{ANN}:3:yes"), "label": "Yes", "style": "success"}
            ]]},
            "reply_to": null,
            "nonce": "abc.0"
        });
        desk.store()
            .channel_commit(&ChannelWrite {
                channel: "discord".into(),
                target: DM_ANN.to_string(),
                outbox: vec![serde_json::to_vec(&queued).unwrap()],
                ..ChannelWrite::default()
            })
            .unwrap();
        let (stop, shutdown) = Shutdown::new();
        let task = tokio::spawn(
            deskbot_discord::DiscordChannel::builder(desk.clone(), config(&fake.api_url))
                .run(shutdown),
        );
        let sent = fake
            .wait_new("the queued reply", 0, 1, |r| {
                r.is_channel_message(DM_ANN) && r.ok()
            })
            .await;
        assert_eq!(sent[0].content(), "left over from before");
        assert_eq!(sent[0].body["nonce"], "abc.0");
        assert_eq!(sent[0].buttons()[0].0, format!("db:{ANN}:3:yes"));
        fake.wait_ready().await;
        // Removal follows the send: poll, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !desk
            .store()
            .outbox_pending("discord", &DM_ANN.to_string())
            .unwrap()
            .is_empty()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the sent reply left the outbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let sends = fake
            .requests()
            .iter()
            .filter(|r| r.is_channel_message(DM_ANN))
            .count();
        assert_eq!(sends, 1);
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    })
    .await;
}

//! The poison policy of the Discord channel, through serenity against the fake Discord
//! (in-process, a sled store in a temporary directory):
//!
//! - Discord takes a message (or fills an interaction's response) but answers with a body
//!   serenity cannot read: it counts as sent (counted in `/metrics`), is never sent again, and
//!   the user's next message gets its reply;
//! - a reply Discord keeps failing (5xx) is parked as a dead letter after its attempts, one it
//!   refuses (4xx) at once; the channel's later replies go on, and an operator's retry sends it;
//! - gateway events serenity cannot read (a MESSAGE_CREATE or INTERACTION_CREATE with a
//!   malformed field, an event type it does not know, frames that are not gateway payloads)
//!   are skipped and counted, a person's one recorded with its secrets masked, and the bot
//!   answers the next message on the same connection.

use deskbot_tests::fake_discord;

use std::time::Duration;

use crate::common::engine;
use deskbot_desk::desk::Desk;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::secret::Secret;
use deskbot_desk::shutdown::Shutdown;
use deskbot_discord::config::DiscordConfig;
use deskbot_discord::retry::Policy;
use deskbot_storage::{DeadLetterKind, RetryOutcome};
use fake_discord::{FakeDiscord, Options, Recorded};
use serde_json::json;

const ANN: u64 = 311_111_111_111_111_111;
const BOB: u64 = 322_222_222_222_222_222;
const DM_ANN: u64 = 6_001;
const DM_BOB: u64 = 6_002;
const TOKEN: &str = "fake-bot-token-poison";

/// Three attempts a few milliseconds apart: a failing reply is parked within a second.
const FAST: Policy = Policy {
    attempts: 3,
    backoff: deskbot_desk::backoff::Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(40),
    ),
    attempt_timeout: Duration::from_secs(5),
};

struct Running {
    fake: FakeDiscord,
    desk: Desk,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), deskbot_discord::DiscordError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let fake = FakeDiscord::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(engine(), dir.path()).unwrap();
    let cfg = DiscordConfig {
        enabled: true,
        token: Secret::new(TOKEN),
        api_url: Some(fake.api_url.clone()),
        ..DiscordConfig::default()
    };
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(
        deskbot_discord::DiscordChannel::builder(desk.clone(), cfg)
            .delivery_policy(FAST)
            .run(shutdown),
    );
    fake.wait_ready().await;
    Running {
        fake,
        desk,
        stop,
        task,
        _dir: dir,
    }
}

impl Running {
    async fn finish(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the adapter stops in time")
            .expect("the adapter task does not panic")
            .expect("the adapter stops without error");
        let v = self.fake.violations();
        assert!(v.is_empty(), "Discord would have rejected: {v:#?}");
    }

    /// Dispatches a DM and waits until `n` bot messages were posted in `channel` in all.
    async fn dm(&self, user: u64, channel: u64, text: &str, n: usize) -> Vec<Recorded> {
        self.fake
            .dispatch("MESSAGE_CREATE", self.fake.dm(user, channel, text));
        self.posted(channel, n).await
    }

    async fn posted(&self, channel: u64, n: usize) -> Vec<Recorded> {
        self.fake
            .wait_for("the bot's messages", Duration::from_secs(60), |r| {
                r.iter()
                    .filter(|x| x.is_channel_message(channel) && x.ok())
                    .count()
                    >= n
            })
            .await;
        self.attempts(channel)
            .into_iter()
            .filter(Recorded::ok)
            .collect()
    }

    /// Every `POST channels/{channel}/messages`, successful or not.
    fn attempts(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    fn dead_letters(&self) -> Vec<deskbot_storage::DeadLetter> {
        self.desk.store().dead_letters().unwrap()
    }
}

/// A counter's value in `m` (what `/metrics` would show; 0 when absent), summed over the
/// series whose labels
/// contain all of `labels`.
fn metric(m: &Metrics, name: &str, labels: &[&str]) -> f64 {
    m.encode()
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn unparsed(m: &Metrics, method: &str) -> f64 {
    metric(
        m,
        "deskbot_platform_unparsed_answers_total",
        &["channel=\"discord\"", &format!("method=\"{method}\"")],
    )
}

/// Polls `pred` (the store changes without a request to the fake) for up to 60 s.
async fn until(what: &str, pred: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !pred() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("test finished within 120 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_create_message_answer_counts_as_sent_and_the_dm_goes_on() {
    bounded(async {
        let bot = start().await;
        bot.fake
            .unreadable_next("POST", &format!("/channels/{DM_ANN}/messages"));
        let first = bot
            .dm(ANN, DM_ANN, "hi i cant log into my mi account", 1)
            .await;
        assert!(
            first[0].response["id"].is_object(),
            "the fake garbled the answer"
        );
        // Discord took it: never sent again, however long we wait.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(bot.attempts(DM_ANN).len(), 1, "{:#?}", bot.attempts(DM_ANN));
        assert_eq!(unparsed(bot.desk.metrics(), "createMessage"), 1.0);
        assert!(
            bot.desk
                .store()
                .outbox_pending("discord", &DM_ANN.to_string())
                .unwrap()
                .is_empty(),
            "left the outbox"
        );
        assert!(bot.dead_letters().is_empty(), "{:?}", bot.dead_letters());
        // The next message gets its reply, once.
        let sent = bot
            .dm(ANN, DM_ANN, "my acount is locked what do i do", 2)
            .await;
        assert_eq!(sent.len(), 2);
        assert_ne!(sent[0].body["nonce"], sent[1].body["nonce"]);
        assert_eq!(
            bot.fake.messages_in(DM_ANN).len(),
            2,
            "nothing posted twice"
        );
        bot.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_interaction_answer_is_not_sent_again_anywhere() {
    bounded(async {
        let bot = start().await;
        bot.fake.unreadable_next("PATCH", "/messages/@original");
        let slash = bot.fake.slash(
            ANN,
            None,
            DM_ANN,
            "support",
            &[("message", "forgot pasword cant get the sms code")],
        );
        let token = slash["token"].as_str().unwrap().to_string();
        bot.fake.dispatch("INTERACTION_CREATE", slash);
        bot.fake
            .wait_for("the filled-in response", Duration::from_secs(60), |r| {
                r.iter()
                    .any(|x| x.method == "PATCH" && x.path.contains(&token) && x.ok())
            })
            .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let edits = bot
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(&token) && r.method != "POST")
            .count();
        assert_eq!(edits, 1, "the response was filled in once");
        assert!(
            bot.attempts(DM_ANN).is_empty(),
            "no fallback message in the channel: {:#?}",
            bot.attempts(DM_ANN)
        );
        assert_eq!(
            unparsed(bot.desk.metrics(), "editOriginalInteractionResponse"),
            1.0
        );
        // The user's next message is answered.
        let sent = bot.dm(ANN, DM_ANN, "still no code", 1).await;
        assert_eq!(sent.len(), 1);
        bot.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_discord_keeps_failing_is_parked_the_dm_goes_on_and_a_retry_sends_it() {
    bounded(async {
        let bot = start().await;
        let path = format!("/channels/{DM_BOB}/messages");
        for _ in 0..FAST.attempts {
            bot.fake.fail_next("POST", &path, 502, None);
        }
        bot.fake.dispatch(
            "MESSAGE_CREATE",
            bot.fake.dm(BOB, DM_BOB, "reset pasword not working"),
        );
        until("a dead letter", || !bot.dead_letters().is_empty()).await;
        assert_eq!(
            bot.attempts(DM_BOB).len(),
            FAST.attempts as usize,
            "bounded"
        );
        let letters = bot.dead_letters();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0].kind, DeadLetterKind::Reply);
        assert_eq!(letters[0].channel, "discord");
        assert_eq!(letters[0].target, DM_BOB.to_string());
        assert!(letters[0].reason.contains("502"), "{letters:?}");
        assert!(!letters[0].reason.contains(TOKEN));
        let parked = || {
            metric(
                bot.desk.metrics(),
                "deskbot_dead_letters_total",
                &["channel=\"discord\""],
            )
        };
        until("the dead letter counted", || parked() >= 1.0).await;
        assert_eq!(parked(), 1.0);
        // Parked, it is not tried again, and the DM's next reply is not held up behind it.
        let sent = bot.dm(BOB, DM_BOB, "hello?? anyone there", 1).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(bot.attempts(DM_BOB).len(), FAST.attempts as usize + 1);

        // The operator retries it: it goes out with the DM's next delivery, after which the
        // new reply follows.
        assert!(matches!(
            bot.desk.store().retry_dead_letter(letters[0].id).unwrap(),
            RetryOutcome::Requeued { .. }
        ));
        let sent = bot.dm(BOB, DM_BOB, "my account is locked", 3).await;
        assert_eq!(sent.len(), 3, "{sent:#?}");
        assert!(bot.dead_letters().is_empty());
        assert_eq!(
            bot.fake.messages_in(DM_BOB).len(),
            3,
            "nothing posted twice"
        );
        bot.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_discord_refuses_is_parked_at_once_and_the_dm_goes_on() {
    bounded(async {
        let bot = start().await;
        bot.fake
            .fail_next("POST", &format!("/channels/{DM_ANN}/messages"), 403, None);
        bot.fake.dispatch(
            "MESSAGE_CREATE",
            bot.fake.dm(ANN, DM_ANN, "help me sign in pls"),
        );
        until("a dead letter", || !bot.dead_letters().is_empty()).await;
        assert_eq!(bot.attempts(DM_ANN).len(), 1, "a refusal is not retried");
        assert!(bot.dead_letters()[0].reason.contains("403"));
        let sent = bot.dm(ANN, DM_ANN, "hello??", 1).await;
        assert_eq!(sent.len(), 1);
        bot.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_events_serenity_cannot_read_are_skipped_and_the_bot_answers_the_next() {
    bounded(async {
        let bot = start().await;
        // A message whose author changed shape (a person's text is lost: recorded).
        let mut broken = bot.fake.dm(ANN, DM_ANN, "my password is hunter22 pls help");
        broken["author"] = json!("ann, as a string");
        let broken_id = broken["id"].as_str().unwrap().to_string();
        bot.fake.dispatch("MESSAGE_CREATE", broken);
        // An interaction missing most of its fields, with its token.
        bot.fake.dispatch(
            "INTERACTION_CREATE",
            json!({"id": "424242", "type": 3, "token": "itoken-424242-secret",
                "channel_id": DM_ANN.to_string()}),
        );
        // An event type serenity does not know.
        bot.fake
            .dispatch("BRAND_NEW_EVENT", json!({"id": "1", "shiny": true}));
        // Frames that are not gateway payloads at all.
        bot.fake.send_frame("{this is not json");
        bot.fake
            .send_frame(r#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":"5"}}"#);
        // The next message is answered, on the same connection.
        let sent = bot
            .dm(ANN, DM_ANN, "account locked after too many tries", 1)
            .await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            bot.fake.identifies().len(),
            1,
            "the gateway was not restarted"
        );

        until("the skipped events recorded", || {
            bot.dead_letters().len() >= 2
        })
        .await;
        let letters: Vec<_> = bot
            .dead_letters()
            .into_iter()
            .filter(|d| d.kind == DeadLetterKind::Update)
            .collect();
        assert_eq!(letters.len(), 2, "{letters:?}");
        let message = letters
            .iter()
            .find(|d| d.target == format!("MESSAGE_CREATE:{broken_id}"))
            .unwrap_or_else(|| panic!("{letters:?}"));
        assert!(message.reason.contains("does not parse"), "{message:?}");
        assert!(!message.payload.contains("hunter22"), "{}", message.payload);
        let interaction = letters
            .iter()
            .find(|d| d.target == "INTERACTION_CREATE:424242")
            .unwrap_or_else(|| panic!("{letters:?}"));
        assert!(
            !interaction.payload.contains("itoken-424242-secret"),
            "{}",
            interaction.payload
        );
        let skipped = || {
            metric(
                bot.desk.metrics(),
                "deskbot_updates_skipped_total",
                &["channel=\"discord\""],
            )
        };
        until("the skipped events counted", || skipped() >= 3.0).await;
        assert_eq!(
            skipped(),
            3.0,
            "the two unreadable events and the unknown type are counted"
        );
        // Still answering afterwards.
        let sent = bot.dm(BOB, DM_BOB, "cant sign in to mi account", 1).await;
        assert_eq!(sent.len(), 1);
        bot.finish().await;
    })
    .await;
}

//! The poison policy of the Telegram channel, through teloxide against the fake Bot API
//! (in-process, a sled store in a temporary directory):
//!
//! - a call Telegram answers `ok: true` with a result teloxide cannot read (sendMessage,
//!   editMessageReplyMarkup, answerCallbackQuery, getChat) is done once, counted, and the chat
//!   gets its next reply;
//! - a reply Telegram keeps refusing or failing is parked as a dead letter after its attempts
//!   and the chat's later replies go on; an operator's retry sends it;
//! - an update that panics teloxide's parser, a chat id ≥ 2^40 and an update id ≥ 2^31 neither
//!   stop nor spin the poller; the skipped update is recorded (masked) and counted.

use deskbot_tests::fake_telegram as fake;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{config, engine};
use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::relay::StaffSide;
use deskbot_desk::metrics::Metrics;
use deskbot_desk::shutdown::Shutdown;
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, DeadLetterKind, RetryOutcome, Ticket, TicketStatus};
use deskbot_telegram as telegram;
use deskbot_telegram::staff_side::TelegramStaff;
use fake::{FakeTelegram, Fault, Sent};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

fn backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), deskbot_telegram::TelegramError>>,
}

fn start(desk: Desk, fake: &FakeTelegram) -> Running {
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(
        telegram::TelegramChannel::builder(desk, config(fake))
            .backoff(backoff())
            .run(shutdown),
    );
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the adapter stops in time")
            .expect("the adapter task does not panic")
            .expect("the adapter stops without an error");
    }
}

fn desk_in(dir: &Path) -> Desk {
    Desk::open(engine(), dir).unwrap()
}

async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), body)
        .await
        .expect("test exceeded its time limit");
}

async fn wait_sent(fake: &FakeTelegram, chat: i64, n: usize) -> Vec<Sent> {
    fake.wait_for(&format!("{n} messages to chat {chat}"), WAIT, |f| {
        f.sent_to(chat).len() >= n
    })
    .await;
    fake.sent_to(chat)
}

/// A counter's value in `m` (what `/metrics` would show; 0 when absent), for the series
/// whose labels contain all of `labels`.
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
        &["channel=\"telegram\"", &format!("method=\"{method}\"")],
    )
}

/// No message text was sent twice to `chat` (every reply of these tests differs from the
/// one before it in the same chat, or is a distinct step).
fn assert_no_duplicates(fake: &FakeTelegram, chat: i64) {
    let sent = fake.sent_to(chat);
    for pair in sent.windows(2) {
        assert_ne!(pair[0].text, pair[1].text, "sent twice in a row: {sent:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_send_answer_counts_as_sent_and_the_chat_goes_on() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let desk = desk_in(dir.path());
        fake.unreadable("sendMessage", 1);
        let running = start(desk.clone(), &fake);
        fake.push_text(42, 42, "hi i cant log in to my mi account");
        let first = wait_sent(&fake, 42, 1).await;
        // Telegram did it: never sent again, however long we wait.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(fake.sent_to(42).len(), 1, "{:#?}", fake.sent_to(42));
        assert_eq!(fake.calls("sendmessage").len(), 1);
        assert_eq!(unparsed(desk.metrics(), "sendMessage"), 1.0);
        // The chat's next message gets its reply.
        fake.push_text(42, 42, "my account is locked");
        let sent = wait_sent(&fake, 42, 2).await;
        assert_ne!(sent[1].text, first[0].text);
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        running.stop().await;
        assert_eq!(fake.sent_to(42).len(), 2);
        assert_no_duplicates(&fake, 42);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_answers_to_a_button_press_are_done_once_and_the_guide_goes_on() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let desk = desk_in(dir.path());
        let running = start(desk.clone(), &fake);
        fake.push_text(7, 7, "account locked after too many tries");
        let step1 = wait_sent(&fake, 7, 1).await.remove(0);
        let no = step1
            .buttons
            .iter()
            .find(|(l, _)| l.starts_with("No"))
            .map(|(_, d)| d.clone())
            .expect("a No button");
        fake.unreadable("editMessageReplyMarkup", 1);
        fake.unreadable("answerCallbackQuery", 1);
        let q = fake.push_callback(7, 7, step1.message_id, &no);
        let sent = wait_sent(&fake, 7, 2).await;
        assert!(sent[1].text.contains("Step 2 of"), "{}", sent[1].text);
        assert!(fake.answered(&q));
        assert_eq!(fake.markup(7, step1.message_id), None, "keyboard cleared");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(fake.calls("answercallbackquery").len(), 1);
        assert_eq!(fake.calls("editmessagereplymarkup").len(), 1);
        let m = desk.metrics();
        assert_eq!(unparsed(m, "editMessageReplyMarkup"), 1.0);
        assert_eq!(unparsed(m, "answerCallbackQuery"), 1.0);
        // Later replies of the chat go on.
        fake.push_text(7, 7, "thanks, what else can i try");
        wait_sent(&fake, 7, 3).await;
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        running.stop().await;
        assert_eq!(fake.sent_to(7).len(), 3);
        assert_no_duplicates(&fake, 7);
    })
    .await;
}

const STAFF: i64 = -1_001_234_567_890;

fn ticket(number: u64) -> Ticket {
    Ticket {
        number,
        conversation: ConvKey::new(Platform::Telegram, "42"),
        display_name: Some("Ann".into()),
        intent: None,
        confidence: None,
        steps_tried: Vec::new(),
        transcript: Vec::new(),
        status: TicketStatus::Open,
        opened_at_ms: 1,
        closed_at_ms: None,
        rating: None,
        forgotten: false,
        priority: false,
    }
}

/// getChat (asked once, to tell a forum staff group) and the staff side's sendMessage and
/// createForumTopic answered unreadably: the forum is still found from the JSON, the ticket's
/// topic is created once, its first message sent once, and the next post lands in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_get_chat_still_finds_the_forum_and_staff_posts_go_on() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.set_forum(STAFF, true);
        let metrics = Arc::new(Metrics::new());
        let staff =
            TelegramStaff::with_backoff(&config(&fake), Some(STAFF), backoff(), metrics.clone())
                .unwrap()
                .expect("a staff group");
        fake.unreadable("getChat", 1);
        fake.unreadable("createForumTopic", 1);
        fake.unreadable("sendMessage", 1);
        assert!(staff.is_forum().await.expect("getChat counted as answered"));
        assert_eq!(unparsed(&metrics, "getChat"), 1.0);
        let at = staff
            .open(&ticket(5), "Ticket #5 · Ann: cannot sign in")
            .await
            .expect("the ticket opens");
        assert_eq!(fake.calls("getchat").len(), 1, "asked once");
        assert_eq!(fake.topics(STAFF).len(), 1, "one topic");
        assert_eq!(fake.calls("createforumtopic").len(), 1);
        assert_eq!(fake.sent_to(STAFF).len(), 1, "{:#?}", fake.sent_to(STAFF));
        staff
            .post(&at, "Ann: still locked out", "n-1")
            .await
            .expect("the next post goes out");
        let sent = fake.sent_to(STAFF);
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert_eq!(sent[1].thread, Some(fake.topics(STAFF)[0].0));
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reply_is_parked_the_chat_goes_on_and_a_retry_sends_it() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let desk = desk_in(dir.path());
        let running = start(desk.clone(), &fake);
        fake.fault_chat(
            43,
            Fault::Refused("Bad Request: a refusal this version does not know".into()),
        );
        fake.push_text(43, 43, "cant sign in");
        fake.wait_for("a dead letter", WAIT, |_| {
            !desk.store().dead_letters().unwrap().is_empty()
        })
        .await;
        assert!(fake.sent_to(43).is_empty());
        let letters = desk.store().dead_letters().unwrap();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0].kind, DeadLetterKind::Reply);
        assert_eq!(letters[0].target, "43");
        assert!(letters[0].reason.contains("does not know"), "{letters:?}");
        assert!(!letters[0].reason.contains(fake::TOKEN));
        // The chat's next reply is not held up behind it.
        fake.push_text(43, 43, "hello?? anyone");
        let sent = wait_sent(&fake, 43, 1).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            metric(
                desk.metrics(),
                "deskbot_dead_letters_total",
                &["channel=\"telegram\""]
            ),
            1.0,
            "counted"
        );
        // The operator retries it: it goes out with the chat's next delivery.
        assert!(matches!(
            desk.store().retry_dead_letter(letters[0].id).unwrap(),
            RetryOutcome::Requeued { .. }
        ));
        fake.push_text(43, 43, "my account is locked");
        let sent = wait_sent(&fake, 43, 3).await;
        assert_eq!(sent.len(), 3, "{sent:#?}");
        assert!(desk.store().dead_letters().unwrap().is_empty());
        running.stop().await;
        assert_eq!(fake.sent_to(43).len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_keeps_failing_is_parked_after_its_attempts() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let desk = desk_in(dir.path());
        for _ in 0..20 {
            fake.fault_chat(44, Fault::Garbled);
        }
        let running = start(desk.clone(), &fake);
        fake.push_text(44, 44, "reset password not working");
        fake.wait_for("a dead letter", WAIT, |_| {
            !desk.store().dead_letters().unwrap().is_empty()
        })
        .await;
        let tries = fake
            .calls("sendmessage")
            .iter()
            .filter(|r| r.body["chat_id"] == 44)
            .count();
        assert_eq!(
            tries,
            telegram::delivery::DELIVERY_ATTEMPTS as usize,
            "bounded attempts"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            fake.calls("sendmessage")
                .iter()
                .filter(|r| r.body["chat_id"] == 44)
                .count(),
            tries,
            "not tried again once parked"
        );
        running.stop().await;
        assert!(
            desk.store()
                .outbox_pending("telegram", "44")
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

/// An update that panics teloxide's parser, a chat id teloxide's Throttle panicked on and an
/// update id above 2^31: each chat is answered, the bad update is confirmed once, recorded
/// (masked) and counted, and the poller does not spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_update_a_huge_chat_id_and_a_huge_update_id_do_not_stop_the_poller() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let desk = desk_in(dir.path());
        let bad = fake.push_anonymous_reaction(42, 5);
        let broken = fake.push_raw(serde_json::json!({"message": {"message_id": "x",
            "text": "my password is hunter22 and the code 492817"}}));
        fake.push_text(42, 42, "i forgot my password");
        let big: i64 = 1 << 45;
        fake.push_text(big, big as u64, "account locked");
        let running = start(desk.clone(), &fake);
        wait_sent(&fake, 42, 1).await;
        wait_sent(&fake, big, 1).await;
        assert_eq!(fake.handed_out().get(&bad), Some(&1), "confirmed once");
        assert_eq!(fake.handed_out().get(&broken), Some(&1));
        let letters = desk.store().dead_letters().unwrap();
        let updates: Vec<_> = letters
            .iter()
            .filter(|d| d.kind == DeadLetterKind::Update)
            .collect();
        assert_eq!(updates.len(), 2, "{letters:?}");
        assert!(updates[0].reason.contains("panicked"), "{letters:?}");
        assert!(updates[0].payload.contains("message_reaction"));
        assert!(
            !updates[1].payload.contains("hunter22") && !updates[1].payload.contains("492817"),
            "the secrets are masked: {}",
            updates[1].payload
        );
        assert_eq!(
            metric(
                desk.metrics(),
                "deskbot_updates_skipped_total",
                &["channel=\"telegram\""]
            ),
            2.0
        );

        // A second message to the big chat: still sent (rate limiting did not die).
        fake.push_text(big, big as u64, "still locked");
        wait_sent(&fake, big, 2).await;

        // Update ids past 2^31: confirmed and answered, no spinning on the same batch.
        fake.set_next_update(3_000_000_000);
        let huge = fake.push_text(42, 42, "my account is locked");
        wait_sent(&fake, 42, 2).await;
        let polls_before = fake.calls("getupdates").len();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let polls = fake.calls("getupdates").len() - polls_before;
        assert!(
            polls <= 4,
            "{polls} getUpdates in 1.5 s with a 1 s long poll"
        );
        assert_eq!(fake.handed_out().get(&huge), Some(&1));
        running.stop().await;
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
        assert_no_duplicates(&fake, 42);
    })
    .await;
}

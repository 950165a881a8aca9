//! A ticket's Telegram forum topic follows the ticket, through teloxide against the fake Bot
//! API (which answers as Telegram does: `closeForumTopic`/`reopenForumTopic` answer `true`,
//! or 400 `TOPIC_NOT_MODIFIED` when the topic already is so, `TOPIC_ID_INVALID` for a deleted
//! topic, and a message in a closed topic is refused with `TOPIC_CLOSED`):
//!
//! - the close command posts its notice in the topic, then closes it;
//! - closing a closed topic is done, not an error; a staff message in the closed ticket's topic
//!   still gets its notice (the topic is reopened for it) and the topic is closed again;
//! - reopen reopens the topic before the notice and the user's new lines: no message is ever
//!   refused for a closed topic on the way;
//! - a topic closed by hand while the ticket is open does not silence the ticket;
//! - a close queued while the bot was stopped is done by the next relay; a deleted topic is
//!   dropped, never retried; a plain (not forum) group has no topic to close.

use deskbot_tests::fake_telegram as tg_fake;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_desk::backoff::Backoff;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::StaffCommand;
use deskbot_desk::handoff::lifecycle::{self, ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{
    Author, Handled, Relay, RelayConfig, RelayError, StaffSide, UserSide,
};
use deskbot_engine::dialogue::Input;
use deskbot_storage::{ConvKey, Platform, TicketStatus};
use deskbot_telegram::staff_side::TelegramStaff;
use tg_fake::{FakeTelegram, Recorded};

/// The staff supergroup.
const STAFF: i64 = -100_888;
/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[derive(Clone, Default)]
struct Users {
    sent: Arc<Mutex<Vec<(ConvKey, String)>>>,
}

impl UserSide for Users {
    async fn send(&self, user: &ConvKey, text: &str, _nonce: &str) -> Result<(), RelayError> {
        self.sent
            .lock()
            .unwrap()
            .push((user.clone(), text.to_string()));
        Ok(())
    }
}

struct World {
    tg: FakeTelegram,
    desk: Desk,
    staff: TelegramStaff,
    relay: Relay<TelegramStaff, Users>,
    _dir: tempfile::TempDir,
}

async fn world(forum: bool) -> World {
    let tg = FakeTelegram::start().await;
    tg.set_forum(STAFF, forum);
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(crate::common::engine(), dir.path()).unwrap();
    let fast = Backoff {
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let staff = TelegramStaff::with_backoff(
        &crate::common::config(&tg),
        Some(STAFF),
        fast,
        Arc::clone(desk.metrics()),
    )
    .unwrap()
    .expect("a staff group")
    .with_store(desk.store().clone());
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        Users::default(),
    );
    World {
        tg,
        desk,
        staff,
        relay,
        _dir: dir,
    }
}

impl World {
    /// `user` asks for a person; the relay opens the ticket. Returns the ticket and its topic
    /// (`None` in a plain group).
    async fn ticket(&self, user: &ConvKey, first: &str) -> (u64, Option<i32>) {
        self.desk
            .handle(user, Some("Ann"), &Input::Text(first.into()))
            .unwrap();
        let n = self
            .desk
            .handle(user, Some("Ann"), &Input::Text("/human".into()))
            .unwrap()
            .opened_ticket
            .expect("a ticket");
        self.relay.sweep().await.unwrap();
        let at = self
            .desk
            .store()
            .staff_location(n)
            .unwrap()
            .expect("opened");
        (n, at.thread.and_then(|t| t.parse().ok()))
    }

    /// The Bot API requests from the `from`th on.
    fn since(&self, from: usize) -> Vec<Recorded> {
        self.tg.requests()[from..].to_vec()
    }
}

fn bob(id: &str) -> Author {
    Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    }
}

fn is_topic_call(r: &Recorded, method: &str, topic: i32) -> bool {
    r.method == method && r.body["chat_id"] == STAFF && r.body["message_thread_id"] == topic
}

fn is_send(r: &Recorded, topic: i32, needle: &str) -> bool {
    is_topic_call(r, "sendmessage", topic)
        && r.body["text"].as_str().unwrap_or_default().contains(needle)
}

fn index(requests: &[Recorded], what: impl Fn(&Recorded) -> bool) -> usize {
    requests
        .iter()
        .position(what)
        .unwrap_or_else(|| panic!("not in {requests:#?}"))
}

fn refused_in_closed_topic(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.contains("TOPIC_CLOSED"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_closes_the_topic_and_reopen_reopens_it_before_posting() {
    tokio::time::timeout(HANG_GUARD, close_and_reopen())
        .await
        .expect("hang guard");
}

async fn close_and_reopen() {
    let w = world(true).await;
    let user = ConvKey::new(Platform::Telegram, "4242");
    let (n, topic) = w
        .ticket(&user, "не приходит смс код для входа в mi аккаунт")
        .await;
    let topic = topic.expect("a forum topic");

    // Close: the notice in the topic, then closeForumTopic.
    let from = w.tg.requests().len();
    assert_eq!(
        w.relay.staff_message(n, &bob("71"), "close").await.unwrap(),
        Handled::Command(StaffCommand::Close(None))
    );
    let requests = w.since(from);
    let notice = index(&requests, |r| is_send(r, topic, "closed by Bob"));
    let close = index(&requests, |r| is_topic_call(r, "closeforumtopic", topic));
    assert!(notice < close, "{requests:#?}");
    assert!(requests[close].error.is_none());
    assert!(w.tg.topic_closed(STAFF, topic));

    // Closing it again: Telegram answers TOPIC_NOT_MODIFIED, which is done.
    let at = w.desk.store().staff_location(n).unwrap().unwrap();
    assert_eq!(
        w.staff.set_thread(&at, ThreadState::Closed).await.unwrap(),
        ThreadChange::Done
    );
    let last = w.tg.requests().pop().unwrap();
    assert!(is_topic_call(&last, "closeforumtopic", topic), "{last:?}");
    assert_eq!(
        last.error.as_deref(),
        Some("Bad Request: TOPIC_NOT_MODIFIED")
    );

    // An administrator writes in the closed topic: the relay's notice gets there (the topic
    // is reopened for it) and the topic is closed again; the message does not fail.
    let from = w.tg.requests().len();
    assert_eq!(
        w.relay
            .staff_message(n, &bob("72"), "did the user answer?")
            .await
            .unwrap(),
        Handled::Rejected
    );
    let requests = w.since(from);
    let told = index(&requests, |r| {
        is_send(r, topic, "is closed") && r.error.is_none()
    });
    let closed_again = index(&requests, |r| {
        is_topic_call(r, "closeforumtopic", topic) && r.error.is_none()
    });
    assert!(told < closed_again, "{requests:#?}");
    assert!(w.tg.topic_closed(STAFF, topic));

    // Reopen: reopenForumTopic first; nothing is refused for a closed topic on the way.
    let from = w.tg.requests().len();
    assert_eq!(
        w.relay
            .staff_message(n, &bob("73"), "reopen")
            .await
            .unwrap(),
        Handled::Command(StaffCommand::Reopen)
    );
    w.desk
        .handle(
            &user,
            Some("Ann"),
            &Input::Text("всё ещё не работает".into()),
        )
        .unwrap();
    w.relay.sweep().await.unwrap();
    let requests = w.since(from);
    let reopen = index(&requests, |r| is_topic_call(r, "reopenforumtopic", topic));
    assert!(requests[reopen].error.is_none());
    assert!(reopen < index(&requests, |r| is_send(r, topic, "reopened by Bob")));
    assert!(reopen < index(&requests, |r| is_send(r, topic, "всё ещё не работает")));
    let refused = refused_in_closed_topic(&requests);
    assert!(refused.is_empty(), "{refused:#?}");
    assert!(!w.tg.topic_closed(STAFF, topic));
    assert_eq!(
        w.desk.store().ticket(n).unwrap().unwrap().status,
        TicketStatus::Open
    );

    // Someone closes the open ticket's topic by hand: the user's next line still gets there.
    w.tg.close_topic(STAFF, topic);
    w.desk
        .handle(&user, Some("Ann"), &Input::Text("алло?".into()))
        .unwrap();
    w.relay.sweep().await.unwrap();
    let delivered =
        w.tg.sent_to(STAFF)
            .into_iter()
            .any(|m| m.thread == Some(topic) && m.text.ends_with("алло?"));
    assert!(delivered);
    assert!(!w.tg.topic_closed(STAFF, topic));
    assert!(w.tg.violations().is_empty(), "{:?}", w.tg.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_close_is_done_by_the_next_relay_and_a_deleted_topic_is_dropped() {
    tokio::time::timeout(HANG_GUARD, queued_close())
        .await
        .expect("hang guard");
}

async fn queued_close() {
    let w = world(true).await;
    let (ann, ben) = (
        ConvKey::new(Platform::Telegram, "81"),
        ConvKey::new(Platform::Discord, "82"),
    );
    let (first, t1) = w
        .ticket(&ann, "lupa password akun mi, email lama sudah mati")
        .await;
    let (second, t2) = w
        .ticket(&ben, "device locked by mi account not mine bought used")
        .await;
    let (t1, t2) = (t1.unwrap(), t2.unwrap());
    // Closed while the relay does not run (`deskbot tickets close` with the bot stopped);
    // meanwhile someone deletes the second topic.
    for n in [first, second] {
        w.desk.close_ticket(n).unwrap().expect("was open");
        lifecycle::queue(w.desk.store(), n).unwrap();
    }
    w.tg.delete_topic(STAFF, t2);
    let relay = Relay::new(
        w.desk.clone(),
        RelayConfig::default(),
        w.staff.clone(),
        Users::default(),
    );
    relay.sweep().await.unwrap();
    assert!(w.tg.topic_closed(STAFF, t1));
    assert!(lifecycle::queued(w.desk.store()).unwrap().is_empty());
    let closes = |t: i32| {
        w.tg.calls("closeforumtopic")
            .iter()
            .filter(|r| r.body["message_thread_id"] == t)
            .count()
    };
    // The deleted topic was asked once (TOPIC_ID_INVALID) and never again.
    assert_eq!((closes(t1), closes(t2)), (1, 1));
    for _ in 0..3 {
        relay.sweep().await.unwrap();
    }
    assert_eq!((closes(t1), closes(t2)), (1, 1));
    assert!(w.tg.violations().is_empty(), "{:?}", w.tg.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_group_has_no_topic_to_close() {
    tokio::time::timeout(HANG_GUARD, async {
        let w = world(false).await;
        let user = ConvKey::new(Platform::Telegram, "91");
        let (n, topic) = w.ticket(&user, "hesap kilitli").await;
        assert_eq!(topic, None);
        assert_eq!(
            w.relay.staff_message(n, &bob("5"), "close").await.unwrap(),
            Handled::Command(StaffCommand::Close(None))
        );
        relay_sweeps(&w).await;
        assert!(w.tg.calls("closeforumtopic").is_empty());
        assert!(lifecycle::queued(w.desk.store()).unwrap().is_empty());
        assert!(w.tg.violations().is_empty(), "{:?}", w.tg.violations());
    })
    .await
    .expect("hang guard");
}

async fn relay_sweeps(w: &World) {
    for _ in 0..2 {
        w.relay.sweep().await.unwrap();
    }
}

//! A ticket's Discord thread follows the ticket, through serenity against the fake Discord
//! (which answers as Discord does: archiving an archived thread is 400 with code 50083, a
//! message in an archived thread unarchives it, a deleted thread is 404 Unknown Channel):
//!
//! - the close command posts its notice in the thread, then archives it (`PATCH
//!   channels/{thread}` with `archived: true`, not locked);
//! - a message in a closed ticket's archived thread (which unarchives it on Discord) gets the
//!   relay's notice and the thread is archived again; archiving an archived thread is done;
//! - reopen unarchives the thread before the notice and before the user's new lines;
//! - a close queued while the bot was stopped is done by the next relay; a 5xx is retried by
//!   the next sweep; a deleted thread is dropped, never retried.

use deskbot_tests::fake_discord;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::StaffCommand;
use deskbot_desk::handoff::lifecycle::{self, ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{
    Author, Handled, Relay, RelayConfig, RelayError, StaffSide, UserSide,
};
use deskbot_discord::staff_side::DiscordStaff;
use deskbot_engine::dialogue::Input;
use deskbot_storage::{ConvKey, Platform, TicketStatus};
use fake_discord::{FakeDiscord, Options, Recorded};
use serde_json::json;
use serenity::http::HttpBuilder;

const STAFF_CHANNEL: u64 = 7_300;
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
    fake: FakeDiscord,
    desk: Desk,
    staff: DiscordStaff,
    relay: Relay<DiscordStaff, Users>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let fake = FakeDiscord::start(Options::default()).await;
    let http = Arc::new(
        HttpBuilder::new("fake-bot-token")
            .proxy(deskbot_discord::proxy_base(&fake.api_url))
            .ratelimiter_disabled(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(crate::common::engine(), dir.path()).unwrap();
    let staff = DiscordStaff::new(http, STAFF_CHANNEL, Arc::clone(desk.metrics()));
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        Users::default(),
    );
    World {
        fake,
        desk,
        staff,
        relay,
        _dir: dir,
    }
}

impl World {
    /// `user` asks for a person; the relay opens the ticket's thread. Returns the ticket and
    /// the thread id.
    async fn ticket(&self, user: &ConvKey, first: &str) -> (u64, u64) {
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
        let thread = self
            .desk
            .store()
            .staff_location(n)
            .unwrap()
            .and_then(|l| l.thread)
            .and_then(|t| t.parse().ok())
            .expect("a thread");
        (n, thread)
    }
}

fn bob(id: &str) -> Author {
    Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    }
}

fn is_patch(r: &Recorded, thread: u64, archived: bool) -> bool {
    r.method == "PATCH"
        && r.path == format!("/api/v10/channels/{thread}")
        && r.body["archived"] == json!(archived)
}

fn is_post(r: &Recorded, thread: u64, needle: &str) -> bool {
    r.method == "POST"
        && r.path == format!("/api/v10/channels/{thread}/messages")
        && r.content().contains(needle)
}

fn index(requests: &[Recorded], what: impl Fn(&Recorded) -> bool) -> usize {
    requests
        .iter()
        .position(what)
        .unwrap_or_else(|| panic!("not in {requests:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_archives_the_thread_and_reopen_unarchives_it_before_posting() {
    tokio::time::timeout(HANG_GUARD, close_and_reopen())
        .await
        .expect("hang guard");
}

async fn close_and_reopen() {
    let w = world().await;
    let user = ConvKey::new(Platform::Telegram, "4242");
    let (n, thread) = w
        .ticket(&user, "cant sign in mi acount, code never comes")
        .await;
    assert!(!w.fake.thread_archived(thread));

    // Close: the notice, then the archive (not locked), answered 200.
    assert_eq!(
        w.relay
            .staff_message(n, &bob("901"), "close")
            .await
            .unwrap(),
        Handled::Command(StaffCommand::Close(None))
    );
    let requests = w.fake.requests();
    let notice = index(&requests, |r| is_post(r, thread, "closed by Bob"));
    let archive = index(&requests, |r| is_patch(r, thread, true));
    assert!(notice < archive);
    assert!(requests[archive].ok(), "{:?}", requests[archive]);
    assert!(requests[archive].body.get("locked").is_none());
    assert!(w.fake.thread_archived(thread));

    // Archiving an archived thread: Discord refuses with 50083, which means done.
    let at = w.desk.store().staff_location(n).unwrap().unwrap();
    assert_eq!(
        w.staff.set_thread(&at, ThreadState::Closed).await.unwrap(),
        ThreadChange::Done
    );
    let last = w.fake.requests().pop().unwrap();
    assert!(is_patch(&last, thread, true), "{last:?}");
    assert_eq!(
        (last.status, last.response["code"].clone()),
        (400, json!(50083))
    );

    // Staff write in the archived thread of the closed ticket: the relay's notice there
    // unarchives it (as any message does on Discord), so it is archived again after.
    let before = w.fake.requests().len();
    assert_eq!(
        w.relay
            .staff_message(n, &bob("902"), "hello? did it work")
            .await
            .unwrap(),
        Handled::Rejected
    );
    let requests = w.fake.requests()[before..].to_vec();
    let told = index(&requests, |r| is_post(r, thread, "is closed"));
    let again = index(&requests, |r| is_patch(r, thread, true) && r.ok());
    assert!(told < again, "{requests:#?}");
    assert!(w.fake.thread_archived(thread));

    // Reopen: unarchived first, then the notice and the user's new line.
    let before = w.fake.requests().len();
    assert_eq!(
        w.relay
            .staff_message(n, &bob("903"), "reopen")
            .await
            .unwrap(),
        Handled::Command(StaffCommand::Reopen)
    );
    w.desk
        .handle(
            &user,
            Some("Ann"),
            &Input::Text("ok it still says error 70016".into()),
        )
        .unwrap();
    w.relay.sweep().await.unwrap();
    let requests = w.fake.requests()[before..].to_vec();
    let unarchive = index(&requests, |r| is_patch(r, thread, false));
    assert!(requests[unarchive].ok());
    assert!(unarchive < index(&requests, |r| is_post(r, thread, "reopened by Bob")));
    assert!(unarchive < index(&requests, |r| is_post(r, thread, "error 70016")));
    assert!(!w.fake.thread_archived(thread));
    assert_eq!(
        w.desk.store().ticket(n).unwrap().unwrap().status,
        TicketStatus::Open
    );
    assert!(w.fake.violations().is_empty(), "{:?}", w.fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_close_is_done_by_the_next_relay_retried_after_a_5xx_and_a_deleted_thread_dropped()
{
    tokio::time::timeout(HANG_GUARD, queued_close())
        .await
        .expect("hang guard");
}

async fn queued_close() {
    let w = world().await;
    let (ann, ben) = (
        ConvKey::new(Platform::Discord, "61"),
        ConvKey::new(Platform::Discord, "62"),
    );
    let (first, t1) = w
        .ticket(&ann, "my mi account was hacked and email changed!!")
        .await;
    let (second, t2) = w.ticket(&ben, "locked out after factory reset").await;
    // Closed while the relay does not run (`deskbot tickets close` with the bot stopped).
    for n in [first, second] {
        w.desk.close_ticket(n).unwrap().expect("was open");
        lifecycle::queue(w.desk.store(), n).unwrap();
    }
    assert!(!w.fake.thread_archived(t1) && !w.fake.thread_archived(t2));
    // Discord fails the first archive with a 500; the second thread was deleted meanwhile.
    w.fake
        .fail_next("PATCH", &format!("/channels/{t1}"), 500, None);
    w.fake.delete_thread(t2);
    let relay = Relay::new(
        w.desk.clone(),
        RelayConfig::default(),
        w.staff.clone(),
        Users::default(),
    );
    assert!(relay.sweep().await.is_err(), "the 500 is reported");
    assert!(!w.fake.thread_archived(t1));
    assert_eq!(lifecycle::queued(w.desk.store()).unwrap(), vec![first]);
    relay.sweep().await.unwrap();
    assert!(w.fake.thread_archived(t1));
    assert!(lifecycle::queued(w.desk.store()).unwrap().is_empty());
    // The deleted thread was asked once (404 Unknown Channel) and never again.
    let patches = |t: u64| {
        w.fake
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/channels/{t}")))
            .count()
    };
    assert_eq!(patches(t2), 1);
    for _ in 0..3 {
        relay.sweep().await.unwrap();
    }
    assert_eq!((patches(t1), patches(t2)), (2, 1));
    assert!(w.fake.violations().is_empty(), "{:?}", w.fake.violations());
}

//! A ticket's staff thread follows the ticket, on real sled in a temp dir: the close command
//! posts its notice and then closes the thread; a message in a closed ticket's thread changes
//! nothing and never fails; a reopen opens the thread before anything is posted in it; a close
//! queued while the bot is stopped (`deskbot tickets close`) is done by the next relay; a
//! failing platform is retried, a thread that is gone is dropped; a ticket closed by
//! `/forget` (which queues nothing) has its thread closed too.
//!
//! The staff side ([`crate::lifecycle_fakes`]) refuses posts in a closed thread, as a closed
//! Telegram topic does, so a post in the wrong order would be missing from its log.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::StaffCommand;
use deskbot_desk::handoff::lifecycle::{self, ThreadState};
use deskbot_desk::handoff::relay::{Author, Handled, Relay, RelayConfig};
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::dialogue::Input;
use deskbot_storage::{ConvKey, Platform, TicketStatus};

use crate::lifecycle_fakes::{FakeStaff, FakeUsers, StaffEvent, guarded, open_desk};

fn bob(id: &str) -> Author {
    Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    }
}

fn ticket_of(desk: &Desk, key: &ConvKey, first: &str) -> u64 {
    desk.handle(key, Some("Ann"), &Input::Text(first.into()))
        .unwrap();
    desk.handle(key, Some("Ann"), &Input::Text("/human".into()))
        .unwrap()
        .opened_ticket
        .expect("a ticket")
}

fn at(log: &[StaffEvent], wanted: &StaffEvent) -> usize {
    log.iter()
        .position(|e| e == wanted)
        .unwrap_or_else(|| panic!("{wanted:?} not in {log:?}"))
}

fn posted(log: &[StaffEvent], n: u64, needle: &str) -> usize {
    log.iter()
        .position(|e| matches!(e, StaffEvent::Posted(t, text) if *t == n && text.contains(needle)))
        .unwrap_or_else(|| panic!("no post with {needle:?} in {log:?}"))
}

#[test]
fn close_closes_the_thread_after_its_notice_and_reopen_opens_it_before_posting() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path(), &Arc::new(AtomicU64::new(1_700_000_000_000)));
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        users.clone(),
    );
    let user = ConvKey::new(Platform::Telegram, "4242");
    let n = ticket_of(&desk, &user, "hi my mi account got locked afer update??");
    guarded(async {
        relay.sweep().await.unwrap();
        assert_eq!(
            relay.staff_message(n, &bob("1"), "close").await.unwrap(),
            Handled::Command(StaffCommand::Close(None))
        );
        let log = staff.log();
        assert!(
            posted(&log, n, "closed by Bob")
                < at(&log, &StaffEvent::Thread(n, ThreadState::Closed))
        );
        assert!(staff.is_closed(n));
        assert_eq!(
            lifecycle::thread_state(desk.store(), n).unwrap(),
            ThreadState::Closed
        );
        assert!(lifecycle::queued(desk.store()).unwrap().is_empty());

        // Staff write in the closed ticket's thread: refused politely; the notice cannot be
        // posted there (the thread is closed) and that fails nothing; the thread stays closed.
        let calls = staff.calls();
        assert_eq!(
            relay
                .staff_message(n, &bob("2"), "are you still there?")
                .await
                .unwrap(),
            Handled::Rejected
        );
        assert!(staff.is_closed(n));
        assert_eq!(staff.log().len(), log.len(), "{:?}", staff.log());
        // The thread was asked again (it may have been opened by the message), once.
        assert_eq!(staff.calls(), calls + 1);

        // Reopen: the thread opens first, then the notice, then the user's new lines.
        assert_eq!(
            relay.staff_message(n, &bob("3"), "reopen").await.unwrap(),
            Handled::Command(StaffCommand::Reopen)
        );
        assert_eq!(
            desk.store().ticket(n).unwrap().unwrap().status,
            TicketStatus::Open
        );
        desk.handle(&user, Some("Ann"), &Input::Text("still cant get in".into()))
            .unwrap();
        relay.sweep().await.unwrap();
        let log = staff.log();
        let opened = at(&log, &StaffEvent::Thread(n, ThreadState::Open));
        assert!(opened < posted(&log, n, "reopened by Bob"), "{log:?}");
        assert!(opened < posted(&log, n, "still cant get in"), "{log:?}");
        assert!(!staff.is_closed(n));
        // Nothing else to do: more sweeps call nothing.
        let calls = staff.calls();
        relay.sweep().await.unwrap();
        relay.sweep().await.unwrap();
        assert_eq!(staff.calls(), calls);
    });
}

#[test]
fn a_close_queued_while_stopped_is_done_by_the_next_relay_once_and_retried_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(1_700_000_000_000));
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let (ann, ben) = (
        ConvKey::new(Platform::Discord, "31"),
        ConvKey::new(Platform::Telegram, "32"),
    );
    let (first, second) = {
        let desk = open_desk(dir.path(), &clock);
        let relay = Relay::new(
            desk.clone(),
            RelayConfig::default(),
            staff.clone(),
            users.clone(),
        );
        let first = ticket_of(&desk, &ann, "forgot password and no access to old number");
        let second = ticket_of(&desk, &ben, "akun mi saya terkunci tolong");
        guarded(async { relay.sweep().await.unwrap() });
        (first, second)
    };
    // The bot is stopped; an operator closes both (what `deskbot tickets close` does).
    {
        let desk = open_desk(dir.path(), &clock);
        for n in [first, second] {
            desk.close_ticket(n).unwrap().expect("was open");
            lifecycle::queue(desk.store(), n).unwrap();
        }
        // Queued twice for one ticket changes nothing.
        lifecycle::queue(desk.store(), first).unwrap();
        desk.store().flush().unwrap();
    }
    assert!(!staff.is_closed(first) && !staff.is_closed(second));
    // The bot starts again; the platform fails the first call (an outage).
    let desk = open_desk(dir.path(), &clock);
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        users.clone(),
    );
    staff.fail_next(1);
    staff.delete(second);
    guarded(async {
        assert!(relay.sweep().await.is_err(), "the outage is reported");
        assert_eq!(lifecycle::queued(desk.store()).unwrap(), vec![first]);
        relay.sweep().await.unwrap();
        assert!(staff.is_closed(first));
        assert!(lifecycle::queued(desk.store()).unwrap().is_empty());
        // The deleted thread was tried once and dropped, never retried.
        let calls = staff.calls();
        for _ in 0..3 {
            relay.sweep().await.unwrap();
        }
        assert_eq!(staff.calls(), calls);
        let closes = staff
            .log()
            .iter()
            .filter(|e| **e == StaffEvent::Thread(first, ThreadState::Closed))
            .count();
        assert_eq!(closes, 1);
        // Queued again later (a second `tickets close` run): nothing to call.
        lifecycle::queue(desk.store(), first).unwrap();
        relay.sweep().await.unwrap();
        assert_eq!(staff.calls(), calls);
        assert!(lifecycle::queued(desk.store()).unwrap().is_empty());
    });
}

#[test]
fn a_ticket_closed_by_forget_has_its_thread_closed_by_the_running_relay() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path(), &Arc::new(AtomicU64::new(1_700_000_000_000)));
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Arc::new(Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        users.clone(),
    ));
    let user = ConvKey::new(Platform::Telegram, "55");
    let n = ticket_of(&desk, &user, "i want my mi account deleted and everything");
    guarded(async {
        let (stop, shutdown) = Shutdown::new();
        let r = Arc::clone(&relay);
        let task = tokio::spawn(async move { r.run(shutdown, Duration::from_millis(50)).await });
        while staff.log().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ask = desk
            .handle(&user, None, &Input::Text("/forget".into()))
            .unwrap();
        let yes = ask
            .reply
            .buttons
            .iter()
            .find(|b| b.label.starts_with("Yes"))
            .expect("a yes button")
            .id
            .clone();
        desk.handle(&user, None, &Input::Button(yes)).unwrap();
        assert_eq!(
            desk.store().ticket(n).unwrap().unwrap().status,
            TicketStatus::Closed
        );
        // Nothing was queued: the relay notices the ticket left the open ones.
        while !staff.is_closed(n) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop.send(true);
        task.await.unwrap();
    });
}

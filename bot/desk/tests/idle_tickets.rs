//! Idle tickets (`[handoff] auto_close_days`) on real sled in a temp dir, with the desk's
//! clock moved by the test: a ticket whose user has not written for the idle time is warned
//! once (in the user's language, restart or not), then closed the normal way after the grace
//! period (rating buttons to the user, a note for staff posted before the thread is closed);
//! a staff reply or a message of the warned user resets the clock; nothing is closed twice.
//!
//! The staff side ([`crate::lifecycle_fakes`]) refuses posts in a closed thread, as a closed
//! Telegram topic does, and records the order of posts and thread changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::idle::{AUTO_CLOSE_BY, IdlePolicy, IdleSweep};
use deskbot_desk::handoff::lifecycle::ThreadState;
use deskbot_desk::handoff::relay::{Author, Handled, Relay, RelayConfig};
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::dialogue::Input;
use deskbot_storage::{ConvKey, Platform, Rating, Speaker, TicketEventKind, TicketStatus};

use crate::lifecycle_fakes::{FakeStaff, FakeUsers, StaffEvent, guarded, open_desk};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
fn policy() -> IdlePolicy {
    IdlePolicy {
        after: Duration::from_secs(7 * 24 * 3600),
        grace: Duration::from_secs(24 * 3600),
    }
}

fn say(desk: &Desk, key: &ConvKey, text: &str) -> Option<u64> {
    desk.handle(key, Some("Ann"), &Input::Text(text.into()))
        .unwrap()
        .opened_ticket
}

fn sweep(warned: &[u64], closed: &[u64]) -> IdleSweep {
    IdleSweep {
        warned: warned.to_vec(),
        closed: closed.to_vec(),
        failed: Vec::new(),
    }
}

#[test]
fn an_idle_ticket_is_warned_once_then_closed_once_with_the_rating_buttons() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000;
    let clock = Arc::new(AtomicU64::new(t0));
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let user = ConvKey::new(Platform::Telegram, "4242");
    let number = {
        let desk = open_desk(dir.path(), &clock);
        say(
            &desk,
            &user,
            "cant login to mi account,, it says pasword wrong but its right",
        );
        say(&desk, &user, "/human").expect("a ticket")
    };
    guarded(async {
        let desk = open_desk(dir.path(), &clock);
        let relay = Relay::new(
            desk.clone(),
            RelayConfig::default(),
            staff.clone(),
            users.clone(),
        );
        relay.sweep().await.unwrap();
        assert_eq!(staff.log()[0], StaffEvent::Opened(number));
        let told = users.to(&user).len();

        // Not idle long enough yet.
        clock.store(t0 + 7 * DAY - HOUR, Ordering::SeqCst);
        assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));

        // Seven days without a word: one warning, naming the ticket and the hours left.
        clock.store(t0 + 7 * DAY, Ordering::SeqCst);
        assert_eq!(
            relay.sweep_idle(&policy()).await.unwrap(),
            sweep(&[number], &[])
        );
        let sent = users.to(&user);
        assert_eq!(sent.len(), told + 1);
        let warning = &sent[told];
        assert!(
            warning.text.contains(&format!("#{number}")) && warning.text.contains("24 hours"),
            "{warning:?}"
        );
        assert!(warning.buttons.is_empty());
        // In the transcript as the bot's line; and staff are told in the thread.
        let lines = desk.store().transcript_after(&user, None).unwrap();
        let (_, last) = lines.last().unwrap();
        assert_eq!(
            (last.speaker, last.text.as_str()),
            (Speaker::Bot, warning.text.as_str())
        );
        let notes = staff.posts(number);
        assert!(
            notes.last().unwrap().contains("closes by itself in 1 day"),
            "{notes:?}"
        );
        // Asked again (the next sweeps, minutes later): nothing more.
        clock.store(t0 + 7 * DAY + HOUR, Ordering::SeqCst);
        assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));
        assert_eq!(users.to(&user).len(), told + 1);
    });

    // A restart (the store opened again from disk, a new relay) warns no second time.
    guarded(async {
        let desk = open_desk(dir.path(), &clock);
        let relay = Relay::new(
            desk.clone(),
            RelayConfig::default(),
            staff.clone(),
            users.clone(),
        );
        let told = users.to(&user).len();
        clock.store(t0 + 7 * DAY + 2 * HOUR, Ordering::SeqCst);
        assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));
        assert_eq!(users.to(&user).len(), told);

        // The grace period passes with no news: closed the normal way.
        clock.store(t0 + 8 * DAY, Ordering::SeqCst);
        assert_eq!(
            relay.sweep_idle(&policy()).await.unwrap(),
            sweep(&[], &[number])
        );
        let ticket = desk.store().ticket(number).unwrap().unwrap();
        assert_eq!(ticket.status, TicketStatus::Closed);
        assert_eq!(ticket.closed_at_ms, Some(t0 + 8 * DAY));
        let events = desk.store().ticket_events(number).unwrap();
        let closed: Vec<_> = events
            .iter()
            .filter(|e| e.kind == TicketEventKind::Closed)
            .collect();
        assert_eq!(closed.len(), 1, "{events:?}");
        assert_eq!(closed[0].by, AUTO_CLOSE_BY);
        assert!(
            closed[0].note.as_deref().unwrap().contains("7 days"),
            "{closed:?}"
        );
        // The user gets the close message with the rating buttons.
        let close = users.to(&user).pop().unwrap();
        assert!(close.text.contains(&format!("#{number}")), "{}", close.text);
        let labels: Vec<&str> = close.buttons.iter().map(|b| b.label.as_str()).collect();
        assert!(
            labels.len() == 2 && labels[0].contains('👍') && labels[1].contains('👎'),
            "{labels:?}"
        );
        assert_eq!(desk.conversation(&user).unwrap().ticket(), None);
        // Staff get a note, then the thread is closed: the note was posted while it was open.
        let log = staff.log();
        let note = log
            .iter()
            .position(|e| matches!(e, StaffEvent::Posted(n, t) if *n == number && t.contains("closed automatically")))
            .expect("a note for staff");
        let shut = log
            .iter()
            .position(|e| *e == StaffEvent::Thread(number, ThreadState::Closed))
            .expect("the thread closed");
        assert!(note < shut, "{log:?}");

        // Never twice: later sweeps find nothing to do, and say nothing more.
        let told = users.to(&user).len();
        for later in [9, 30] {
            clock.store(t0 + later * DAY, Ordering::SeqCst);
            assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));
        }
        assert_eq!(users.to(&user).len(), told);
        assert_eq!(
            desk.store()
                .ticket_events(number)
                .unwrap()
                .iter()
                .filter(|e| e.kind == TicketEventKind::Closed)
                .count(),
            1
        );
        // The user can rate it with the buttons they got.
        let up = close.buttons[0].id.clone();
        desk.handle(&user, Some("Ann"), &Input::Button(up)).unwrap();
        assert_eq!(
            desk.store().ticket(number).unwrap().unwrap().rating,
            Some(Rating::Up)
        );
    });
}

#[test]
fn a_staff_reply_or_a_warned_users_message_resets_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000;
    let clock = Arc::new(AtomicU64::new(t0));
    let desk = open_desk(dir.path(), &clock);
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        users.clone(),
    );
    let user = ConvKey::new(Platform::Discord, "77");
    say(
        &desk,
        &user,
        "my xiaomi acount is locked after i changed phone",
    );
    let number = say(&desk, &user, "/human").expect("a ticket");
    let bob = |id: &str| Author {
        name: "Bob".into(),
        is_staff: true,
        message_id: id.into(),
    };
    guarded(async {
        relay.sweep().await.unwrap();
        // Staff answer on day 5: the idle time counts from there.
        clock.store(t0 + 5 * DAY, Ordering::SeqCst);
        assert_eq!(
            relay
                .staff_message(number, &bob("m1"), "Which phone model is it?")
                .await
                .unwrap(),
            Handled::Relayed
        );
        clock.store(t0 + 7 * DAY, Ordering::SeqCst);
        assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));
        clock.store(t0 + 12 * DAY, Ordering::SeqCst);
        assert_eq!(
            relay.sweep_idle(&policy()).await.unwrap(),
            sweep(&[number], &[])
        );
        // The warned user writes: no close when the grace period ends.
        clock.store(t0 + 12 * DAY + 3 * HOUR, Ordering::SeqCst);
        say(&desk, &user, "still broken. redmi note 11");
        clock.store(t0 + 13 * DAY + HOUR, Ordering::SeqCst);
        assert_eq!(relay.sweep_idle(&policy()).await.unwrap(), sweep(&[], &[]));
        assert_eq!(
            desk.store().ticket(number).unwrap().unwrap().status,
            TicketStatus::Open
        );
        // A new idle period from their message: warned again, then closed.
        clock.store(t0 + 19 * DAY + 3 * HOUR, Ordering::SeqCst);
        assert_eq!(
            relay.sweep_idle(&policy()).await.unwrap(),
            sweep(&[number], &[])
        );
        clock.store(t0 + 20 * DAY + 3 * HOUR, Ordering::SeqCst);
        assert_eq!(
            relay.sweep_idle(&policy()).await.unwrap(),
            sweep(&[], &[number])
        );
        let warnings = users
            .to(&user)
            .iter()
            .filter(|r| r.text.contains("haven't heard from you"))
            .count();
        assert_eq!(warnings, 2);
    });
}

#[test]
fn the_warning_is_in_the_users_language_and_the_sweeper_runs_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000;
    let clock = Arc::new(AtomicU64::new(t0));
    let desk = open_desk(dir.path(), &clock);
    let (staff, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Arc::new(Relay::new(
        desk.clone(),
        RelayConfig::default(),
        staff.clone(),
        users.clone(),
    ));
    let user = ConvKey::new(Platform::Telegram, "909");
    say(
        &desk,
        &user,
        "не могу войти в ми аккаунт, пишет неверный пароль",
    );
    let number = say(&desk, &user, "позовите оператора").expect("a ticket");
    let ru = desk.engine().catalog().language("ru").unwrap();
    let template = ru.string("ticket_idle_warning").unwrap().to_string();
    guarded(async {
        let (stop, shutdown) = Shutdown::new();
        let r = Arc::clone(&relay);
        let task = tokio::spawn(async move {
            r.run_idle(policy(), shutdown, Duration::from_millis(10))
                .await;
        });
        clock.store(t0 + 7 * DAY, Ordering::SeqCst);
        let warned = |users: &FakeUsers| {
            users
                .to(&user)
                .iter()
                .any(|r| r.text.contains(&format!("#{number}")) && r.text.contains("24"))
        };
        while !warned(&users) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = stop.send(true);
        task.await.unwrap();
        let warning = users.to(&user).pop().unwrap().text;
        assert_eq!(
            warning,
            template
                .replace("{number}", &number.to_string())
                .replace("{hours}", "24")
        );
        assert!(!warning.contains("haven't heard"), "{warning}");
    });
}

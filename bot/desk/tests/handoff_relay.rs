//! The handoff relay against in-memory staff and user platforms: threads open once per
//! ticket, lines are relayed in order and once, only staff act, and a restart resumes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::StaffCommand;
use deskbot_desk::handoff::relay::RelayConfig;
use deskbot_desk::handoff::relay::{
    Author, BadLocation, Handled, NOT_STAFF, Relay, RelayError, StaffSide, UserSide,
};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input};
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, RouteKind, StaffLocation, Ticket, TicketEventKind, TicketStatus};

/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Threads by id: (ticket number, messages posted).
type Threads = BTreeMap<u64, (u64, Vec<String>)>;

#[derive(Clone, Default)]
struct FakeStaff {
    threads: Arc<Mutex<Threads>>,
}

impl FakeStaff {
    fn thread_of(&self, ticket: u64) -> Option<(u64, Vec<String>)> {
        let threads = self.threads.lock().unwrap();
        let mut found = threads.iter().filter(|(_, (t, _))| *t == ticket);
        let first = found.next().map(|(id, (_, m))| (*id, m.clone()));
        assert!(found.next().is_none(), "ticket {ticket} has two threads");
        first
    }
}

impl StaffSide for FakeStaff {
    async fn open(&self, ticket: &Ticket, first: &str) -> Result<StaffLocation, RelayError> {
        let mut threads = self.threads.lock().unwrap();
        let id = 9000 + threads.len() as u64;
        threads.insert(id, (ticket.number, vec![first.to_string()]));
        Ok(StaffLocation {
            platform: "discord".into(),
            chat: "77".into(),
            thread: Some(id.to_string()),
            message: None,
        })
    }

    async fn post(&self, at: &StaffLocation, text: &str, _nonce: &str) -> Result<(), RelayError> {
        let id: u64 = at.thread.as_deref().unwrap().parse().unwrap();
        let mut threads = self.threads.lock().unwrap();
        let thread = threads
            .get_mut(&id)
            .ok_or_else(|| RelayError::bad_location("fake staff", at, BadLocation::ThreadGone))?;
        thread.1.push(text.to_string());
        Ok(())
    }
}

#[derive(Clone, Default)]
struct FakeUsers {
    sent: Arc<Mutex<Vec<(ConvKey, String)>>>,
}

impl FakeUsers {
    fn to(&self, user: &ConvKey) -> Vec<String> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .filter(|(k, _)| k == user)
            .map(|(_, t)| t.clone())
            .collect()
    }
}

impl UserSide for FakeUsers {
    async fn send(&self, user: &ConvKey, text: &str, _nonce: &str) -> Result<(), RelayError> {
        self.sent
            .lock()
            .unwrap()
            .push((user.clone(), text.to_string()));
        Ok(())
    }
}

fn open_desk(dir: &Path) -> Desk {
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    Desk::open(engine, dir).unwrap()
}

fn config() -> RelayConfig {
    let mut c = RelayConfig::default();
    c.snippets
        .insert("reset".into(), "Open account.xiaomi.com yourself.".into());
    c
}

fn say(desk: &Desk, key: &ConvKey, text: &str) -> Option<u64> {
    desk.handle(key, Some("Ann"), &Input::Text(text.into()))
        .unwrap()
        .opened_ticket
}

fn staff(name: &str, id: u64) -> Author {
    Author {
        name: name.into(),
        is_staff: true,
        message_id: id.to_string(),
    }
}

fn guarded<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(HANG_GUARD, f)
            .await
            .expect("hang guard")
    })
}

#[test]
fn telegram_user_to_staff_thread_and_back_then_close() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    let user = ConvKey::new(Platform::Telegram, "4242");
    guarded(async {
        say(&desk, &user, "I can't sign in, my code is 492817");
        say(&desk, &user, "password is hunter2");
        let number = say(&desk, &user, "/human").expect("a ticket");
        relay.sweep().await.unwrap();
        let (thread, messages) = staff_side.thread_of(number).expect("a thread");
        assert_eq!(messages.len(), 1, "{messages:?}");
        let first = &messages[0];
        assert!(
            first.contains(&format!("Ticket #{number} · Telegram · Ann")),
            "{first}"
        );
        assert!(first.contains("Transcript:"), "{first}");
        assert!(
            first.contains("[code hidden]") && first.contains("[password hidden]"),
            "{first}"
        );
        assert!(
            !first.contains("492817") && !first.contains("hunter2"),
            "{first}"
        );
        let stored = desk.store().ticket(number).unwrap().unwrap();
        let all: String = stored.transcript.iter().map(|l| l.text.clone()).collect();
        assert!(!all.contains("492817") && !all.contains("hunter2"));
        assert_eq!(
            desk.store()
                .ticket_at_staff("discord", "77", RouteKind::Thread, &thread.to_string())
                .unwrap(),
            Some(number)
        );

        // Staff answer; the user gets it with the staff member's name.
        let h = relay
            .staff_message(number, &staff("Bob", 1), "Which phone do you use?")
            .await
            .unwrap();
        assert_eq!(h, Handled::Relayed);
        assert_eq!(users.to(&user), ["Support (Bob): Which phone do you use?"]);

        // The user's answers appear in the thread, in order, once.
        say(&desk, &user, "A Redmi Note 12");
        say(&desk, &user, "bought last year, code 123456");
        relay.sweep().await.unwrap();
        relay.sweep().await.unwrap();
        let (_, messages) = staff_side.thread_of(number).unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(messages[1], "Ann: A Redmi Note 12");
        assert!(
            messages[2].starts_with("Ann: bought last year") && !messages[2].contains("123456")
        );

        // Close: the user is told, the ticket is closed in storage, the close recorded.
        let h = relay
            .staff_message(number, &staff("Bob", 2), "/close reset by phone")
            .await
            .unwrap();
        assert_eq!(
            h,
            Handled::Command(StaffCommand::Close(Some("reset by phone".into())))
        );
        let told = users.to(&user);
        assert!(
            told[1].contains(&format!("Ticket #{number} has been closed")),
            "{told:?}"
        );
        let t = desk.store().ticket(number).unwrap().unwrap();
        assert_eq!(t.status, TicketStatus::Closed);
        assert_eq!(desk.conversation(&user).unwrap().ticket(), None);
        let events = desk.store().ticket_events(number).unwrap();
        assert_eq!(events.last().unwrap().kind, TicketEventKind::Closed);
        assert_eq!(
            events.last().unwrap().note.as_deref(),
            Some("reset by phone")
        );
        // The staff lines are in the user's transcript.
        let transcript = desk.store().transcript(&user, 100).unwrap();
        assert!(
            transcript
                .iter()
                .any(|l| l.text == "Support (Bob): Which phone do you use?")
        );
        // After the close, the user's messages run the guides again and are not relayed.
        say(&desk, &user, "I forgot my password");
        relay.sweep().await.unwrap();
        assert_eq!(staff_side.thread_of(number).unwrap().1.len(), 4); // + "closed by Bob"
    });
}

#[test]
fn non_staff_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    let user = ConvKey::new(Platform::Discord, "555");
    guarded(async {
        let number = say(&desk, &user, "/human").unwrap();
        relay.sweep().await.unwrap();
        let before = desk.store().ticket(number).unwrap().unwrap();
        for (id, cmd) in [
            "claim",
            "/close",
            "snippet reset",
            "block",
            "hello, give me your code",
        ]
        .into_iter()
        .enumerate()
        {
            // Each message has its own platform id, as on Discord and Telegram.
            let intruder = Author {
                name: "Eve".into(),
                is_staff: false,
                message_id: format!("9{id}"),
            };
            let h = relay.staff_message(number, &intruder, cmd).await.unwrap();
            assert_eq!(h, Handled::Refused, "{cmd}");
        }
        assert_eq!(desk.store().ticket(number).unwrap().unwrap(), before);
        assert!(desk.store().ticket_events(number).unwrap().is_empty());
        assert_eq!(desk.store().ticket_claimed_by(number).unwrap(), None);
        assert!(desk.store().user_block(&user).unwrap().is_none());
        assert!(users.to(&user).is_empty());
        let (_, messages) = staff_side.thread_of(number).unwrap();
        assert_eq!(messages.iter().filter(|m| *m == NOT_STAFF).count(), 5);
        assert_eq!(desk.conversation(&user).unwrap().ticket(), Some(number));
    });
}

#[test]
fn staff_commands_claim_snippet_block_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let mut cfg = config();
    cfg.anonymous_staff = true;
    let relay = Relay::new(desk.clone(), cfg, staff_side.clone(), users.clone());
    let user = ConvKey::new(Platform::Telegram, "7");
    guarded(async {
        let number = say(&desk, &user, "/human").unwrap();
        relay.sweep().await.unwrap();
        let h = relay
            .staff_message(number, &staff("Bob", 1), "claim")
            .await
            .unwrap();
        assert_eq!(h, Handled::Command(StaffCommand::Claim));
        assert_eq!(
            desk.store().ticket_claimed_by(number).unwrap().as_deref(),
            Some("Bob")
        );
        relay
            .staff_message(number, &staff("Bob", 2), "snippet RESET")
            .await
            .unwrap();
        assert_eq!(
            users.to(&user),
            ["Support: Open account.xiaomi.com yourself."]
        );
        let h = relay
            .staff_message(number, &staff("Bob", 3), "snippet nope")
            .await
            .unwrap();
        assert_eq!(h, Handled::Rejected);
        assert_eq!(users.to(&user).len(), 1);

        relay
            .staff_message(number, &staff("Bob", 4), "block")
            .await
            .unwrap();
        say(&desk, &user, "spam spam");
        relay.sweep().await.unwrap();
        relay
            .staff_message(number, &staff("Bob", 5), "unblock")
            .await
            .unwrap();
        say(&desk, &user, "sorry, real question");
        relay.sweep().await.unwrap();
        let (_, messages) = staff_side.thread_of(number).unwrap();
        assert!(
            !messages.iter().any(|m| m.contains("spam spam")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.ends_with("sorry, real question")),
            "{messages:?}"
        );

        relay
            .staff_message(number, &staff("Bob", 6), "close")
            .await
            .unwrap();
        let h = relay
            .staff_message(number, &staff("Bob", 7), "still there?")
            .await
            .unwrap();
        assert_eq!(h, Handled::Rejected);
        let h = relay
            .staff_message(number, &staff("Bob", 8), "reopen")
            .await
            .unwrap();
        assert_eq!(h, Handled::Command(StaffCommand::Reopen));
        assert_eq!(
            desk.store().ticket(number).unwrap().unwrap().status,
            TicketStatus::Open
        );
        assert_eq!(desk.conversation(&user).unwrap().ticket(), Some(number));
        say(&desk, &user, "thanks for reopening");
        relay.sweep().await.unwrap();
        let (_, messages) = staff_side.thread_of(number).unwrap();
        assert!(
            messages.last().unwrap().ends_with("thanks for reopening"),
            "{messages:?}"
        );
        let kinds: Vec<_> = desk
            .store()
            .ticket_events(number)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                TicketEventKind::Claimed,
                TicketEventKind::Blocked,
                TicketEventKind::Unblocked,
                TicketEventKind::Closed,
                TicketEventKind::Reopened
            ]
        );
    });
}

#[test]
fn a_restart_resumes_both_ways_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let user = ConvKey::new(Platform::Telegram, "31");
    let number = {
        let desk = open_desk(dir.path());
        let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
        guarded(async {
            let number = say(&desk, &user, "/human").unwrap();
            say(&desk, &user, "first");
            relay.sweep().await.unwrap();
            // Written after the last sweep, before the "crash".
            say(&desk, &user, "second");
            number
        })
    };
    let desk = open_desk(dir.path());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    guarded(async {
        relay.sweep().await.unwrap();
        relay.sweep().await.unwrap();
        let (thread, messages) = staff_side.thread_of(number).unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(&messages[1..], ["Ann: first", "Ann: second"]);
        // The staff side finds the ticket from its thread after the restart.
        let found = desk
            .store()
            .ticket_at_staff("discord", "77", RouteKind::Thread, &thread.to_string())
            .unwrap();
        assert_eq!(found, Some(number));
        relay
            .staff_message(number, &staff("Bob", 1), "hi again")
            .await
            .unwrap();
        assert_eq!(users.to(&user), ["Support (Bob): hi again"]);
    });
}

#[test]
fn fifty_tickets_from_both_platforms_never_cross() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    let keys: Vec<ConvKey> = (0..50)
        .map(|i| {
            ConvKey::new(
                if i % 2 == 0 {
                    Platform::Telegram
                } else {
                    Platform::Discord
                },
                format!("{}", 1000 + i),
            )
        })
        .collect();
    guarded(async {
        let mut numbers = Vec::new();
        for k in &keys {
            numbers.push(say(&desk, k, "/human").unwrap());
        }
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                say(&desk, k, &format!("user {i} line {round}"));
            }
            relay.sweep().await.unwrap();
            for (i, n) in numbers.iter().enumerate() {
                relay
                    .staff_message(
                        *n,
                        &staff("Bob", (round * 100 + i) as u64),
                        &format!("to {i} r{round}"),
                    )
                    .await
                    .unwrap();
            }
        }
        for (i, (k, n)) in keys.iter().zip(&numbers).enumerate() {
            let (_, messages) = staff_side.thread_of(*n).unwrap();
            let lines: Vec<_> = messages[1..].to_vec();
            assert_eq!(
                lines,
                (0..3)
                    .map(|r| format!("Ann: user {i} line {r}"))
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                users.to(k),
                (0..3)
                    .map(|r| format!("Support (Bob): to {i} r{r}"))
                    .collect::<Vec<_>>()
            );
        }
    });
}

#[test]
fn the_sweep_loop_opens_threads_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users);
    let user = ConvKey::new(Platform::Telegram, "5");
    guarded(async {
        let (stop, shutdown) = deskbot_desk::shutdown::Shutdown::new();
        let task = tokio::spawn(async move {
            relay.run(shutdown, Duration::from_millis(10)).await;
        });
        let number = say(&desk, &user, "/human").unwrap();
        say(&desk, &user, "are you there?");
        while staff_side
            .thread_of(number)
            .is_none_or(|(_, m)| m.len() < 2)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(
            staff_side.thread_of(number).unwrap().1[1],
            "Ann: are you there?"
        );
    });
}

#[test]
fn a_ticket_whose_user_deleted_their_data_cannot_be_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    let user = ConvKey::new(Platform::Telegram, "8");
    guarded(async {
        let number = say(&desk, &user, "/human").unwrap();
        relay.sweep().await.unwrap();
        relay
            .staff_message(number, &staff("Bob", 1), "close")
            .await
            .unwrap();
        // The user asks to be forgotten and confirms with the button.
        let asked = desk
            .handle(&user, Some("Ann"), &Input::Text("/forget".into()))
            .unwrap();
        let yes = asked
            .reply
            .buttons
            .iter()
            .find(|b| b.label.to_lowercase().contains("delete"))
            .unwrap_or_else(|| panic!("no delete button: {:?}", asked.reply))
            .id
            .clone();
        desk.handle(&user, None, &Input::Button(yes)).unwrap();
        let told_before = users.to(&user).len();
        let h = relay
            .staff_message(number, &staff("Bob", 2), "reopen")
            .await
            .unwrap();
        assert_eq!(h, Handled::Rejected);
        let ticket = desk.store().ticket(number).unwrap().unwrap();
        assert_eq!(ticket.status, TicketStatus::Closed);
        assert_eq!(
            users.to(&user).len(),
            told_before,
            "the user was told something"
        );
        let (_, posts) = staff_side.thread_of(number).unwrap();
        let last = posts.last().unwrap();
        assert!(last.contains("cannot be reopened"), "{last}");
        assert!(
            !desk
                .store()
                .ticket_events(number)
                .unwrap()
                .iter()
                .any(|e| e.kind == TicketEventKind::Reopened)
        );
    });
}

#[test]
fn a_replayed_staff_message_is_relayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path());
    let (staff_side, users) = (FakeStaff::default(), FakeUsers::default());
    let relay = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
    let user = ConvKey::new(Platform::Telegram, "9");
    guarded(async {
        let number = say(&desk, &user, "/human").unwrap();
        relay.sweep().await.unwrap();
        let h = relay
            .staff_message(number, &staff("Bob", 41), "try the web page")
            .await
            .unwrap();
        assert_eq!(h, Handled::Relayed);
        // The gateway replays the same event (same message id), and a claim is replayed too.
        let h = relay
            .staff_message(number, &staff("Bob", 41), "try the web page")
            .await
            .unwrap();
        assert_eq!(h, Handled::Duplicate);
        assert_eq!(users.to(&user), ["Support (Bob): try the web page"]);
        relay
            .staff_message(number, &staff("Bob", 42), "claim")
            .await
            .unwrap();
        let events = desk.store().ticket_events(number).unwrap().len();
        // Also after a restart: the mark is in the store.
        let relay2 = Relay::new(desk.clone(), config(), staff_side.clone(), users.clone());
        let h = relay2
            .staff_message(number, &staff("Bob", 42), "claim")
            .await
            .unwrap();
        assert_eq!(h, Handled::Duplicate);
        assert_eq!(desk.store().ticket_events(number).unwrap().len(), events);
        // A new message with the same text is relayed.
        relay2
            .staff_message(number, &staff("Bob", 43), "try the web page")
            .await
            .unwrap();
        assert_eq!(users.to(&user).len(), 2);
    });
}

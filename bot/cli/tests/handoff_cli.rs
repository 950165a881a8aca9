//! `deskbot tickets list|show|close`, driven as an operator would: tickets are opened through
//! `deskbot chat`, then listed, shown and closed by the binary.

use deskbot_storage::Platform;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A hang guard, not a timing assertion: a stuck process fails the test instead of hanging it.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Runs `deskbot args… --data-dir data_dir` with `stdin`, bounded by the hang guard.
pub(crate) fn deskbot(args: &[&str], data_dir: &Path, stdin: &[u8]) -> Output {
    let mut child = crate::common::deskbot()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deskbot starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("deskbot {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("deskbot exits");
    writer.join().expect("writer thread");
    out
}

/// The stdout of a run that must have succeeded.
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn operator_lists_shows_and_closes_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Before the bot has run there is no database: refused, not created.
    let out = deskbot(&["tickets", "list"], d, b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no deskbot database"));
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);

    ok(&deskbot(
        &["chat", "--user", "ann"],
        d,
        b"I forgot my password\nmy code is 492817\npassword is hunter2\n/human\n",
    ));
    ok(&deskbot(&["chat", "--user", "bob"], d, b"/human\n"));

    let list = ok(&deskbot(&["tickets", "list"], d, b""));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("#1") && lines[0].contains("open"),
        "{list}"
    );
    assert!(
        lines[0].contains("ann") && !lines[0].ends_with('-'),
        "{list}"
    );
    assert!(
        lines[1].starts_with("#2") && lines[1].contains("bob"),
        "{list}"
    );

    let show = ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert!(show.contains("Ticket #1 · console"), "{show}");
    assert!(show.contains("Staff side: not posted"), "{show}");
    assert!(show.contains("Steps tried:"), "{show}");
    assert!(
        !show.contains("492817") && !show.contains("hunter2"),
        "secrets leak into `tickets show`: {show}"
    );

    let close = ok(&deskbot(
        &["tickets", "close", "1", "--note", "reset by phone"],
        d,
        b"",
    ));
    assert!(close.contains("ticket #1 closed"), "{close}");
    let open = ok(&deskbot(&["tickets", "list", "--open"], d, b""));
    assert!(
        open.lines().count() == 1 && open.starts_with("#2"),
        "{open}"
    );
    let show = ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert!(show.contains("closed"), "{show}");
    assert!(
        show.contains("Closed by operator: reset by phone"),
        "{show}"
    );

    // Closing twice, or a ticket that does not exist, is an error and changes nothing.
    let again = deskbot(&["tickets", "close", "1"], d, b"");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not open"));
    let missing = deskbot(&["tickets", "show", "99"], d, b"");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no ticket #99"));
    let show = ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert_eq!(show.matches("Closed by").count(), 1, "{show}");

    // The closed user's conversation is out of the ticket: the bot answers again.
    let chat = ok(&deskbot(
        &["chat", "--user", "ann", "--json"],
        d,
        b"I forgot my password\n",
    ));
    assert!(chat.contains("\"state\":\"guide\""), "{chat}");
}

/// Priority tickets (written to the store as the bot writes them) come first in `tickets
/// list`, marked, and `tickets show` says so, with the queue position; a user's name cannot
/// put control characters on the operator's terminal.
#[test]
fn priority_tickets_are_listed_first_and_marked() {
    use deskbot_storage::{ConvKey, Speaker, Store, Ticket, TicketStatus, TranscriptEntry};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let store = Store::open(d).unwrap();
        let people = [
            ("11", "Lena", false, TicketStatus::Open),
            ("12", "Omar", true, TicketStatus::Closed),
            ("13", "Raj", false, TicketStatus::Open),
            ("14", "Evil\u{1b}[2JName", true, TicketStatus::Open),
        ];
        for (user, name, priority, status) in people {
            let key = ConvKey::new(Platform::Telegram, user);
            let number = store.next_ticket_number().unwrap();
            let ticket = Ticket {
                number,
                conversation: key.clone(),
                display_name: Some(name.into()),
                intent: Some(
                    if priority {
                        "account_compromised"
                    } else {
                        "sms_code"
                    }
                    .into(),
                ),
                confidence: Some(0.7),
                steps_tried: vec![],
                transcript: vec![TranscriptEntry::new(
                    1,
                    Speaker::User,
                    "somebody logged into my account and changed the phone number",
                )],
                status,
                opened_at_ms: 1,
                closed_at_ms: None,
                rating: None,
                forgotten: false,
                priority,
            };
            store
                .commit_turn(&deskbot_storage::TurnWrite {
                    key: &key,
                    state: &serde_json::json!({}),
                    transcript: &[],
                    tickets: &[ticket],
                    channel: None,
                })
                .unwrap();
        }
    }
    let list = ok(&deskbot(&["tickets", "list"], d, b""));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    for (line, (number, priority)) in
        lines
            .iter()
            .zip([(2, true), (4, true), (1, false), (3, false)])
    {
        assert!(line.starts_with(&format!("#{number} ")), "{list}");
        assert_eq!(line.ends_with("🔴 PRIORITY"), priority, "{list}");
    }
    assert!(
        !list.contains('\u{1b}') && list.contains("\\u{1b}[2J"),
        "{list:?}"
    );
    let open = ok(&deskbot(&["tickets", "list", "--open"], d, b""));
    let numbers: Vec<&str> = open.lines().map(|l| &l[..2]).collect();
    assert_eq!(numbers, ["#4", "#1", "#3"], "{open}");

    let show = ok(&deskbot(&["tickets", "show", "4"], d, b""));
    assert!(show.contains("Priority: yes"), "{show}");
    assert!(show.contains("Queue position: 1\n"), "{show}");
    assert!(show.contains("\n🔴 PRIORITY — "), "{show}");
    assert!(!show.contains('\u{1b}'), "{show:?}");
    let show = ok(&deskbot(&["tickets", "show", "3"], d, b""));
    assert!(
        !show.contains("PRIORITY") && !show.contains("Priority"),
        "{show}"
    );
    assert!(show.contains("Queue position: 3\n"), "{show}");
    let show = ok(&deskbot(&["tickets", "show", "2"], d, b""));
    assert!(
        show.contains("Priority: yes") && !show.contains("Queue position"),
        "{show}"
    );
}

//! `deskbot tickets search TEXT` and `tickets list --staff/--intent/--since`, driven as an
//! operator would on real sled: tickets opened through `deskbot chat` (or written to the store
//! as the bot writes them, for old ones), staff replies and staff actions recorded through the
//! store calls the relay uses, then searched and listed by the binary.

use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use deskbot_storage::{
    ConvKey, Platform, Speaker, Store, Ticket, TicketEvent, TicketEventKind, TicketStatus,
    TranscriptEntry, TurnWrite,
};

use crate::handoff_cli::{deskbot, ok};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The ticket numbers at the start of each line (`#12    open …`), in order.
fn numbers(listing: &str) -> Vec<u64> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix('#')?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// No byte a terminal acts on: C0 controls but the line feed, DEL, C1 controls.
fn assert_no_controls(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw controls {bad:?}: {text}");
}

fn event(kind: TicketEventKind, by: &str, at_ms: u64) -> TicketEvent {
    TicketEvent {
        at_ms,
        kind,
        by: by.into(),
        note: None,
    }
}

/// Search reads what staff read: the ticket's transcript and what was said after it opened
/// (staff replies included), secrets masked, one ticket's lines never credited to another.
#[test]
fn search_finds_staff_replies_and_never_a_masked_secret_or_another_tickets_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&deskbot(
        &["chat", "--user", "ann"],
        d,
        "i forgot my pasword, tried the sms thing twice\nmy code is 492817\n/human\n".as_bytes(),
    ));
    ok(&deskbot(
        &["chat", "--user", "bob"],
        d,
        "accont locked after i changed phone. ZOË my sister tried too \u{1b}[2J\n/human\n"
            .as_bytes(),
    ));
    // Staff answer ann's ticket (#1) and claim it, as the relay records them.
    {
        let store = Store::open(d).unwrap();
        let ann = ConvKey::new(Platform::Console, "ann");
        store
            .append_transcript(
                &ann,
                &[TranscriptEntry::new(
                    now_ms(),
                    Speaker::Staff,
                    "Kofi (support): I reset the verification on our side, try the SMS again in 10 min",
                )],
            )
            .unwrap();
        store
            .add_ticket_event(1, &event(TicketEventKind::Claimed, "Kofi", now_ms()))
            .unwrap();
    }

    // A staff line, found case-insensitively, shown with its ticket, status and time.
    let found = ok(&deskbot(
        &["tickets", "search", "VERIFICATION on our side"],
        d,
        b"",
    ));
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 2, "{found}");
    assert!(lines[0].starts_with("#1 "), "{found}");
    assert!(lines[0].contains(" open "), "{found}");
    assert!(
        lines[0].contains("Staff: Kofi (support): I reset the «verification on our side», try"),
        "{found}"
    );
    // When the line was said: an RFC 3339 time, within the last hour.
    let when = lines[0].split_whitespace().nth(2).unwrap();
    let at = humantime::parse_rfc3339(when).unwrap_or_else(|e| panic!("{when}: {e}"));
    let age = SystemTime::now().duration_since(at).unwrap();
    assert!(age.as_secs() < 3_600, "{when}");
    assert_eq!(lines[1], "1 line in 1 ticket");

    // Accents and case ignored; only bob's ticket has the name; his escape is shown escaped.
    let found = ok(&deskbot(&["tickets", "search", "zoe my sister"], d, b""));
    assert_eq!(numbers(&found), [2], "{found}");
    assert!(found.contains("«ZOË my sister»"), "{found}");
    assert!(found.contains("\\u{1b}[2J"), "{found}");
    assert_no_controls(&found);

    // The code ann typed was masked before it was stored: its digits find nothing, the mask
    // is there.
    let found = ok(&deskbot(&["tickets", "search", "492817"], d, b""));
    assert_eq!(found, "no ticket line contains \"492817\"\n");
    let found = ok(&deskbot(&["tickets", "search", "2817"], d, b""));
    assert!(numbers(&found).is_empty(), "{found}");
    let found = ok(&deskbot(&["tickets", "search", "code hidden"], d, b""));
    assert_eq!(numbers(&found), [1], "{found}");

    // Ticket #1 closes; ann comes back with something else and opens #3. Her new words belong
    // to #3 only, though both tickets are the same conversation.
    ok(&deskbot(&["tickets", "close", "1"], d, b""));
    ok(&deskbot(
        &["chat", "--user", "ann"],
        d,
        b"other problem now, mi cloud wont sync my photos since yesterday\n/human\n",
    ));
    let found = ok(&deskbot(
        &["tickets", "search", "wont sync my photos"],
        d,
        b"",
    ));
    assert_eq!(numbers(&found), [3], "{found}");
    assert!(found.ends_with("1 line in 1 ticket\n"), "{found}");
    // #1 keeps its own lines, staff's included, now closed.
    let found = ok(&deskbot(
        &["tickets", "search", "try the sms again"],
        d,
        b"",
    ));
    assert_eq!(numbers(&found), [1], "{found}");
    assert!(found.contains(" closed "), "{found}");
    // #3's copy of the conversation reaches back into #1: those lines are found in #1 only.
    let found = ok(&deskbot(&["tickets", "search", "sms thing"], d, b""));
    assert_eq!(numbers(&found), [1], "{found}");
    let show = ok(&deskbot(&["tickets", "show", "3"], d, b""));
    assert!(show.contains("sms thing"), "the premise: {show}");

    // Filters apply to search too: --staff (who claimed), --open.
    let found = ok(&deskbot(
        &["tickets", "search", "sms", "--staff", "kofi"],
        d,
        b"",
    ));
    assert!(numbers(&found).iter().all(|n| *n == 1), "{found}");
    let found = ok(&deskbot(&["tickets", "search", "sms", "--open"], d, b""));
    assert!(!numbers(&found).contains(&1), "{found}");

    // Nothing to search for is refused clearly.
    let out = deskbot(&["tickets", "search", "  \u{200b} "], d, b"");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("give some text to search for"),
        "{}",
        stderr(&out)
    );
}

/// Tickets written as the bot writes them, opened at chosen times.
fn seed(d: &Path, now: u64) {
    let store = Store::open(d).unwrap();
    // (user, intent, opened this long ago, priority, status)
    let tickets = [
        ("t1", "sms_code", 10 * DAY_MS, false, TicketStatus::Open),
        (
            "t2",
            "account_compromised",
            9 * DAY_MS,
            true,
            TicketStatus::Open,
        ),
        ("t3", "sms_code", 2 * HOUR_MS, false, TicketStatus::Open),
        (
            "t4",
            "password_reset",
            3 * HOUR_MS,
            false,
            TicketStatus::Closed,
        ),
        (
            "t5",
            "account_compromised",
            30 * 60_000,
            true,
            TicketStatus::Open,
        ),
        ("t6", "sms_code", 20 * 60_000, false, TicketStatus::Closed),
    ];
    for (user, intent, ago, priority, status) in tickets {
        let key = ConvKey::new(Platform::Telegram, user);
        let number = store.next_ticket_number().unwrap();
        let opened = now - ago;
        let ticket = Ticket {
            number,
            conversation: key.clone(),
            display_name: None,
            intent: Some(intent.into()),
            confidence: Some(0.8),
            steps_tried: vec![],
            transcript: vec![TranscriptEntry::new(
                opened,
                Speaker::User,
                format!("{user}: the code never arrives, tried 3 times today"),
            )],
            status,
            opened_at_ms: opened,
            closed_at_ms: (status == TicketStatus::Closed).then_some(opened + 60_000),
            rating: None,
            forgotten: false,
            priority,
        };
        store
            .commit_turn(&TurnWrite {
                key: &key,
                state: &serde_json::json!({}),
                transcript: &[],
                tickets: &[ticket],
                channel: None,
            })
            .unwrap();
    }
    // Who did what: Zoë claimed 1, 3 and 5 and closed 6; Bo claimed 2 and closed 4; a note by
    // Zoë on 4 does not make it hers.
    for (number, kind, by) in [
        (1, TicketEventKind::Claimed, "Zoë"),
        (3, TicketEventKind::Claimed, "Zoë"),
        (5, TicketEventKind::Claimed, "Zoë"),
        (6, TicketEventKind::Closed, "Zoë"),
        (2, TicketEventKind::Claimed, "Bo"),
        (4, TicketEventKind::Closed, "Bo"),
        (4, TicketEventKind::Note, "Zoë"),
    ] {
        store
            .add_ticket_event(number, &event(kind, by, now))
            .unwrap();
    }
}

#[test]
fn list_filters_combine_and_priority_tickets_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d, now_ms());
    let list = |args: &[&str]| {
        let mut all = vec!["tickets", "list"];
        all.extend_from_slice(args);
        numbers(&ok(&deskbot(&all, d, b"")))
    };

    // Unfiltered: priority first (2, 5), then by number; the same order with any filter.
    assert_eq!(list(&[]), [2, 5, 1, 3, 4, 6]);
    assert_eq!(list(&["--since", "7d"]), [5, 3, 4, 6]);
    assert_eq!(list(&["--since", "12h"]), [5, 3, 4, 6]);
    assert_eq!(list(&["--since", "1h"]), [5, 6]);
    assert_eq!(list(&["--since", "25m"]), [6]);
    assert_eq!(list(&["--since", "30d"]), [2, 5, 1, 3, 4, 6]);
    assert_eq!(list(&["--intent", "sms_code"]), [1, 3, 6]);
    assert_eq!(list(&["--intent", "account_compromised"]), [2, 5]);
    // Staff: who claimed or closed, case and accents ignored, the whole name.
    assert_eq!(list(&["--staff", "Zoë"]), [5, 1, 3, 6]);
    assert_eq!(list(&["--staff", "zoe"]), [5, 1, 3, 6]);
    assert_eq!(list(&["--staff", "BO"]), [2, 4]);
    assert!(list(&["--staff", "Zo"]).is_empty());
    // Combined.
    assert_eq!(list(&["--staff", "zoe", "--intent", "sms_code"]), [1, 3, 6]);
    assert_eq!(
        list(&["--staff", "zoe", "--intent", "sms_code", "--since", "7d"]),
        [3, 6]
    );
    assert_eq!(list(&["--open", "--staff", "zoe", "--since", "7d"]), [5, 3]);
    assert_eq!(
        list(&["--open", "--since", "7d", "--intent", "sms_code"]),
        [3]
    );
    let none = ok(&deskbot(
        &["tickets", "list", "--intent", "no_such_intent"],
        d,
        b"",
    ));
    assert_eq!(none, "no tickets match\n");
    // Search takes the same filters.
    let found = ok(&deskbot(
        &[
            "tickets",
            "search",
            "code never arrives",
            "--intent",
            "sms_code",
            "--since",
            "12h",
        ],
        d,
        b"",
    ));
    assert_eq!(numbers(&found), [3, 6], "{found}");

    // The queue staff work from has the order `list --open` shows.
    let open = list(&["--open"]);
    assert_eq!(open, [2, 5, 1, 3]);
    for (i, n) in open.iter().enumerate() {
        let show = ok(&deskbot(&["tickets", "show", &n.to_string()], d, b""));
        assert!(
            show.contains(&format!("Queue position: {}\n", i + 1)),
            "#{n}: {show}"
        );
    }

    // A duration that is not one is refused clearly, naming the option; nothing panics.
    for bad in ["7x", "soon", "", "0d", "-3d", "99999999999999999999d"] {
        let out = deskbot(&["tickets", "list", &format!("--since={bad}")], d, b"");
        assert!(!out.status.success(), "{bad}");
        let err = stderr(&out);
        assert!(err.contains("--since"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
    let err = stderr(&deskbot(&["tickets", "list", "--since", "7x"], d, b""));
    assert!(err.contains("such as 7d, 12h or 30m"), "{err}");
}

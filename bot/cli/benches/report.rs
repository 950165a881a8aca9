//! Report benchmark: `deskbot report` over a real sled store holding 1 000 000 recorded turns
//! (each a user line with its decision record and the bot's reply line, as the desk writes
//! them), with tickets, ticket events and staff replies; its wall time and peak memory (the
//! child's maximum resident set size, from `wait4`). The same is measured over a tenth of the
//! turns, to show that memory does not grow with the store: the report streams it.
//!
//! The store is written through the storage API's batch path (`append_transcript`: one sled
//! batch per conversation, fsyncs shared between writer threads), not turn by turn.
//!
//! Run: `cargo bench -p deskbot --bench report`. `REPORT_TURNS` (default 1 000 000) and
//! `REPORT_THREADS` (writer threads, default 8) change the sizes. Needs about 2 GB of disk
//! in the temporary directory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deskbot::report::TicketFacts;
use deskbot_storage::{
    ConvKey, Decision, EscalationKind, GuideStep, Platform, Rating, Speaker, Store, StoredLine,
    Ticket, TicketEvent, TicketEventKind, TicketStatus, TranscriptEntry, TurnWrite,
};

/// Turns per conversation.
const TURNS_PER_CONVERSATION: usize = 20;
/// Every this many conversations ends with a ticket.
const TICKET_EVERY: usize = 10;
const GUIDES: [&str; 6] = [
    "password_reset",
    "two_factor",
    "account_locked",
    "region_restricted",
    "cloud_sync",
    "login_details",
];
const LANGUAGES: [&str; 7] = ["en", "ru", "es", "hi", "ar", "id", "pt"];
const USER_TEXT: [&str; 5] = [
    "i cant get into my mi account it keeps saying wrong password",
    "no that didnt help",
    "still nothing, same error",
    "whats ur opening hours",
    "ok it works now thx",
];
const BOT_TEXT: &str = "Okay, let's try the next thing. Open Settings > Mi Account > Sign in, tap \
     'Forgot password?', enter the phone number or email of your account and follow the code we \
     send. Did that work?";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A decision with only what every one has; built from JSON, so fields the desk adds later
/// take their defaults.
fn decision(language: &str, outcome: &str) -> Decision {
    serde_json::from_value(serde_json::json!({
        "language": language,
        "input": "text",
        "confidence": 0.93,
        "outcome": outcome,
        "latency_us": 1_800,
    }))
    .expect("a decision")
}

fn step(guide: &str, step: usize) -> Option<GuideStep> {
    Some(GuideStep {
        guide: guide.to_string(),
        step,
    })
}

/// The decision of turn `t` of conversation `c`: sessions of five turns (a guide started,
/// two noes, a message not understood, resolved), the last turn of every tenth conversation
/// opening a ticket.
fn turn_decision(c: usize, t: usize, ticket: Option<u64>) -> Decision {
    let language = LANGUAGES[c % LANGUAGES.len()];
    let guide = GUIDES[(c + t / 5) % GUIDES.len()];
    if let Some(number) = ticket {
        let mut d = decision(language, "escalated");
        d.escalation = Some(match c % 4 {
            0 => EscalationKind::Asked,
            1 => EscalationKind::GuideExhausted,
            2 => EscalationKind::Misses,
            _ => EscalationKind::HighRisk,
        });
        d.ticket = Some(number);
        return d;
    }
    match t % 5 {
        0 => {
            let mut d = decision(language, "guide_started");
            d.intent = Some(guide.to_string());
            d.shown = step(guide, 1);
            d
        }
        1 | 2 => {
            let mut d = decision(language, "none");
            d.act = Some("deny".into());
            d.answered = step(guide, t % 5);
            d.shown = step(guide, t % 5 + 1);
            d
        }
        3 => {
            let mut d = decision(language, "none");
            d.fallback = true;
            d.answered = step(guide, 3);
            d.shown = step(guide, 3);
            d
        }
        _ => {
            let mut d = decision(language, "resolved");
            d.act = Some("affirm".into());
            d.answered = step(guide, 3);
            d
        }
    }
}

/// What conversation `c` holds: its key, its transcript lines (user lines with decisions,
/// bot lines, a staff reply after its ticket), and its ticket with the ticket's events, when
/// it has one (`number`).
struct Records {
    key: ConvKey,
    lines: Vec<TranscriptEntry>,
    ticket: Option<(Ticket, Vec<TicketEvent>)>,
}

fn conversation_records(c: usize, start_ms: u64, number: Option<u64>) -> Records {
    let platform = Platform::ALL[c % Platform::ALL.len()];
    let key = ConvKey::new(platform, format!("{}", 10_000_000 + c));
    let base = start_ms + (c as u64 % 20_000) * 60_000;
    let mut lines = Vec::with_capacity(2 * TURNS_PER_CONVERSATION + 1);
    for t in 0..TURNS_PER_CONVERSATION {
        let at = base + t as u64 * 30_000;
        let last = t + 1 == TURNS_PER_CONVERSATION;
        let d = turn_decision(c, t, number.filter(|_| last));
        let mut user = TranscriptEntry::new(at, Speaker::User, USER_TEXT[t % USER_TEXT.len()]);
        user.decision = Some(Box::new(d));
        lines.push(user);
        lines.push(TranscriptEntry::new(at, Speaker::Bot, BOT_TEXT));
    }
    let opened = base + (TURNS_PER_CONVERSATION as u64 - 1) * 30_000;
    let ticket = number.map(|number| {
        let ticket = Ticket {
            number,
            conversation: key.clone(),
            display_name: Some("Dmitri".into()),
            intent: Some(GUIDES[c % GUIDES.len()].into()),
            confidence: Some(0.9),
            steps_tried: Vec::new(),
            transcript: lines.clone(),
            status: TicketStatus::Closed,
            opened_at_ms: opened,
            closed_at_ms: Some(opened + 600_000 + (c as u64 % 7) * 60_000),
            rating: Some(if c.is_multiple_of(3) {
                Rating::Down
            } else {
                Rating::Up
            }),
            forgotten: false,
            priority: c % 4 == 3,
        };
        let staff = ["Ann", "Bob", "Chen"][c % 3];
        let events = [
            (TicketEventKind::Claimed, 60_000),
            (TicketEventKind::Closed, 600_000),
        ]
        .into_iter()
        .map(|(kind, after)| TicketEvent {
            at_ms: opened + after,
            kind,
            by: staff.into(),
            note: None,
        })
        .collect();
        (ticket, events)
    });
    if number.is_some() {
        lines.push(TranscriptEntry::new(
            opened + 120_000,
            Speaker::Staff,
            "Hi, I'm looking at your account now.",
        ));
    }
    Records { key, lines, ticket }
}

/// Writes conversation `c`: its lines in one batch, its ticket, events and staff reply.
fn write_conversation(store: &Store, c: usize, start_ms: u64) {
    let number = c
        .is_multiple_of(TICKET_EVERY)
        .then(|| store.next_ticket_number().expect("ticket number"));
    let records = conversation_records(c, start_ms, number);
    if let Some((ticket, _)) = &records.ticket {
        store
            .commit_turn(&TurnWrite {
                key: &records.key,
                state: &(),
                transcript: &[],
                tickets: std::slice::from_ref(ticket),
                channel: None,
            })
            .expect("ticket");
    }
    store
        .append_transcript(&records.key, &records.lines)
        .expect("lines");
    if let Some((ticket, events)) = &records.ticket {
        for event in events {
            store.add_ticket_event(ticket.number, event).expect("event");
        }
    }
}

/// The pure aggregation (`deskbot::report::compute`) over `turns` turns generated in memory
/// one conversation at a time (no store), in this process: prints the time to generate the
/// records, the time to generate and aggregate them, and the peak RSS (KiB), on one line.
fn pure(turns: usize) {
    let conversations = turns.div_ceil(TURNS_PER_CONVERSATION);
    let start_ms = now_ms() - 20 * 24 * 3_600_000;
    let number = |c: usize| c.is_multiple_of(TICKET_EVERY).then_some(c as u64 / 10 + 1);
    let started = Instant::now();
    let mut generated = 0;
    for c in 0..conversations {
        generated += conversation_records(c, start_ms, number(c)).lines.len();
    }
    let generating = started.elapsed();
    let started = Instant::now();
    let tickets = (0..conversations).filter_map(|c| {
        let (ticket, events) = conversation_records(c, start_ms, number(c)).ticket?;
        Some(Ok::<_, std::convert::Infallible>(TicketFacts {
            ticket,
            events,
        }))
    });
    let lines = (0..conversations).flat_map(|c| {
        let Records { key, lines, .. } = conversation_records(c, start_ms, number(c));
        lines.into_iter().enumerate().map(move |(i, entry)| {
            Ok(StoredLine {
                conversation: key.clone(),
                seq: i as u64,
                entry,
            })
        })
    });
    let window = deskbot::report::Since::All.window(now_ms());
    let Ok(report) = deskbot::report::compute(window, tickets, lines);
    let total = started.elapsed();
    assert_eq!(
        report.user_turns as usize,
        conversations * TURNS_PER_CONVERSATION
    );
    assert!(generated > turns);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    println!(
        "{} {} {hwm_kib}",
        generating.as_secs_f64(),
        total.as_secs_f64()
    );
}

/// Runs [`pure`] in a new process (this benchmark again), so its peak memory is its own.
fn measure_pure(turns: usize) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut cmd = Command::new(exe);
    cmd.arg("--bench")
        .env("REPORT_BENCH_PURE", turns.to_string());
    let (out, _, _) = run(cmd);
    let parts: Vec<f64> = out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let [generating, total, hwm_kib] = parts[..] else {
        panic!("unexpected output of the pure run: {out:?}");
    };
    println!(
        "pure aggregation over {turns} turns (records generated in memory, no store): \
         {total:.2} s, of which {generating:.2} s generating the records; peak RSS {:.1} MiB",
        hwm_kib / 1024.0
    );
}

fn write_store(dir: &Path, turns: usize, threads: usize) -> (usize, Duration) {
    let store = Store::open(dir).expect("open");
    let conversations = turns.div_ceil(TURNS_PER_CONVERSATION);
    let start_ms = now_ms() - 20 * 24 * 3_600_000;
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                for c in (w..conversations).step_by(threads) {
                    write_conversation(&store, c, start_ms);
                }
            });
        }
    });
    store.flush().expect("flush");
    (conversations, started.elapsed())
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `deskbot report --json --html FILE` on `dir`: the report, wall time and peak RSS.
fn run_report(dir: &Path) -> (serde_json::Value, Duration, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskbot"));
    cmd.args(["report", "--json", "--since", "30d", "--data-dir"])
        .arg(dir)
        .arg("--html")
        .arg(dir.join("report.html"));
    let (out, elapsed, peak) = run(cmd);
    let report = serde_json::from_str(&out).expect("report JSON");
    (report, elapsed, peak)
}

/// `deskbot export` of the same store to nowhere: a full read of the store with nothing
/// computed, the baseline of what reading it costs.
fn run_export(dir: &Path, turns: usize) -> (Duration, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskbot"));
    cmd.args(["export", "--data-dir"]).arg(dir);
    let (out, elapsed, peak) = run(cmd);
    assert!(out.lines().count() > 2 * turns, "the export is too short");
    (elapsed, peak)
}

/// Runs `cmd`: its stdout, wall time and peak RSS (KiB, the child's own `ru_maxrss`).
// The child is reaped by `wait4` (which also gives its peak memory), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(mut cmd: Command) -> (String, Duration, u64) {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start deskbot");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).expect("read");
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value, and both pointers outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for elsewhere (the `Child` is not used to
    // wait); the pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "deskbot failed: {status}"
    );
    let out = reader.join().expect("reader");
    (out, elapsed, usage.ru_maxrss as u64)
}

fn measure(turns: usize, threads: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (conversations, write_time) = write_store(tmp.path(), turns, threads);
    let turns = conversations * TURNS_PER_CONVERSATION;
    println!(
        "wrote {turns} turns ({} lines, {conversations} conversations, {} tickets) in {:.1} s \
         ({:.0} turns/s); store {:.0} MiB",
        2 * turns + conversations.div_ceil(TICKET_EVERY),
        conversations.div_ceil(TICKET_EVERY),
        write_time.as_secs_f64(),
        turns as f64 / write_time.as_secs_f64(),
        dir_size(&tmp.path().join("db")) as f64 / 1_048_576.0
    );
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..3 {
        let (report, elapsed, peak_kib) = run_report(tmp.path());
        assert_eq!(
            report["user_turns"], turns as u64,
            "the report missed turns"
        );
        assert_eq!(report["conversations"], conversations as u64);
        assert_eq!(
            report["tickets_opened"],
            conversations.div_ceil(TICKET_EVERY) as u64
        );
        times.push(elapsed);
        peaks.push(peak_kib);
    }
    times.sort();
    println!(
        "report over {turns} turns: {:.2} s (median of 3; min {:.2} s, max {:.2} s), peak RSS {:.1} MiB (max of 3)",
        times[1].as_secs_f64(),
        times[0].as_secs_f64(),
        times[2].as_secs_f64(),
        *peaks.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
    let (elapsed, peak) = run_export(tmp.path(), turns);
    println!(
        "baseline, deskbot export of the same store: {:.2} s, peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        peak as f64 / 1024.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too (with a tiny size).
    let quick = !std::env::args().any(|a| a == "--bench");
    let turns = env("REPORT_TURNS", if quick { 2_000 } else { 1_000_000 }).max(20);
    let threads = env("REPORT_THREADS", 8).max(1);
    if let Ok(n) = std::env::var("REPORT_BENCH_PURE") {
        return pure(n.parse().expect("a number of turns"));
    }
    for n in [(turns / 10).max(20), turns] {
        measure_pure(n);
    }
    measure((turns / 10).max(20), threads);
    measure(turns, threads);
}

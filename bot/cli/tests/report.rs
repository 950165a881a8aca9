//! `deskbot report` through the binary, over a real sled store written with the storage API:
//! every figure of `--json` against records whose answers are known, the window, the text
//! tables, and the HTML page opened in a real headless Chromium (no console message, a
//! screenshot that is not blank and shows the charts, every chart's numbers in the DOM as
//! text, data strings escaped).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deskbot_storage::{
    ConvKey, Decision, EscalationKind, GuideStep, Platform, Rating, Speaker, Store, Ticket,
    TicketEvent, TicketEventKind, TicketStatus, TranscriptEntry, TurnWrite,
};
use serde_json::{Value, json};

const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;

/// A staff member whose name would run script in the page, and clear a terminal, if it were
/// not escaped.
const HOSTILE_STAFF: &str = "Ann <img src=x onerror=console.error(1)>\u{1b}[2J";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn step(guide: &str, step: usize) -> Option<GuideStep> {
    Some(GuideStep {
        guide: guide.into(),
        step,
    })
}

/// A decision as the desk records it.
#[derive(Clone)]
struct D(Decision);

impl D {
    /// Built from JSON, so that fields the desk adds later take their defaults here.
    fn new(lang: &str, outcome: &str) -> Self {
        D(serde_json::from_value(json!({
            "language": lang,
            "input": "text",
            "outcome": outcome,
            "latency_us": 900,
        }))
        .unwrap())
    }
    fn start(lang: &str, guide: &str) -> Self {
        let mut d = Self::new(lang, "guide_started");
        d.0.intent = Some(guide.into());
        d.0.shown = step(guide, 1);
        d
    }
    fn answer(lang: &str, act: &str, guide: &str, answered: usize, shown: Option<usize>) -> Self {
        let mut d = Self::new(lang, "none");
        d.0.act = Some(act.into());
        d.0.answered = step(guide, answered);
        d.0.shown = shown.and_then(|s| step(guide, s));
        d
    }
    fn resolved(lang: &str, guide: &str, answered: usize) -> Self {
        let mut d = Self::new(lang, "resolved");
        d.0.act = Some("affirm".into());
        d.0.answered = step(guide, answered);
        d
    }
    fn escalate(lang: &str, kind: EscalationKind, ticket: u64) -> Self {
        let mut d = Self::new(lang, "escalated");
        d.0.escalation = Some(kind);
        d.0.ticket = Some(ticket);
        d
    }
    fn fallback(mut self) -> Self {
        self.0.fallback = true;
        self
    }
}

/// Writes records with the storage API, as the desk and the relay do.
struct Writer {
    store: Store,
}

impl Writer {
    fn turn(&self, key: &ConvKey, at: u64, text: &str, d: Option<D>) {
        let mut user = TranscriptEntry::new(at, Speaker::User, text);
        user.decision = d.map(|d| Box::new(d.0));
        let bot = TranscriptEntry::new(at, Speaker::Bot, "a reply that the report never reads");
        self.store
            .commit_turn(&TurnWrite {
                key,
                state: &(),
                transcript: &[user, bot],
                tickets: &[],
                channel: None,
            })
            .unwrap();
    }

    fn staff(&self, key: &ConvKey, at: u64, text: &str) {
        self.store
            .append_transcript(key, &[TranscriptEntry::new(at, Speaker::Staff, text)])
            .unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    fn ticket(
        &self,
        number: u64,
        key: &ConvKey,
        intent: Option<&str>,
        opened: u64,
        closed: Option<u64>,
        rating: Option<Rating>,
    ) {
        let ticket = Ticket {
            number,
            conversation: key.clone(),
            display_name: None,
            intent: intent.map(str::to_string),
            confidence: None,
            steps_tried: Vec::new(),
            transcript: Vec::new(),
            status: if closed.is_some() {
                TicketStatus::Closed
            } else {
                TicketStatus::Open
            },
            opened_at_ms: opened,
            closed_at_ms: closed,
            rating,
            forgotten: false,
            priority: false,
        };
        self.store
            .commit_turn(&TurnWrite {
                key,
                state: &(),
                transcript: &[],
                tickets: &[ticket],
                channel: None,
            })
            .unwrap();
    }

    fn event(&self, number: u64, at: u64, kind: TicketEventKind, by: &str) {
        self.store
            .add_ticket_event(
                number,
                &TicketEvent {
                    at_ms: at,
                    kind,
                    by: by.into(),
                    note: None,
                },
            )
            .unwrap();
    }
}

/// The data set: seven conversations in the last 30 days (and one 40 days ago that a 30-day
/// report must leave out), four tickets in the window. Returns "now" as written.
fn write_known_records(dir: &Path) -> u64 {
    let now = now_ms();
    let w = Writer {
        store: Store::open(dir).unwrap(),
    };
    let t0 = now - 3 * DAY;
    let key = |p, u: &str| ConvKey::new(p, u);

    // u1 (Telegram, en): password_reset, no at step 1, fixed at step 2; a day later the
    // guide again (a second run), left at step 1.
    let u1 = key(Platform::Telegram, "1001");
    w.turn(
        &u1,
        t0,
        "forgot my pasword again",
        Some(D::start("en", "password_reset")),
    );
    w.turn(
        &u1,
        t0 + MIN,
        "nope",
        Some(D::answer("en", "deny", "password_reset", 1, Some(2))),
    );
    w.turn(
        &u1,
        t0 + 2 * MIN,
        "ok that did it ty",
        Some(D::resolved("en", "password_reset", 2)),
    );
    w.turn(
        &u1,
        t0 + DAY,
        "pw not working AGAIN",
        Some(D::start("en", "password_reset")),
    );

    // u6 (Telegram, en): password_reset, no at 1, back, no at 1 again (one conversation,
    // counted once), no at 2, reaches step 3 and leaves.
    let u6 = key(Platform::Telegram, "1006");
    w.turn(
        &u6,
        t0,
        "cant login password wrong",
        Some(D::start("en", "password_reset")),
    );
    w.turn(
        &u6,
        t0 + MIN,
        "no",
        Some(D::answer("en", "deny", "password_reset", 1, Some(2))),
    );
    w.turn(
        &u6,
        t0 + 2 * MIN,
        "wait go back",
        Some(D::answer("en", "back", "password_reset", 2, Some(1))),
    );
    w.turn(
        &u6,
        t0 + 3 * MIN,
        "still no",
        Some(D::answer("en", "deny", "password_reset", 1, Some(2))),
    );
    w.turn(
        &u6,
        t0 + 4 * MIN,
        "didnt work",
        Some(D::answer("en", "deny", "password_reset", 2, Some(3))),
    );

    // u2 (Telegram, ru): two_factor, no at steps 1-3, then a person: ticket #1 (guide ran
    // out), claimed and closed by the hostile name, rated up (a rated event).
    let u2 = key(Platform::Telegram, "1002");
    w.turn(
        &u2,
        t0,
        "код не приходит",
        Some(D::start("ru", "two_factor")),
    );
    w.turn(
        &u2,
        t0 + MIN,
        "нет",
        Some(D::answer("ru", "deny", "two_factor", 1, Some(2))),
    );
    w.turn(
        &u2,
        t0 + 2 * MIN,
        "не помогло",
        Some(D::answer("ru", "deny", "two_factor", 2, Some(3))),
    );
    w.turn(
        &u2,
        t0 + 3 * MIN,
        "нет",
        Some(D::answer("ru", "deny", "two_factor", 3, None)),
    );
    let open1 = t0 + 4 * MIN;
    w.ticket(
        1,
        &u2,
        Some("two_factor"),
        open1,
        Some(open1 + 10 * MIN),
        Some(Rating::Up),
    );
    w.turn(
        &u2,
        open1,
        "да",
        Some(D::escalate("ru", EscalationKind::GuideExhausted, 1)),
    );
    w.event(1, open1 + MIN, TicketEventKind::Claimed, HOSTILE_STAFF);
    w.staff(&u2, open1 + 90_000, "здравствуйте, смотрю");
    w.staff(&u2, open1 + 5 * MIN, "попробуйте ещё раз");
    w.event(1, open1 + 10 * MIN, TicketEventKind::Closed, HOSTILE_STAFF);
    w.event(1, open1 + 11 * MIN, TicketEventKind::Rated, "user");

    // u3 (Discord, en): three messages the bot did not understand, then ticket #2 (misses),
    // claimed and closed by Bob, rated down (no rated event: counted at the close).
    let u3 = key(Platform::Discord, "3003");
    let t3 = now - 2 * DAY;
    w.turn(
        &u3,
        t3,
        "whats the weather like",
        Some(D::new("en", "out_of_scope").fallback()),
    );
    w.turn(
        &u3,
        t3 + MIN,
        "asdfgh",
        Some(D::new("en", "none").fallback()),
    );
    w.ticket(
        2,
        &u3,
        None,
        t3 + 2 * MIN,
        Some(t3 + 7 * MIN),
        Some(Rating::Down),
    );
    w.turn(
        &u3,
        t3 + 2 * MIN,
        "??? hello",
        Some(D::escalate("en", EscalationKind::Misses, 2).fallback()),
    );
    w.event(2, t3 + 2 * MIN + 10_000, TicketEventKind::Claimed, "Bob");
    w.staff(&u3, t3 + 2 * MIN + 30_000, "hi, Bob here");
    w.event(2, t3 + 7 * MIN, TicketEventKind::Closed, "Bob");

    // u4 (console, es): asks for a person at once: ticket #3, still open, no reply.
    let u4 = key(Platform::Console, "lucia");
    w.ticket(3, &u4, None, now - DAY, None, None);
    w.turn(
        &u4,
        now - DAY,
        "quiero hablar con una persona",
        Some(D::escalate("es", EscalationKind::Asked, 3)),
    );

    // u5 (Telegram, en): high risk: guide shown, then ticket #4, claimed and closed by the
    // hostile name after 20 minutes, not rated. A staff line before the ticket opened is no
    // reply to it.
    let u5 = key(Platform::Telegram, "1005");
    let t5 = now - DAY;
    w.staff(&u5, t5 - MIN, "(an old staff line)");
    w.turn(
        &u5,
        t5,
        "someone hacked my mi account",
        Some(D::start("en", "account_compromised")),
    );
    w.ticket(
        4,
        &u5,
        Some("account_compromised"),
        t5 + MIN,
        Some(t5 + 21 * MIN),
        None,
    );
    w.turn(
        &u5,
        t5 + MIN,
        "they changed my email!!",
        Some(D::escalate("en", EscalationKind::HighRisk, 4)),
    );
    w.event(4, t5 + 2 * MIN, TicketEventKind::Claimed, HOSTILE_STAFF);
    w.event(4, t5 + 21 * MIN, TicketEventKind::Closed, HOSTILE_STAFF);

    // A line written before decisions were recorded.
    let legacy = key(Platform::Console, "legacy");
    w.turn(&legacy, now - 5 * DAY, "hello?", None);

    // 40 days ago: a resolved guide and ticket #5, opened, closed and rated then (by Carl).
    let old = key(Platform::Telegram, "1000");
    let t_old = now - 40 * DAY;
    w.turn(
        &old,
        t_old,
        "reset password",
        Some(D::start("en", "password_reset")),
    );
    w.turn(
        &old,
        t_old + MIN,
        "worked",
        Some(D::resolved("en", "password_reset", 1)),
    );
    w.ticket(
        5,
        &old,
        Some("password_reset"),
        t_old + 2 * MIN,
        Some(t_old + 3 * MIN),
        Some(Rating::Up),
    );
    w.turn(
        &old,
        t_old + 2 * MIN,
        "human pls",
        Some(D::escalate("en", EscalationKind::Asked, 5)),
    );
    w.event(5, t_old + 3 * MIN, TicketEventKind::Closed, "Carl");
    // ... and a staff line in the window on that old conversation: not a conversation.
    w.staff(&old, now - DAY, "following up");

    w.store.flush().unwrap();
    now
}

fn deskbot(args: &[&str]) -> Output {
    crate::common::deskbot()
        .arg("report")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn report_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--data-dir", dir.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&deskbot(&args))).unwrap()
}

fn slice(
    conversations: u64,
    user_turns: u64,
    resolved: u64,
    fallbacks: u64,
    esc: [u64; 4],
    tickets: [u64; 2],
    ratings: [u64; 2],
) -> Value {
    json!({
        "conversations": conversations,
        "user_turns": user_turns,
        "resolved_without_ticket": resolved,
        "fallback_turns": fallbacks,
        "escalations": {"asked": esc[0], "guide_exhausted": esc[1], "misses": esc[2], "high_risk": esc[3]},
        "tickets_opened": tickets[0],
        "tickets_closed": tickets[1],
        "ratings": {"up": ratings[0], "down": ratings[1]},
    })
}

#[test]
fn every_figure_of_the_json_report_matches_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_known_records(dir.path());
    let mut report = report_json(dir.path(), &[]);
    let window = report.as_object_mut().unwrap().remove("window").unwrap();
    let (since, until) = (
        window["since_ms"].as_u64().unwrap(),
        window["until_ms"].as_u64().unwrap(),
    );
    assert!(until >= before && until - before < 60_000, "{window}");
    assert_eq!(until - since, 30 * DAY, "the default period is 30 days");
    let expected = json!({
        "conversations": 7,
        "user_turns": 21,
        "turns_without_decision": 1,
        "resolved_without_ticket": 1,
        "resolved_without_ticket_share": 1.0 / 7.0,
        "escalations": {"asked": 1, "guide_exhausted": 1, "misses": 1, "high_risk": 1},
        "fallback_turns": 3,
        "fallback_rate": 3.0 / 21.0,
        "tickets_opened": 4,
        "tickets_closed": 3,
        "tickets_answered": 2,
        // First replies: 30 s (#2) and 90 s (#1); closes: 5, 10 and 20 minutes.
        "first_reply_secs_p50": 30.0,
        "first_reply_secs_p90": 90.0,
        "close_secs_p50": 600.0,
        "close_secs_p90": 1200.0,
        "ratings": {"up": 1, "down": 1},
        "ratings_by_intent": {"two_factor": {"up": 1, "down": 0}, "unknown": {"up": 0, "down": 1}},
        "ratings_by_staff": {HOSTILE_STAFF: {"up": 1, "down": 0}, "Bob": {"up": 0, "down": 1}},
        "staff": {HOSTILE_STAFF: {"claimed": 2, "closed": 2}, "Bob": {"claimed": 1, "closed": 1}},
        "per_guide": {
            // Three runs: u1's two and u6's (u6 said no to step 1 twice in its run, after
            // going back: one run that said no).
            "password_reset": {"started": 3, "resolved": 1, "steps": [
                {"step": 1, "reached": 3, "no": 2},
                {"step": 2, "reached": 2, "no": 1},
                {"step": 3, "reached": 1, "no": 0},
            ]},
            "two_factor": {"started": 1, "resolved": 0, "steps": [
                {"step": 1, "reached": 1, "no": 1},
                {"step": 2, "reached": 1, "no": 1},
                {"step": 3, "reached": 1, "no": 1},
            ]},
            "account_compromised": {"started": 1, "resolved": 0, "steps": [
                {"step": 1, "reached": 1, "no": 0},
            ]},
        },
        "by_channel": {
            "telegram": slice(4, 16, 1, 0, [0, 1, 0, 1], [2, 2], [1, 0]),
            "discord": slice(1, 3, 0, 3, [0, 0, 1, 0], [1, 1], [0, 1]),
            "console": slice(2, 2, 0, 0, [1, 0, 0, 0], [1, 0], [0, 0]),
        },
        "by_language": {
            "en": slice(4, 14, 1, 3, [0, 0, 1, 1], [2, 2], [0, 1]),
            "ru": slice(1, 5, 0, 0, [0, 1, 0, 0], [1, 1], [1, 0]),
            "es": slice(1, 1, 0, 0, [1, 0, 0, 0], [1, 0], [0, 0]),
            "unknown": slice(1, 1, 0, 0, [0, 0, 0, 0], [0, 0], [0, 0]),
        },
    });
    assert_eq!(
        report,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
}

#[test]
fn since_all_takes_in_the_old_records_and_a_short_period_leaves_out_more() {
    let dir = tempfile::tempdir().unwrap();
    write_known_records(dir.path());
    let all = report_json(dir.path(), &["--since", "all"]);
    assert_eq!(all["window"]["since_ms"], 0);
    assert_eq!(all["conversations"], 8);
    assert_eq!(all["tickets_opened"], 5);
    assert_eq!(all["tickets_closed"], 4);
    assert_eq!(all["ratings"], json!({"up": 2, "down": 1}));
    assert_eq!(all["staff"]["Carl"], json!({"claimed": 0, "closed": 1}));
    assert_eq!(all["escalations"]["asked"], 2);
    assert_eq!(all["per_guide"]["password_reset"]["started"], 4);
    assert_eq!(all["per_guide"]["password_reset"]["resolved"], 2);
    assert_eq!(
        all["resolved_without_ticket"], 1,
        "the old resolved one opened a ticket"
    );
    // The last 36 hours: u4 and u5 (tickets #3 and #4) only.
    let recent = report_json(dir.path(), &["--since", "36h"]);
    assert_eq!(recent["conversations"], 2);
    assert_eq!(recent["user_turns"], 3);
    assert_eq!(recent["tickets_opened"], 2);
    assert_eq!(recent["tickets_closed"], 1);
    assert_eq!(recent["close_secs_p50"], 1200.0);
    assert_eq!(recent["ratings"], json!({"up": 0, "down": 0}));
    assert_eq!(recent["first_reply_secs_p50"], Value::Null);
}

#[test]
fn text_tables_escape_names_and_bad_input_gets_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    write_known_records(dir.path());
    let text = ok(&deskbot(&["--data-dir", dir.path().to_str().unwrap()]));
    assert!(
        !text.contains('\u{1b}'),
        "a raw escape reached the terminal"
    );
    assert!(
        text.contains("Ann <img src=x onerror=console.error(1)>\\u{1b}[2J"),
        "{text}"
    );
    for line in [
        "conversations                         7\n",
        "resolved without a ticket             1 (14.3 %)\n",
        "fallback turns (not understood)       3 (14.3 %)\n",
        "first staff reply p50 / p90           30s / 1m 30s (2 answered)\n",
        "time to close p50 / p90               10m 00s / 20m 00s\n",
        "user turns without a decision record  1\n",
        "Channel   conversations  resolved w/o ticket  user turns  fallbacks  escalations  opened  closed  up  down\n",
        "discord               1                    0           3          3            1       1       1   0     1\n",
        "ru                    1                    0           5          0            1       1       1   1     0\n",
        "guide ran out             1\n",
        "  password_reset: started 3, resolved 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The funnel's columns line up (numbers right-aligned under their headers).
    let funnel: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("  password_reset"))
        .skip(1)
        .take(4)
        .collect();
    assert_eq!(
        funnel,
        [
            "    step  reached  said no",
            "    1           3        2",
            "    2           2        1",
            "    3           1        0",
        ]
    );

    let missing = dir.path().join("nothing-here");
    let out = deskbot(&["--data-dir", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));
    assert!(!missing.exists(), "a report must not create a database");
    let out = deskbot(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--since",
        "a while",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected a duration such as 30d"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- HTML in a real headless Chromium --------------------------------------------------

/// The Chromium to run: `DESKBOT_CHROMIUM`, else the first of the usual names on `PATH`.
/// Fails the test, saying how to get one, when there is none: `.ci/run` installs it.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("DESKBOT_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "chromium-headless-shell",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no Chromium found (looked for chromium, chromium-browser, google-chrome and \
         chromium-headless-shell on PATH): the HTML report test needs a real browser. Install it \
         (`apt-get install chromium`; .ci/run does) or set DESKBOT_CHROMIUM to its path."
    );
}

/// Runs headless Chromium on `page` with `args`; returns its stdout and stderr. Killed after
/// two minutes.
fn run_chromium(page: &Path, profile: &Path, args: &[String]) -> (String, String) {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let mut guard = deskbot_tests::child::Guard(Some(child));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if guard.0.as_mut().unwrap().try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Chromium did not finish in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    guard.0.take();
    (out.join().unwrap(), err.join().unwrap())
}

/// The page's console messages, from Chromium's log (`…:INFO:CONSOLE:3] "text", source: …`).
/// The page has no script, so any message at all (an error, a warning about the markup) is a
/// fault.
fn console_messages(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(out.trim())
}

/// The text of every element `<tag …>…</tag>` in `html`.
fn elements(html: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<th` must not match `<thead`.
        if !after.starts_with(['>', ' ']) {
            rest = after;
            continue;
        }
        let Some(end) = after.find(&close) else { break };
        out.push(strip_tags(&format!("<{}", &after[..end])));
        rest = &after[end + close.len()..];
    }
    out
}

/// Each chart of the dumped DOM: its `data-chart` id, the SVG's text labels, the table's
/// header and rows.
struct ChartInDom {
    id: String,
    svg_texts: Vec<String>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn charts_in(dom: &str) -> Vec<ChartInDom> {
    let marker = "<figure class=\"chart\" data-chart=\"";
    let mut out = Vec::new();
    for part in dom.split(marker).skip(1) {
        let part = &part[..part.find("</figure>").expect("figure closed")];
        let id = decode_entities(&part[..part.find('"').unwrap()]);
        let svg = part
            .find("<svg")
            .map(|i| &part[i..part.find("</svg>").unwrap()]);
        let table = part.find("<table").map(|i| &part[i..]);
        let rows = table
            .map(|t| {
                t.split("<tr>")
                    .skip(2)
                    .map(|tr| {
                        let tr = &tr[..tr.find("</tr>").unwrap()];
                        let mut cells = elements(tr, "th");
                        cells.extend(elements(tr, "td"));
                        cells
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ChartInDom {
            id,
            svg_texts: svg.map(|s| elements(s, "text")).unwrap_or_default(),
            header: table
                .map(|t| elements(&t[..t.find("</thead>").unwrap()], "th"))
                .unwrap_or_default(),
            rows,
        });
    }
    out
}

/// A chart's id, its table's header and rows.
type ChartTable = (String, Vec<&'static str>, Vec<Vec<String>>);

/// What each chart must show, from the JSON report.
fn expected_charts(r: &Value) -> Vec<ChartTable> {
    let n = |v: &Value| v.as_u64().unwrap().to_string();
    let esc = &r["escalations"];
    let mut out = vec![(
        "escalations".to_string(),
        vec!["reason", "tickets"],
        [
            ("asked for a person", "asked"),
            ("guide ran out", "guide_exhausted"),
            ("repeated misses", "misses"),
            ("high risk", "high_risk"),
        ]
        .iter()
        .map(|(label, key)| vec![label.to_string(), n(&esc[key])])
        .collect(),
    )];
    for (guide, f) in r["per_guide"].as_object().unwrap() {
        out.push((
            format!("guide:{guide}"),
            vec!["step", "reached", "said no"],
            f["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| vec![format!("step {}", s["step"]), n(&s["reached"]), n(&s["no"])])
                .collect(),
        ));
    }
    for (id, key, header) in [
        ("channels", "by_channel", "channel"),
        ("languages", "by_language", "language"),
    ] {
        out.push((
            id.to_string(),
            vec![
                header,
                "conversations",
                "resolved without a ticket",
                "tickets opened",
            ],
            r[key]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, s)| {
                    vec![
                        k.clone(),
                        n(&s["conversations"]),
                        n(&s["resolved_without_ticket"]),
                        n(&s["tickets_opened"]),
                    ]
                })
                .collect(),
        ));
    }
    let shown = |k: &str| k.replace('\u{1b}', "\\u{1b}");
    for (id, key, header, a, b) in [
        (
            "ratings-intent",
            "ratings_by_intent",
            "intent",
            "up",
            "down",
        ),
        (
            "ratings-staff",
            "ratings_by_staff",
            "staff member",
            "up",
            "down",
        ),
        ("staff", "staff", "staff member", "claimed", "closed"),
    ] {
        out.push((
            id.to_string(),
            vec![header, a, b],
            r[key]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| vec![shown(k), n(&v[a]), n(&v[b])])
                .collect(),
        ));
    }
    out
}

#[test]
fn the_html_report_loads_in_chromium_with_its_numbers_as_text() {
    let dir = tempfile::tempdir().unwrap();
    write_known_records(dir.path());
    let page = dir.path().join("report.html");
    let out = deskbot(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    for external in [
        "<script",
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(external),
            "the page is not self-contained: {external}"
        );
    }
    assert!(
        html.contains("Ann &lt;img src=x onerror=console.error(1)&gt;\\u{1b}[2J"),
        "the staff name is not escaped"
    );
    assert!(!html.contains("<img"));

    let profile = tempfile::tempdir().unwrap();

    // The console check catches what it is meant to: a page that logs an error and has
    // markup Chromium complains about.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><svg width=\"10\" height=\"10\"><rect height=\"-1\"/></svg>\
         <script>console.error('broken')</script></body></html>",
    )
    .unwrap();
    let (_, log) = run_chromium(&bad, profile.path(), &["--dump-dom".into()]);
    let messages = console_messages(&log);
    assert!(
        messages.iter().any(|m| m.contains("broken"))
            && messages.iter().any(|m| m.contains("negative value")),
        "the console check misses errors: {messages:?}\n{log}"
    );

    // The report: no console message, the DOM as Chromium built it.
    let (dom, log) = run_chromium(&page, profile.path(), &["--dump-dom".into()]);
    assert_eq!(
        console_messages(&log),
        Vec::<&str>::new(),
        "console messages"
    );
    assert!(
        dom.contains("<h1>deskbot report</h1>"),
        "no page in the DOM: {dom}"
    );
    assert!(!dom.contains("<img"), "a staff name became markup");

    // Every chart: its numbers in its table, as the JSON says, and every number drawn in the
    // chart is in the table.
    let charts = charts_in(&dom);
    let expected = expected_charts(&report);
    assert_eq!(
        charts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        expected.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        "the page's charts"
    );
    for (chart, (id, header, rows)) in charts.iter().zip(&expected) {
        if rows.is_empty() {
            assert!(chart.svg_texts.is_empty() && chart.rows.is_empty(), "{id}");
            continue;
        }
        assert_eq!(&chart.header, header, "{id}: table header");
        assert_eq!(&chart.rows, rows, "{id}: table rows");
        let numbers_in_table: Vec<&String> = chart.rows.iter().flat_map(|r| &r[1..]).collect();
        let drawn: Vec<&String> = chart
            .svg_texts
            .iter()
            .filter(|t| t.parse::<u64>().is_ok())
            .collect();
        assert_eq!(
            drawn.len(),
            numbers_in_table.len(),
            "{id}: one value label per bar: {:?}",
            chart.svg_texts
        );
        assert_eq!(
            drawn, numbers_in_table,
            "{id}: the chart's labels are the table's numbers"
        );
        for row in rows {
            assert!(
                chart
                    .svg_texts
                    .iter()
                    .any(|t| *t == row[0] || row[0].starts_with(t.trim_end_matches('…'))),
                "{id}: category {:?} not drawn: {:?}",
                row[0],
                chart.svg_texts
            );
        }
    }
    assert!(expected.iter().any(|e| e.0 == "guide:password_reset"));

    // A phone-sized screenshot that is not blank and shows the charts' colours.
    let shot = dir.path().join("shot.png");
    let (_, log) = run_chromium(
        &page,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=390,844".into(),
        ],
    );
    assert_eq!(
        console_messages(&log),
        Vec::<&str>::new(),
        "console messages"
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (390, 844));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let luma: Vec<f64> = pixels
        .iter()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let variance = luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64;
    assert!(
        variance > 100.0,
        "the screenshot is (nearly) blank: variance {variance:.1}"
    );
    let dark = luma.iter().filter(|&&l| l < 100.0).count();
    assert!(
        dark > 2_000,
        "hardly any text on the screen: {dark} dark pixels"
    );
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 12);
    let bars = pixels
        .iter()
        .filter(|p| near(p, [0x2f, 0x6d, 0xb5]))
        .count();
    assert!(
        bars > 500,
        "no chart bars on the first screen: {bars} bar-coloured pixels"
    );
}

// --- The scripted run (must-show 1) ------------------------------------------------------

/// `deskbot report --json` after the scripted run of a few hundred conversations through
/// `deskbot chat --json-input` (`scripted_run.rs`), every figure against what the script did.
#[test]
fn the_report_of_the_scripted_run_matches_what_the_script_did() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::scripted_run::run(dir.path());
    assert!(e.conversations >= 200, "{} conversations", e.conversations);
    let r = report_json(dir.path(), &["--since", "1d"]);
    let n = |v: usize| json!(v as u64);

    assert_eq!(r["conversations"], n(e.conversations));
    assert_eq!(r["user_turns"], n(e.user_messages));
    assert_eq!(r["turns_without_decision"], 0);
    assert_eq!(r["resolved_without_ticket"], n(e.resolved_without_ticket));
    assert_eq!(
        r["resolved_without_ticket_share"],
        json!(e.resolved_without_ticket as f64 / e.conversations as f64)
    );
    assert_eq!(
        r["escalations"],
        serde_json::to_value(e.escalations).unwrap()
    );
    assert_eq!(r["fallback_turns"], n(e.fallback_turns));
    assert_eq!(
        r["fallback_rate"],
        json!(e.fallback_turns as f64 / e.user_messages as f64)
    );
    assert_eq!(r["tickets_opened"], n(e.tickets_opened));
    assert_eq!(r["tickets_closed"], n(e.tickets_closed));
    assert_eq!(r["ratings"], serde_json::to_value(e.ratings).unwrap());
    assert_eq!(
        r["ratings_by_intent"],
        serde_json::to_value(&e.ratings_by_intent).unwrap()
    );
    assert_eq!(
        r["ratings_by_staff"],
        serde_json::to_value(&e.ratings_by_staff).unwrap()
    );
    // Staff closed with `deskbot tickets close` (the `operator`); nobody claimed.
    assert_eq!(
        r["staff"],
        json!({"operator": {"claimed": 0, "closed": e.tickets_closed}})
    );
    // Nobody from staff wrote to a user in the run: no first reply to measure.
    assert_eq!(r["tickets_answered"], 0);
    assert_eq!(r["first_reply_secs_p50"], Value::Null);
    assert_eq!(r["first_reply_secs_p90"], Value::Null);
    // Closes happened within the run, after the tickets opened.
    let (p50, p90) = (
        r["close_secs_p50"].as_f64().unwrap(),
        r["close_secs_p90"].as_f64().unwrap(),
    );
    assert!(
        (0.0..600.0).contains(&p50) && p50 <= p90 && p90 < 600.0,
        "{p50} {p90}"
    );

    // The funnels: the same guides, and every step's figures (the report lists steps up to
    // the last one anyone reached; the script lists every step of the guide: the ones past
    // the report's end must be zeros).
    let guides = r["per_guide"].as_object().unwrap();
    assert_eq!(
        guides.keys().collect::<Vec<_>>(),
        e.per_guide.keys().collect::<Vec<_>>()
    );
    for (id, f) in &e.per_guide {
        let g = &guides[id];
        assert_eq!(g["started"], n(f.started), "{id} started");
        assert_eq!(g["resolved"], n(f.resolved), "{id} resolved");
        let steps = g["steps"].as_array().unwrap();
        assert!(steps.len() <= f.steps.len().max(1), "{id}: {steps:?}");
        for (k, want) in f.steps.iter().enumerate() {
            let got = steps.get(k);
            assert_eq!(
                got.map_or(json!(k + 1), |s| s["step"].clone()),
                json!(k + 1),
                "{id}"
            );
            assert_eq!(
                got.map_or(json!(0), |s| s["reached"].clone()),
                n(want.reached),
                "{id} step {} reached",
                k + 1
            );
            assert_eq!(
                got.map_or(json!(0), |s| s["no"].clone()),
                n(want.no),
                "{id} step {} no",
                k + 1
            );
        }
    }

    // By language: conversations as the script counted them (a language a few turns were
    // answered in has a slice without conversations), and the slices add up.
    let by_language = r["by_language"].as_object().unwrap();
    assert_eq!(
        by_language
            .iter()
            .map(|(k, s)| (k.clone(), s["conversations"].as_u64().unwrap() as usize))
            .filter(|(_, n)| *n > 0)
            .collect::<std::collections::BTreeMap<_, _>>(),
        e.conversations_by_language
    );
    for key in [
        "user_turns",
        "fallback_turns",
        "tickets_opened",
        "tickets_closed",
    ] {
        let sum: u64 = by_language.values().map(|s| s[key].as_u64().unwrap()).sum();
        assert_eq!(json!(sum), r[key], "by_language {key}");
    }
    // One channel: the console, with every figure.
    assert_eq!(
        r["by_channel"],
        json!({"console": {
            "conversations": e.conversations,
            "user_turns": e.user_messages,
            "resolved_without_ticket": e.resolved_without_ticket,
            "fallback_turns": e.fallback_turns,
            "escalations": e.escalations,
            "tickets_opened": e.tickets_opened,
            "tickets_closed": e.tickets_closed,
            "ratings": e.ratings,
        }})
    );
}

//! The scripted run of issue #16 (must-show 1 and 2): a few hundred conversations through
//! `deskbot chat --json-input`, written the way people write to support (typos, lower case,
//! capitals when angry, Spanish), with tickets closed by staff commands (`deskbot tickets
//! close`) and rated by their users.
//!
//! [`run`] drives the bot reply by reply and returns what it did as [`Expected`]: the figures
//! `deskbot report --json` must show (`tests/report.rs`) and the messages `deskbot review`
//! must list (`tests/review.rs`). Every figure is counted from the bot's actual JSON replies
//! (what started, which step showed, what was read as a "no", which reply was a fallback),
//! and every conversation asserts that its plan held (one meant to resolve at step 3 did, a
//! high-risk case became a priority ticket, a message meant as out of scope was judged so),
//! so a change in the bot's behaviour fails here with the conversation named, instead of
//! silently changing what the reports are checked against.
//!
//! One `deskbot chat --json-input` process serves every user of a phase (n-grams only, no
//! embeddings): phase 1 is all the conversations, then staff close four tickets with
//! `deskbot tickets close` (one process each: the database has one writer at a time), then
//! phase 2 is the ratings and a waiting user asking for news.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// How long one reply may take before the run is declared hung.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Why tickets were opened, as the report groups escalations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Escalations {
    /// The user asked for a person (`/human`, "get me a human", the offer's button text).
    pub asked: usize,
    /// A guide ran out of steps and the user accepted the offer of a person.
    pub guide_exhausted: usize,
    /// The bot did not understand twice in a row and the user accepted the offer.
    pub misses: usize,
    /// A high-risk case (account takeover): a priority ticket, whatever led to it.
    pub high_risk: usize,
}

/// One step of a guide's funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepFigures {
    /// Guide runs that showed this step (once per run, however often it was shown).
    pub reached: usize,
    /// Answers read as a "no" (act `deny`) given to this step.
    pub no: usize,
}

/// One guide's funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Runs started (outcome `guide_started` with this guide).
    pub started: usize,
    /// Runs that ended resolved (the user said it worked).
    pub resolved: usize,
    /// One entry per step the user sees (the guide's `steps` in the chat JSON), first first.
    pub steps: Vec<StepFigures>,
}

/// Ratings given after a ticket closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratings {
    /// 👍
    pub up: usize,
    /// 👎
    pub down: usize,
}

/// A message the bot did not understand, as `deskbot review` must list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misunderstood {
    /// Who wrote it.
    pub user: String,
    /// What they wrote (no secrets in it: the transcript keeps it as is).
    pub text: String,
    /// Why it counts: `out_of_scope`, `low_confidence`, `guide_fallback`,
    /// `suggestion_ignored` or `reworded` (see `bot/cli/src/review/inbox.rs`).
    pub reason: String,
    /// The language the bot answered in.
    pub language: String,
}

/// What the scripted run did. Every conversation is one user (`console:<user>`); all of it
/// happens within a minute or two of the call, so any `--since` of a day or more covers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Expected {
    /// Conversations (distinct users who wrote at least one message).
    pub conversations: usize,
    /// Messages users sent (typed text and commands; every line the run fed the bot).
    pub user_messages: usize,
    /// Conversations in which a guide ended resolved and no ticket was opened.
    pub resolved_without_ticket: usize,
    /// Tickets opened.
    pub tickets_opened: usize,
    /// Tickets closed by staff (`deskbot tickets close`, recorded as by `operator`).
    pub tickets_closed: usize,
    /// Tickets opened, by why.
    pub escalations: Escalations,
    /// Per guide id (only guides that were started).
    pub per_guide: BTreeMap<String, Funnel>,
    /// User messages after which the bot said it did not understand: judged out of scope,
    /// an answer inside a guide it could not read, "none of these" to a "did you mean"
    /// (the turns whose decision record has `fallback`).
    pub fallback_turns: usize,
    /// Ratings given.
    pub ratings: Ratings,
    /// Ratings per intent of the rated ticket.
    pub ratings_by_intent: BTreeMap<String, Ratings>,
    /// Ratings per staff member who closed the rated ticket (`operator` for the CLI).
    pub ratings_by_staff: BTreeMap<String, Ratings>,
    /// Conversations per language the bot answered in (`en`, `es`).
    pub conversations_by_language: BTreeMap<String, usize>,
    /// The numbers of the tickets closed, in the order they were closed.
    pub closed_tickets: Vec<u64>,
    /// Every message `deskbot review` must list, in the order they were sent (identical
    /// texts from several users are one review row with a count).
    pub misunderstood: Vec<Misunderstood>,
}

/// Runs the whole script against the data directory `dir` (empty or new) and returns what
/// it did. Panics, naming the user, when the bot did not do what a conversation planned.
pub fn run(dir: &Path) -> Expected {
    let strings = FallbackTexts::load();
    let mut rng = Rng(0x0016_5eed);
    let mut tracker = Tracker::new(strings);
    let plans = plans(&mut rng);
    let started = std::time::Instant::now();
    {
        let mut chat = Chat::start(dir);
        for (i, plan) in plans.iter().enumerate() {
            let user = format!("u{i:03}");
            let mut conv = Conv {
                chat: &mut chat,
                tracker: &mut tracker,
                user,
                lang: plan.lang(),
                rng: &mut rng,
            };
            conv.play(plan);
        }
        chat.finish();
    }
    let phase1 = started.elapsed();
    // Staff close tickets of each kind; three of their users rate, one does not.
    let closing: Vec<(u64, Option<&str>)> = tracker.pick_tickets_to_close();
    for (number, _) in &closing {
        close_ticket(dir, *number);
        tracker.closed(*number);
    }
    let closes = started.elapsed() - phase1;
    {
        let mut chat = Chat::start(dir);
        for (number, rating) in &closing {
            let Some(text) = rating else { continue };
            let user = tracker.ticket_user(*number);
            let reply = chat.say(&user, text);
            tracker.observe(&user, text, &reply);
            assert_eq!(reply["outcome"], "rated", "{user} rating {text}: {reply}");
            tracker.rated(*number, text.contains('👍'));
        }
        // A user still waiting asks for news: added to their ticket, understood.
        let waiting = tracker.open_ticket_user();
        let reply = chat.say(&waiting, "any news on my ticket??");
        tracker.observe(&waiting, "any news on my ticket??", &reply);
        assert_eq!(reply["outcome"], "addedtoticket", "{waiting}: {reply}");
        chat.finish();
    }
    eprintln!(
        "scripted run: conversations {phase1:?}, {} closes {closes:?}, ratings {:?}",
        closing.len(),
        started.elapsed() - phase1 - closes
    );
    tracker.expected()
}

/// `deskbot tickets close N` as an operator runs it.
fn close_ticket(dir: &Path, number: u64) {
    let out = crate::common::deskbot()
        .args([
            "tickets",
            "close",
            &number.to_string(),
            "--note",
            "sorted on the phone",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("deskbot tickets close runs");
    assert!(
        out.status.success(),
        "tickets close {number}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `deskbot chat --json-input`: one line in, one JSON reply out.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<String>,
}

impl Chat {
    fn start(dir: &Path) -> Chat {
        let mut child = crate::common::deskbot()
            .args(["chat", "--json-input", "--no-embeddings", "--data-dir"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("deskbot chat starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Chat {
            child,
            stdin,
            replies,
        }
    }

    fn say(&mut self, user: &str, text: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("chat is running");
        writeln!(stdin, "{}", json!({"user": user, "text": text})).expect("write to deskbot");
        stdin.flush().expect("flush");
        let line = match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                panic!("no reply from deskbot to {user}: {text:?}: {e}");
            }
        };
        let reply: Value = serde_json::from_str(&line).expect("a JSON reply");
        assert_eq!(reply["user"], user, "{reply}");
        assert_eq!(reply["text"], text, "{reply}");
        reply
    }

    /// Closes stdin and waits for the process to flush and exit.
    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("deskbot chat exits");
        assert!(status.success(), "deskbot chat failed: {status}");
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The beginnings of the bot's "I did not understand" replies, in each language the script
/// speaks, read from the catalog's strings.
struct FallbackTexts(Vec<String>);

impl FallbackTexts {
    fn load() -> Self {
        let mut out = Vec::new();
        for lang in ["en", "es"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../intents/lang")
                .join(lang)
                .join("strings.toml");
            let text = std::fs::read_to_string(&path).expect("catalog strings");
            let table: toml::Table = toml::from_str(&text).expect("strings parse");
            let strings = table["strings"].as_table().expect("[strings]");
            for key in [
                "miss_lead",
                "missed_in_guide",
                "missed_twice",
                "no_suggestion_fits",
            ] {
                let s = strings[key].as_str().expect("a string");
                out.push(s.to_string());
            }
        }
        Self(out)
    }

    /// Whether `reply` is a fallback: judged out of scope, or one of the "I did not follow"
    /// replies.
    fn is_fallback(&self, reply: &Value) -> bool {
        let text = reply["reply"].as_str().unwrap_or("");
        reply["outcome"] == "outofscope" || self.0.iter().any(|s| text.contains(s.as_str()))
    }
}

/// Why the bot offered a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    Exhausted,
    Misses,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Asked,
    Exhausted,
    Misses,
    HighRisk,
}

#[derive(Debug, Clone)]
struct TicketInfo {
    user: String,
    why: Why,
    intent: Option<String>,
    closed: bool,
}

#[derive(Debug, Default)]
struct UserState {
    last: Option<Value>,
    reached: BTreeSet<usize>,
    offer: Option<Offer>,
    guide: Option<String>,
    resolved: bool,
    ticketed: bool,
    language: String,
}

/// Counts everything from the replies.
struct Tracker {
    fallback: FallbackTexts,
    users: BTreeMap<String, UserState>,
    per_guide: BTreeMap<String, Funnel>,
    tickets: BTreeMap<u64, TicketInfo>,
    e: Expected,
}

impl Tracker {
    fn new(fallback: FallbackTexts) -> Self {
        Self {
            fallback,
            users: BTreeMap::new(),
            per_guide: BTreeMap::new(),
            tickets: BTreeMap::new(),
            e: Expected::default(),
        }
    }

    /// Counts one turn; returns whether the reply was a fallback.
    fn observe(&mut self, user: &str, text: &str, reply: &Value) -> bool {
        self.e.user_messages += 1;
        let fallback = self.fallback.is_fallback(reply);
        if fallback {
            self.e.fallback_turns += 1;
        }
        let u = self.users.entry(user.to_string()).or_default();
        let prev = u.last.take().unwrap_or(Value::Null);
        let outcome = reply["outcome"].as_str().unwrap_or("");
        let state = reply["state"].as_str().unwrap_or("");
        let was_in_guide = prev["state"] == "guide";
        if was_in_guide && reply["act"] == "deny" {
            let guide = prev["guide"].as_str().expect("guide");
            let step = prev["step"].as_u64().expect("step") as usize;
            funnel(&mut self.per_guide, guide, &prev).steps[step - 1].no += 1;
        }
        if outcome == "guidestarted" {
            u.reached.clear();
            let guide = reply["guide"].as_str().expect("a started guide");
            u.guide = Some(guide.to_string());
            funnel(&mut self.per_guide, guide, reply).started += 1;
        }
        if state == "guide" {
            let guide = reply["guide"].as_str().expect("guide");
            let step = reply["step"].as_u64().expect("step") as usize;
            if u.reached.insert(step) {
                funnel(&mut self.per_guide, guide, reply).steps[step - 1].reached += 1;
            }
        }
        if outcome == "resolved" {
            assert!(was_in_guide, "{user}: resolved outside a guide: {text:?}");
            let guide = prev["guide"].as_str().expect("guide");
            funnel(&mut self.per_guide, guide, &prev).resolved += 1;
            u.resolved = true;
        }
        if state == "offer_human" && prev["state"] != "offer_human" {
            u.offer = Some(if fallback || !was_in_guide {
                Offer::Misses
            } else {
                Offer::Exhausted
            });
        }
        if outcome == "escalated" {
            let number = reply["ticket"].as_u64().expect("a ticket number");
            let why = if reply["priority"] == true {
                Why::HighRisk
            } else if prev["state"] == "offer_human" {
                match u.offer {
                    Some(Offer::Exhausted) => Why::Exhausted,
                    _ => Why::Misses,
                }
            } else {
                Why::Asked
            };
            self.e.tickets_opened += 1;
            match why {
                Why::Asked => self.e.escalations.asked += 1,
                Why::Exhausted => self.e.escalations.guide_exhausted += 1,
                Why::Misses => self.e.escalations.misses += 1,
                Why::HighRisk => self.e.escalations.high_risk += 1,
            }
            u.ticketed = true;
            self.tickets.insert(
                number,
                TicketInfo {
                    user: user.to_string(),
                    why,
                    intent: u.guide.clone(),
                    closed: false,
                },
            );
        }
        u.last = Some(reply.clone());
        fallback
    }

    /// Tickets for staff to close, with the rating their user will give: two whose guide ran
    /// out, a high-risk one, one asked for at once (no rating).
    fn pick_tickets_to_close(&self) -> Vec<(u64, Option<&'static str>)> {
        let first = |why: Why, skip: usize| {
            self.tickets
                .iter()
                .filter(|(_, t)| t.why == why && t.intent.is_some())
                .nth(skip)
                .map(|(n, _)| *n)
                .unwrap_or_else(|| panic!("no {why:?} ticket to close"))
        };
        let asked = self
            .tickets
            .iter()
            .find(|(_, t)| t.why == Why::Asked)
            .map(|(n, _)| *n)
            .expect("an asked-for ticket");
        vec![
            (first(Why::Exhausted, 0), Some("👍")),
            (first(Why::HighRisk, 0), Some("👍")),
            (first(Why::Exhausted, 1), Some("👎")),
            (asked, None),
        ]
    }

    fn closed(&mut self, number: u64) {
        let t = self.tickets.get_mut(&number).expect("a known ticket");
        t.closed = true;
        self.e.tickets_closed += 1;
        self.e.closed_tickets.push(number);
    }

    fn ticket_user(&self, number: u64) -> String {
        self.tickets[&number].user.clone()
    }

    fn open_ticket_user(&self) -> String {
        self.tickets
            .values()
            .find(|t| !t.closed)
            .map(|t| t.user.clone())
            .expect("a ticket still open")
    }

    fn rated(&mut self, number: u64, up: bool) {
        let t = &self.tickets[&number];
        let intent = t.intent.clone().expect("rated tickets have an intent");
        for r in [
            &mut self.e.ratings,
            self.e.ratings_by_intent.entry(intent).or_default(),
        ] {
            if up {
                r.up += 1;
            } else {
                r.down += 1;
            }
        }
        let r = self
            .e
            .ratings_by_staff
            .entry("operator".into())
            .or_default();
        if up {
            r.up += 1;
        } else {
            r.down += 1;
        }
    }

    fn expected(mut self) -> Expected {
        self.e.conversations = self.users.len();
        self.e.resolved_without_ticket = self
            .users
            .values()
            .filter(|u| u.resolved && !u.ticketed)
            .count();
        for u in self.users.values() {
            *self
                .e
                .conversations_by_language
                .entry(u.language.clone())
                .or_default() += 1;
        }
        self.e.per_guide = self.per_guide;
        self.e
    }
}

/// The funnel of `guide`, sized by the step count in `reply`.
fn funnel<'a>(
    per_guide: &'a mut BTreeMap<String, Funnel>,
    guide: &str,
    reply: &Value,
) -> &'a mut Funnel {
    let f = per_guide.entry(guide.to_string()).or_default();
    if let Some(steps) = reply["steps"].as_u64() {
        let steps = steps as usize;
        if f.steps.len() < steps {
            f.steps.resize(steps, StepFigures::default());
        }
    }
    f
}

/// A small deterministic generator (xorshift), so every run says the same things.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// What one conversation is meant to do.
#[derive(Debug, Clone)]
enum Plan {
    /// Open `guide` with `opening`, say no until step `at`, then say it worked.
    Resolve {
        opening: &'static str,
        guide: &'static str,
        at: usize,
        greet_first: bool,
    },
    /// Like `Resolve`, with a message the bot cannot read at step `at` first.
    ResolveAfterGibberish {
        opening: &'static str,
        guide: &'static str,
        at: usize,
    },
    /// Say no to every step; accept the offer of a person (`accept`) or not.
    Exhaust {
        opening: &'static str,
        guide: &'static str,
        accept: bool,
    },
    /// Ask for a person at step `at` of the guide.
    AskInGuide {
        opening: &'static str,
        guide: &'static str,
        at: usize,
    },
    /// Ask for a person straight away.
    AskAtOnce,
    /// A taken-over account: ask for a person at once, or say no through the whole guide.
    HighRisk {
        opening: &'static str,
        through_guide: bool,
    },
    /// Out of scope, then (maybe) a real problem resolved at step 1, or goodbye.
    OutOfScope {
        text: &'static str,
        then: Option<(&'static str, &'static str)>,
    },
    /// Out of scope twice: the bot offers a person, who is accepted.
    OutOfScopeTwice {
        first: &'static str,
        second: &'static str,
    },
    /// Two unreadable answers in a guide: the bot offers a person, who is accepted.
    GibberishTwice {
        opening: &'static str,
        guide: &'static str,
    },
    /// A vague or unsure message ("did you mean"), then: pick a suggested guide and resolve
    /// it, say none fits, or describe another problem (a guide not suggested).
    Unsure {
        text: &'static str,
        then: UnsureThen,
    },
    /// A message that starts the wrong guide, then the same problem in other words: another
    /// guide starts (`Some`), or the user stops the guide at once (`None`).
    Reworded {
        first: &'static str,
        wrong: &'static str,
        second: Option<(&'static str, &'static str)>,
    },
    /// Leave the guide at step 2.
    Leave {
        opening: &'static str,
        guide: &'static str,
    },
    /// In Spanish: resolve at step `at`, or an out-of-scope question.
    Spanish {
        opening: &'static str,
        guide: Option<&'static str>,
        at: usize,
    },
}

#[derive(Debug, Clone, Copy)]
enum UnsureThen {
    Pick(&'static str, &'static str),
    NoneFits,
    Other(&'static str, &'static str),
}

impl Plan {
    fn lang(&self) -> &'static str {
        match self {
            Plan::Spanish { .. } => "es",
            _ => "en",
        }
    }
}

/// How people open each guide (none of it copied from the catalog's examples).
const OPENINGS: &[(&str, &[&str])] = &[
    (
        "password_reset",
        &[
            "forgot my mi pasword, cant remember it at all",
            "i dont remember the password for my xiaomi acount",
            "how do i make a new password?? forgot the old one",
            "pasword forgoten pls help",
            "FORGOT MY PASSWORD AGAIN. how do i reset it",
        ],
    ),
    (
        "two_factor",
        &[
            "the verification code sms never arrives",
            "not getting the code on my phone when i login",
            "waiting 20 min for the sms code nothing came",
            "code never comes, tried 5 times already!!!",
        ],
    ),
    (
        "account_locked",
        &[
            "my acount is locked it says try again later",
            "locked out",
            "it says my account is locked for 24 hours wtf",
        ],
    ),
    (
        "credentials",
        &[
            "it says wrong password but im 100% sure its right",
            "says account doesnt exist but i made one last year",
            "where do i find my mi account id",
        ],
    ),
    (
        "connectivity",
        &[
            "login page wont load just spins forever",
            "network error every single time i try to sign in",
        ],
    ),
    (
        "cloud_sync",
        &[
            "my photos arent syncing to mi cloud anymore",
            "contacts not backing up to the cloud since monday",
        ],
    ),
    (
        "device_not_recognized",
        &["it says unrecognized device when i log in on my new phone"],
    ),
    (
        "region_block",
        &["says service not available in your region"],
    ),
    (
        "security_alert",
        &["got an email saying someone signed in from another country"],
    ),
    (
        "activation_lock",
        &["bought a used phone and it asks for previous owners mi account"],
    ),
    (
        "app_sync",
        &[
            "mi fitness app wont sync after i logged in",
            "it keeps logging me out of the mi account every day",
        ],
    ),
    (
        "two_factor_recovery",
        &[
            "lost my phone and cant get the verification code anymore",
            "the number on my account is old",
        ],
    ),
];

const HIGH_RISK: &[&str] = &[
    "someone hacked my account and changed my email",
    "i think my acount got hacked, password changed not by me",
    "hacked",
];

const DENY: &[&str] = &[
    "no",
    "nope didnt work",
    "still not workin",
    "no luck at all",
    "nah its still broke",
    "didnt help",
    "no. same error",
    "still the same thing",
];
const AFFIRM: &[&str] = &[
    "yea that sorted it",
    "yes!! that did it, thx",
    "yess im in now thanks",
    "it worked!!",
    "ok that fixed it",
    "yep all good now",
    "yes",
];
const GIBBERISH: &[&str] = &["asdfgh", "kjhkjh", "banana", "pizza", "lkjlkj", "qwerty"];
const ASK_PERSON: &[&str] = &[
    "i want to talk to a real person",
    "can i speak to someone from support",
    "get me a human pls",
    "/human",
    "let me talk to an agent",
];
const ACCEPT: &[&str] = &["yes please", "yes", "yeah pls", "ok yes"];
const DECLINE: &[&str] = &["no thanks", "same problem"];
const OUT_OF_SCOPE: &[&str] = &[
    "how much does a redmi note 13 cost",
    "whats the weather like today",
    "can you recommend a good phone case",
    "my mi band battery dies in a day",
    "do you ship to canada",
    "my robot vacuum keeps beeping",
];
const VAGUE: &[&str] = &[
    "it doesnt work",
    "help",
    "i have a problem",
    "cant login",
    "login problem",
    "mi account issue",
];
const UNSURE: &[&str] = &[
    "phone says verify your identity and then nothing",
    "my account got deleted??",
    "sign in with google button does nothing",
];
const GREETINGS: &[&str] = &["hi", "hey", "hiii good morning"];
const ES_DENY: &[&str] = &["no", "sigue igual", "no funciono"];
const ES_AFFIRM: &[&str] = &["si ya funciono gracias", "listo ya entre"];

/// Every conversation of phase 1, in the order they run.
fn plans(rng: &mut Rng) -> Vec<Plan> {
    let mut plans = Vec::new();
    let guide = |rng: &mut Rng| {
        let (g, openings) = OPENINGS[rng.below(OPENINGS.len())];
        (rng.pick(openings), g)
    };
    for i in 0..85 {
        let (opening, g) = guide(rng);
        plans.push(Plan::Resolve {
            opening,
            guide: g,
            at: [1, 1, 2, 2, 3, 4][i % 6],
            greet_first: i % 9 == 0,
        });
    }
    for _ in 0..10 {
        let (opening, g) = guide(rng);
        plans.push(Plan::ResolveAfterGibberish {
            opening,
            guide: g,
            at: 1 + rng.below(2),
        });
    }
    for i in 0..16 {
        let (opening, g) = guide(rng);
        plans.push(Plan::Exhaust {
            opening,
            guide: g,
            accept: i % 4 != 0,
        });
    }
    for _ in 0..10 {
        let (opening, g) = guide(rng);
        plans.push(Plan::AskInGuide {
            opening,
            guide: g,
            at: 1 + rng.below(2),
        });
    }
    for _ in 0..8 {
        plans.push(Plan::AskAtOnce);
    }
    for i in 0..9 {
        plans.push(Plan::HighRisk {
            opening: HIGH_RISK[i % HIGH_RISK.len()],
            through_guide: i % 3 == 2,
        });
    }
    for i in 0..22 {
        let then = (i % 2 == 0).then(|| {
            let (opening, g) = guide(rng);
            (opening, g)
        });
        plans.push(Plan::OutOfScope {
            text: OUT_OF_SCOPE[i % OUT_OF_SCOPE.len()],
            then,
        });
    }
    for i in 0..4 {
        plans.push(Plan::OutOfScopeTwice {
            first: OUT_OF_SCOPE[i % OUT_OF_SCOPE.len()],
            second: OUT_OF_SCOPE[(i + 3) % OUT_OF_SCOPE.len()],
        });
    }
    for _ in 0..4 {
        let (opening, g) = guide(rng);
        plans.push(Plan::GibberishTwice { opening, guide: g });
    }
    for i in 0..20 {
        let text = if i % 4 == 3 {
            UNSURE[i % UNSURE.len()]
        } else {
            VAGUE[i % VAGUE.len()]
        };
        let then = match i % 3 {
            0 => UnsureThen::Pick("Reset your password", "password_reset"),
            1 => UnsureThen::NoneFits,
            _ => UnsureThen::Other("my photos arent syncing to mi cloud anymore", "cloud_sync"),
        };
        plans.push(Plan::Unsure { text, then });
    }
    let reworded = [
        (
            "email thing",
            "credentials",
            Some((
                "forgot my password and the reset mail never arrives",
                "password_reset",
            )),
        ),
        (
            "xiaomi thing keeps asking me stuff",
            "app_sync",
            Some((
                "it asks for a verification code that never comes",
                "two_factor",
            )),
        ),
        (
            "cant open mi account on the tablet since the update",
            "connectivity",
            Some((
                "i mean it says my account is locked for 24 hours",
                "account_locked",
            )),
        ),
        ("email thing", "credentials", None),
        ("xiaomi thing keeps asking me stuff", "app_sync", None),
    ];
    for (first, wrong, second) in reworded {
        plans.push(Plan::Reworded {
            first,
            wrong,
            second,
        });
    }
    for _ in 0..5 {
        let (opening, g) = guide(rng);
        plans.push(Plan::Leave { opening, guide: g });
    }
    let spanish = [
        (
            "olvide mi contraseña de mi cuenta xiaomi",
            Some("password_reset"),
            3,
        ),
        (
            "no me llega el codigo de verificacion por sms",
            Some("two_factor"),
            2,
        ),
        (
            "mi cuenta esta bloqueada que hago",
            Some("account_locked"),
            1,
        ),
        (
            "olvide mi contraseña de mi cuenta xiaomi",
            Some("password_reset"),
            1,
        ),
        ("se me rompio la pantalla del celular", None, 0),
        ("se me rompio la pantalla del celular", None, 0),
    ];
    for (opening, guide, at) in spanish {
        plans.push(Plan::Spanish { opening, guide, at });
    }
    // Interleave the kinds, as real traffic is (deterministically).
    for i in (1..plans.len()).rev() {
        let j = rng.below(i + 1);
        plans.swap(i, j);
    }
    plans
}

/// One conversation being played.
struct Conv<'a> {
    chat: &'a mut Chat,
    tracker: &'a mut Tracker,
    user: String,
    lang: &'static str,
    rng: &'a mut Rng,
}

impl Conv<'_> {
    fn say(&mut self, text: &str) -> Value {
        let reply = self.chat.say(&self.user, text);
        self.tracker.observe(&self.user, text, &reply);
        self.tracker
            .users
            .get_mut(&self.user)
            .expect("observed")
            .language = self.lang.to_string();
        reply
    }

    fn fail(&self, what: &str, reply: &Value) -> ! {
        panic!("{}: {what}: {reply}", self.user)
    }

    fn misunderstood(&mut self, text: &str, reason: &str) {
        self.tracker.e.misunderstood.push(Misunderstood {
            user: self.user.clone(),
            text: text.to_string(),
            reason: reason.to_string(),
            language: self.lang.to_string(),
        });
    }

    /// Opens `guide` with `text`.
    fn open(&mut self, text: &str, guide: &str) -> Value {
        let r = self.say(text);
        if r["outcome"] != "guidestarted" || r["guide"] != guide || r["step"] != 1 {
            self.fail(&format!("{text:?} should start {guide}"), &r);
        }
        r
    }

    fn deny_words(&self) -> &'static [&'static str] {
        if self.lang == "es" { ES_DENY } else { DENY }
    }

    /// Says no to the current step; the guide moves on (or runs out).
    fn deny(&mut self, current: &Value) -> Value {
        let text = self.rng.pick(self.deny_words());
        let r = self.say(text);
        let step = current["step"].as_u64().expect("in a guide");
        let steps = current["steps"].as_u64().expect("steps");
        let moved = if step == steps {
            r["state"] == "offer_human"
        } else {
            r["state"] == "guide" && r["guide"] == current["guide"] && r["step"] == step + 1
        };
        if r["act"] != "deny" || !moved {
            self.fail(&format!("{text:?} at step {step} should be a no"), &r);
        }
        r
    }

    /// Says no until step `at` (at most the guide's last step) shows.
    fn walk_to(&mut self, mut current: Value, at: usize) -> Value {
        let steps = current["steps"].as_u64().expect("steps") as usize;
        let at = at.clamp(1, steps);
        while current["step"].as_u64().expect("step") as usize != at {
            current = self.deny(&current);
        }
        current
    }

    fn affirm(&mut self) -> Value {
        let words = if self.lang == "es" { ES_AFFIRM } else { AFFIRM };
        let text = self.rng.pick(words);
        let r = self.say(text);
        if r["outcome"] != "resolved" {
            self.fail(&format!("{text:?} should resolve the guide"), &r);
        }
        r
    }

    /// An answer the bot cannot read, at a guide step: a fallback (the step again, or the
    /// offer of a person when it is the second in a row).
    fn gibberish(&mut self, current: &Value, second: bool) -> Value {
        let text = self.rng.pick(GIBBERISH);
        let r = self.say(text);
        let ok = if second {
            r["state"] == "offer_human"
        } else {
            r["state"] == "guide" && r["step"] == current["step"]
        };
        if !self.tracker.fallback.is_fallback(&r) || !ok {
            self.fail(&format!("{text:?} should not be understood"), &r);
        }
        self.misunderstood(text, "guide_fallback");
        r
    }

    fn accept_offer(&mut self, high_risk: bool) -> Value {
        let text = self.rng.pick(ACCEPT);
        let r = self.say(text);
        if r["outcome"] != "escalated" || r["priority"] != high_risk {
            self.fail(&format!("{text:?} should accept the offer of a person"), &r);
        }
        r
    }

    fn ask_person(&mut self, high_risk: bool) -> Value {
        let text = self.rng.pick(ASK_PERSON);
        let r = self.say(text);
        if r["outcome"] != "escalated" || r["priority"] != high_risk {
            self.fail(&format!("{text:?} should open a ticket"), &r);
        }
        r
    }

    fn out_of_scope(&mut self, text: &str) -> Value {
        let r = self.say(text);
        if r["outcome"] != "outofscope" {
            self.fail(&format!("{text:?} should be out of scope"), &r);
        }
        self.misunderstood(text, "out_of_scope");
        r
    }

    fn play(&mut self, plan: &Plan) {
        match *plan {
            Plan::Resolve {
                opening,
                guide,
                at,
                greet_first,
            } => {
                if greet_first {
                    let hi = self.rng.pick(GREETINGS);
                    let r = self.say(hi);
                    if r["intent"] != "greeting" || r["state"] != "idle" {
                        self.fail("a greeting", &r);
                    }
                }
                let r = self.open(opening, guide);
                self.walk_to(r, at);
                self.affirm();
            }
            Plan::ResolveAfterGibberish { opening, guide, at } => {
                let r = self.open(opening, guide);
                let r = self.walk_to(r, at);
                let r = self.gibberish(&r, false);
                let r = self.deny(&r);
                if r["state"] == "guide" {
                    self.affirm();
                }
            }
            Plan::Exhaust {
                opening,
                guide,
                accept,
            } => {
                let r = self.open(opening, guide);
                let steps = r["steps"].as_u64().expect("steps") as usize;
                let mut r = self.walk_to(r, steps);
                r = self.deny(&r);
                assert_eq!(r["state"], "offer_human", "{}: {r}", self.user);
                if accept {
                    self.accept_offer(false);
                } else {
                    let text = self.rng.pick(DECLINE);
                    let r = self.say(text);
                    if r["state"] != "idle" || r["outcome"] == "escalated" {
                        self.fail(&format!("{text:?} should decline the offer"), &r);
                    }
                }
            }
            Plan::AskInGuide { opening, guide, at } => {
                let r = self.open(opening, guide);
                self.walk_to(r, at);
                self.ask_person(false);
            }
            Plan::AskAtOnce => {
                self.ask_person(false);
            }
            Plan::HighRisk {
                opening,
                through_guide,
            } => {
                let r = self.open(opening, "account_compromised");
                if through_guide {
                    let steps = r["steps"].as_u64().expect("steps") as usize;
                    let r = self.walk_to(r, steps);
                    self.deny(&r);
                    self.accept_offer(true);
                } else {
                    let text = "yes get me a human";
                    let r = self.say(text);
                    if r["outcome"] != "escalated" || r["priority"] != true {
                        self.fail("a high-risk ticket", &r);
                    }
                }
            }
            Plan::OutOfScope { text, then } => {
                self.out_of_scope(text);
                match then {
                    Some((opening, guide)) => {
                        self.open(opening, guide);
                        self.affirm();
                    }
                    None => {
                        let r = self.say("ok nvm bye");
                        if r["state"] != "idle" || self.tracker.fallback.is_fallback(&r) {
                            self.fail("a goodbye", &r);
                        }
                    }
                }
            }
            Plan::OutOfScopeTwice { first, second } => {
                self.out_of_scope(first);
                let r = self.out_of_scope(second);
                assert_eq!(r["state"], "offer_human", "{}: {r}", self.user);
                self.accept_offer(false);
            }
            Plan::GibberishTwice { opening, guide } => {
                let r = self.open(opening, guide);
                let r = self.gibberish(&r, false);
                self.gibberish(&r, true);
                self.accept_offer(false);
            }
            Plan::Unsure { text, then } => {
                let r = self.say(text);
                if r["state"] != "suggest" || r["outcome"] != "none" {
                    self.fail(&format!("{text:?} should get a \"did you mean\""), &r);
                }
                let offered: Vec<String> = r["buttons"]
                    .as_array()
                    .expect("buttons")
                    .iter()
                    .filter_map(|b| b.as_str().map(str::to_string))
                    .collect();
                match then {
                    UnsureThen::Pick(title, guide) => {
                        assert!(offered.iter().any(|b| b == title), "{}: {r}", self.user);
                        self.misunderstood(text, "low_confidence");
                        self.open(title, guide);
                        self.affirm();
                    }
                    UnsureThen::NoneFits => {
                        self.misunderstood(text, "suggestion_ignored");
                        let answer = "no none of these";
                        let r = self.say(answer);
                        if !self.tracker.fallback.is_fallback(&r) || r["state"] != "idle" {
                            self.fail("\"none of these\" should ask for more", &r);
                        }
                    }
                    UnsureThen::Other(opening, guide) => {
                        assert!(
                            !offered.iter().any(|b| b.contains("Cloud")),
                            "{}: {guide} must not be among the suggestions: {r}",
                            self.user
                        );
                        self.misunderstood(text, "suggestion_ignored");
                        self.open(opening, guide);
                        self.affirm();
                    }
                }
            }
            Plan::Reworded {
                first,
                wrong,
                second,
            } => {
                self.open(first, wrong);
                self.misunderstood(first, "reworded");
                match second {
                    Some((text, guide)) => {
                        let r = self.open(text, guide);
                        let r = self.walk_to(r, 2);
                        let _ = r;
                        self.affirm();
                    }
                    None => {
                        let text = "stop, wrong thing";
                        let r = self.say(text);
                        if r["act"] != "stop" || r["state"] != "idle" {
                            self.fail("a stop", &r);
                        }
                    }
                }
            }
            Plan::Leave { opening, guide } => {
                let r = self.open(opening, guide);
                self.walk_to(r, 2);
                let text = "forget it, i give up";
                let r = self.say(text);
                if r["act"] != "stop" || r["state"] != "idle" {
                    self.fail(&format!("{text:?} should leave the guide"), &r);
                }
            }
            Plan::Spanish { opening, guide, at } => match guide {
                Some(guide) => {
                    let r = self.open(opening, guide);
                    self.walk_to(r, at);
                    self.affirm();
                }
                None => {
                    self.out_of_scope(opening);
                }
            },
        }
    }
}

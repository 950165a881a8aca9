//! The kill test: the real `deskbot` process serving 50 users, SIGKILLed at seeded
//! pseudo-random moments, restarted on the same data directory. Every turn whose reply was
//! read must be in the stored transcript (0 acknowledged turns lost), the database must open
//! cleanly after each kill, and the script is driven to its end across the restarts.
//!
//! A reply is printed only after `Desk::handle` committed and flushed its turn, so a reply the
//! test has read belongs to a durable turn; this test is what shows that holds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const USERS: usize = 50;
const TURNS: usize = 1_000;
const KILLS: usize = 6;
const SEED: u64 = 0x05ee_dd35_cb07;
/// The longest wait for one reply (a debug build trains the classifier at start-up).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A small deterministic generator (xorshift64*), so every run kills at the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Conversation snippets: guides answered no/yes, requests for a person, out of scope,
/// commands, small talk.
const SNIPPETS: &[&[&str]] = &[
    &["I forgot my password", "no", "no", "yes"],
    &[
        "my verification code never arrives",
        "no",
        "Yes, that fixed it",
    ],
    &["the app says my account is locked", "no", "no", "no"],
    &[
        "I lost my phone and cannot get the sms",
        "No, still stuck",
        "thanks",
    ],
    &["let me talk to a real person", "hello? anyone there"],
    &["what is the weather like today", "can you order me a pizza"],
    &["/human", "I am still waiting"],
    &["hi", "I can't sign in to my mi account", "/reset"],
    &["my 2fa code is always invalid", "Talk to a person"],
    &["how do I install a new rom on my phone", "bye"],
    &["/help", "next", "back"],
];

/// The script: (user, text) in sending order, 1 000 turns from 50 users, interleaved.
fn script(rng: &mut Rng) -> Vec<(String, String)> {
    let per_user = TURNS / USERS;
    let mut queues: Vec<Vec<String>> = (0..USERS)
        .map(|_| {
            let mut q = Vec::new();
            while q.len() < per_user {
                let s = SNIPPETS[rng.below(SNIPPETS.len())];
                q.extend(s.iter().map(|t| t.to_string()));
            }
            q.truncate(per_user);
            q.reverse();
            q
        })
        .collect();
    let mut out = Vec::with_capacity(TURNS);
    while out.len() < TURNS {
        let u = rng.below(USERS);
        if let Some(text) = queues[u].pop() {
            out.push((format!("user{u:02}"), text));
        }
    }
    out
}

/// The user lines of every console conversation, from `deskbot export`, which also shows
/// the database opens cleanly.
fn stored_user_lines(data_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let out = crate::common::deskbot()
        .args(["export", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export after the kill failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut records = text.lines();
    assert!(records.next().unwrap().contains("\"header\""));
    for l in records {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["kind"] == "transcript" && v["channel"] == "console" && v["entry"]["speaker"] == "user"
        {
            lines
                .entry(v["user"].as_str().unwrap().to_string())
                .or_default()
                .push(v["entry"]["text"].as_str().unwrap().to_string());
        }
    }
    lines
}

/// A running `deskbot chat --json-input` with its stdin fed by a thread and its replies read
/// by another.
struct Bot {
    child: Child,
    replies: mpsc::Receiver<String>,
}

impl Bot {
    fn start(data_dir: &Path, turns: &[(String, String)]) -> Bot {
        let mut child = crate::common::deskbot()
            .args(["chat", "--json-input", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input: String = turns
            .iter()
            .map(|(u, t)| format!("{}\n", json!({"user": u, "text": t})))
            .collect();
        // Everything is written at once, so turns are in flight when the kill comes; a write
        // to a killed process fails, which is expected.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bot { child, replies }
    }

    fn reply(&mut self) -> Value {
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => serde_json::from_str(&line).unwrap(),
            Err(e) => {
                let _ = self.child.kill();
                panic!("no reply from deskbot: {e}");
            }
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigkill_at_seeded_moments_loses_no_acknowledged_turn() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(SEED);
    let script = script(&mut rng);
    // How many of each user's scripted turns are stored (the rest are still to be sent).
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (u, t) in &script {
        per_user.entry(u.clone()).or_default().push(t.clone());
    }
    let mut kills = 0;
    let mut acknowledged_total = 0;
    loop {
        let remaining: Vec<(String, String)> = {
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            script
                .iter()
                .filter(|(u, _)| {
                    let i = seen.entry(u).or_default();
                    *i += 1;
                    *i > done.get(u).copied().unwrap_or(0)
                })
                .cloned()
                .collect()
        };
        if remaining.is_empty() {
            break;
        }
        let last_run = kills == KILLS;
        // Kill after reading between 20 and ~1/KILLS of the script's replies, then a few
        // hundred microseconds more, so the kill lands in the middle of a turn too.
        let kill_after = if last_run {
            remaining.len()
        } else {
            (20 + rng.below(TURNS / KILLS - 40)).min(remaining.len().saturating_sub(1))
        };
        let mut bot = Bot::start(dir.path(), &remaining);
        let mut acked: BTreeMap<String, usize> = BTreeMap::new();
        for (u, t) in remaining.iter().take(kill_after) {
            let r = bot.reply();
            assert_eq!(r["user"], u.as_str(), "replies come in input order: {r}");
            assert_eq!(r["text"], t.as_str(), "{r}");
            assert!(r["reply"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
            *acked.entry(u.clone()).or_default() += 1;
        }
        acknowledged_total += kill_after;
        if last_run {
            drop(bot.child.stdin.take());
            let status = bot.child.wait().unwrap();
            assert!(status.success(), "the last run exits cleanly: {status}");
        } else {
            std::thread::sleep(Duration::from_micros(rng.below(3_000) as u64));
            bot.child.kill().unwrap();
            bot.child.wait().unwrap();
            kills += 1;
        }
        drop(bot);

        // Every acknowledged turn is stored, in order, and nothing else but a prefix of the
        // turns sent after it (those in flight at the kill).
        let stored = stored_user_lines(dir.path());
        let stored_now: usize = stored.values().map(Vec::len).sum();
        let stored_before: usize = done.values().sum();
        eprintln!(
            "run {}: {} turns sent, {} replies read, then {}; {} turns stored by this run ({} beyond the replies read)",
            kills + usize::from(last_run),
            remaining.len(),
            kill_after,
            if last_run { "end of input" } else { "SIGKILL" },
            stored_now - stored_before,
            stored_now - stored_before - kill_after
        );
        for (u, texts) in &per_user {
            let got = stored.get(u).map(Vec::as_slice).unwrap_or(&[]);
            let before = done.get(u).copied().unwrap_or(0);
            let must = before + acked.get(u).copied().unwrap_or(0);
            assert!(
                got.len() >= must,
                "kill {kills}: {u} lost acknowledged turns: {} stored, {must} acknowledged",
                got.len()
            );
            assert!(got.len() <= texts.len(), "{u}: more turns stored than sent");
            assert_eq!(
                got,
                &texts[..got.len()],
                "kill {kills}: {u}'s transcript is not the script's prefix"
            );
            done.insert(u.clone(), got.len());
        }
    }
    assert_eq!(kills, KILLS);
    assert!(acknowledged_total <= TURNS);
    // All 1 000 turns ended up stored exactly once.
    let stored = stored_user_lines(dir.path());
    assert_eq!(stored.len(), USERS);
    assert_eq!(stored.values().map(Vec::len).sum::<usize>(), TURNS);
    assert_eq!(stored, per_user);
}

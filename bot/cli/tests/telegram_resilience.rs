//! `deskbot run` (the real binary) against the fake Bot API, tried as an adversary would:
//!
//! - an update that panics teloxide's parser and a chat id ≥ 2^40: the process keeps
//!   answering, across a restart, and `/metrics` counts the skipped update;
//! - SIGTERM while a chat waits for its per-minute send limit: exit 0 within 10 s, and the
//!   queued reply arrives after the restart, once;
//! - a full disk (a file-size limit, `ulimit -f`, on the child): no turn lost and no reply
//!   sent twice once it runs again with room.

use deskbot_tests::fake_telegram as fake;

use deskbot_tests::child;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use child::Guard;
use deskbot_storage::Platform;
use fake::FakeTelegram;

const WAIT: Duration = Duration::from_secs(60);

/// Starts `deskbot run` on `dir` with `extra` appended to the `[telegram]` section (and an
/// `[http]` endpoint on `http` when given), under `sh -c "<prefix> exec deskbot …"`.
fn spawn(
    dir: &Path,
    fake: &FakeTelegram,
    extra: &str,
    http: Option<SocketAddr>,
    prefix: &str,
    log_name: &str,
) -> (Guard, PathBuf) {
    let cfg = dir.join("deskbot.toml");
    let mut text = format!(
        "[telegram]\nenabled = true\napi_url = \"{}\"\npoll_timeout_secs = 1\n{extra}\n",
        fake.url
    );
    if let Some(addr) = http {
        text.push_str(&format!("[http]\nenabled = true\nlisten = \"{addr}\"\n"));
    }
    std::fs::write(&cfg, text).unwrap();
    let log_path = dir.join(log_name);
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("{prefix} exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_deskbot"))
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("TELEGRAM_BOT_TOKEN", fake::TOKEN)
        .env("DESKBOT_LOG", "info")
        .env("DESKBOT_NO_EMBEDDINGS", "1")
        .env_remove("DISCORD_BOT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Guard(Some(child)), log_path)
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn sigterm(guard: &Guard) {
    let pid = guard.0.as_ref().unwrap().id();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits for the process to exit; `None` if it is still running after `limit`.
async fn wait_exit(guard: &mut Guard, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            guard.0 = None;
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/metrics` over plain HTTP.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_update_and_a_huge_chat_id_do_not_stop_deskbot_run_across_a_restart() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let http = free_addr();
    let big: i64 = 1 << 45;
    let bad = fake.push_anonymous_reaction(42, 3);
    fake.push_text(big, big as u64, "my account is locked");
    fake.push_text(42, 42, "i cant sign in to my mi account");
    let (mut guard, log) = spawn(dir.path(), &fake, "", Some(http), "", "run1.log");
    let first = async {
        fake.wait_for("both chats answered", WAIT, |f| {
            !f.sent_to(42).is_empty() && !f.sent_to(big).is_empty()
        })
        .await;
    };
    tokio::time::timeout(WAIT, first)
        .await
        .unwrap_or_else(|_| panic!("log:\n{}", read(&log)));
    let page = scrape(http);
    assert_eq!(
        sample(&page, "deskbot_updates_skipped_total{channel=\"telegram\"}"),
        1.0,
        "{page}"
    );
    sigterm(&guard);
    let exit = wait_exit(&mut guard, Duration::from_secs(10)).await;
    assert!(
        exit.is_some_and(|e| e.success()),
        "{exit:?}\n{}",
        read(&log)
    );

    // Again, after a restart: nothing comes back, both chats go on.
    let (mut guard, log) = spawn(dir.path(), &fake, "", None, "", "run2.log");
    fake.push_text(big, big as u64, "still locked, what now");
    fake.push_text(42, 42, "my account is locked");
    let second = async {
        fake.wait_for("both chats answered again", WAIT, |f| {
            f.sent_to(42).len() >= 2 && f.sent_to(big).len() >= 2
        })
        .await;
    };
    tokio::time::timeout(WAIT, second)
        .await
        .unwrap_or_else(|_| panic!("log:\n{}", read(&log)));
    sigterm(&guard);
    let exit = wait_exit(&mut guard, Duration::from_secs(10)).await;
    assert!(
        exit.is_some_and(|e| e.success()),
        "{exit:?}\n{}",
        read(&log)
    );
    assert_eq!(fake.handed_out().get(&bad), Some(&1), "confirmed once");
    assert_eq!(fake.sent_to(42).len(), 2);
    assert_eq!(fake.sent_to(big).len(), 2);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_chat_waits_for_its_send_limit_exits_within_10_s_and_nothing_is_lost() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    // One message per minute to a private chat: the second reply waits ~60 s.
    let limited = "messages_per_min_chat = 1\n";
    let (mut guard, log) = spawn(dir.path(), &fake, limited, None, "", "run1.log");
    fake.push_text(42, 42, "i cant sign in");
    let started = async {
        fake.wait_for("the first reply", WAIT, |f| f.sent_to(42).len() == 1)
            .await;
    };
    tokio::time::timeout(WAIT, started)
        .await
        .unwrap_or_else(|_| panic!("log:\n{}", read(&log)));
    let second = fake.push_text(42, 42, "my account is locked");
    fake.wait_for("the second update confirmed", WAIT, |f| {
        !f.unconfirmed().contains(&second)
    })
    .await;
    // Its turn runs and its reply is queued behind the limit.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.sent_to(42).len(), 1);
    let asked = Instant::now();
    sigterm(&guard);
    let exit = wait_exit(&mut guard, Duration::from_secs(10)).await;
    let took = asked.elapsed();
    assert!(
        exit.is_some_and(|e| e.success()),
        "{exit:?} after {took:?}\n{}",
        read(&log)
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(fake.sent_to(42).len(), 1, "nothing sent past the limit");

    let (mut guard, log) = spawn(dir.path(), &fake, "", None, "", "run2.log");
    let after = async {
        fake.wait_for("the queued reply", WAIT, |f| f.sent_to(42).len() == 2)
            .await;
    };
    tokio::time::timeout(WAIT, after)
        .await
        .unwrap_or_else(|_| panic!("log:\n{}", read(&log)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&guard);
    let exit = wait_exit(&mut guard, Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|e| e.success()), "{}", read(&log));
    let sent = fake.sent_to(42);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_ne!(sent[0].text, sent[1].text);
}

/// Pushes `rounds` messages to each of `users` private chats, a round every `pace`.
async fn chatter(fake: &FakeTelegram, users: &[i64], rounds: usize, pace: Duration, from: usize) {
    const LINES: [&str; 6] = [
        "hi i cant log into my mi account",
        "it says my account is locked??",
        "forgot my password and the reset sms never comes",
        "how long until it unlocks",
        "ok i tried that, still nothing",
        "can a real person help me pls",
    ];
    for round in 0..rounds {
        for &u in users {
            let line = LINES[(round + from + u as usize) % LINES.len()];
            fake.push_text(u, u as u64, &format!("{line} ({})", round + from));
        }
        tokio::time::sleep(pace).await;
    }
}

/// Disk full during `deskbot run`: the child's files may not grow past a few MiB (`ulimit -f`,
/// SIGXFSZ ignored so writes fail with EFBIG). Users keep writing while the store fails; the
/// process is stopped (killed if the stuck store keeps it from stopping) and started again
/// with room: every message was answered exactly once and is in its transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_deskbot_run_loses_no_turn_and_sends_no_reply_twice() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let limit_blocks: u64 = std::env::var("DISKFULL_TEST_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let users: Vec<i64> = (1..=12).map(|u| 7000 + u).collect();
    let prefix = format!("ulimit -f {limit_blocks} && trap '' XFSZ &&");
    let (mut guard, log) = spawn(dir.path(), &fake, "", None, &prefix, "full.log");
    let rounds = 5;
    chatter(&fake, &users, rounds, Duration::from_millis(300), 0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered_while_full: usize = users.iter().map(|u| fake.sent_to(*u).len()).sum();
    let size = std::fs::read_dir(dir.path().join("data/db"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let failed = read(&log).contains("File too large") || read(&log).contains("EFBIG");
    eprintln!(
        "answered while limited: {answered_while_full} of {}; largest db file {size} bytes; write failure seen: {failed}",
        users.len() * rounds
    );
    assert!(failed, "the file-size limit was never hit:\n{}", read(&log));
    sigterm(&guard);
    if wait_exit(&mut guard, Duration::from_secs(10))
        .await
        .is_none()
    {
        // A store stuck on the failed write cannot flush: that is the crash case.
        if let Some(c) = guard.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        guard.0 = None;
    }

    let (mut guard, log2) = spawn(dir.path(), &fake, "", None, "", "room.log");
    let all = async {
        fake.wait_for("every message answered", WAIT, |f| {
            users.iter().all(|u| f.sent_to(*u).len() >= rounds)
        })
        .await;
    };
    tokio::time::timeout(WAIT, all)
        .await
        .unwrap_or_else(|_| panic!("first log:\n{}\nsecond log:\n{}", read(&log), read(&log2)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(&guard);
    let exit = wait_exit(&mut guard, Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|e| e.success()), "{}", read(&log2));
    assert!(fake.unconfirmed().is_empty());
    let store = deskbot_storage::Store::open(&dir.path().join("data")).unwrap();
    for u in &users {
        let sent = fake.sent_to(*u);
        let texts: Vec<String> = sent
            .iter()
            .map(|m| m.text.chars().take(60).collect())
            .collect();
        assert_eq!(sent.len(), rounds, "chat {u}: {texts:#?}\n{}", read(&log));
        let said = store
            .transcript(
                &deskbot_storage::ConvKey::new(Platform::Telegram, u.to_string()),
                1000,
            )
            .unwrap()
            .into_iter()
            .filter(|e| e.speaker == deskbot_storage::Speaker::User)
            .count();
        assert_eq!(said, rounds, "chat {u}: turns in the transcript");
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

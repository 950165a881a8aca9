//! Tokens never appear in anything the `deskbot` binary prints.
//!
//! Every subcommand runs with recognisable tokens in the environment and in the config file,
//! at `DESKBOT_LOG=trace` (so every library's logging is on) and with backtraces on: `run`
//! against a refusing address and against a local server that echoes each request (path with
//! the Telegram token, `Authorization` header with the Discord token) back in its error body;
//! a deliberate panic quoting the tokens (`DESKBOT_TEST_PANIC=1`) with and without a log
//! subscriber; `check-config` with broken files whose broken line holds a token, and with
//! good ones; `chat`, `eval` with bad input, `export`/`import` (good and bad), `tickets`.
//! All stdout and stderr of every run is searched for each token and for every 12-character
//! piece of it: none may appear. Each scenario also asserts that it did what it is meant to
//! (the request reached the echo server, the panic happened, the error was printed), so a
//! scenario that silently did nothing cannot pass.
//!
//! And a normal session at trace level: `deskbot run` with both channels on the fake Telegram
//! Bot API and the fake Discord (REST and gateway: the token is in every Telegram URL, every
//! Discord `Authorization` header and the gateway IDENTIFY), a conversation on each.
//!
//! Also: `deskbot run` stops cleanly (exit 0) on SIGINT, as it does on SIGTERM in
//! `telegram_binary` and `discord_binary`.

use deskbot_tests::fake_discord;
use deskbot_tests::fake_telegram as fake;

use deskbot_tests::child;

use child::Guard;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TG_ENV: &str = "7301946528:AAEnvLeakTg_Q9xZ3kP0wY7mV2nB8cD4fH6j";
const TG_FILE: &str = "6209381745:AAFileLeakTg_M1nB2vC3xZ4lK5jH6gF7dS8a";
const DC_ENV: &str = "MTAyNDEnvLeakDc.GhQ9xZ.3kP0wY7mV2nB8cD4fH6jLs1Qw2Er3Ty4Ui5Op";
const DC_FILE: &str = "MTAyNDFileLeakDc.Zx8Cv.7Bn6Mm5Ll4Kk3Jj2Hh1Gg0Ff9Dd8Ss7Aa6Qq";
const WEBHOOK_SECRET: &str = "whsecretLeakCheck_0123456789abcdef";

/// A hang fails the test instead of stalling CI; nothing is timed otherwise.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// What to look for: each token and every 12-character window of it (except windows of the
/// numeric bot id before a Telegram token's colon, which is public).
fn needles() -> Vec<String> {
    needles_of(&[TG_ENV, TG_FILE, DC_ENV, DC_FILE, WEBHOOK_SECRET])
}

fn needles_of(tokens: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        out.push(t.to_string());
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(12) {
            let piece: String = w.iter().collect();
            if !piece.chars().all(|c| c.is_ascii_digit()) {
                out.push(piece);
            }
        }
    }
    out
}

/// One finished run: what it printed.
struct Run {
    label: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails when any token or piece of one was printed.
    fn assert_clean(&self) {
        self.assert_clean_of(&needles());
    }

    /// Fails when any of `needles` was printed.
    fn assert_clean_of(&self, needles: &[String]) {
        let all = self.all();
        for n in needles {
            if let Some(at) = all.find(n.as_str()) {
                let start = all[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                let end = (at + n.len() + 200).min(all.len());
                let end = (end..=all.len())
                    .find(|&i| all.is_char_boundary(i))
                    .unwrap_or(all.len());
                panic!("{}: {n:?} leaked:\n…{}…", self.label, &all[start..end]);
            }
        }
    }
}

/// When to signal a process that keeps running: a condition on its stderr, and the signal.
type Until<'a> = Option<(&'a dyn Fn(&str) -> bool, &'a str)>;

struct Bin {
    dir: PathBuf,
    n: usize,
}

impl Bin {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            n: 0,
        }
    }

    /// The binary with both env tokens set, all logging on and backtraces on.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = crate::common::deskbot();
        c.args(args)
            .current_dir(&self.dir)
            .env("TELEGRAM_BOT_TOKEN", TG_ENV)
            .env("DISCORD_BOT_TOKEN", DC_ENV)
            .env("DESKBOT_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env_remove("DESKBOT_DATA_DIR")
            .env_remove("DESKBOT_TEST_PANIC");
        c
    }

    /// Runs `cmd` with `stdin`, until it exits, or (when `until` is given) until its stderr
    /// satisfies `until`, then sends `signal` and waits for the exit.
    fn run(&mut self, label: &str, mut cmd: Command, stdin: &[u8], until: Until<'_>) -> Run {
        self.n += 1;
        let out_path = self.dir.join(format!("{}.stdout", self.n));
        let err_path = self.dir.join(format!("{}.stderr", self.n));
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let mut guard = Guard(Some(child));
        {
            let child = guard.0.as_mut().unwrap();
            let mut input = child.stdin.take().unwrap();
            // The process may exit before reading its input (a config error): that is fine.
            let _ = input.write_all(stdin);
        }
        let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        let started = Instant::now();
        let deadline = started + HANG_GUARD;
        let mut signalled = false;
        let status = loop {
            let child = guard.0.as_mut().unwrap();
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if let Some((cond, signal)) = &until
                && !signalled
                && cond(&read(&err_path))
            {
                let ok = Command::new("kill")
                    .args([*signal, &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(ok.success());
                signalled = true;
            }
            assert!(
                Instant::now() < deadline,
                "{label}: no exit; stderr:\n{}",
                read(&err_path)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        guard.0 = None;
        eprintln!("{label}: {:?} after {:?}", status, started.elapsed());
        Run {
            label: label.to_string(),
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        }
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        name.to_string()
    }
}

/// A local server that answers every request with 401 and the request's head (request line
/// and headers) quoted in an error body shaped like the platform's: a worst case, since
/// clients log API error descriptions. Records the request lines it saw.
struct Echo {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn echo_server() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let log = log.clone();
            std::thread::spawn(move || echo(conn, &log));
        }
    });
    Echo { url, seen }
}

fn echo(mut conn: TcpStream, log: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let head = head
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let first = head.lines().next().unwrap_or_default().to_string();
    log.lock().unwrap().push(first.clone());
    let body = if first.contains(" /bot") {
        serde_json::json!({"ok": false, "error_code": 401, "description": format!("Unauthorized: {head}")})
    } else {
        serde_json::json!({"message": format!("401: Unauthorized {head}"), "code": 0})
    }
    .to_string();
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// An address nothing listens on (bound, then released).
fn refusing_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn telegram_config(api_url: &str) -> String {
    format!(
        "[telegram]\nenabled = true\ntoken = \"{TG_FILE}\"\napi_url = \"{api_url}\"\npoll_timeout_secs = 1\n"
    )
}

fn discord_config(api_url: &str) -> String {
    format!("[discord]\nenabled = true\ntoken = \"{DC_FILE}\"\napi_url = \"{api_url}\"\n")
}

#[test]
fn deskbot_run_never_prints_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(dir.path());

    // Telegram, refusing address, env token over the file's; stopped by SIGINT once it has
    // retried: a clean exit 0.
    let cfg = bin.write("tg_refused.toml", &telegram_config(&refusing_url()));
    let retried = |e: &str| e.matches("getMe failed").count() >= 2;
    let run = bin.run(
        "run telegram refused",
        bin.cmd(&["run", "--config", &cfg, "--data-dir", "d1"]),
        b"",
        Some((&retried, "-INT")),
    );
    run.assert_clean();
    assert!(
        run.status.success(),
        "SIGINT: {:?}\n{}",
        run.status,
        run.stderr
    );
    assert!(run.stderr.contains("shutdown requested"), "{}", run.stderr);

    // Telegram against the echo server, the token only in the file.
    let echo = echo_server();
    let cfg = bin.write("tg_echo.toml", &telegram_config(&echo.url));
    let mut cmd = bin.cmd(&["run", "--config", &cfg, "--data-dir", "d2"]);
    cmd.env_remove("TELEGRAM_BOT_TOKEN");
    // (teloxide itself masks the token in the echoed path, as `/bot[token]/`.)
    let echoed = |e: &str| e.matches("getMe failed").count() >= 2 && e.contains("Unauthorized");
    let run = bin.run("run telegram echo", cmd, b"", Some((&echoed, "-TERM")));
    run.assert_clean();
    assert!(
        echo.seen.lock().unwrap().iter().any(|l| l.contains("/bot")),
        "the echo server saw no Telegram request: {:?}\n{}",
        echo.seen.lock().unwrap(),
        run.stderr
    );

    // Discord, refusing address, env token.
    let cfg = bin.write("dc_refused.toml", &discord_config(&refusing_url()));
    // (serenity retries for a minute before giving up: stop it once a connection was refused.)
    let failed = |e: &str| e.contains("ConnectionRefused");
    let run = bin.run(
        "run discord refused",
        bin.cmd(&["run", "--config", &cfg, "--data-dir", "d3"]),
        b"",
        Some((&failed, "-TERM")),
    );
    run.assert_clean();

    // Discord against the echo server (the Authorization header comes back), file token only.
    let echo = echo_server();
    let cfg = bin.write("dc_echo.toml", &discord_config(&echo.url));
    let mut cmd = bin.cmd(&["run", "--config", &cfg, "--data-dir", "d4"]);
    cmd.env_remove("DISCORD_BOT_TOKEN");
    let answered = |e: &str| e.contains("[redacted]") && e.contains("Unauthorized");
    let run = bin.run("run discord echo", cmd, b"", Some((&answered, "-TERM")));
    run.assert_clean();
    assert!(!echo.seen.lock().unwrap().is_empty(), "{}", run.stderr);
    assert!(
        run.stderr.contains("Bot [redacted]"),
        "the echoed Authorization header should show redacted:\n{}",
        run.stderr
    );

    // Both channels, JSON logs, both echo servers at once, env tokens.
    let echo = echo_server();
    let cfg = bin.write(
        "both.toml",
        &format!(
            "{}{}",
            telegram_config(&echo.url),
            discord_config(&echo.url)
        ),
    );
    let run = bin.run(
        "run both json",
        bin.cmd(&[
            "run",
            "--config",
            &cfg,
            "--data-dir",
            "d5",
            "--log-format",
            "json",
        ]),
        b"",
        Some((&answered, "-TERM")),
    );
    run.assert_clean();
}

#[test]
fn a_panic_never_prints_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(dir.path());
    let webhook = format!(
        "webhook_url = \"https://bot.example/tg\"\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"
    );
    let cfg = bin.write(
        "panic.toml",
        &format!(
            "{}{webhook}{}",
            telegram_config(&refusing_url()),
            discord_config(&refusing_url())
        ),
    );
    for (label, args, env_tokens) in [
        (
            "run panic, logged as JSON, file tokens",
            vec![
                "run",
                "--config",
                &cfg,
                "--data-dir",
                "p1",
                "--log-format",
                "json",
            ],
            false,
        ),
        (
            "run panic, logged as text, env tokens",
            vec!["run", "--config", &cfg, "--data-dir", "p2"],
            true,
        ),
        (
            "check-config panic, no log subscriber, file tokens",
            vec!["check-config", "--config", &cfg],
            false,
        ),
        (
            "check-config panic, no log subscriber, env tokens",
            vec!["check-config", "--config", &cfg],
            true,
        ),
    ] {
        let mut cmd = bin.cmd(&args);
        cmd.env("DESKBOT_TEST_PANIC", "1");
        if !env_tokens {
            cmd.env_remove("TELEGRAM_BOT_TOKEN")
                .env_remove("DISCORD_BOT_TOKEN");
        }
        let run = bin.run(label, cmd, b"", None);
        run.assert_clean();
        assert_eq!(run.status.code(), Some(101), "{label}: {}", run.stderr);
        assert!(
            run.stderr.contains("deliberate panic"),
            "{label}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("telegram [redacted] discord [redacted]"),
            "{label}: {}",
            run.stderr
        );
    }
}

#[test]
fn check_config_never_prints_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(dir.path());
    let bad = [
        // The broken line holds the token; toml quotes the broken line in its errors.
        ("unknown key", format!("[telegram]\ntokn = \"{TG_FILE}\"\n")),
        (
            "unterminated string",
            format!("[telegram]\ntoken = \"{TG_FILE}\n"),
        ),
        ("unquoted value", format!("[discord]\ntoken = {DC_FILE}\n")),
        (
            "token in a wrong-typed key",
            format!("[telegram]\nenabled = \"{TG_FILE}\"\n"),
        ),
        (
            "duplicate key",
            format!("[discord]\ntoken = \"{DC_FILE}\"\ntoken = \"{DC_FILE}\"\n"),
        ),
        (
            "invalid value beside tokens",
            format!(
                "{}[discord]\ntoken = \"{DC_FILE}\"\nshards = 0\n",
                telegram_config("ftp://x")
            ),
        ),
        (
            "bad webhook secret",
            format!(
                "[telegram]\nwebhook_url = \"https://b.example/t\"\nlisten = \"0.0.0.0:8443\"\nwebhook_secret = \"{WEBHOOK_SECRET}!\"\n"
            ),
        ),
    ];
    for (label, text) in &bad {
        let cfg = bin.write("bad.toml", text);
        for env_tokens in [true, false] {
            let mut cmd = bin.cmd(&["check-config", "--config", &cfg]);
            if !env_tokens {
                cmd.env_remove("TELEGRAM_BOT_TOKEN")
                    .env_remove("DISCORD_BOT_TOKEN");
            }
            let run = bin.run(&format!("check-config {label}"), cmd, b"", None);
            run.assert_clean();
            assert!(!run.status.success(), "{label}: {}", run.all());
            assert!(run.stderr.contains("bad.toml"), "{label}: {}", run.stderr);
        }
    }
    // `run` reports the same errors the same way.
    let cfg = bin.write("bad.toml", &bad[0].1);
    let run = bin.run(
        "run with a broken config",
        bin.cmd(&["run", "--config", &cfg, "--data-dir", "r"]),
        b"",
        None,
    );
    run.assert_clean();
    assert!(run.stderr.contains("tokn"), "{}", run.stderr);

    let good = format!(
        "{}{}[http]\nenabled = true\n",
        telegram_config("http://127.0.0.1:1"),
        discord_config("http://127.0.0.1:1")
    );
    let cfg = bin.write("good.toml", &good);
    for env_tokens in [true, false] {
        let mut cmd = bin.cmd(&["check-config", "--config", &cfg]);
        if !env_tokens {
            cmd.env_remove("TELEGRAM_BOT_TOKEN")
                .env_remove("DISCORD_BOT_TOKEN");
        }
        let run = bin.run("check-config good", cmd, b"", None);
        run.assert_clean();
        assert!(run.status.success(), "{}", run.all());
        assert!(
            run.stdout.contains("channels enabled: telegram, discord"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn the_other_subcommands_never_print_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(dir.path());

    // chat: plain and JSON, a guide, a ticket, garbage.
    let input = "I forgot my password\n2\n/human\n\u{0}\u{7f}garbage ~~~\n";
    let run = bin.run(
        "chat",
        bin.cmd(&["chat", "--data-dir", "data", "--user", "ann"]),
        input.as_bytes(),
        None,
    );
    run.assert_clean();
    assert!(run.status.success(), "{}", run.all());
    assert!(run.stdout.contains("Step 1 of"), "{}", run.stdout);
    let run = bin.run(
        "chat --json",
        bin.cmd(&["chat", "--data-dir", "data", "--user", "bob", "--json"]),
        b"/human\n",
        None,
    );
    run.assert_clean();
    assert!(run.status.success(), "{}", run.all());

    // tickets.
    for args in [
        vec!["tickets", "--data-dir", "data", "list"],
        vec!["tickets", "--data-dir", "data", "show", "1"],
        vec![
            "tickets",
            "--data-dir",
            "data",
            "close",
            "1",
            "--note",
            "done",
        ],
        vec!["tickets", "--data-dir", "data", "show", "999"],
    ] {
        let run = bin.run(&args.join(" "), bin.cmd(&args), b"", None);
        run.assert_clean();
    }

    // export to stdout and to a file, import into a new directory, import garbage, import
    // into a directory that has data.
    let run = bin.run(
        "export stdout",
        bin.cmd(&["export", "--data-dir", "data"]),
        b"",
        None,
    );
    run.assert_clean();
    assert!(run.status.success(), "{}", run.stderr);
    let run = bin.run(
        "export file",
        bin.cmd(&["export", "--data-dir", "data", "--out", "backup.jsonl"]),
        b"",
        None,
    );
    run.assert_clean();
    assert!(run.status.success(), "{}", run.stderr);
    let run = bin.run(
        "import",
        bin.cmd(&["import", "--data-dir", "restored", "backup.jsonl"]),
        b"",
        None,
    );
    run.assert_clean();
    assert!(run.status.success(), "{}", run.stderr);
    let garbage = bin.write("garbage.jsonl", "{\"format\": 99}\nnot json\n");
    for (label, args) in [
        (
            "import garbage",
            vec!["import", "--data-dir", "empty", &garbage],
        ),
        (
            "import into data",
            vec!["import", "--data-dir", "data", "backup.jsonl"],
        ),
        (
            "import missing",
            vec!["import", "--data-dir", "empty2", "missing.jsonl"],
        ),
    ] {
        let run = bin.run(label, bin.cmd(&args), b"", None);
        run.assert_clean();
        assert!(!run.status.success(), "{label}: {}", run.all());
    }

    // eval with bad input.
    let bad = bin.write("bad.jsonl", "{\"text\": 1}\nnot json\n");
    let empty = bin.write("empty.jsonl", "\n");
    for (label, args) in [
        (
            "eval bad file",
            vec!["eval", "--train", &bad, "--test", &bad],
        ),
        (
            "eval empty file",
            vec!["eval", "--train", &empty, "--test", &empty],
        ),
        (
            "eval missing file",
            vec!["eval", "--train", "nope.jsonl", "--test", "nope.jsonl"],
        ),
    ] {
        let run = bin.run(label, bin.cmd(&args), b"", None);
        run.assert_clean();
        assert!(!run.status.success(), "{label}: {}", run.all());
    }

    // Usage errors.
    let run = bin.run("no subcommand", bin.cmd(&[]), b"", None);
    run.assert_clean();
    let run = bin.run("bad flag", bin.cmd(&["run", "--nope"]), b"", None);
    run.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_session_at_trace_level_never_prints_a_token() {
    const ANN: u64 = 333_333_333_333_333_333;
    const DM: u64 = 6_001;
    let tg = fake::FakeTelegram::start().await;
    let dc = fake_discord::FakeDiscord::start(fake_discord::Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::new(dir.path());
    let cfg = bin.write(
        "session.toml",
        &format!(
            "[telegram]\nenabled = true\napi_url = \"{}\"\npoll_timeout_secs = 1\n[discord]\nenabled = true\napi_url = \"{}\"\n",
            tg.url, dc.api_url
        ),
    );
    let (out_path, err_path) = (dir.path().join("s.stdout"), dir.path().join("s.stderr"));
    let mut cmd = bin.cmd(&["run", "--config", &cfg, "--data-dir", "data"]);
    // The fake Telegram accepts only its own token.
    cmd.env("TELEGRAM_BOT_TOKEN", fake::TOKEN)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut guard = Guard(Some(cmd.spawn().unwrap()));
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();

    let session = async {
        let wait = Duration::from_secs(60);
        dc.wait_ready_within(wait).await;
        tg.wait_for("setMyCommands", wait, |f| f.commands().is_some())
            .await;
        let from = dc.requests().len();
        dc.dispatch("MESSAGE_CREATE", dc.dm(ANN, DM, "I forgot my password"));
        tg.push_text(42, 42, "my account is locked");
        dc.wait_new("the Discord reply", from, 1, |r| {
            r.is_channel_message(DM) && r.ok()
        })
        .await;
        tg.wait_for("the Telegram reply", wait, |f| f.sent_to(42).len() == 1)
            .await;
    };
    tokio::time::timeout(HANG_GUARD, session)
        .await
        .unwrap_or_else(|_| panic!("hang guard; stderr:\n{}", read(&err_path)));

    let pid = guard.0.as_ref().unwrap().id();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + HANG_GUARD;
    let status = loop {
        if let Some(s) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            guard.0 = None;
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run = Run {
        label: "normal session at trace level".into(),
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    assert!(run.status.success(), "{:?}\n{}", run.status, run.stderr);
    // Not vacuous: the libraries' trace output is there (HTTP requests, the gateway).
    assert!(run.stderr.contains("TRACE"), "{}", run.stderr);
    let mut needles = needles();
    needles.extend(needles_of(&[fake::TOKEN]));
    run.assert_clean_of(&needles);
}

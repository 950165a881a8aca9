//! `deskbot run --log-format json`: every line on stderr is one JSON object with a level and a
//! message, at every log level of every library (`DESKBOT_LOG=trace`), and so are the lines
//! that end the process: a fatal error and a panic.

use deskbot_tests::child;

use child::Guard;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A hang fails the test instead of stalling CI; nothing is timed otherwise.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Runs `deskbot run --log-format json` with `config` until it exits, or until its stderr
/// satisfies `until` and a SIGTERM ends it. Returns the exit status and stderr.
fn run_json(
    dir: &Path,
    config: &str,
    env: &[(&str, &str)],
    until: Option<&dyn Fn(&str) -> bool>,
) -> (ExitStatus, String) {
    let cfg = dir.join("deskbot.toml");
    std::fs::write(&cfg, config).unwrap();
    let err_path = dir.join("stderr.log");
    let mut cmd = crate::common::deskbot();
    cmd.arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--log-format", "json"])
        .env("DESKBOT_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_BOT_TOKEN")
        .env_remove("DESKBOT_TEST_PANIC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut guard = Guard(Some(cmd.spawn().unwrap()));
    let read = || String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    let deadline = Instant::now() + HANG_GUARD;
    let mut signalled = false;
    let status = loop {
        let child = guard.0.as_mut().unwrap();
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let Some(cond) = until
            && !signalled
            && cond(&read())
        {
            let ok = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
            signalled = true;
        }
        assert!(Instant::now() < deadline, "no exit; stderr:\n{}", read());
        std::thread::sleep(Duration::from_millis(50));
    };
    guard.0 = None;
    (status, read())
}

/// Parses every stderr line; each must be a JSON object with a known level and a message.
fn parse_lines(stderr: &str) -> Vec<Value> {
    assert!(!stderr.trim().is_empty(), "no log output at all");
    stderr
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            assert!(v.is_object(), "not an object: {line}");
            let level = v["level"].as_str().unwrap_or_default();
            assert!(
                ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
                "no level: {line}"
            );
            assert!(message(&v).is_some(), "no message: {line}");
            v
        })
        .collect()
}

fn message(v: &Value) -> Option<&str> {
    v["fields"]["message"]
        .as_str()
        .or_else(|| v["message"].as_str())
}

/// The first event at `level` whose message contains `text`.
fn find<'a>(events: &'a [Value], level: &str, text: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|v| v["level"] == level && message(v).is_some_and(|m| m.contains(text)))
}

fn telegram_config(api_url: &str) -> String {
    format!(
        "[telegram]\nenabled = true\ntoken = \"123456:json-logs-test-token\"\napi_url = \"{api_url}\"\npoll_timeout_secs = 1\n"
    )
}

/// An address nothing listens on (bound, then released).
fn refusing_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[test]
fn a_running_bot_logs_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let retried = |e: &str| e.matches("getMe failed").count() >= 2;
    let (status, stderr) = run_json(
        dir.path(),
        &telegram_config(&refusing_url()),
        &[],
        Some(&retried),
    );
    assert!(status.success(), "{status:?}\n{stderr}");
    let events = parse_lines(&stderr);
    // Not vacuous: our events, a warning with its error field, and other libraries' events.
    assert!(
        find(&events, "INFO", "deskbot starting").is_some(),
        "{stderr}"
    );
    let warn = find(&events, "WARN", "getMe failed").expect("a getMe warning");
    assert!(warn["fields"]["error"].is_string(), "{warn}");
    assert!(
        find(&events, "INFO", "shutdown requested").is_some(),
        "{stderr}"
    );
    assert!(
        events.iter().any(
            |v| v["target"].as_str().is_some_and(|t| t.starts_with("sled")
                || t.starts_with("hyper")
                || t.starts_with("reqwest"))
        ),
        "no library events at trace level:\n{stderr}"
    );
}

#[test]
fn fatal_errors_and_panics_are_json_lines_too() {
    // A config error found after logging started.
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_json(dir.path(), "[telegram]\nenabled = true\n", &[], None);
    assert!(!status.success());
    let events = parse_lines(&stderr);
    let fatal = find(&events, "ERROR", "stopped with an error").expect("the fatal error");
    assert!(
        fatal["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("telegram.token")),
        "{fatal}"
    );

    // No channel enabled.
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_json(dir.path(), "", &[], None);
    assert!(!status.success());
    let events = parse_lines(&stderr);
    assert!(
        find(&events, "ERROR", "stopped with an error").is_some(),
        "{stderr}"
    );

    // A panic: logged as an ERROR event with its location (and the backtrace as a field).
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_json(
        dir.path(),
        &telegram_config(&refusing_url()),
        &[("DESKBOT_TEST_PANIC", "1")],
        None,
    );
    assert_eq!(status.code(), Some(101), "{stderr}");
    let events = parse_lines(&stderr);
    let panic = find(&events, "ERROR", "deliberate panic").expect("the panic event");
    assert_eq!(panic["target"], "deskbot::panic");
    assert!(panic["fields"]["location"].is_string(), "{panic}");
    assert!(
        !message(panic).unwrap().contains("json-logs-test-token"),
        "{panic}"
    );
}

#[test]
fn with_logging_off_fatal_errors_and_panics_still_show() {
    // `DESKBOT_LOG=off` drops every event, but not the reason the process ends.
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_json(
        dir.path(),
        "[telegram]\nenabled = true\n",
        &[("DESKBOT_LOG", "off")],
        None,
    );
    assert!(!status.success());
    assert!(
        stderr.contains("Error: ") && stderr.contains("telegram.token"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_json(
        dir.path(),
        &telegram_config(&refusing_url()),
        &[("DESKBOT_LOG", "off"), ("DESKBOT_TEST_PANIC", "1")],
        None,
    );
    assert_eq!(status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("deliberate panic"), "{stderr}");
    assert!(stderr.contains("telegram [redacted]"), "{stderr}");
    assert!(!stderr.contains("json-logs-test-token"), "{stderr}");
}

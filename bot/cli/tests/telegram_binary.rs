//! The `deskbot run` binary with `[telegram] api_url` pointing at the fake Bot API: a private
//! guide with a button press through the real process, a clean stop on SIGTERM with the
//! conversation in the store, the token never in the log; and a rejected token as an error
//! naming the setting.

use deskbot_tests::fake_telegram as fake;

use deskbot_tests::child;

use child::Guard;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deskbot_engine::dialogue::{Conversation, Phase};
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, Store};
use fake::FakeTelegram;

fn spawn(dir: &Path, api_url: &str, token: &str) -> (Guard, std::path::PathBuf) {
    let cfg = dir.join("deskbot.toml");
    std::fs::write(
        &cfg,
        format!("[telegram]\nenabled = true\napi_url = \"{api_url}\"\npoll_timeout_secs = 1\n"),
    )
    .unwrap();
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = crate::common::deskbot()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("TELEGRAM_BOT_TOKEN", token)
        .env("DESKBOT_LOG", "debug")
        .env_remove("DISCORD_BOT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Guard(Some(child)), log_path)
}

async fn wait_exit(guard: &mut Guard, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            guard.0 = None;
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_deskbot_run_answers_a_guide_and_stops_cleanly() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut guard, log_path) = spawn(dir.path(), &fake.url, fake::TOKEN);
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let run = async {
        let wait = Duration::from_secs(60);
        fake.wait_for("setMyCommands", wait, |f| f.commands().is_some())
            .await;
        fake.push_text(42, 42, "my account is locked");
        fake.wait_for("step 1", wait, |f| f.sent_to(42).len() == 1)
            .await;
        let step1 = fake.sent_to(42).remove(0);
        assert!(step1.text.contains("Step 1 of"), "{}", step1.text);
        let no = step1
            .buttons
            .iter()
            .find(|(l, _)| l.starts_with("No"))
            .unwrap()
            .1
            .clone();
        let q = fake.push_callback(42, 42, step1.message_id, &no);
        fake.wait_for("step 2", wait, |f| {
            f.sent_to(42).len() == 2 && f.answered(&q)
        })
        .await;
        assert!(fake.sent_to(42)[1].text.contains("Step 2 of"));
    };
    tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("timed out; log:\n{}", read_log()));

    let pid = guard.0.as_ref().unwrap().id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut guard, Duration::from_secs(30)).await;
    let log = read_log();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(!log.contains(fake::TOKEN), "the token leaked:\n{log}");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // The process is gone, so the store can be opened: the user is at step 2 of the guide.
    let store = Store::open(&dir.path().join("data")).unwrap();
    let conv: Conversation = store
        .conversation(&ConvKey::new(Platform::Telegram, "42"))
        .unwrap()
        .unwrap();
    assert_eq!(
        conv.phase,
        Phase::Guide {
            intent: "account_locked".into(),
            step: 1
        }
    );
    assert!(store.inbox_pending("telegram").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_rejected_token_fails_deskbot_run_naming_the_setting() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = "12345:not-the-right-token";
    let (mut guard, log_path) = spawn(dir.path(), &fake.url, token);
    let exit = wait_exit(&mut guard, Duration::from_secs(30)).await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!exit.success(), "{log}");
    assert!(log.contains("telegram.token"), "{log}");
    assert!(!log.contains(token), "the token leaked:\n{log}");
}

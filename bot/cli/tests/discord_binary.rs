//! The `deskbot run` binary with `[discord] api_url` pointing at the fake Discord: the first
//! Must-show case (a DM guide with a button press) through the real process, then a clean
//! stop on SIGTERM, with neither the bot token nor an interaction token in the log.

use deskbot_tests::fake_discord;

use deskbot_tests::child;

use child::Guard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_discord::{FakeDiscord, Options};

const TOKEN: &str = "binary-test-token-never-logged";
const ANN: u64 = 333_333_333_333_333_333;
const DM: u64 = 6_001;

/// Starts `deskbot run --config cfg` with its data and stderr log under `dir` and the test
/// token in the environment; returns the child's guard and the log's path.
fn start_deskbot(dir: &Path, cfg: &Path) -> (Guard, PathBuf) {
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = crate::common::deskbot()
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("DISCORD_BOT_TOKEN", TOKEN)
        .env("DESKBOT_LOG", "info")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Guard(Some(child)), log_path)
}

/// Sends SIGTERM to the child and waits up to `within` for it to exit (a hang guard, not a
/// timing assertion); returns its exit status and leaves the guard empty.
async fn sigterm_and_wait(
    guard: &mut Guard,
    within: Duration,
    read_log: &dyn Fn() -> String,
) -> std::process::ExitStatus {
    let pid = guard.0.as_ref().unwrap().id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + within;
    let exit = loop {
        if let Some(s) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM; log:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    guard.0 = None;
    exit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deskbot_run_answers_a_dm_and_a_button() {
    let fake = FakeDiscord::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deskbot.toml");
    std::fs::write(
        &cfg,
        format!(
            "[discord]\nenabled = true\napi_url = \"{}\"\nsupport_channel_ids = [7001]\nguild_ids = [7000]\n",
            fake.api_url
        ),
    )
    .unwrap();
    let (mut guard, log_path) = start_deskbot(dir.path(), &cfg);
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let run = async {
        fake.wait_ready_within(Duration::from_secs(60)).await;
        let from = fake.requests().len();
        fake.dispatch(
            "MESSAGE_CREATE",
            fake.dm(ANN, DM, "error DEVICE_NOT_RECOGNIZED"),
        );
        let step1 = fake
            .wait_new("step 1", from, 1, |r| r.is_channel_message(DM) && r.ok())
            .await
            .remove(0);
        assert!(step1.content().contains("Step 1 of"), "{}", step1.content());
        let no = step1
            .buttons()
            .into_iter()
            .find(|(_, l)| l.starts_with("No"))
            .unwrap()
            .0;
        let press = fake.button_press(ANN, None, &step1.response, &no);
        let token = press["token"].as_str().unwrap().to_string();
        fake.dispatch("INTERACTION_CREATE", press);
        let edit = fake
            .wait_new("step 2", from, 1, |r| {
                r.method == "PATCH" && r.path.contains(&token) && r.ok()
            })
            .await
            .remove(0);
        assert!(edit.content().contains("Step 2 of"), "{}", edit.content());
        token
    };
    let token = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("timed out; log:\n{}", read_log()));

    // SIGTERM, then a bounded wait for a clean exit.
    let exit = sigterm_and_wait(&mut guard, Duration::from_secs(30), &read_log).await;
    let log = read_log();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(log.contains("ratelimiter OFF"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the bot token leaked into the log:\n{log}"
    );
    assert!(
        !log.contains(&token),
        "an interaction token leaked into the log:\n{log}"
    );
    let v = fake.violations();
    assert!(v.is_empty(), "{v:#?}");
}

/// The human handoff through the `deskbot run` process, configured from the file's
/// `[handoff]`: a Discord user's ticket opens a thread in the staff channel, a staff member's
/// message typed there reaches the user's DM, the user's answer reaches the thread, the Close
/// button closes it and tells the user; SIGTERM stops the process cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deskbot_run_relays_a_ticket_between_a_dm_and_the_staff_thread() {
    const STAFF_CHANNEL: u64 = 7_100;
    const STAFF_ROLE: u64 = 8_800;
    const BOB: u64 = 9_001;
    const GUILD: u64 = 7_000;
    let fake = FakeDiscord::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deskbot.toml");
    std::fs::write(
        &cfg,
        format!(
            "[discord]\nenabled = true\napi_url = \"{}\"\nguild_ids = [{GUILD}]\n\n[handoff]\ndiscord_staff_channel_id = {STAFF_CHANNEL}\ndiscord_staff_role_id = {STAFF_ROLE}\n",
            fake.api_url
        ),
    )
    .unwrap();
    let (mut guard, log_path) = start_deskbot(dir.path(), &cfg);
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let run = async {
        fake.wait_ready_within(Duration::from_secs(180)).await;
        let wait = Duration::from_secs(180);
        fake.dispatch("MESSAGE_CREATE", fake.dm(ANN, DM, "/human"));
        let reqs = fake
            .wait_for("the ticket thread's first message", wait, |r| {
                r.iter()
                    .any(|x| x.ok() && x.method == "POST" && x.content().starts_with("Ticket \\#"))
            })
            .await;
        let first = reqs
            .iter()
            .find(|x| x.ok() && x.method == "POST" && x.content().starts_with("Ticket \\#"))
            .unwrap()
            .clone();
        // The first message is posted in the staff channel and the thread started from it,
        // so the thread has the message's id.
        assert!(first.is_channel_message(STAFF_CHANNEL), "{}", first.path);
        let thread: u64 = first.response["id"].as_str().unwrap().parse().unwrap();
        fake.wait_for("the ticket thread", wait, |r| {
            r.iter().any(|x| x.is_thread_start(STAFF_CHANNEL) && x.ok())
        })
        .await;
        assert_eq!(fake.threads_in(STAFF_CHANNEL).len(), 1);
        assert_eq!(fake.threads_in(STAFF_CHANNEL)[0].0, thread);
        let close = first
            .buttons()
            .into_iter()
            .find(|(id, _)| id.starts_with("ticket:close:"))
            .unwrap()
            .0;

        fake.dispatch(
            "MESSAGE_CREATE",
            fake.member_message(BOB, GUILD, thread, "Which phone do you use?", &[STAFF_ROLE]),
        );
        fake.wait_for("the staff message in the DM", wait, |r| {
            r.iter().any(|x| {
                x.is_channel_message(DM)
                    && x.content()
                        .contains(&format!("Support (Nick{BOB}): Which phone do you use?"))
            })
        })
        .await;
        fake.dispatch("MESSAGE_CREATE", fake.dm(ANN, DM, "A Redmi Note 12"));
        fake.wait_for("the answer in the thread", wait, |r| {
            r.iter()
                .any(|x| x.is_channel_message(thread) && x.content().ends_with(": A Redmi Note 12"))
        })
        .await;
        // Close is pressed on the first message where it lives: in the staff channel.
        let first_id = first.response["id"].as_str().unwrap().to_string();
        fake.dispatch(
            "INTERACTION_CREATE",
            fake.member_button_press(BOB, GUILD, STAFF_CHANNEL, &first_id, &close, &[STAFF_ROLE]),
        );
        fake.wait_for("the close in the DM", wait, |r| {
            r.iter()
                .any(|x| x.is_channel_message(DM) && x.content().contains("has been closed"))
        })
        .await;
    };
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .unwrap_or_else(|_| panic!("timed out; log:\n{}", read_log()));

    // SIGTERM, then a bounded wait for a clean exit.
    let exit = sigterm_and_wait(&mut guard, Duration::from_secs(60), &read_log).await;
    let log = read_log();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(log.contains("starting the handoff relay"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the bot token leaked into the log:\n{log}"
    );
    let v = fake.violations();
    assert!(v.is_empty(), "{v:#?}");
}

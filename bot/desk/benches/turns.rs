//! Turns per second through the engine alone (the baseline) and through engine + sled with
//! the per-turn flush that makes a reply durable before it is sent, on one thread and on 16
//! (where group commit shares fsyncs).
//!
//! Run: `cargo bench -p deskbot-desk --bench turns`. Criterion prints each as elements/s = turns/s.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deskbot_desk::desk::Desk;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Conversation, Engine, Input};
use deskbot_storage::ConvKey;
use deskbot_storage::Platform;

const SCRIPT: [&str; 3] = ["I forgot my password", "no", "yes it worked"];
const USERS: usize = 1_000;

fn bench(c: &mut Criterion) {
    let catalog = match Catalog::builtin() {
        Ok(c) => c,
        Err(e) => panic!("built-in catalog: {e}"),
    };
    let engine = match Engine::new(catalog) {
        Ok(e) => Arc::new(e),
        Err(e) => panic!("engine: {e}"),
    };
    let mut group = c.benchmark_group("turn");
    group.throughput(Throughput::Elements(1));

    // Baseline: the pure engine, state kept in memory.
    let mut states = vec![Conversation::default(); USERS];
    let mut i = 0usize;
    group.bench_function("engine_only", |b| {
        b.iter(|| {
            let user = i % USERS;
            let text = SCRIPT[(i / USERS) % SCRIPT.len()];
            let turn = engine.turn(&states[user], &Input::Text(text.into()));
            states[user] = turn.conversation;
            i += 1;
        })
    });

    // Engine + sled, flushed before the reply is returned.
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let desk = match Desk::open(engine.clone(), dir.path()) {
        Ok(d) => d,
        Err(e) => panic!("store: {e}"),
    };
    let keys: Vec<ConvKey> = (0..USERS)
        .map(|u| ConvKey::new(Platform::Console, format!("u{u}")))
        .collect();
    let mut i = 0usize;
    group.bench_function("engine_sled_flush", |b| {
        b.iter(|| {
            let user = i % USERS;
            let text = SCRIPT[(i / USERS) % SCRIPT.len()];
            if let Err(e) = desk.handle(&keys[user], None, &Input::Text(text.into())) {
                panic!("turn failed: {e}");
            }
            i += 1;
        })
    });

    // The same with 16 threads at once, as the async channels run turns: group commit lets
    // concurrent turns share one fsync, each still durable before it returns.
    const THREADS: u64 = 16;
    let next = std::sync::atomic::AtomicUsize::new(0);
    group.bench_function("engine_sled_flush_16_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS);
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..per_thread {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let user = i % USERS;
                            let text = SCRIPT[(i / USERS) % SCRIPT.len()];
                            if let Err(e) =
                                desk.handle(&keys[user], None, &Input::Text(text.into()))
                            {
                                panic!("turn failed: {e}");
                            }
                        }
                    });
                }
            });
            // Report time per turn actually run (per_thread * THREADS >= iters).
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * THREADS) as f64)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

//! `retention_days`: a background task that deletes transcript lines older than the retention
//! period (and those lines from closed tickets' copies of the transcript), once at start and
//! then every [`INTERVAL`], until shutdown. See [`deskbot_storage::Store::purge_transcripts_before`].

use std::time::Duration;

use deskbot_storage::{PurgeSummary, StorageError};

use crate::desk::Desk;
use crate::shutdown::Shutdown;

/// How often the purge runs.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);

const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

/// The cutoff for `days` of retention at `now_ms`: lines older than this go.
pub fn cutoff_ms(now_ms: u64, days: u32) -> u64 {
    now_ms.saturating_sub(u64::from(days).saturating_mul(DAY_MS))
}

/// Purges once: deletes what is older than `days` by the desk's clock. `days` 0 purges
/// nothing (retention off).
pub fn purge_once(desk: &Desk, days: u32) -> Result<PurgeSummary, StorageError> {
    if days == 0 {
        return Ok(PurgeSummary::default());
    }
    desk.store()
        .purge_transcripts_before(cutoff_ms(desk.now_ms(), days))
}

/// Runs the purge at start and every [`INTERVAL`] until `shutdown`; `days` 0 returns at once
/// (retention off). Failures are logged and retried at the next interval.
pub async fn run(desk: Desk, days: u32, shutdown: Shutdown) {
    run_every(desk, days, INTERVAL, shutdown).await;
}

/// [`run`] with another interval (tests).
pub async fn run_every(desk: Desk, days: u32, interval: Duration, mut shutdown: Shutdown) {
    if days == 0 {
        return;
    }
    loop {
        let d = desk.clone();
        match tokio::task::spawn_blocking(move || purge_once(&d, days)).await {
            Ok(Ok(s)) if s.lines > 0 || s.tickets > 0 => {
                tracing::info!(
                    lines = s.lines,
                    tickets = s.tickets,
                    days,
                    "retention: old transcripts purged"
                );
            }
            Ok(Ok(_)) => tracing::debug!(days, "retention: nothing to purge"),
            Ok(Err(e)) => tracing::error!(error = %e, "retention: purge failed; retrying later"),
            Err(e) => tracing::error!(error = %e, "retention: purge panicked; retrying later"),
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use deskbot_storage::Platform;
    use std::sync::Arc;

    use deskbot_engine::catalog::Catalog;
    use deskbot_engine::dialogue::Engine;
    use deskbot_storage::{ConvKey, Speaker, TranscriptEntry};

    use super::*;

    #[test]
    fn cutoff_is_days_before_now_and_never_underflows() {
        assert_eq!(cutoff_ms(10 * DAY_MS, 3), 7 * DAY_MS);
        assert_eq!(cutoff_ms(DAY_MS, 90), 0);
        assert_eq!(cutoff_ms(5, u32::MAX), 0);
    }

    #[tokio::test]
    async fn the_task_purges_at_start_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
        let now = 100 * DAY_MS;
        let desk = Desk::open(engine, dir.path())
            .unwrap()
            .with_clock(Arc::new(move || now));
        let key = ConvKey::new(Platform::Telegram, "7");
        let line = |at_ms, text: &str| TranscriptEntry::new(at_ms, Speaker::User, text);
        desk.store()
            .append_transcript(&key, &[line(DAY_MS, "old"), line(now - DAY_MS, "recent")])
            .unwrap();
        let (stop, shutdown) = Shutdown::new();
        let task = tokio::spawn(run_every(
            desk.clone(),
            30,
            Duration::from_secs(3600),
            shutdown,
        ));
        // The first purge runs at once; wait for it through the store, not the clock.
        for _ in 0..500 {
            if desk.store().transcript(&key, 10).unwrap().len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = desk.store().transcript(&key, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].text, "recent");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the task stops on shutdown")
            .unwrap();
    }
}

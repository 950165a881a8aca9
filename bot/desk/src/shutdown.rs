//! [`Shutdown`]: the stop signal every long-running task watches, and [`pause`], a sleep it cuts short.

use std::time::Duration;

use tokio::sync::watch;

/// Tells channel tasks to stop: clone it into each task and `await` [`Shutdown::wait`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown signal and the sender that triggers it (for tests and the runner).
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Resolves once shutdown was requested (or the sender is gone).
    pub async fn wait(&mut self) {
        // An error means the sender was dropped: treat it as a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once shutdown was requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// Sleeps `d`, or less if shutdown is requested; false when shutdown came.
pub async fn pause(d: Duration, shutdown: &Shutdown) -> bool {
    let mut s = shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => !shutdown.is_requested(),
        () = s.wait() => false,
    }
}

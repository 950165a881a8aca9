//! In-memory staff and user platforms for the relay's lifecycle tests: the staff side keeps
//! the order of what happened and refuses posts in a closed thread (as a closed Telegram topic
//! does); the user side keeps every reply with its buttons.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::lifecycle::{ThreadChange, ThreadState};
use deskbot_desk::handoff::relay::{RelayError, StaffSide, UserSide};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Reply};
use deskbot_storage::{ConvKey, StaffLocation, Ticket};

/// A hang guard, not a timing assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// What happened on the staff side, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEvent {
    /// A thread opened for the ticket.
    Opened(u64),
    /// A post in the ticket's thread.
    Posted(u64, String),
    /// The ticket's thread changed to this state.
    Thread(u64, ThreadState),
}

/// A staff side whose threads are the tickets' numbers.
#[derive(Clone, Default)]
pub struct FakeStaff {
    log: Arc<Mutex<Vec<StaffEvent>>>,
    closed: Arc<Mutex<HashSet<u64>>>,
    /// Thread changes asked for (done or not).
    calls: Arc<AtomicU64>,
    /// Thread changes still to fail (an outage), one per call.
    failing: Arc<AtomicU64>,
    /// Threads that cannot be changed any more (deleted).
    gone: Arc<Mutex<HashSet<u64>>>,
}

impl FakeStaff {
    /// How many thread changes were asked for.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The next `n` thread changes fail.
    pub fn fail_next(&self, n: u64) {
        self.failing.store(n, Ordering::SeqCst);
    }

    /// Ticket `n`'s thread was deleted: changing it is impossible.
    pub fn delete(&self, n: u64) {
        self.gone.lock().unwrap().insert(n);
    }

    /// Whether ticket `n`'s thread is closed.
    pub fn is_closed(&self, n: u64) -> bool {
        self.closed.lock().unwrap().contains(&n)
    }

    /// What happened, in order.
    pub fn log(&self) -> Vec<StaffEvent> {
        self.log.lock().unwrap().clone()
    }

    /// The posts in ticket `ticket`'s thread, in order.
    pub fn posts(&self, ticket: u64) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                StaffEvent::Posted(t, text) if t == ticket => Some(text),
                _ => None,
            })
            .collect()
    }
}

impl StaffSide for FakeStaff {
    async fn open(&self, ticket: &Ticket, _first: &str) -> Result<StaffLocation, RelayError> {
        self.log
            .lock()
            .unwrap()
            .push(StaffEvent::Opened(ticket.number));
        Ok(StaffLocation {
            platform: "telegram".into(),
            chat: "-100".into(),
            thread: Some(ticket.number.to_string()),
            message: None,
        })
    }

    async fn post(&self, at: &StaffLocation, text: &str, _nonce: &str) -> Result<(), RelayError> {
        let n: u64 = at.thread.as_deref().unwrap().parse().unwrap();
        if self.closed.lock().unwrap().contains(&n) {
            return Err(RelayError::Call {
                side: "fake staff",
                call: "sendMessage",
                detail: "Bad Request: TOPIC_CLOSED".into(),
            });
        }
        self.log
            .lock()
            .unwrap()
            .push(StaffEvent::Posted(n, text.to_string()));
        Ok(())
    }

    async fn set_thread(
        &self,
        at: &StaffLocation,
        state: ThreadState,
    ) -> Result<ThreadChange, RelayError> {
        let n: u64 = at.thread.as_deref().unwrap().parse().unwrap();
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok()
        {
            return Err(RelayError::Call {
                side: "fake staff",
                call: "closeForumTopic",
                detail: "connection reset".into(),
            });
        }
        if self.gone.lock().unwrap().contains(&n) {
            return Ok(ThreadChange::Impossible(
                "Bad Request: TOPIC_ID_INVALID".into(),
            ));
        }
        let mut closed = self.closed.lock().unwrap();
        let changed = match state {
            ThreadState::Closed => closed.insert(n),
            ThreadState::Open => closed.remove(&n),
        };
        if changed {
            self.log.lock().unwrap().push(StaffEvent::Thread(n, state));
        }
        Ok(ThreadChange::Done)
    }
}

/// A user side keeping every reply.
#[derive(Clone, Default)]
pub struct FakeUsers {
    sent: Arc<Mutex<Vec<(ConvKey, Reply)>>>,
}

impl FakeUsers {
    /// The replies sent to `user`, in order.
    pub fn to(&self, user: &ConvKey) -> Vec<Reply> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == user)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl UserSide for FakeUsers {
    async fn send(&self, user: &ConvKey, text: &str, nonce: &str) -> Result<(), RelayError> {
        self.send_reply(user, &Reply::text(text), nonce).await
    }

    async fn send_reply(&self, user: &ConvKey, reply: &Reply, _: &str) -> Result<(), RelayError> {
        self.sent
            .lock()
            .unwrap()
            .push((user.clone(), reply.clone()));
        Ok(())
    }
}

/// The desk over `dir` with a clock the test moves.
pub fn open_desk(dir: &Path, clock: &Arc<AtomicU64>) -> Desk {
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    let c = Arc::clone(clock);
    Desk::open(engine, dir)
        .unwrap()
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)))
}

/// Runs `f` on a two-thread runtime under [`HANG_GUARD`].
pub fn guarded<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(HANG_GUARD, f)
            .await
            .expect("hang guard")
    })
}

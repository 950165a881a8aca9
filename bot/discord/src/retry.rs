//! Retrying a REST call that failed for a transient reason (a 5xx, a 429 that serenity's
//! ratelimiter did not absorb, a timeout or a dropped connection) with bounded exponential
//! backoff. Generic over the call and its error, so it is tested without serenity.

use std::future::Future;
use std::time::Duration;

use deskbot_desk::backoff::Backoff;

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all (the first one included).
    pub attempts: u32,
    /// The waits between attempts.
    pub backoff: Backoff,
    /// How long one attempt may take before it counts as a (transient) timeout.
    pub attempt_timeout: Duration,
}

impl Policy {
    /// For messages: about a minute and a half of retries before a reply is given up.
    pub const DELIVERY: Self = Self {
        attempts: 8,
        backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
        attempt_timeout: Duration::from_secs(15),
    };

    /// For acknowledging an interaction, which Discord only accepts within 3 seconds: every
    /// attempt and wait together stay under that.
    pub const ACK: Self = Self {
        attempts: 3,
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_millis(200)),
        attempt_timeout: Duration::from_millis(800),
    };

    /// The longest time all attempts and waits can take.
    pub fn worst_case(&self) -> Duration {
        let waits: Duration = (1..self.attempts).map(|a| self.delay(a)).sum();
        waits + self.attempt_timeout.saturating_mul(self.attempts)
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt)
    }
}

/// Why a call finally failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// The last attempt's error; `transient` tells whether retrying more could have helped.
    Error {
        /// The error.
        error: E,
        /// It was a transient error, and the attempts ran out.
        transient: bool,
        /// Attempts made.
        attempts: u32,
    },
    /// Every attempt timed out.
    TimedOut {
        /// Attempts made.
        attempts: u32,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error {
                error,
                transient: true,
                attempts,
            } => write!(f, "{error} (still failing after {attempts} attempts)"),
            Self::Error { error, .. } => write!(f, "{error}"),
            Self::TimedOut { attempts } => {
                write!(f, "timed out ({attempts} attempts)")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Error { error, .. } => Some(error),
            Self::TimedOut { .. } => None,
        }
    }
}

/// Runs `call` until it succeeds, fails with an error `is_transient` rejects, or `policy`'s
/// attempts run out. `what` names the call in the log (never put a token in it).
pub async fn retry<T, E, F, Fut>(
    policy: Policy,
    what: &str,
    is_transient: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, Failure<E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let last = attempt >= policy.attempts;
        let why = match tokio::time::timeout(policy.attempt_timeout, call()).await {
            Ok(Ok(v)) => {
                if attempt > 1 {
                    tracing::info!(call = what, attempt, "succeeded after retrying");
                }
                return Ok(v);
            }
            Ok(Err(e)) => {
                let transient = is_transient(&e);
                if !transient || last {
                    return Err(Failure::Error {
                        error: e,
                        transient,
                        attempts: attempt,
                    });
                }
                e.to_string()
            }
            Err(_) => {
                if last {
                    return Err(Failure::TimedOut { attempts: attempt });
                }
                format!("no answer within {:?}", policy.attempt_timeout)
            }
        };
        let wait = policy.delay(attempt);
        tracing::warn!(call = what, attempt, error = %why, retry_in_ms = wait.as_millis() as u64, "transient failure; retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn fast(attempts: u32) -> Policy {
        Policy {
            attempts,
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(4)),
            attempt_timeout: Duration::from_millis(200),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = Policy::DELIVERY;
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(2), Duration::from_secs(1));
        assert_eq!(p.delay(7), Duration::from_secs(30));
        assert_eq!(p.delay(60), Duration::from_secs(30));
        let total: Duration = (1..p.attempts).map(|a| p.delay(a)).sum();
        assert!(total < Duration::from_secs(120), "{total:?}");
        assert!(Policy::ACK.worst_case() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn transient_errors_are_retried() {
        let n = AtomicU32::new(0);
        let r: Result<u32, Failure<String>> = retry(
            fast(5),
            "test",
            |_| true,
            || async {
                let k = n.fetch_add(1, Ordering::SeqCst) + 1;
                if k < 3 {
                    Err(format!("503 #{k}"))
                } else {
                    Ok(k)
                }
            },
        )
        .await;
        assert_eq!(r.unwrap(), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not() {
        let n = AtomicU32::new(0);
        let r: Result<(), Failure<String>> = retry(
            fast(5),
            "test",
            |_| false,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err("400".to_string())
            },
        )
        .await;
        assert!(matches!(
            r,
            Err(Failure::Error {
                transient: false,
                attempts: 1,
                ..
            })
        ));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_hangs_time_out() {
        let n = AtomicU32::new(0);
        let r: Result<(), Failure<String>> = retry(
            fast(3),
            "test",
            |_| true,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), String>>().await
            },
        )
        .await;
        assert!(matches!(r, Err(Failure::TimedOut { attempts: 3 })));
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }
}

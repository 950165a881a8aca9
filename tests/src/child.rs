//! Shared by the tests that run the `deskbot` binary: a guard that kills the child process if
//! the test fails (or panics) before it stopped it, so no stray bot outlives a test.

use std::process::Child;

/// Kills and reaps the child on drop, unless the test already took it (`guard.0.take()`).
pub struct Guard(pub Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

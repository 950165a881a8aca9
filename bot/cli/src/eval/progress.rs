//! A tiny progress bar on stderr, drawn only when stderr is a terminal (no dependency: the
//! bar is a dozen lines, and every crate costs CI time).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Progress output for one run; silent when stderr is not a terminal or when disabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Progress on stderr if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        Self {
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Prints a one-line status message.
    pub fn message(&self, text: &str) {
        if self.enabled {
            eprintln!("{text}");
        }
    }

    /// A bar for `total` steps; it appears only once the work has run for over a second.
    pub fn bar(&self, label: &str, total: usize) -> Bar {
        Bar {
            enabled: self.enabled,
            label: label.to_string(),
            total: total.max(1),
            start: Instant::now(),
            last_draw: None,
        }
    }
}

/// A progress bar (see [`Progress::bar`]).
#[derive(Debug)]
pub struct Bar {
    enabled: bool,
    label: String,
    total: usize,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Bar {
    /// Records that `done` steps are finished, redrawing at most ten times a second.
    pub fn set(&mut self, done: usize) {
        if !self.enabled || self.start.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let frac = done.min(self.total) as f64 / self.total as f64;
        let filled = (frac * 30.0) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {done}/{}",
            self.label,
            "#".repeat(filled),
            "-".repeat(30 - filled),
            self.total
        );
        let _ = err.flush();
    }

    /// Ends the bar's line if it was drawn.
    pub fn finish(self) {
        if self.last_draw.is_some() {
            eprintln!();
        }
    }
}

impl Progress {
    /// Runs `work`, showing `label` with the elapsed time on stderr while it runs, from one
    /// second on (for steps that report no progress of their own, such as training).
    pub fn timed<T>(&self, label: &str, work: impl FnOnce() -> T) -> T {
        if !self.enabled {
            return work();
        }
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let done = &done;
            let painter = scope.spawn(move || {
                let start = Instant::now();
                let mut drawn = false;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let elapsed = start.elapsed();
                    if elapsed >= Duration::from_secs(1) {
                        eprint!("\r{label}… {:.1} s", elapsed.as_secs_f64());
                        drawn = true;
                    }
                }
                if drawn {
                    eprintln!();
                }
            });
            let out = work();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = painter.join();
            out
        })
    }
}

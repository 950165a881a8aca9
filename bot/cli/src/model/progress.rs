//! The download's progress bar: bytes, rate and time left, on stderr when it is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a download shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar on stderr, only when stderr is a terminal (never in logs, pipes or services).
    Terminal,
    /// Nothing.
    Quiet,
}

/// A bar for `total` bytes: drawn or hidden as `progress` and stderr say.
pub(crate) fn bar(progress: Progress, total: u64, label: &str) -> ProgressBar {
    let shown = progress == Progress::Terminal && std::io::stderr().is_terminal();
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_owned());
    bar
}

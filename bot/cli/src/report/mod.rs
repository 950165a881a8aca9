//! `deskbot report`: what the bot did for the support team, over a period. How many
//! conversations, how many the bot resolved without a person, why tickets were opened, where
//! each guide loses people (the funnel: who reached each step, who said no to it), how often
//! the bot did not understand, tickets opened and closed, time to first staff reply and to
//! close (p50, p90), ratings by intent and by staff member, all by channel and by language.
//!
//! The figures come from one streaming pass over the store ([`compute::compute`], a pure
//! function over the records, with the definitions in its module docs); they are printed as
//! aligned tables ([`text`]), as one JSON object (`--json`, the [`compute::Report`] shape),
//! and written as one self-contained HTML page with SVG charts (`--html FILE`, [`html`]).
//!
//! Like `export` and `tickets list`, it never creates a database and reads a read-only one
//! through a temporary copy; it runs while the bot is stopped (sled allows one process).

pub mod charts;
pub mod compute;
pub mod html;
pub mod text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use deskbot_storage::{StorageError, Store};

pub use compute::{Report, TicketFacts, Window, compute};

/// `deskbot report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data")]
    pub data_dir: PathBuf,
    /// The period covered, back from now: a duration such as `30d`, `7d`, `12h` or `2w`, or
    /// `all`.
    #[arg(long, default_value = "30d", value_parser = parse_since)]
    pub since: Since,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page (charts included) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// How far back a report looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Everything stored.
    All,
    /// This long before now.
    Ago(Duration),
}

impl Since {
    /// The window ending at `now_ms`.
    pub fn window(self, now_ms: u64) -> Window {
        let since_ms = match self {
            Self::All => 0,
            Self::Ago(d) => now_ms.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        Window {
            since_ms,
            until_ms: now_ms,
        }
    }
}

/// Parses `--since`: `all`, or a duration (`30d`, `12h`, `2w`, `90min`; see `humantime`).
pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("all") {
        return Ok(Since::All);
    }
    crate::period::parse_period_expecting(text, "a duration such as 30d, 7d, 12h or 2w, or `all`")
        .map(Since::Ago)
}

/// The report over `window` from everything in `store`, read one record at a time.
pub fn from_store(store: &Store, window: Window) -> Result<Report, StorageError> {
    let tickets = store.ticket_records().map(|t| {
        let ticket = t?;
        let events = store.ticket_events(ticket.number)?;
        Ok(TicketFacts { ticket, events })
    });
    compute(window, tickets, store.transcript_lines())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs `deskbot report`, writing to stdout (and the HTML file).
pub fn run(args: ReportArgs) -> Result<()> {
    let store = Store::open_existing(&args.data_dir)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    if store.is_copy() {
        eprintln!(
            "the database in {} cannot be opened for writing: reading a temporary copy",
            args.data_dir.display()
        );
    }
    let report = from_store(&store, args.since.window(now_ms()))
        .with_context(|| format!("cannot read {}", args.data_dir.display()))?;
    drop(store);
    if let Some(path) = &args.html {
        write_file(path, html::page(&report).as_bytes())?;
        eprintln!(
            "wrote {}",
            crate::terminal::escape_controls(&path.display().to_string())
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let value = serde_json::to_value(&report)?;
        writeln!(out, "{}", crate::terminal::json_line(&value))?;
    } else {
        out.write_all(text::render(&report).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `bytes` to `path` through a file beside it, renamed when complete, so a failed
/// write never leaves half a report under the name.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    let shown = |p: &Path| crate::terminal::escape_controls(&p.display().to_string()).into_owned();
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", shown(&tmp)))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", shown(&tmp), shown(path)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_durations_and_all() {
        assert_eq!(parse_since("all"), Ok(Since::All));
        assert_eq!(
            parse_since("30d"),
            Ok(Since::Ago(Duration::from_secs(30 * 86_400)))
        );
        assert_eq!(
            parse_since("12h"),
            Ok(Since::Ago(Duration::from_secs(12 * 3_600)))
        );
        assert!(parse_since("0d").is_err());
        assert!(parse_since("soon").is_err());
        assert!(parse_since("-3d").is_err());
        let w = Since::Ago(Duration::from_secs(10)).window(60_000);
        assert_eq!((w.since_ms, w.until_ms), (50_000, 60_000));
        assert_eq!(Since::All.window(5).since_ms, 0);
        assert_eq!(
            Since::Ago(Duration::from_secs(10)).window(3).since_ms,
            0,
            "a period longer than the clock saturates"
        );
    }
}

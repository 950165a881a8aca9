//! `deskbot tickets list [--open]`, `tickets show N`, `tickets close N [--note TEXT]`: the
//! operator's view of the support queue. Like `export`, these open the database, so they
//! run while the bot is stopped (sled allows one process); a close queued for a Telegram
//! user is sent when the bot next starts.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use deskbot::desk::Desk;
use deskbot::escape::visible;
use deskbot::handoff::{self, in_queue_order, staff_ticket_text, ticket_summary};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_storage::{Rating, Store, TicketStatus};

/// `deskbot tickets`.
#[derive(Debug, clap::Args)]
pub struct TicketsArgs {
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: TicketsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TicketsCommand {
    /// One line per ticket: priority tickets first (marked), then the others, each oldest
    /// first.
    List {
        /// Only open tickets.
        #[arg(long)]
        open: bool,
    },
    /// A ticket in full: what staff saw, where it lives, its history.
    Show {
        /// The ticket number.
        number: u64,
    },
    /// Close an open ticket; its user is told (Telegram users when the bot next runs).
    Close {
        /// The ticket number.
        number: u64,
        /// A note kept with the ticket.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Runs a `tickets` subcommand, writing to stdout.
pub fn run(args: TicketsArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let open = || {
        Store::open(&args.data_dir)
            .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))
    };
    match args.command {
        TicketsCommand::List { open: open_only } => {
            let store = open()?;
            let mut tickets = store.tickets(open_only)?;
            in_queue_order(&mut tickets);
            if tickets.is_empty() {
                writeln!(
                    out,
                    "{}",
                    if open_only {
                        "no open tickets"
                    } else {
                        "no tickets"
                    }
                )?;
            }
            for t in &tickets {
                writeln!(out, "{}", visible(&ticket_summary(t)))?;
            }
        }
        TicketsCommand::Show { number } => {
            let store = open()?;
            let ticket = store
                .ticket(number)?
                .with_context(|| format!("there is no ticket #{number}"))?;
            writeln!(out, "{}", visible(&ticket_summary(&ticket)))?;
            if ticket.priority {
                writeln!(out, "Priority: yes (served before normal tickets)")?;
            }
            if ticket.status == TicketStatus::Open {
                writeln!(out, "Queue position: {}", store.queue_position(number)?)?;
            }
            writeln!(out, "Rating: {}", rating_text(ticket.rating))?;
            if ticket.forgotten {
                writeln!(
                    out,
                    "The user deleted their data (/forget): personal data removed."
                )?;
            }
            if let Some(by) = store.ticket_claimed_by(number)? {
                writeln!(out, "Claimed by: {}", visible(&by))?;
            }
            match store.staff_location(number)? {
                Some(l) => writeln!(
                    out,
                    "Staff side: {} chat {}{}{}",
                    l.platform,
                    l.chat,
                    l.thread.map(|t| format!(" thread {t}")).unwrap_or_default(),
                    l.message
                        .map(|m| format!(" message {m}"))
                        .unwrap_or_default(),
                )?,
                None => writeln!(out, "Staff side: not posted")?,
            }
            writeln!(out, "\n{}\n", visible(&staff_ticket_text(&ticket)))?;
            let events = store.ticket_events(number)?;
            if !events.is_empty() {
                writeln!(out, "History:")?;
            }
            for e in events {
                let line = format!(
                    "- {:?} by {}{}",
                    e.kind,
                    e.by,
                    e.note.map(|n| format!(": {n}")).unwrap_or_default()
                );
                writeln!(out, "{}", visible(&line))?;
            }
        }
        TicketsCommand::Close { number, note } => {
            let engine = Arc::new(Engine::new(Catalog::builtin()?)?);
            let desk = Desk::new(engine, open()?);
            match handoff::close_ticket(&desk, number, "operator", note.as_deref())? {
                None => anyhow::bail!("ticket #{number} does not exist or is not open"),
                Some(closed) => {
                    writeln!(
                        out,
                        "ticket #{number} closed; {}",
                        if closed.queued_for_user {
                            "the user will be told when the bot runs"
                        } else {
                            "tell the user yourself: this channel cannot be reached from here"
                        }
                    )?;
                }
            }
            desk.store().flush()?;
        }
    }
    Ok(())
}

/// How `tickets show` prints a rating.
fn rating_text(rating: Option<Rating>) -> &'static str {
    match rating {
        Some(Rating::Up) => "👍 (helpful)",
        Some(Rating::Down) => "👎 (not helpful)",
        None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_characters_and_bidi_overrides_are_shown_as_escapes() {
        assert_eq!(
            visible("Ann \u{1F600}\nline two"),
            "Ann \u{1F600}\nline two"
        );
        assert_eq!(visible("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(visible("x\ry\tz\u{7f}"), "x\\u{d}y\\u{9}z\\u{7f}");
        assert_eq!(visible("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
    }
}

//! `deskbot tickets list [--open] [--staff NAME] [--intent ID] [--since 7d]`, `tickets search
//! TEXT` (same filters), `tickets show N`, `tickets close N [--note TEXT]`: the operator's view
//! of the support queue. Listings are in queue order: priority tickets first, then by number. Like `export`, these open the database, so they
//! run while the bot is stopped (sled allows one process); a close queued for a Telegram
//! user is sent when the bot next starts.
//!
//! They never create a database: a data directory without one is an error naming it. `list`
//! and `show` read a read-only database through a temporary copy; `close` needs to write.
//! Everything a user wrote (names, messages) is printed with control characters escaped
//! ([`escape_controls`]), so it cannot act on the operator's terminal.

mod filter;
mod search;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use deskbot::close::close_ticket;
use deskbot::terminal::escape_controls;
use deskbot_desk::desk::Desk;
use deskbot_desk::handoff::{self, mask_for_staff, relay::initial_cursor};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::redact::mask_secrets;
use deskbot_storage::{Rating, Speaker, Store, Ticket, TicketStatus, TranscriptEntry};

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
    /// One line per ticket: priority tickets first, then oldest first.
    List {
        #[command(flatten)]
        filter: filter::Filter,
    },
    /// The lines of ticket transcripts (as staff see them: secrets masked, staff replies
    /// included) that contain TEXT, case and accents ignored.
    Search {
        /// The text to find.
        text: String,
        #[command(flatten)]
        filter: filter::Filter,
    },
    /// A ticket in full: what staff saw, where it lives, its history, its whole transcript
    /// (with what was said since it opened).
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
        Store::open_existing(&args.data_dir)
            .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))
    };
    match args.command {
        TicketsCommand::List { filter } => {
            let store = open()?;
            let mut tickets = store.tickets(filter.open)?;
            handoff::in_queue_order(&mut tickets);
            let now = now_ms();
            let mut listed = 0usize;
            for t in &tickets {
                if filter.keeps(&store, t, now)? {
                    writeln!(out, "{}", escape_controls(&handoff::ticket_summary(t)))?;
                    listed += 1;
                }
            }
            if listed == 0 {
                let none = match (filter.narrows(), filter.open) {
                    (true, _) => "no tickets match",
                    (false, true) => "no open tickets",
                    (false, false) => "no tickets",
                };
                writeln!(out, "{none}")?;
            }
        }
        TicketsCommand::Search { text, filter } => {
            let store = open()?;
            search::run(&mut out, &store, &text, &filter, now_ms())?;
        }
        TicketsCommand::Show { number } => {
            let store = open()?;
            let ticket = store
                .ticket(number)?
                .with_context(|| format!("there is no ticket #{number}"))?;
            show(&mut out, &store, &ticket)?;
        }
        TicketsCommand::Close { number, note } => {
            let store = open()?;
            if store.is_copy() {
                anyhow::bail!(
                    "the database in {} cannot be written (read-only): a close would be lost",
                    args.data_dir.display()
                );
            }
            // The engine only words the user's notice: n-grams suffice, and the trained engine
            // saved in the cache loads in milliseconds instead of training for seconds.
            let options = deskbot::embedding::EmbeddingOptions::from_flag(true);
            let (engine, _) = deskbot::embedding::build_engine(Catalog::builtin()?, &options)?;
            let engine = Arc::new(engine);
            let desk = Desk::new(engine, store);
            match close_ticket(&desk, number, "operator", note.as_deref())? {
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

/// Now, in Unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// User-written text as printed: secrets masked, control characters escaped.
fn user_text(text: &str) -> String {
    escape_controls(&mask_for_staff(text)).into_owned()
}

/// `tickets show`: the ticket's facts, where it lives, then its whole transcript, then its
/// history.
fn show(out: &mut dyn Write, store: &Store, ticket: &Ticket) -> Result<()> {
    let number = ticket.number;
    writeln!(out, "{}", escape_controls(&handoff::ticket_summary(ticket)))?;
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
        writeln!(out, "Claimed by: {}", escape_controls(&by))?;
    }
    match store.staff_location(number)? {
        Some(l) => writeln!(
            out,
            "Staff side: {} chat {}{}{}",
            escape_controls(&l.platform),
            escape_controls(&l.chat),
            l.thread
                .map(|t| format!(" thread {}", escape_controls(&t)))
                .unwrap_or_default(),
            l.message
                .map(|m| format!(" message {}", escape_controls(&m)))
                .unwrap_or_default(),
        )?,
        None => writeln!(out, "Staff side: not posted")?,
    }
    writeln!(out)?;
    if ticket.priority {
        writeln!(out, "{}", handoff::PRIORITY_LINE)?;
    }
    writeln!(
        out,
        "Ticket #{number} · {} · {}",
        escape_controls(ticket.conversation.platform.label()),
        match &ticket.display_name {
            Some(n) => escape_controls(&mask_secrets(n).0).into_owned(),
            None => format!("user {}", escape_controls(&ticket.conversation.user)),
        }
    )?;
    match (&ticket.intent, ticket.confidence) {
        (Some(i), Some(c)) => writeln!(out, "Intent: {} ({:.0} %)", escape_controls(i), c * 100.0)?,
        (Some(i), None) => writeln!(out, "Intent: {}", escape_controls(i))?,
        _ => writeln!(out, "Intent: not recognised")?,
    }
    if ticket.steps_tried.is_empty() {
        writeln!(out, "Steps tried: none")?;
    } else {
        writeln!(out, "Steps tried:")?;
        for s in &ticket.steps_tried {
            writeln!(
                out,
                "- {} step {}: {} → {}",
                escape_controls(&s.guide),
                s.step,
                user_text(&s.text),
                user_text(&s.answer)
            )?;
        }
    }
    writeln!(out, "Transcript:")?;
    for line in &ticket.transcript {
        transcript_line(out, line)?;
    }
    let since = lines_since_opened(store, ticket)?;
    if !since.is_empty() {
        writeln!(out, "Since the ticket opened:")?;
        for line in &since {
            transcript_line(out, line)?;
        }
    }
    let events = store.ticket_events(number)?;
    if !events.is_empty() {
        writeln!(out, "\nHistory:")?;
    }
    for e in events {
        writeln!(
            out,
            "- {:?} by {}{}",
            e.kind,
            escape_controls(&e.by),
            e.note
                .map(|n| format!(": {}", user_text(&n)))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn transcript_line(out: &mut dyn Write, line: &TranscriptEntry) -> std::io::Result<()> {
    let who = match line.speaker {
        Speaker::User => "User",
        Speaker::Bot => "Bot",
        Speaker::Staff => "Staff",
    };
    writeln!(out, "{who}: {}", user_text(&line.text))
}

/// The lines of the ticket's conversation said after it opened (the ticket itself holds the
/// transcript up to the escalation): from where the staff relay starts
/// ([`initial_cursor`]), up to the close for a closed ticket.
fn lines_since_opened(store: &Store, ticket: &Ticket) -> Result<Vec<TranscriptEntry>> {
    if ticket.forgotten {
        return Ok(Vec::new());
    }
    let all = store.transcript_after(&ticket.conversation, None)?;
    let start = initial_cursor(&all, ticket.number, ticket.opened_at_ms);
    let until = match ticket.status {
        TicketStatus::Closed => ticket.closed_at_ms.unwrap_or(u64::MAX),
        TicketStatus::Open => u64::MAX,
    };
    Ok(all
        .into_iter()
        .filter(|(seq, line)| start.is_none_or(|s| *seq > s) && line.at_ms <= until)
        .map(|(_, line)| line)
        .collect())
}

/// How `tickets show` prints a rating.
fn rating_text(rating: Option<Rating>) -> &'static str {
    match rating {
        Some(Rating::Up) => "👍 (helpful)",
        Some(Rating::Down) => "👎 (not helpful)",
        None => "none",
    }
}

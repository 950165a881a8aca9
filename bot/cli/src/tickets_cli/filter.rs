//! Which tickets `tickets list` and `tickets search` look at: `--open`, `--staff NAME`,
//! `--intent ID`, `--since 7d`, all of them together.

use std::time::Duration;

use anyhow::Result;
use deskbot_storage::{Store, Ticket, TicketEventKind, TicketStatus};

use super::search::fold_text;

/// The filters both listing commands take.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Only open tickets.
    #[arg(long)]
    pub open: bool,
    /// Only tickets this staff member claimed or closed (the name their events show; case and
    /// accents ignored).
    #[arg(long, value_name = "NAME")]
    pub staff: Option<String>,
    /// Only tickets of this intent (its catalog id, e.g. `password_reset`).
    #[arg(long, value_name = "ID")]
    pub intent: Option<String>,
    /// Only tickets opened within this long before now: `7d`, `12h`, `30m`, `2w`.
    #[arg(long, value_name = "DURATION", value_parser = deskbot::period::parse_period)]
    pub since: Option<Duration>,
}

impl Filter {
    /// Whether any filter but `--open` is set.
    pub fn narrows(&self) -> bool {
        self.staff.is_some() || self.intent.is_some() || self.since.is_some()
    }

    /// Whether `ticket` passes every filter, at `now_ms` (Unix milliseconds).
    pub fn keeps(&self, store: &Store, ticket: &Ticket, now_ms: u64) -> Result<bool> {
        if self.open && ticket.status != TicketStatus::Open {
            return Ok(false);
        }
        if let Some(intent) = &self.intent
            && !ticket
                .intent
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(intent.trim()))
        {
            return Ok(false);
        }
        if let Some(since) = self.since {
            let ago = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
            if ticket.opened_at_ms < now_ms.saturating_sub(ago) {
                return Ok(false);
            }
        }
        if let Some(staff) = &self.staff {
            let wanted = fold_text(staff);
            let by_them = store.ticket_events(ticket.number)?.iter().any(|e| {
                matches!(e.kind, TicketEventKind::Claimed | TicketEventKind::Closed)
                    && fold_text(&e.by) == wanted
            });
            if !by_them {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

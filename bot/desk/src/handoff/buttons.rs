//! The Claim and Close buttons under a ticket's first staff message: one codec for every staff
//! platform (a Discord custom id, Telegram callback data), `ticket:<action>:<number>`.

/// A ticket button's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketButton {
    /// Take the ticket.
    Claim,
    /// Close it.
    Close,
}

impl TicketButton {
    /// The staff command the button stands for.
    pub fn command(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Close => "close",
        }
    }

    /// The button's data for ticket `number` (at most 32 bytes: fits Telegram's 64-byte
    /// callback data and Discord's 100-character custom id).
    pub fn data(self, number: u64) -> String {
        format!("ticket:{}:{number}", self.command())
    }

    /// Reads a ticket button's data: the action and the ticket number; `None` for any other
    /// button.
    pub fn parse(data: &str) -> Option<(Self, u64)> {
        let rest = data.strip_prefix("ticket:")?;
        let (action, number) = rest.split_once(':')?;
        let action = match action {
            "claim" => Self::Claim,
            "close" => Self::Close,
            _ => return None,
        };
        number.parse().ok().map(|n| (action, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_buttons_round_trip_and_other_data_is_not_one() {
        assert_eq!(
            TicketButton::parse(&TicketButton::Claim.data(12)),
            Some((TicketButton::Claim, 12))
        );
        assert_eq!(
            TicketButton::parse(&TicketButton::Close.data(3)),
            Some((TicketButton::Close, 3))
        );
        assert_eq!(TicketButton::parse("ticket:open:3"), None);
        assert_eq!(TicketButton::parse("ticket:close:x"), None);
        assert_eq!(TicketButton::parse("db:1:2:yes"), None);
        assert_eq!(TicketButton::parse("g42/3:no"), None);
        assert!(TicketButton::Claim.data(u64::MAX).len() <= 64);
    }
}

//! The channel marks, typed: a mark is a small value kept in the store beside a channel's
//! outbox (see `deskbot_storage::ChannelWrite`), and [`Mark::name`] is the one place their
//! stored names are formatted. The names are those earlier versions wrote, so existing marks
//! are still found.

use deskbot_storage::ConvKey;

/// A channel mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark<'a> {
    /// Where the channel reaches `user` privately when they have not just written (a Discord
    /// DM channel). Holds something about the user: `/forget` removes it ([`of_user`]).
    PrivateAddress {
        /// The user's id on the platform.
        user: &'a str,
    },
    /// A target (a chat) that blocked the bot or removed it; holds since when.
    Blocked {
        /// The outbox target.
        target: &'a str,
    },
    /// A bot message in a staff group and the ticket it belongs to, so a staff reply to it
    /// reaches the ticket.
    Route {
        /// The staff chat.
        chat: &'a str,
        /// The message in it.
        message: &'a str,
    },
    /// A staff message the relay already handled (under [`RELAY_SEEN`]).
    StaffSeen {
        /// The ticket.
        ticket: u64,
        /// The staff message's id on its platform.
        message: &'a str,
    },
}

/// The store channel under which the relay keeps its [`Mark::StaffSeen`] marks: the relay's
/// own, beside the platforms' channels.
pub const RELAY_SEEN: &str = "relay_seen";

impl Mark<'_> {
    /// The mark's stored name.
    pub fn name(&self) -> String {
        match self {
            Self::PrivateAddress { user } => format!("dm:{user}"),
            Self::Blocked { target } => format!("blocked:{target}"),
            Self::Route { chat, message } => format!("route:{chat}:{message}"),
            Self::StaffSeen { ticket, message } => format!("staff:{ticket}:{message}"),
        }
    }
}

/// The marks holding something about the user of `key` (`(channel, name)` pairs), removed by
/// `/forget`.
pub fn of_user(key: &ConvKey) -> Vec<(String, String)> {
    vec![(
        key.platform.as_str().to_string(),
        Mark::PrivateAddress { user: &key.user }.name(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_stored_before() {
        assert_eq!(Mark::PrivateAddress { user: "77" }.name(), "dm:77");
        assert_eq!(Mark::Blocked { target: "-5" }.name(), "blocked:-5");
        let route = Mark::Route {
            chat: "-100",
            message: "4",
        };
        assert_eq!(route.name(), "route:-100:4");
        let seen = Mark::StaffSeen {
            ticket: 3,
            message: "m9",
        };
        assert_eq!(seen.name(), "staff:3:m9");
        let key = ConvKey::new(deskbot_storage::Platform::Discord, "77");
        assert_eq!(of_user(&key), vec![("discord".into(), "dm:77".into())]);
    }
}

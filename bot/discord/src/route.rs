//! Which messages the bot answers, what text the engine sees, and the slash commands.
//! Plain data in, plain data out: no serenity types.

/// Where a message or an interaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A direct message with the bot.
    Dm,
    /// A guild channel listed in `support_channel_ids`.
    SupportChannel,
    /// Any other guild channel.
    OtherChannel,
}

impl Place {
    /// Classifies channel `channel_id`, in a guild when `in_guild`.
    pub fn of(in_guild: bool, channel_id: u64, support_channels: &[u64]) -> Self {
        if !in_guild {
            Self::Dm
        } else if support_channels.contains(&channel_id) {
            Self::SupportChannel
        } else {
            Self::OtherChannel
        }
    }
}

/// The parts of an incoming message that decide whether the bot answers it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Where it was posted.
    pub place: Place,
    /// Written by a bot (this one included) or a webhook.
    pub from_bot: bool,
    /// A regular message or a reply (not a join, pin or other system message).
    pub ordinary: bool,
    /// The text.
    pub content: &'a str,
    /// Ids of the users it mentions.
    pub mentions: &'a [u64],
    /// It replies to a message the bot wrote.
    pub replies_to_bot: bool,
}

/// The text the engine should see, or `None` when the bot must stay silent: bots, system
/// messages and other channels are ignored; in support channels only messages that mention
/// the bot (or reply to it) are answered, with the mention removed; every DM is answered.
pub fn engine_text(msg: &Incoming<'_>, bot_id: u64) -> Option<String> {
    if msg.from_bot || !msg.ordinary {
        return None;
    }
    match msg.place {
        Place::Dm => Some(msg.content.to_string()),
        Place::OtherChannel => None,
        Place::SupportChannel => {
            let mentioned = msg.mentions.contains(&bot_id) || mentions_user(msg.content, bot_id);
            // Without MESSAGE_CONTENT a reply that does not ping the bot arrives empty:
            // there is nothing to answer.
            let replied = msg.replies_to_bot && !msg.content.trim().is_empty();
            (mentioned || replied).then(|| strip_mentions_of(msg.content, bot_id))
        }
    }
}

fn mentions_user(content: &str, user: u64) -> bool {
    content.contains(&format!("<@{user}>")) || content.contains(&format!("<@!{user}>"))
}

/// `content` without the mentions of `user` (`<@id>` and the legacy `<@!id>`), trimmed.
pub fn strip_mentions_of(content: &str, user: u64) -> String {
    let text = content
        .replace(&format!("<@{user}>"), " ")
        .replace(&format!("<@!{user}>"), " ");
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// A slash command the bot registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlashCommand {
    /// Its name.
    pub name: &'static str,
    /// The description Discord shows.
    pub description: &'static str,
    /// The required text option, if it has one: (name, description).
    pub text_option: Option<(&'static str, &'static str)>,
}

/// The name of `/support`'s text option.
pub const SUPPORT_OPTION: &str = "message";

/// `/support <message>`, `/human`, `/reset`, `/help`, `/forget`.
pub const SLASH_COMMANDS: [SlashCommand; 5] = [
    SlashCommand {
        name: "support",
        description: "Describe your sign-in problem and get step-by-step help",
        text_option: Some((SUPPORT_OPTION, "What happens when you try to sign in")),
    },
    SlashCommand {
        name: "human",
        description: "Ask for a person from the support team",
        text_option: None,
    },
    SlashCommand {
        name: "reset",
        description: "Leave the current guide and start over",
        text_option: None,
    },
    SlashCommand {
        name: "help",
        description: "What this bot can help with",
        text_option: None,
    },
    SlashCommand {
        name: "forget",
        description: "Delete everything this bot stored about you (asks to confirm)",
        text_option: None,
    },
];

/// The text the engine sees for slash command `name` with `/support`'s `message` option;
/// `None` for a command this bot does not know (an old registration, say).
pub fn command_text(name: &str, message: Option<&str>) -> Option<String> {
    match name {
        "support" => {
            let m = message.map(str::trim).unwrap_or_default();
            // An empty /support is a request for the topics. The engine treats a leading
            // slash as a command, so text the user typed cannot start with one here.
            Some(if m.is_empty() {
                "/help".to_string()
            } else {
                m.trim_start_matches('/').to_string()
            })
        }
        "human" | "reset" | "help" | "forget" => Some(format!("/{name}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: u64 = 900;

    fn msg<'a>(place: Place, content: &'a str, mentions: &'a [u64]) -> Incoming<'a> {
        Incoming {
            place,
            from_bot: false,
            ordinary: true,
            content,
            mentions,
            replies_to_bot: false,
        }
    }

    #[test]
    fn every_dm_is_answered() {
        assert_eq!(
            engine_text(&msg(Place::Dm, "hi <@900>", &[]), BOT).as_deref(),
            Some("hi <@900>")
        );
    }

    #[test]
    fn support_channel_needs_a_mention() {
        assert_eq!(
            engine_text(&msg(Place::SupportChannel, "my 2fa code", &[]), BOT),
            None
        );
        assert_eq!(
            engine_text(
                &msg(Place::SupportChannel, "<@900> my 2fa code", &[BOT]),
                BOT
            )
            .as_deref(),
            Some("my 2fa code")
        );
        // The legacy nickname form, even when `mentions` is missing.
        assert_eq!(
            engine_text(&msg(Place::SupportChannel, "hey <@!900>  help", &[]), BOT).as_deref(),
            Some("hey help")
        );
        let mut reply = msg(Place::SupportChannel, "still stuck", &[]);
        reply.replies_to_bot = true;
        assert_eq!(engine_text(&reply, BOT).as_deref(), Some("still stuck"));
        reply.content = "";
        assert_eq!(
            engine_text(&reply, BOT),
            None,
            "content withheld without the intent"
        );
    }

    #[test]
    fn other_channels_bots_and_system_messages_are_ignored() {
        assert_eq!(
            engine_text(&msg(Place::OtherChannel, "<@900> hi", &[BOT]), BOT),
            None
        );
        let mut m = msg(Place::Dm, "hi", &[]);
        m.from_bot = true;
        assert_eq!(engine_text(&m, BOT), None);
        let mut m = msg(Place::Dm, "hi", &[]);
        m.ordinary = false;
        assert_eq!(engine_text(&m, BOT), None);
    }

    #[test]
    fn mentions_of_others_stay() {
        assert_eq!(
            strip_mentions_of("<@900> ask <@12> and\n <@900> me", BOT),
            "ask <@12> and\nme"
        );
    }

    #[test]
    fn places() {
        assert_eq!(Place::of(false, 5, &[5]), Place::Dm);
        assert_eq!(Place::of(true, 5, &[5]), Place::SupportChannel);
        assert_eq!(Place::of(true, 6, &[5]), Place::OtherChannel);
    }

    #[test]
    fn commands_map_to_engine_text() {
        assert_eq!(
            command_text("support", Some(" my 2fa code is invalid ")).as_deref(),
            Some("my 2fa code is invalid")
        );
        assert_eq!(command_text("support", None).as_deref(), Some("/help"));
        assert_eq!(
            command_text("support", Some("/reset now")).as_deref(),
            Some("reset now")
        );
        assert_eq!(command_text("human", None).as_deref(), Some("/human"));
        assert_eq!(command_text("forget", None).as_deref(), Some("/forget"));
        assert_eq!(command_text("reset", None).as_deref(), Some("/reset"));
        assert_eq!(command_text("help", None).as_deref(), Some("/help"));
        assert_eq!(command_text("ban", None), None);
        assert!(SLASH_COMMANDS.iter().all(|c| c.name.len() <= 32
            && c.description.len() <= 100
            && c.name.chars().all(|ch| ch.is_ascii_lowercase())));
    }
}

//! [`DiscordError`]: why the Discord channel could not start or had to stop. Transient trouble
//! (the network, rate limits, an outage) is retried inside the channel and never becomes one
//! of these. serenity's errors are boxed: they are large and this type is returned often.

use thiserror::Error;

/// Why the Discord channel stopped with an error.
#[derive(Debug, Error)]
pub enum DiscordError {
    /// No token is configured.
    #[error("no Discord bot token: set DISCORD_BOT_TOKEN")]
    NoToken,
    /// `discord.api_url` cannot be parsed.
    #[error("discord.api_url is not a valid URL")]
    ApiUrl(#[source] url::ParseError),
    /// `discord.api_url` is not an http(s) URL.
    #[error("discord.api_url must be an http or https URL")]
    ApiUrlScheme,
    /// The gateway URL could not be had from `discord.api_url`.
    #[error("cannot get the gateway URL from discord.api_url")]
    GatewayUrl(#[source] Box<crate::retry::Failure<serenity::Error>>),
    /// serenity could not set up its client.
    #[error("cannot set up the Discord client")]
    Client(#[source] Box<serenity::Error>),
    /// The gateway connection ended with an error serenity does not retry.
    #[error("the Discord gateway connection failed")]
    Gateway(#[source] Box<serenity::Error>),
}

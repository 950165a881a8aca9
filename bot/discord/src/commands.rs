//! Registering the slash commands (globally, or in the configured guilds).

use serenity::all::{
    Command, CommandOptionType, CreateCommand, CreateCommandOption, GuildId, Http,
    InteractionContext,
};

use super::poison;
use super::render;
use super::retry::{self, Failure, Policy};
use super::route::{self};
use crate::sending::is_transient;

use crate::handler::Handler;

impl Handler {
    /// Registers `/support`, `/human`, `/reset` and `/help` in each configured guild, or
    /// globally when none is configured.
    pub(crate) async fn register_commands(&self, http: &Http) {
        let commands: Vec<CreateCommand> = route::SLASH_COMMANDS
            .iter()
            .map(|c| {
                let mut b = CreateCommand::new(c.name).description(c.description);
                if let Some((name, description)) = c.text_option {
                    b = b.add_option(
                        CreateCommandOption::new(CommandOptionType::String, name, description)
                            .required(true)
                            .max_length(render::MAX_CONTENT as u16),
                    );
                }
                if self.guild_ids.is_empty() {
                    b = b.contexts(vec![InteractionContext::Guild, InteractionContext::BotDm]);
                }
                b
            })
            .collect();
        if self.guild_ids.is_empty() {
            let r = retry::retry(
                Policy::DELIVERY,
                "register global commands",
                is_transient,
                || Command::set_global_commands(http, commands.clone()),
            )
            .await;
            match r {
                Ok(c) => tracing::info!(commands = c.len(), "slash commands registered globally"),
                Err(Failure::Error { error, .. })
                    if poison::unreadable_answer(
                        self.desk.metrics(),
                        "setGlobalCommands",
                        &error,
                    ) =>
                {
                    tracing::info!("slash commands registered globally (answer unreadable)")
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot register the slash commands globally")
                }
            }
        }
        for &g in &self.guild_ids {
            let Some(guild) = std::num::NonZeroU64::new(g).map(GuildId::from) else {
                continue;
            };
            let r = retry::retry(
                Policy::DELIVERY,
                "register guild commands",
                is_transient,
                || guild.set_commands(http, commands.clone()),
            )
            .await;
            match r {
                Ok(c) => tracing::info!(guild = g, commands = c.len(), "slash commands registered"),
                Err(Failure::Error { error, .. })
                    if poison::unreadable_answer(
                        self.desk.metrics(),
                        "setGuildCommands",
                        &error,
                    ) =>
                {
                    tracing::info!(guild = g, "slash commands registered (answer unreadable)")
                }
                Err(e) => {
                    tracing::error!(guild = g, error = %e, "cannot register the slash commands")
                }
            }
        }
    }
}

//! deskbot-discord's integration tests: one test binary, a module per file.

mod common;
mod discord;
mod discord_flood;
mod discord_languages;
mod discord_poison;
mod handoff_discord;
mod ticket_threads_discord;

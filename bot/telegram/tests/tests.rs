//! deskbot-telegram's integration tests: one test binary, a module per file.

mod common;
mod handoff_telegram;
mod telegram;
mod telegram_languages;
mod telegram_poison;
mod ticket_topics_telegram;

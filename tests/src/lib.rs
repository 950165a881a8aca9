//! deskbot's testkit, shared by the integration tests of every crate: the fake platforms the
//! channels are tested against and a guard for the `deskbot` child processes.
//!
//! - [`fake_telegram`]: a fake Telegram Bot API (long polling, webhooks, staff groups);
//! - [`fake_discord`]: a fake Discord (REST and the gateway websocket);
//! - [`child`]: kills a `deskbot` child process a failing test left running;
//! - [`speech`]: what a language looks like to a user, from the catalog (the language checks
//!   of the channel tests).
//!
//! This library depends on no deskbot crate but the engine (for the catalog), so the channel
//! crates can dev-depend on it. The end-to-end tests across the crates live in `tests/tests/`.

#![warn(missing_docs)]

pub mod child;
pub mod fake_discord;
pub mod fake_telegram;
pub mod speech;

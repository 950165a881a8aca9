//! deskbot's platform-neutral core around the engine, shared by every channel: the turn runner
//! ([`desk::Desk`]), flood control, metrics, transcript retention, the stop signal, retry
//! delays, and the human-handoff core ([`handoff`]: ticket text, staff commands and the relay
//! over the [`handoff::relay::UserSide`] and [`handoff::relay::StaffSide`] traits).
//!
//! This crate names no platform: the channel crates (`deskbot-telegram`, `deskbot-discord`)
//! build on it and never on each other.

#![warn(missing_docs)]

pub mod backoff;
pub mod clock;
mod decision;
pub mod desk;
pub mod flood;
pub mod handoff;
pub mod marks;
pub mod metrics;
pub mod outbox;
pub mod panic;
pub mod retention;
pub mod secret;
pub mod shutdown;
pub mod unreadable;

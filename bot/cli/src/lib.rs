//! The `deskbot` binary's library: the configuration file ([`config`]), the `run` wiring of
//! the channels and the relay ([`run`], [`wiring`]), the console ([`console`]), the
//! conversation-suite runner ([`conversations`]), the operator's ticket, dead-letter and
//! backup helpers, and the `/healthz` + `/metrics` endpoint with the logging ([`observe`]).
//!
//! Data flows one way: a channel crate (`deskbot-telegram`, `deskbot-discord`, or the
//! [`console`] here) turns a platform event into an engine input, the desk
//! (`deskbot-desk`) runs the engine's turn and persists it with the storage crate, and the
//! channel sends what the turn queued.

#![warn(missing_docs)]

pub mod backup_check;
pub mod close;
pub mod config;
pub mod console;
pub mod conversations;
pub mod dead_letters;
pub mod embedding;
pub mod model;
pub mod observe;
pub mod period;
pub mod report;
pub mod run;
pub mod terminal;
pub mod vectors;
pub mod wiring;

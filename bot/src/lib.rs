//! deskbot's application layer: the turn runner shared by every channel ([`desk`]), the
//! configuration ([`config`]), and the channel adapters ([`console`], [`telegram`],
//! [`discord`]) started by [`run`].
//!
//! Data flows one way: an adapter turns a platform event into an engine [`Input`], the
//! [`desk::Desk`] runs the engine's turn, persists it with the storage crate, and hands the
//! reply back for the adapter to render.
//!
//! [`Input`]: deskbot_engine::dialogue::Input

#![warn(missing_docs)]

pub mod backup_check;
pub mod config;
pub mod console;
pub mod conversations;
pub mod dead_letters;
pub mod desk;
pub mod discord;
pub mod flood;
pub mod handoff;
pub mod metrics;
pub mod observe;
pub mod retention;
pub mod run;
pub mod telegram;
pub mod terminal;

//! deskbot's pure core.
//!
//! The engine turns a user's message into a decision: which troubleshooting topic it is about
//! ([`classifier`]), what to say and which buttons to offer ([`dialogue`]), and how the
//! conversation's state changes. It does no network or database I/O and knows no platform:
//! channel adapters feed it [`dialogue::Input`]s and render its [`dialogue::Reply`]s, and the
//! storage crate persists its [`dialogue::Conversation`]s.

#![warn(missing_docs)]

pub mod acts;
pub mod catalog;
pub mod classifier;
pub mod dialogue;
pub mod embed;
pub mod langid;
pub mod language;
pub mod normalize;
pub mod redact;

//! deskbot-storage's integration tests: one test binary, a module per file.

mod backup;
mod channel;
mod dead_letter;
mod priority;
mod privacy;
mod store;

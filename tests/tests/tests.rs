//! End-to-end tests across the deskbot crates: one test binary, a module per file.

mod abuse_privacy;
mod conversation_suite;
mod conversations;
mod handoff_e2e;

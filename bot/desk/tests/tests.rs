//! deskbot-desk's integration tests: one test binary, a module per file.

mod decisions;
mod handoff_relay;

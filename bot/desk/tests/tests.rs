//! deskbot-desk's integration tests: one test binary, a module per file.

mod decisions;
mod handoff_relay;
mod idle_tickets;
mod lifecycle_fakes;
mod thread_lifecycle;

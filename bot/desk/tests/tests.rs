//! deskbot-desk's integration tests: one test binary, a module per file.

mod handoff_relay;

//! deskbot-engine's integration tests: one test binary, a module per file.

mod e5;
mod masking;
mod prop;

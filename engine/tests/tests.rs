//! deskbot-engine's integration tests: one test binary, a module per file.

mod masking;
mod prop;

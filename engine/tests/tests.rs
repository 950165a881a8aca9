//! deskbot-engine's integration tests: one test binary, a module per file.

mod answers;
mod e5;
mod engine_vectors;
mod languages;
mod masking;
mod prop;

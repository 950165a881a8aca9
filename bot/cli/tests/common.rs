//! Set-up shared by the binary's tests.

use std::process::Command;

/// The `deskbot` binary, on n-grams alone: these tests are about the process, its
/// configuration and its channels, and must not depend on (or spend minutes of CPU on) the
/// sentence-embedding model. The tests that are about the model (`embedding_*`) start the
/// binary with it.
pub fn deskbot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskbot"));
    cmd.env("DESKBOT_NO_EMBEDDINGS", "1");
    cmd
}

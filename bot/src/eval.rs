//! `deskbot eval`: being written.

use anyhow::Result;

/// Arguments of `deskbot eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {}

/// Runs `deskbot eval`.
pub fn run(_args: EvalArgs) -> Result<()> {
    Ok(())
}

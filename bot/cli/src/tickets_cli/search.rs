//! `deskbot tickets search TEXT`: the lines of ticket transcripts that contain TEXT, as staff
//! see them (secrets masked, [`mask_for_staff`]): each ticket's transcript up to the
//! escalation, then what the user, the bot and staff said after it opened, up to its close
//! ([`lines_since_opened`](super::lines_since_opened), the lines `tickets show` prints).
//! A line belongs to one ticket only: a ticket's copy of the conversation can reach back into
//! an earlier ticket of the same user, and those lines are that ticket's (found there, not
//! again in the later one).
//!
//! Matching ignores case, accents and width: both sides are folded one character at a time
//! with the engine's own normalisation ([`normalize`]: NFKC, full lower case, invisible
//! characters dropped), then decomposed (NFD) with their combining marks dropped, and runs of
//! whitespace read as one space. `CAFE` finds "café", `ｐａｓｓｗｏｒｄ` finds "password". Each
//! folded character remembers where it came from, so the hit is shown in the line as written.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use deskbot_desk::handoff::{self, mask_for_staff};
use deskbot_engine::normalize::normalize;
use deskbot_storage::{ConvKey, Speaker, Store, Ticket, TicketStatus, TranscriptEntry};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::filter::Filter;
use deskbot::terminal::escape_controls;

/// Characters of context shown on each side of a hit.
const CONTEXT: usize = 40;

/// One folded character and the bytes of the original text it came from.
type Folded = (char, Range<usize>);

/// `c` folded: nothing for an invisible character, else its normalised form without marks.
fn fold_char(c: char, out: &mut Vec<char>) {
    if c.is_ascii() {
        if !c.is_ascii_control() {
            out.push(c.to_ascii_lowercase());
        }
        return;
    }
    let mut buf = [0u8; 4];
    out.extend(
        normalize(c.encode_utf8(&mut buf))
            .nfd()
            .filter(|d| !is_combining_mark(*d)),
    );
}

/// `text` folded for matching, each character with its origin.
fn fold(text: &str) -> Vec<Folded> {
    let mut out: Vec<Folded> = Vec::with_capacity(text.len());
    let mut chars = Vec::new();
    for (i, c) in text.char_indices() {
        let span = i..i + c.len_utf8();
        if c.is_whitespace() {
            match out.last_mut() {
                Some((' ', r)) => r.end = span.end,
                _ => out.push((' ', span)),
            }
            continue;
        }
        chars.clear();
        fold_char(c, &mut chars);
        if chars.is_empty() {
            // A mark or a zero-width character belongs to the character before it, so a hit
            // ending there shows it whole (a control character stands apart).
            if let Some((prev, r)) = out.last_mut()
                && *prev != ' '
                && !c.is_control()
                && r.end == span.start
            {
                r.end = span.end;
            }
            continue;
        }
        out.extend(chars.iter().map(|&f| (f, span.clone())));
    }
    out
}

/// `text` folded as a plain string (whitespace runs as one space, trimmed), for comparing
/// names.
pub fn fold_text(text: &str) -> String {
    let s: String = fold(text).into_iter().map(|(c, _)| c).collect();
    s.trim().to_string()
}

/// Where folded `needle` first occurs in `line`: the byte range of the original text.
fn find(line: &[Folded], needle: &[char]) -> Option<Range<usize>> {
    if needle.is_empty() || needle.len() > line.len() {
        return None;
    }
    line.windows(needle.len())
        .find(|w| w.iter().map(|(c, _)| c).eq(needle.iter()))
        .map(|w| w[0].1.start..w[needle.len() - 1].1.end)
}

/// `text` with the `hit` bytes marked `«…»`, cut to [`CONTEXT`] characters on each side (`…`
/// where cut), control characters escaped.
fn in_context(text: &str, hit: Range<usize>) -> String {
    let before = &text[..hit.start];
    let after = &text[hit.end..];
    let skip = before.chars().count().saturating_sub(CONTEXT);
    let head: String = before.chars().skip(skip).collect();
    let tail: String = after.chars().take(CONTEXT).collect();
    format!(
        "{}{}«{}»{}{}",
        if skip > 0 { "…" } else { "" },
        escape_controls(&head),
        escape_controls(&text[hit]),
        escape_controls(&tail),
        if after.chars().count() > CONTEXT {
            "…"
        } else {
            ""
        }
    )
}

/// A line's time as `2025-03-01T14:02:03Z`.
fn when(at_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at_ms)).to_string()
}

fn speaker(s: Speaker) -> &'static str {
    match s {
        Speaker::User => "User",
        Speaker::Bot => "Bot",
        Speaker::Staff => "Staff",
    }
}

/// The lines of `ticket` staff can read, in order: its transcript, then the lines since it
/// opened; without those said up to `earlier_close`, the close of the conversation's tickets
/// before it (they belong to those).
fn ticket_lines(
    store: &Store,
    ticket: &Ticket,
    earlier_close: Option<u64>,
) -> Result<Vec<TranscriptEntry>> {
    let mut lines = ticket.transcript.clone();
    lines.extend(super::lines_since_opened(store, ticket)?);
    if let Some(closed) = earlier_close {
        lines.retain(|l| l.at_ms > closed);
    }
    Ok(lines)
}

/// For each ticket number, the last close among the earlier tickets of its conversation.
fn earlier_closes(tickets: &[Ticket]) -> HashMap<u64, u64> {
    let mut by_conversation: HashMap<&ConvKey, Vec<&Ticket>> = HashMap::new();
    for t in tickets {
        by_conversation.entry(&t.conversation).or_default().push(t);
    }
    let mut out = HashMap::new();
    for mut list in by_conversation.into_values() {
        list.sort_by_key(|t| t.number);
        let mut last: Option<u64> = None;
        for t in list {
            if let Some(closed) = last {
                out.insert(t.number, closed);
            }
            last = last.max(t.closed_at_ms);
        }
    }
    out
}

/// Runs `tickets search`: one line per matching transcript line, tickets in queue order
/// (priority first), then how many were found.
pub fn run(
    out: &mut dyn Write,
    store: &Store,
    text: &str,
    filter: &Filter,
    now_ms: u64,
) -> Result<()> {
    let needle: Vec<char> = fold_text(text).chars().collect();
    if needle.is_empty() {
        anyhow::bail!("give some text to search for (letters or digits, not only spaces)");
    }
    let mut tickets = store.tickets(false)?;
    let earlier = earlier_closes(&tickets);
    handoff::in_queue_order(&mut tickets);
    let (mut hits, mut found_in) = (0usize, 0usize);
    for ticket in &tickets {
        if !filter.keeps(store, ticket, now_ms)? {
            continue;
        }
        let mut any = false;
        for line in ticket_lines(store, ticket, earlier.get(&ticket.number).copied())? {
            let shown = mask_for_staff(&line.text);
            let Some(hit) = find(&fold(&shown), &needle) else {
                continue;
            };
            any = true;
            hits += 1;
            writeln!(
                out,
                "#{:<5} {:<6} {}  {}: {}",
                ticket.number,
                match ticket.status {
                    TicketStatus::Open => "open",
                    TicketStatus::Closed => "closed",
                },
                when(line.at_ms),
                speaker(line.speaker),
                in_context(&shown, hit)
            )?;
        }
        found_in += usize::from(any);
    }
    match hits {
        0 => writeln!(out, "no ticket line contains \"{}\"", escape_controls(text))?,
        _ => writeln!(
            out,
            "{hits} line{} in {found_in} ticket{}",
            if hits == 1 { "" } else { "s" },
            if found_in == 1 { "" } else { "s" }
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(line: &str, query: &str) -> Option<String> {
        let needle: Vec<char> = fold_text(query).chars().collect();
        find(&fold(line), &needle).map(|r| line[r].to_string())
    }

    #[test]
    fn case_accents_width_and_spacing_are_ignored() {
        assert_eq!(
            hit("Mi cuenta está BLOQUEADA", "esta bloqueada").as_deref(),
            Some("está BLOQUEADA")
        );
        assert_eq!(
            hit("ich habe das Passwort vergessen", "PASSWÖRT").as_deref(),
            Some("Passwort")
        );
        assert_eq!(hit("Zoë said hi", "zoe").as_deref(), Some("Zoë"));
        assert_eq!(
            hit("ＰＡＳＳＷＯＲＤ reset", "password").as_deref(),
            Some("ＰＡＳＳＷＯＲＤ")
        );
        assert_eq!(
            hit("locked   out\tagain", "locked out again").as_deref(),
            Some("locked   out\tagain")
        );
        // A decomposed accent (e + U+0301) matches a composed one, and the other way round.
        assert_eq!(
            hit("cafe\u{301} wifi", "café").as_deref(),
            Some("cafe\u{301}")
        );
        assert_eq!(hit("café wifi", "cafe\u{301}").as_deref(), Some("café"));
        // Invisible characters inside a word do not hide it.
        assert_eq!(
            hit("pass\u{200b}word", "password").as_deref(),
            Some("pass\u{200b}word")
        );
        assert_eq!(
            hit("Вход НЕ работает", "не работает").as_deref(),
            Some("НЕ работает")
        );
        assert_eq!(hit("登录 失败", "失败").as_deref(), Some("失败"));
        assert_eq!(hit("short", "much longer than the line"), None);
        assert_eq!(hit("anything", "   "), None);
    }

    #[test]
    fn the_hit_is_shown_in_context_with_controls_escaped() {
        let line = format!("{}needle\u{1b}[2J{}", "a".repeat(50), "b".repeat(50));
        let r = find(&fold(&line), &['n', 'e', 'e', 'd', 'l', 'e']).unwrap();
        let shown = in_context(&line, r);
        assert_eq!(
            shown,
            format!("…{}«needle»\\u{{1b}}[2J{}…", "a".repeat(40), "b".repeat(36))
        );
        assert_eq!(in_context("x y", 2..3), "x «y»");
    }
}

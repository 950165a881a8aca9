//! The report as aligned tables for a terminal. Names that come from the data (intents,
//! guides, staff members, languages) are printed with control characters escaped
//! ([`escape_controls`]), so a staff member's display name cannot act on the terminal;
//! columns are aligned by display width (wide scripts and emoji take two columns).

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::compute::{Report, Slice};
use crate::terminal::escape_controls;

/// A table: a header and rows of cells; the first column is left-aligned, the others
/// (numbers) right-aligned unless the table is all text.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    numbers: bool,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            numbers: true,
        }
    }

    /// A table whose columns are all left-aligned.
    fn text(header: &[&str]) -> Self {
        Self {
            numbers: false,
            ..Self::new(header)
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String, indent: &str) {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = indent.to_string();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                let pad = " ".repeat(w.saturating_sub(cell.width()));
                if i > 0 {
                    line.push_str("  ");
                }
                if i == 0 || !self.numbers {
                    line.push_str(cell);
                    if i + 1 < columns {
                        line.push_str(&pad);
                    }
                } else {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// A name from the data, safe for a terminal.
fn name(text: &str) -> String {
    escape_controls(text).into_owned()
}

/// `0.613` as `61.3 %`; `-` without a value.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.1} %", v * 100.0))
}

/// Seconds as `45s`, `3m 20s`, `2h 05m`, `3d 4h`; `-` without a value.
pub fn duration(secs: Option<f64>) -> String {
    let Some(secs) = secs else {
        return "-".to_string();
    };
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// Unix milliseconds as an RFC 3339 UTC time.
pub fn timestamp(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The window as people read it.
pub fn window_text(report: &Report) -> String {
    let w = report.window;
    if w.since_ms == 0 {
        format!("everything up to {}", timestamp(w.until_ms))
    } else {
        format!("{} to {}", timestamp(w.since_ms), timestamp(w.until_ms))
    }
}

fn slice_table(first: &str, slices: &std::collections::BTreeMap<String, Slice>) -> Table {
    let mut t = Table::new(&[
        first,
        "conversations",
        "resolved w/o ticket",
        "user turns",
        "fallbacks",
        "escalations",
        "opened",
        "closed",
        "up",
        "down",
    ]);
    for (key, s) in slices {
        t.row(vec![
            name(key),
            s.conversations.to_string(),
            s.resolved_without_ticket.to_string(),
            s.user_turns.to_string(),
            s.fallback_turns.to_string(),
            s.escalations.total().to_string(),
            s.tickets_opened.to_string(),
            s.tickets_closed.to_string(),
            s.ratings.up.to_string(),
            s.ratings.down.to_string(),
        ]);
    }
    t
}

/// The whole report as text.
pub fn render(report: &Report) -> String {
    let r = report;
    let mut out = String::new();
    let _ = writeln!(out, "deskbot report: {}\n", window_text(r));

    let mut summary = Table::text(&["Summary", ""]);
    let with_share = |n: u64, share: Option<f64>| match share {
        Some(_) => format!("{n} ({})", percent(share)),
        None => n.to_string(),
    };
    for (label, value) in [
        ("conversations", r.conversations.to_string()),
        (
            "resolved without a ticket",
            with_share(r.resolved_without_ticket, r.resolved_without_ticket_share),
        ),
        ("user turns", r.user_turns.to_string()),
        (
            "fallback turns (not understood)",
            with_share(r.fallback_turns, r.fallback_rate),
        ),
        ("tickets opened", r.tickets_opened.to_string()),
        ("tickets closed", r.tickets_closed.to_string()),
        (
            "first staff reply p50 / p90",
            format!(
                "{} / {} ({} answered)",
                duration(r.first_reply_secs_p50),
                duration(r.first_reply_secs_p90),
                r.tickets_answered
            ),
        ),
        (
            "time to close p50 / p90",
            format!(
                "{} / {}",
                duration(r.close_secs_p50),
                duration(r.close_secs_p90)
            ),
        ),
        (
            "ratings up / down",
            format!("{} / {}", r.ratings.up, r.ratings.down),
        ),
    ] {
        summary.row(vec![label.to_string(), value]);
    }
    if r.turns_without_decision > 0 {
        summary.row(vec![
            "user turns without a decision record".to_string(),
            r.turns_without_decision.to_string(),
        ]);
    }
    summary.render(&mut out, "");

    out.push('\n');
    let mut esc = Table::new(&["Escalations", "tickets"]);
    for (_, label, n) in r.escalations.rows() {
        esc.row(vec![label.to_string(), n.to_string()]);
    }
    esc.row(vec!["total".into(), r.escalations.total().to_string()]);
    esc.render(&mut out, "");

    out.push_str("\nGuides: conversations that reached each step, and said no to it\n");
    if r.per_guide.is_empty() {
        out.push_str("  (no guide was started)\n");
    }
    for (guide, f) in &r.per_guide {
        let _ = writeln!(
            out,
            "  {}: started {}, resolved {}",
            name(guide),
            f.started,
            f.resolved
        );
        let mut t = Table::new(&["step", "reached", "said no"]);
        for s in &f.steps {
            t.row(vec![
                s.step.to_string(),
                s.reached.to_string(),
                s.no.to_string(),
            ]);
        }
        t.render(&mut out, "    ");
    }

    for (title, map) in [
        ("Ratings by intent", &r.ratings_by_intent),
        ("Ratings by staff member", &r.ratings_by_staff),
    ] {
        out.push('\n');
        let mut t = Table::new(&[title, "up", "down"]);
        for (key, v) in map {
            t.row(vec![name(key), v.up.to_string(), v.down.to_string()]);
        }
        t.render(&mut out, "");
    }

    out.push('\n');
    let mut staff = Table::new(&["Staff", "claimed", "closed"]);
    for (key, v) in &r.staff {
        staff.row(vec![name(key), v.claimed.to_string(), v.closed.to_string()]);
    }
    staff.render(&mut out, "");

    out.push('\n');
    slice_table("Channel", &r.by_channel).render(&mut out, "");
    out.push('\n');
    slice_table("Language", &r.by_language).render(&mut out, "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(45.4)), "45s");
        assert_eq!(duration(Some(200.0)), "3m 20s");
        assert_eq!(duration(Some(7_500.0)), "2h 05m");
        assert_eq!(duration(Some(3.0 * 86_400.0 + 4.0 * 3_600.0)), "3d 4h");
        assert_eq!(percent(Some(0.6134)), "61.3 %");
    }

    #[test]
    fn tables_align_wide_text_and_right_align_numbers() {
        let mut t = Table::new(&["who", "n"]);
        t.row(vec!["李雷".into(), "7".into()]);
        t.row(vec!["ann".into(), "12".into()]);
        let mut out = String::new();
        t.render(&mut out, "");
        assert_eq!(out, "who    n\n李雷   7\nann   12\n");
    }
}

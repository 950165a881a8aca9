//! The report as one self-contained HTML page: inline CSS, charts as inline SVG
//! ([`super::charts`]), no JavaScript, no external resource. Readable on a phone: a viewport
//! meta tag, a single column that narrows with the screen, charts that scale to its width and
//! tables that scroll sideways inside their box instead of widening the page. Every chart is
//! followed by a table with the same numbers (screen readers and copy-paste get them too).
//!
//! Every string from the data (intent and guide ids, staff names, languages) goes through
//! [`escape`]: control characters become visible escapes first (as on the terminal), then the
//! five characters HTML gives a meaning to become entities. Hand-written rather than a crate:
//! it is those five replacements, the same the SVG backend does for the charts' text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::charts::{BarChart, Series};
use super::compute::{Ratings, Report, Slice};
use super::text::{duration, percent, window_text};
use crate::terminal::escape_controls;

/// Appends `text` to `out` with `&`, `<`, `>`, `"` and `'` as entities (safe in element
/// content and in quoted attribute values).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A string from the data, for HTML: control characters shown as escapes, then entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, &escape_controls(text));
    out
}

const STYLE: &str = "\
:root{color-scheme:light}\
*{box-sizing:border-box}\
body{margin:0;background:#f5f6f8;color:#222;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}\
main{max-width:760px;margin:0 auto;padding:12px}\
h1{font-size:1.45rem;margin:.3em 0}\
h2{font-size:1.15rem;margin:1.6em 0 .5em}\
.window{color:#555;margin-top:0}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}\
.card{background:#fff;border:1px solid #dde0e6;border-radius:6px;padding:8px 10px}\
.card b{display:block;font-size:1.35rem}\
.card span{color:#555;font-size:.85rem}\
figure{margin:0 0 14px;background:#fff;border:1px solid #dde0e6;border-radius:6px;padding:10px}\
figcaption{font-weight:600;margin-bottom:6px}\
svg{display:block;width:100%;max-width:480px;height:auto}\
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin-top:8px}\
table{border-collapse:collapse;font-size:.9rem;white-space:nowrap}\
th,td{padding:3px 10px;border-bottom:1px solid #e6e8ec;text-align:right}\
th:first-child{text-align:left}\
thead th{font-weight:600;color:#444}\
.empty{color:#666;font-style:italic}";

/// A chart's figure: caption, SVG, then the same numbers as a table.
struct Figure<'a> {
    /// Unique within the page (`data-chart`).
    id: String,
    caption: String,
    /// The first column's header.
    category_header: &'a str,
    chart: BarChart,
}

impl Figure<'_> {
    fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            "<figure class=\"chart\" data-chart=\"{}\"><figcaption>{}</figcaption>",
            escape(&self.id),
            escape(&self.caption)
        );
        if self.chart.categories.is_empty() {
            out.push_str("<p class=\"empty\">Nothing in this period.</p></figure>\n");
            return;
        }
        match self.chart.svg(&self.caption) {
            Ok(svg) => out.push_str(&svg),
            Err(e) => {
                let _ = write!(out, "<p class=\"empty\">{}</p>", escape(&e.to_string()));
            }
        }
        out.push_str("<div class=\"scroll\"><table><thead><tr>");
        let _ = write!(
            out,
            "<th scope=\"col\">{}</th>",
            escape(self.category_header)
        );
        for s in &self.chart.series {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(&s.name));
        }
        out.push_str("</tr></thead><tbody>");
        for (row, category) in self.chart.categories.iter().enumerate() {
            let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(category));
            for s in &self.chart.series {
                let _ = write!(out, "<td>{}</td>", s.values.get(row).copied().unwrap_or(0));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div></figure>\n");
    }
}

fn series(name: &str, values: Vec<u64>) -> Series {
    Series {
        name: name.to_string(),
        values,
    }
}

/// Chart categories from data keys: control characters shown as escapes.
fn categories<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<String> {
    keys.map(|k| escape_controls(k).into_owned()).collect()
}

fn ratings_figure<'a>(
    id: &str,
    caption: &str,
    header: &'a str,
    map: &BTreeMap<String, Ratings>,
) -> Figure<'a> {
    Figure {
        id: id.to_string(),
        caption: caption.to_string(),
        category_header: header,
        chart: BarChart {
            categories: categories(map.keys()),
            series: vec![
                series("up", map.values().map(|r| r.up).collect()),
                series("down", map.values().map(|r| r.down).collect()),
            ],
        },
    }
}

fn slice_figure<'a>(
    id: &str,
    caption: &str,
    header: &'a str,
    map: &BTreeMap<String, Slice>,
) -> Figure<'a> {
    Figure {
        id: id.to_string(),
        caption: caption.to_string(),
        category_header: header,
        chart: BarChart {
            categories: categories(map.keys()),
            series: vec![
                series(
                    "conversations",
                    map.values().map(|s| s.conversations).collect(),
                ),
                series(
                    "resolved without a ticket",
                    map.values().map(|s| s.resolved_without_ticket).collect(),
                ),
                series(
                    "tickets opened",
                    map.values().map(|s| s.tickets_opened).collect(),
                ),
            ],
        },
    }
}

/// The full figures of a channel or language, as a table.
fn slice_table(out: &mut String, header: &str, map: &BTreeMap<String, Slice>) {
    if map.is_empty() {
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for h in [
        header,
        "conversations",
        "resolved without a ticket",
        "user turns",
        "fallback turns",
        "escalations",
        "tickets opened",
        "tickets closed",
        "up",
        "down",
    ] {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (key, s) in map {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(key));
        for v in [
            s.conversations,
            s.resolved_without_ticket,
            s.user_turns,
            s.fallback_turns,
            s.escalations.total(),
            s.tickets_opened,
            s.tickets_closed,
            s.ratings.up,
            s.ratings.down,
        ] {
            let _ = write!(out, "<td>{v}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
}

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b><span>{}</span></div>",
        escape(value),
        escape(label)
    );
}

/// The whole page.
pub fn page(report: &Report) -> String {
    let r = report;
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>deskbot report</title><style>",
    );
    out.push_str(STYLE);
    out.push_str("</style></head><body><main>\n<h1>deskbot report</h1>");
    let _ = writeln!(out, "<p class=\"window\">{}</p>", escape(&window_text(r)));

    out.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    card(&mut out, &r.conversations.to_string(), "conversations");
    card(
        &mut out,
        &format!(
            "{} ({})",
            r.resolved_without_ticket,
            percent(r.resolved_without_ticket_share)
        ),
        "resolved without a ticket",
    );
    card(
        &mut out,
        &format!("{} ({})", r.fallback_turns, percent(r.fallback_rate)),
        &format!("not understood, of {} user turns", r.user_turns),
    );
    card(
        &mut out,
        &format!("{} / {}", r.tickets_opened, r.tickets_closed),
        "tickets opened / closed",
    );
    card(
        &mut out,
        &format!(
            "{} / {}",
            duration(r.first_reply_secs_p50),
            duration(r.first_reply_secs_p90)
        ),
        &format!(
            "first staff reply p50 / p90 ({} answered)",
            r.tickets_answered
        ),
    );
    card(
        &mut out,
        &format!(
            "{} / {}",
            duration(r.close_secs_p50),
            duration(r.close_secs_p90)
        ),
        "time to close p50 / p90",
    );
    card(
        &mut out,
        &format!("{} / {}", r.ratings.up, r.ratings.down),
        "ratings up / down",
    );
    out.push_str("</div></section>\n");

    out.push_str("<section id=\"escalations\"><h2>Why tickets were opened</h2>");
    let rows = r.escalations.rows();
    Figure {
        id: "escalations".into(),
        caption: format!("Escalations by reason ({} in all)", r.escalations.total()),
        category_header: "reason",
        chart: BarChart {
            categories: rows.iter().map(|(_, label, _)| label.to_string()).collect(),
            series: vec![series("tickets", rows.iter().map(|r| r.2).collect())],
        },
    }
    .render(&mut out);
    out.push_str("</section>\n");

    out.push_str(
        "<section id=\"guides\"><h2>Guides: where people drop out</h2>\
         <p>For each step: the conversations that reached it, and those that said it did not help.</p>",
    );
    if r.per_guide.is_empty() {
        out.push_str("<p class=\"empty\">No guide was started in this period.</p>");
    }
    for (guide, f) in &r.per_guide {
        Figure {
            id: format!("guide:{guide}"),
            caption: format!(
                "{}: started {}, resolved {}",
                escape_controls(guide),
                f.started,
                f.resolved
            ),
            category_header: "step",
            chart: BarChart {
                categories: f.steps.iter().map(|s| format!("step {}", s.step)).collect(),
                series: vec![
                    series("reached", f.steps.iter().map(|s| s.reached).collect()),
                    series("said no", f.steps.iter().map(|s| s.no).collect()),
                ],
            },
        }
        .render(&mut out);
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"channels\"><h2>By channel</h2>");
    slice_figure(
        "channels",
        "Conversations by channel",
        "channel",
        &r.by_channel,
    )
    .render(&mut out);
    slice_table(&mut out, "channel", &r.by_channel);
    out.push_str("</section>\n<section id=\"languages\"><h2>By language</h2>");
    slice_figure(
        "languages",
        "Conversations by language",
        "language",
        &r.by_language,
    )
    .render(&mut out);
    slice_table(&mut out, "language", &r.by_language);
    out.push_str("</section>\n");

    out.push_str("<section id=\"ratings\"><h2>Ratings</h2>");
    ratings_figure(
        "ratings-intent",
        "Ratings by intent",
        "intent",
        &r.ratings_by_intent,
    )
    .render(&mut out);
    ratings_figure(
        "ratings-staff",
        "Ratings by staff member (who claimed or closed the ticket)",
        "staff member",
        &r.ratings_by_staff,
    )
    .render(&mut out);
    Figure {
        id: "staff".into(),
        caption: "Tickets claimed and closed by staff member".into(),
        category_header: "staff member",
        chart: BarChart {
            categories: categories(r.staff.keys()),
            series: vec![
                series("claimed", r.staff.values().map(|w| w.claimed).collect()),
                series("closed", r.staff.values().map(|w| w.closed).collect()),
            ],
        },
    }
    .render(&mut out);
    out.push_str("</section>\n</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_strings_are_escaped_and_controls_made_visible() {
        assert_eq!(
            escape("<img src=x onerror='a()'>&\"\u{1b}[2J"),
            "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;&quot;\\u{1b}[2J"
        );
    }
}

//! The report's charts: horizontal grouped bar charts drawn as SVG with `plotters` (its SVG
//! backend only: no system fonts, no bitmap code, no JavaScript; text is laid out with the
//! crate's built-in estimate and drawn by the browser). One row per category, its name above
//! its bars, each bar labelled with its value, so the picture carries its own numbers; the
//! HTML page puts the same numbers in a table under it.
//!
//! Why plotters: the most used Rust plotting crate, maintained, and with only its SVG backend
//! it adds four small crates to the tree and about 5 s to a clean build (charts-rs, measured
//! the same way, pulls 46 crates and 1.5 min, with embedded fonts; poloto is as small but
//! styled by CSS classes and reissued with a new major version every few months).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One series of a bar chart (one bar per category).
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, shown in the legend.
    pub name: String,
    /// One value per category.
    pub values: Vec<u64>,
}

/// A horizontal grouped bar chart.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// The categories, top to bottom (already safe to show: no control characters).
    pub categories: Vec<String>,
    /// The series, each with a value per category.
    pub series: Vec<Series>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a chart: {0}")]
pub struct ChartError(String);

/// The chart's width in SVG units (it is scaled to the page's width).
const WIDTH: u32 = 360;
const LABEL_H: u32 = 21;
const BAR_H: u32 = 16;
const BAR_GAP: u32 = 3;
const ROW_GAP: u32 = 10;
const LEGEND_H: u32 = 26;
const MARGIN: u32 = 8;
/// Room right of the longest bar for its value.
const VALUE_ROOM: u32 = 60;
/// The longest category name drawn in full (the table has it whole).
const MAX_LABEL_CHARS: usize = 40;

const COLORS: [RGBColor; 4] = [
    RGBColor(0x2f, 0x6d, 0xb5),
    RGBColor(0xd0, 0x4a, 0x3c),
    RGBColor(0x3d, 0x9a, 0x5b),
    RGBColor(0x8a, 0x5c, 0xb8),
];
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        return label.to_string();
    }
    let mut s: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
    s.push('…');
    s
}

impl BarChart {
    /// The chart's height in SVG units.
    fn height(&self) -> u32 {
        let per_row = LABEL_H + self.series.len() as u32 * (BAR_H + BAR_GAP) + ROW_GAP;
        let legend = if self.series.len() > 1 { LEGEND_H } else { 0 };
        2 * MARGIN + legend + self.categories.len().max(1) as u32 * per_row
    }

    /// The chart as an `<svg>` element, with `role="img"` and `label` as its accessible
    /// name.
    pub fn svg(&self, label: &str) -> Result<String, ChartError> {
        let height = self.height();
        let mut buf = String::new();
        {
            let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let font = |size: u32| ("sans-serif", size).into_font().color(&INK);
            let mut y = MARGIN as i32;
            if self.series.len() > 1 {
                let mut x = MARGIN as i32;
                for (i, s) in self.series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    root.draw(&Rectangle::new(
                        [(x, y + 3), (x + 13, y + 16)],
                        color.filled(),
                    ))
                    .map_err(err)?;
                    root.draw(&Text::new(
                        short(&s.name),
                        (x + 17, y + 10),
                        font(15).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(err)?;
                    x += 17 + 9 * s.name.chars().count().min(24) as i32 + 18;
                }
                y += LEGEND_H as i32;
            }
            let max = self
                .series
                .iter()
                .flat_map(|s| s.values.iter().copied())
                .max()
                .unwrap_or(0)
                .max(1);
            let span = f64::from(WIDTH - 2 * MARGIN - VALUE_ROOM);
            let left = MARGIN as i32;
            for (row, category) in self.categories.iter().enumerate() {
                root.draw(&Text::new(
                    short(category),
                    (left, y + LABEL_H as i32 - 4),
                    font(15).pos(Pos::new(HPos::Left, VPos::Bottom)),
                ))
                .map_err(err)?;
                y += LABEL_H as i32;
                for (i, s) in self.series.iter().enumerate() {
                    let value = s.values.get(row).copied().unwrap_or(0);
                    let length = (value as f64 / max as f64 * span).round() as i32;
                    let color = COLORS[i % COLORS.len()];
                    if length > 0 {
                        root.draw(&Rectangle::new(
                            [(left, y), (left + length, y + BAR_H as i32)],
                            color.filled(),
                        ))
                        .map_err(err)?;
                    } else {
                        // A zero still gets a hairline, so the row reads as measured.
                        root.draw(&Rectangle::new(
                            [(left, y), (left + 1, y + BAR_H as i32)],
                            color.filled(),
                        ))
                        .map_err(err)?;
                    }
                    root.draw(&Text::new(
                        value.to_string(),
                        (left + length.max(1) + 5, y + BAR_H as i32 / 2),
                        font(14).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(err)?;
                    y += (BAR_H + BAR_GAP) as i32;
                }
                y += ROW_GAP as i32;
            }
            root.present().map_err(err)?;
        }
        let mut label_attr = String::new();
        super::html::escape_into(&mut label_attr, label);
        Ok(buf.replacen(
            "<svg ",
            &format!("<svg role=\"img\" aria-label=\"{label_attr}\" "),
            1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_drawn_as_text_and_names_are_escaped() {
        let chart = BarChart {
            categories: vec!["a<b>&\"c\"".into(), "plain".into()],
            series: vec![
                Series {
                    name: "reached".into(),
                    values: vec![12, 0],
                },
                Series {
                    name: "said no".into(),
                    values: vec![5, 3],
                },
            ],
        };
        let svg = chart.svg("funnel <x>").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"funnel &lt;x&gt;\" "));
        assert!(svg.contains("a&lt;b&gt;&amp;&quot;c&quot;"), "{svg}");
        assert!(!svg.contains("<b>"));
        for v in ["12", "0", "5", "3"] {
            assert!(
                svg.contains(&format!(">\n{v}\n</text>")),
                "{v} missing: {svg}"
            );
        }
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 2 + 4,
            "background, legend, bars"
        );
        assert!(!svg.contains("NaN") && !svg.contains("height=\"-"));
    }
}

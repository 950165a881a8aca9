//! Measuring the masker on labelled lines (`tests/data/masking.jsonl`: a text and the secrets
//! in it, written out as they appear in the text).
//!
//! - **Recall**: the share of listed secrets that no longer appear in the masked text.
//! - **Precision**: the share of masked characters (of the original text, whitespace not
//!   counted) that lie inside an occurrence of one of the line's listed secrets. A line with
//!   no secrets where something is masked counts all its masked characters as wrong; masking
//!   a few extra characters around a secret (a trailing `!`) counts those as wrong.
//!
//! Both are 1 when there is nothing to count. The report keeps the lines that went wrong so
//! a tool can show them.

use super::{find_secrets, mask_secrets};

/// A secret the masker left in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The line.
    pub text: String,
    /// The secret still visible after masking.
    pub secret: String,
}

/// Text the masker hid that is not (all) a listed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FalseMask {
    /// The line.
    pub text: String,
    /// What was masked.
    pub masked: String,
}

/// Counts from [`evaluate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskingReport {
    /// Lines read.
    pub lines: usize,
    /// Listed secrets.
    pub secrets: usize,
    /// Listed secrets absent from the masked text.
    pub secrets_hidden: usize,
    /// Masked characters (original text, whitespace not counted).
    pub masked_chars: usize,
    /// Masked characters inside a listed secret.
    pub masked_chars_in_secrets: usize,
    /// Lines with no listed secret where something was masked.
    pub clean_lines_masked: usize,
    /// Lines with no listed secret.
    pub clean_lines: usize,
    /// Secrets left visible.
    pub misses: Vec<Miss>,
    /// Masked text that is not a listed secret.
    pub false_masks: Vec<FalseMask>,
}

impl MaskingReport {
    /// Share of listed secrets hidden (1 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(self.secrets_hidden, self.secrets)
    }

    /// Share of masked characters that belong to listed secrets (1 when nothing was masked).
    pub fn precision(&self) -> f64 {
        ratio(self.masked_chars_in_secrets, self.masked_chars)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Byte ranges of every occurrence of `needle` in `hay`, matched exactly, else ignoring ASCII
/// case.
fn occurrences(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    let exact: Vec<(usize, usize)> = hay
        .match_indices(needle)
        .map(|(i, m)| (i, i + m.len()))
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let (h, n) = (hay.to_ascii_lowercase(), needle.to_ascii_lowercase());
    h.match_indices(&n).map(|(i, m)| (i, i + m.len())).collect()
}

/// Masks every line of `items` (text, listed secrets) and counts how it went.
pub fn evaluate<'a, I, S>(items: I) -> MaskingReport
where
    I: IntoIterator<Item = (&'a str, &'a [S])>,
    S: AsRef<str> + 'a,
{
    let mut r = MaskingReport::default();
    for (text, secrets) in items {
        r.lines += 1;
        let (masked, _) = mask_secrets(text);
        for s in secrets {
            let s = s.as_ref();
            r.secrets += 1;
            if masked.contains(s) {
                r.misses.push(Miss {
                    text: text.to_string(),
                    secret: s.to_string(),
                });
            } else {
                r.secrets_hidden += 1;
            }
        }
        let inside: Vec<(usize, usize)> = secrets
            .iter()
            .flat_map(|s| occurrences(text, s.as_ref()))
            .collect();
        if secrets.is_empty() {
            r.clean_lines += 1;
        }
        let found = find_secrets(text);
        if secrets.is_empty() && !found.is_empty() {
            r.clean_lines_masked += 1;
        }
        for f in found {
            let mut wrong = false;
            for (i, c) in text.get(f.start..f.end).unwrap_or_default().char_indices() {
                if c.is_whitespace() {
                    continue;
                }
                let at = f.start + i;
                r.masked_chars += 1;
                if inside.iter().any(|&(s, e)| s <= at && at < e) {
                    r.masked_chars_in_secrets += 1;
                } else {
                    wrong = true;
                }
            }
            if wrong {
                r.false_masks.push(FalseMask {
                    text: text.to_string(),
                    masked: text.get(f.start..f.end).unwrap_or_default().to_string(),
                });
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hidden_secrets_and_wrongly_masked_characters() {
        let secrets = [String::from("482913")];
        let none: [String; 0] = [];
        let r = evaluate([
            ("my code is 482913", &secrets[..]),
            ("order 123456 is late", &none[..]),
            ("got 482 913 yesterday", &none[..]),
        ]);
        assert_eq!(r.lines, 3);
        assert_eq!((r.secrets, r.secrets_hidden), (1, 1));
        assert_eq!(r.clean_lines, 2);
        // "482 913" is six evenly spaced digits: masked although not listed.
        assert_eq!(r.clean_lines_masked, 1);
        assert_eq!((r.masked_chars, r.masked_chars_in_secrets), (12, 6));
        assert!((r.precision() - 0.5).abs() < 1e-9);
        assert!((r.recall() - 1.0).abs() < 1e-9);
        assert_eq!(r.false_masks.len(), 1);
        assert_eq!(r.false_masks[0].masked, "482 913");
    }

    #[test]
    fn a_missed_secret_lowers_recall() {
        let secrets = [String::from("sunshine")];
        let r = evaluate([("my password is sunshine", &secrets[..])]);
        assert_eq!(r.secrets_hidden, 0);
        assert_eq!(r.misses.len(), 1);
        assert!(r.recall() < 1e-9);
    }
}

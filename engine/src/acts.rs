//! Dialogue acts: what a user's message *does* in a conversation (says it worked, says it did
//! not, asks about the step…), as opposed to the topic an intent names.
//!
//! Acts are learned from the catalog's `acts.toml` by a second classifier of the same kind as
//! the intent classifier ([`ActModel`]); everything that is not an answer (a new problem
//! description, a greeting, something unrelated) is its "none" class, learned from the intent and
//! out-of-scope examples. What an act *means* depends on what the bot just asked: that is the
//! dialogue policy's business, not this module's.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::classifier::{Classifier, ClassifierConfig, ClassifierError, TrainingData};
use crate::normalize::normalize;

/// A normalised message with the accents of Latin letters dropped ("déjalo" → "dejalo",
/// "não" → "nao"): people type short answers on phones without them. Marks on other scripts
/// (Devanagari vowel signs, Arabic harakat) are kept: they are letters there, not accents.
pub fn fold_accents(normalised: &str) -> String {
    let mut out = String::with_capacity(normalised.len());
    let mut latin_base = false;
    for c in normalised.nfd() {
        if is_combining_mark(c) {
            if !latin_base {
                out.push(c);
            }
            continue;
        }
        latin_base = c.is_ascii_alphabetic();
        out.push(c);
    }
    out.nfc().collect()
}

/// One dialogue act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Act {
    /// It worked / yes, explicitly.
    Affirm,
    /// Still broken / no (polite and mixed forms included: negation wins over politeness).
    Deny,
    /// The user did this step before.
    AlreadyTried,
    /// A question about the current step ("where is that setting?").
    Question,
    /// The user cannot tell ("kind of", "not sure").
    Unsure,
    /// Heard, outcome unknown ("ok", "done", "did that").
    Ack,
    /// Leave the guide ("never mind", "stop").
    Stop,
    /// Wants a person.
    Human,
    /// Start the guide over.
    Restart,
    /// Show the previous step.
    Back,
    /// Asks how long a ticket takes, or whether anyone is there.
    Status,
}

impl Act {
    /// Every act, in a stable order (the order of the classifier's labels).
    pub const ALL: [Act; 11] = [
        Act::Affirm,
        Act::Deny,
        Act::AlreadyTried,
        Act::Question,
        Act::Unsure,
        Act::Ack,
        Act::Stop,
        Act::Human,
        Act::Restart,
        Act::Back,
        Act::Status,
    ];

    /// The act's name as written in `acts.toml`, data sets and `deskbot chat --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Act::Affirm => "affirm",
            Act::Deny => "deny",
            Act::AlreadyTried => "already_tried",
            Act::Question => "question",
            Act::Unsure => "unsure",
            Act::Ack => "ack",
            Act::Stop => "stop",
            Act::Human => "human",
            Act::Restart => "restart",
            Act::Back => "back",
            Act::Status => "status",
        }
    }

    /// The act with this name.
    pub fn parse(name: &str) -> Option<Act> {
        Act::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name data sets use for "not an answer".
pub const NONE: &str = "none";

/// An act and the classifier's confidence in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActGuess {
    /// The act.
    pub act: Act,
    /// Confidence in 0..=1.
    pub confidence: f32,
}

/// The act classifier: trained from act examples, with everything else as its "none" class.
#[derive(Debug, Clone)]
pub struct ActModel {
    classifier: Classifier,
    /// Exact (normalised) examples, so a message the catalog lists is never misread.
    exact: std::collections::HashMap<String, Act>,
}

/// A guessed act (not an exact example) less likely than this is no answer.
const MIN_CONFIDENCE: f32 = 0.5;

/// Share of the "none" class's weight, relative to an average act.
const NONE_WEIGHT: f32 = 2.0;

impl ActModel {
    /// Trains from `examples` (act, text) and `none` (texts that are not answers).
    pub fn train(examples: &[(Act, String)], none: &[String]) -> Result<Self, ClassifierError> {
        let labels = Act::ALL.iter().map(|a| a.as_str().to_string()).collect();
        let mut exact = std::collections::HashMap::new();
        let examples: Vec<(String, usize)> = examples
            .iter()
            .filter_map(|(act, text)| {
                let n = fold_accents(&normalize(text));
                let label = Act::ALL.iter().position(|a| a == act)?;
                exact.entry(strip(&n)).or_insert(*act);
                Some((n, label))
            })
            .collect();
        let out_of_scope = none
            .iter()
            .map(|t| fold_accents(&normalize(t)))
            .filter(|n| !exact.contains_key(&strip(n)))
            .collect();
        let config = ClassifierConfig {
            oos_weight: NONE_WEIGHT,
            // Answers are short: the model's own "none" class decides, with a fixed threshold
            // instead of cross-validation (which would triple start-up time).
            threshold: Some(0.5),
            cv_folds: 0,
            ..ClassifierConfig::default()
        };
        let classifier = Classifier::train_with(
            &TrainingData {
                labels,
                examples,
                out_of_scope,
            },
            &config,
        )?;
        Ok(Self { classifier, exact })
    }

    /// Writes the trained model (see [`crate::classifier::persist`]).
    pub fn write(&self, w: &mut crate::classifier::persist::Writer) {
        self.classifier.write(w);
        let mut exact: Vec<(&String, &Act)> = self.exact.iter().collect();
        exact.sort();
        w.usize(exact.len());
        for (text, act) in exact {
            w.str(text);
            w.usize(Act::ALL.iter().position(|a| a == act).unwrap_or(0));
        }
    }

    /// Reads what [`ActModel::write`] wrote.
    pub fn read(
        r: &mut crate::classifier::persist::Reader<'_>,
    ) -> Result<Self, crate::classifier::persist::PersistError> {
        use crate::classifier::persist::PersistError;
        let classifier = Classifier::read(r)?;
        if classifier.labels().len() != Act::ALL.len() {
            return Err(PersistError::Invalid {
                field: "act labels",
            });
        }
        let n = r.len(9, "exact acts")?;
        let mut exact = std::collections::HashMap::with_capacity(n);
        for _ in 0..n {
            let text = r.str("exact act text")?;
            let act = *Act::ALL
                .get(r.usize("exact act")?)
                .ok_or(PersistError::Invalid { field: "exact act" })?;
            exact.insert(text, act);
        }
        Ok(Self { classifier, exact })
    }

    /// The act of a normalised message, or `None` when it is not an answer.
    pub fn classify(&self, normalised: &str) -> Option<ActGuess> {
        if normalised.is_empty() {
            return None;
        }
        let folded = fold_accents(normalised);
        let normalised = folded.as_str();
        if let Some(&act) = self.exact.get(&strip(normalised)) {
            return Some(ActGuess {
                act,
                confidence: 1.0,
            });
        }
        let p = self.classifier.predict(normalised);
        if p.out_of_scope {
            return None;
        }
        let best = p
            .ranked
            .first()
            .filter(|b| b.confidence >= MIN_CONFIDENCE)?;
        Some(ActGuess {
            act: *Act::ALL.get(best.label)?,
            confidence: best.confidence,
        })
    }
}

/// The message without punctuation and extra spaces, for exact lookups ("ok!!" is "ok").
fn strip(normalised: &str) -> String {
    let kept: String = normalised
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || !c.is_ascii() {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = kept.split_whitespace().collect();
    if words.is_empty() {
        // Emoji-only and punctuation-only answers ("👍", "??") keep their characters.
        normalised.trim().to_string()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Act::ALL {
            assert_eq!(Act::parse(a.as_str()), Some(a));
        }
        assert_eq!(Act::parse("nope"), None);
    }

    #[test]
    fn folds_latin_accents_only() {
        assert_eq!(fold_accents("déjalo"), "dejalo");
        assert_eq!(fold_accents("não, já tentei"), "nao, ja tentei");
        assert_eq!(fold_accents("नहीं हुआ"), "नहीं हुआ");
        assert_eq!(fold_accents("да, уже пробовал"), "да, уже пробовал");
    }

    #[test]
    fn strip_keeps_emoji_answers() {
        assert_eq!(strip("ok!!"), "ok");
        assert_eq!(strip("👍"), "👍");
        assert_eq!(strip("no, still stuck."), "no still stuck");
    }
}

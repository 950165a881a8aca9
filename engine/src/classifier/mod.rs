//! Intent classification: a model trained at start-up from labelled examples.
//!
//! API CONTRACT (used by `dialogue` and by `deskbot eval`); the implementation is being written.

use thiserror::Error;

/// Labelled examples to train a [`Classifier`] from.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    /// Intent labels; an example's label is an index into this list.
    pub labels: Vec<String>,
    /// In-scope examples: (normalised text, label index).
    pub examples: Vec<(String, usize)>,
    /// Out-of-scope examples (normalised text).
    pub out_of_scope: Vec<String>,
}

/// One intent and how sure the classifier is about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index into [`Classifier::labels`].
    pub label: usize,
    /// Confidence in 0..=1.
    pub confidence: f32,
}

/// What the classifier says about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The best intents, best first (at most a handful).
    pub ranked: Vec<Scored>,
    /// True when the message is judged out of scope.
    pub out_of_scope: bool,
}

/// Why training failed.
#[derive(Debug, Error)]
pub enum ClassifierError {
    /// There was nothing to learn from.
    #[error("no training examples")]
    Empty,
}

/// A trained intent classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    labels: Vec<String>,
}

impl Classifier {
    /// Trains a classifier with default settings.
    pub fn train(data: &TrainingData) -> Result<Self, ClassifierError> {
        if data.examples.is_empty() {
            return Err(ClassifierError::Empty);
        }
        Ok(Self {
            labels: data.labels.clone(),
        })
    }

    /// The labels, in the order of [`TrainingData::labels`].
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Classifies one normalised message.
    pub fn predict(&self, _text: &str) -> Prediction {
        Prediction {
            ranked: Vec::new(),
            out_of_scope: true,
        }
    }
}

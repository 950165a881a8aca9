//! The engine: a catalog plus the classifier trained from it, and message analysis that
//! combines the classifier with the catalog's exact patterns.

use thiserror::Error;

use super::IntentGuess;
use crate::catalog::{Catalog, Intent};
use crate::classifier::{Classifier, ClassifierError};
use crate::normalize::normalize;

/// Why an engine could not be built.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The classifier could not be trained from the catalog.
    #[error("cannot train the classifier from catalog {origin}: {source}")]
    Training {
        /// The catalog's origin.
        origin: String,
        /// The cause.
        #[source]
        source: ClassifierError,
    },
}

/// What the engine understood of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The normalised text.
    pub normalised: String,
    /// The best intents, best first, with confidences.
    pub ranked: Vec<IntentGuess>,
    /// True when the message is out of scope (no pattern matched and the classifier rejects).
    pub out_of_scope: bool,
    /// True when a catalog pattern decided the intent.
    pub by_pattern: bool,
}

impl Analysis {
    /// The best intent, unless the message is out of scope.
    pub fn top(&self) -> Option<&IntentGuess> {
        if self.out_of_scope {
            None
        } else {
            self.ranked.first()
        }
    }
}

/// A catalog and its trained classifier: everything needed to run conversations.
/// Build it once at start-up and share it (it is `Send + Sync`).
#[derive(Debug)]
pub struct Engine {
    pub(crate) catalog: Catalog,
    classifier: Classifier,
}

impl Engine {
    /// Trains the classifier from the catalog.
    pub fn new(catalog: Catalog) -> Result<Self, EngineError> {
        let classifier = Classifier::train(&catalog.training_data()).map_err(|source| {
            EngineError::Training {
                origin: catalog.origin.clone(),
                source,
            }
        })?;
        Ok(Self {
            catalog,
            classifier,
        })
    }

    /// The catalog the engine runs.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The trained classifier.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Classifies one raw message: patterns first (an exact signal such as an error code wins
    /// outright), then the trained classifier.
    pub fn analyze(&self, text: &str) -> Analysis {
        let normalised = normalize(text);
        if let Some(intent) = self.pattern_match(&normalised) {
            let mut ranked = vec![IntentGuess {
                id: intent.id.clone(),
                confidence: 1.0,
            }];
            ranked.extend(
                self.classify(&normalised)
                    .0
                    .into_iter()
                    .filter(|g| g.id != intent.id),
            );
            return Analysis {
                normalised,
                ranked,
                out_of_scope: false,
                by_pattern: true,
            };
        }
        let (ranked, out_of_scope) = self.classify(&normalised);
        Analysis {
            normalised,
            ranked,
            out_of_scope,
            by_pattern: false,
        }
    }

    fn classify(&self, normalised: &str) -> (Vec<IntentGuess>, bool) {
        if normalised.is_empty() {
            return (Vec::new(), true);
        }
        let p = self.classifier.predict(normalised);
        let labels = self.classifier.labels();
        let ranked = p
            .ranked
            .iter()
            .filter_map(|s| {
                labels.get(s.label).map(|id| IntentGuess {
                    id: id.clone(),
                    confidence: s.confidence,
                })
            })
            .collect();
        (ranked, p.out_of_scope)
    }

    fn pattern_match(&self, normalised: &str) -> Option<&Intent> {
        self.catalog
            .intents
            .iter()
            .find(|i| i.patterns.iter().any(|p| p.is_match(normalised)))
    }
}

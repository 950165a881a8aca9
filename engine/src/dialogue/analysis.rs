//! The engine: a catalog plus the classifier trained from it, and message analysis that
//! combines the classifier with the catalog's exact patterns.

use thiserror::Error;

use super::IntentGuess;
use crate::acts::{ActGuess, ActModel};
use crate::catalog::{Catalog, Intent, IntentKind};
use crate::classifier::{Classifier, ClassifierError, Scored};
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
    /// The dialogue-act classifier could not be trained from the catalog's acts.
    #[error("cannot train the dialogue-act classifier from catalog {origin}: {source}")]
    Acts {
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
    /// What the message does as an answer, when it is one.
    pub act: Option<ActGuess>,
    /// An error code the catalog does not know, when the message has one.
    pub unknown_code: Option<String>,
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
    acts: Option<ActModel>,
}

impl Engine {
    /// Trains the classifiers from the catalog: intents and dialogue acts, side by side on
    /// two threads (start-up time is what a restart costs).
    pub fn new(catalog: Catalog) -> Result<Self, EngineError> {
        let (classifier, acts) = std::thread::scope(|s| {
            let acts = s.spawn(|| Self::train_acts(&catalog));
            let classifier = Classifier::train(&catalog.training_data()).map_err(|source| {
                EngineError::Training {
                    origin: catalog.origin.clone(),
                    source,
                }
            });
            // A panic in the act trainer is a bug; surface it as the training error it is.
            let acts = acts.join().unwrap_or_else(|_| {
                Err(EngineError::Acts {
                    origin: catalog.origin.clone(),
                    source: ClassifierError::Empty,
                })
            });
            (classifier, acts)
        });
        Ok(Self {
            classifier: classifier?,
            acts: acts?,
            catalog,
        })
    }

    /// Trains the act classifier: the catalog's act examples, against the intents' and the
    /// out-of-scope examples as "not an answer" (except those that are answers in a guide:
    /// asking for a person, thanks, goodbye and vague complaints such as "it doesn't work").
    fn train_acts(catalog: &Catalog) -> Result<Option<ActModel>, EngineError> {
        if catalog.acts.is_empty() {
            return Ok(None);
        }
        let examples: Vec<_> = catalog
            .acts
            .iter()
            .flat_map(|(act, ex)| ex.iter().map(move |e| (*act, e.clone())))
            .collect();
        let none: Vec<String> = catalog
            .intents
            .iter()
            .filter(|i| matches!(i.kind, IntentKind::Guide | IntentKind::Greeting))
            .flat_map(|i| i.examples.iter().cloned())
            .chain(catalog.out_of_scope.iter().cloned())
            .collect();
        ActModel::train(&examples, &none)
            .map(Some)
            .map_err(|source| EngineError::Acts {
                origin: catalog.origin.clone(),
                source,
            })
    }

    /// The act of a raw message ("none" when it is not an answer, or no acts are known).
    pub fn classify_act(&self, text: &str) -> Option<ActGuess> {
        self.acts.as_ref()?.classify(&normalize(text))
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
            let act = self.acts.as_ref().and_then(|m| m.classify(&normalised));
            return Analysis {
                normalised,
                ranked,
                out_of_scope: false,
                by_pattern: true,
                act,
                unknown_code: None,
            };
        }
        let (ranked, out_of_scope) = self.classify(&normalised);
        let act = self.acts.as_ref().and_then(|m| m.classify(&normalised));
        Analysis {
            normalised,
            ranked,
            out_of_scope,
            by_pattern: false,
            act,
            unknown_code: super::codes::error_code(text),
        }
    }

    fn classify(&self, normalised: &str) -> (Vec<IntentGuess>, bool) {
        if normalised.is_empty() {
            return (Vec::new(), true);
        }
        let mut p = self.classifier.predict(normalised);
        let labels = self.classifier.labels();
        prefer_specific(&self.catalog, labels, &mut p.ranked);
        let ranked: Vec<IntentGuess> = p
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

/// A guide at least this likely wins over a vague (clarify) best guess.
pub const SPECIFIC_OVER_VAGUE: f32 = 0.15;

/// Puts a plausible guide before a vague best guess: "vague" is the fallback for messages
/// that name nothing specific ("it doesn't work"), not for "region issue with my mi account",
/// whose generic words merely resemble it. `labels` names the classifier's labels; ranked
/// guesses stay otherwise in order.
pub fn prefer_specific(catalog: &Catalog, labels: &[String], ranked: &mut Vec<Scored>) {
    let is_kind = |s: &Scored, kind: IntentKind| {
        labels
            .get(s.label)
            .and_then(|id| catalog.intent(id))
            .is_some_and(|i| i.kind == kind)
    };
    if ranked
        .first()
        .is_some_and(|s| is_kind(s, IntentKind::Clarify))
        && let Some(pos) = ranked
            .iter()
            .position(|s| is_kind(s, IntentKind::Guide) && s.confidence >= SPECIFIC_OVER_VAGUE)
    {
        let guide = ranked.remove(pos);
        ranked.insert(0, guide);
    }
}

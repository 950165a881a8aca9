//! The engine: a catalog plus the classifier trained from it, and message analysis that
//! combines the classifier with the catalog's exact patterns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use thiserror::Error;

use super::IntentGuess;
use super::models::Models;
use crate::acts::ActGuess;
use crate::catalog::{Catalog, Intent, IntentKind};
use crate::classifier::{Classifier, ClassifierConfig, ClassifierError, Scored, cascade};
use crate::embed::Embed;
use crate::embed::recent::Recent;
use crate::langid::LanguageId;
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
    /// The language the message was read in (`None`: English).
    pub language: Option<String>,
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

/// A short answer ("ok", "no", "yes it worked") the act model recognises at least this surely
/// needs no sentence vector.
pub const ACT_SURE: f32 = 0.8;

/// Answers of at most this many words can skip the vector (see [`ACT_SURE`]).
pub const SHORT_ANSWER_WORDS: usize = 4;

/// How the engine's messages were understood since start-up (for the load bench and
/// `/metrics`).
#[derive(Debug, Default)]
pub struct EmbedStats {
    /// Messages classified.
    pub messages: AtomicU64,
    /// Messages whose vector was computed.
    pub embedded: AtomicU64,
    /// Messages whose vector came from the cache of recent messages.
    pub cached: AtomicU64,
}

/// Leads a [`Engine::snapshot`].
const SNAPSHOT_MAGIC: &[u8; 8] = b"DBENGS1\n";

/// Bumped when what a snapshot depends on changes in a way the fingerprint cannot see.
const SNAPSHOT_VERSION: u32 = 2;

/// An encoder and its vectors of the training texts.
type Embedding = (Arc<dyn Embed>, Vec<Vec<f32>>);

/// The sentence encoder and its cache of recent messages.
struct Encoder {
    model: Arc<dyn Embed>,
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("model_id", &self.model.model_id())
            .finish_non_exhaustive()
    }
}

/// A catalog and its trained classifier: everything needed to run conversations.
/// Build it once at start-up and share it (it is `Send + Sync`).
#[derive(Debug)]
pub struct Engine {
    pub(crate) catalog: Catalog,
    models: Models,
    encoder: Option<Encoder>,
    stats: EmbedStats,
    /// Which of the catalog's languages a message is in.
    pub(crate) langid: LanguageId,
    /// Per language (English included), the one-word answers that mean yes or no there.
    pub(crate) plain_answers: HashMap<String, super::models::PlainAnswers>,
}

impl Engine {
    /// Trains the classifiers from the catalog: intents and dialogue acts, side by side on
    /// two threads (start-up time is what a restart costs).
    pub fn new(catalog: Catalog) -> Result<Self, EngineError> {
        Self::build(catalog, None)
    }

    /// The normalised texts the intent classifier trains on, in the order
    /// [`Engine::with_vectors`] expects their vectors: the intents' examples, then the
    /// out-of-scope ones.
    pub fn training_texts(catalog: &Catalog) -> Vec<String> {
        let data = catalog.training_data();
        data.examples
            .into_iter()
            .map(|(t, _)| t)
            .chain(data.out_of_scope)
            .collect()
    }

    /// Trains with sentence vectors: `vectors` are `encoder`'s vectors of
    /// [`Engine::training_texts`], in that order (the binary keeps them cached on disk, so a
    /// restart does not recompute them). Messages are then understood by meaning too, in any
    /// language the encoder knows.
    pub fn with_vectors(
        catalog: Catalog,
        encoder: Arc<dyn Embed>,
        vectors: Vec<Vec<f32>>,
    ) -> Result<Self, EngineError> {
        Self::build(catalog, Some((encoder, vectors)))
    }

    fn build(catalog: Catalog, embedding: Option<Embedding>) -> Result<Self, EngineError> {
        let models = Models::train(&catalog, embedding.as_ref().map(|(_, v)| v.as_slice()))?;
        Ok(Self {
            models,
            langid: LanguageId::new(&catalog),
            plain_answers: super::models::plain_answers(&catalog),
            catalog,
            encoder: embedding.map(|(model, _)| Encoder {
                model,
                recent: Mutex::new(Recent::default()),
            }),
            stats: EmbedStats::default(),
        })
    }

    /// What a trained engine depends on: the catalog's training texts, labels and act
    /// examples, the training settings, the encoder's model (when there is one) and the
    /// snapshot format. A snapshot is used only by an engine with the same fingerprint.
    pub fn fingerprint(catalog: &Catalog, model_id: Option<&str>) -> u64 {
        use crate::classifier::features::fnv1a;
        let mut h = fnv1a(0xcbf2_9ce4_8422_2325, &SNAPSHOT_VERSION.to_le_bytes());
        let mut add = |bytes: &[u8]| {
            h = fnv1a(h, &(bytes.len() as u64).to_le_bytes());
            h = fnv1a(h, bytes);
        };
        let data = catalog.training_data();
        for l in &data.labels {
            add(l.as_bytes());
        }
        for (t, l) in &data.examples {
            add(t.as_bytes());
            add(&(*l as u64).to_le_bytes());
        }
        for t in &data.out_of_scope {
            add(t.as_bytes());
        }
        for (act, examples) in &catalog.all_acts() {
            add(act.as_str().as_bytes());
            for e in examples {
                add(e.as_bytes());
            }
        }
        add(format!("{:?}", ClassifierConfig::default()).as_bytes());
        add(model_id.unwrap_or("").as_bytes());
        h
    }

    /// The trained models as bytes, to be given to [`Engine::from_snapshot`] on the next
    /// start (with the same catalog and encoder) instead of training again.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = crate::classifier::persist::Writer::default();
        w.0.extend_from_slice(SNAPSHOT_MAGIC);
        let model_id = self.encoder.as_ref().map(|e| e.model.model_id());
        w.usize(Self::fingerprint(&self.catalog, model_id) as usize);
        self.models.write(&mut w);
        w.0
    }

    /// An engine from a [`Engine::snapshot`] of one trained from the same `catalog` with the
    /// same encoder (`None`: n-grams alone); an error (train again) when the snapshot is
    /// damaged, of another version, or of another catalog or model.
    pub fn from_snapshot(
        catalog: Catalog,
        encoder: Option<Arc<dyn Embed>>,
        bytes: &[u8],
    ) -> Result<Self, crate::classifier::persist::PersistError> {
        use crate::classifier::persist::{PersistError, Reader};
        let rest = bytes
            .strip_prefix(SNAPSHOT_MAGIC.as_slice())
            .ok_or(PersistError::Invalid { field: "magic" })?;
        let mut r = Reader::new(rest);
        let fingerprint = r.usize("fingerprint")? as u64;
        let model_id = encoder.as_ref().map(|e| e.model_id());
        if fingerprint != Self::fingerprint(&catalog, model_id) {
            return Err(PersistError::Invalid {
                field: "fingerprint (another catalog or model)",
            });
        }
        let models = Models::read(&mut r)?;
        let classifier = &models.english;
        if classifier.has_vectors() != encoder.is_some()
            || encoder
                .as_ref()
                .is_some_and(|e| e.dim() != classifier.vector_dim())
        {
            return Err(PersistError::Invalid {
                field: "vector views",
            });
        }
        if !r.is_empty() {
            return Err(PersistError::Invalid {
                field: "trailing bytes",
            });
        }
        if classifier.labels().len() != catalog.intents.len()
            || models
                .joint
                .as_ref()
                .is_some_and(|j| j.labels().len() != catalog.intents.len())
        {
            return Err(PersistError::Invalid { field: "labels" });
        }
        Ok(Self {
            langid: LanguageId::new(&catalog),
            plain_answers: super::models::plain_answers(&catalog),
            catalog,
            models,
            encoder: encoder.map(|model| Encoder {
                model,
                recent: Mutex::new(Recent::default()),
            }),
            stats: EmbedStats::default(),
        })
    }

    /// True when messages are understood with sentence vectors too.
    pub fn has_embeddings(&self) -> bool {
        self.encoder.is_some() && self.models.english.has_vectors()
    }

    /// How many messages were classified, embedded and served from the cache of recent
    /// messages since start-up.
    pub fn embed_stats(&self) -> &EmbedStats {
        &self.stats
    }

    /// What the one word `word` (folded, see [`crate::catalog::cues::words`]) plainly answers
    /// in language `lang` (`None`: English): yes, no, or nothing.
    pub(crate) fn plain_answer(&self, lang: Option<&str>, word: &str) -> Option<crate::acts::Act> {
        self.plain_answers
            .get(lang.unwrap_or(crate::catalog::ENGLISH))?
            .get(word)
    }

    /// The cues answers in language `lang` (`None`: English) are read by; a language the
    /// catalog lacks has none.
    pub(crate) fn cues(&self, lang: Option<&str>) -> &crate::catalog::cues::Cues {
        static NONE: std::sync::OnceLock<crate::catalog::cues::Cues> = std::sync::OnceLock::new();
        match self
            .catalog
            .language(lang.unwrap_or(crate::catalog::ENGLISH))
        {
            Some(l) => &l.cues,
            None => NONE.get_or_init(Default::default),
        }
    }

    /// The language identifier built from the catalog.
    pub fn language_id(&self) -> &LanguageId {
        &self.langid
    }

    /// The act of a raw message ("none" when it is not an answer, or no acts are known).
    pub fn classify_act(&self, text: &str) -> Option<ActGuess> {
        self.models.acts(None)?.classify(&normalize(text))
    }

    /// The catalog the engine runs.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The trained classifier of English messages.
    pub fn classifier(&self) -> &Classifier {
        &self.models.english
    }

    /// Classifies one raw message: patterns first (an exact signal such as an error code wins
    /// outright), then the trained classifier.
    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_in(text, None)
    }

    /// Classifies one raw message written in language `lang` (a catalog language code; `None`
    /// is English) with that language's models (see [`super::models`]).
    pub fn analyze_in(&self, text: &str, lang: Option<&str>) -> Analysis {
        let normalised = normalize(text);
        let classifier = self.models.intents(lang);
        let acts = self.models.acts(lang);
        if let Some(intent) = self.pattern_match(&normalised) {
            let mut ranked = vec![IntentGuess {
                id: intent.id.clone(),
                confidence: 1.0,
            }];
            let act = acts.and_then(|m| m.classify(&normalised));
            ranked.extend(
                self.classify(classifier, &normalised, act, lang)
                    .0
                    .into_iter()
                    .filter(|g| g.id != intent.id),
            );
            return Analysis {
                normalised,
                ranked,
                out_of_scope: false,
                by_pattern: true,
                act,
                unknown_code: None,
                language: lang.map(str::to_string),
            };
        }
        let act = acts.and_then(|m| m.classify(&normalised));
        let (ranked, out_of_scope) = self.classify(classifier, &normalised, act, lang);
        Analysis {
            normalised,
            ranked,
            out_of_scope,
            by_pattern: false,
            act,
            unknown_code: super::codes::error_code(text),
            language: lang.map(str::to_string),
        }
    }

    fn classify(
        &self,
        classifier: &Classifier,
        normalised: &str,
        act: Option<ActGuess>,
        lang: Option<&str>,
    ) -> (Vec<IntentGuess>, bool) {
        if normalised.is_empty() {
            return (Vec::new(), true);
        }
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        let mut p = self.predict(classifier, normalised, act, lang);
        let labels = classifier.labels();
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

    /// Classifies through the classifier's cascade ([`crate::classifier::cascade`]): a
    /// short answer the act model knows, or an English message the n-grams are sure of, needs
    /// no sentence vector.
    fn predict(
        &self,
        classifier: &Classifier,
        normalised: &str,
        act: Option<ActGuess>,
        lang: Option<&str>,
    ) -> crate::classifier::Prediction {
        let Some(encoder) = &self.encoder else {
            return classifier.predict(normalised);
        };
        let language = cascade::Language::of(lang, |l| self.catalog.has_examples_in(l));
        let short_answer = act.is_some_and(|a| a.confidence >= ACT_SURE)
            && normalised.split_whitespace().count() <= SHORT_ANSWER_WORDS;
        classifier
            .predict_cascade(normalised, short_answer, language, || {
                self.vector(encoder, normalised)
            })
            .0
    }

    /// `normalised`'s vector, from the cache of recent messages or computed.
    fn vector(&self, encoder: &Encoder, normalised: &str) -> Arc<[f32]> {
        let recent = || {
            encoder
                .recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(v) = recent().get(normalised) {
            self.stats.cached.fetch_add(1, Ordering::Relaxed);
            return v;
        }
        let v: Arc<[f32]> = Arc::from(encoder.model.embed(normalised));
        self.stats.embedded.fetch_add(1, Ordering::Relaxed);
        recent().insert(normalised, v.clone());
        v
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

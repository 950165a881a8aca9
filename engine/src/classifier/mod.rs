//! Intent classification: a model trained at start-up from labelled examples.
//!
//! The pipeline is the classic strong-and-cheap text classifier, written for speed:
//!
//! 1. [`features`]: hashed word (stemmed unigrams and bigrams) and character (`char_wb`
//!    2–5-gram) features; no vocabulary map, only the buckets seen in training get weights
//!    (features seen in a single training message are dropped);
//! 2. sublinear TF-IDF (`1 + ln tf` times smoothed IDF), each block L2-normalised on its own;
//!    With sentence vectors ([`crate::embed`]), a third block holds the message's vector,
//!    centred on the training vectors' mean and L2-normalised (the raw vectors of a
//!    sentence encoder share a large common direction that would otherwise drown the
//!    differences between intents);
//! 3. [`model`]: a multinomial logistic regression (softmax) trained by SGD, with the
//!    out-of-scope examples as one extra, class-balanced class (together they weigh as much
//!    as an average intent) — the model learns *where* out-of-scope text lies instead of
//!    relying on low confidence alone, and the balance keeps a large out-of-scope file (our
//!    catalog has ~4 intents' worth) from swallowing short in-scope messages;
//! 4. the out-of-scope decision: rejected when the out-of-scope class wins or when the
//!    [in-scope score](Probabilities::in_scope_score) `p_best / (p_best + p_oos)` is below a
//!    threshold ([`threshold`]), chosen on validation data ([`Classifier::tune_threshold`])
//!    or, for small catalogs, by cross-validation on the training data at
//!    [`Classifier::train`] time, else a default.
//!
//! Trained with vectors, a classifier holds three views of the same data ([`Features`]):
//! n-grams alone (fast, no vector needed: the first step of the engine's cascade), the
//! sentence vector alone (carries meaning across languages: an English catalog understands
//! Spanish or Russian), and both in one model (best where the catalog has examples in the
//! message's language). Each view has its own out-of-scope threshold.
//!
//! Confidences in [`Prediction::ranked`] are softmax probabilities (over the intents and the
//! out-of-scope class), so they are comparable across messages and catalogs. Training is
//! deterministic (seeded shuffles, no threads): the same data and configuration give the same
//! model. A [`Classifier`] is `Send + Sync`; clones share the trained model.

pub mod cascade;
pub mod features;
pub mod metrics;
pub mod model;
pub mod neighbours;
pub mod persist;
pub mod threshold;

use std::sync::Arc;

use thiserror::Error;

use features::{FeatureConfig, FeatureExtractor, RawFeature};
use model::{Csr, SgdConfig, Softmax, SplitMix};
use threshold::{Point, ThresholdChoice, ThresholdRule};

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

/// A held-out message for threshold selection: its normalised text, its sentence vector (if
/// any) and its label index (`None` for out of scope).
pub type HeldOut<'a> = (&'a str, Option<&'a [f32]>, Option<usize>);

/// Which features a prediction uses (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Features {
    /// Word and character n-grams only.
    Ngram,
    /// The sentence vector only.
    Embed,
    /// N-grams and the sentence vector in one model.
    Both,
}

impl Features {
    /// All three, in the order reports list them.
    pub const ALL: [Features; 3] = [Features::Ngram, Features::Embed, Features::Both];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Features::Ngram => "ngram",
            Features::Embed => "embed",
            Features::Both => "both",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::str::FromStr for Features {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Features::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown features {s:?}: use ngram, embed or both"))
    }
}

/// Why training failed.
#[derive(Debug, Error)]
pub enum ClassifierError {
    /// There was nothing to learn from.
    #[error("no training examples")]
    Empty,
    /// An example's label is not an index into the label list.
    #[error("example {example} has label index {label}, but there are only {labels} labels")]
    BadLabel {
        /// The example's position.
        example: usize,
        /// Its label index.
        label: usize,
        /// How many labels there are.
        labels: usize,
    },
    /// The sentence vectors do not line up with the examples.
    #[error("{vectors} sentence vectors for {examples} examples (one per example, in order)")]
    VectorCount {
        /// How many vectors were given.
        vectors: usize,
        /// How many examples (in scope, then out of scope) there are.
        examples: usize,
    },
    /// The sentence vectors do not all have the same length.
    #[error("sentence vector {index} has {len} dimensions, the first has {dim}")]
    VectorDim {
        /// The vector's position.
        index: usize,
        /// Its length.
        len: usize,
        /// The first vector's length.
        dim: usize,
    },
}

/// How many intents [`Classifier::predict`] ranks.
pub const RANKED: usize = 5;

/// Training settings; [`Default`] is tuned on CLINC150's validation set and works for small
/// catalogs too.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierConfig {
    /// Feature extraction.
    pub features: FeatureConfig,
    /// Optimisation.
    pub sgd: SgdConfig,
    /// Weight of the out-of-scope class relative to an average intent (the out-of-scope
    /// examples together weigh as much as `oos_weight` average intents).
    pub oos_weight: f32,
    /// The ensemble: one softmax model per entry, each seeing the (word, char) blocks with
    /// these weights (0 leaves a block out). Members' probabilities are combined by a
    /// geometric mean (mean of log-probabilities, renormalised).
    pub members: Vec<[f32; 2]>,
    /// A fixed out-of-scope threshold; `None` chooses one (see [`ClassifierConfig::cv_folds`]).
    pub threshold: Option<f32>,
    /// The threshold on [`Probabilities::in_scope_score`] used when none is fixed and
    /// cross-validation does not apply (large training sets). 0.9 means "reject unless the best
    /// intent is nine times as likely as out of scope"; on CLINC150's val it rejects 2 % of
    /// in-scope messages and catches 77 % of out-of-scope ones.
    pub default_threshold: f32,
    /// The threshold on the best probability used when there are no out-of-scope examples
    /// (the model then has no out-of-scope class to compare with).
    pub default_threshold_without_oos: f32,
    /// How thresholds are chosen from held-out predictions.
    pub rule: ThresholdRule,
    /// Folds of the cross-validation that chooses the threshold at training time (0 or 1
    /// disables it). It runs only when there are out-of-scope examples and at most
    /// [`ClassifierConfig::cv_max_examples`] examples, so start-up stays fast.
    pub cv_folds: usize,
    /// The most examples for which training-time cross-validation runs.
    pub cv_max_examples: usize,
    /// Weight of the sentence-vector block beside the n-gram blocks (each block has unit
    /// length before weighting) in the [`Features::Both`] model.
    pub embedding_weight: f32,
    /// Scale of the vector in the [`Features::Embed`] model (a larger scale is a weaker
    /// regularisation relative to the data).
    pub embedding_only_scale: f32,
    /// The nearest-neighbour vote blended into the [`Features::Embed`] view.
    pub neighbours: neighbours::NeighbourConfig,
    /// Features seen in fewer training messages than this are dropped (they cannot
    /// generalise, and dropping them shrinks the model several-fold, which matters because
    /// scoring is bound by memory traffic over the weight rows).
    pub min_df: u32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            sgd: SgdConfig::default(),
            oos_weight: 1.0,
            members: vec![[1.0, 1.0]],
            threshold: None,
            default_threshold: 0.9,
            default_threshold_without_oos: 0.3,
            rule: ThresholdRule::default(),
            cv_folds: 5,
            cv_max_examples: 10_000,
            // Chosen on CLINC150's val and checked on its test: 1.0 gave 95.8 closed-set and
            // 94.8 / 72.4 in-scope / OOS recall, 1.25 gives 96.0 and 94.5 / 77.6, 1.5 gives
            // 96.0 and 94.2 / 77.5 (`deskbot eval --features both`).
            embedding_weight: 1.25,
            embedding_only_scale: 1.0,
            neighbours: neighbours::NeighbourConfig::default(),
            min_df: 2,
        }
    }
}

/// One model of the ensemble.
#[derive(Debug)]
struct Member {
    /// Weight of each block (word, char, sentence vector); 0 leaves the block out.
    block_weight: [f32; 3],
    softmax: Softmax,
}

/// The trained parts, shared between clones.
#[derive(Debug)]
struct Model {
    labels: Vec<String>,
    extractor: FeatureExtractor,
    /// Hash bucket → feature row (`u32::MAX`: unseen in training).
    remap: Vec<u32>,
    /// IDF of each feature row.
    idf: Vec<f32>,
    /// The ensemble members of each view ([`Features`] order); empty when the view was not
    /// trained (no vectors).
    views: [Vec<Member>; 3],
    /// Length of the sentence vectors (0 when trained without them).
    dim: usize,
    /// Mean of the training vectors, subtracted before normalising a vector.
    mean: Vec<f32>,
    /// The training vectors, for the [`Features::Embed`] view's nearest-neighbour vote.
    neighbours: neighbours::Neighbours,
    /// How that vote is blended in.
    neighbour_config: neighbours::NeighbourConfig,
    /// Number of classes (intents, plus one for out of scope when trained with it).
    classes: usize,
    /// The out-of-scope class index, when trained with out-of-scope examples.
    oos_class: Option<usize>,
}

/// A trained intent classifier. Cloning is cheap (the model is shared).
#[derive(Debug, Clone)]
pub struct Classifier {
    model: Arc<Model>,
    /// The out-of-scope threshold of each view ([`Features`] order).
    thresholds: [f32; 3],
}

/// The probabilities the model gives one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Probabilities {
    /// Per intent, in label order.
    pub in_scope: Vec<f32>,
    /// Of the out-of-scope class (0 when trained without out-of-scope examples).
    pub out_of_scope: f32,
}

impl Probabilities {
    /// The held-out point of a message with these probabilities and this truth.
    pub fn point(&self, truth: Option<usize>) -> Point {
        let (best, conf) = self.best().unwrap_or((usize::MAX, 0.0));
        Point {
            confidence: self.in_scope_score(),
            model_rejects: self.out_of_scope > conf,
            correct: truth == Some(best),
            is_oos: truth.is_none(),
        }
    }

    /// How in-scope the message looks, in 0..=1: the best intent's share of the probability
    /// it and the out-of-scope class have together, `p_best / (p_best + p_oos)` (the sigmoid
    /// of their logit difference). This two-way comparison detects out-of-scope messages
    /// better than the best probability alone: on CLINC150's val, at 3 % of in-scope messages
    /// rejected, it catches 87 % of out-of-scope ones against 76 %. Without an out-of-scope
    /// class it is the best probability.
    pub fn in_scope_score(&self) -> f32 {
        let best = self.best().map_or(0.0, |(_, p)| p);
        if self.out_of_scope > 0.0 {
            best / (best + self.out_of_scope)
        } else {
            best
        }
    }

    /// The best intent and its probability (`None` when there are no intents).
    pub fn best(&self) -> Option<(usize, f32)> {
        self.in_scope
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }
}

impl Classifier {
    /// Trains a classifier with default settings.
    pub fn train(data: &TrainingData) -> Result<Self, ClassifierError> {
        Self::train_with(data, &ClassifierConfig::default())
    }

    /// Trains a classifier with `config` (n-grams only).
    pub fn train_with(
        data: &TrainingData,
        config: &ClassifierConfig,
    ) -> Result<Self, ClassifierError> {
        Self::train_with_vectors(data, config, None)
    }

    /// Trains a classifier with `config`; with `vectors` (one sentence vector per example: the
    /// in-scope examples in order, then the out-of-scope ones), it also trains the
    /// [`Features::Embed`] and [`Features::Both`] views.
    pub fn train_with_vectors(
        data: &TrainingData,
        config: &ClassifierConfig,
        vectors: Option<&[Vec<f32>]>,
    ) -> Result<Self, ClassifierError> {
        if data.examples.is_empty() {
            return Err(ClassifierError::Empty);
        }
        if let Some((example, &(_, label))) = data
            .examples
            .iter()
            .enumerate()
            .find(|(_, (_, l))| *l >= data.labels.len())
        {
            return Err(ClassifierError::BadLabel {
                example,
                label,
                labels: data.labels.len(),
            });
        }
        let n = data.examples.len() + data.out_of_scope.len();
        if let Some(v) = vectors {
            if v.len() != n {
                return Err(ClassifierError::VectorCount {
                    vectors: v.len(),
                    examples: n,
                });
            }
            let dim = v.first().map_or(0, Vec::len);
            if let Some((index, bad)) = v.iter().enumerate().find(|(_, x)| x.len() != dim) {
                return Err(ClassifierError::VectorDim {
                    index,
                    len: bad.len(),
                    dim,
                });
            }
        }
        let vectors = vectors.filter(|v| v.first().is_some_and(|x| !x.is_empty()));
        let views = trained_views(vectors.is_some());
        let model = Arc::new(fit(data, vectors, config, &views));
        let default = if data.out_of_scope.is_empty() {
            config.default_threshold_without_oos
        } else {
            config.default_threshold
        };
        let mut classifier = Self {
            model,
            thresholds: [default; 3],
        };
        if let Some(t) = config.threshold {
            classifier.thresholds = [t; 3];
        } else if config.cv_folds >= 2
            && !data.out_of_scope.is_empty()
            && n <= config.cv_max_examples
        {
            for (view, choice) in cross_validate(data, vectors, config, &views) {
                classifier.thresholds[view.index()] = choice.threshold;
            }
        }
        Ok(classifier)
    }

    /// The number of features (hash buckets seen in training, plus the vector's dimensions)
    /// the model has weights for.
    pub fn features(&self) -> usize {
        self.model.idf.len() + self.model.dim
    }

    /// True when the classifier was trained with sentence vectors (all three views exist).
    pub fn has_vectors(&self) -> bool {
        self.model.dim > 0
    }

    /// The length of the sentence vectors it was trained with (0 without).
    pub fn vector_dim(&self) -> usize {
        self.model.dim
    }

    /// The share of `text`'s words (0..=1) that the training examples use (seen in at least
    /// `min_df` of them); 0 for a message without words. A message in a language the catalog
    /// has no examples in shares almost none.
    pub fn known_word_share(&self, text: &str) -> f32 {
        let buckets = self.model.extractor.word_buckets(text);
        if buckets.is_empty() {
            return 0.0;
        }
        let known = buckets
            .iter()
            .filter(|&&b| {
                self.model
                    .remap
                    .get(b as usize)
                    .is_some_and(|&r| r != u32::MAX)
            })
            .count();
        known as f32 / buckets.len() as f32
    }

    /// The labels, in the order of [`TrainingData::labels`].
    pub fn labels(&self) -> &[String] {
        &self.model.labels
    }

    /// The out-of-scope threshold of the n-gram view.
    pub fn threshold(&self) -> f32 {
        self.thresholds[Features::Ngram.index()]
    }

    /// The out-of-scope threshold of a view.
    pub fn threshold_of(&self, features: Features) -> f32 {
        self.thresholds[features.index()]
    }

    /// Sets the out-of-scope threshold of every view (messages whose in-scope score is below
    /// are rejected).
    pub fn set_threshold(&mut self, threshold: f32) {
        self.thresholds = [threshold; 3];
    }

    /// Chooses the n-gram view's threshold on held-out `(normalised text, label index or
    /// None for out of scope)` pairs under `rule`, sets it, and reports what it does on them.
    pub fn tune_threshold(
        &mut self,
        held_out: &[(String, Option<usize>)],
        rule: ThresholdRule,
    ) -> ThresholdChoice {
        let points: Vec<Point> = held_out
            .iter()
            .map(|(t, l)| self.probabilities(t).point(*l))
            .collect();
        let choice = threshold::choose(&points, rule);
        self.thresholds[Features::Ngram.index()] = choice.threshold;
        choice
    }

    /// Chooses one view's threshold on held-out messages with their vectors (as
    /// [`Classifier::tune_threshold`]).
    pub fn tune_threshold_of(
        &mut self,
        features: Features,
        held_out: &[HeldOut<'_>],
        rule: ThresholdRule,
    ) -> ThresholdChoice {
        let points: Vec<Point> = held_out
            .iter()
            .map(|(t, v, l)| self.probabilities_with(t, *v, features).point(*l))
            .collect();
        let choice = threshold::choose(&points, rule);
        self.thresholds[features.index()] = choice.threshold;
        choice
    }

    /// The held-out point of one message (for threshold selection).
    pub fn point(&self, text: &str, truth: Option<usize>) -> Point {
        self.probabilities(text).point(truth)
    }

    /// The n-gram view's probabilities for one normalised message.
    pub fn probabilities(&self, text: &str) -> Probabilities {
        self.probabilities_with(text, None, Features::Ngram)
    }

    /// One view's probabilities for one normalised message and its sentence vector. A view
    /// that needs a vector falls back to the n-gram view when there is none (or the
    /// classifier was trained without vectors).
    pub fn probabilities_with(
        &self,
        text: &str,
        vector: Option<&[f32]>,
        features: Features,
    ) -> Probabilities {
        let (vector, features) = self.usable(vector, features);
        let mut raw = Vec::with_capacity(64);
        if features != Features::Embed {
            self.model.extractor.extract(text, &mut raw);
        }
        self.model.probabilities_raw(&raw, vector, features)
    }

    /// Classifies one normalised message with the n-gram view.
    pub fn predict(&self, text: &str) -> Prediction {
        self.predict_with(text, None, Features::Ngram)
    }

    /// Classifies one normalised message with a view (see
    /// [`Classifier::probabilities_with`]).
    pub fn predict_with(
        &self,
        text: &str,
        vector: Option<&[f32]>,
        features: Features,
    ) -> Prediction {
        let (vector, features) = self.usable(vector, features);
        let p = self.probabilities_with(text, vector, features);
        self.decide(&p, features)
    }

    /// The view actually used: a vector view needs a vector of the trained length.
    fn usable<'a>(
        &self,
        vector: Option<&'a [f32]>,
        features: Features,
    ) -> (Option<&'a [f32]>, Features) {
        match vector {
            Some(v) if self.model.dim > 0 && v.len() == self.model.dim => (Some(v), features),
            _ => (None, Features::Ngram),
        }
    }

    /// The prediction for probabilities from `features`' view.
    pub fn decide(&self, p: &Probabilities, features: Features) -> Prediction {
        let mut ranked: Vec<Scored> = p
            .in_scope
            .iter()
            .enumerate()
            .map(|(label, &confidence)| Scored { label, confidence })
            .collect();
        let k = RANKED.min(ranked.len());
        let by_conf = |a: &Scored, b: &Scored| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.label.cmp(&b.label))
        };
        if k > 0 && k < ranked.len() {
            ranked.select_nth_unstable_by(k - 1, by_conf);
        }
        ranked.truncate(k);
        ranked.sort_by(by_conf);
        let best = ranked.first().map_or(0.0, |s| s.confidence);
        Prediction {
            out_of_scope: ranked.is_empty()
                || p.out_of_scope > best
                || p.in_scope_score() < self.thresholds[features.index()],
            ranked,
        }
    }
}

/// The views trained: n-grams always, the vector views when there are vectors.
fn trained_views(with_vectors: bool) -> Vec<Features> {
    if with_vectors {
        Features::ALL.to_vec()
    } else {
        vec![Features::Ngram]
    }
}

impl Model {
    /// The probabilities of a message's raw features and vector under one view (the view's
    /// members must exist: callers fall back to [`Features::Ngram`]).
    fn probabilities_raw(
        &self,
        raw: &[RawFeature],
        vector: Option<&[f32]>,
        features: Features,
    ) -> Probabilities {
        let members = match &self.views[features.index()] {
            m if !m.is_empty() => m,
            _ => &self.views[Features::Ngram.index()],
        };
        let dense = vector.map(|v| self.centred(v));
        let mut probs = vec![0.0f32; self.classes];
        if let [member] = members.as_slice() {
            let (index, value) = self.vectorize(raw, dense.as_deref(), member.block_weight);
            member.softmax.logits(&index, &value, &mut probs);
        } else {
            // Geometric mean of the members' probabilities.
            let mut logits = vec![0.0f32; self.classes];
            let k = members.len().max(1) as f32;
            for member in members {
                let (index, value) = self.vectorize(raw, dense.as_deref(), member.block_weight);
                member.softmax.logits(&index, &value, &mut logits);
                model::softmax(&mut logits);
                for (p, l) in probs.iter_mut().zip(&logits) {
                    *p += l.max(1e-30).ln() / k;
                }
            }
        }
        model::softmax(&mut probs);
        if features == Features::Embed
            && let Some(v) = vector
        {
            self.neighbours.blend(v, &mut probs, self.neighbour_config);
        }
        let out_of_scope = match self.oos_class {
            Some(c) => probs.swap_remove(c),
            None => 0.0,
        };
        Probabilities {
            in_scope: probs,
            out_of_scope,
        }
    }

    /// A sentence vector centred on the training mean and L2-normalised.
    fn centred(&self, v: &[f32]) -> Vec<f32> {
        centre(v, &self.mean)
    }

    /// TF-IDF vector of raw features (sublinear TF times IDF, each block L2-normalised and
    /// weighted; features unseen in training are dropped), then the centred sentence vector
    /// (already unit length) times its weight, in the columns after the n-gram features.
    fn vectorize(
        &self,
        raw: &[RawFeature],
        dense: Option<&[f32]>,
        block_weight: [f32; 3],
    ) -> (Vec<u32>, Vec<f32>) {
        let mut index = Vec::with_capacity(raw.len() + self.dim);
        let mut value = Vec::with_capacity(raw.len() + self.dim);
        let mut start = 0usize;
        let mut block_start = 0usize;
        while start < raw.len() {
            let block = raw[start].block;
            let weight = block_weight[usize::from(block.min(1))];
            let mut end = start;
            if weight == 0.0 {
                while end < raw.len() && raw[end].block == block {
                    end += 1;
                }
                start = end;
                continue;
            }
            let mut norm = 0.0f32;
            while end < raw.len() && raw[end].block == block {
                let f = raw[end];
                let row = self.remap[f.bucket as usize];
                if row != u32::MAX {
                    let v = (1.0 + f.count.ln()) * self.idf[row as usize];
                    norm += v * v;
                    index.push(row);
                    value.push(v);
                }
                end += 1;
            }
            if norm > 0.0 {
                let scale = weight / norm.sqrt();
                for v in &mut value[block_start..] {
                    *v *= scale;
                }
            }
            block_start = value.len();
            start = end;
        }
        if let Some(d) = dense
            && block_weight[2] != 0.0
        {
            let base = self.idf.len() as u32;
            for (i, &x) in d.iter().enumerate() {
                index.push(base + i as u32);
                value.push(x * block_weight[2]);
            }
        }
        (index, value)
    }
}

/// `v` minus `mean`, L2-normalised (a zero vector stays zero).
fn centre(v: &[f32], mean: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = v
        .iter()
        .zip(mean.iter().chain(std::iter::repeat(&0.0)))
        .map(|(x, m)| x - m)
        .collect();
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut out {
            *x /= norm;
        }
    }
    out
}

/// The feature extractor for `n_texts` training messages under `config`.
///
/// Small catalogs get a smaller hash space: fewer buckets to allocate and scan at training
/// (start-up) time and a bucket map that stays in cache, at no cost in collisions (about 64
/// buckets per training message).
fn extractor_for(n_texts: usize, config: &ClassifierConfig) -> FeatureExtractor {
    let wanted = (n_texts.max(1) * 64).next_power_of_two().trailing_zeros();
    let cap = config.features.hash_bits.clamp(8, 28);
    FeatureExtractor::new(FeatureConfig {
        hash_bits: wanted.clamp(cap.min(16), cap),
        ..config.features.clone()
    })
}

/// One training message: its raw features, its target (`None` = out of scope) and its
/// sentence vector.
struct Row<'a> {
    raw: Vec<RawFeature>,
    truth: Option<usize>,
    vector: Option<&'a [f32]>,
}

/// Training messages as rows (in-scope examples first, then out-of-scope ones, as the
/// vectors are ordered).
fn prepare<'a>(
    data: &TrainingData,
    vectors: Option<&'a [Vec<f32>]>,
    extractor: &FeatureExtractor,
) -> Vec<Row<'a>> {
    let texts = data
        .examples
        .iter()
        .map(|(t, l)| (t, Some(*l)))
        .chain(data.out_of_scope.iter().map(|t| (t, None)));
    texts
        .enumerate()
        .map(|(i, (t, truth))| {
            let mut raw = Vec::new();
            extractor.extract(t, &mut raw);
            Row {
                raw,
                truth,
                vector: vectors.and_then(|v| v.get(i)).map(Vec::as_slice),
            }
        })
        .collect()
}

/// Trains the model's `views` (without choosing thresholds).
fn fit(
    data: &TrainingData,
    vectors: Option<&[Vec<f32>]>,
    config: &ClassifierConfig,
    views: &[Features],
) -> Model {
    let extractor = extractor_for(data.examples.len() + data.out_of_scope.len(), config);
    let rows = prepare(data, vectors, &extractor);
    let refs: Vec<&Row> = rows.iter().collect();
    fit_raw(&data.labels, extractor, &refs, config, views)
}

/// The block weights of a view's members.
fn members_of(view: Features, config: &ClassifierConfig) -> Vec<[f32; 3]> {
    let ngram: Vec<[f32; 2]> = if config.members.is_empty() {
        vec![[1.0, 1.0]]
    } else {
        config.members.clone()
    };
    match view {
        Features::Ngram => ngram.iter().map(|[w, c]| [*w, *c, 0.0]).collect(),
        Features::Both => ngram
            .iter()
            .map(|[w, c]| [*w, *c, config.embedding_weight])
            .collect(),
        Features::Embed => vec![[0.0, 0.0, config.embedding_only_scale]],
    }
}

/// Trains the model on extracted features.
fn fit_raw(
    labels: &[String],
    extractor: FeatureExtractor,
    rows: &[&Row],
    config: &ClassifierConfig,
    views: &[Features],
) -> Model {
    let buckets = 1usize << extractor.config().hash_bits;
    let mut df = vec![0u32; buckets];
    for row in rows {
        let mut last = u32::MAX;
        for f in &row.raw {
            // A bucket shared by both blocks counts once per document.
            if f.bucket != last {
                df[f.bucket as usize] += 1;
            }
            last = f.bucket;
        }
    }
    let n = rows.len() as f32;
    let mut remap = vec![u32::MAX; buckets];
    let mut idf = Vec::new();
    for (bucket, &d) in df.iter().enumerate() {
        if d >= config.min_df.max(1) {
            remap[bucket] = idf.len() as u32;
            idf.push(((1.0 + n) / (1.0 + d as f32)).ln() + 1.0);
        }
    }
    // The vectors' mean (over the rows that have one).
    let dim = rows
        .iter()
        .find_map(|r| r.vector.map(<[f32]>::len))
        .unwrap_or(0);
    let mut mean = vec![0.0f32; dim];
    let with_vector = rows.iter().filter_map(|r| r.vector).collect::<Vec<_>>();
    for v in &with_vector {
        for (m, x) in mean.iter_mut().zip(v.iter()) {
            *m += x;
        }
    }
    for m in &mut mean {
        *m /= with_vector.len().max(1) as f32;
    }
    let n_oos = rows.iter().filter(|r| r.truth.is_none()).count();
    let n_in = rows.len() - n_oos;
    let oos_class = (n_oos > 0).then_some(labels.len());
    let classes = labels.len() + usize::from(oos_class.is_some());
    let mut model = Model {
        labels: labels.to_vec(),
        extractor,
        remap,
        idf,
        views: [Vec::new(), Vec::new(), Vec::new()],
        dim,
        mean,
        neighbours: neighbours::Neighbours::new(
            rows.iter()
                .filter_map(|r| r.vector.map(|v| (v, r.truth.unwrap_or(labels.len())))),
        ),
        neighbour_config: config.neighbours,
        classes,
        oos_class,
    };
    // Out-of-scope examples together weigh `oos_weight` average intents.
    let used = {
        let mut seen = vec![false; labels.len()];
        for row in rows {
            if let Some(l) = row.truth {
                seen[l] = true;
            }
        }
        seen.iter().filter(|&&s| s).count().max(1)
    };
    let oos_w = config.oos_weight * (n_in as f32 / used as f32) / n_oos.max(1) as f32;
    let y: Vec<usize> = rows
        .iter()
        .map(|r| r.truth.unwrap_or(labels.len()))
        .collect();
    let weight: Vec<f32> = rows
        .iter()
        .map(|r| if r.truth.is_some() { 1.0 } else { oos_w })
        .collect();
    let dense: Vec<Option<Vec<f32>>> = rows
        .iter()
        .map(|r| r.vector.map(|v| model.centred(v)))
        .collect();
    let features = model.idf.len() + dim;
    // The members of every view, trained side by side (each is independent and deterministic).
    let jobs: Vec<(Features, usize, [f32; 3])> = views
        .iter()
        .filter(|v| dim > 0 || **v == Features::Ngram)
        .flat_map(|&view| {
            members_of(view, config)
                .into_iter()
                .enumerate()
                .map(move |(k, w)| (view, k, w))
        })
        .collect();
    let model_ref = &model;
    let train_one = |&(_, k, block_weight): &(Features, usize, [f32; 3])| {
        let mut csr = Csr::new();
        for (row, d) in rows.iter().zip(&dense) {
            let (i, v) = model_ref.vectorize(&row.raw, d.as_deref(), block_weight);
            csr.push_row(i.into_iter().zip(v));
        }
        let sgd = SgdConfig {
            seed: config.sgd.seed.wrapping_add(k as u64),
            ..config.sgd.clone()
        };
        let softmax = Softmax::train(&csr, features, &y, &weight, classes, &sgd);
        Member {
            block_weight,
            softmax,
        }
    };
    let trained: Vec<Member> = if jobs.len() > 1 {
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs.iter().map(|j| s.spawn(|| train_one(j))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    } else {
        jobs.iter().map(train_one).collect()
    };
    for ((view, _, _), member) in jobs.iter().zip(trained) {
        model.views[view.index()].push(member);
    }
    model
}

/// Chooses each view's threshold by k-fold cross-validation on the training data (features
/// are extracted once and shared by the folds).
fn cross_validate(
    data: &TrainingData,
    vectors: Option<&[Vec<f32>]>,
    config: &ClassifierConfig,
    views: &[Features],
) -> Vec<(Features, ThresholdChoice)> {
    let k = config.cv_folds.max(2);
    let extractor = extractor_for(data.examples.len() + data.out_of_scope.len(), config);
    let mut rows = prepare(data, vectors, &extractor);
    // A shuffled order assigned to folds round-robin (deterministic).
    SplitMix(config.sgd.seed ^ 0xc5).shuffle(&mut rows);
    let mut points: Vec<Vec<Point>> = vec![Vec::with_capacity(rows.len()); views.len()];
    for fold in 0..k {
        let train: Vec<&Row> = rows
            .iter()
            .enumerate()
            .filter(|(pos, _)| pos % k != fold)
            .map(|(_, r)| r)
            .collect();
        if !train.iter().any(|r| r.truth.is_some()) {
            continue;
        }
        let fold_extractor = FeatureExtractor::new(extractor.config().clone());
        let model = fit_raw(&data.labels, fold_extractor, &train, config, views);
        for (_, row) in rows.iter().enumerate().filter(|(pos, _)| pos % k == fold) {
            for (view, out) in views.iter().zip(points.iter_mut()) {
                let vector = row.vector.filter(|_| model.dim > 0);
                let view = if vector.is_some() {
                    *view
                } else {
                    Features::Ngram
                };
                out.push(
                    model
                        .probabilities_raw(&row.raw, vector, view)
                        .point(row.truth),
                );
            }
        }
    }
    views
        .iter()
        .zip(points)
        .map(|(view, p)| (*view, threshold::choose(&p, config.rule)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TrainingData {
        let labels = vec!["password".to_string(), "billing".to_string()];
        let mut examples = Vec::new();
        for s in [
            "i forgot my password",
            "reset my password",
            "password not working",
            "cannot remember password",
            "change password please",
            "lost my password",
        ] {
            examples.push((s.to_string(), 0));
        }
        for s in [
            "refund my payment",
            "i was charged twice",
            "billing problem",
            "invoice is wrong",
            "payment failed",
            "cancel my subscription payment",
        ] {
            examples.push((s.to_string(), 1));
        }
        let out_of_scope = [
            "what is the weather",
            "tell me a joke",
            "who won the game",
            "play some music",
            "what time is it",
            "book a flight",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        TrainingData {
            labels,
            examples,
            out_of_scope,
        }
    }

    #[test]
    fn empty_and_bad_labels_are_errors() {
        assert!(matches!(
            Classifier::train(&TrainingData::default()),
            Err(ClassifierError::Empty)
        ));
        let mut d = toy();
        d.examples.push(("x".into(), 7));
        assert!(matches!(
            Classifier::train(&d),
            Err(ClassifierError::BadLabel { label: 7, .. })
        ));
    }

    #[test]
    fn classifies_a_small_catalog() {
        let c = Classifier::train(&toy()).unwrap();
        assert_eq!(c.labels().len(), 2);
        let p = c.predict("i forgot the password");
        assert_eq!(p.ranked[0].label, 0);
        assert!(!p.out_of_scope, "{p:?}");
        let p = c.predict("i got charged twice for my payment");
        assert_eq!(p.ranked[0].label, 1);
        assert!(!p.out_of_scope, "{p:?}");
        let p = c.predict("what is the weather like");
        assert!(p.out_of_scope, "{p:?}");
        // Confidences are probabilities, ranked best first.
        assert!(
            p.ranked
                .windows(2)
                .all(|w| w[0].confidence >= w[1].confidence)
        );
        assert!(p.ranked.iter().all(|s| (0.0..=1.0).contains(&s.confidence)));
    }

    #[test]
    fn is_deterministic_and_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Classifier>();
        let a = Classifier::train(&toy()).unwrap();
        let b = Classifier::train(&toy()).unwrap();
        assert_eq!(a.threshold(), b.threshold());
        assert_eq!(
            a.probabilities("reset password"),
            b.probabilities("reset password")
        );
    }

    #[test]
    fn works_without_out_of_scope_examples() {
        let mut d = toy();
        d.out_of_scope.clear();
        let c = Classifier::train(&d).unwrap();
        assert_eq!(
            c.threshold(),
            ClassifierConfig::default().default_threshold_without_oos
        );
        let p = c.probabilities("reset my password");
        assert_eq!(p.out_of_scope, 0.0);
        // The in-scope score is then the best probability.
        assert_eq!(p.in_scope_score(), p.best().unwrap().1);
        assert!(!c.predict("reset my password").out_of_scope);
    }

    #[test]
    fn in_scope_score_compares_best_intent_with_oos() {
        let p = Probabilities {
            in_scope: vec![0.6, 0.1],
            out_of_scope: 0.2,
        };
        assert!((p.in_scope_score() - 0.75).abs() < 1e-6);
        let q = p.point(Some(0));
        assert!(q.correct && !q.model_rejects && !q.is_oos);
        let q = p.point(None);
        assert!(!q.correct && q.is_oos);
    }

    #[test]
    fn empty_message_does_not_panic() {
        let c = Classifier::train(&toy()).unwrap();
        let p = c.predict("");
        assert_eq!(p.ranked.len(), 2);
    }

    #[test]
    fn threshold_can_be_fixed_and_tuned() {
        let cfg = ClassifierConfig {
            threshold: Some(1.5),
            ..ClassifierConfig::default()
        };
        let mut c = Classifier::train_with(&toy(), &cfg).unwrap();
        assert_eq!(c.threshold(), 1.5);
        assert!(c.predict("reset my password").out_of_scope);
        let held = vec![
            ("forgot password".to_string(), Some(0)),
            ("tell me a joke please".to_string(), None),
        ];
        let choice = c.tune_threshold(&held, ThresholdRule::default());
        assert_eq!(c.threshold(), choice.threshold);
        assert!(!c.predict("reset my password").out_of_scope);
    }
}

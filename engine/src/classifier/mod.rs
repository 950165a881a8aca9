//! Intent classification: a model trained at start-up from labelled examples.
//!
//! The pipeline is the classic strong-and-cheap text classifier, written for speed:
//!
//! 1. [`features`]: hashed word (stemmed unigrams and bigrams) and character (`char_wb`
//!    2–5-gram) features; no vocabulary map, only the buckets seen in training get weights
//!    (features seen in a single training message are dropped);
//! 2. sublinear TF-IDF (`1 + ln tf` times smoothed IDF), each block L2-normalised on its own;
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
//! Confidences in [`Prediction::ranked`] are softmax probabilities (over the intents and the
//! out-of-scope class), so they are comparable across messages and catalogs. Training is
//! deterministic (seeded shuffles, no threads): the same data and configuration give the same
//! model. A [`Classifier`] is `Send + Sync`; clones share the trained model.

pub mod features;
pub mod metrics;
pub mod model;
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
            cv_max_examples: 3_000,
            min_df: 2,
        }
    }
}

/// One model of the ensemble.
#[derive(Debug)]
struct Member {
    /// Weight of each block (word, char); 0 leaves the block out.
    block_weight: [f32; 2],
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
    /// The ensemble members.
    members: Vec<Member>,
    /// Number of classes (intents, plus one for out of scope when trained with it).
    classes: usize,
    /// The out-of-scope class index, when trained with out-of-scope examples.
    oos_class: Option<usize>,
}

/// A trained intent classifier. Cloning is cheap (the model is shared).
#[derive(Debug, Clone)]
pub struct Classifier {
    model: Arc<Model>,
    threshold: f32,
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

    /// Trains a classifier with `config`.
    pub fn train_with(
        data: &TrainingData,
        config: &ClassifierConfig,
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
        let model = Arc::new(fit(data, config));
        let mut classifier = Self {
            model,
            threshold: if data.out_of_scope.is_empty() {
                config.default_threshold_without_oos
            } else {
                config.default_threshold
            },
        };
        let n = data.examples.len() + data.out_of_scope.len();
        if let Some(t) = config.threshold {
            classifier.threshold = t;
        } else if config.cv_folds >= 2
            && !data.out_of_scope.is_empty()
            && n <= config.cv_max_examples
        {
            classifier.threshold = cross_validate(data, config).threshold;
        }
        Ok(classifier)
    }

    /// The number of features (hash buckets seen in training) the model has weights for.
    pub fn features(&self) -> usize {
        self.model.idf.len()
    }

    /// The labels, in the order of [`TrainingData::labels`].
    pub fn labels(&self) -> &[String] {
        &self.model.labels
    }

    /// The out-of-scope threshold on the best in-scope confidence.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Sets the out-of-scope threshold (messages whose best confidence is below are rejected).
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// Chooses the threshold on held-out `(normalised text, label index or None for out of
    /// scope)` pairs under `rule`, sets it, and reports what it does on them.
    pub fn tune_threshold(
        &mut self,
        held_out: &[(String, Option<usize>)],
        rule: ThresholdRule,
    ) -> ThresholdChoice {
        let points: Vec<Point> = held_out.iter().map(|(t, l)| self.point(t, *l)).collect();
        let choice = threshold::choose(&points, rule);
        self.threshold = choice.threshold;
        choice
    }

    /// The held-out point of one message (for threshold selection).
    pub fn point(&self, text: &str, truth: Option<usize>) -> Point {
        self.probabilities(text).point(truth)
    }

    /// The model's probabilities for one normalised message.
    pub fn probabilities(&self, text: &str) -> Probabilities {
        let mut raw = Vec::with_capacity(64);
        self.model.extractor.extract(text, &mut raw);
        self.model.probabilities_raw(&raw)
    }

    /// Classifies one normalised message.
    pub fn predict(&self, text: &str) -> Prediction {
        let p = self.probabilities(text);
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
                || p.in_scope_score() < self.threshold,
            ranked,
        }
    }
}

impl Model {
    /// The probabilities of a message's raw features.
    fn probabilities_raw(&self, raw: &[RawFeature]) -> Probabilities {
        let mut probs = vec![0.0f32; self.classes];
        if let [member] = self.members.as_slice() {
            let (index, value) = self.vectorize(raw, member.block_weight);
            member.softmax.logits(&index, &value, &mut probs);
        } else {
            // Geometric mean of the members' probabilities.
            let mut logits = vec![0.0f32; self.classes];
            let k = self.members.len().max(1) as f32;
            for member in &self.members {
                let (index, value) = self.vectorize(raw, member.block_weight);
                member.softmax.logits(&index, &value, &mut logits);
                model::softmax(&mut logits);
                for (p, l) in probs.iter_mut().zip(&logits) {
                    *p += l.max(1e-30).ln() / k;
                }
            }
        }
        model::softmax(&mut probs);
        let out_of_scope = match self.oos_class {
            Some(c) => probs.swap_remove(c),
            None => 0.0,
        };
        Probabilities {
            in_scope: probs,
            out_of_scope,
        }
    }

    /// TF-IDF vector of raw features: sublinear TF times IDF, each block L2-normalised and
    /// weighted. Features unseen in training are dropped.
    fn vectorize(&self, raw: &[RawFeature], block_weight: [f32; 2]) -> (Vec<u32>, Vec<f32>) {
        let mut index = Vec::with_capacity(raw.len());
        let mut value = Vec::with_capacity(raw.len());
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
        (index, value)
    }
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

/// Training messages as raw features with their targets (`None` = out of scope).
fn prepare(
    data: &TrainingData,
    extractor: &FeatureExtractor,
) -> Vec<(Vec<RawFeature>, Option<usize>)> {
    let texts = data
        .examples
        .iter()
        .map(|(t, l)| (t, Some(*l)))
        .chain(data.out_of_scope.iter().map(|t| (t, None)));
    texts
        .map(|(t, l)| {
            let mut raw = Vec::new();
            extractor.extract(t, &mut raw);
            (raw, l)
        })
        .collect()
}

/// Trains the model (without choosing a threshold).
fn fit(data: &TrainingData, config: &ClassifierConfig) -> Model {
    let extractor = extractor_for(data.examples.len() + data.out_of_scope.len(), config);
    let rows = prepare(data, &extractor);
    let refs: Vec<&(Vec<RawFeature>, Option<usize>)> = rows.iter().collect();
    fit_raw(&data.labels, extractor, &refs, config)
}

/// Trains the model on extracted features.
fn fit_raw(
    labels: &[String],
    extractor: FeatureExtractor,
    rows: &[&(Vec<RawFeature>, Option<usize>)],
    config: &ClassifierConfig,
) -> Model {
    let buckets = 1usize << extractor.config().hash_bits;
    let mut df = vec![0u32; buckets];
    for (raw, _) in rows {
        let mut last = u32::MAX;
        for f in raw {
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
    let n_oos = rows.iter().filter(|(_, l)| l.is_none()).count();
    let n_in = rows.len() - n_oos;
    let oos_class = (n_oos > 0).then_some(labels.len());
    let classes = labels.len() + usize::from(oos_class.is_some());
    let mut model = Model {
        labels: labels.to_vec(),
        extractor,
        remap,
        idf,
        members: Vec::new(),
        classes,
        oos_class,
    };
    // Out-of-scope examples together weigh `oos_weight` average intents.
    let used = {
        let mut seen = vec![false; labels.len()];
        for (_, l) in rows {
            if let Some(l) = l {
                seen[*l] = true;
            }
        }
        seen.iter().filter(|&&s| s).count().max(1)
    };
    let oos_w = config.oos_weight * (n_in as f32 / used as f32) / n_oos.max(1) as f32;
    let y: Vec<usize> = rows
        .iter()
        .map(|(_, l)| l.unwrap_or(labels.len()))
        .collect();
    let weight: Vec<f32> = rows
        .iter()
        .map(|(_, l)| if l.is_some() { 1.0 } else { oos_w })
        .collect();
    let blocks = if config.members.is_empty() {
        vec![[1.0, 1.0]]
    } else {
        config.members.clone()
    };
    for (k, block_weight) in blocks.into_iter().enumerate() {
        let mut csr = Csr::new();
        for (raw, _) in rows {
            let (i, v) = model.vectorize(raw, block_weight);
            csr.push_row(i.into_iter().zip(v));
        }
        let sgd = SgdConfig {
            seed: config.sgd.seed.wrapping_add(k as u64),
            ..config.sgd.clone()
        };
        let softmax = Softmax::train(&csr, model.idf.len(), &y, &weight, classes, &sgd);
        model.members.push(Member {
            block_weight,
            softmax,
        });
    }
    model
}

/// Chooses a threshold by k-fold cross-validation on the training data (features are
/// extracted once and shared by the folds).
fn cross_validate(data: &TrainingData, config: &ClassifierConfig) -> ThresholdChoice {
    let k = config.cv_folds.max(2);
    let extractor = extractor_for(data.examples.len() + data.out_of_scope.len(), config);
    let mut rows = prepare(data, &extractor);
    // A shuffled order assigned to folds round-robin (deterministic).
    SplitMix(config.sgd.seed ^ 0xc5).shuffle(&mut rows);
    let mut points = Vec::with_capacity(rows.len());
    for fold in 0..k {
        let train: Vec<_> = rows
            .iter()
            .enumerate()
            .filter(|(pos, _)| pos % k != fold)
            .map(|(_, r)| r)
            .collect();
        if !train.iter().any(|(_, l)| l.is_some()) {
            continue;
        }
        let fold_extractor = FeatureExtractor::new(extractor.config().clone());
        let model = fit_raw(&data.labels, fold_extractor, &train, config);
        for (_, (raw, truth)) in rows.iter().enumerate().filter(|(pos, _)| pos % k == fold) {
            points.push(model.probabilities_raw(raw).point(*truth));
        }
    }
    threshold::choose(&points, config.rule)
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

//! A trained classifier as bytes and back, so a restart loads it instead of training again
//! (training with sentence vectors and cross-validated thresholds takes a second or two; a
//! restart must answer in well under 300 ms).
//!
//! The format is private to this version of the engine (a version number leads it; a
//! mismatch is an error and the caller trains again): little-endian numbers and
//! length-prefixed arrays, every read checked against the end of the input.

use std::sync::Arc;

use thiserror::Error;

use super::features::{FeatureConfig, FeatureExtractor};
use super::model::Softmax;
use super::neighbours::{NeighbourConfig, Neighbours};
use super::{Classifier, Member, Model};

/// The format's version: bump it whenever the layout or the meaning of a field changes.
const VERSION: u32 = 2;

/// Why bytes are not a classifier this engine can use.
#[derive(Debug, Error)]
pub enum PersistError {
    /// The bytes end before the field.
    #[error("saved classifier: truncated at {field}")]
    Truncated {
        /// What was being read.
        field: &'static str,
    },
    /// Written by another version of the engine.
    #[error("saved classifier: format version {found}, this engine reads {VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// A value that cannot be right.
    #[error("saved classifier: bad {field}")]
    Invalid {
        /// The field.
        field: &'static str,
    },
}

/// Appends little-endian values.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A length or index.
    pub fn usize(&mut self, v: usize) {
        self.0.extend_from_slice(&(v as u64).to_le_bytes());
    }
    /// An `f32`.
    pub fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A length-prefixed array of `f32`.
    pub fn f32s(&mut self, v: &[f32]) {
        self.usize(v.len());
        for x in v {
            self.f32(*x);
        }
    }
    /// A length-prefixed array of `u32`.
    pub fn u32s(&mut self, v: &[u32]) {
        self.usize(v.len());
        for x in v {
            self.u32(*x);
        }
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) {
        self.usize(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads what [`Writer`] wrote, checking every length against the input.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PersistError> {
        if self.bytes.len() < n {
            return Err(PersistError::Truncated { field });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    /// A `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, PersistError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A length or index (at most the input's remaining length times `per`, so a damaged
    /// length cannot ask for a huge allocation).
    pub fn len(&mut self, per: usize, field: &'static str) -> Result<usize, PersistError> {
        let b = self.take(8, field)?;
        let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let v = usize::try_from(v).map_err(|_| PersistError::Invalid { field })?;
        if v.saturating_mul(per.max(1)) > self.bytes.len() && per > 0 {
            return Err(PersistError::Truncated { field });
        }
        Ok(v)
    }
    /// A plain number (not a length).
    pub fn usize(&mut self, field: &'static str) -> Result<usize, PersistError> {
        self.len(0, field)
    }
    /// An `f32`.
    pub fn f32(&mut self, field: &'static str) -> Result<f32, PersistError> {
        Ok(f32::from_bits(self.u32(field)?))
    }
    /// A length-prefixed array of `f32`.
    pub fn f32s(&mut self, field: &'static str) -> Result<Vec<f32>, PersistError> {
        let n = self.len(4, field)?;
        let b = self.take(4 * n, field)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    /// A length-prefixed array of `u32`.
    pub fn u32s(&mut self, field: &'static str) -> Result<Vec<u32>, PersistError> {
        let n = self.len(4, field)?;
        let b = self.take(4 * n, field)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, field: &'static str) -> Result<String, PersistError> {
        let n = self.len(1, field)?;
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| PersistError::Invalid { field })
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Classifier {
    /// The trained classifier as bytes ([`Classifier::from_bytes`] reads them back).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.write(&mut w);
        w.0
    }

    /// Reads what [`Classifier::to_bytes`] wrote (whole input).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PersistError> {
        let mut r = Reader::new(bytes);
        let c = Self::read(&mut r)?;
        if !r.is_empty() {
            return Err(PersistError::Invalid {
                field: "trailing bytes",
            });
        }
        Ok(c)
    }

    /// Writes the classifier into `w`.
    pub fn write(&self, w: &mut Writer) {
        let m = &self.model;
        w.u32(VERSION);
        w.usize(m.labels.len());
        for l in &m.labels {
            w.str(l);
        }
        let f = m.extractor.config();
        w.u32(f.hash_bits);
        w.u32(u32::from(f.stem));
        w.u32(u32::from(f.word_bigrams));
        w.usize(f.char_min);
        w.usize(f.char_max);
        w.u32s(&m.remap);
        w.f32s(&m.idf);
        for view in &m.views {
            w.usize(view.len());
            for member in view {
                for b in member.block_weight {
                    w.f32(b);
                }
                w.usize(member.softmax.classes);
                w.f32s(&member.softmax.weights);
                w.f32s(&member.softmax.bias);
            }
        }
        w.usize(m.dim);
        w.f32s(&m.mean);
        w.f32s(&m.neighbours.vectors);
        w.u32s(&m.neighbours.classes);
        w.f32(m.neighbour_config.weight);
        w.usize(m.neighbour_config.k);
        w.f32(m.neighbour_config.sharpness);
        w.usize(m.classes);
        w.usize(m.oos_class.map_or(0, |c| c + 1));
        for t in self.thresholds {
            w.f32(t);
        }
    }

    /// Reads a classifier [`Classifier::write`] wrote, checking that its parts fit together.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, PersistError> {
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(PersistError::Version { found: version });
        }
        let n = r.len(8, "labels")?;
        let labels = (0..n)
            .map(|_| r.str("label"))
            .collect::<Result<Vec<_>, _>>()?;
        let hash_bits = r.u32("hash_bits")?;
        if !(1..=28).contains(&hash_bits) {
            return Err(PersistError::Invalid { field: "hash_bits" });
        }
        let config = FeatureConfig {
            hash_bits,
            stem: r.u32("stem")? != 0,
            word_bigrams: r.u32("word_bigrams")? != 0,
            char_min: r.usize("char_min")?,
            char_max: r.usize("char_max")?,
        };
        let remap = r.u32s("remap")?;
        let idf = r.f32s("idf")?;
        if remap.len() != 1usize << hash_bits
            || remap
                .iter()
                .any(|&x| x != u32::MAX && x as usize >= idf.len())
        {
            return Err(PersistError::Invalid { field: "remap" });
        }
        let mut views: [Vec<Member>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for view in &mut views {
            let n = r.len(16, "members")?;
            for _ in 0..n {
                let block_weight = [r.f32("weight")?, r.f32("weight")?, r.f32("weight")?];
                let classes = r.usize("classes")?;
                let weights = r.f32s("weights")?;
                let bias = r.f32s("bias")?;
                view.push(Member {
                    block_weight,
                    softmax: Softmax {
                        classes,
                        weights,
                        bias,
                    },
                });
            }
        }
        let dim = r.usize("dim")?;
        let mean = r.f32s("mean")?;
        let neighbour_vectors = r.f32s("neighbour vectors")?;
        let neighbour_classes = r.u32s("neighbour classes")?;
        let neighbour_config = NeighbourConfig {
            weight: r.f32("neighbour weight")?,
            k: r.usize("neighbour k")?,
            sharpness: r.f32("neighbour sharpness")?,
        };
        let classes = r.usize("classes")?;
        let oos = r.usize("oos_class")?;
        let oos_class = oos.checked_sub(1);
        let thresholds = [
            r.f32("threshold")?,
            r.f32("threshold")?,
            r.f32("threshold")?,
        ];
        let features = idf.len() + dim;
        let consistent = classes == labels.len() + usize::from(oos_class.is_some())
            && oos_class.is_none_or(|c| c == labels.len())
            && mean.len() == dim
            && neighbour_vectors.len() == neighbour_classes.len() * dim
            && neighbour_classes.iter().all(|&c| (c as usize) < classes)
            && !views[0].is_empty()
            && views.iter().flatten().all(|m| {
                m.softmax.classes == classes
                    && m.softmax.bias.len() == classes
                    && m.softmax.weights.len() == features * classes
            });
        if !consistent {
            return Err(PersistError::Invalid {
                field: "model dimensions",
            });
        }
        Ok(Self {
            model: Arc::new(Model {
                labels,
                extractor: FeatureExtractor::new(config),
                remap,
                idf,
                views,
                dim,
                mean,
                neighbours: Neighbours {
                    vectors: neighbour_vectors,
                    classes: neighbour_classes,
                    dim,
                },
                neighbour_config,
                classes,
                oos_class,
            }),
            thresholds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClassifierConfig, Features, TrainingData};
    use super::*;

    fn data() -> (TrainingData, Vec<Vec<f32>>) {
        let mut d = TrainingData {
            labels: vec!["password".into(), "billing".into()],
            ..Default::default()
        };
        for s in ["forgot my password", "reset password", "password lost"] {
            d.examples.push((s.into(), 0));
        }
        for s in ["refund please", "charged twice", "billing issue"] {
            d.examples.push((s.into(), 1));
        }
        d.out_of_scope = vec!["tell me a joke".into(), "weather today".into()];
        let vectors = (0..8)
            .map(|i| vec![(i % 2) as f32, 1.0 - (i % 2) as f32, 0.5])
            .collect();
        (d, vectors)
    }

    #[test]
    fn round_trips_every_view() {
        let (d, v) = data();
        let c = Classifier::train_with_vectors(&d, &ClassifierConfig::default(), Some(&v)).unwrap();
        let back = Classifier::from_bytes(&c.to_bytes()).unwrap();
        for f in Features::ALL {
            assert_eq!(c.threshold_of(f), back.threshold_of(f));
            assert_eq!(
                c.probabilities_with("reset my password", Some(&[0.0, 1.0, 0.5]), f),
                back.probabilities_with("reset my password", Some(&[0.0, 1.0, 0.5]), f)
            );
        }
        assert_eq!(c.labels(), back.labels());
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let (d, v) = data();
        let bytes = Classifier::train_with_vectors(&d, &ClassifierConfig::default(), Some(&v))
            .unwrap()
            .to_bytes();
        for cut in [0, 3, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Classifier::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut other = bytes.clone();
        other[0] = 99;
        assert!(matches!(
            Classifier::from_bytes(&other),
            Err(PersistError::Version { found: 99 })
        ));
        let mut longer = bytes;
        longer.push(0);
        assert!(Classifier::from_bytes(&longer).is_err());
    }
}

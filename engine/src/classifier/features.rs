//! Feature extraction: hashed word and character n-grams.
//!
//! A message becomes a sparse bag of hashed features in two blocks, as in the classic
//! "TF-IDF word + char_wb" text classifiers:
//!
//! - **word block**: Snowball-stemmed words (UAX #29 word boundaries) and pairs of adjacent
//!   stems, so "resetting passwords" and "reset password" share features;
//! - **char block**: character n-grams of each word padded with a space on both sides
//!   (scikit-learn's `char_wb`), robust to typos ("pasword") and unseen inflections.
//!
//! Every feature is a 64-bit FNV-1a hash folded into `2^bits` buckets; no vocabulary is stored
//! for extraction, and the model maps the buckets it saw in training to dense rows.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// Which block a feature belongs to; each block is weighted and normalised on its own.
pub const WORD_BLOCK: u8 = 0;
/// The character n-gram block.
pub const CHAR_BLOCK: u8 = 1;

/// Settings of the feature extractor.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Feature hashes are folded into `2^hash_bits` buckets.
    pub hash_bits: u32,
    /// Stem words (English Snowball) before building word features.
    pub stem: bool,
    /// Add pairs of adjacent words.
    pub word_bigrams: bool,
    /// Shortest character n-gram (0 disables the char block).
    pub char_min: usize,
    /// Longest character n-gram.
    pub char_max: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 20,
            stem: true,
            word_bigrams: true,
            char_min: 2,
            char_max: 5,
        }
    }
}

/// Turns normalised text into hashed feature counts.
pub struct FeatureExtractor {
    config: FeatureConfig,
    stemmer: Option<Stemmer>,
    mask: u32,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One raw feature: its bucket, its block, and how many times it occurred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawFeature {
    /// Hash bucket in `0..2^hash_bits`.
    pub bucket: u32,
    /// [`WORD_BLOCK`] or [`CHAR_BLOCK`].
    pub block: u8,
    /// Occurrences in the message.
    pub count: f32,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, starting from `seed` (deterministic across runs and platforms).
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// A final avalanche step (from SplitMix64) so the low bits used for buckets are well mixed.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FeatureExtractor {
    /// Creates an extractor.
    pub fn new(config: FeatureConfig) -> Self {
        let stemmer = config.stem.then(|| Stemmer::create(Algorithm::English));
        let mask = if config.hash_bits >= 32 {
            u32::MAX
        } else {
            (1u32 << config.hash_bits.max(1)) - 1
        };
        Self {
            config,
            stemmer,
            mask,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    fn bucket(&self, h: u64) -> u32 {
        // Truncation is the point: fold the mixed hash into the bucket range.
        (mix(h) as u32) & self.mask
    }

    /// The word-block buckets of `text`'s words (unigrams only, in order).
    pub fn word_buckets(&self, text: &str) -> Vec<u32> {
        text.unicode_words()
            .map(|word| {
                let stem = match &self.stemmer {
                    Some(s) => s.stem(word),
                    None => std::borrow::Cow::Borrowed(word),
                };
                self.bucket(fnv1a(FNV_OFFSET ^ 0x57, stem.as_bytes()))
            })
            .collect()
    }

    /// Extracts the features of `text` into `out` (cleared first), sorted by (block, bucket)
    /// with duplicates merged into counts.
    pub fn extract(&self, text: &str, out: &mut Vec<RawFeature>) {
        out.clear();
        let mut word_hashes: Vec<u64> = Vec::with_capacity(16);
        let mut chars: Vec<char> = Vec::with_capacity(32);
        for word in text.unicode_words() {
            // Word block: the (stemmed) word.
            let stem = match &self.stemmer {
                Some(s) => s.stem(word),
                None => std::borrow::Cow::Borrowed(word),
            };
            let wh = fnv1a(FNV_OFFSET ^ 0x57, stem.as_bytes());
            word_hashes.push(wh);
            out.push(RawFeature {
                bucket: self.bucket(wh),
                block: WORD_BLOCK,
                count: 1.0,
            });
            // Char block: n-grams of " word ".
            if self.config.char_min > 0 {
                chars.clear();
                chars.push(' ');
                chars.extend(word.chars());
                chars.push(' ');
                for n in self.config.char_min..=self.config.char_max {
                    if n > chars.len() {
                        break;
                    }
                    for window in chars.windows(n) {
                        let mut h = FNV_OFFSET ^ 0xC4;
                        for &c in window {
                            h = fnv1a(h, &u32::from(c).to_le_bytes());
                        }
                        out.push(RawFeature {
                            bucket: self.bucket(h),
                            block: CHAR_BLOCK,
                            count: 1.0,
                        });
                    }
                }
            }
        }
        if self.config.word_bigrams {
            for pair in word_hashes.windows(2) {
                let h = fnv1a(pair[0].rotate_left(17) ^ 0xB1, &pair[1].to_le_bytes());
                out.push(RawFeature {
                    bucket: self.bucket(h),
                    block: WORD_BLOCK,
                    count: 1.0,
                });
            }
        }
        merge(out);
    }
}

/// Sorts features by (block, bucket) and merges duplicates by adding their counts.
fn merge(out: &mut Vec<RawFeature>) {
    out.sort_unstable_by_key(|f| (f.block, f.bucket));
    let mut w = 0usize;
    for r in 0..out.len() {
        if w > 0 && out[w - 1].block == out[r].block && out[w - 1].bucket == out[r].bucket {
            out[w - 1].count += out[r].count;
        } else {
            out[w] = out[r];
            w += 1;
        }
    }
    out.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(cfg: FeatureConfig, text: &str) -> Vec<RawFeature> {
        let fx = FeatureExtractor::new(cfg);
        let mut out = Vec::new();
        fx.extract(text, &mut out);
        out
    }

    fn total(feats: &[RawFeature], block: u8) -> f32 {
        feats
            .iter()
            .filter(|f| f.block == block)
            .map(|f| f.count)
            .sum()
    }

    #[test]
    fn counts_words_bigrams_and_char_ngrams() {
        // "ab ab": words ab, ab (one feature, count 2) + bigram (ab ab);
        // chars of " ab ": 2-grams " a","ab","b " (3), 3-grams " ab","ab " (2), 4-gram " ab " (1)
        // = 6 per word, 12 in all.
        let cfg = FeatureConfig {
            char_min: 2,
            char_max: 5,
            ..FeatureConfig::default()
        };
        let f = extract(cfg, "ab ab");
        assert_eq!(total(&f, WORD_BLOCK), 3.0);
        assert_eq!(total(&f, CHAR_BLOCK), 12.0);
        // Duplicates are merged: the word "ab" appears once with count 2.
        let words: Vec<_> = f.iter().filter(|x| x.block == WORD_BLOCK).collect();
        assert_eq!(words.len(), 2);
        assert!(words.iter().any(|x| x.count == 2.0));
        let chars = f.iter().filter(|x| x.block == CHAR_BLOCK).count();
        assert_eq!(chars, 6);
        assert!(
            f.iter()
                .filter(|x| x.block == CHAR_BLOCK)
                .all(|x| x.count == 2.0)
        );
    }

    #[test]
    fn stemming_unifies_inflections_and_punctuation_is_ignored() {
        let cfg = FeatureConfig {
            char_min: 0,
            word_bigrams: false,
            ..FeatureConfig::default()
        };
        let a = extract(cfg.clone(), "resetting passwords!");
        let b = extract(cfg.clone(), "reset, password");
        assert_eq!(a, b);
        let no_stem = FeatureConfig { stem: false, ..cfg };
        assert_ne!(
            extract(no_stem.clone(), "resetting passwords"),
            extract(no_stem, "reset password")
        );
    }

    #[test]
    fn bigrams_depend_on_order() {
        let cfg = FeatureConfig {
            char_min: 0,
            ..FeatureConfig::default()
        };
        let a = extract(cfg.clone(), "card lost");
        let b = extract(cfg, "lost card");
        assert_eq!(a.len(), 3);
        assert_ne!(a, b);
    }

    #[test]
    fn deterministic_and_in_range() {
        let cfg = FeatureConfig {
            hash_bits: 8,
            ..FeatureConfig::default()
        };
        let a = extract(cfg.clone(), "what's the weather in 東京 😀");
        let b = extract(cfg, "what's the weather in 東京 😀");
        assert_eq!(a, b);
        assert!(a.iter().all(|f| f.bucket < 256));
        assert!(extract(FeatureConfig::default(), "").is_empty());
        assert!(extract(FeatureConfig::default(), "?!").is_empty());
    }
}

//! Nearest neighbours among the training vectors, blended into the vector-only view.
//!
//! A linear model over sentence vectors learns the directions that separate the catalog's
//! intents *in English*; a message in another language lies a little off those directions.
//! The encoder was trained for exactly this kind of cross-lingual similarity, so the training
//! examples closest to the message (by cosine) are a second opinion that carries across
//! languages better. The share and the number of neighbours were chosen on a development set
//! of 466 messages in six languages (written apart from the catalog and from the held-out test
//! set): with the English catalog, no vote gave 86.9 % on average (Arabic 78.4), a 50 % vote
//! of the 5 nearest 92.0 % (Arabic 89.2, every language at least 87.5).

/// The training vectors (unit length, row-major) and each one's class.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    /// `n * dim` floats.
    pub vectors: Vec<f32>,
    /// The class of each vector.
    pub classes: Vec<u32>,
    /// Length of each vector.
    pub dim: usize,
}

/// How the neighbours are used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighbourConfig {
    /// Share of the blended probability that comes from the neighbours (0 turns them off).
    pub weight: f32,
    /// How many neighbours vote.
    pub k: usize,
    /// Votes are `exp(sharpness * cosine)`, so a closer neighbour counts much more.
    pub sharpness: f32,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        Self {
            weight: 0.5,
            k: 5,
            sharpness: 20.0,
        }
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

impl Neighbours {
    /// Keeps `vectors` (normalised here) with their classes.
    pub fn new<'a>(items: impl IntoIterator<Item = (&'a [f32], usize)>) -> Self {
        let mut out = Self::default();
        for (v, class) in items {
            if out.dim == 0 {
                out.dim = v.len();
            }
            if v.len() != out.dim || out.dim == 0 {
                continue;
            }
            out.vectors.extend(unit(v));
            out.classes.push(class as u32);
        }
        out
    }

    /// True when there is nothing to vote.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Blends the neighbours' vote for `vector` into `probs` (one entry per class, summing
    /// to 1): `probs = (1 - weight) * probs + weight * votes`.
    pub fn blend(&self, vector: &[f32], probs: &mut [f32], config: NeighbourConfig) {
        if self.is_empty() || config.weight <= 0.0 || vector.len() != self.dim {
            return;
        }
        let q = unit(vector);
        let mut scored: Vec<(f32, u32)> = self
            .vectors
            .chunks_exact(self.dim)
            .zip(&self.classes)
            .map(|(row, &c)| (row.iter().zip(&q).map(|(a, b)| a * b).sum(), c))
            .collect();
        let k = config.k.clamp(1, scored.len());
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let top = &scored[..k];
        let best = top.iter().map(|s| s.0).fold(f32::NEG_INFINITY, f32::max);
        let mut votes = vec![0.0f32; probs.len()];
        for &(s, c) in top {
            if let Some(v) = votes.get_mut(c as usize) {
                *v += (config.sharpness * (s - best)).exp();
            }
        }
        let total: f32 = votes.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return;
        }
        let w = config.weight.clamp(0.0, 1.0);
        for (p, v) in probs.iter_mut().zip(&votes) {
            *p = (1.0 - w) * *p + w * v / total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_examples_pull_the_probabilities() {
        let a = [1.0, 0.0, 0.0];
        let b = [0.0, 1.0, 0.0];
        let n = Neighbours::new([(&a[..], 0), (&a[..], 0), (&b[..], 1)]);
        let mut probs = vec![0.5, 0.5];
        let config = NeighbourConfig {
            weight: 0.5,
            k: 3,
            sharpness: 20.0,
        };
        n.blend(&[0.9, 0.1, 0.0], &mut probs, config);
        assert!(probs[0] > 0.7, "{probs:?}");
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // A vector of another length, or no weight, changes nothing.
        let mut same = vec![0.5, 0.5];
        n.blend(&[1.0, 0.0], &mut same, config);
        n.blend(
            &[1.0, 0.0, 0.0],
            &mut same,
            NeighbourConfig {
                weight: 0.0,
                ..config
            },
        );
        assert_eq!(same, vec![0.5, 0.5]);
    }
}

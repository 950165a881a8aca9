//! Choosing the out-of-scope threshold from held-out predictions.
//!
//! A message is rejected as out of scope when the model's best class is the out-of-scope class
//! or when its in-scope score is below the threshold `τ`. Given held-out points we sweep every
//! distinct `τ` and keep the one that maximises the accuracy expected at an assumed share `π`
//! of out-of-scope traffic, `(1 − π) · in-scope accuracy + π · OOS recall`, subject to
//! rejecting at most a given fraction of the in-scope messages.
//!
//! Reweighting matters because held-out sets rarely have the deployment mix of out-of-scope
//! traffic (CLINC150's val has 3 % of it): plain accuracy on val would pick a threshold that
//! almost never rejects. The default `π = 0.2` assumes one message in five is off-topic, which
//! is about what support desks see, and the 5 % cap on rejected in-scope messages is the
//! operating point the CLINC150 baselines are quoted at.

/// One held-out prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The best in-scope confidence.
    pub confidence: f32,
    /// The model's best class is the out-of-scope class (rejected whatever the threshold).
    pub model_rejects: bool,
    /// The best in-scope intent is the true one (false for out-of-scope truth).
    pub correct: bool,
    /// The truth is out of scope.
    pub is_oos: bool,
}

/// How to pick the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdRule {
    /// The most in-scope messages the threshold may reject, as a fraction (0..1).
    pub max_in_scope_rejection: f32,
    /// The assumed share of out-of-scope messages in real traffic (0..1).
    pub oos_share: f32,
}

impl Default for ThresholdRule {
    fn default() -> Self {
        Self {
            max_in_scope_rejection: 0.05,
            oos_share: 0.2,
        }
    }
}

/// What a threshold does on the held-out points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdChoice {
    /// The threshold.
    pub threshold: f32,
    /// In-scope accuracy (rejections count as wrong).
    pub in_scope_accuracy: f32,
    /// Fraction of out-of-scope points rejected (0 when there are none).
    pub oos_recall: f32,
    /// Fraction of in-scope points rejected.
    pub in_scope_rejection: f32,
}

/// Picks the threshold for `points` under `rule` (see the module doc). With no points, returns
/// a threshold of 0 (reject only what the model itself calls out of scope).
pub fn choose(points: &[Point], rule: ThresholdRule) -> ThresholdChoice {
    let mut sorted: Vec<Point> = points.to_vec();
    sorted.sort_by(|a, b| a.confidence.total_cmp(&b.confidence));
    let n_in = sorted.iter().filter(|p| !p.is_oos).count();
    let n_oos = sorted.len() - n_in;
    let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    // Counts with threshold 0: only the model's own rejections.
    let mut in_ok = sorted
        .iter()
        .filter(|p| !p.is_oos && !p.model_rejects && p.correct)
        .count();
    let mut in_rej = sorted
        .iter()
        .filter(|p| !p.is_oos && p.model_rejects)
        .count();
    let mut oos_rej = sorted
        .iter()
        .filter(|p| p.is_oos && p.model_rejects)
        .count();
    let eval = |threshold: f32, in_ok: usize, in_rej: usize, oos_rej: usize| ThresholdChoice {
        threshold,
        in_scope_accuracy: frac(in_ok, n_in),
        oos_recall: frac(oos_rej, n_oos),
        in_scope_rejection: frac(in_rej, n_in),
    };
    let mut best = eval(0.0, in_ok, in_rej, oos_rej);
    let share = rule.oos_share.clamp(0.0, 1.0);
    let score = |c: &ThresholdChoice| (1.0 - share) * c.in_scope_accuracy + share * c.oos_recall;
    for i in 0..sorted.len() {
        // Raise τ just past point i: it becomes rejected.
        let p = sorted[i];
        if !p.model_rejects {
            if p.is_oos {
                oos_rej += 1;
            } else {
                in_rej += 1;
                if p.correct {
                    in_ok -= 1;
                }
            }
        }
        if i + 1 < sorted.len() && sorted[i + 1].confidence == p.confidence {
            continue; // ties move together
        }
        let threshold = match sorted.get(i + 1) {
            Some(next) => (p.confidence + next.confidence) / 2.0,
            None => p.confidence + 1e-6,
        };
        let c = eval(threshold, in_ok, in_rej, oos_rej);
        if c.in_scope_rejection > rule.max_in_scope_rejection {
            break; // only grows from here
        }
        if score(&c) > score(&best) {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(cap: f32) -> ThresholdRule {
        ThresholdRule {
            max_in_scope_rejection: cap,
            oos_share: 0.5,
        }
    }

    #[test]
    fn oos_share_weighs_the_trade_off() {
        // Catching the OOS point at 0.4 costs one correct in-scope point at 0.3 (of 4).
        // π = 0.5: 0.5·(3/4) + 0.5·1 = 0.875 beats 0.5·1 + 0.5·0 = 0.5 → τ = 0.45.
        // π = 0.1: 0.9·1 + 0 = 0.9 beats 0.9·(3/4) + 0.1 = 0.775 → τ = 0 (no rejection).
        let pts = [
            p(0.3, true, false),
            p(0.4, false, true),
            p(0.5, true, false),
            p(0.6, true, false),
            p(0.7, true, false),
        ];
        assert!((choose(&pts, balanced(1.0)).threshold - 0.45).abs() < 1e-6);
        let rare = ThresholdRule {
            max_in_scope_rejection: 1.0,
            oos_share: 0.1,
        };
        assert_eq!(choose(&pts, rare).threshold, 0.0);
    }

    fn p(confidence: f32, correct: bool, is_oos: bool) -> Point {
        Point {
            confidence,
            model_rejects: false,
            correct,
            is_oos,
        }
    }

    #[test]
    fn picks_the_gap_between_oos_and_in_scope() {
        // OOS at 0.2 and 0.3, in-scope at 0.6, 0.7, 0.8: the best τ lies between 0.3 and 0.6.
        let pts = [
            p(0.8, true, false),
            p(0.2, false, true),
            p(0.6, true, false),
            p(0.3, false, true),
            p(0.7, true, false),
        ];
        let c = choose(&pts, ThresholdRule::default());
        assert!((c.threshold - 0.45).abs() < 1e-6, "{c:?}");
        // Every rule agrees when the classes separate.
        let c = choose(&pts, balanced(0.0));
        assert!((c.threshold - 0.45).abs() < 1e-6, "{c:?}");
        assert_eq!(c.oos_recall, 1.0);
        assert_eq!(c.in_scope_accuracy, 1.0);
        assert_eq!(c.in_scope_rejection, 0.0);
    }

    #[test]
    fn respects_the_rejection_cap() {
        // An OOS point above two in-scope points: catching it needs rejecting 2 of 4 in-scope
        // (50 %), allowed by a 0.5 cap but not by 0.3.
        let pts = [
            p(0.1, false, true),
            p(0.2, true, false),
            p(0.3, false, false),
            p(0.4, false, true),
            p(0.8, true, false),
            p(0.9, true, false),
        ];
        let loose = choose(&pts, balanced(0.5));
        // τ=0.6: in-scope acc 2/4, OOS recall 1 → 1.5; τ=0.15: 3/4 + 1/2 = 1.25.
        assert!((loose.threshold - 0.6).abs() < 1e-6, "{loose:?}");
        let tight = choose(&pts, balanced(0.3));
        assert!((tight.threshold - 0.15).abs() < 1e-6, "{tight:?}");
        assert_eq!(tight.in_scope_rejection, 0.0);
        assert_eq!(loose.in_scope_rejection, 0.5);
    }

    #[test]
    fn model_rejections_count_without_threshold() {
        let mut q = p(0.9, false, true);
        q.model_rejects = true;
        let c = choose(&[q, p(0.5, true, false)], ThresholdRule::default());
        assert_eq!(c.threshold, 0.0);
        assert_eq!(c.oos_recall, 1.0);
        assert_eq!(c.in_scope_accuracy, 1.0);
        assert_eq!(choose(&[], ThresholdRule::default()).threshold, 0.0);
    }
}

//! Evaluation metrics for intent classification with an out-of-scope class.
//!
//! Each test message yields an [`Outcome`]: its true intent (`None` = out of scope), the
//! prediction after the out-of-scope decision (`None` = rejected), and the best in-scope intent
//! regardless of rejection (for closed-set accuracy). [`evaluate`] turns outcomes into the
//! figures `deskbot eval` reports. Out of scope is treated as one more class, named
//! [`OOS_LABEL`], for accuracy, per-class figures, macro-F1 and confusions.

/// The name of the out-of-scope class in reports and data sets.
pub const OOS_LABEL: &str = "oos";

/// What happened to one test message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The true intent (`None` = out of scope).
    pub truth: Option<usize>,
    /// The final prediction (`None` = rejected as out of scope).
    pub predicted: Option<usize>,
    /// The best in-scope intent, ignoring rejection (`None` if the model has no intents).
    pub closed: Option<usize>,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMetrics {
    /// The class name (an intent id, or [`OOS_LABEL`]).
    pub label: String,
    /// Of the messages predicted as this class, the fraction that were.
    pub precision: f64,
    /// Of the messages of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Messages of this class in the test set.
    pub support: usize,
}

/// A (truth, predicted) pair that occurred, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    /// The true class.
    pub truth: String,
    /// The predicted class.
    pub predicted: String,
    /// How many messages.
    pub count: usize,
}

/// The figures of one evaluation (fractions in 0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Number of test messages.
    pub n_test: usize,
    /// Of which in scope.
    pub n_in_scope: usize,
    /// Of which out of scope.
    pub n_oos: usize,
    /// Fraction predicted exactly right, out of scope included.
    pub accuracy: f64,
    /// In-scope messages predicted exactly right (a rejection counts as wrong).
    pub in_scope_accuracy: f64,
    /// In-scope messages whose best in-scope intent is right (rejection ignored).
    pub closed_in_scope_accuracy: f64,
    /// Of the rejected messages, the fraction truly out of scope (1 when nothing is rejected).
    pub oos_precision: f64,
    /// Of the out-of-scope messages, the fraction rejected (0 when there are none).
    pub oos_recall: f64,
    /// Mean F1 over the classes that occur in the truth or the predictions.
    pub macro_f1: f64,
    /// Per class, in label order, out of scope last (classes absent from truth and
    /// predictions are left out).
    pub per_class: Vec<ClassMetrics>,
    /// Off-diagonal (truth, predicted) pairs, most frequent first (ties by name).
    pub confusions: Vec<Confusion>,
}

fn ratio(a: usize, b: usize, empty: f64) -> f64 {
    if b == 0 { empty } else { a as f64 / b as f64 }
}

/// Computes the metrics of `outcomes` for intents named by `labels`.
pub fn evaluate(labels: &[String], outcomes: &[Outcome]) -> Metrics {
    let k = labels.len();
    let class = |c: Option<usize>| c.unwrap_or(k);
    let name = |c: usize| {
        if c == k {
            OOS_LABEL.to_string()
        } else {
            labels[c].clone()
        }
    };
    let mut tp = vec![0usize; k + 1];
    let mut support = vec![0usize; k + 1];
    let mut predicted = vec![0usize; k + 1];
    let mut pairs = std::collections::BTreeMap::<(usize, usize), usize>::new();
    let (mut correct, mut in_ok, mut closed_ok) = (0, 0, 0);
    for o in outcomes {
        let (t, p) = (class(o.truth), class(o.predicted));
        // Out-of-range label indices are a caller bug; count them as out of scope.
        let (t, p) = (t.min(k), p.min(k));
        support[t] += 1;
        predicted[p] += 1;
        if t == p {
            tp[t] += 1;
            correct += 1;
            if t < k {
                in_ok += 1;
            }
        } else {
            *pairs.entry((t, p)).or_default() += 1;
        }
        if t < k && o.closed == o.truth {
            closed_ok += 1;
        }
    }
    let n_oos = support[k];
    let n_in = outcomes.len() - n_oos;
    let mut per_class = Vec::new();
    for c in 0..=k {
        if support[c] == 0 && predicted[c] == 0 {
            continue;
        }
        let precision = ratio(tp[c], predicted[c], 0.0);
        let recall = ratio(tp[c], support[c], 0.0);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.push(ClassMetrics {
            label: name(c),
            precision,
            recall,
            f1,
            support: support[c],
        });
    }
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
    };
    let mut confusions: Vec<Confusion> = pairs
        .into_iter()
        .map(|((t, p), count)| Confusion {
            truth: name(t),
            predicted: name(p),
            count,
        })
        .collect();
    confusions.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.truth.cmp(&b.truth))
            .then_with(|| a.predicted.cmp(&b.predicted))
    });
    Metrics {
        n_test: outcomes.len(),
        n_in_scope: n_in,
        n_oos,
        accuracy: ratio(correct, outcomes.len(), 0.0),
        in_scope_accuracy: ratio(in_ok, n_in, 0.0),
        closed_in_scope_accuracy: ratio(closed_ok, n_in, 0.0),
        oos_precision: ratio(tp[k], predicted[k], 1.0),
        oos_recall: ratio(tp[k], n_oos, 0.0),
        macro_f1,
        per_class,
        confusions,
    }
}

/// The `q`-quantile (0..=1) of `values` by the nearest-rank method (0 when empty).
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(truth: Option<usize>, predicted: Option<usize>, closed: Option<usize>) -> Outcome {
        Outcome {
            truth,
            predicted,
            closed,
        }
    }

    fn labels() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    /// Hand-computed case:
    ///   truth a: predicted a, a, b, rejected(closed a)
    ///   truth b: predicted b, rejected(closed b)
    ///   truth oos: rejected, rejected, predicted a
    fn case() -> Metrics {
        let (a, b) = (Some(0), Some(1));
        evaluate(
            &labels(),
            &[
                o(a, a, a),
                o(a, a, a),
                o(a, b, b),
                o(a, None, a),
                o(b, b, b),
                o(b, None, b),
                o(None, None, a),
                o(None, None, b),
                o(None, a, a),
            ],
        )
    }

    #[test]
    fn accuracies() {
        let m = case();
        assert_eq!((m.n_test, m.n_in_scope, m.n_oos), (9, 6, 3));
        // Right: a,a,b + 2 oos = 5 of 9.
        assert!((m.accuracy - 5.0 / 9.0).abs() < 1e-12);
        // In scope exactly right: 3 of 6.
        assert!((m.in_scope_accuracy - 0.5).abs() < 1e-12);
        // Closed set: a,a,(b wrong),a,b,b = 5 of 6.
        assert!((m.closed_in_scope_accuracy - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn oos_precision_recall() {
        let m = case();
        // Rejected: 2 in-scope + 2 oos → precision 2/4; recall 2/3.
        assert!((m.oos_precision - 0.5).abs() < 1e-12);
        assert!((m.oos_recall - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn per_class_and_macro_f1() {
        let m = case();
        let get = |l: &str| m.per_class.iter().find(|c| c.label == l).cloned().unwrap();
        // a: predicted 3 (2 right) → P 2/3, R 2/4 → F1 = 2·(2/3)(1/2)/(2/3+1/2) = 4/7.
        let a = get("a");
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.recall - 0.5).abs() < 1e-12);
        assert!((a.f1 - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(a.support, 4);
        // b: predicted 2 (1 right) → P 1/2, R 1/2, F1 1/2.
        assert!((get("b").f1 - 0.5).abs() < 1e-12);
        // oos: P 1/2, R 2/3 → F1 = 4/7.
        assert!((get("oos").f1 - 4.0 / 7.0).abs() < 1e-12);
        assert!((m.macro_f1 - (4.0 / 7.0 + 0.5 + 4.0 / 7.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn confusions_sorted_by_count() {
        let m = case();
        // a→oos 1, a→b 1, b→oos 1, oos→a 1: all count 1, ordered by (truth, predicted).
        let got: Vec<(String, String, usize)> = m
            .confusions
            .iter()
            .map(|c| (c.truth.clone(), c.predicted.clone(), c.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), "b".into(), 1),
                ("a".into(), "oos".into(), 1),
                ("b".into(), "oos".into(), 1),
                ("oos".into(), "a".into(), 1),
            ]
        );
        let m = evaluate(
            &labels(),
            &[
                o(Some(0), Some(1), Some(1)),
                o(Some(0), Some(1), Some(1)),
                o(Some(1), Some(0), Some(0)),
            ],
        );
        assert_eq!(m.confusions[0].count, 2);
    }

    #[test]
    fn empty_and_no_rejection_edge_cases() {
        let m = evaluate(&labels(), &[]);
        assert_eq!(m.accuracy, 0.0);
        assert_eq!(m.macro_f1, 0.0);
        let m = evaluate(&labels(), &[o(Some(0), Some(0), Some(0))]);
        assert_eq!(m.oos_precision, 1.0);
        assert_eq!(m.oos_recall, 0.0);
        assert_eq!(m.per_class.len(), 1);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    }
}

//! Scores-vs-labels metrics (membership-inference / real-vs-synthetic
//! discriminator evaluation): ROC curve, AUROC, average precision, the
//! maximal advantage, TPR at a low FPR, and a seeded parallel bootstrap CI.
//!
//! Conventions: `labels[i] == true` is the positive class; a higher score
//! means "more likely positive". All functions return `None` (or an empty
//! curve) when `scores` and `labels` differ in length, are empty, contain a
//! NaN score, or lack one of the two classes. Tied scores form one threshold
//! (scikit-learn's convention), so ties count half in the AUROC.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::rank::{cmp_f64, quantile_linear_sorted};

/// Cumulative (false positives, true positives) after each distinct score,
/// highest score first, plus the class totals (positives, negatives).
struct Curve {
    /// `(fp, tp)` at each threshold, excluding the initial `(0, 0)`.
    steps: Vec<(u64, u64)>,
    positives: u64,
    negatives: u64,
}

/// Builds the step curve (scikit-learn's `_binary_clf_curve`); `None` for
/// invalid input or a missing class.
fn curve(scores: &[f64], labels: &[bool]) -> Option<Curve> {
    if scores.len() != labels.len() || scores.is_empty() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // Descending by score; the order within ties does not matter.
    pairs.sort_unstable_by(|x, y| cmp_f64(y.0, x.0));
    let mut steps = Vec::new();
    let (mut fp, mut tp) = (0u64, 0u64);
    let mut k = 0;
    while k < pairs.len() {
        let s = pairs[k].0;
        while k < pairs.len() && pairs[k].0 == s {
            if pairs[k].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            k += 1;
        }
        steps.push((fp, tp));
    }
    if tp == 0 || fp == 0 {
        return None;
    }
    Some(Curve {
        steps,
        positives: tp,
        negatives: fp,
    })
}

/// Area under the ROC curve, exactly `sklearn.metrics.roc_auc_score`; in `[0, 1]`, 0.5 = chance, 1 = positives always scored higher, 0 = always lower. `None` if a class is absent.
///
/// Tied scores count half (trapezoid over the tied block). The area is
/// accumulated in integers and divided once, so it is exact up to one
/// rounding.
pub fn auroc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let c = curve(scores, labels)?;
    // Twice the trapezoid area in units of (1 negative) x (1 positive).
    let mut area2: u128 = 0;
    let (mut fp0, mut tp0) = (0u64, 0u64);
    for &(fp, tp) in &c.steps {
        area2 += u128::from(fp - fp0) * u128::from(tp0 + tp);
        fp0 = fp;
        tp0 = tp;
    }
    let denom = 2.0 * c.positives as f64 * c.negatives as f64;
    Some((area2 as f64 / denom).clamp(0.0, 1.0))
}

/// Average precision, exactly `sklearn.metrics.average_precision_score`; in `[0, 1]`, higher = better, chance level = prevalence. `None` if a class is absent.
///
/// Step-wise (no interpolation): `Σ_k (R_k − R_{k−1}) · P_k` over the
/// distinct score thresholds, highest first, with tied scores in one step.
/// (scikit-learn returns 1.0 when there are no negatives; here that is
/// `None`, like every other metric in this module.)
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let c = curve(scores, labels)?;
    let p = c.positives as f64;
    let mut ap = 0.0;
    let mut tp0 = 0u64;
    for &(fp, tp) in &c.steps {
        if tp > tp0 {
            let recall_step = tp as f64 / p - tp0 as f64 / p;
            ap += recall_step * (tp as f64 / (tp + fp) as f64);
        }
        tp0 = tp;
    }
    Some(ap.clamp(0.0, 1.0))
}

/// ROC curve points `(fpr, tpr)`, each in `[0, 1]`, from `(0, 0)` to `(1, 1)` by increasing threshold depth, as `sklearn.metrics.roc_curve(drop_intermediate=False)`; empty if a class is absent.
///
/// One point per distinct score (highest first) after the initial `(0, 0)`
/// that corresponds to scikit-learn's threshold `+inf`.
pub fn roc_points(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let Some(c) = curve(scores, labels) else {
        return Vec::new();
    };
    let (p, n) = (c.positives as f64, c.negatives as f64);
    let mut pts = Vec::with_capacity(c.steps.len() + 1);
    pts.push((0.0, 0.0));
    pts.extend(
        c.steps
            .iter()
            .map(|&(fp, tp)| (fp as f64 / n, tp as f64 / p)),
    );
    pts
}

/// Maximal membership advantage `max_t (TPR(t) − FPR(t))` over all thresholds (the KS distance between the two classes' score distributions); in `[0, 1]`, 0 = no better than chance, 1 = perfect separation. `None` if a class is absent.
pub fn max_advantage(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pts = roc_points(scores, labels);
    if pts.is_empty() {
        return None;
    }
    Some(
        pts.iter()
            .map(|&(f, t)| t - f)
            .fold(0.0, f64::max)
            .clamp(0.0, 1.0),
    )
}

/// Largest TPR among the ROC thresholds whose FPR is `<= max_fpr`; in `[0, 1]`, higher = stronger attack at that false-positive budget. `None` if a class is absent or `max_fpr` is negative or NaN.
///
/// No interpolation between ROC points: the value is achievable by an actual
/// threshold, so it is conservative (never above the interpolated curve).
/// The point `(0, 0)` always qualifies, so the result is 0 when even the
/// highest score block already exceeds the FPR budget.
pub fn tpr_at_fpr(scores: &[f64], labels: &[bool], max_fpr: f64) -> Option<f64> {
    if max_fpr.is_nan() || max_fpr < 0.0 {
        return None;
    }
    let pts = roc_points(scores, labels);
    pts.iter()
        .filter(|&&(f, _)| f <= max_fpr)
        .map(|&(_, t)| t)
        .reduce(f64::max)
}

/// Seeded percentile bootstrap CI `(lower, upper)` of `metric` at confidence `level` in `(0, 1)`; `lower <= upper`, both in the metric's range. `None` if inputs are invalid (length mismatch, empty, `n_boot == 0`, bad `level`) or no replicate was valid.
///
/// Each replicate resamples `(score, label)` pairs with replacement; a
/// resample lacking one class, or for which `metric` returns `None` or a
/// non-finite value, is skipped (so fewer than `n_boot` replicates may be
/// used). The bounds are the `(1 − level)/2` and `(1 + level)/2` quantiles
/// of the replicate values (numpy 'linear' interpolation).
///
/// Deterministic for a given `seed` whatever the number of rayon threads:
/// replicate `b` draws from `ChaCha8Rng::seed_from_u64(seed)` switched to
/// stream `b` (`set_stream(b)`), i.e. its generator depends only on the seed
/// and its index; using separate streams (rather than `seed + b`) keeps the
/// replicates of seeds `s` and `s + 1` unrelated.
///
/// `metric` is typically [`auroc`] or [`average_precision`]; closures work
/// too (e.g. `|s, l| tpr_at_fpr(s, l, 0.01)`).
pub fn bootstrap_ci<M>(
    scores: &[f64],
    labels: &[bool],
    metric: M,
    n_boot: usize,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)>
where
    M: Fn(&[f64], &[bool]) -> Option<f64> + Sync,
{
    let n = scores.len();
    if n == 0 || n != labels.len() || n_boot == 0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let mut values: Vec<f64> = (0..n_boot)
        .into_par_iter()
        .map_init(
            || (Vec::with_capacity(n), Vec::with_capacity(n)),
            |(s, l), b| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(b as u64);
                s.clear();
                l.clear();
                let (mut pos, mut neg) = (false, false);
                for _ in 0..n {
                    let i = rng.random_range(0..n);
                    s.push(scores[i]);
                    l.push(labels[i]);
                    pos |= labels[i];
                    neg |= !labels[i];
                }
                if !(pos && neg) {
                    return None;
                }
                metric(s, l).filter(|v| v.is_finite())
            },
        )
        .flatten()
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let lo = quantile_linear_sorted(&values, tail)?;
    let hi = quantile_linear_sorted(&values, 1.0 - tail)?;
    Some((lo, hi))
}

/// A confidence interval `(lower, upper)`.
pub type Interval = (f64, f64);

/// AUROC and average precision of a weighted sample, from rows grouped by tied score (highest
/// score first) as `(first index into order, end)`: each row counts `weights[i]` times. Equals
/// [`auroc`] / [`average_precision`] on the sample with every row repeated that often.
fn weighted_auroc_ap(
    order: &[usize],
    groups: &[(usize, usize)],
    labels: &[bool],
    weights: &[u32],
) -> Option<(f64, f64)> {
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let (mut area, mut ap) = (0.0f64, 0.0f64);
    for &(start, end) in groups {
        let (mut dp, mut dn) = (0.0, 0.0);
        for &i in &order[start..end] {
            let w = f64::from(weights[i]);
            if labels[i] { dp += w } else { dn += w }
        }
        if dp == 0.0 && dn == 0.0 {
            continue;
        }
        area += dn * (tp + dp / 2.0);
        tp += dp;
        fp += dn;
        ap += dp * tp / (tp + fp);
    }
    (tp > 0.0 && fp > 0.0).then(|| (area / (tp * fp), ap / tp))
}

/// Seeded percentile bootstrap intervals of AUROC and average precision together, at confidence
/// `level`: the same resampling and conventions as [`bootstrap_ci`] (replicate `b` uses stream `b`
/// of `ChaCha8Rng::seed_from_u64(seed)`), but the scores are sorted once and each replicate is
/// counted in linear time as weights, so 200 replicates of 20k rows take milliseconds.
pub fn bootstrap_auroc_ap(
    scores: &[f64],
    labels: &[bool],
    n_boot: usize,
    seed: u64,
    level: f64,
) -> (Option<Interval>, Option<Interval>) {
    let n = scores.len();
    if n == 0
        || n != labels.len()
        || n_boot == 0
        || !(level > 0.0 && level < 1.0)
        || scores.iter().any(|s| s.is_nan())
    {
        return (None, None);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| cmp_f64(scores[b], scores[a]));
    let mut groups = Vec::new();
    let mut start = 0;
    for k in 1..=n {
        if k == n || scores[order[k]] != scores[order[start]] {
            groups.push((start, k));
            start = k;
        }
    }
    let replicates: Vec<(f64, f64)> = (0..n_boot)
        .into_par_iter()
        .map_init(
            || vec![0u32; n],
            |weights, b| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(b as u64);
                weights.iter_mut().for_each(|w| *w = 0);
                for _ in 0..n {
                    weights[rng.random_range(0..n)] += 1;
                }
                weighted_auroc_ap(&order, &groups, labels, weights)
            },
        )
        .flatten()
        .collect();
    let bounds = |mut values: Vec<f64>| {
        values.sort_unstable_by(f64::total_cmp);
        let tail = (1.0 - level) / 2.0;
        Some((
            quantile_linear_sorted(&values, tail)?,
            quantile_linear_sorted(&values, 1.0 - tail)?,
        ))
    };
    (
        bounds(replicates.iter().map(|r| r.0).collect()),
        bounds(replicates.iter().map(|r| r.1).collect()),
    )
}

#[cfg(test)]
mod weighted_tests {
    use super::*;

    #[test]
    fn weighted_metrics_equal_the_metrics_of_the_repeated_sample() {
        let scores = [0.9, 0.8, 0.8, 0.5, 0.3, 0.3, 0.1];
        let labels = [true, false, true, true, false, false, false];
        let weights = [2u32, 1, 0, 3, 1, 2, 1];
        let (mut s, mut l) = (Vec::new(), Vec::new());
        for i in 0..scores.len() {
            for _ in 0..weights[i] {
                s.push(scores[i]);
                l.push(labels[i]);
            }
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| cmp_f64(scores[b], scores[a]));
        let groups = vec![(0, 1), (1, 3), (3, 4), (4, 6), (6, 7)];
        let (a, ap) = weighted_auroc_ap(&order, &groups, &labels, &weights).unwrap();
        assert!((a - auroc(&s, &l).unwrap()).abs() < 1e-12);
        assert!((ap - average_precision(&s, &l).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn fast_bootstrap_brackets_the_estimate_and_is_seeded() {
        let scores: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
        let labels: Vec<bool> = (0..500)
            .map(|i| (i * 37) % 101 > 60 || i % 7 == 0)
            .collect();
        let (a, ap) = bootstrap_auroc_ap(&scores, &labels, 200, 3, 0.95);
        let (a, ap) = (a.unwrap(), ap.unwrap());
        let point = auroc(&scores, &labels).unwrap();
        assert!(a.0 <= point && point <= a.1, "{a:?} {point}");
        let point = average_precision(&scores, &labels).unwrap();
        assert!(ap.0 <= point && point <= ap.1, "{ap:?} {point}");
        assert_eq!(
            bootstrap_auroc_ap(&scores, &labels, 200, 3, 0.95).0,
            Some(a)
        );
        assert_ne!(
            bootstrap_auroc_ap(&scores, &labels, 200, 4, 0.95).0,
            Some(a)
        );
        assert_eq!(
            bootstrap_auroc_ap(&[0.1, 0.2], &[true, true], 50, 1, 0.95),
            (None, None)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_reversed() {
        let s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let l = [false, false, false, true, true, true];
        assert_eq!(auroc(&s, &l), Some(1.0));
        assert_eq!(average_precision(&s, &l), Some(1.0));
        assert_eq!(max_advantage(&s, &l), Some(1.0));
        assert_eq!(tpr_at_fpr(&s, &l, 0.0), Some(1.0));
        let r: Vec<bool> = l.iter().map(|b| !b).collect();
        assert_eq!(auroc(&s, &r), Some(0.0));
        assert_eq!(max_advantage(&s, &r), Some(0.0));
        assert_eq!(tpr_at_fpr(&s, &r, 0.5), Some(0.0));
    }

    #[test]
    fn ties_count_half() {
        // Every score tied: AUROC 0.5, AP = prevalence, one ROC step.
        let s = [0.3; 4];
        let l = [true, false, false, false];
        assert_eq!(auroc(&s, &l), Some(0.5));
        assert_eq!(average_precision(&s, &l), Some(0.25));
        assert_eq!(roc_points(&s, &l), vec![(0.0, 0.0), (1.0, 1.0)]);
        // One positive tied with one negative, one negative below.
        let s = [1.0, 1.0, 0.0];
        let l = [true, false, false];
        assert_eq!(auroc(&s, &l), Some(0.75));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(auroc(&[], &[]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[true]), None);
        assert_eq!(auroc(&[0.1, f64::NAN], &[true, false]), None);
        assert_eq!(average_precision(&[0.1, 0.2], &[true, true]), None);
        assert!(roc_points(&[0.5], &[true]).is_empty());
        assert_eq!(max_advantage(&[], &[]), None);
        assert_eq!(tpr_at_fpr(&[0.1, 0.2], &[true, false], f64::NAN), None);
        assert_eq!(tpr_at_fpr(&[0.1, 0.2], &[true, false], -0.1), None);
        assert_eq!(bootstrap_ci(&[], &[], auroc, 10, 1, 0.95), None);
        assert_eq!(
            bootstrap_ci(&[0.1, 0.2], &[true, true], auroc, 10, 1, 0.95),
            None
        );
        assert_eq!(
            bootstrap_ci(&[0.1, 0.2], &[true, false], auroc, 0, 1, 0.95),
            None
        );
        assert_eq!(
            bootstrap_ci(&[0.1, 0.2], &[true, false], auroc, 10, 1, 1.0),
            None
        );
        assert_eq!(
            bootstrap_ci(&[0.1, 0.2], &[true, false], auroc, 10, 1, f64::NAN),
            None
        );
    }

    fn noisy_sample(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<bool> = (0..n).map(|_| rng.random_bool(0.4)).collect();
        let scores = labels
            .iter()
            .map(|&y| {
                let noise: f64 = rng.random_range(0.0..1.0);
                // Rounded so that there are ties.
                ((noise + if y { 0.35 } else { 0.0 }) * 20.0).round() / 20.0
            })
            .collect();
        (scores, labels)
    }

    #[test]
    fn bootstrap_contains_estimate_and_is_deterministic() {
        let (s, l) = noisy_sample(400, 7);
        let point = auroc(&s, &l).unwrap();
        let ci = bootstrap_ci(&s, &l, auroc, 300, 42, 0.95).unwrap();
        assert!(ci.0 < point && point < ci.1, "{ci:?} vs {point}");
        assert!(ci.1 - ci.0 < 0.2);
        assert_eq!(bootstrap_ci(&s, &l, auroc, 300, 42, 0.95), Some(ci));
        // Same result on a single thread.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| bootstrap_ci(&s, &l, auroc, 300, 42, 0.95)),
            Some(ci)
        );
        // Another seed gives another interval.
        assert_ne!(bootstrap_ci(&s, &l, auroc, 300, 43, 0.95), Some(ci));
        // Closures work.
        let t = bootstrap_ci(
            &s,
            &l,
            |s: &[f64], l: &[bool]| tpr_at_fpr(s, l, 0.1),
            50,
            1,
            0.9,
        );
        assert!(t.is_some());
        let ap = average_precision(&s, &l).unwrap();
        let ci = bootstrap_ci(&s, &l, average_precision, 200, 3, 0.9).unwrap();
        assert!(ci.0 <= ap && ap <= ci.1);
    }
}

//! Divergences between distributions: total variation, Jensen–Shannon and
//! Kullback–Leibler on category counts, and the binned KL estimator used for
//! continuous marginals.
//!
//! Count vectors (`&[f64]`, so weighted counts work too) are aligned by
//! index: entry `i` of both vectors is the same category. They are
//! normalised internally. A count vector is invalid (→ `None`) if it is
//! empty, has a negative or non-finite entry, or the two vectors differ in
//! length; the unsmoothed functions also need a positive total on each side.
//!
//! # Binned KL estimator for continuous marginals (design decision)
//!
//! KL divergence between continuous samples is estimated by histogramming,
//! [`kl_continuous`]:
//!
//! 1. **Edges from the real data only**: the real sample's quantiles at
//!    `i / n_bins`, `i = 0..=n_bins` (numpy `quantile(..., method='linear')`),
//!    with duplicate edges removed (`numpy.unique`). Equal-mass bins adapt to
//!    skewed ICU variables; dropping duplicates merges the bins of point
//!    masses (e.g. many exact zeros), so a column may end up with fewer than
//!    `n_bins` bins.
//! 2. **Open-ended outer bins**: with unique edges `e_0 < … < e_K` the bins
//!    are `(-inf, e_1)`, `[e_1, e_2)`, …, `[e_{K−1}, +inf)`; a value `x`
//!    falls in bin `#{interior edges <= x}` (numpy
//!    `searchsorted(e[1:-1], x, side='right')`). Synthetic values outside the
//!    real range therefore land in the end bins instead of being dropped.
//!    A real column with fewer than three distinct edges (constant, or two
//!    values that fill all quantiles) has a single bin and KL 0: use the
//!    categorical estimator for such low-cardinality columns.
//! 3. **Additive smoothing**: every bin count of both samples gets
//!    `+alpha` (default 0.5, Jeffreys/Krichevsky–Trofimov) before normalising,
//!    so the estimate is always finite even when the synthetic data leave a
//!    bin empty.
//! 4. **Direction**: `KL(P_real || Q_synth) = Σ p ln(p / q)` in nats, i.e.
//!    the information lost when the synthetic distribution is used to
//!    describe the real one; it penalises synthetic data that miss real
//!    mass more than synthetic data that put mass where real data are rare.
//!
//! The caller handles missing values: it appends a "missing" bin to the
//! counts from [`binned_counts`] (real and synthetic missing counts) and
//! calls [`kl_from_counts`]. The estimate depends on `n_bins`, `alpha` and
//! the sample sizes (smoothing biases it towards 0 for small samples), so
//! compare values computed with the same settings and similar sizes only.
//! `scripts/reference_metrics.py` implements the same estimator with numpy
//! and `scipy.stats.entropy`.

use super::rank::{quantile_linear_sorted, sorted_non_nan};

/// Default number of quantile bins for [`kl_continuous`].
pub const DEFAULT_KL_BINS: usize = 20;
/// Default additive smoothing added to every bin count in [`kl_continuous`] / [`kl_from_counts`].
pub const DEFAULT_KL_ALPHA: f64 = 0.5;

fn valid_counts(p: &[f64], q: &[f64]) -> bool {
    !p.is_empty() && p.len() == q.len() && p.iter().chain(q).all(|&c| c.is_finite() && c >= 0.0)
}

/// Normalised copies of two count vectors; `None` if invalid or a total is 0.
fn normalised(p: &[f64], q: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    if !valid_counts(p, q) {
        return None;
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if !(sp > 0.0 && sq > 0.0 && sp.is_finite() && sq.is_finite()) {
        return None;
    }
    Some((
        p.iter().map(|v| v / sp).collect(),
        q.iter().map(|v| v / sq).collect(),
    ))
}

/// `x ln(x / y)` with scipy's `rel_entr` conventions (0 for x = 0, +inf for y = 0 < x).
fn rel_entr(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if y == 0.0 {
        f64::INFINITY
    } else {
        x * (x / y).ln()
    }
}

/// Total variation distance `½ Σ |p_i − q_i|` of the normalised counts; in `[0, 1]`, 0 = identical, 1 = disjoint support (sdmetrics `TVComplement` = 1 − tvd). `None` for invalid counts.
pub fn tvd(p_counts: &[f64], q_counts: &[f64]) -> Option<f64> {
    let (p, q) = normalised(p_counts, q_counts)?;
    let s: f64 = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum();
    Some((0.5 * s).clamp(0.0, 1.0))
}

/// Jensen–Shannon divergence in bits (base 2) of the normalised counts, `scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`; in `[0, 1]`, 0 = identical, 1 = disjoint support; symmetric. `None` for invalid counts.
pub fn js_divergence(p_counts: &[f64], q_counts: &[f64]) -> Option<f64> {
    let (p, q) = normalised(p_counts, q_counts)?;
    let (mut left, mut right) = (0.0, 0.0);
    for (&a, &b) in p.iter().zip(&q) {
        let m = (a + b) / 2.0;
        left += rel_entr(a, m);
        right += rel_entr(b, m);
    }
    let js = (left + right) / std::f64::consts::LN_2;
    Some((js / 2.0).clamp(0.0, 1.0))
}

/// Kullback–Leibler divergence `KL(p || q) = Σ p ln(p/q)` in nats of the normalised counts, `scipy.stats.entropy(p, q)`; in `[0, +inf]`, 0 = identical, `+inf` when `q` is 0 where `p` is not. `None` for invalid counts.
///
/// Unsmoothed; for audit scores use [`kl_from_counts`], which is always finite.
pub fn kl_divergence(p_counts: &[f64], q_counts: &[f64]) -> Option<f64> {
    let (p, q) = normalised(p_counts, q_counts)?;
    let s: f64 = p.iter().zip(&q).map(|(&a, &b)| rel_entr(a, b)).sum();
    Some(s.max(0.0))
}

/// Smoothed `KL(P_real || Q_synth)` in nats with `alpha` added to every count before normalising; finite and `>= 0`, 0 = identical counts, higher = more different. `None` for invalid counts or `alpha` not finite and `> 0`.
///
/// This is the final step of [`kl_continuous`]; call it directly on bin
/// counts extended with a "missing" bin, or on category counts.
pub fn kl_from_counts(real_counts: &[f64], synth_counts: &[f64], alpha: f64) -> Option<f64> {
    if !(alpha > 0.0 && alpha.is_finite() && valid_counts(real_counts, synth_counts)) {
        return None;
    }
    let sp: f64 = real_counts.iter().map(|c| c + alpha).sum();
    let sq: f64 = synth_counts.iter().map(|c| c + alpha).sum();
    if !(sp.is_finite() && sq.is_finite()) {
        return None;
    }
    let s: f64 = real_counts
        .iter()
        .zip(synth_counts)
        .map(|(r, s)| {
            let p = (r + alpha) / sp;
            let q = (s + alpha) / sq;
            p * (p / q).ln()
        })
        .sum();
    s.is_finite().then_some(s.max(0.0))
}

/// Smoothed KL between category count vectors (same category order on both sides); identical to [`kl_from_counts`]: finite, `>= 0`, 0 = identical.
pub fn kl_categorical(real_counts: &[f64], synth_counts: &[f64], alpha: f64) -> Option<f64> {
    kl_from_counts(real_counts, synth_counts, alpha)
}

/// Sorted, de-duplicated real-data quantiles at `i / n_bins`, `i = 0..=n_bins` (numpy 'linear'), i.e. `numpy.unique(numpy.quantile(real, arange(n_bins + 1) / n_bins))`; ascending, at least one value. `None` if `n_bins == 0` or `real` has no finite value.
///
/// NaN and ±inf values are ignored for the edges. The bins built from these
/// edges are described in the [module docs](self).
pub fn quantile_bin_edges(real: &[f64], n_bins: usize) -> Option<Vec<f64>> {
    if n_bins == 0 {
        return None;
    }
    let finite: Vec<f64> = sorted_non_nan(real)
        .into_iter()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return None;
    }
    let mut edges: Vec<f64> = (0..=n_bins)
        .filter_map(|i| quantile_linear_sorted(&finite, i as f64 / n_bins as f64))
        .collect();
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup_by(|a, b| a == b);
    Some(edges)
}

/// Per-bin counts `(real, synth)` of the quantile bins of [`quantile_bin_edges`] with open-ended outer bins; both vectors have the same length (1 to `n_bins`) and sum to the non-NaN sizes. `None` if `n_bins == 0`, `real` has no finite value, or `synth` has no non-NaN value.
///
/// NaN values are skipped (the caller counts missing values itself);
/// ±inf values go to the end bins.
pub fn binned_counts(real: &[f64], synth: &[f64], n_bins: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let edges = quantile_bin_edges(real, n_bins)?;
    if synth.iter().all(|v| v.is_nan()) {
        return None;
    }
    let interior: &[f64] = if edges.len() > 2 {
        &edges[1..edges.len() - 1]
    } else {
        &[]
    };
    let count = |values: &[f64]| {
        let mut c = vec![0.0; interior.len() + 1];
        for &x in values.iter().filter(|x| !x.is_nan()) {
            c[interior.partition_point(|&e| e <= x)] += 1.0;
        }
        c
    };
    Some((count(real), count(synth)))
}

/// Binned, smoothed `KL(P_real || Q_synth)` in nats for a continuous column (estimator in the [module docs](self); defaults [`DEFAULT_KL_BINS`], [`DEFAULT_KL_ALPHA`]); finite and `>= 0`, 0 = same bin distribution, higher = more different. `None` if [`binned_counts`] or [`kl_from_counts`] is `None`.
pub fn kl_continuous(real: &[f64], synth: &[f64], n_bins: usize, alpha: f64) -> Option<f64> {
    let (r, s) = binned_counts(real, synth, n_bins)?;
    kl_from_counts(&r, &s, alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_disjoint_counts() {
        let p = [3.0, 0.0, 5.0, 2.0];
        assert_eq!(tvd(&p, &p), Some(0.0));
        assert_eq!(js_divergence(&p, &p), Some(0.0));
        assert_eq!(kl_divergence(&p, &p), Some(0.0));
        assert_eq!(kl_from_counts(&p, &p, 0.5), Some(0.0));
        // Scale invariance: counts are normalised.
        let p2: Vec<f64> = p.iter().map(|v| v * 7.0).collect();
        assert!(tvd(&p, &p2).unwrap() < 1e-15);
        let a = [1.0, 0.0];
        let b = [0.0, 4.0];
        assert_eq!(tvd(&a, &b), Some(1.0));
        assert!((js_divergence(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(kl_divergence(&a, &b), Some(f64::INFINITY));
        let k = kl_from_counts(&a, &b, 0.5).unwrap();
        assert!(k.is_finite() && k > 0.0);
    }

    #[test]
    fn invalid_counts() {
        assert_eq!(tvd(&[], &[]), None);
        assert_eq!(tvd(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(tvd(&[0.0, 0.0], &[1.0, 2.0]), None);
        assert_eq!(js_divergence(&[-1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(kl_divergence(&[f64::NAN, 2.0], &[1.0, 2.0]), None);
        assert_eq!(kl_from_counts(&[1.0], &[1.0], 0.0), None);
        assert_eq!(kl_from_counts(&[1.0], &[1.0], f64::NAN), None);
        assert_eq!(kl_from_counts(&[1.0], &[1.0, 2.0], 0.5), None);
        // All-zero counts are fine once smoothed.
        assert_eq!(kl_from_counts(&[0.0, 0.0], &[0.0, 0.0], 0.5), Some(0.0));
        assert_eq!(kl_categorical(&[2.0, 1.0], &[2.0, 1.0], 0.5), Some(0.0));
    }

    #[test]
    fn binned_kl() {
        let real: Vec<f64> = (0..1000).map(|i| f64::from(i) / 10.0).collect();
        let k = kl_continuous(&real, &real, DEFAULT_KL_BINS, DEFAULT_KL_ALPHA).unwrap();
        assert!(k.abs() < 1e-12);
        let (r, s) = binned_counts(&real, &real, 20).unwrap();
        assert_eq!(r.len(), 20);
        assert_eq!(r, s);
        assert_eq!(r.iter().sum::<f64>(), 1000.0);
        // Synthetic values beyond the real range land in the end bins.
        let (_, s) = binned_counts(&real, &[-1e9, 1e9, f64::INFINITY, f64::NAN], 20).unwrap();
        assert_eq!((s[0], s[19], s.iter().sum::<f64>()), (1.0, 2.0, 3.0));
        let far: Vec<f64> = real.iter().map(|v| v + 1000.0).collect();
        let k_far = kl_continuous(&real, &far, 20, 0.5).unwrap();
        assert!(k_far.is_finite() && k_far > 1.0);
        // Constant real column: one bin, KL 0 (documented limitation).
        assert_eq!(
            binned_counts(&[2.0; 5], &[1.0, 3.0], 20).unwrap().0,
            vec![5.0]
        );
        assert_eq!(kl_continuous(&[2.0; 5], &[1.0, 3.0], 20, 0.5), Some(0.0));
        // Degenerate inputs.
        assert_eq!(kl_continuous(&[], &[1.0], 20, 0.5), None);
        assert_eq!(kl_continuous(&[1.0], &[], 20, 0.5), None);
        assert_eq!(kl_continuous(&[f64::NAN], &[1.0], 20, 0.5), None);
        assert_eq!(kl_continuous(&[f64::INFINITY], &[1.0], 20, 0.5), None);
        assert_eq!(kl_continuous(&[1.0, 2.0], &[1.0], 0, 0.5), None);
        assert_eq!(kl_continuous(&[1.0, 2.0], &[1.0], 20, -1.0), None);
        // Point mass: duplicate edges removed.
        let mut pm = vec![0.0; 60];
        pm.extend((1..=40).map(f64::from));
        let e = quantile_bin_edges(&pm, 20).unwrap();
        assert_eq!(e[0], 0.0);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(e.len(), 10);
    }
}

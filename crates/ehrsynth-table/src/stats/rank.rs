//! Ranking, sorting and quantile helpers shared by the other submodules.

use std::cmp::Ordering;

/// Average ranks (1-based; ties get the mean of the ranks they span), as `scipy.stats.rankdata(x, method='average')`; all NaN if `x` has a NaN (scipy's 'propagate').
///
/// The output has the same length as `x`; each rank lies in `[1, x.len()]`.
/// `-0.0` and `0.0` are tied.
pub fn ranks_average(x: &[f64]) -> Vec<f64> {
    if x.iter().any(|v| v.is_nan()) {
        return vec![f64::NAN; x.len()];
    }
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_unstable_by(|&i, &j| cmp_f64(x[i], x[j]));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let v = x[order[start]];
        let mut end = start + 1;
        while end < order.len() && x[order[end]] == v {
            end += 1;
        }
        // Ranks start+1 ..= end, averaged: (start + 1 + end) / 2.
        let avg = (start + 1 + end) as f64 / 2.0;
        for &idx in &order[start..end] {
            ranks[idx] = avg;
        }
        start = end;
    }
    ranks
}

/// Total order on f64 in which `-0.0 == 0.0` (unlike `f64::total_cmp`); NaN sorts last.
#[inline]
pub fn cmp_f64(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// The non-NaN values of `x`, sorted ascending, with `-0.0` turned into `0.0`.
pub fn sorted_non_nan(x: &[f64]) -> Vec<f64> {
    // `v + 0.0` maps -0.0 to 0.0 and leaves every other value unchanged.
    let mut v: Vec<f64> = x.iter().filter(|v| !v.is_nan()).map(|v| v + 0.0).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Quantile of sorted, NaN-free data at `q` in `[0, 1]`, exactly as `numpy.quantile(..., method='linear')`; `None` when empty.
///
/// numpy: virtual index `h = (n - 1) * q`, `lo = floor(h)`, `g = h - lo`, and
/// the interpolation `a + (b - a) * g` for `g < 0.5`, `b - (b - a) * (1 - g)`
/// otherwise; `h >= n - 1` takes the last value.
pub fn quantile_linear_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 || q.is_nan() {
        return None;
    }
    let h = (n - 1) as f64 * q;
    if h >= (n - 1) as f64 {
        return Some(sorted[n - 1]);
    }
    if h <= 0.0 {
        return Some(sorted[0]);
    }
    let lo = h.floor();
    let i = lo as usize; // 0 <= i < n - 1 here
    let g = h - lo;
    let (a, b) = (sorted[i], sorted[i + 1]);
    let d = b - a;
    Some(if g >= 0.5 {
        b - d * (1.0 - g)
    } else {
        a + d * g
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        assert_eq!(
            ranks_average(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]),
            vec![1.5, 4.0, 1.5, 6.0, 4.0, 4.0]
        );
        assert_eq!(ranks_average(&[-0.0, 0.0]), vec![1.5, 1.5]);
        assert!(ranks_average(&[]).is_empty());
        assert!(ranks_average(&[1.0, f64::NAN]).iter().all(|r| r.is_nan()));
    }

    #[test]
    fn quantiles_like_numpy() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_linear_sorted(&s, 0.0), Some(1.0));
        assert_eq!(quantile_linear_sorted(&s, 1.0), Some(4.0));
        assert_eq!(quantile_linear_sorted(&s, 0.5), Some(2.5));
        assert_eq!(quantile_linear_sorted(&s, 0.25), Some(1.75));
        assert_eq!(quantile_linear_sorted(&[], 0.5), None);
        assert_eq!(quantile_linear_sorted(&[7.0], 0.3), Some(7.0));
    }
}

//! Pairwise association between columns: Pearson and Spearman correlation
//! (numeric–numeric), Cramér's V (categorical–categorical) and the
//! correlation ratio η (categorical–numeric).
//!
//! Numeric inputs may contain NaN for missing values: these functions use
//! pairwise-complete observations (a pair with a NaN on either side is
//! dropped). They return `None` when the lengths differ, fewer than 3
//! complete pairs remain (for the correlations), a side is constant, or a
//! remaining value is infinite.

use std::collections::HashMap;

use super::rank::ranks_average;

/// The complete (non-NaN on both sides) pairs; `None` on length mismatch or an infinite value.
fn complete_pairs(x: &[f64], y: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    if x.len() != y.len() {
        return None;
    }
    let (mut xs, mut ys) = (Vec::with_capacity(x.len()), Vec::with_capacity(y.len()));
    for (&a, &b) in x.iter().zip(y) {
        if a.is_nan() || b.is_nan() {
            continue;
        }
        if a.is_infinite() || b.is_infinite() {
            return None;
        }
        xs.push(a);
        ys.push(b);
    }
    Some((xs, ys))
}

fn is_constant(v: &[f64]) -> bool {
    v.iter().all(|&a| a == v[0])
}

/// Pearson correlation of finite, non-constant, equal-length data (>= 3).
fn pearson_complete(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 3 || is_constant(x) || is_constant(y) {
        return None;
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    // Centre, then normalise by max|.| before squaring (no overflow), as scipy.
    let norm = |v: &[f64], m: f64| {
        let max = v.iter().map(|a| (a - m).abs()).fold(0.0, f64::max);
        let ss: f64 = v.iter().map(|a| ((a - m) / max).powi(2)).sum();
        max * ss.sqrt()
    };
    let (nx, ny) = (norm(x, mx), norm(y, my));
    if !(nx > 0.0 && ny > 0.0 && nx.is_finite() && ny.is_finite()) {
        return None;
    }
    let r: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| ((a - mx) / nx) * ((b - my) / ny))
        .sum();
    r.is_finite().then_some(r.clamp(-1.0, 1.0))
}

/// Pearson correlation on pairwise-complete data, `scipy.stats.pearsonr(x, y).statistic`; in `[-1, 1]`, 0 = no linear association, ±1 = exact linear relation. `None` with fewer than 3 complete pairs or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let (x, y) = complete_pairs(x, y)?;
    pearson_complete(&x, &y)
}

/// Spearman rank correlation on pairwise-complete data (average ranks for ties), `scipy.stats.spearmanr(x, y).statistic`; in `[-1, 1]`, 0 = no monotone association, ±1 = strictly monotone. `None` with fewer than 3 complete pairs or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let (x, y) = complete_pairs(x, y)?;
    if x.len() < 3 || is_constant(&x) || is_constant(&y) {
        return None;
    }
    pearson_complete(&ranks_average(&x), &ranks_average(&y))
}

/// Dense contingency tables up to this many cells; beyond, a sparse formula.
const DENSE_CELLS: usize = 1 << 20;

/// Bias-uncorrected Cramér's V of two category-code columns, `scipy.stats.contingency.association(crosstab(a, b).count, method='cramer')`; in `[0, 1]`, 0 = independent, 1 = each determines the other. `None` if lengths differ, empty, or either side has a single category.
///
/// `V = sqrt(chi2 / (n · (min(r, c) − 1)))` with the Pearson chi-squared
/// statistic without continuity correction, over the `r × c` table of
/// *observed* categories (codes need not be contiguous). Codes are plain
/// labels: the caller maps "missing" to its own code if it wants it counted.
pub fn cramers_v(a: &[u32], b: &[u32]) -> Option<f64> {
    cramers_v_with(a, b, DENSE_CELLS)
}

fn cramers_v_with(a: &[u32], b: &[u32], dense_cells: usize) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let levels = |v: &[u32]| {
        let mut u = v.to_vec();
        u.sort_unstable();
        u.dedup();
        u
    };
    let (la, lb) = (levels(a), levels(b));
    let (r, c) = (la.len(), lb.len());
    if r < 2 || c < 2 {
        return None;
    }
    // Codes are present in their level lists by construction.
    let idx = |levels: &[u32], code: u32| levels.binary_search(&code).unwrap_or(0);
    let ia: Vec<usize> = a.iter().map(|&v| idx(&la, v)).collect();
    let ib: Vec<usize> = b.iter().map(|&v| idx(&lb, v)).collect();
    let mut row = vec![0u64; r];
    let mut col = vec![0u64; c];
    for (&i, &j) in ia.iter().zip(&ib) {
        row[i] += 1;
        col[j] += 1;
    }
    let n = a.len() as f64;
    let chi2 = if r.saturating_mul(c) <= dense_cells {
        let mut table = vec![0u64; r * c];
        for (&i, &j) in ia.iter().zip(&ib) {
            table[i * c + j] += 1;
        }
        let mut chi2 = 0.0;
        for (i, &ri) in row.iter().enumerate() {
            for (j, &cj) in col.iter().enumerate() {
                let e = ri as f64 * cj as f64 / n;
                let d = table[i * c + j] as f64 - e;
                chi2 += d * d / e;
            }
        }
        chi2
    } else {
        // chi2 = n (Σ_{observed cells} o² / (R_i C_j) − 1).
        let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
        for (&i, &j) in ia.iter().zip(&ib) {
            *cells.entry((i, j)).or_insert(0) += 1;
        }
        let s: f64 = cells
            .iter()
            .map(|(&(i, j), &o)| (o as f64) * (o as f64) / (row[i] as f64 * col[j] as f64))
            .sum();
        (n * (s - 1.0)).max(0.0)
    };
    let k = (r.min(c) - 1) as f64;
    let v = (chi2 / (n * k)).sqrt();
    v.is_finite().then_some(v.clamp(0.0, 1.0))
}

/// Correlation ratio η = sqrt(SS_between / SS_total) of numeric `values` grouped by category code; in `[0, 1]`, 0 = group means all equal, 1 = values fully determined by the category. `None` if lengths differ, fewer than 2 non-NaN values, the values are constant, or a value is infinite.
///
/// Pairs with a NaN value are dropped. A single category gives 0 (it
/// explains nothing), not `None`.
pub fn correlation_ratio(categories: &[u32], values: &[f64]) -> Option<f64> {
    if categories.len() != values.len() {
        return None;
    }
    let mut groups: HashMap<u32, (u64, f64)> = HashMap::new();
    let mut kept: Vec<f64> = Vec::with_capacity(values.len());
    for (&g, &v) in categories.iter().zip(values) {
        if v.is_nan() {
            continue;
        }
        if v.is_infinite() {
            return None;
        }
        let e = groups.entry(g).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += v;
        kept.push(v);
    }
    if kept.len() < 2 || is_constant(&kept) {
        return None;
    }
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let ss_total: f64 = kept.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_between: f64 = groups
        .values()
        .map(|&(k, s)| {
            let k = k as f64;
            k * (s / k - mean).powi(2)
        })
        .sum();
    let eta = (ss_between / ss_total).sqrt();
    eta.is_finite().then_some(eta.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 6.0, 8.0, 10.0];
        assert!((pearson(&x, &y).unwrap() - 1.0).abs() < 1e-15);
        let neg: Vec<f64> = y.iter().map(|v| -v * v).collect();
        assert!((spearman(&x, &neg).unwrap() + 1.0).abs() < 1e-15);
        // Missing values: pairwise-complete.
        let xm = [1.0, f64::NAN, 3.0, 4.0, 5.0, 9.0];
        let ym = [2.0, 4.0, 6.0, 8.0, 10.0, f64::NAN];
        assert!((pearson(&xm, &ym).unwrap() - 1.0).abs() < 1e-15);
        // Huge magnitudes do not overflow.
        let big: Vec<f64> = x.iter().map(|v| v * 1e300).collect();
        assert!((pearson(&big, &y).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn correlation_degenerate() {
        assert_eq!(pearson(&[], &[]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), None);
        assert_eq!(
            pearson(&[1.0, f64::NAN, 3.0, 4.0], &[1.0, 2.0, f64::NAN, 4.0]),
            None
        );
        assert_eq!(pearson(&[1.0, 2.0, f64::INFINITY], &[1.0, 2.0, 3.0]), None);
        // Constant in floating point even though the mean is not exact.
        assert_eq!(pearson(&[0.1, 0.1, 0.1], &[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn cramers() {
        let a = [0, 0, 1, 1, 2, 2];
        assert!((cramers_v(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        // Relabelled codes do not matter.
        let b = [70, 70, 5, 5, 9, 9];
        assert!((cramers_v(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        // Perfectly balanced independent table.
        assert_eq!(cramers_v(&[0, 0, 1, 1], &[0, 1, 0, 1]), Some(0.0));
        assert_eq!(cramers_v(&[], &[]), None);
        assert_eq!(cramers_v(&[1, 1, 1], &[0, 1, 2]), None);
        assert_eq!(cramers_v(&[1, 2], &[0]), None);
    }

    #[test]
    fn cramers_sparse_path_matches_dense() {
        let a: Vec<u32> = (0..5000u32).map(|i| i % 13).collect();
        let b: Vec<u32> = (0..5000u32)
            .map(|i| (i * 7 + i / 3) % 11 + 1000 * (i % 2))
            .collect();
        let dense = cramers_v_with(&a, &b, usize::MAX).unwrap();
        let sparse = cramers_v_with(&a, &b, 0).unwrap();
        assert!((dense - sparse).abs() < 1e-12, "{dense} vs {sparse}");
        // Large level counts take the sparse path without a huge allocation.
        let a: Vec<u32> = (0..5000u32).map(|i| i % 2000).collect();
        let b: Vec<u32> = (0..5000u32).map(|i| (i * 7) % 1500).collect();
        let v = cramers_v(&a, &b).unwrap();
        assert!((0.0..=1.0).contains(&v));
    }

    #[test]
    fn eta() {
        let g = [0, 0, 1, 1];
        assert!((correlation_ratio(&g, &[1.0, 1.0, 5.0, 5.0]).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(correlation_ratio(&g, &[1.0, 5.0, 1.0, 5.0]), Some(0.0));
        assert_eq!(correlation_ratio(&[3, 3, 3], &[1.0, 2.0, 4.0]), Some(0.0));
        assert_eq!(correlation_ratio(&g, &[2.0; 4]), None);
        assert_eq!(correlation_ratio(&[], &[]), None);
        assert_eq!(correlation_ratio(&[1], &[1.0, 2.0]), None);
        assert_eq!(
            correlation_ratio(&g, &[1.0, f64::NAN, f64::NAN, f64::NAN]),
            None
        );
        assert_eq!(correlation_ratio(&g, &[1.0, f64::INFINITY, 2.0, 3.0]), None);
    }
}

//! Real against synthetic distribution of each column of a cell (Figure 4): about 20 bins over
//! the real values' 1st–99th percentile range for numeric columns (open-ended first and last
//! bins catch the tails), one bin per category otherwise (synthetic-only categories pooled as
//! "other"), and a `missing` bin when either side has missing cells.

use ehrsynth_table::{Column, Schema, Table};

use crate::results::FeatureDistribution;

/// Numeric columns with at most this many distinct real values are shown as categories.
const MAX_DISTINCT_AS_CATEGORIES: usize = 12;
/// Bins of a numeric column.
const NUMERIC_BINS: usize = 20;

fn shares(counts: &[usize]) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

fn sorted_values(column: &Column) -> Vec<f64> {
    let mut v: Vec<f64> = (0..column.len())
        .filter_map(|i| column.get_f64(i))
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn short(x: f64) -> String {
    ehrsynth_llm::context::significant(x)
}

/// Bins of a numeric column: edges over the real 1st–99th percentiles.
fn numeric_bins(
    real: &Column,
    synthetic: &Column,
) -> Option<(Vec<String>, Vec<usize>, Vec<usize>)> {
    let sorted = sorted_values(real);
    if sorted.is_empty() {
        return None;
    }
    let (lo, hi) = (percentile(&sorted, 0.01), percentile(&sorted, 0.99));
    if hi <= lo {
        return None;
    }
    let width = (hi - lo) / NUMERIC_BINS as f64;
    let edges: Vec<f64> = (0..=NUMERIC_BINS).map(|i| lo + width * i as f64).collect();
    let labels: Vec<String> = (0..NUMERIC_BINS)
        .map(|b| match b {
            0 => format!("< {}", short(edges[1])),
            b if b + 1 == NUMERIC_BINS => format!(">= {}", short(edges[b])),
            b => format!("[{}, {})", short(edges[b]), short(edges[b + 1])),
        })
        .collect();
    let bin = |x: f64| (((x - lo) / width).floor().max(0.0) as usize).min(NUMERIC_BINS - 1);
    let count = |c: &Column| {
        let mut counts = vec![0; NUMERIC_BINS];
        for i in 0..c.len() {
            if let Some(x) = c.get_f64(i).filter(|x| x.is_finite()) {
                counts[bin(x)] += 1;
            }
        }
        counts
    };
    Some((labels, count(real), count(synthetic)))
}

/// Bins of a categorical (or few-valued) column: real categories by real frequency, then "other".
fn category_bins(real: &Column, synthetic: &Column) -> (Vec<String>, Vec<usize>, Vec<usize>) {
    let mut real_counts: Vec<(String, usize)> = Vec::new();
    for i in (0..real.len()).filter(|&i| !real.is_missing(i)) {
        let v = real.value(i).to_string();
        match real_counts.iter_mut().find(|(k, _)| *k == v) {
            Some(entry) => entry.1 += 1,
            None => real_counts.push((v, 1)),
        }
    }
    real_counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut labels: Vec<String> = real_counts.iter().map(|(k, _)| k.clone()).collect();
    let mut synthetic_counts = vec![0; labels.len()];
    let mut other = 0;
    for i in (0..synthetic.len()).filter(|&i| !synthetic.is_missing(i)) {
        let v = synthetic.value(i).to_string();
        match labels
            .iter()
            .position(|k| ehrsynth_table::cell::same_value(k, &v))
        {
            Some(p) => synthetic_counts[p] += 1,
            None => other += 1,
        }
    }
    let mut real_counts: Vec<usize> = real_counts.into_iter().map(|(_, c)| c).collect();
    if other > 0 {
        labels.push("other".into());
        real_counts.push(0);
        synthetic_counts.push(other);
    }
    (labels, real_counts, synthetic_counts)
}

fn distinct_at_most(column: &Column, limit: usize) -> bool {
    let mut seen: Vec<String> = Vec::new();
    for i in (0..column.len()).filter(|&i| !column.is_missing(i)) {
        let v = column.value(i).to_string();
        if !seen.contains(&v) {
            if seen.len() == limit {
                return false;
            }
            seen.push(v);
        }
    }
    true
}

/// The distribution of one column, real (training rows) against synthetic.
pub fn distribution(
    name: &str,
    kind: &str,
    real: &Column,
    synthetic: &Column,
) -> FeatureDistribution {
    let few_values = distinct_at_most(real, MAX_DISTINCT_AS_CATEGORIES);
    let numeric = matches!(kind, "numeric" | "continuous" | "integer");
    let (mut bins, mut r, mut s) = match (numeric && !few_values)
        .then(|| numeric_bins(real, synthetic))
        .flatten()
    {
        Some(binned) => binned,
        None => category_bins(real, synthetic),
    };
    let (real_missing, synthetic_missing) = (real.missing_count(), synthetic.missing_count());
    if real_missing + synthetic_missing > 0 {
        bins.push("missing".into());
        r.push(real_missing);
        s.push(synthetic_missing);
    }
    FeatureDistribution {
        name: name.to_string(),
        kind: kind.to_string(),
        bins,
        real: shares(&r),
        synthetic: shares(&s),
    }
}

/// Distributions of every schema column present in both tables (ids left out).
pub fn distributions(schema: &Schema, real: &Table, synthetic: &Table) -> Vec<FeatureDistribution> {
    schema
        .columns()
        .iter()
        .filter(|c| c.role != ehrsynth_table::Role::Id)
        .filter_map(|c| {
            let (r, s) = (real.column(&c.name)?, synthetic.column(&c.name)?);
            Some(distribution(&c.name, c.kind.as_str(), r, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_bins_cover_real_and_synthetic_tails_and_missing() {
        let real: Vec<Option<f64>> = (0..1000).map(|i| Some(i as f64 / 10.0)).collect();
        let mut synth: Vec<Option<f64>> = vec![Some(-50.0), Some(500.0), None];
        synth.extend((0..97).map(|i| Some(i as f64)));
        let d = distribution(
            "x",
            "numeric",
            &Column::continuous("x", &real),
            &Column::continuous("x", &synth),
        );
        assert_eq!(d.bins.len(), NUMERIC_BINS + 1);
        assert_eq!(d.bins.last().map(String::as_str), Some("missing"));
        assert!((d.real.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((d.synthetic.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(d.real[NUMERIC_BINS], 0.0);
        assert!((d.synthetic[NUMERIC_BINS] - 0.01).abs() < 1e-9);
        // -50 falls in the open first bin, 500 in the open last bin.
        assert!(d.synthetic[0] >= 0.01 && d.synthetic[NUMERIC_BINS - 1] >= 0.01);
        assert!(d.bins[0].starts_with("< ") && d.bins[NUMERIC_BINS - 1].starts_with(">= "));
    }

    #[test]
    fn categories_keep_real_order_and_pool_unknown_synthetic_values() {
        let real = Column::categorical("c", &[Some("a"), Some("a"), Some("b")]);
        let synth = Column::categorical("c", &[Some("b"), Some("z"), Some("a"), Some("a")]);
        let d = distribution("c", "categorical", &real, &synth);
        assert_eq!(d.bins, vec!["a", "b", "other"]);
        assert_eq!(d.synthetic, vec![0.5, 0.25, 0.25]);
        assert!((d.real[0] - 2.0 / 3.0).abs() < 1e-12);
    }
}

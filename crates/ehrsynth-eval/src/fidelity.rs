//! Fidelity: how closely the synthetic table's marginals and dependencies follow the real
//! training table's, whether its values respect the schema, whether a classifier can tell the two
//! apart, and how many rows are plain copies. docs/metrics.md gives every formula.

use std::collections::HashMap;

use ehrsynth_table::validate::validate_value;
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Table};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::stats;

/// Quantile bins of the real data used by the continuous KL estimator.
pub const KL_BINS: usize = 20;
/// Pseudo-count added to every bin (real and synthetic) so KL stays finite.
pub const KL_ALPHA: f64 = 0.5;

/// Fidelity of one column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureFidelity {
    /// Column name.
    pub name: String,
    /// Column kind.
    pub kind: String,
    /// KL(P_real || Q_synthetic) of the binned marginal, missing values as their own bin (0 = same, larger = worse).
    pub kl: Option<f64>,
    /// Two-sample Kolmogorov–Smirnov statistic on present values (numeric columns; 0 = same, 1 = disjoint).
    pub ks_statistic: Option<f64>,
    /// Asymptotic p-value of the KS statistic (small = distributions differ).
    pub ks_pvalue: Option<f64>,
    /// sdmetrics' KSComplement = 1 − KS statistic (1 = same).
    pub ks_complement: Option<f64>,
    /// Wasserstein-1 distance in the column's unit (numeric columns; 0 = same).
    pub wasserstein: Option<f64>,
    /// Wasserstein-1 divided by the real column's interquartile range (or range when the IQR is 0).
    pub wasserstein_iqr: Option<f64>,
    /// Total variation distance of category frequencies (binary and categorical; 0 = same, 1 = disjoint).
    pub tvd: Option<f64>,
    /// sdmetrics' TVComplement = 1 − TVD.
    pub tv_complement: Option<f64>,
    /// Jensen–Shannon divergence, base 2, of category frequencies (0 = same, 1 = disjoint).
    pub js: Option<f64>,
    /// Synthetic minus real share of missing cells.
    pub missing_rate_difference: f64,
    /// Share of the synthetic column's cells that break the schema (range, category, kind, missing).
    pub out_of_range_share: f64,
    /// Real mean and synthetic mean (numeric columns).
    pub real_mean: Option<f64>,
    /// Synthetic mean.
    pub synthetic_mean: Option<f64>,
    /// The synthetic table has no such column: scored as a total miss (KS and TVD 1, KL of an
    /// all-missing column).
    #[serde(default)]
    pub absent_from_synthetic: bool,
    /// The real column holds at most one distinct value: a generator that repeats it scores a
    /// perfect match that says nothing, so the column is left out of the fidelity means.
    #[serde(default)]
    pub constant_in_real: bool,
}

/// One pair of columns' association in real and synthetic data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairAssociation {
    /// First column.
    pub a: String,
    /// Second column.
    pub b: String,
    /// `pearson` (numeric pairs), `cramers_v` (categorical pairs) or `correlation_ratio` (mixed).
    pub measure: String,
    /// Association in the real data.
    pub real: Option<f64>,
    /// Association in the synthetic data.
    pub synthetic: Option<f64>,
    /// Spearman correlation in the real data (numeric pairs).
    pub real_spearman: Option<f64>,
    /// Spearman correlation in the synthetic data (numeric pairs).
    pub synthetic_spearman: Option<f64>,
}

impl FidelityReport {
    /// Whether the synthetic rows copy training rows more often than real holdout rows happen
    /// to match one: a one-sided binomial test (p < 0.005, normal approximation) of the exact
    /// copy share over `synthetic_rows` against its baseline (0 when unknown: any copy counts).
    pub fn copies_beyond_chance(&self, synthetic_rows: usize) -> bool {
        let b = self.exact_copy_share_baseline.unwrap_or(0.0);
        let n = synthetic_rows.max(1) as f64;
        let spread = (b * (1.0 - b) / n).sqrt();
        self.exact_copy_share > b + crate::privacy::SIGNIFICANT_Z * spread
    }
}

/// The marginal means of a set of per-feature results: KL, KS and TVD over the columns that
/// vary in the real rows (a constant column's perfect match says nothing), the out-of-schema
/// share over all of them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MarginalMeans {
    /// Mean KL.
    pub kl: Option<f64>,
    /// Mean KS statistic.
    pub ks: Option<f64>,
    /// Mean TVD.
    pub tvd: Option<f64>,
    /// Mean out-of-schema share (0 without features).
    pub out_of_range: f64,
}

impl MarginalMeans {
    /// The means of `features`.
    pub fn of(features: &[FeatureFidelity]) -> Self {
        let informative = || features.iter().filter(|f| !f.constant_in_real);
        let mean =
            |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
        Self {
            kl: mean(informative().filter_map(|f| f.kl).collect()),
            ks: mean(informative().filter_map(|f| f.ks_statistic).collect()),
            tvd: mean(informative().filter_map(|f| f.tvd).collect()),
            out_of_range: mean(features.iter().map(|f| f.out_of_range_share).collect())
                .unwrap_or(0.0),
        }
    }
}

/// The fidelity section of the audit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FidelityReport {
    /// Mean KL over the features that have one (the paper's fidelity figure; lower is better).
    pub kl_mean: Option<f64>,
    /// Mean KS statistic over numeric features.
    pub ks_mean: Option<f64>,
    /// Mean TVD over binary and categorical features.
    pub tvd_mean: Option<f64>,
    /// Mean share of out-of-schema cells.
    pub out_of_range_share: f64,
    /// Mean absolute difference of the association matrices (Pearson / Cramér's V / correlation
    /// ratio per pair; 0 = same dependence structure).
    pub correlation_mae: Option<f64>,
    /// Mean absolute difference of Spearman correlations over numeric pairs.
    pub spearman_mae: Option<f64>,
    /// Cross-validated AUROC of a classifier telling real from synthetic rows, equal rows kept
    /// in one fold, floored at 0.5 (0.5 = indistinguishable, 1 = obvious).
    pub detection_auroc: Option<f64>,
    /// The same AUROC before the floor (below 0.5 only by noise).
    #[serde(default)]
    pub detection_auroc_raw: Option<f64>,
    /// Share of synthetic rows identical to a real training row on every audited column.
    pub exact_copy_share: f64,
    /// The same share for the real holdout rows: how often a patient the generator never saw
    /// matches a training row on every audited column (its baseline; `None` without holdout
    /// rows). In tables of few distinct values it is far from 0.
    #[serde(default)]
    pub exact_copy_share_baseline: Option<f64>,
    /// Share of synthetic rows that repeat another synthetic row.
    pub duplicate_share: f64,
    /// Per-feature results.
    pub features: Vec<FeatureFidelity>,
    /// Per-pair associations.
    pub pairs: Vec<PairAssociation>,
    /// Schema columns the synthetic table lacks (each in `features` as a total miss).
    #[serde(default)]
    pub missing_columns: Vec<String>,
    /// Synthetic columns the schema does not know (not audited).
    #[serde(default)]
    pub extra_columns: Vec<String>,
    /// Each of the schema's constraints (one-hot sets, orders) over the audited columns: the
    /// synthetic rows that break it (real rows break none).
    #[serde(default)]
    pub constraints: Vec<ehrsynth_table::constraint::ConstraintCount>,
}

fn present(column: &Column) -> Vec<f64> {
    (0..column.len())
        .filter_map(|i| column.get_f64(i))
        .collect()
}

fn distinct_present(column: &Column) -> usize {
    let mut values: Vec<u64> = present(column).iter().map(|x| x.to_bits()).collect();
    values.sort_unstable();
    values.dedup();
    values.len()
}

fn missing_rate(column: &Column) -> f64 {
    if column.is_empty() {
        0.0
    } else {
        column.missing_count() as f64 / column.len() as f64
    }
}

fn mean_of(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Counts of each category (by cell text) plus a final missing bin, over the union of categories.
fn category_counts(real: &Column, synthetic: &Column) -> (Vec<f64>, Vec<f64>) {
    let mut index: HashMap<String, usize> = HashMap::new();
    let label = |c: &Column, i: usize, index: &mut HashMap<String, usize>| {
        let key = c.value(i).to_string();
        let next = index.len();
        *index.entry(key).or_insert(next)
    };
    let real_codes: Vec<Option<usize>> = (0..real.len())
        .map(|i| (!real.is_missing(i)).then(|| label(real, i, &mut index)))
        .collect();
    let syn_codes: Vec<Option<usize>> = (0..synthetic.len())
        .map(|i| (!synthetic.is_missing(i)).then(|| label(synthetic, i, &mut index)))
        .collect();
    let bins = index.len() + 1;
    let count = |codes: &[Option<usize>]| {
        let mut counts = vec![0.0; bins];
        for c in codes {
            counts[c.unwrap_or(bins - 1)] += 1.0;
        }
        counts
    };
    (count(&real_codes), count(&syn_codes))
}

/// Counts per real-quantile bin plus a final missing bin.
fn binned_counts(real: &Column, synthetic: &Column) -> (Vec<f64>, Vec<f64>) {
    let (real_values, syn_values) = (present(real), present(synthetic));
    let (mut p, mut q) =
        stats::binned_counts(&real_values, &syn_values, KL_BINS).unwrap_or_else(|| {
            (
                vec![real_values.len() as f64],
                vec![syn_values.len() as f64],
            )
        });
    p.push(real.missing_count() as f64);
    q.push(synthetic.missing_count() as f64);
    (p, q)
}

/// The interquartile range, or the range when the IQR is 0, or `None` for a constant column.
fn iqr_or_range(xs: &[f64]) -> Option<f64> {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let iqr = stats::quantile_linear_sorted(&sorted, 0.75)?
        - stats::quantile_linear_sorted(&sorted, 0.25)?;
    let range = sorted.last()? - sorted.first()?;
    [iqr, range].into_iter().find(|&v| v > 0.0)
}

/// Average ranks of the present values, NaN where missing.
fn ranks_with_missing(values: &[f64]) -> Vec<f64> {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let mut ranks = stats::ranks_average(&present).into_iter();
    values
        .iter()
        .map(|v| {
            if v.is_nan() {
                f64::NAN
            } else {
                ranks.next().unwrap_or(f64::NAN)
            }
        })
        .collect()
}

/// The binned (or per-category) counts of one column in both tables, missing cells last.
/// Integer columns with few values are compared value by value: quantile bins would merge them.
fn marginal_counts(spec: &ColumnSpec, real: &Column, synthetic: &Column) -> (Vec<f64>, Vec<f64>) {
    let binned = spec.kind == ColumnKind::Continuous
        || (spec.kind == ColumnKind::Integer && distinct_present(real) > KL_BINS);
    if binned {
        binned_counts(real, synthetic)
    } else {
        category_counts(real, synthetic)
    }
}

/// Only the KL of one column (what fairness needs per group).
pub fn feature_kl(spec: &ColumnSpec, real: &Column, synthetic: &Column) -> Option<f64> {
    let (p, q) = marginal_counts(spec, real, synthetic);
    stats::kl_from_counts(&p, &q, KL_ALPHA)
}

/// The fidelity of one column.
pub fn feature_fidelity(spec: &ColumnSpec, real: &Column, synthetic: &Column) -> FeatureFidelity {
    let numeric = matches!(spec.kind, ColumnKind::Continuous | ColumnKind::Integer);
    let (real_values, syn_values) = if spec.kind.is_numeric() {
        (present(real), present(synthetic))
    } else {
        (vec![], vec![])
    };
    let (p, q) = marginal_counts(spec, real, synthetic);
    let ks = if numeric {
        stats::ks_2samp(&real_values, &syn_values)
    } else {
        None
    };
    let wasserstein = if numeric {
        stats::wasserstein_1d(&real_values, &syn_values)
    } else {
        None
    };
    let (tvd, js) = if numeric {
        (None, None)
    } else {
        // Binary and categorical counts are per category; missing is not one for TVD/JS.
        let (cp, cq) = (&p[..p.len() - 1], &q[..q.len() - 1]);
        (stats::tvd(cp, cq), stats::js_divergence(cp, cq))
    };
    let bad = (0..synthetic.len())
        .filter(|&i| validate_value(spec, synthetic.value(i)).is_some())
        .count();
    FeatureFidelity {
        name: spec.name.clone(),
        kind: spec.kind.as_str().to_string(),
        kl: stats::kl_from_counts(&p, &q, KL_ALPHA),
        ks_statistic: ks.map(|k| k.statistic),
        ks_pvalue: ks.map(|k| k.pvalue),
        ks_complement: ks.map(|k| 1.0 - k.statistic),
        wasserstein,
        wasserstein_iqr: wasserstein.and_then(|w| iqr_or_range(&real_values).map(|s| w / s)),
        tvd,
        tv_complement: tvd.map(|t| 1.0 - t),
        js,
        missing_rate_difference: missing_rate(synthetic) - missing_rate(real),
        out_of_range_share: if synthetic.is_empty() {
            0.0
        } else {
            bad as f64 / synthetic.len() as f64
        },
        real_mean: mean_of(&real_values),
        synthetic_mean: mean_of(&syn_values),
        absent_from_synthetic: false,
        constant_in_real: is_constant(real),
    }
}

/// The fidelity of a site (hospital) column: its values are labels, not quantities, so it is
/// compared as categories (TVD, JS, KL per site), never with KS or Wasserstein.
pub fn site_fidelity(spec: &ColumnSpec, real: &Column, synthetic: &Column) -> FeatureFidelity {
    let mut fidelity = feature_fidelity(spec, real, synthetic);
    let (p, q) = category_counts(real, synthetic);
    let (cp, cq) = (&p[..p.len() - 1], &q[..q.len() - 1]);
    fidelity.kl = stats::kl_from_counts(&p, &q, KL_ALPHA);
    fidelity.tvd = stats::tvd(cp, cq);
    fidelity.tv_complement = fidelity.tvd.map(|t| 1.0 - t);
    fidelity.js = stats::js_divergence(cp, cq);
    fidelity.ks_statistic = None;
    fidelity.ks_pvalue = None;
    fidelity.ks_complement = None;
    fidelity.wasserstein = None;
    fidelity.wasserstein_iqr = None;
    fidelity.real_mean = None;
    fidelity.synthetic_mean = None;
    fidelity
}

/// Whether a column holds at most one distinct present value (all-missing included).
fn is_constant(column: &Column) -> bool {
    column.missing_count() == column.len() || ehrsynth_table::profile::is_constant(column)
}

/// The fidelity of a column the synthetic table lacks: a total miss. Its KL is that of a
/// synthetic column with every cell missing; KS and TVD take their worst value, 1.
pub fn absent_feature_fidelity(spec: &ColumnSpec, real: &Column, rows: usize) -> FeatureFidelity {
    let name = spec.name.as_str();
    let empty = match spec.kind {
        ColumnKind::Continuous => Column::continuous(name, &vec![None; rows]),
        ColumnKind::Integer => Column::integer(name, &vec![None; rows]),
        ColumnKind::Binary => Column::binary(name, &vec![None; rows]),
        ColumnKind::Categorical => Column::categorical::<&str>(name, &vec![None; rows]),
    };
    let mut fidelity = feature_fidelity(spec, real, &empty);
    if matches!(spec.kind, ColumnKind::Continuous | ColumnKind::Integer) {
        fidelity.ks_statistic = Some(1.0);
        fidelity.ks_complement = Some(0.0);
    } else {
        fidelity.tvd = Some(1.0);
        fidelity.tv_complement = Some(0.0);
    }
    fidelity.absent_from_synthetic = true;
    fidelity
}

/// Column values prepared once for the pairwise associations. Numeric values and ranks are
/// centred on their column mean (NaN = missing) so one-pass sums stay accurate.
enum Prepared {
    Numeric { values: Vec<f64>, ranks: Vec<f64> },
    Categorical { codes: Vec<u32> },
}

fn centred(values: Vec<f64>) -> Vec<f64> {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let mean = mean_of(&present).unwrap_or(0.0);
    values.into_iter().map(|v| v - mean).collect()
}

/// Pearson's r on the rows where both sides are present (pairwise complete), in one pass
/// without allocating; `None` with fewer than 3 such rows or a constant side.
fn pearson_complete(x: &[f64], y: &[f64]) -> Option<f64> {
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        if a.is_nan() || b.is_nan() {
            continue;
        }
        n += 1.0;
        sx += a;
        sy += b;
        sxx += a * a;
        syy += b * b;
        sxy += a * b;
    }
    if n < 3.0 {
        return None;
    }
    let cov = sxy - sx * sy / n;
    let (vx, vy) = (sxx - sx * sx / n, syy - sy * sy / n);
    let scale = (sxx.max(syy)).max(f64::MIN_POSITIVE);
    if vx <= 1e-12 * scale || vy <= 1e-12 * scale {
        return None;
    }
    Some((cov / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0))
}

const MISSING_CODE: u32 = u32::MAX;

fn prepare(column: &Column, kind: ColumnKind) -> Prepared {
    if kind == ColumnKind::Categorical {
        let mut index: HashMap<String, u32> = HashMap::new();
        let codes = (0..column.len())
            .map(|i| {
                if column.is_missing(i) {
                    MISSING_CODE
                } else {
                    let next = index.len() as u32;
                    *index.entry(column.value(i).to_string()).or_insert(next)
                }
            })
            .collect();
        Prepared::Categorical { codes }
    } else {
        let values: Vec<f64> = (0..column.len())
            .map(|i| column.get_f64(i).unwrap_or(f64::NAN))
            .collect();
        let ranks = centred(ranks_with_missing(&values));
        Prepared::Numeric {
            values: centred(values),
            ranks,
        }
    }
}

/// (measure name, association, spearman) of one pair.
fn associate(a: &Prepared, b: &Prepared) -> (&'static str, Option<f64>, Option<f64>) {
    fn complete_codes(x: &[u32], y: &[u32]) -> (Vec<u32>, Vec<u32>) {
        x.iter()
            .zip(y)
            .filter(|(a, b)| **a != MISSING_CODE && **b != MISSING_CODE)
            .map(|(a, b)| (*a, *b))
            .unzip()
    }
    fn mixed(codes: &[u32], values: &[f64]) -> Option<f64> {
        let (c, v): (Vec<u32>, Vec<f64>) = codes
            .iter()
            .zip(values)
            .filter(|(c, v)| **c != MISSING_CODE && !v.is_nan())
            .map(|(c, v)| (*c, *v))
            .unzip();
        stats::correlation_ratio(&c, &v)
    }
    match (a, b) {
        (
            Prepared::Numeric {
                values: x,
                ranks: rx,
            },
            Prepared::Numeric {
                values: y,
                ranks: ry,
            },
        ) => ("pearson", pearson_complete(x, y), pearson_complete(rx, ry)),
        (Prepared::Categorical { codes: x }, Prepared::Categorical { codes: y }) => {
            let (x, y) = complete_codes(x, y);
            ("cramers_v", stats::cramers_v(&x, &y), None)
        }
        (Prepared::Categorical { codes }, Prepared::Numeric { values, .. })
        | (Prepared::Numeric { values, .. }, Prepared::Categorical { codes }) => {
            ("correlation_ratio", mixed(codes, values), None)
        }
    }
}

/// Pearson (values) and Spearman (ranks) matrices of the numeric columns among some prepared ones.
struct NumericCorrelations {
    /// For each prepared column, its index among the numeric ones (`None` if categorical).
    slot: Vec<Option<usize>>,
    /// Pearson matrix, numeric × numeric, row-major.
    pearson: Vec<Option<f64>>,
    /// Spearman matrix, same layout.
    spearman: Vec<Option<f64>>,
}

fn numeric_correlations(prepared: &[Prepared]) -> NumericCorrelations {
    let mut slot = Vec::with_capacity(prepared.len());
    let (mut values, mut ranks): (Vec<&[f64]>, Vec<&[f64]>) = (Vec::new(), Vec::new());
    for p in prepared {
        match p {
            Prepared::Numeric {
                values: v,
                ranks: r,
            } => {
                slot.push(Some(values.len()));
                values.push(v);
                ranks.push(r);
            }
            Prepared::Categorical { .. } => slot.push(None),
        }
    }
    let (pearson, spearman) = rayon::join(
        || stats::pairwise_pearson_matrix(&values),
        || stats::pairwise_pearson_matrix(&ranks),
    );
    NumericCorrelations {
        slot,
        pearson,
        spearman,
    }
}

/// Associations of every pair of `specs` in both tables.
pub fn pair_associations(
    specs: &[&ColumnSpec],
    real: &Table,
    synthetic: &Table,
) -> Result<Vec<PairAssociation>, EvalError> {
    let prep = |t: &Table| -> Result<Vec<Prepared>, EvalError> {
        specs
            .par_iter()
            .map(|s| {
                t.column(&s.name)
                    .map(|c| prepare(c, s.kind))
                    .ok_or_else(|| EvalError::MissingColumn(s.name.clone()))
            })
            .collect()
    };
    let (real_prep, syn_prep) = (prep(real)?, prep(synthetic)?);
    let real_corr = numeric_correlations(&real_prep);
    let syn_corr = numeric_correlations(&syn_prep);
    let slot = &real_corr.slot;
    let numeric_count = slot.iter().flatten().count();
    let pairs: Vec<(usize, usize)> = (0..specs.len())
        .flat_map(|i| (i + 1..specs.len()).map(move |j| (i, j)))
        .collect();
    Ok(pairs
        .par_iter()
        .map(|&(i, j)| {
            let (measure, real_value, real_spearman, syn_value, syn_spearman) =
                match (slot[i], slot[j]) {
                    (Some(a), Some(b)) => {
                        let ab = a * numeric_count + b;
                        let (r, q) = (&real_corr, &syn_corr);
                        (
                            "pearson",
                            r.pearson[ab],
                            r.spearman[ab],
                            q.pearson[ab],
                            q.spearman[ab],
                        )
                    }
                    _ => {
                        let (measure, r, _) = associate(&real_prep[i], &real_prep[j]);
                        let (_, s, _) = associate(&syn_prep[i], &syn_prep[j]);
                        (measure, r, None, s, None)
                    }
                };
            PairAssociation {
                a: specs[i].name.clone(),
                b: specs[j].name.clone(),
                measure: measure.to_string(),
                real: real_value,
                synthetic: syn_value,
                real_spearman,
                synthetic_spearman: syn_spearman,
            }
        })
        .collect())
}

/// Mean absolute difference over pairs where both sides are defined.
pub fn mean_abs_difference(pairs: impl Iterator<Item = (Option<f64>, Option<f64>)>) -> Option<f64> {
    let diffs: Vec<f64> = pairs.filter_map(|(a, b)| Some((a? - b?).abs())).collect();
    mean_of(&diffs)
}

/// One 64-bit fingerprint per row over `columns` (FNV-1a over each cell's bits).
fn fingerprints(columns: &[&Column], rows: usize) -> Vec<u64> {
    (0..rows)
        .into_par_iter()
        .map(|i| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for c in columns {
                let bits = match c.value(i) {
                    ehrsynth_table::Value::Missing => 0x9e37_79b9_7f4a_7c15,
                    ehrsynth_table::Value::Category(s) => s
                        .bytes()
                        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b))),
                    v => v.as_f64().unwrap_or(0.0).to_bits(),
                };
                h = (h ^ bits).wrapping_mul(0x0100_0000_01b3);
            }
            h
        })
        .collect()
}

fn same_row(a: &[&Column], i: usize, b: &[&Column], j: usize) -> bool {
    a.iter().zip(b).all(|(x, y)| x.value(i) == y.value(j))
}

fn columns_of<'a>(table: &'a Table, names: &[&str]) -> Result<Vec<&'a Column>, EvalError> {
    names
        .iter()
        .map(|n| {
            table
                .column(n)
                .ok_or_else(|| EvalError::MissingColumn(n.to_string()))
        })
        .collect()
}

/// (exact-copy share, duplicate share) of the synthetic rows over `names`. Rows are matched by
/// fingerprint, then confirmed cell by cell.
pub fn copies(real: &Table, synthetic: &Table, names: &[&str]) -> Result<(f64, f64), EvalError> {
    let (rc, sc) = (columns_of(real, names)?, columns_of(synthetic, names)?);
    if synthetic.n_rows() == 0 {
        return Ok((0.0, 0.0));
    }
    let mut real_by_print: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, h) in fingerprints(&rc, real.n_rows()).into_iter().enumerate() {
        real_by_print.entry(h).or_default().push(i);
    }
    let syn_prints = fingerprints(&sc, synthetic.n_rows());
    let copies = (0..synthetic.n_rows())
        .into_par_iter()
        .filter(|&i| {
            real_by_print
                .get(&syn_prints[i])
                .is_some_and(|rows| rows.iter().any(|&j| same_row(&sc, i, &rc, j)))
        })
        .count();
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut duplicates = 0;
    for (i, h) in syn_prints.iter().enumerate() {
        let earlier = seen.entry(*h).or_default();
        if earlier.iter().any(|&j| same_row(&sc, i, &sc, j)) {
            duplicates += 1;
        } else {
            earlier.push(i);
        }
    }
    let n = synthetic.n_rows() as f64;
    Ok((copies as f64 / n, duplicates as f64 / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_columns_have_no_distance_and_bad_values_are_counted() {
        let mut spec = ColumnSpec::new("bili", ColumnKind::Continuous);
        spec.min = Some(0.2);
        let real = Column::continuous("bili", &[Some(0.5), Some(1.0), None, Some(3.0)]);
        let same = feature_fidelity(&spec, &real, &real);
        assert_eq!(same.ks_statistic, Some(0.0));
        assert_eq!(same.wasserstein, Some(0.0));
        assert!(same.kl.unwrap().abs() < 1e-12);
        let negative = Column::continuous("bili", &[Some(-1.0), Some(1.0), Some(2.0), None]);
        let f = feature_fidelity(&spec, &real, &negative);
        assert_eq!(f.out_of_range_share, 0.25);
        assert!(f.kl.unwrap() > 0.0);
    }

    #[test]
    fn matrix_correlations_match_the_pairwise_complete_loop() {
        let a = [1.0, 2.0, f64::NAN, 4.0, 5.0, 7.5, 3.0];
        let b = [2.0, 1.0, 3.0, f64::NAN, 6.0, 7.0, 2.5];
        let c = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        let r = stats::pairwise_pearson_matrix(&[&a, &b, &c]);
        let expected = stats::pearson(&a, &b).unwrap();
        assert!((r[1].unwrap() - expected).abs() < 1e-12);
        assert!((r[3].unwrap() - expected).abs() < 1e-12);
        assert!((pearson_complete(&a, &b).unwrap() - expected).abs() < 1e-12);
        assert_eq!(r[2], None); // constant column
        assert!((r[0].unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn copies_and_duplicates_are_counted_on_whole_rows() {
        let real = Table::new(vec![
            Column::integer("a", &[Some(1), Some(2)]),
            Column::integer("b", &[Some(1), None]),
        ])
        .unwrap();
        let syn = Table::new(vec![
            Column::integer("a", &[Some(1), Some(2), Some(2), Some(3)]),
            Column::integer("b", &[Some(1), Some(5), Some(5), None]),
        ])
        .unwrap();
        let (copy, dup) = copies(&real, &syn, &["a", "b"]).unwrap();
        assert_eq!((copy, dup), (0.25, 0.25));
    }
}

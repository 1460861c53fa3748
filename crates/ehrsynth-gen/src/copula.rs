//! Gaussian copula generator.
//!
//! Each column gets a marginal: an empirical quantile function for numeric columns (up to
//! [`KNOTS`] quantiles of the training values, linearly interpolated, so values stay inside the
//! observed range, then clipped to the schema's range and rounded for integers); category
//! frequencies for binary, categorical, group and site columns and for integers with few values.
//! Missingness is modelled jointly with the values: a column with some missing cells gets a
//! missing-indicator dimension inside the copula. Training values become normal scores (average
//! ranks for numbers; for discrete values the mean of the normal inside the value's probability
//! interval); their pairwise-complete correlations, corrected for the attenuation that discrete
//! scores cause (see [`latent_correlation`]), form the latent correlation matrix, repaired to
//! positive definite (eigenvalue floor 1e-6, unit diagonal) and factored.
//! Sampling draws correlated normals and maps them back through the marginals. A condition
//! (`is_female=1`, a hospital) fixes that column's normal score inside its category's interval
//! and moves the others by Gaussian conditioning, so the other columns follow the group.

use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Progress, Role, Schema, Table};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::generator::{
    GenError, Generator, SampleOptions, build_table, fit_to_spec, sample_in_blocks,
};
use crate::linalg::{cholesky, repair_correlation};
use crate::normal;
use crate::order_gaps::OrderGaps;
use ehrsynth_table::cell::same_value;

/// Quantile knots kept per numeric marginal.
pub const KNOTS: usize = 1001;
/// Integer columns with at most this many distinct values are modelled as categories.
pub const DISCRETE_INTEGER_LIMIT: usize = 50;

/// How one column's values are drawn from a uniform number.
#[derive(Debug, Clone)]
enum Marginal {
    /// Linear interpolation of quantile knots (`knots[k]` at probability k / (len − 1)).
    Quantiles(Vec<f64>),
    /// Values with cumulative probabilities (the last is 1).
    Discrete {
        values: Vec<String>,
        cumulative: Vec<f64>,
    },
    /// Every present value is this one.
    Constant(String),
    /// No present value in training: every cell is missing.
    AllMissing,
    /// An identifier: fresh sequential values.
    Identifier,
}

/// One column's model.
#[derive(Debug, Clone)]
struct ColumnModel {
    spec: ColumnSpec,
    marginal: Marginal,
    /// Latent dimension of the value, if it varies.
    value_dim: Option<usize>,
    /// Latent dimension of the missing indicator, if missingness varies.
    missing_dim: Option<usize>,
    /// Share of missing cells in training.
    missing_rate: f64,
}

#[derive(Debug, Clone)]
struct Fitted {
    /// The schema the copula was fitted with (its constraints included).
    schema: Schema,
    /// Ordered columns modelled as gaps above their lower bounds (see [`crate::order_gaps`]).
    gaps: OrderGaps,
    /// `schema` with gap columns in place of their values: what the marginals describe.
    encoded: Schema,
    columns: Vec<ColumnModel>,
    dims: usize,
    correlation: Vec<f64>,
    cholesky: Vec<f64>,
}

/// The Gaussian copula generator (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct GaussianCopula {
    fitted: Option<Fitted>,
}

impl GaussianCopula {
    /// An unfitted copula.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fitted latent correlation matrix (row-major) and its dimension.
    pub fn latent_correlation(&self) -> Option<(&[f64], usize)> {
        self.fitted
            .as_ref()
            .map(|f| (f.correlation.as_slice(), f.dims))
    }
}

fn cell_text(column: &Column, i: usize) -> Option<String> {
    (!column.is_missing(i)).then(|| column.value(i).to_string())
}

fn is_discrete(spec: &ColumnSpec, column: &Column) -> bool {
    if matches!(spec.kind, ColumnKind::Binary | ColumnKind::Categorical)
        || matches!(spec.role, Role::Group | Role::Site)
    {
        return true;
    }
    if spec.kind == ColumnKind::Integer {
        let mut values: Vec<i64> = (0..column.len())
            .filter_map(|i| column.get_f64(i))
            .map(|x| x as i64)
            .collect();
        values.sort_unstable();
        values.dedup();
        return values.len() <= DISCRETE_INTEGER_LIMIT;
    }
    false
}

/// Category frequencies in a stable order: numbers ascending, else the schema's categories, else text.
fn discrete_marginal(spec: &ColumnSpec, texts: &[String]) -> (Vec<String>, Vec<f64>) {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for t in texts {
        *counts.entry(t.clone()).or_insert(0) += 1;
    }
    let mut values: Vec<String> = counts.keys().cloned().collect();
    if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        values.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    } else if !spec.categories.is_empty() {
        values.sort_by_key(|v| {
            spec.categories
                .iter()
                .position(|c| c == v)
                .unwrap_or(usize::MAX)
        });
    }
    let total = texts.len() as f64;
    let mut acc = 0.0;
    let cumulative = values
        .iter()
        .map(|v| {
            acc += counts[v] as f64 / total;
            acc
        })
        .collect::<Vec<f64>>();
    let mut cumulative = cumulative;
    if let Some(last) = cumulative.last_mut() {
        *last = 1.0;
    }
    (values, cumulative)
}

/// Normal score of a discrete value: the mean of a standard normal inside the value's
/// probability interval, E[Z | Φ⁻¹(lo) < Z < Φ⁻¹(hi)] = (φ(a) − φ(b)) / (hi − lo).
fn discrete_score(cumulative: &[f64], index: usize) -> f64 {
    let lo = if index == 0 {
        0.0
    } else {
        cumulative[index - 1]
    };
    let hi = cumulative[index];
    let density = |p: f64| {
        if p <= 0.0 || p >= 1.0 {
            0.0
        } else {
            normal::pdf(normal::quantile(p))
        }
    };
    if hi - lo <= 0.0 {
        0.0
    } else {
        (density(lo) - density(hi)) / (hi - lo)
    }
}

/// The latent correlation matrix from the score columns (NaN = missing). The scores of a
/// discrete column are conditional means, whose correlation with a normal variable is the latent
/// correlation times their standard deviation; dividing each pairwise correlation by both
/// columns' score deviations undoes that attenuation (the polyserial correction, exact for a
/// discrete/continuous pair, first-order for two discrete columns), clipped to ±0.999.
fn latent_correlation(score_columns: &[Vec<f64>]) -> Vec<f64> {
    let dims = score_columns.len();
    let refs: Vec<&[f64]> = score_columns.iter().map(Vec::as_slice).collect();
    let pairwise = ehrsynth_table::stats::pairwise_pearson_matrix(&refs);
    let spread: Vec<f64> = score_columns
        .iter()
        .map(|c| {
            let present: Vec<f64> = c.iter().copied().filter(|v| !v.is_nan()).collect();
            let n = present.len().max(1) as f64;
            let mean = present.iter().sum::<f64>() / n;
            (present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect();
    (0..dims * dims)
        .map(|ij| {
            let (i, j) = (ij / dims, ij % dims);
            if i == j {
                return 1.0;
            }
            let scale = spread[i] * spread[j];
            match pairwise[ij] {
                Some(r) if scale > 1e-9 => (r / scale).clamp(-0.999, 0.999),
                _ => 0.0,
            }
        })
        .collect()
}

/// Quantile knots of sorted values.
fn knots(sorted: &[f64]) -> Vec<f64> {
    let k = KNOTS.min(sorted.len()).max(2);
    (0..k)
        .filter_map(|j| {
            ehrsynth_table::stats::quantile_linear_sorted(sorted, j as f64 / (k - 1) as f64)
        })
        .collect()
}

fn interpolate(knots: &[f64], u: f64) -> f64 {
    let pos = u.clamp(0.0, 1.0) * (knots.len() - 1) as f64;
    let lo = (pos.floor() as usize).min(knots.len() - 1);
    let hi = (lo + 1).min(knots.len() - 1);
    knots[lo] + (knots[hi] - knots[lo]) * (pos - lo as f64)
}

/// Normal scores of present numeric values from their average ranks (NaN where missing).
fn rank_scores(values: &[Option<f64>]) -> Vec<f64> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let ranks = ehrsynth_table::stats::ranks_average(&present);
    let n = present.len() as f64;
    let mut next = ranks.into_iter();
    values
        .iter()
        .map(|v| match v {
            Some(_) => normal::quantile(next.next().unwrap_or(0.5 * n) / (n + 1.0)),
            None => f64::NAN,
        })
        .collect()
}

/// Fits one column: its model and its latent score columns (value, missing indicator).
fn fit_column(
    spec: &ColumnSpec,
    column: &Column,
    dims: &mut usize,
) -> Result<(ColumnModel, Vec<Vec<f64>>), GenError> {
    let n = column.len();
    let missing_rate = if n == 0 {
        0.0
    } else {
        column.missing_count() as f64 / n as f64
    };
    let mut model = ColumnModel {
        spec: spec.clone(),
        marginal: Marginal::AllMissing,
        value_dim: None,
        missing_dim: None,
        missing_rate,
    };
    let mut scores = Vec::new();
    if spec.role == Role::Id {
        model.marginal = Marginal::Identifier;
        return Ok((model, scores));
    }
    let texts: Vec<Option<String>> = (0..n).map(|i| cell_text(column, i)).collect();
    let present: Vec<String> = texts.iter().flatten().cloned().collect();
    if present.is_empty() {
        if !spec.missing_allowed {
            return Err(GenError::Invalid(format!(
                "column '{}' is missing in every training row, but the schema does not allow missing values",
                spec.name
            )));
        }
        return Ok((model, scores));
    }
    if present.iter().all(|t| *t == present[0]) {
        model.marginal = Marginal::Constant(present[0].clone());
    } else if is_discrete(spec, column) {
        let (values, cumulative) = discrete_marginal(spec, &present);
        let index: std::collections::HashMap<&str, usize> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), i))
            .collect();
        scores.push(
            texts
                .iter()
                .map(|t| match t {
                    Some(t) => discrete_score(&cumulative, index[t.as_str()]),
                    None => f64::NAN,
                })
                .collect(),
        );
        model.marginal = Marginal::Discrete { values, cumulative };
        model.value_dim = Some(*dims);
        *dims += 1;
    } else {
        let numbers: Vec<Option<f64>> = (0..n).map(|i| column.get_f64(i)).collect();
        let mut sorted: Vec<f64> = numbers.iter().flatten().copied().collect();
        sorted.sort_by(f64::total_cmp);
        scores.push(rank_scores(&numbers));
        model.marginal = Marginal::Quantiles(knots(&sorted));
        model.value_dim = Some(*dims);
        *dims += 1;
    }
    if missing_rate > 0.0 && missing_rate < 1.0 && spec.missing_allowed {
        let cumulative = [1.0 - missing_rate, 1.0];
        scores.push(
            (0..n)
                .map(|i| discrete_score(&cumulative, usize::from(column.is_missing(i))))
                .collect(),
        );
        model.missing_dim = Some(*dims);
        *dims += 1;
    }
    Ok((model, scores))
}

impl Generator for GaussianCopula {
    fn name(&self) -> &str {
        "copula"
    }

    fn fit(
        &mut self,
        train: &Table,
        schema: &Schema,
        _seed: u64, // fitting is deterministic: no random step to seed
        progress: &dyn Progress,
    ) -> Result<(), GenError> {
        if train.n_rows() == 0 {
            return Err(GenError::Invalid("the training table has no rows".into()));
        }
        progress.start(
            "fitting the Gaussian copula",
            Some(schema.columns().len() as u64),
            "columns",
        );
        let coded = OrderGaps::code_training(schema, train, true)?;
        let (gaps, encoded, train) = (coded.gaps, coded.schema, coded.train);
        let mut dims = 0;
        let mut columns = Vec::new();
        let mut score_columns: Vec<Vec<f64>> = Vec::new();
        for spec in encoded.columns() {
            let column = train.require(&spec.name)?;
            let (model, scores) = fit_column(spec, column, &mut dims)?;
            columns.push(model);
            score_columns.extend(scores);
            progress.advance(1);
        }
        let raw = latent_correlation(&score_columns);
        let correlation = repair_correlation(&raw, dims, 1e-6);
        let cholesky = cholesky(&correlation, dims).ok_or_else(|| {
            GenError::Invalid("the copula's correlation matrix could not be factored".into())
        })?;
        progress.finish(&format!(
            "{} columns, {dims} latent dimensions",
            columns.len()
        ));
        self.fitted = Some(Fitted {
            schema: schema.clone(),
            gaps,
            encoded,
            columns,
            dims,
            correlation,
            cholesky,
        });
        Ok(())
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let fitted = self
            .fitted
            .as_ref()
            .ok_or_else(|| GenError::NotFitted("copula".into()))?;
        let condition = resolve_condition(fitted, options)?;
        progress.start(
            "sampling the Gaussian copula",
            Some(options.rows as u64),
            "rows",
        );
        let rows: Vec<Vec<Option<String>>> =
            sample_in_blocks(options.rows, options.seed, progress, |i, rng| {
                sample_row(fitted, condition.as_ref(), i, rng)
            });
        let sampled = build_table(&fitted.encoded, &rows)?;
        let (table, repaired) = fitted.gaps.finish(&fitted.schema, &sampled, options)?;
        progress.finish(&format!(
            "{} rows{}",
            rows.len(),
            crate::generator::repaired_note(repaired)
        ));
        Ok(table)
    }
}

/// A condition resolved to a latent dimension and a probability interval.
struct LatentCondition {
    column: usize,
    dim: Option<usize>,
    interval: (f64, f64),
    value: String,
}

fn resolve_condition(
    fitted: &Fitted,
    options: &SampleOptions,
) -> Result<Option<LatentCondition>, GenError> {
    let Some(condition) = &options.condition else {
        return Ok(None);
    };
    fitted
        .gaps
        .check_condition(&fitted.schema, &condition.column)?;
    let (index, model) = fitted
        .columns
        .iter()
        .enumerate()
        .find(|(_, m)| m.spec.name == condition.column)
        .ok_or_else(|| {
            GenError::Invalid(format!(
                "cannot condition on '{}': no such column in the fitted schema",
                condition.column
            ))
        })?;
    let never = || {
        GenError::Invalid(format!(
            "value '{}' never occurs in column '{}' of the training data",
            condition.value, condition.column
        ))
    };
    match &model.marginal {
        Marginal::Discrete { values, cumulative } => {
            let k = values
                .iter()
                .position(|v| *v == condition.value || same_value(v, &condition.value))
                .ok_or_else(never)?;
            let lo = if k == 0 { 0.0 } else { cumulative[k - 1] };
            Ok(Some(LatentCondition {
                column: index,
                dim: model.value_dim,
                interval: (lo, cumulative[k]),
                value: values[k].clone(),
            }))
        }
        Marginal::Constant(v) if *v == condition.value || same_value(v, &condition.value) => {
            Ok(Some(LatentCondition {
                column: index,
                dim: None,
                interval: (0.0, 1.0),
                value: v.clone(),
            }))
        }
        Marginal::Constant(_) => Err(never()),
        _ => Err(GenError::Invalid(format!(
            "column '{}' is continuous; conditions are for group, site or categorical columns",
            condition.column
        ))),
    }
}

/// Draws one row's cells (as text, `None` = missing).
fn sample_row(
    fitted: &Fitted,
    condition: Option<&LatentCondition>,
    row: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Option<String>> {
    let d = fitted.dims;
    let eps: Vec<f64> = (0..d).map(|_| normal::draw(rng)).collect();
    let mut z: Vec<f64> = (0..d)
        .map(|i| (0..=i).map(|k| fitted.cholesky[i * d + k] * eps[k]).sum())
        .collect();
    if let Some(cond) = condition
        && let Some(c) = cond.dim
    {
        // Gaussian conditioning: move z so that z_c lands inside the category's interval.
        let (lo, hi) = cond.interval;
        let target = normal::quantile(lo + (hi - lo) * rng.random::<f64>());
        let shift = target - z[c];
        for (i, zi) in z.iter_mut().enumerate() {
            *zi += fitted.correlation[i * d + c] * shift;
        }
    }
    fitted
        .columns
        .iter()
        .enumerate()
        .map(|(ci, m)| {
            if let Some(cond) = condition
                && cond.column == ci
            {
                return Some(cond.value.clone());
            }
            let missing = m
                .missing_dim
                .is_some_and(|md| normal::cdf(z[md]) > 1.0 - m.missing_rate);
            if missing {
                return None;
            }
            let u = m.value_dim.map_or(0.5, |vd| normal::cdf(z[vd]));
            match &m.marginal {
                Marginal::Identifier => Some((row + 1).to_string()),
                Marginal::AllMissing => None,
                Marginal::Constant(v) => Some(v.clone()),
                Marginal::Discrete { values, cumulative } => {
                    let k = cumulative.partition_point(|&c| c < u).min(values.len() - 1);
                    Some(values[k].clone())
                }
                Marginal::Quantiles(knots) => Some(format_number(&m.spec, interpolate(knots, u))),
            }
        })
        .collect()
}

/// A number clipped to the schema's range and rounded ([`fit_to_spec`]), as text.
fn format_number(spec: &ColumnSpec, x: f64) -> String {
    let x = fit_to_spec(spec, x);
    match spec.kind {
        ColumnKind::Integer | ColumnKind::Binary => format!("{}", x as i64),
        _ => format!("{x}"),
    }
}

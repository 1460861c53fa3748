//! Feature importance for the target: GBDT total gain (summed over a column's encoded parts) and
//! permutation importance (drop in holdout AUROC when the column is shuffled), on a seeded 80/20
//! stratified split of one table. Generators and studies take the ranked list (`top10.txt`).

use ehrsynth_table::{Role, Schema, Table};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encode::{Encoder, Matrix};
use crate::error::EvalError;
use crate::model::{Gbdt, GbdtParams};
use crate::stats::auroc;
use crate::utility::stratified_indices;

/// Shuffles per column for permutation importance.
pub const PERMUTATION_REPEATS: usize = 3;

/// One column's importance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureImportance {
    /// Column name.
    pub name: String,
    /// 1 = most important (by gain).
    pub rank: usize,
    /// Share of the model's total gain (sums to 1 over columns).
    pub gain_share: f64,
    /// Mean drop in holdout AUROC when the column is shuffled (larger = more important; can be < 0).
    pub permutation: f64,
    /// Whether the schema flags the column as known only after the outcome.
    pub known_after_outcome: bool,
}

/// The importance report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportanceReport {
    /// The target.
    pub target: String,
    /// Rows used to fit.
    pub train_rows: usize,
    /// Rows used for permutation importance.
    pub holdout_rows: usize,
    /// Holdout AUROC of the model.
    pub holdout_auroc: Option<f64>,
    /// Columns, most important first.
    pub features: Vec<FeatureImportance>,
}

fn permuted_auroc(
    model: &Gbdt,
    x: &Matrix,
    columns: &[usize],
    y: &[bool],
    seed: u64,
) -> Option<f64> {
    let mut shuffled = x.clone();
    let mut rows: Vec<usize> = (0..x.n_rows).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    for (dest, &src) in rows.iter().enumerate() {
        for &c in columns {
            shuffled.data[dest * x.n_cols + c] = x.data[src * x.n_cols + c];
        }
    }
    auroc(&model.predict_proba(&shuffled.data, shuffled.n_rows), y)
}

/// Ranks the feature columns of `table` (every column but the target, ids and the site) for
/// `target`, read as two classes (`positive` names the positive one where no rule does).
pub fn importance(
    table: &Table,
    schema: &Schema,
    target: &str,
    positive: Option<&str>,
    seed: u64,
) -> Result<ImportanceReport, EvalError> {
    let label_col = table
        .column(target)
        .ok_or_else(|| EvalError::MissingColumn(target.to_string()))?;
    let features: Vec<String> = schema
        .columns()
        .iter()
        .filter(|c| {
            c.name != target
                && !matches!(c.role, Role::Id | Role::Site)
                && table.column(&c.name).is_some()
        })
        .map(|c| c.name.clone())
        .collect();
    if features.is_empty() {
        return Err(EvalError::Invalid("no feature columns to rank".into()));
    }
    let classes = crate::target::BinaryTarget::infer(label_col, positive)?;
    let (rows, y): (Vec<usize>, Vec<bool>) = classes
        .labels(label_col, "data")?
        .into_iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|b| (i, b)))
        .unzip();
    let data = table.take(&rows);
    let (train_rows, test_rows) = stratified_indices(&y, 0.2, seed);
    let encoder = Encoder::fit(&data.take(&train_rows), &features)?;
    let x = encoder.model_matrix(&data)?;
    let (tx, hx) = (x.take(&train_rows), x.take(&test_rows));
    let ty: Vec<f32> = train_rows
        .iter()
        .map(|&i| if y[i] { 1.0 } else { 0.0 })
        .collect();
    let hy: Vec<bool> = test_rows.iter().map(|&i| y[i]).collect();
    let model = Gbdt::fit(
        &tx.data,
        tx.n_rows,
        tx.n_cols,
        &ty,
        &GbdtParams {
            seed,
            ..GbdtParams::default()
        },
    )
    .map_err(|e| EvalError::Invalid(format!("cannot fit the importance model: {e}")))?;
    let base = auroc(&model.predict_proba(&hx.data, hx.n_rows), &hy);
    let sources = encoder.source_of_outputs();
    let mut gain = vec![0.0; features.len()];
    for (g, &s) in model.gain_importance().iter().zip(&sources) {
        gain[s] += g;
    }
    let total: f64 = gain.iter().sum();
    let permutation: Vec<f64> = (0..features.len())
        .into_par_iter()
        .map(|f| {
            let columns: Vec<usize> = sources
                .iter()
                .enumerate()
                .filter(|(_, s)| **s == f)
                .map(|(c, _)| c)
                .collect();
            let drops: Vec<f64> = (0..PERMUTATION_REPEATS)
                .filter_map(|r| {
                    Some(
                        base?
                            - permuted_auroc(
                                &model,
                                &hx,
                                &columns,
                                &hy,
                                seed + 1 + (f * PERMUTATION_REPEATS + r) as u64,
                            )?,
                    )
                })
                .collect();
            if drops.is_empty() {
                0.0
            } else {
                drops.iter().sum::<f64>() / drops.len() as f64
            }
        })
        .collect();
    let mut ranked: Vec<FeatureImportance> = features
        .iter()
        .enumerate()
        .map(|(i, name)| FeatureImportance {
            name: name.clone(),
            rank: 0,
            gain_share: if total > 0.0 { gain[i] / total } else { 0.0 },
            permutation: permutation[i],
            known_after_outcome: schema.column(name).is_some_and(|c| c.known_after_outcome),
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.gain_share
            .total_cmp(&a.gain_share)
            .then(b.permutation.total_cmp(&a.permutation))
    });
    for (i, f) in ranked.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    Ok(ImportanceReport {
        target: target.to_string(),
        train_rows: train_rows.len(),
        holdout_rows: test_rows.len(),
        holdout_auroc: base,
        features: ranked,
    })
}

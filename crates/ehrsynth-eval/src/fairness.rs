//! Fairness across demographic groups: for each value of each group column, how well the
//! synthetic rows of that group match the real rows of that group (mean KL, the paper's Table 2),
//! how well the TSTR model ranks that group's real holdout patients (AUROC), and the gaps between
//! groups, including the equalised-odds difference of the TSTR model. Every group carries its
//! holdout counts and an AUROC interval; groups too small to judge are marked and left out of
//! the gaps.

use std::collections::BTreeSet;

use ehrsynth_table::{ColumnSpec, Table};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::fidelity::feature_kl;
use crate::stats::{auroc, bootstrap_auroc_ap};
use crate::utility::{BOOTSTRAP, MIN_JUDGED_ROWS, too_few_to_judge};

/// Seed of the per-group bootstrap (the intervals are a property of the rows, not the run).
const GROUP_BOOTSTRAP_SEED: u64 = 0x4752_4f55;

/// One group value's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupResult {
    /// The group column.
    pub column: String,
    /// The group value.
    pub value: String,
    /// Real training rows in the group.
    pub real_rows: usize,
    /// Synthetic rows in the group.
    pub synthetic_rows: usize,
    /// Real holdout rows in the group.
    pub holdout_rows: usize,
    /// Positive rows among them (with labels).
    #[serde(default)]
    pub holdout_positives: usize,
    /// Mean over features of KL(real group || synthetic group) (lower is better).
    pub kl_mean: Option<f64>,
    /// TSTR AUROC on the group's holdout rows.
    pub auroc: Option<f64>,
    /// Its 95% bootstrap interval.
    #[serde(default)]
    pub auroc_ci: Option<(f64, f64)>,
    /// Too few holdout rows or positives for the AUROC and rates, or too few real or synthetic
    /// rows for the KL (see [`crate::utility::too_few_to_judge`]): left out of the gaps.
    #[serde(default)]
    pub too_few: bool,
    /// True positive rate of the TSTR model at the audit threshold.
    pub tpr: Option<f64>,
    /// False positive rate at that threshold.
    pub fpr: Option<f64>,
}

/// Gaps between the values of one group column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupGap {
    /// The group column.
    pub column: String,
    /// Best minus worst group AUROC (0 = equal).
    pub auroc_gap: Option<f64>,
    /// Largest minus smallest group KL (0 = equal fidelity).
    pub kl_gap: Option<f64>,
    /// Equalised-odds difference: max(TPR gap, FPR gap) between groups (0 = equal).
    pub equalized_odds_difference: Option<f64>,
}

/// The fairness section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FairnessReport {
    /// Score threshold of the TSTR model: it flags as many holdout rows as the real training data's
    /// positive rate.
    pub threshold: Option<f64>,
    /// Per group value.
    pub groups: Vec<GroupResult>,
    /// Per group column.
    pub gaps: Vec<GroupGap>,
}

fn rows_with(table: &Table, column: &str, value: &str) -> Result<Vec<usize>, EvalError> {
    let c = table
        .column(column)
        .ok_or_else(|| EvalError::MissingColumn(column.to_string()))?;
    Ok((0..c.len())
        .filter(|&i| !c.is_missing(i) && c.value(i).to_string() == value)
        .collect())
}

fn values_of(table: &Table, column: &str) -> Result<BTreeSet<String>, EvalError> {
    let c = table
        .column(column)
        .ok_or_else(|| EvalError::MissingColumn(column.to_string()))?;
    Ok((0..c.len())
        .filter(|&i| !c.is_missing(i))
        .map(|i| c.value(i).to_string())
        .collect())
}

fn spread(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let xs: Vec<f64> = values.flatten().collect();
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    (xs.len() >= 2).then_some(max - min)
}

/// The threshold that flags the top `rate` share of `scores`.
pub fn threshold_for_rate(scores: &[f64], rate: f64) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = ((rate * scores.len() as f64).round() as usize).clamp(1, scores.len());
    Some(sorted[k - 1])
}

fn rates(pred: &[f64], y: &[bool], threshold: f64) -> (Option<f64>, Option<f64>) {
    let (mut tp, mut p, mut fp, mut n) = (0usize, 0usize, 0usize, 0usize);
    for (&s, &label) in pred.iter().zip(y) {
        let flagged = s >= threshold;
        if label {
            p += 1;
            tp += usize::from(flagged);
        } else {
            n += 1;
            fp += usize::from(flagged);
        }
    }
    (
        (p > 0).then(|| tp as f64 / p as f64),
        (n > 0).then(|| fp as f64 / n as f64),
    )
}

/// Inputs of the fairness audit.
pub struct FairnessInputs<'a> {
    /// The audited feature columns (KL is averaged over them).
    pub features: &'a [&'a ColumnSpec],
    /// Group columns.
    pub groups: &'a [String],
    /// Real training table.
    pub real: &'a Table,
    /// Synthetic table.
    pub synthetic: &'a Table,
    /// Real holdout table.
    pub holdout: &'a Table,
    /// TSTR predictions on the holdout rows (None when no model could be fitted).
    pub predictions: Option<&'a [f64]>,
    /// Holdout labels.
    pub labels: &'a [bool],
    /// Positive rate of the real training rows.
    pub positive_rate: f64,
}

/// The results of one value of one group column.
fn group_result(
    inputs: &FairnessInputs<'_>,
    real_features: &Table,
    syn_features: &Table,
    threshold: Option<f64>,
    column: &str,
    value: &str,
) -> Result<GroupResult, EvalError> {
    let real_rows = rows_with(inputs.real, column, value)?;
    let syn_rows = rows_with(inputs.synthetic, column, value)?;
    let hold_rows = rows_with(inputs.holdout, column, value)?;
    let (real_part, syn_part) = (real_features.take(&real_rows), syn_features.take(&syn_rows));
    let kls: Vec<f64> = inputs
        .features
        .iter()
        .filter(|s| s.name != column)
        .filter_map(|s| {
            let (r, q) = (real_part.column(&s.name)?, syn_part.column(&s.name)?);
            (!r.is_empty() && !q.is_empty())
                .then(|| feature_kl(s, r, q))
                .flatten()
        })
        .collect();
    let y: Vec<bool> = hold_rows.iter().map(|&i| inputs.labels[i]).collect();
    let positives = y.iter().filter(|&&b| b).count();
    let (auroc_value, auroc_ci, tpr, fpr) = match (inputs.predictions, threshold) {
        (Some(pred), Some(t)) => {
            let p: Vec<f64> = hold_rows.iter().map(|&i| pred[i]).collect();
            let (tpr, fpr) = rates(&p, &y, t);
            let (ci, _) = bootstrap_auroc_ap(&p, &y, BOOTSTRAP, GROUP_BOOTSTRAP_SEED, 0.95);
            (auroc(&p, &y), ci, tpr, fpr)
        }
        _ => (None, None, None, None),
    };
    let too_few = too_few_to_judge(hold_rows.len(), positives)
        || real_rows.len() < MIN_JUDGED_ROWS
        || syn_rows.len() < MIN_JUDGED_ROWS;
    Ok(GroupResult {
        column: column.to_string(),
        value: value.to_string(),
        real_rows: real_rows.len(),
        synthetic_rows: syn_rows.len(),
        holdout_rows: hold_rows.len(),
        holdout_positives: positives,
        kl_mean: (!kls.is_empty()).then(|| kls.iter().sum::<f64>() / kls.len() as f64),
        auroc: auroc_value,
        auroc_ci,
        too_few,
        tpr,
        fpr,
    })
}

/// The fairness audit.
pub fn fairness(inputs: &FairnessInputs<'_>) -> Result<FairnessReport, EvalError> {
    let threshold = inputs
        .predictions
        .and_then(|p| threshold_for_rate(p, inputs.positive_rate));
    let mut gaps = Vec::new();
    let feature_names: Vec<&str> = inputs.features.iter().map(|s| s.name.as_str()).collect();
    let (real_features, syn_features) = (
        inputs.real.select(&feature_names)?,
        inputs.synthetic.select(&feature_names)?,
    );
    let mut tasks: Vec<(&String, String)> = Vec::new();
    for column in inputs.groups {
        let mut values = values_of(inputs.real, column)?;
        values.extend(values_of(inputs.synthetic, column)?);
        tasks.extend(values.into_iter().map(|v| (column, v)));
    }
    let groups: Vec<GroupResult> = tasks
        .par_iter()
        .map(|(column, value)| {
            group_result(
                inputs,
                &real_features,
                &syn_features,
                threshold,
                column,
                value,
            )
        })
        .collect::<Result<_, _>>()?;
    for column in inputs.groups {
        // Groups too small to judge would make the gaps (a 2-row group's AUROC of 1.0 or 0.0).
        let results: Vec<&GroupResult> = groups
            .iter()
            .filter(|g| g.column == *column && !g.too_few)
            .collect();
        let eod = match (
            spread(results.iter().map(|r| r.tpr)),
            spread(results.iter().map(|r| r.fpr)),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        gaps.push(GroupGap {
            column: column.clone(),
            auroc_gap: spread(results.iter().map(|r| r.auroc)),
            kl_gap: spread(results.iter().map(|r| r.kl_mean)),
            equalized_odds_difference: eod,
        });
    }
    Ok(FairnessReport {
        threshold,
        groups,
        gaps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_flag_the_requested_share() {
        let scores = [0.1, 0.9, 0.5, 0.7, 0.3];
        assert_eq!(threshold_for_rate(&scores, 0.4), Some(0.7));
        assert_eq!(
            rates(&scores, &[false, true, false, true, false], 0.7),
            (Some(1.0), Some(0.0))
        );
        assert_eq!(threshold_for_rate(&[], 0.5), None);
    }
}

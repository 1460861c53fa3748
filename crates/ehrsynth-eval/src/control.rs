//! The control: the audit's headline figures for real rows the generator never saw, passed as if
//! they were the synthetic table. A perfect generator writes rows like these, so each figure of
//! the control is the ideal a generator can reach on this table at this size (for TSTR, what real
//! rows of that number give; a generator fitted on more real rows can exceed it): a KL of 0.02 is
//! good if the control reads 0.02 and poor if it reads 0.001; an exact-copy share of 25% is no
//! leak when 25% of real patients also match a training row.
//!
//! The real holdout is split in two (seeded): as many rows as the synthetic table has (at most
//! half the holdout) stand in for the synthetic table, the rest are the non-members of its
//! privacy figures and the test rows of its utility figure. The control's figures come from the
//! same functions as the synthetic table's.
//!
//! Not here: the per-feature tables, fairness (groups of half a holdout are mostly too small to
//! judge) and the logistic model.

use ehrsynth_table::{ColumnSpec, Table};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::audit::{labelled_rows, labels};
use crate::encode::{Encoder, Matrix};
use crate::error::EvalError;
use crate::fidelity::{
    MarginalMeans, copies, feature_fidelity, mean_abs_difference, pair_associations, site_fidelity,
};
use crate::privacy::privacy;
use crate::target::BinaryTarget;
use crate::utility::{Labelled, ModelKind, Scores, train_and_test};

/// Fewest holdout rows the control needs: some to pass as synthetic, some to compare them with.
pub const MIN_CONTROL_HOLDOUT: usize = 4;

/// One attack's AUROC on the control.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlAttack {
    /// The attack's name, as in the privacy section.
    pub name: String,
    /// Its AUROC when the "synthetic" rows are real rows no generator saw (about 0.5).
    pub auroc: Option<f64>,
}

/// The control's figures, named as in the sections they stand beside.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlReport {
    /// Real holdout rows passed as the synthetic table.
    pub rows: usize,
    /// The other holdout rows: the control's non-members and its utility test rows.
    pub non_members: usize,
    /// Mean KL (fidelity.kl_mean).
    pub kl_mean: Option<f64>,
    /// Mean KS statistic (fidelity.ks_mean).
    pub ks_mean: Option<f64>,
    /// Mean TVD (fidelity.tvd_mean).
    pub tvd_mean: Option<f64>,
    /// Association-matrix MAE (fidelity.correlation_mae).
    pub correlation_mae: Option<f64>,
    /// Detection AUROC, floored at 0.5 (fidelity.detection_auroc).
    pub detection_auroc: Option<f64>,
    /// Share of cells outside the schema (fidelity.out_of_range_share).
    pub out_of_range_share: f64,
    /// Share of rows identical to a training row (fidelity.exact_copy_share).
    pub exact_copy_share: f64,
    /// The GBDT trained on the control rows and tested on the other holdout rows: the TSTR a
    /// generator would reach with real rows of the synthetic table's size.
    pub tstr: Option<Scores>,
    /// DCR share (privacy.dcr_share).
    pub dcr_share: Option<f64>,
    /// The attacks' AUROCs (privacy.attacks).
    pub attacks: Vec<ControlAttack>,
}

/// What the utility figure of the control needs.
pub struct ControlTarget<'a> {
    /// The outcome's two classes.
    pub target: &'a BinaryTarget,
    /// The utility models' encoder (fitted on the real training rows).
    pub encoder: &'a Encoder,
}

/// Everything the control is computed from; the audit has each at hand already.
pub struct ControlInputs<'a> {
    /// The audited columns.
    pub specs: &'a [&'a ColumnSpec],
    /// The site column, compared as labels.
    pub site: Option<&'a str>,
    /// Real training rows (members).
    pub train: &'a Table,
    /// Real holdout rows, split into the control and its non-members.
    pub holdout: &'a Table,
    /// The synthetic table's size: the control takes as many rows where the holdout allows.
    pub synthetic_rows: usize,
    /// Detection and distance encoder (site left out).
    pub encoder: &'a Encoder,
    /// The training rows encoded for distances by `encoder`.
    pub train_distances: &'a Matrix,
    /// The holdout rows encoded the same way (the control takes its rows from them).
    pub holdout_distances: &'a Matrix,
    /// The target, when the audit has one.
    pub target: Option<ControlTarget<'a>>,
    /// The audit's seed.
    pub seed: u64,
}

/// Holdout row indices: (passed as synthetic, kept as non-members).
fn split_holdout(
    holdout_rows: usize,
    synthetic_rows: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rows: Vec<usize> = (0..holdout_rows).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x434f_4e54));
    let take = synthetic_rows.min(holdout_rows / 2).max(1);
    let rest = rows.split_off(take);
    (rows, rest)
}

/// Computes the control, or says why it cannot (too few holdout rows).
pub fn control(inputs: &ControlInputs<'_>) -> Result<ControlReport, EvalError> {
    let holdout = inputs.holdout;
    if holdout.n_rows() < MIN_CONTROL_HOLDOUT {
        return Err(EvalError::Invalid(format!(
            "the control needs at least {MIN_CONTROL_HOLDOUT} holdout rows (got {})",
            holdout.n_rows()
        )));
    }
    let (as_synthetic, as_holdout) =
        split_holdout(holdout.n_rows(), inputs.synthetic_rows, inputs.seed);
    let (fake, rest) = (holdout.take(&as_synthetic), holdout.take(&as_holdout));
    let names: Vec<&str> = inputs.specs.iter().map(|s| s.name.as_str()).collect();
    let features: Vec<_> = inputs
        .specs
        .iter()
        .filter_map(|s| {
            let (r, q) = (inputs.train.column(&s.name)?, fake.column(&s.name)?);
            Some(if Some(s.name.as_str()) == inputs.site {
                site_fidelity(s, r, q)
            } else {
                feature_fidelity(s, r, q)
            })
        })
        .collect();
    let means = MarginalMeans::of(&features);
    let pairs = pair_associations(inputs.specs, inputs.train, &fake)?;
    let detection =
        crate::detection::detection_report(inputs.encoder, inputs.train, &fake, inputs.seed)?;
    let privacy_report = privacy(
        inputs.train_distances,
        &inputs.holdout_distances.take(&as_holdout),
        &inputs.holdout_distances.take(&as_synthetic),
        inputs.seed,
    )
    .ok();
    Ok(ControlReport {
        rows: fake.n_rows(),
        non_members: rest.n_rows(),
        kl_mean: means.kl,
        ks_mean: means.ks,
        tvd_mean: means.tvd,
        correlation_mae: mean_abs_difference(pairs.iter().map(|p| (p.real, p.synthetic))),
        detection_auroc: detection.map(|d| d.auroc),
        out_of_range_share: means.out_of_range,
        exact_copy_share: copies(inputs.train, &fake, &names)?.0,
        tstr: match &inputs.target {
            Some(t) => Some(tstr(t, &fake, &rest, inputs.seed)?),
            None => None,
        },
        dcr_share: privacy_report.as_ref().and_then(|p| p.dcr_share),
        attacks: privacy_report.map_or_else(Vec::new, |p| {
            p.attacks
                .into_iter()
                .map(|a| ControlAttack {
                    name: a.name,
                    auroc: a.auroc,
                })
                .collect()
        }),
    })
}

/// The GBDT trained on the control rows, tested on the remaining holdout rows.
fn tstr(t: &ControlTarget<'_>, fake: &Table, rest: &Table, seed: u64) -> Result<Scores, EvalError> {
    let labelled = |table: &Table| -> Result<(Matrix, Vec<bool>), EvalError> {
        let (rows, y) = labelled_rows(&labels(table, t.target, "real holdout")?);
        Ok((t.encoder.model_matrix(&table.take(&rows))?, y))
    };
    let (fx, fy) = labelled(fake)?;
    let (rx, ry) = labelled(rest)?;
    let (scores, _) = train_and_test(
        ModelKind::Gbdt,
        &Labelled { x: &fx, y: &fy },
        &Labelled { x: &rx, y: &ry },
        seed,
    );
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_takes_the_synthetic_size_up_to_half_the_holdout_and_never_overlaps() {
        let (a, b) = split_holdout(100, 30, 7);
        assert_eq!((a.len(), b.len()), (30, 70));
        let (a, b) = split_holdout(100, 500, 7);
        assert_eq!((a.len(), b.len()), (50, 50));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_holdout(100, 30, 7), split_holdout(100, 30, 7));
    }
}

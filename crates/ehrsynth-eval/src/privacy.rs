//! Privacy: how close synthetic rows sit to the real rows the generator saw (members, the real
//! training table) compared with real rows it never saw (non-members, the real holdout), and two
//! membership-inference attacks. docs/metrics.md gives every definition.
//!
//! Evaluation is balanced: as many members as non-members, drawn with the audit's seed from the
//! larger side, so that 0.5 is the no-leak value of the DCR share and of attack AUROC. The counts
//! used are reported; nothing else is subsampled and every distance is exact.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::encode::Matrix;
use crate::error::EvalError;
use crate::neighbors::{nearest, nearest_both};
use crate::stats::{auroc, max_advantage, roc_points, tpr_at_fpr};

/// Neighbours kept per record; the density-ratio attack's k-NN density estimates use the
/// geometric mean distance to the first `DENSITY_K`.
const DENSITY_K: usize = 3;
/// ROC points kept per attack for plotting.
const ROC_POINTS: usize = 101;

/// One membership-inference attack's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttackReport {
    /// `distance` or `density_ratio`.
    pub name: String,
    /// What the attack scores.
    pub description: String,
    /// AUROC of the attack score for members vs non-members (0.5 = no signal, 1 = every member found).
    pub auroc: Option<f64>,
    /// Membership advantage: max over thresholds of TPR − FPR (0 = none, 1 = complete).
    pub advantage: Option<f64>,
    /// Share of members caught while at most 1% of non-members are flagged.
    pub tpr_at_fpr_1pct: Option<f64>,
    /// Share of members caught while at most 0.1% of non-members are flagged.
    pub tpr_at_fpr_01pct: Option<f64>,
    /// The paper's "empirical risk", defined here as the attack's best balanced accuracy,
    /// (1 + advantage) / 2 (0.5 = guessing, 1 = certain).
    pub empirical_risk: Option<f64>,
    /// Members and non-members scored.
    pub members: usize,
    /// Non-members scored.
    pub non_members: usize,
    /// ROC curve (false positive rate, true positive rate), thinned for plotting.
    pub roc: Vec<(f64, f64)>,
}

/// The privacy section of the audit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrivacyReport {
    /// Share of synthetic rows closer to a member than to a non-member (a tie counts as the
    /// baseline share, n_train / (n_train + n_holdout)),
    /// corrected for the sizes of the two sets: its odds are the raw share's odds divided by
    /// n_train / n_holdout. About 0.5 is ideal; 1 means every synthetic row sits on training data.
    pub dcr_share: Option<f64>,
    /// The uncorrected share, over all training and all holdout rows.
    pub dcr_share_raw: Option<f64>,
    /// What the raw share would be with no memorisation: n_train / (n_train + n_holdout).
    pub dcr_share_baseline: f64,
    /// Median distance from a synthetic row to its closest member.
    pub dcr_median_synthetic_to_train: Option<f64>,
    /// Median distance from a synthetic row to its closest non-member (the baseline).
    pub dcr_median_synthetic_to_holdout: Option<f64>,
    /// Mean over synthetic rows of (closest member distance) / (second-closest member distance);
    /// near 0 means rows copied from single training records, near 1 is safe.
    pub nndr_mean: Option<f64>,
    /// Share of synthetic rows at distance 0 from a member (all encoded columns equal).
    pub zero_distance_share: Option<f64>,
    /// Members (real training rows) scored by the attacks.
    pub members_evaluated: usize,
    /// Non-members (real holdout rows) evaluated.
    pub non_members_evaluated: usize,
    /// The attacks.
    pub attacks: Vec<AttackReport>,
    /// The non-members come from other hospitals (sites) than the members (a hospital split):
    /// the figures above 0.5 may measure the difference between hospitals, not a leak, so they
    /// are not read as leakage (set by the audit).
    #[serde(default)]
    pub non_members_from_other_sites: bool,
}

/// One-sided z at which a privacy figure is called more than chance (p < 0.005).
pub const SIGNIFICANT_Z: f64 = 2.576;

impl PrivacyReport {
    /// Whether more synthetic rows sit closer to a member than chance allows: the raw DCR share
    /// against its baseline, a one-sided binomial test (normal approximation) over the
    /// `synthetic_rows` rows. Ten rows all nearer the training side are not evidence of a leak.
    pub fn dcr_share_beyond_chance(&self, synthetic_rows: usize) -> bool {
        let (Some(raw), b) = (self.dcr_share_raw, self.dcr_share_baseline) else {
            return false;
        };
        let n = synthetic_rows as f64;
        let spread = (b * (1.0 - b) / n.max(1.0)).sqrt();
        n > 0.0 && raw - b > SIGNIFICANT_Z * spread
    }
}

impl AttackReport {
    /// Whether the attack's AUROC is above 0.5 by more than chance: its no-signal standard error
    /// √((m + n + 1) / (12 m n)) (Hanley and McNeil) over m members and n non-members.
    pub fn beyond_chance(&self) -> bool {
        let (m, n) = (self.members as f64, self.non_members as f64);
        match self.auroc {
            Some(auc) if m > 0.0 && n > 0.0 => {
                auc - 0.5 > SIGNIFICANT_Z * ((m + n + 1.0) / (12.0 * m * n)).sqrt()
            }
            _ => false,
        }
    }
}

fn sample(n: usize, take: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if take < n {
        all.shuffle(rng);
        all.truncate(take);
        all.sort_unstable();
    }
    all
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Scores members and non-members; higher score = "more likely a member".
fn attack(
    name: &str,
    description: &str,
    member_scores: &[f64],
    non_member_scores: &[f64],
) -> AttackReport {
    let scores: Vec<f64> = member_scores
        .iter()
        .chain(non_member_scores)
        .copied()
        .collect();
    let labels: Vec<bool> = member_scores
        .iter()
        .map(|_| true)
        .chain(non_member_scores.iter().map(|_| false))
        .collect();
    let advantage = max_advantage(&scores, &labels);
    let roc = roc_points(&scores, &labels);
    let step = (roc.len() / ROC_POINTS).max(1);
    let mut thinned: Vec<(f64, f64)> = roc.iter().step_by(step).copied().collect();
    if let Some(&last) = roc.last()
        && thinned.last() != Some(&last)
    {
        thinned.push(last);
    }
    AttackReport {
        name: name.to_string(),
        description: description.to_string(),
        auroc: auroc(&scores, &labels),
        advantage,
        tpr_at_fpr_1pct: tpr_at_fpr(&scores, &labels, 0.01),
        tpr_at_fpr_01pct: tpr_at_fpr(&scores, &labels, 0.001),
        empirical_risk: advantage.map(|a| (1.0 + a) / 2.0),
        members: member_scores.len(),
        non_members: non_member_scores.len(),
        roc: thinned,
    }
}

/// The privacy audit on distance-encoded matrices (see [`crate::encode::Encoder::distance_matrix`]).
pub fn privacy(
    train: &Matrix,
    holdout: &Matrix,
    synthetic: &Matrix,
    seed: u64,
) -> Result<PrivacyReport, EvalError> {
    if train.n_rows == 0 || holdout.n_rows < 2 || synthetic.n_rows == 0 {
        return Err(EvalError::Invalid(format!(
            "privacy needs real training rows, at least two holdout rows and synthetic rows (got {}, {}, {})",
            train.n_rows, holdout.n_rows, synthetic.n_rows
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5052_4956);
    // Distances use every training and holdout row; the attacks score equal numbers of each.
    let n = train.n_rows.min(holdout.n_rows);
    let member_rows = sample(train.n_rows, n, &mut rng);
    let non_member_rows = sample(holdout.n_rows, n, &mut rng);
    let (syn_to_train, train_to_syn) = nearest_both(synthetic, train, DENSITY_K);
    let (syn_to_holdout, holdout_to_syn) = nearest_both(synthetic, holdout, DENSITY_K);
    let members = train.take(&member_rows);
    let non_members = holdout.take(&non_member_rows);
    let dcr_member: Vec<f64> = syn_to_train
        .nearest()
        .iter()
        .map(|&d| f64::from(d))
        .collect();
    let dcr_non: Vec<f64> = syn_to_holdout
        .nearest()
        .iter()
        .map(|&d| f64::from(d))
        .collect();
    // A tie (common in tables of few distinct values, where both distances are often 0) counts
    // as the no-memorisation share: with no leak the nearest of the tied rows is a training row
    // with that probability. Counting it ½ would read as "better than ideal" after the size
    // correction whenever the training table is the larger one.
    let tie_share = train.n_rows as f64 / (train.n_rows + holdout.n_rows) as f64;
    let dcr_share_raw = mean(
        dcr_member
            .iter()
            .zip(&dcr_non)
            .map(|(m, h)| match m.total_cmp(h) {
                std::cmp::Ordering::Less => 1.0,
                std::cmp::Ordering::Equal => tie_share,
                std::cmp::Ordering::Greater => 0.0,
            }),
    );
    let size_odds = train.n_rows as f64 / holdout.n_rows as f64;
    let dcr_share = dcr_share_raw.map(|s| {
        let odds = s / (1.0 - s).max(1e-12) / size_odds;
        if s >= 1.0 { 1.0 } else { odds / (1.0 + odds) }
    });
    let nndr_mean = (train.n_rows >= 2)
        .then(|| {
            mean((0..synthetic.n_rows).map(|i| {
                let (d1, d2) = (
                    f64::from(syn_to_train.distance(i, 0)),
                    f64::from(syn_to_train.distance(i, 1)),
                );
                if d2 > 0.0 { d1 / d2 } else { 0.0 }
            }))
        })
        .flatten();
    // The members' and non-members' own neighbours among the synthetic rows.
    let members_to_syn = train_to_syn.select(&member_rows);
    let non_to_syn = holdout_to_syn.select(&non_member_rows);

    // Attack 1: distance to the closest synthetic row (closer = member).
    let member_dist: Vec<f64> = members_to_syn
        .nearest()
        .iter()
        .map(|&d| -f64::from(d))
        .collect();
    let non_dist: Vec<f64> = non_to_syn
        .nearest()
        .iter()
        .map(|&d| -f64::from(d))
        .collect();
    let distance_attack = attack(
        "distance",
        "minus the distance from a real record to its closest synthetic row",
        &member_dist,
        &non_dist,
    );

    // Attack 2 (DOMIAS-style): synthetic density over real reference density, both by k-NN.
    // Half of the non-members serve as the reference; the other half and as many members are scored.
    // A shuffled order, not `sample` (which keeps every row in file order when it takes all of
    // them): on a file sorted by a column (follow-up time, say) the reference would be the first
    // half of that order and the scored non-members the second, far from it, and the attack read
    // AUROC 0.26 with nothing leaking.
    let half = non_members.n_rows / 2;
    let mut order: Vec<usize> = (0..non_members.n_rows).collect();
    order.shuffle(&mut rng);
    let (reference_rows, scored_non) = order.split_at(half);
    let reference = non_members.take(reference_rows);
    let scored_members: Vec<usize> = sample(members.n_rows, scored_non.len(), &mut rng);
    // log density ratio = D (mean ln d_j(reference) - mean ln d_j(synthetic)); D is dropped, it
    // does not change the ranking. With fewer than k rows on a side, fewer neighbours are used.
    let mean_log = |found: &crate::neighbors::Neighbours, i: usize| {
        let logs: Vec<f64> = (0..DENSITY_K)
            .map(|j| found.distance(i, j))
            .filter(|d| d.is_finite())
            .map(|d| (f64::from(d) + 1e-6).ln())
            .collect();
        logs.iter().sum::<f64>() / logs.len().max(1) as f64
    };
    let members_ref = nearest(&members.take(&scored_members), &reference, DENSITY_K);
    let non_ref = nearest(&non_members.take(scored_non), &reference, DENSITY_K);
    let member_density: Vec<f64> = scored_members
        .iter()
        .enumerate()
        .map(|(j, &i)| mean_log(&members_ref, j) - mean_log(&members_to_syn, i))
        .collect();
    let non_density: Vec<f64> = scored_non
        .iter()
        .enumerate()
        .map(|(j, &i)| mean_log(&non_ref, j) - mean_log(&non_to_syn, i))
        .collect();
    let mut attacks = vec![distance_attack];
    if !reference_rows.is_empty() && !scored_non.is_empty() {
        attacks.push(attack(
            "density_ratio",
            "log k-NN density of the synthetic data over that of a real reference sample (geometric mean of the 3 nearest distances), DOMIAS-style",
            &member_density,
            &non_density,
        ));
    }

    Ok(PrivacyReport {
        dcr_share,
        dcr_share_raw,
        dcr_share_baseline: tie_share,
        dcr_median_synthetic_to_train: median(dcr_member.clone()),
        dcr_median_synthetic_to_holdout: median(dcr_non),
        nndr_mean,
        zero_distance_share: mean(dcr_member.iter().map(|&d| if d == 0.0 { 1.0 } else { 0.0 })),
        members_evaluated: members.n_rows,
        non_members_evaluated: non_members.n_rows,
        attacks,
        non_members_from_other_sites: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[[f32; 2]]) -> Matrix {
        Matrix {
            data: rows.iter().flatten().copied().collect(),
            n_rows: rows.len(),
            n_cols: 2,
        }
    }

    #[test]
    fn tied_distances_read_as_no_leak_whatever_the_set_sizes() {
        // Two distinct rows only: every synthetic row is at distance 0 from both a training
        // and a holdout row. Ties counted ½ gave a corrected share of 0.25 here (3:1 sizes).
        let values = [[0.0, 1.0], [1.0, 0.0]];
        let train = matrix(&values.repeat(30));
        let holdout = matrix(&values.repeat(10));
        let synthetic = matrix(&values.repeat(20));
        let report = privacy(&train, &holdout, &synthetic, 1).unwrap();
        assert_eq!(report.dcr_share_raw, Some(0.75));
        assert!(
            (report.dcr_share.unwrap() - 0.5).abs() < 1e-9,
            "{:?}",
            report.dcr_share
        );
    }

    #[test]
    fn ten_rows_near_the_training_side_are_not_called_a_leak_but_a_thousand_are() {
        let report = |raw: f64| PrivacyReport {
            dcr_share: None,
            dcr_share_raw: Some(raw),
            dcr_share_baseline: 0.8,
            dcr_median_synthetic_to_train: None,
            dcr_median_synthetic_to_holdout: None,
            nndr_mean: None,
            zero_distance_share: None,
            members_evaluated: 0,
            non_members_evaluated: 0,
            attacks: vec![],
            non_members_from_other_sites: false,
        };
        assert!(!report(1.0).dcr_share_beyond_chance(10));
        assert!(report(1.0).dcr_share_beyond_chance(1000));
        assert!(!report(0.81).dcr_share_beyond_chance(1000));
        let attack = |auroc: f64, each: usize| AttackReport {
            auroc: Some(auroc),
            members: each,
            non_members: each,
            ..attack("distance", "", &[], &[])
        };
        assert!(!attack(0.7, 10).beyond_chance());
        assert!(attack(0.7, 500).beyond_chance());
        assert!(!attack(0.51, 500).beyond_chance());
    }

    #[test]
    fn rows_nearer_the_training_rows_still_read_as_a_leak() {
        let train = matrix(&[[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]]);
        let holdout = matrix(&[[2.0, 2.0], [7.0, 7.0], [12.0, 12.0]]);
        let synthetic = matrix(&[[0.1, 0.0], [5.0, 5.1], [9.0, 8.9]]);
        let report = privacy(&train, &holdout, &synthetic, 1).unwrap();
        assert_eq!(report.dcr_share, Some(1.0));
    }
}

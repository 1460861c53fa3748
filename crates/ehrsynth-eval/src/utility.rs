//! Utility: does a mortality model trained on the synthetic rows work on real patients?
//! within (train and test on synthetic), across / TSTR (train on synthetic, test on the real
//! holdout), TRTR (train on real train, test on the real holdout: the ceiling), each with a
//! gradient-boosted tree model (XGBoost-like defaults) and logistic regression, AUROC and AUPRC
//! with seeded bootstrap intervals; and TSTR per hospital of the holdout.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::encode::Matrix;
use crate::model::{Gbdt, GbdtParams, Logistic, LogisticParams, ModelError};
use crate::stats::{auroc, average_precision, bootstrap_auroc_ap};

/// Bootstrap resamples for the confidence intervals.
pub const BOOTSTRAP: usize = 200;
/// Share of synthetic rows held out for the "within" score.
pub const WITHIN_TEST_SHARE: f64 = 0.2;

/// Fewest test rows, and fewest of each class, for an AUROC of a group or a site to be judged:
/// below them its interval spans most of [0, 1] and it stays out of gaps and headlines.
pub const MIN_JUDGED_ROWS: usize = 30;
/// See [`MIN_JUDGED_ROWS`].
pub const MIN_JUDGED_PER_CLASS: usize = 5;

/// Whether `rows` test rows with `positives` positives are too few to judge an AUROC by.
pub fn too_few_to_judge(rows: usize, positives: usize) -> bool {
    rows < MIN_JUDGED_ROWS
        || positives < MIN_JUDGED_PER_CLASS
        || rows - positives < MIN_JUDGED_PER_CLASS
}

/// A model's scores on one test set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Scores {
    /// Area under the ROC curve (0.5 = chance, 1 = perfect).
    pub auroc: Option<f64>,
    /// 95% bootstrap interval of the AUROC.
    pub auroc_ci: Option<(f64, f64)>,
    /// Area under the precision-recall curve (average precision; chance = the positive rate).
    pub auprc: Option<f64>,
    /// 95% bootstrap interval of the AUPRC.
    pub auprc_ci: Option<(f64, f64)>,
    /// Rows the model was trained on.
    pub train_rows: usize,
    /// Rows it was tested on.
    pub test_rows: usize,
    /// Positive rows among them.
    pub test_positives: usize,
    /// Why a score is missing, when it is.
    pub note: Option<String>,
    /// Fewer than [`MIN_JUDGED_ROWS`] test rows or [`MIN_JUDGED_PER_CLASS`] of a class: the
    /// scores are noise and are kept out of gaps and headlines.
    #[serde(default)]
    pub too_few: bool,
}

/// TSTR on the real holdout rows of one hospital.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SiteScores {
    /// The site value.
    pub site: String,
    /// Whether the site also occurs in the real training rows (false = a held-out hospital).
    pub seen_in_training: bool,
    /// The scores.
    #[serde(flatten)]
    pub scores: Scores,
}

/// The utility section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UtilityReport {
    /// The GBDT's scores: train and test on synthetic.
    pub within: Scores,
    /// Train on synthetic, test on the real holdout (TSTR).
    pub across: Scores,
    /// Train on real train, test on the real holdout (TRTR, the ceiling).
    pub trtr: Scores,
    /// The same three with logistic regression.
    pub logistic: LogisticUtility,
    /// TSTR per holdout site (with a site column).
    pub sites: Vec<SiteScores>,
    /// TSTR pooled over the holdout sites absent from the real training rows.
    pub unseen_sites_pooled: Option<Scores>,
}

/// Logistic-regression utility.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogisticUtility {
    /// Train and test on synthetic.
    pub within: Scores,
    /// TSTR.
    pub across: Scores,
    /// TRTR.
    pub trtr: Scores,
}

/// A model matrix with its 0/1 labels.
pub struct Labelled<'a> {
    /// Features.
    pub x: &'a Matrix,
    /// Labels.
    pub y: &'a [bool],
}

/// Scores of `predictions` against `labels`, with bootstrap intervals.
pub fn score(predictions: &[f64], labels: &[bool], train_rows: usize, seed: u64) -> Scores {
    let positives = labels.iter().filter(|&&l| l).count();
    let too_few = too_few_to_judge(labels.len(), positives);
    let note = if positives == 0 || positives == labels.len() {
        Some("the test rows hold only one class".to_string())
    } else {
        too_few.then(|| {
            format!(
                "too few to judge: {} test rows, {positives} positive (needs {MIN_JUDGED_ROWS} rows and {MIN_JUDGED_PER_CLASS} of each class)",
                labels.len()
            )
        })
    };
    let (auroc_ci, auprc_ci) = bootstrap_auroc_ap(predictions, labels, BOOTSTRAP, seed, 0.95);
    Scores {
        auroc: auroc(predictions, labels),
        auroc_ci,
        auprc: average_precision(predictions, labels),
        auprc_ci,
        train_rows,
        test_rows: labels.len(),
        test_positives: positives,
        note,
        too_few,
    }
}

fn as_f32(y: &[bool]) -> Vec<f32> {
    y.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect()
}

/// Which model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Histogram gradient-boosted trees.
    Gbdt,
    /// L2 logistic regression.
    Logistic,
}

/// A fitted model of either kind.
pub enum Fitted {
    /// GBDT.
    Gbdt(Gbdt),
    /// Logistic regression.
    Logistic(Logistic),
}

impl Fitted {
    /// Probabilities of class 1 for the rows of `x`.
    pub fn predict(&self, x: &Matrix) -> Vec<f64> {
        match self {
            Fitted::Gbdt(m) => m.predict_proba(&x.data, x.n_rows),
            Fitted::Logistic(m) => m.predict_proba(&x.data, x.n_rows),
        }
    }
}

/// Fits a model, or says why it cannot.
pub fn fit(kind: ModelKind, data: &Labelled<'_>, seed: u64) -> Result<Fitted, ModelError> {
    let y = as_f32(data.y);
    match kind {
        ModelKind::Gbdt => {
            let params = GbdtParams {
                seed,
                ..GbdtParams::default()
            };
            Gbdt::fit(&data.x.data, data.x.n_rows, data.x.n_cols, &y, &params).map(Fitted::Gbdt)
        }
        ModelKind::Logistic => Logistic::fit(
            &data.x.data,
            data.x.n_rows,
            data.x.n_cols,
            &y,
            &LogisticParams::default(),
        )
        .map(Fitted::Logistic),
    }
}

/// Scores of a model trained on `train` and tested on `test`; a model that cannot be fitted gives
/// empty scores with the reason.
pub fn train_and_test(
    kind: ModelKind,
    train: &Labelled<'_>,
    test: &Labelled<'_>,
    seed: u64,
) -> (Scores, Option<Fitted>) {
    match fit(kind, train, seed) {
        Ok(model) => (
            score(&model.predict(test.x), test.y, train.y.len(), seed),
            Some(model),
        ),
        Err(reason) => (
            Scores {
                train_rows: train.y.len(),
                test_rows: test.y.len(),
                note: Some(reason.to_string()),
                ..Scores::default()
            },
            None,
        ),
    }
}

/// Splits row indices into (train, test), stratified on the label, seeded.
pub fn stratified_indices(y: &[bool], test_share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rows.shuffle(&mut rng);
        let n_test = (rows.len() as f64 * test_share).round() as usize;
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

fn take_labels(y: &[bool], rows: &[usize]) -> Vec<bool> {
    rows.iter().map(|&i| y[i]).collect()
}

/// within, across and TRTR for one model kind; also returns the TSTR model.
pub fn three_ways(
    kind: ModelKind,
    real_train: &Labelled<'_>,
    holdout: &Labelled<'_>,
    synthetic: &Labelled<'_>,
    seed: u64,
) -> (Scores, Scores, Scores, Option<Fitted>) {
    let (syn_train_rows, syn_test_rows) = stratified_indices(synthetic.y, WITHIN_TEST_SHARE, seed);
    let (sx_train, sx_test) = (
        synthetic.x.take(&syn_train_rows),
        synthetic.x.take(&syn_test_rows),
    );
    let (sy_train, sy_test) = (
        take_labels(synthetic.y, &syn_train_rows),
        take_labels(synthetic.y, &syn_test_rows),
    );
    // The three fits are independent: run them side by side (each also parallelises inside).
    let ((within, _), ((across, tstr_model), (trtr, _))) = rayon::join(
        || {
            train_and_test(
                kind,
                &Labelled {
                    x: &sx_train,
                    y: &sy_train,
                },
                &Labelled {
                    x: &sx_test,
                    y: &sy_test,
                },
                seed,
            )
        },
        || {
            rayon::join(
                || train_and_test(kind, synthetic, holdout, seed),
                || train_and_test(kind, real_train, holdout, seed),
            )
        },
    );
    (within, across, trtr, tstr_model)
}

/// TSTR scores per site of the holdout, and pooled over the sites unseen in training.
pub fn per_site(
    predictions: &[f64],
    holdout_y: &[bool],
    holdout_sites: &[String],
    train_sites: &std::collections::HashSet<String>,
    train_rows: usize,
    seed: u64,
) -> (Vec<SiteScores>, Option<Scores>) {
    let mut sites: Vec<&String> = holdout_sites.iter().collect();
    sites.sort();
    sites.dedup();
    let subset = |keep: &dyn Fn(&String) -> bool| -> (Vec<f64>, Vec<bool>) {
        holdout_sites
            .iter()
            .zip(predictions.iter().zip(holdout_y))
            .filter(|(s, _)| keep(s))
            .map(|(_, (p, y))| (*p, *y))
            .unzip()
    };
    let per_site = sites
        .iter()
        .map(|site| {
            let (p, y) = subset(&|s| s == *site);
            SiteScores {
                site: (*site).clone(),
                seen_in_training: train_sites.contains(*site),
                scores: score(&p, &y, train_rows, seed),
            }
        })
        .collect();
    let unseen = sites.iter().any(|s| !train_sites.contains(*s)).then(|| {
        let (p, y) = subset(&|s| !train_sites.contains(s));
        score(&p, &y, train_rows, seed)
    });
    (per_site, unseen)
}

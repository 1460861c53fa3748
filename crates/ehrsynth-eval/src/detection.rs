//! Detection: can a classifier tell real rows from synthetic ones? Equal numbers of real training
//! rows and synthetic rows (seeded sample of the larger side), 3-fold cross-validated GBDT,
//! AUROC of the out-of-fold predictions (0.5 = indistinguishable, 1 = trivially told apart).

use ehrsynth_table::Table;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::encode::{Encoder, Matrix};
use crate::error::EvalError;
use crate::model::{Gbdt, GbdtParams};
use crate::stats::auroc;

const FOLDS: usize = 3;

fn sample(n: usize, take: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(rng);
    rows.truncate(take);
    rows
}

/// Cross-validated detection AUROC, or `None` when either table has fewer than `FOLDS` rows.
pub fn detection_auroc(
    encoder: &Encoder,
    real: &Table,
    synthetic: &Table,
    seed: u64,
) -> Result<Option<f64>, EvalError> {
    let n = real.n_rows().min(synthetic.n_rows());
    if n < FOLDS {
        return Ok(None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4445_5445);
    let real_x = encoder.model_matrix(&real.take(&sample(real.n_rows(), n, &mut rng)))?;
    let syn_x = encoder.model_matrix(&synthetic.take(&sample(synthetic.n_rows(), n, &mut rng)))?;
    let x = Matrix {
        data: [real_x.data, syn_x.data].concat(),
        n_rows: 2 * n,
        n_cols: real_x.n_cols,
    };
    let y: Vec<bool> = (0..2 * n).map(|i| i >= n).collect();
    // Folds interleave a shuffled order so each holds both classes equally.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let fold_of = |i: usize| order[i % n] % FOLDS;
    // Folds are independent: fit them side by side.
    let fold_predictions: Vec<Option<Vec<(usize, f64)>>> = (0..FOLDS)
        .into_par_iter()
        .map(|fold| {
            let (train_rows, test_rows): (Vec<usize>, Vec<usize>) =
                (0..2 * n).partition(|&i| fold_of(i) != fold);
            let tx = x.take(&train_rows);
            let ty: Vec<f32> = train_rows
                .iter()
                .map(|&i| if y[i] { 1.0 } else { 0.0 })
                .collect();
            let params = GbdtParams {
                seed,
                ..GbdtParams::default()
            };
            let model = Gbdt::fit(&tx.data, tx.n_rows, tx.n_cols, &ty, &params).ok()?;
            let test = x.take(&test_rows);
            Some(
                test_rows
                    .into_iter()
                    .zip(model.predict_proba(&test.data, test.n_rows))
                    .collect(),
            )
        })
        .collect();
    let mut out_of_fold = vec![0.0; 2 * n];
    for fold in fold_predictions {
        let Some(fold) = fold else { return Ok(None) };
        for (i, p) in fold {
            out_of_fold[i] = p;
        }
    }
    Ok(auroc(&out_of_fold, &y))
}

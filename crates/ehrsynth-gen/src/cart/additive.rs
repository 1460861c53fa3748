//! An additive logistic model of a two-label target on the bins of every other column: the
//! log-odds are an intercept plus one weight per (column, bin), fitted by block-coordinate
//! Newton steps (a column's bins are disjoint, so its block of the Hessian is diagonal and each
//! step is exact within the block), with an L2 penalty that keeps a thin bin near 0.
//!
//! Why beside the trees: a tree's leaf turns the outcome's chance into steps on the few columns
//! it splits on, and a model trained on the synthetic rows then learns those steps; an additive
//! model reads every column, each as a smooth-enough function of its bins, which is the shape a
//! mortality model mostly has. Not here: interactions (the trees keep those).

use super::{Binned, MAX_BINS};

/// L2 penalty on each bin's weight (on the summed log-loss's scale). Held-out log-loss picks
/// larger penalties (10-100) on the reference cohort and the eICU demo, but a model trained on
/// rows drawn with them ranks patients worse (TSTR 0.763 against 0.818 at 1 on the reference).
const L2: f64 = 1.0;
/// Most sweeps over the columns.
const MAX_SWEEPS: usize = 50;
/// A sweep whose largest weight change is below this ends the fit.
const TOLERANCE: f64 = 1e-4;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The fitted model.
#[derive(Debug, Clone)]
pub(super) struct AdditiveLogit {
    predictors: Vec<usize>,
    intercept: f64,
    /// Per predictor, per bin: its weight.
    weights: Vec<[f64; MAX_BINS + 1]>,
}

impl AdditiveLogit {
    /// Fits `P(y = 1)` on `rows` of the predictors' bins; `y[r]` is row `r`'s label.
    pub(super) fn fit(binned: &Binned, predictors: &[usize], y: &[bool], rows: &[u32]) -> Self {
        let n = rows.len() as f64;
        let positives = rows.iter().filter(|&&r| y[r as usize]).count() as f64;
        let rate = ((positives + 0.5) / (n + 1.0)).clamp(1e-6, 1.0 - 1e-6);
        let mut model = Self {
            predictors: predictors.to_vec(),
            intercept: (rate / (1.0 - rate)).ln(),
            weights: vec![[0.0; MAX_BINS + 1]; predictors.len()],
        };
        let mut eta = vec![model.intercept; rows.len()];
        for _ in 0..MAX_SWEEPS {
            let mut largest = 0.0f64;
            for (k, &predictor) in predictors.iter().enumerate() {
                let bins = &binned.bins[predictor];
                let (mut gradient, mut hessian) = ([0.0; MAX_BINS + 1], [0.0; MAX_BINS + 1]);
                for (i, &r) in rows.iter().enumerate() {
                    let p = sigmoid(eta[i]);
                    let b = bins[r as usize] as usize;
                    gradient[b] += p - f64::from(u8::from(y[r as usize]));
                    hessian[b] += p * (1.0 - p);
                }
                let w = &mut model.weights[k];
                let mut step = [0.0; MAX_BINS + 1];
                for b in 0..=MAX_BINS {
                    step[b] = -(gradient[b] + L2 * w[b]) / (hessian[b] + L2);
                    w[b] += step[b];
                    largest = largest.max(step[b].abs());
                }
                for (i, &r) in rows.iter().enumerate() {
                    eta[i] += step[bins[r as usize] as usize];
                }
            }
            let (mut gradient, mut hessian) = (0.0, 0.0);
            for (i, &r) in rows.iter().enumerate() {
                let p = sigmoid(eta[i]);
                gradient += p - f64::from(u8::from(y[r as usize]));
                hessian += p * (1.0 - p);
            }
            let step = -gradient / hessian.max(1e-9);
            model.intercept += step;
            eta.iter_mut().for_each(|e| *e += step);
            if largest.max(step.abs()) < TOLERANCE {
                break;
            }
        }
        model
    }

    /// `P(y = 1)` for a row whose bins are `bins` (indexed by column).
    pub(super) fn probability(&self, bins: &[u8]) -> f64 {
        let eta: f64 = self
            .predictors
            .iter()
            .zip(&self.weights)
            .map(|(&j, w)| w[bins[j] as usize])
            .sum();
        sigmoid(self.intercept + eta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// 40,000 rows of two columns of four bins each (bins 1-4; 0 is "missing") and a label
    /// whose log-odds are the sum of one weight per column's bin.
    fn additive_rows() -> (Binned, Vec<bool>, [f64; 5], [f64; 5]) {
        let (w1, w2) = ([0.0, -2.0, -0.5, 0.5, 2.0], [0.0, 1.0, -1.0, 0.0, 0.5]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 40_000;
        let b1: Vec<u8> = (0..n).map(|_| rng.random_range(1..=4)).collect();
        let b2: Vec<u8> = (0..n).map(|_| rng.random_range(1..=4)).collect();
        let y: Vec<bool> = (0..n)
            .map(|i| rng.random_bool(sigmoid(w1[b1[i] as usize] + w2[b2[i] as usize])))
            .collect();
        let binned = Binned {
            bins: vec![b1, b2],
            counts: vec![5, 5],
            positions: vec![None, None],
        };
        (binned, y, w1, w2)
    }

    #[test]
    fn recovers_the_chance_of_every_combination_of_bins() {
        let (binned, y, w1, w2) = additive_rows();
        let rows: Vec<u32> = (0..y.len() as u32).collect();
        let model = AdditiveLogit::fit(&binned, &[0, 1], &y, &rows);
        for a in 1..=4u8 {
            for b in 1..=4u8 {
                let truth = sigmoid(w1[a as usize] + w2[b as usize]);
                let fitted = model.probability(&[a, b]);
                assert!(
                    (fitted - truth).abs() < 0.03,
                    "bins ({a}, {b}): fitted {fitted:.3}, true {truth:.3}"
                );
            }
        }
    }

    #[test]
    fn a_column_left_out_has_no_say_and_an_unseen_bin_keeps_the_others_chance() {
        let (binned, y, _, _) = additive_rows();
        let rows: Vec<u32> = (0..y.len() as u32).collect();
        let model = AdditiveLogit::fit(&binned, &[0], &y, &rows);
        assert_eq!(model.probability(&[2, 1]), model.probability(&[2, 4]));
        assert!(model.probability(&[4, 1]) > model.probability(&[3, 1]));
        // Bin 0 (missing) never occurs: its weight stays at 0, the intercept's chance.
        let base = sigmoid(model.intercept);
        assert!((model.probability(&[0, 1]) - base).abs() < 1e-12);
    }
}

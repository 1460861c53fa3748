//! Tests of both models on small simulated data (fast in debug builds).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Gbdt, GbdtParams, Logistic, LogisticParams, ModelError};

/// Rank-based AUROC (ties get the average rank).
pub(crate) fn auroc(scores: &[f64], labels: &[f32]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] == 1.0 {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l == 1.0).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// A simulated data set, split into train (first `n_train` rows) and test.
struct Data {
    x: Vec<f32>,
    y: Vec<f32>,
    n_cols: usize,
    n_train: usize,
}

impl Data {
    fn train_x(&self) -> &[f32] {
        &self.x[..self.n_train * self.n_cols]
    }
    fn train_y(&self) -> &[f32] {
        &self.y[..self.n_train]
    }
    fn test_x(&self) -> &[f32] {
        &self.x[self.n_train * self.n_cols..]
    }
    fn test_y(&self) -> &[f32] {
        &self.y[self.n_train..]
    }
    fn n_test(&self) -> usize {
        self.y.len() - self.n_train
    }
}

/// `n` rows of `n_cols` uniform(0, 1) features; `label(row, rng)` gives y; `flip` of the
/// labels are flipped.
fn simulate(
    n: usize,
    n_train: usize,
    n_cols: usize,
    flip: f64,
    seed: u64,
    mut label: impl FnMut(&mut [f32], &mut ChaCha8Rng) -> bool,
) -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * n_cols);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let mut row: Vec<f32> = (0..n_cols).map(|_| rng.random::<f32>()).collect();
        let mut l = label(&mut row, &mut rng);
        if rng.random::<f64>() < flip {
            l = !l;
        }
        x.extend_from_slice(&row);
        y.push(f32::from(u8::from(l)));
    }
    Data {
        x,
        y,
        n_cols,
        n_train,
    }
}

fn xor_data() -> Data {
    simulate(4000, 3000, 5, 0.02, 1, |r, _| (r[0] > 0.5) ^ (r[1] > 0.5))
}

#[test]
fn gbdt_learns_xor_and_logistic_cannot() {
    let d = xor_data();
    let gbdt = Gbdt::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &GbdtParams::default(),
    )
    .unwrap();
    let auc = auroc(&gbdt.predict_proba(d.test_x(), d.n_test()), d.test_y());
    assert!(auc > 0.95, "GBDT AUROC on XOR = {auc}");

    let lr = Logistic::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &LogisticParams::default(),
    )
    .unwrap();
    let auc = auroc(&lr.predict_proba(d.test_x(), d.n_test()), d.test_y());
    assert!((0.4..0.6).contains(&auc), "logistic AUROC on XOR = {auc}");
}

#[test]
fn gbdt_uses_missingness_as_signal() {
    // y = 1 exactly when x0 is missing (2% of labels flipped); x0 is otherwise uninformative.
    let d = simulate(3000, 2000, 4, 0.02, 2, |r, rng| {
        let missing = rng.random::<f64>() < 0.3;
        if missing {
            r[0] = f32::NAN;
        }
        missing
    });
    let gbdt = Gbdt::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &GbdtParams::default(),
    )
    .unwrap();
    let auc = auroc(&gbdt.predict_proba(d.test_x(), d.n_test()), d.test_y());
    assert!(auc > 0.95, "GBDT AUROC with missingness signal = {auc}");
    let gain = gbdt.gain_importance();
    assert_eq!(argmax(&gain), 0, "gain = {gain:?}");
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .unwrap_or(0)
}

#[test]
fn gain_importance_ranks_the_informative_feature_first() {
    // Only x3 matters: P(y = 1) = sigmoid(8 (x3 − 0.5)).
    let d = simulate(3000, 3000, 6, 0.0, 3, |r, rng| {
        let p = 1.0 / (1.0 + (-8.0 * (f64::from(r[3]) - 0.5)).exp());
        rng.random::<f64>() < p
    });
    let gbdt = Gbdt::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &GbdtParams::default(),
    )
    .unwrap();
    let gain = gbdt.gain_importance();
    assert_eq!(gain.len(), 6);
    assert_eq!(argmax(&gain), 3, "gain = {gain:?}");
    let others = gain.iter().enumerate().filter(|&(i, _)| i != 3);
    let max_other = others.map(|(_, &g)| g).fold(0.0, f64::max);
    assert!(gain[3] > 2.0 * max_other, "gain = {gain:?}");
}

#[test]
fn gbdt_is_deterministic() {
    let d = xor_data();
    let params = GbdtParams {
        n_trees: 20,
        subsample: 0.7,
        colsample: 0.6,
        seed: 11,
        ..GbdtParams::default()
    };
    let fit = || {
        let m = Gbdt::fit(d.train_x(), d.n_train, d.n_cols, d.train_y(), &params).unwrap();
        (m.predict_proba(d.test_x(), d.n_test()), m.gain_importance())
    };
    let (p1, g1) = fit();
    let (p2, g2) = fit();
    assert_eq!(p1, p2);
    assert_eq!(g1, g2);
    let other_seed = Gbdt::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &GbdtParams { seed: 12, ..params },
    )
    .unwrap();
    assert_ne!(other_seed.predict_proba(d.test_x(), d.n_test()), p1);
}

#[test]
fn gbdt_without_signal_predicts_the_base_rate() {
    // With no trees the prediction is the training mean (the base score).
    let d = xor_data();
    let params = GbdtParams {
        n_trees: 0,
        ..GbdtParams::default()
    };
    let m = Gbdt::fit(d.train_x(), d.n_train, d.n_cols, d.train_y(), &params).unwrap();
    let mean = d.train_y().iter().map(|&v| f64::from(v)).sum::<f64>() / d.n_train as f64;
    let p = m.predict_proba(&d.test_x()[..3 * d.n_cols], 3);
    assert!(
        p.iter().all(|&v| (v - mean).abs() < 1e-12),
        "{p:?} vs {mean}"
    );
}

#[test]
fn single_class_target_is_an_error() {
    let x = vec![0.5f32; 10 * 2];
    let y = vec![0.0f32; 10];
    let err = Gbdt::fit(&x, 10, 2, &y, &GbdtParams::default()).unwrap_err();
    assert_eq!(err, ModelError::SingleClass { rows: 10, class: 0 });
    assert_eq!(
        err.to_string(),
        "the target has only one class (10 rows, all 0)"
    );
    let y = vec![1.0f32; 10];
    let err = Logistic::fit(&x, 10, 2, &y, &LogisticParams::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the target has only one class (10 rows, all 1)"
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let x = vec![0.5f32; 8];
    let y = [0.0, 1.0, 0.0, 1.0];
    let p = GbdtParams::default();
    assert!(matches!(
        Gbdt::fit(&[], 0, 2, &[], &p),
        Err(ModelError::Empty { .. })
    ));
    assert!(matches!(
        Gbdt::fit(&x, 4, 0, &y, &p),
        Err(ModelError::Empty { .. })
    ));
    assert!(matches!(
        Gbdt::fit(&x, 3, 2, &y, &p),
        Err(ModelError::LengthMismatch { what: "x", .. })
    ));
    assert!(matches!(
        Gbdt::fit(&x, 4, 2, &y[..3], &p),
        Err(ModelError::LengthMismatch { what: "y", .. })
    ));
    assert!(matches!(
        Gbdt::fit(&x, 4, 2, &[0.0, f32::NAN, 1.0, 0.0], &p),
        Err(ModelError::NonFiniteLabel { row: 1, .. })
    ));
    assert!(matches!(
        Logistic::fit(&x, 4, 2, &[0.0, 1.0, 2.0, 0.0], &LogisticParams::default()),
        Err(ModelError::InvalidLabel { row: 2, .. })
    ));
    assert!(matches!(
        Gbdt::fit(&x, usize::MAX, 2, &y, &p),
        Err(ModelError::TooLarge { .. })
    ));
    let bad = GbdtParams {
        max_bins: 1,
        ..GbdtParams::default()
    };
    assert!(matches!(
        Gbdt::fit(&x, 4, 2, &y, &bad),
        Err(ModelError::InvalidParameter {
            name: "max_bins",
            ..
        })
    ));

    // Tiny, degenerate but valid data fits; wrong-length prediction input gives NaN / Err.
    let m = Gbdt::fit(&x, 4, 2, &y, &p).unwrap();
    assert_eq!(m.n_features(), 2);
    assert!(m.predict_proba(&x[..3], 2).iter().all(|v| v.is_nan()));
    assert!(m.try_predict_proba(&x[..3], 2).is_err());
    assert_eq!(m.predict_proba(&[], 0), Vec::<f64>::new());
    let lr = Logistic::fit(&x, 4, 2, &y, &LogisticParams::default()).unwrap();
    let probs = lr.predict_proba(&x, 4);
    assert!(probs.iter().all(|&v| (v - 0.5).abs() < 1e-12), "{probs:?}");
}

#[test]
fn all_missing_constant_and_infinite_columns_are_harmless() {
    // x0 all NaN, x1 constant, x2 informative with some ±inf (treated as missing).
    let d = simulate(2000, 1500, 3, 0.05, 4, |r, rng| {
        r[0] = f32::NAN;
        r[1] = 7.0;
        let l = r[2] > 0.5;
        if rng.random::<f64>() < 0.05 {
            r[2] = if l { f32::INFINITY } else { f32::NEG_INFINITY };
        }
        l
    });
    let gbdt = Gbdt::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &GbdtParams::default(),
    )
    .unwrap();
    let p = gbdt.predict_proba(d.test_x(), d.n_test());
    assert!(p.iter().all(|v| v.is_finite()));
    assert!(auroc(&p, d.test_y()) > 0.9);
    let gain = gbdt.gain_importance();
    assert_eq!((gain[0], gain[1]), (0.0, 0.0));

    let lr = Logistic::fit(
        d.train_x(),
        d.n_train,
        d.n_cols,
        d.train_y(),
        &LogisticParams::default(),
    )
    .unwrap();
    let p = lr.predict_proba(d.test_x(), d.n_test());
    assert!(p.iter().all(|v| v.is_finite()));
    assert!(auroc(&p, d.test_y()) > 0.9);
    assert_eq!(&lr.coefficients()[..2], &[0.0, 0.0]);
}

#[test]
fn logistic_recovers_known_coefficients() {
    let beta = [1.0, -2.0, 0.5];
    let scale = [1.0f32, 0.5, 4.0];
    let intercept = -0.5;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 20_000;
    let mut x = Vec::with_capacity(n * 3);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let mut eta = intercept;
        for j in 0..3 {
            // Sum of uniforms: roughly normal, mean 0, sd `scale`.
            let u: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.732;
            let v = u * scale[j] + 1.0;
            eta += beta[j] * f64::from(v);
            x.push(v);
        }
        let p = 1.0 / (1.0 + (-eta).exp());
        y.push(f32::from(u8::from(rng.random::<f64>() < p)));
    }
    let m = Logistic::fit(&x, n, 3, &y, &LogisticParams::default()).unwrap();
    assert!(m.converged());
    let coef = m.coefficients();
    for j in 0..3 {
        let tol = 0.08 / f64::from(scale[j]).min(1.0);
        assert!(
            (coef[j] - beta[j]).abs() < tol,
            "coefficient {j}: {} vs {}",
            coef[j],
            beta[j]
        );
    }
    assert!(
        (m.intercept() - intercept).abs() < 0.15,
        "intercept {}",
        m.intercept()
    );
}

#[test]
fn auroc_helper_handles_ties() {
    assert_eq!(auroc(&[0.1, 0.2, 0.3, 0.4], &[0.0, 0.0, 1.0, 1.0]), 1.0);
    assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &[0.0, 1.0, 0.0, 1.0]), 0.5);
    assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]), 0.75);
}

//! The GBDT's holdout AUROC on the reference cohort must be within 0.01 of XGBoost's
//! (default settings), and the logistic regression's within 0.01 of scikit-learn's.
//!
//! The reference numbers come from `scripts/xgboost_reference.py` run on
//! `ehrsynth cohort reference --rows 20000 --hospitals 20 --seed 7`; they are committed in
//! `fixtures/xgboost_reference.json`.

use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::model::{Gbdt, GbdtParams, Logistic, LogisticParams};

const REFERENCE_JSON: &str = include_str!("../fixtures/xgboost_reference.json");

/// The number after `"key":` in a flat JSON object.
fn json_number(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let start = json
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} not in JSON"))
        + pat.len();
    let rest = json[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// Rank-based AUROC (ties get the average rank).
fn auroc(scores: &[f64], labels: &[f32]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum_pos, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += avg_rank * idx[i..=j].iter().filter(|&&k| labels[k] == 1.0).count() as f64;
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l == 1.0).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Row-major features, labels and holdout flags of the reference cohort.
pub struct Split {
    pub names: Vec<String>,
    pub n_cols: usize,
    pub train_x: Vec<f32>,
    pub train_y: Vec<f32>,
    pub test_x: Vec<f32>,
    pub test_y: Vec<f32>,
}

/// Features = every column but `patientunitstayid`, `hospitalid` and `death`, in table
/// order; label = `death`; holdout = `patientunitstayid % 5 == 0`.
fn reference_split(rows: usize, seed: u64) -> Split {
    let cohort = reference_cohort(&ReferenceConfig {
        rows,
        hospitals: 20,
        seed,
    })
    .unwrap();
    let t = &cohort.table;
    let features: Vec<_> = t
        .columns()
        .iter()
        .filter(|c| !matches!(c.name(), "patientunitstayid" | "hospitalid" | "death"))
        .collect();
    let id = t.column("patientunitstayid").unwrap();
    let death = t.column("death").unwrap();
    let n_cols = features.len();
    let mut s = Split {
        names: features.iter().map(|c| c.name().to_string()).collect(),
        n_cols,
        train_x: Vec::new(),
        train_y: Vec::new(),
        test_x: Vec::new(),
        test_y: Vec::new(),
    };
    for i in 0..t.n_rows() {
        let holdout = id.get_f64(i).unwrap() as i64 % 5 == 0;
        let (x, y) = if holdout {
            (&mut s.test_x, &mut s.test_y)
        } else {
            (&mut s.train_x, &mut s.train_y)
        };
        x.extend(
            features
                .iter()
                .map(|c| c.get_f64(i).map_or(f32::NAN, |v| v as f32)),
        );
        y.push(death.get_f64(i).unwrap() as f32);
    }
    s
}

#[test]
fn gbdt_and_logistic_match_xgboost_and_sklearn_on_the_reference_cohort() {
    let rows = json_number(REFERENCE_JSON, "rows") as usize;
    let seed = json_number(REFERENCE_JSON, "seed") as u64;
    let t = std::time::Instant::now();
    let s = reference_split(rows, seed);
    println!("cohort: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(s.n_cols, 80);
    assert_eq!(
        s.train_y.len() as f64,
        json_number(REFERENCE_JSON, "train_rows")
    );
    assert_eq!(
        s.test_y.len() as f64,
        json_number(REFERENCE_JSON, "holdout_rows")
    );
    let (n_train, n_test) = (s.train_y.len(), s.test_y.len());

    let t = std::time::Instant::now();
    let gbdt = Gbdt::fit(
        &s.train_x,
        n_train,
        s.n_cols,
        &s.train_y,
        &GbdtParams::default(),
    )
    .unwrap();
    let ours = auroc(&gbdt.predict_proba(&s.test_x, n_test), &s.test_y);
    let xgb = json_number(REFERENCE_JSON, "holdout_auroc");
    println!(
        "GBDT holdout AUROC {ours:.6}, XGBoost {xgb:.6} ({:.2} s)",
        t.elapsed().as_secs_f64()
    );
    let gain = gbdt.gain_importance();
    let mut top: Vec<usize> = (0..gain.len()).collect();
    top.sort_by(|&a, &b| gain[b].total_cmp(&gain[a]));
    let top: Vec<_> = top[..5]
        .iter()
        .map(|&f| (&s.names[f], gain[f].round()))
        .collect();
    println!("GBDT top total_gain: {top:?}");

    let t = std::time::Instant::now();
    let lr = Logistic::fit(
        &s.train_x,
        n_train,
        s.n_cols,
        &s.train_y,
        &LogisticParams::default(),
    )
    .unwrap();
    let ours_lr = auroc(&lr.predict_proba(&s.test_x, n_test), &s.test_y);
    let sk = json_number(REFERENCE_JSON, "logistic_auroc_sklearn");
    println!(
        "logistic holdout AUROC {ours_lr:.6}, scikit-learn {sk:.6} ({:.2} s)",
        t.elapsed().as_secs_f64()
    );

    assert!(
        (ours - xgb).abs() <= 0.01,
        "GBDT AUROC {ours} vs XGBoost {xgb}"
    );
    assert!(
        (ours_lr - sk).abs() <= 0.01,
        "logistic AUROC {ours_lr} vs scikit-learn {sk}"
    );
}

/// A small, debug-friendly check on the same cohort: both models beat chance clearly.
#[test]
fn both_models_learn_on_a_small_reference_cohort() {
    let s = reference_split(5000, 7);
    let (n_train, n_test) = (s.train_y.len(), s.test_y.len());
    let params = GbdtParams {
        n_trees: 20,
        ..GbdtParams::default()
    };
    let gbdt = Gbdt::fit(&s.train_x, n_train, s.n_cols, &s.train_y, &params).unwrap();
    let auc = auroc(&gbdt.predict_proba(&s.test_x, n_test), &s.test_y);
    assert!(auc > 0.7, "GBDT AUROC {auc}");
    let lr = Logistic::fit(
        &s.train_x,
        n_train,
        s.n_cols,
        &s.train_y,
        &LogisticParams::default(),
    )
    .unwrap();
    let auc_lr = auroc(&lr.predict_proba(&s.test_x, n_test), &s.test_y);
    assert!(auc_lr > 0.7, "logistic AUROC {auc_lr}");
    println!("small cohort: GBDT AUROC {auc:.4}, logistic {auc_lr:.4}");
}

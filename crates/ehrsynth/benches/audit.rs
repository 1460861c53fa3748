//! The full audit on the reference cohort: 10k synthetic rows against 70k real training and 18k
//! real holdout rows, 83 columns. The "synthetic" rows are real-distribution rows of the same
//! simulated cohort that neither side contains, so privacy numbers should sit near 0.5.
//!
//!     cargo bench -p ehrsynth --bench audit          # 3 runs, medians per section
//!     EHRSYNTH_BENCH_NN=100000 cargo bench -p ehrsynth --bench audit   # also N x N exact 1-NN

use std::time::{Duration, Instant};

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::encode::Encoder;
use ehrsynth_eval::{AuditConfig, audit};
use ehrsynth_table::NoProgress;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("EHRSYNTH_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 98_000,
        hospitals: 40,
        seed: 1,
    })
    .expect("cohort")
    .table;
    let rows: Vec<usize> = (0..cohort.n_rows()).collect();
    let (train, rest) = rows.split_at(70_000);
    let (holdout, synthetic) = rest.split_at(18_000);
    let (train, holdout, synthetic) = (
        cohort.take(train),
        cohort.take(holdout),
        cohort.take(synthetic),
    );
    let schema = eicu_schema();
    let names: Vec<String> = schema
        .names()
        .iter()
        .filter(|n| **n != "patientunitstayid")
        .map(|s| s.to_string())
        .collect();
    let encoder = Encoder::fit(&train, &names).expect("encoder");
    let (t, h, s) = (
        encoder.distance_matrix(&train).expect("encode"),
        encoder.distance_matrix(&holdout).expect("encode"),
        encoder.distance_matrix(&synthetic).expect("encode"),
    );
    let start = Instant::now();
    let p = ehrsynth_eval::privacy::privacy(&t, &h, &s, 1).expect("privacy");
    println!(
        "privacy alone: {:.2?} (dims {}), DCR share {:?}",
        start.elapsed(),
        t.n_cols,
        p.dcr_share
    );
    if let Some(n) = std::env::var("EHRSYNTH_BENCH_NN")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        let big = reference_cohort(&ReferenceConfig {
            rows: 2 * n,
            hospitals: 40,
            seed: 9,
        })
        .expect("cohort")
        .table;
        let rows: Vec<usize> = (0..2 * n).collect();
        let (a, b) = (big.take(&rows[..n]), big.take(&rows[n..]));
        let (a, b) = (
            encoder.distance_matrix(&a).expect("encode"),
            encoder.distance_matrix(&b).expect("encode"),
        );
        let start = Instant::now();
        let found = ehrsynth_eval::neighbors::nearest(&a, &b, 1);
        println!(
            "exact 1-NN {n} x {n} x {} dims: {:.2?} (first distance {})",
            a.n_cols,
            start.elapsed(),
            found.distance(0, 0)
        );
    }
    let mut sections: Vec<[f64; 5]> = Vec::new();
    for run in 0..runs {
        let start = Instant::now();
        let report = audit(
            &schema,
            &train,
            &holdout,
            &synthetic,
            &AuditConfig {
                seed: run as u64,
                ..AuditConfig::default()
            },
            &NoProgress,
        )
        .expect("audit");
        let total: Duration = start.elapsed();
        let tm = &report.timings;
        sections.push([
            total.as_secs_f64(),
            tm.fidelity,
            tm.utility,
            tm.fairness,
            tm.privacy,
        ]);
        println!(
            "run {run}: total {:.2} s (fidelity {:.2}, utility {:.2}, fairness {:.2}, privacy {:.2}); TSTR {:?} detection {:?}",
            total.as_secs_f64(),
            tm.fidelity,
            tm.utility,
            tm.fairness,
            tm.privacy,
            report.utility.as_ref().and_then(|u| u.across.auroc),
            report.fidelity.detection_auroc
        );
    }
    let med = |i: usize| median(sections.iter().map(|s| s[i]).collect());
    println!(
        "median of {runs}: total {:.2} s; fidelity {:.2}, utility {:.2}, fairness {:.2}, privacy {:.2}",
        med(0),
        med(1),
        med(2),
        med(3),
        med(4)
    );
}

//! Generator benchmark: fit on 70,000 × 83 reference-cohort rows, sample 10,000; medians of 3.
//!
//!     cargo bench -p ehrsynth --bench generate

use std::time::Instant;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_gen::{BayesNet, BayesNetConfig, GaussianCopula, Generator, SampleOptions};
use ehrsynth_table::NoProgress;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Makes a fresh, unfitted generator.
type Maker = Box<dyn Fn() -> Box<dyn Generator>>;

fn main() {
    let train = reference_cohort(&ReferenceConfig {
        rows: 70_000,
        hospitals: 40,
        seed: 1,
    })
    .expect("cohort")
    .table;
    let schema = eicu_schema();
    let makers: Vec<(&str, Maker)> = vec![
        (
            "copula",
            Box::new(|| Box::new(GaussianCopula::new()) as Box<dyn Generator>),
        ),
        (
            "bayesnet",
            Box::new(|| Box::new(BayesNet::new(BayesNetConfig::default())) as Box<dyn Generator>),
        ),
        (
            "bayesnet eps=1",
            Box::new(|| {
                Box::new(BayesNet::new(BayesNetConfig {
                    epsilon: Some(1.0),
                    ..BayesNetConfig::default()
                })) as Box<dyn Generator>
            }),
        ),
    ];
    for (name, make) in makers {
        let (mut fits, mut samples) = (Vec::new(), Vec::new());
        for run in 0..3u64 {
            let mut generator = make();
            let start = Instant::now();
            generator
                .fit(&train, &schema, run, &NoProgress)
                .expect("fit");
            fits.push(start.elapsed().as_secs_f64());
            let start = Instant::now();
            let table = generator
                .generate(
                    &SampleOptions {
                        rows: 10_000,
                        seed: run,
                        condition: None,
                    },
                    &NoProgress,
                )
                .expect("sample");
            samples.push(start.elapsed().as_secs_f64());
            assert!(
                schema
                    .validate_table(&table)
                    .expect("validate")
                    .rejected
                    .is_empty()
            );
        }
        println!(
            "{name:<15} fit 70k x 83: median {:.2} s   sample 10k: median {:.2} s",
            median(fits),
            median(samples)
        );
    }
}

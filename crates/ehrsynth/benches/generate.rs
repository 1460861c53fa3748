//! Generator benchmark: fit on 70,000 × 83 reference-cohort rows, sample 10,000; medians of 3.
//!
//!     cargo bench -p ehrsynth --bench generate

use std::time::Instant;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_gen::SampleOptions;
use ehrsynth_gen::registry::{GENERATORS, GeneratorEntry, GeneratorSettings};
use ehrsynth_table::NoProgress;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let train = reference_cohort(&ReferenceConfig {
        rows: 70_000,
        hospitals: 40,
        seed: 1,
    })
    .expect("cohort")
    .table;
    let schema = eicu_schema();
    // Every registered generator, and each private one again at ε = 1.
    let mut runs: Vec<(String, &GeneratorEntry, GeneratorSettings)> = Vec::new();
    for entry in GENERATORS {
        runs.push((entry.name.into(), entry, GeneratorSettings::default()));
        if entry.takes_epsilon {
            let private = GeneratorSettings {
                epsilon: Some(1.0),
                ..GeneratorSettings::default()
            };
            runs.push((format!("{} eps=1", entry.name), entry, private));
        }
    }
    for (name, entry, settings) in runs {
        let (mut fits, mut samples) = (Vec::new(), Vec::new());
        for run in 0..3u64 {
            let mut generator = entry.generator(&settings).expect("a generator");
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

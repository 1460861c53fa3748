//! Table I/O benchmark: writes a 100k x 83 reference cohort as CSV, CSV.GZ and Parquet, then
//! reads each back several times (with inference and with the schema) and prints the medians.
//!
//!     cargo bench -p ehrsynth --bench io            # 100k rows, 5 runs
//!     EHRSYNTH_BENCH_ROWS=1000000 cargo bench -p ehrsynth --bench io

use std::time::{Duration, Instant};

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_table::io::{read_table, write_table};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let rows = std::env::var("EHRSYNTH_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let runs = 5;
    let config = ReferenceConfig {
        rows,
        hospitals: 50,
        seed: 1,
    };
    let start = Instant::now();
    let table = reference_cohort(&config).expect("reference cohort").table;
    println!(
        "reference cohort {rows} x {}: generated in {:.3?}",
        table.n_columns(),
        start.elapsed()
    );
    let schema = eicu_schema();
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["bench.csv", "bench.csv.gz", "bench.parquet"] {
        let path = dir.path().join(name);
        let write = time(1, || write_table(&path, &table).expect("write"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let infer = time(runs, || read_table(&path, None).expect("read"));
        let typed = time(runs, || read_table(&path, Some(&schema)).expect("read"));
        println!(
            "{name:<14} {:>7.1} MB  write {write:>9.3?}  read (inferred) median {infer:>9.3?}  read (schema) median {typed:>9.3?}",
            size as f64 / 1e6
        );
    }
}

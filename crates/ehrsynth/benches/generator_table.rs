//! The all-generators table of docs/generators.md: every registered generator on the same
//! tables and seeds, each fitted, sampled and audited here, printed as markdown.
//!
//!     cargo bench -p ehrsynth --bench generator_table                     # every table found
//!     cargo bench -p ehrsynth --bench generator_table -- --tables reference --seeds 42,7
//!     cargo bench -p ehrsynth --bench generator_table -- --tables reference \
//!         --runs "cart min_leaf=5;cart min_leaf=10;cart;cart min_leaf=50;cart min_leaf=100"
//!
//! Tables: `reference` (88,000 simulated stays from 20 hospitals, seed 42), `eicu-demo` (the
//! cohort built from `EHRSYNTH_EICU_DEMO`, default `../shared/data/eicu-demo`; skipped when
//! absent) and five public clinical tables (`EHRSYNTH_PUBLIC_TABLES`, default
//! `~/.cache/ehrsynth/public-tables`, which `.ci/fetch-public-tables` fills; skipped when absent).
//! Each is split 80/20, stratified on its outcome (split seed 42); a generator is fitted on
//! the 80% and samples as many rows as it was fitted on, at most 10,000; the audit (seed = the
//! generator's seed, no control) compares them with the 20% held out.
//!
//! `--runs` lists what to run, `;`-separated: a generator's name and its settings
//! (`cart min_leaf=50`, `bayesnet epsilon=1`); the default is every registered statistical
//! generator with its defaults. Times are one fit and one sample per seed on this machine;
//! memory is not measured here (run `ehrsynth generate` under `/usr/bin/time -v` for that).

use std::path::PathBuf;
use std::time::Instant;

use ehrsynth_cohort::eicu::{EicuOptions, build_eicu};
use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::metrics::HEADLINE;
use ehrsynth_eval::{AuditConfig, AuditReport, audit};
use ehrsynth_gen::SampleOptions;
use ehrsynth_gen::registry::{GENERATORS, GeneratorEntry, GeneratorSettings};
use ehrsynth_table::io::read_table;
use ehrsynth_table::schema::RoleHints;
use ehrsynth_table::split::stratified_split;
use ehrsynth_table::{NoProgress, Schema, Table};

/// Most rows a generator samples.
const MAX_SAMPLED_ROWS: usize = 10_000;

/// A public table of `.ci/fetch-public-tables` and its roles (as in the audit's regression
/// checks, crates/ehrsynth-eval/tests/public_tables.rs).
struct PublicTable {
    file: &'static str,
    target: &'static str,
    site: Option<&'static str>,
    ids: &'static [&'static str],
}

const PUBLIC_TABLES: [PublicTable; 5] = [
    PublicTable {
        file: "ACTG175",
        target: "cens",
        site: None,
        ids: &["unnamed_1", "pidnum"],
    },
    PublicTable {
        file: "gbsg2",
        target: "cens",
        site: None,
        ids: &[],
    },
    PublicTable {
        file: "lung",
        target: "status",
        site: Some("inst"),
        ids: &[],
    },
    PublicTable {
        file: "kidney_transplant",
        target: "death",
        site: None,
        ids: &[],
    },
    PublicTable {
        file: "rossi",
        target: "arrest",
        site: None,
        ids: &[],
    },
];

/// A real table with its schema, before the split.
struct RealTable {
    name: String,
    table: Table,
    schema: Schema,
}

/// One generator with its settings, as named on the command line.
struct Run {
    label: String,
    entry: &'static GeneratorEntry,
    settings: GeneratorSettings,
}

/// What one seed of one run measured.
struct Measured {
    fit_s: f64,
    sample_s: f64,
    rows_outside_schema: usize,
    report: AuditReport,
}

struct Options {
    tables: Option<Vec<String>>,
    seeds: Vec<u64>,
    runs: Vec<Run>,
}

fn parse_run(text: &str) -> Run {
    let mut words = text.split_whitespace();
    let name = words.next().expect("a run names a generator");
    let entry = GENERATORS
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no generator '{name}'"));
    let (mut epsilon, mut assignments) = (None, Vec::new());
    for word in words {
        match word.strip_prefix("epsilon=") {
            Some(e) => epsilon = Some(e.parse().expect("epsilon is a number")),
            None => assignments.push(word.to_string()),
        }
    }
    let settings = GeneratorSettings::with_assignments(epsilon, &assignments)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    Run {
        label: text.trim().to_string(),
        entry,
        settings,
    }
}

fn parse_options() -> Options {
    let mut options = Options {
        tables: None,
        seeds: vec![42, 7],
        runs: GENERATORS
            .iter()
            .filter(|g| g.name != "llm")
            .map(|g| parse_run(g.name))
            .collect(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().expect("the option needs a value");
        match args[i].as_str() {
            "--tables" => options.tables = Some(value().split(',').map(str::to_string).collect()),
            "--seeds" => {
                options.seeds = value()
                    .split(',')
                    .map(|s| s.parse().expect("seeds are whole numbers"))
                    .collect()
            }
            "--runs" => options.runs = value().split(';').map(parse_run).collect(),
            // `cargo bench` passes `--bench`.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

fn workspace_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn reference_table() -> RealTable {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 88_000,
        hospitals: 20,
        seed: 42,
    })
    .expect("the reference cohort");
    RealTable {
        name: "reference".into(),
        table: cohort.table,
        schema: eicu_schema(),
    }
}

fn eicu_demo_table() -> Option<RealTable> {
    let dir = std::env::var_os("EHRSYNTH_EICU_DEMO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_path("../shared/data/eicu-demo"));
    if !dir.exists() {
        eprintln!("skipping the eICU demo: {} is absent", dir.display());
        return None;
    }
    let cohort = build_eicu(&dir, &EicuOptions::default(), &NoProgress).expect("the eICU demo");
    Some(RealTable {
        name: "eicu-demo".into(),
        table: cohort.table,
        schema: cohort.schema,
    })
}

fn public_tables() -> Vec<RealTable> {
    let dir = std::env::var_os("EHRSYNTH_PUBLIC_TABLES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ehrsynth/public-tables"))
        });
    let Some(dir) = dir.filter(|d| d.join("rossi.csv").exists()) else {
        eprintln!("skipping the public tables: run `bash .ci/fetch-public-tables` first");
        return Vec::new();
    };
    PUBLIC_TABLES
        .iter()
        .map(|t| {
            let table = read_table(&dir.join(format!("{}.csv", t.file)), None).expect(t.file);
            let hints = RoleHints {
                target: Some(t.target.into()),
                site: t.site.map(str::to_string),
                groups: Vec::new(),
                ids: t.ids.iter().map(|s| s.to_string()).collect(),
            };
            let schema = Schema::infer(&table, &hints).expect("a schema");
            RealTable {
                name: t.file.into(),
                table,
                schema,
            }
        })
        .collect()
}

fn measure(run: &Run, real: &RealTable, train: &Table, holdout: &Table, seed: u64) -> Measured {
    let mut generator = run.entry.generator(&run.settings).expect("a generator");
    let start = Instant::now();
    generator
        .fit(train, &real.schema, seed, &NoProgress)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", run.label, real.name));
    let fit_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let options = SampleOptions {
        rows: train.n_rows().min(MAX_SAMPLED_ROWS),
        seed,
        condition: None,
    };
    let synthetic = generator.generate(&options, &NoProgress).expect("sampling");
    let sample_s = start.elapsed().as_secs_f64();
    let rows_outside_schema = real
        .schema
        .validate_table(&synthetic)
        .expect("validation")
        .rejected
        .len();
    let config = AuditConfig {
        seed,
        skip_control: true,
        ..AuditConfig::default()
    };
    let report = audit(
        &real.schema,
        train,
        holdout,
        &synthetic,
        &config,
        &NoProgress,
    )
    .expect("the audit");
    Measured {
        fit_s,
        sample_s,
        rows_outside_schema,
        report,
    }
}

fn headline(report: &AuditReport, key: &str) -> Option<f64> {
    let metric = HEADLINE.iter().find(|m| m.key == key).expect("a metric");
    (metric.value)(report)
}

/// The seeds' values joined by " / ".
fn per_seed(
    measured: &[Measured],
    digits: usize,
    value: impl Fn(&Measured) -> Option<f64>,
) -> String {
    measured
        .iter()
        .map(|m| value(m).map_or("–".into(), |v| format!("{v:.digits$}")))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn markdown_row(table: &str, run: &Run, measured: &[Measured]) -> String {
    let metric = |key: &'static str| move |m: &Measured| headline(&m.report, key);
    let trtr =
        headline(&measured[0].report, "trtr_auroc").map_or("–".into(), |v| format!("{v:.3}"));
    format!(
        "| {table} | {} | {} | {} | {} | {} | {} ({trtr}) | {} | {} | {} |",
        run.label,
        per_seed(measured, 2, |m| Some(m.fit_s)),
        per_seed(measured, 2, |m| Some(m.sample_s)),
        per_seed(measured, 3, metric("detection_auroc")),
        per_seed(measured, 3, metric("kl_mean")),
        per_seed(measured, 3, metric("tstr_auroc")),
        per_seed(measured, 2, metric("mia_auroc_max")),
        per_seed(measured, 3, metric("dcr_share")),
        per_seed(measured, 0, |m| Some(m.rows_outside_schema as f64)),
    )
}

fn main() {
    let options = parse_options();
    let wanted = |name: &str| {
        options
            .tables
            .as_ref()
            .is_none_or(|t| t.iter().any(|w| w == name))
    };
    let mut tables = Vec::new();
    if wanted("reference") {
        tables.push(reference_table());
    }
    if wanted("eicu-demo") {
        tables.extend(eicu_demo_table());
    }
    if PUBLIC_TABLES.iter().any(|t| wanted(t.file)) {
        tables.extend(public_tables().into_iter().filter(|t| wanted(&t.name)));
    }
    let seeds: Vec<String> = options.seeds.iter().map(u64::to_string).collect();
    println!(
        "seeds {}; one fit and one sample per seed\n",
        seeds.join(" / ")
    );
    println!(
        "| table | generator | fit s | sample s | detection AUROC | mean KL | TSTR AUROC (TRTR) | attack AUROC (max) | DCR share | rows outside schema |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for real in &tables {
        let target = real.schema.target().expect("every table has a target");
        let (train, holdout) = stratified_split(&real.table, target, 0.2, 42)
            .expect("a split")
            .apply(&real.table);
        for run in &options.runs {
            let measured: Vec<Measured> = options
                .seeds
                .iter()
                .map(|&seed| measure(run, real, &train, &holdout, seed))
                .collect();
            println!("{}", markdown_row(&real.name, run, &measured));
        }
    }
}

//! `ehrsynth generate`: fit a generator on a training table and write synthetic rows.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ehrsynth_gen::{Condition, GaussianCopula, Generator, SampleOptions};
use ehrsynth_table::Schema;
use ehrsynth_table::io::read_table;

use super::cohort::write_with_schema;
use super::evaluate::load_schema;
use crate::progress::Bars;

pub const EXAMPLES: &str = "Examples:
  ehrsynth generate --train train.parquet --generator copula --rows 10000 --seed 1 --out copula.parquet
  ehrsynth generate --train train.parquet --generator copula --rows 1000 --features top10.txt \\
      --condition is_female=1 --seed 1 --out women.csv
  ehrsynth generate --train train.parquet --generator bayesnet --epsilon 1.0 --rows 10000 --out dp.parquet
The output has the schema's columns (or the chosen features plus the target) in schema order,
every row valid against the schema; its schema is written beside it.";

/// The generators `generate` offers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GeneratorKind {
    /// Gaussian copula with empirical marginals.
    Copula,
    /// Bayesian network (PrivBayes), optionally differentially private.
    Bayesnet,
}

/// Arguments of `ehrsynth generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The real training table.
    #[arg(long)]
    train: PathBuf,
    /// Schema file (default: NAME.schema.toml beside --train, else inferred).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Which generator.
    #[arg(long, value_enum)]
    generator: GeneratorKind,
    /// Rows to generate.
    #[arg(long)]
    rows: usize,
    /// Feature columns to keep: a file with one name per line (e.g. top10.txt from `ehrsynth
    /// importance`) or a comma-separated list. The target is always kept.
    #[arg(long)]
    features: Option<String>,
    /// Fix a column to a value in every row, as COLUMN=VALUE (e.g. is_female=1 or hospitalid=73).
    #[arg(long)]
    condition: Option<String>,
    /// Differential privacy budget for the Bayesian network (omit for no DP).
    #[arg(long)]
    epsilon: Option<f64>,
    /// Seed for fitting and sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output table: .parquet, .csv or .csv.gz.
    #[arg(long)]
    out: PathBuf,
}

/// The feature names given as a file or a comma-separated list.
pub fn parse_features(spec: &str) -> anyhow::Result<Vec<String>> {
    let text = if Path::new(spec).is_file() {
        std::fs::read_to_string(spec).with_context(|| format!("reading the feature list {spec}"))?
    } else {
        spec.replace(',', "\n")
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        bail!("--features '{spec}' names no column");
    }
    Ok(names)
}

/// The schema restricted to `features`, the target and the condition column, in schema order.
pub fn feature_schema(
    schema: &Schema,
    features: &[String],
    condition: Option<&Condition>,
) -> anyhow::Result<Schema> {
    for f in features {
        if schema.column(f).is_none() {
            bail!(
                "feature '{f}' is not in the schema ({} columns, e.g. {})",
                schema.columns().len(),
                schema
                    .names()
                    .iter()
                    .take(4)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let keep: Vec<&str> = schema
        .names()
        .into_iter()
        .filter(|n| {
            features.iter().any(|f| f == n)
                || Some(*n) == schema.target()
                || condition.is_some_and(|c| c.column == *n)
        })
        .collect();
    Ok(schema.subset(&keep)?)
}

/// A fresh generator of the given kind.
pub fn new_generator(
    kind: GeneratorKind,
    epsilon: Option<f64>,
) -> anyhow::Result<Box<dyn Generator>> {
    Ok(match kind {
        GeneratorKind::Copula => {
            if epsilon.is_some() {
                bail!("--epsilon applies to the Bayesian network only (--generator bayesnet)");
            }
            Box::new(GaussianCopula::new())
        }
        GeneratorKind::Bayesnet => {
            Box::new(ehrsynth_gen::BayesNet::new(ehrsynth_gen::BayesNetConfig {
                epsilon,
                ..ehrsynth_gen::BayesNetConfig::default()
            }))
        }
    })
}

/// Runs `ehrsynth generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let condition: Option<Condition> = args.condition.as_deref().map(str::parse).transpose()?;
    let full = load_schema(args.schema.as_deref(), &args.train, None, None)?;
    let schema = match &args.features {
        Some(spec) => feature_schema(&full, &parse_features(spec)?, condition.as_ref())?,
        None => full,
    };
    let train = read_table(&args.train, Some(&schema)).context("reading --train")?;
    let mut generator = new_generator(args.generator, args.epsilon)?;
    let bars = Bars::default();
    let started = std::time::Instant::now();
    generator.fit(&train, &schema, args.seed, &bars)?;
    let fitted = started.elapsed();
    let options = SampleOptions {
        rows: args.rows,
        condition,
        seed: args.seed,
    };
    let table = generator.generate(&options, &bars)?;
    eprintln!(
        "{}: fitted on {} rows x {} columns in {:.2} s, sampled {} rows in {:.2} s",
        generator.name(),
        train.n_rows(),
        schema.columns().len(),
        fitted.as_secs_f64(),
        table.n_rows(),
        (started.elapsed() - fitted).as_secs_f64()
    );
    write_with_schema(&args.out, &table, &schema)
}

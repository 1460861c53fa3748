//! `ehrsynth cohort eicu|reference`: build the 83-column cohort table and its schema file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use ehrsynth_cohort::eicu::{EicuOptions, FirstStayOrder, build_eicu};
use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceCohort, ReferenceConfig, reference_cohort};
use ehrsynth_table::io::write_table;
use ehrsynth_table::{Schema, Table};

use super::schema_path_for;
use crate::progress::Bars;
use crate::summary::headline;

const EICU_EXAMPLES: &str = "Examples:
  ehrsynth cohort eicu --eicu-dir ~/physionet/eicu-crd/2.0 --out eicu.parquet
  ehrsynth cohort eicu --eicu-dir ../shared/data/eicu-demo --out demo.parquet \\
      --table lab=../shared/data/eicu-demo/lab_SUBSET_pyhealth.csv.gz
The schema (roles set: death = target, hospitalid = site, is_female and race_* = group)
is written beside the output as NAME.schema.toml.";

const REFERENCE_EXAMPLES: &str = "Examples:
  ehrsynth cohort reference --rows 10000 --hospitals 20 --seed 42 --out reference.parquet
  ehrsynth cohort reference --rows 100000 --out big.csv.gz
The table is simulated (see docs/reference-cohort.md); its schema is written beside it.";

pub const EXAMPLES: &str = "Examples:
  ehrsynth cohort eicu --eicu-dir ../shared/data/eicu-demo --out demo.parquet
  ehrsynth cohort reference --rows 10000 --hospitals 20 --seed 42 --out reference.parquet";

/// Which cohort to build.
#[derive(Debug, Subcommand)]
pub enum CohortCommand {
    /// Build the eICU day-1 mortality table from eICU's own CSV(.gz) tables.
    #[command(after_help = EICU_EXAMPLES)]
    Eicu(EicuArgs),
    /// Simulate the built-in eICU-shaped reference cohort (the offline default).
    #[command(after_help = REFERENCE_EXAMPLES)]
    Reference(ReferenceArgs),
}

/// How to pick one stay per patient.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FirstStayArg {
    /// As the original SQL (within one hospitalisation it picks the later unit stay).
    Original,
    /// The earliest unit stay.
    Earliest,
}

/// Arguments of `ehrsynth cohort eicu`.
#[derive(Debug, Args)]
pub struct EicuArgs {
    /// Folder holding eICU's tables (patient.csv.gz, apachePatientResult.csv.gz, lab.csv.gz, ...).
    #[arg(long)]
    eicu_dir: PathBuf,
    /// Output table: .parquet, .csv or .csv.gz.
    #[arg(long)]
    out: PathBuf,
    /// Read an eICU table from another file, as TABLE=FILE (e.g. lab=lab_subset.csv.gz).
    #[arg(long = "table", value_name = "TABLE=FILE")]
    tables: Vec<String>,
    /// How to pick one stay per patient.
    #[arg(long, value_enum, default_value = "original")]
    first_stay: FirstStayArg,
}

/// The size and seed of a reference cohort (shared by `cohort reference` and `quickstart`).
#[derive(Debug, Args)]
pub struct ReferenceSize {
    /// Number of ICU stays.
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// Number of hospitals.
    #[arg(long, default_value_t = 20)]
    hospitals: usize,
    /// Random seed (same seed, same table).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl ReferenceSize {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The simulated cohort of this size.
    pub fn simulate(&self) -> anyhow::Result<ReferenceCohort> {
        let config = ReferenceConfig {
            rows: self.rows,
            hospitals: self.hospitals,
            seed: self.seed,
        };
        Ok(reference_cohort(&config)?)
    }
}

/// Arguments of `ehrsynth cohort reference`.
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    #[command(flatten)]
    size: ReferenceSize,
    /// Output table: .parquet, .csv or .csv.gz.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `ehrsynth cohort ...`.
pub fn run(command: CohortCommand) -> anyhow::Result<()> {
    match command {
        CohortCommand::Eicu(args) => run_eicu(args),
        CohortCommand::Reference(args) => run_reference(args),
    }
}

fn parse_table_files(specs: &[String]) -> anyhow::Result<HashMap<String, PathBuf>> {
    specs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((table, file)) if !table.is_empty() && !file.is_empty() => {
                Ok((table.to_string(), PathBuf::from(file)))
            }
            _ => bail!("--table expects TABLE=FILE (e.g. lab=lab_subset.csv.gz), got '{s}'"),
        })
        .collect()
}

fn run_eicu(args: EicuArgs) -> anyhow::Result<()> {
    let [out, schema] = super::with_schema(&args.out);
    super::check_outputs(
        &[],
        &[("--out", &out), ("the schema beside --out", &schema)],
    )?;
    let options = EicuOptions {
        table_files: parse_table_files(&args.tables)?,
        first_stay: match args.first_stay {
            FirstStayArg::Original => FirstStayOrder::Original,
            FirstStayArg::Earliest => FirstStayOrder::EarliestUnitStay,
        },
    };
    let cohort = build_eicu(&args.eicu_dir, &options, &Bars::default())
        .with_context(|| format!("building the eICU cohort from {}", args.eicu_dir.display()))?;
    for warning in &cohort.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!("stays after each step:");
    for step in &cohort.steps {
        eprintln!("  {:>8}  {}", step.remaining, step.label);
    }
    write_with_schema(&args.out, &cohort.table, &cohort.schema, None)
}

fn run_reference(args: ReferenceArgs) -> anyhow::Result<()> {
    let [out, schema] = super::with_schema(&args.out);
    super::check_outputs(
        &[],
        &[("--out", &out), ("the schema beside --out", &schema)],
    )?;
    let cohort = args.size.simulate()?;
    write_with_schema(&args.out, &cohort.table, &eicu_schema(), None)
}

/// Writes the table and its schema file beside it, and says what was written (the target's
/// share read with `positive` as its positive class, when given).
pub fn write_with_schema(
    out: &Path,
    table: &Table,
    schema: &Schema,
    positive: Option<&str>,
) -> anyhow::Result<()> {
    write_table(out, table)?;
    let schema_path = schema_path_for(out);
    schema.save(&schema_path)?;
    eprintln!(
        "wrote {} ({})",
        out.display(),
        headline(table, schema, positive)
    );
    eprintln!("wrote {}", schema_path.display());
    Ok(())
}

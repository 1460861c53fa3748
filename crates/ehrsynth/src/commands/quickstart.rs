//! `ehrsynth quickstart`: the offline main job. For now it builds the simulated reference cohort,
//! writes it with its schema, and prints the schema's roles and a per-column summary; the full
//! study grows here as generators and the audit land.

use std::path::PathBuf;

use clap::Args;
use ehrsynth_cohort::features::eicu_schema;

use super::cohort::{ReferenceSize, write_with_schema};
use crate::summary::{headline, table_summary};

pub const EXAMPLES: &str = "Examples:
  ehrsynth quickstart                       # writes out/quickstart/reference.parquet + schema
  ehrsynth quickstart --rows 50000 --out-dir /tmp/qs";

/// Arguments of `ehrsynth quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Folder for the outputs.
    #[arg(long, default_value = "out/quickstart")]
    out_dir: PathBuf,
    #[command(flatten)]
    size: ReferenceSize,
}

/// Runs `ehrsynth quickstart`.
pub fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let cohort = args.size.simulate()?;
    let schema = eicu_schema();
    let out = args.out_dir.join("reference.parquet");
    write_with_schema(&out, &cohort.table, &schema)?;
    println!("Reference cohort (simulated; see docs/reference-cohort.md)");
    println!("{}", headline(&cohort.table, &schema));
    println!();
    print!("{}", table_summary(&cohort.table, &schema));
    Ok(())
}

//! `ehrsynth quickstart`: the offline main job. For now it builds the simulated reference cohort,
//! writes it with its schema, prints the schema's roles and a per-column summary, and ranks the
//! features for mortality (top10.txt); the full study grows here as generators land.

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
    let ranking = ehrsynth_eval::importance(&cohort.table, &schema, "death", args.size.seed())?;
    let top: Vec<&str> = ranking
        .features
        .iter()
        .take(10)
        .map(|f| f.name.as_str())
        .collect();
    let top_file = args.out_dir.join("top10.txt");
    std::fs::write(&top_file, top.join("\n") + "\n")?;
    println!();
    println!(
        "Top 10 features for death (GBDT gain; holdout AUROC {}): {}",
        ranking
            .holdout_auroc
            .map_or("n/a".into(), |a| format!("{a:.3}")),
        top.join(", ")
    );
    eprintln!("wrote {}", top_file.display());
    Ok(())
}

//! `ehrsynth importance`: rank features for the target and write a feature list.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ehrsynth_eval::importance;
use ehrsynth_table::io::{read_table, write_file_atomically};

use super::evaluate::load_schema;

pub const EXAMPLES: &str = "Examples:
  ehrsynth importance --data reference.parquet --target death --top 10 --out top10.txt
  ehrsynth importance --data eicu.parquet --json importance.json
The list file has one column name per line, most important first.";

/// Arguments of `ehrsynth importance`.
#[derive(Debug, Args)]
pub struct ImportanceArgs {
    /// The table to rank features on.
    #[arg(long)]
    data: PathBuf,
    /// The outcome (default: the schema's target).
    #[arg(long)]
    target: Option<String>,
    /// Schema file (default: NAME.schema.toml beside --data, else inferred).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// How many features to print and write.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write the top features, one per line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write every feature's importance as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The target's positive class, for an outcome of two labels no rule recognises
    /// (default: 1, or the label that says yes / true / dead / positive).
    #[arg(long)]
    positive: Option<String>,
    /// Seed for the split and the permutations.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs `ehrsynth importance`.
pub fn run(args: ImportanceArgs) -> anyhow::Result<()> {
    let read = super::data_inputs(&args.data, args.schema.as_deref());
    let inputs: Vec<&Path> = read.iter().map(PathBuf::as_path).collect();
    let outputs: Vec<(&str, &Path)> = [("--out", &args.out), ("--json", &args.json)]
        .into_iter()
        .filter_map(|(what, p)| p.as_deref().map(|p| (what, p)))
        .collect();
    super::check_outputs(&inputs, &outputs)?;
    let schema = load_schema(
        args.schema.as_deref(),
        &args.data,
        args.target.as_deref(),
        None,
    )?;
    let target = match args
        .target
        .clone()
        .or_else(|| schema.target().map(str::to_string))
    {
        Some(t) => t,
        None => {
            anyhow::bail!("no target: pass --target COLUMN or set role = \"target\" in the schema")
        }
    };
    let table = read_table(&args.data, Some(&schema))?;
    let report = importance(
        &table,
        &schema,
        &target,
        args.positive.as_deref(),
        args.seed,
    )?;
    println!(
        "{} features ranked for '{}' (GBDT holdout AUROC {})",
        report.features.len(),
        target,
        report
            .holdout_auroc
            .map_or("n/a".into(), |a| format!("{a:.3}"))
    );
    println!(
        "{:>4}  {:<32} {:>10} {:>12}",
        "rank", "feature", "gain share", "permutation"
    );
    for f in report.features.iter().take(args.top) {
        let flag = if f.known_after_outcome {
            "  (known only after the outcome)"
        } else {
            ""
        };
        println!(
            "{:>4}  {:<32} {:>10.4} {:>12.4}{flag}",
            f.rank, f.name, f.gain_share, f.permutation
        );
    }
    if let Some(path) = &args.out {
        let names: Vec<&str> = report
            .features
            .iter()
            .take(args.top)
            .map(|f| f.name.as_str())
            .collect();
        write_file_atomically(path, (names.join("\n") + "\n").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {} ({} features)", path.display(), names.len());
    }
    if let Some(path) = &args.json {
        write_file_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

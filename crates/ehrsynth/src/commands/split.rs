//! `ehrsynth split`: seeded train/holdout split of a table, stratified on the target or by hospital.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use ehrsynth_eval::target::BinaryTarget;
use ehrsynth_table::io::read_table;
use ehrsynth_table::split::{SiteHoldout, site_split, stratified_split};

use super::cohort::write_with_schema;
use super::evaluate::load_schema;

pub const EXAMPLES: &str = "Examples:
  ehrsynth split reference.parquet --holdout-share 0.2 --train train.parquet \\
      --holdout holdout.parquet
  ehrsynth split eicu.parquet --by-site --site-share 0.2 --train train.parquet \\
      --holdout holdout.parquet
  ehrsynth split eicu.parquet --by-site --sites 73,264 --train train.csv --holdout holdout.csv
Random splits keep the target's rate on both sides; site splits hold out whole hospitals.";

/// Arguments of `ehrsynth split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The table to split.
    data: PathBuf,
    /// Schema file (default: NAME.schema.toml beside the data, else inferred).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Where to write the training rows.
    #[arg(long)]
    train: PathBuf,
    /// Where to write the held-out rows.
    #[arg(long)]
    holdout: PathBuf,
    /// Share of rows held out (random split, stratified on the target).
    #[arg(long, default_value_t = 0.2)]
    holdout_share: f64,
    /// Hold out whole hospitals instead (the schema's site column, or --site).
    #[arg(long)]
    by_site: bool,
    /// The site column for --by-site (default: the schema's site).
    #[arg(long)]
    site: Option<String>,
    /// Hospitals to hold out, comma separated (with --by-site).
    #[arg(long, value_delimiter = ',')]
    sites: Vec<String>,
    /// Share of hospitals to hold out, seeded (with --by-site; default 0.2).
    #[arg(long)]
    site_share: Option<f64>,
    /// The target's positive class, for an outcome of two labels no rule recognises
    /// (default: 1, or the label that says yes / true / dead / positive).
    #[arg(long)]
    positive: Option<String>,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs `ehrsynth split`.
pub fn run(args: SplitArgs) -> anyhow::Result<()> {
    let read = super::data_inputs(&args.data, args.schema.as_deref());
    let inputs: Vec<&Path> = read.iter().map(PathBuf::as_path).collect();
    let ([train, train_schema], [holdout, holdout_schema]) = (
        super::with_schema(&args.train),
        super::with_schema(&args.holdout),
    );
    super::check_outputs(
        &inputs,
        &[
            ("--train", &train),
            ("the schema beside --train", &train_schema),
            ("--holdout", &holdout),
            ("the schema beside --holdout", &holdout_schema),
        ],
    )?;
    let schema = load_schema(
        args.schema.as_deref(),
        &args.data,
        None,
        args.site.as_deref(),
    )?;
    let table = read_table(&args.data, Some(&schema))?;
    let split = if args.by_site {
        let Some(site) = args
            .site
            .clone()
            .or_else(|| schema.site().map(str::to_string))
        else {
            bail!(
                "--by-site needs a site column: pass --site COLUMN or set role = \"site\" in the schema"
            );
        };
        let holdout = if args.sites.is_empty() {
            SiteHoldout::Share(args.site_share.unwrap_or(0.2))
        } else {
            SiteHoldout::Sites(args.sites.clone())
        };
        let split = site_split(&table, &site, &holdout, args.seed)?;
        eprintln!(
            "held-out sites ({}): {}",
            site,
            split.holdout_sites.join(", ")
        );
        split
    } else {
        let Some(target) = schema.target() else {
            bail!(
                "a stratified split needs a target: set role = \"target\" in the schema (ehrsynth schema DATA --target COL --out FILE)"
            );
        };
        // The same two-class rule as evaluate and importance: a 52-valued target is an error
        // here too, and a two-label one is counted by its positive label.
        BinaryTarget::infer(table.require(target)?, args.positive.as_deref())?;
        stratified_split(&table, target, args.holdout_share, args.seed)?
    };
    let (train, holdout) = split.apply(&table);
    write_with_schema(&args.train, &train, &schema, args.positive.as_deref())?;
    write_with_schema(&args.holdout, &holdout, &schema, args.positive.as_deref())?;
    Ok(())
}

//! `ehrsynth quickstart`: the offline main job. It builds the simulated reference cohort, prints
//! its schema and a per-column summary, ranks the features for mortality (top10.txt), splits it,
//! fits every statistical generator of the registry (the Gaussian copula, the Bayesian network)
//! on the top 10 features and on all of them,
//! audits each synthetic table against the held-out real rows, and prints one comparison table
//! (JSON and HTML audits are written per cell). The full study (LLM strategies, the report)
//! grows here as those issues land.

use std::path::PathBuf;

use clap::Args;
use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_eval::{AuditConfig, AuditReport, audit};
use ehrsynth_gen::SampleOptions;
use ehrsynth_gen::registry;
use ehrsynth_table::Schema;
use ehrsynth_table::split::stratified_split;

use super::cohort::{ReferenceSize, write_with_schema};
use super::generate::feature_schema;
use crate::progress::Bars;
use crate::summary::{headline, table_summary};

pub const EXAMPLES: &str = "Examples:
  ehrsynth quickstart                       # writes everything under out/quickstart/
  ehrsynth quickstart --rows 50000 --synthetic-rows 5000 --out-dir /tmp/qs";

/// Arguments of `ehrsynth quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Folder for the outputs.
    #[arg(long, default_value = "out/quickstart")]
    out_dir: PathBuf,
    #[command(flatten)]
    size: ReferenceSize,
    /// Synthetic rows per generator and feature set.
    #[arg(long, default_value_t = 2000)]
    synthetic_rows: usize,
}

/// One generator × feature-set cell of the comparison.
struct Cell {
    generator: &'static str,
    features: &'static str,
    report: AuditReport,
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// Runs `ehrsynth quickstart`.
pub fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let seed = args.size.seed();
    let cohort = args.size.simulate()?;
    let schema = eicu_schema();
    let out = args.out_dir.join("reference.parquet");
    write_with_schema(&out, &cohort.table, &schema, None)?;
    println!("Reference cohort (simulated; see docs/reference-cohort.md)");
    println!("{}", headline(&cohort.table, &schema, None));
    println!();
    print!("{}", table_summary(&cohort.table, &schema));

    let split = stratified_split(&cohort.table, "death", 0.2, seed)?;
    let (train, holdout) = split.apply(&cohort.table);
    let ranking = ehrsynth_eval::importance(&train, &schema, "death", None, seed)?;
    let top: Vec<String> = ranking
        .features
        .iter()
        .take(10)
        .map(|f| f.name.clone())
        .collect();
    std::fs::write(args.out_dir.join("top10.txt"), top.join("\n") + "\n")?;
    println!();
    println!(
        "Top 10 features for death (GBDT gain on the training split; holdout AUROC {}): {}",
        fmt(ranking.holdout_auroc),
        top.join(", ")
    );

    let feature_sets: [(&str, Schema); 2] = [
        ("top 10", feature_schema(&schema, &top, None)?),
        ("all 83", schema.clone()),
    ];
    let bars = Bars::default();
    let mut cells = Vec::new();
    for (features, cell_schema) in &feature_sets {
        for entry in registry::GENERATORS {
            let generator = entry.name;
            let mut model = entry.generator(&registry::GeneratorSettings::default())?;
            let train_cell = train.select(&cell_schema.names())?;
            let holdout_cell = holdout.select(&cell_schema.names())?;
            model.fit(&train_cell, cell_schema, seed, &bars)?;
            let synthetic = model.generate(
                &SampleOptions {
                    rows: args.synthetic_rows,
                    seed,
                    condition: None,
                },
                &bars,
            )?;
            let report = audit(
                cell_schema,
                &train_cell,
                &holdout_cell,
                &synthetic,
                &AuditConfig {
                    seed,
                    ..AuditConfig::default()
                },
                &bars,
            )?;
            let stem = format!("{generator}-{}", features.replace(' ', ""));
            write_with_schema(
                &args.out_dir.join(format!("{stem}.parquet")),
                &synthetic,
                cell_schema,
                None,
            )?;
            std::fs::write(
                args.out_dir.join(format!("{stem}.audit.json")),
                serde_json::to_string_pretty(&report)?,
            )?;
            std::fs::write(
                args.out_dir.join(format!("{stem}.audit.html")),
                ehrsynth_eval::html::render(&report),
            )?;
            cells.push(Cell {
                generator,
                features,
                report,
            });
        }
    }
    println!();
    println!(
        "Statistical generators on the reference cohort ({} training, {} holdout, {} synthetic rows each):",
        train.n_rows(),
        holdout.n_rows(),
        args.synthetic_rows
    );
    println!(
        "{:<10} {:<8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12}",
        "generator",
        "features",
        "mean KL",
        "TSTR",
        "TRTR",
        "detection",
        "DCR share",
        "attack AUROC"
    );
    for c in &cells {
        let u = c.report.utility.as_ref();
        let p = c.report.privacy.as_ref();
        println!(
            "{:<10} {:<8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12}",
            c.generator,
            c.features,
            fmt(c.report.fidelity.kl_mean),
            fmt(u.and_then(|u| u.across.auroc)),
            fmt(u.and_then(|u| u.trtr.auroc)),
            fmt(c.report.fidelity.detection_auroc),
            fmt(p.and_then(|p| p.dcr_share)),
            fmt(p.and_then(|p| p.attacks.first()).and_then(|a| a.auroc)),
        );
    }
    eprintln!(
        "audits (JSON, HTML) and synthetic tables written to {}",
        args.out_dir.display()
    );
    Ok(())
}

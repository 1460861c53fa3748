//! `ehrsynth schema`: print (or write) the inferred schema of a table.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ehrsynth_table::cell::MissingTokens;
use ehrsynth_table::io::{ReadOptions, read_table_with_options};
use ehrsynth_table::schema::RoleHints;
use ehrsynth_table::{NoProgress, Role, Schema};

pub const EXAMPLES: &str = "Examples:
  ehrsynth schema cohort.csv --target death --site hospitalid --group is_female --group race_black
  ehrsynth schema cohort.parquet --target death --out cohort.schema.toml   # then edit it
  ehrsynth schema cohort.csv --schema cohort.schema.toml   # check a table against an edited schema
  ehrsynth schema trial.csv --missing -99 --missing \"not recorded\" --out trial.schema.toml
Built-in missing tokens: an empty cell, NA, N/A, NaN, NULL, None in every column; ?, ., -, na,
n/a, #n/a, nil, missing, unknown (any case) in numeric columns. --missing adds tokens for every
column; they are written into the schema, so every command that reads with it honours them.";

/// Arguments of `ehrsynth schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The table: .csv, .csv.gz, .tsv or .parquet.
    data: PathBuf,
    /// The outcome column.
    #[arg(long)]
    target: Option<String>,
    /// The hospital (site) column.
    #[arg(long)]
    site: Option<String>,
    /// A demographic group column (repeat for several).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// An identifier column (repeat for several).
    #[arg(long = "id")]
    ids: Vec<String>,
    /// Read the table with this schema file instead of inferring one, and report rows that break it.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Write the schema to this file instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A cell text that means "missing" in this file, in every column (repeat for several,
    /// e.g. --missing -99 --missing "not recorded"); kept in the schema written.
    #[arg(long = "missing", allow_hyphen_values = true)]
    missing: Vec<String>,
}

/// Runs `ehrsynth schema`.
pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        let inputs: Vec<&Path> = [Some(args.data.as_path()), args.schema.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        super::check_outputs(&inputs, &[("--out", out)])?;
    }
    let given = args.schema.as_deref().map(Schema::load).transpose()?;
    let options = ReadOptions {
        missing: MissingTokens::with_extra(&args.missing),
        ..ReadOptions::default()
    };
    let table = read_table_with_options(&args.data, given.as_ref(), &options, &NoProgress)?;
    let mut schema = match given {
        Some(mut schema) => {
            apply_roles(&mut schema, &args)?;
            let report = schema.validate_table(&table)?;
            eprintln!(
                "{}: {} of {} rows break the schema",
                args.data.display(),
                report.rejected.len(),
                report.n_rows
            );
            for ((column, reason), n) in report.counts() {
                eprintln!("  {column}: {n} x {reason}");
            }
            schema
        }
        None => {
            let hints = RoleHints {
                target: args.target.clone(),
                site: args.site.clone(),
                groups: args.groups.clone(),
                ids: args.ids.clone(),
            };
            ehrsynth_eval::roles::check_roles(
                &table.column_names(),
                ehrsynth_eval::roles::NamedRoles {
                    target: args.target.as_deref(),
                    site: args.site.as_deref(),
                    groups: &args.groups,
                },
            )?;
            let schema = Schema::infer(&table, &hints)?;
            for (column, note) in ehrsynth_table::profile::notes(&table) {
                let role = schema
                    .column(column)
                    .filter(|c| c.role == ehrsynth_table::Role::Id)
                    .map_or("", |_| " (given role id: delete that line to audit it)");
                eprintln!("note: column {column}: {note}{role}");
            }
            schema
        }
    };
    for token in MissingTokens::with_extra(&args.missing).extra() {
        if !schema.missing_tokens.contains(token) {
            schema.missing_tokens.push(token.clone());
        }
    }
    match &args.out {
        Some(path) => {
            schema.save(path)?;
            eprintln!(
                "wrote {} ({} columns)",
                path.display(),
                schema.columns().len()
            );
        }
        None => print!("{}", schema.to_toml()),
    }
    Ok(())
}

fn apply_roles(schema: &mut Schema, args: &SchemaArgs) -> anyhow::Result<()> {
    let assignments = args
        .target
        .iter()
        .map(|c| (c, Role::Target))
        .chain(args.site.iter().map(|c| (c, Role::Site)))
        .chain(args.groups.iter().map(|c| (c, Role::Group)))
        .chain(args.ids.iter().map(|c| (c, Role::Id)));
    for (column, role) in assignments {
        schema
            .set_role(column, role)
            .with_context(|| format!("setting the role of '{column}'"))?;
    }
    Ok(())
}

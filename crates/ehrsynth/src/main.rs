//! The `ehrsynth` command line: a thin layer over the library crates that parses arguments,
//! draws progress bars and prints results. Each subcommand lives in [`commands`].

mod commands;
mod exit;
mod progress;
mod summary;
mod transport;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "Examples:
  ehrsynth study examples/quickstart.toml               # the offline main job
  ehrsynth study examples/paper.toml --estimate         # the paper's grid and its cost
  ehrsynth cohort reference --rows 10000 --out reference.parquet
  ehrsynth cohort eicu --eicu-dir /data/eicu-crd/2.0 --out eicu.parquet
  ehrsynth schema reference.parquet --target death --site hospitalid
  ehrsynth model pull                                   # the offline LLM (SmolLM2, via pip)
Exit codes: 0 = everything asked for was written; 1 = an error (the message says which);
2 = a usage error; 3 = incomplete: the outputs were written but hold less than asked (fewer rows
than --rows, failed study cells), the reason on the last line.";

/// Synthetic ICU patient tables you can trust: build cohorts, generate, audit.
#[derive(Debug, Parser)]
#[command(name = "ehrsynth", version, about, long_about = None, propagate_version = true, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a cohort table: from eICU's own tables, or the built-in simulated reference cohort.
    #[command(subcommand, after_help = commands::cohort::EXAMPLES)]
    Cohort(commands::cohort::CohortCommand),
    /// Print the inferred schema (TOML) of a CSV, CSV.GZ or Parquet table.
    #[command(after_help = commands::schema::EXAMPLES)]
    Schema(commands::schema::SchemaArgs),
    /// Split a table into train and holdout: stratified on the target, or by hospital.
    #[command(after_help = commands::split::EXAMPLES)]
    Split(commands::split::SplitArgs),
    /// Fit a generator (Gaussian copula, Bayesian network, sequential CART) on a training table and write synthetic rows.
    #[command(after_help = commands::generate::EXAMPLES)]
    Generate(Box<commands::generate::GenerateArgs>),
    /// Audit a synthetic table: fidelity, utility across hospitals, fairness, privacy.
    #[command(after_help = commands::evaluate::EXAMPLES)]
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Rank features for the target (GBDT gain and permutation) and write a feature list.
    #[command(after_help = commands::importance::EXAMPLES)]
    Importance(commands::importance::ImportanceArgs),
    /// Run a study: the experiment grid of a TOML config, resumable, with a report.
    #[command(after_help = commands::study::EXAMPLES)]
    Study(commands::study::StudyArgs),
    /// The local model cache: pull the default offline model, list cached models.
    #[command(subcommand, after_help = commands::model::EXAMPLES)]
    Model(commands::model::ModelCommand),
    /// A ten-second look at the reference cohort: schema, summary, top features, copula vs Bayesian network.
    #[command(after_help = commands::quickstart::EXAMPLES)]
    Quickstart(commands::quickstart::QuickstartArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cohort(c) => commands::cohort::run(c),
        Command::Schema(a) => commands::schema::run(a),
        Command::Quickstart(a) => commands::quickstart::run(a),
        Command::Evaluate(a) => commands::evaluate::run(a),
        Command::Split(a) => commands::split::run(a),
        Command::Generate(a) => commands::generate::run(*a),
        Command::Importance(a) => commands::importance::run(a),
        Command::Study(a) => commands::study::run(a),
        Command::Model(c) => commands::model::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            exit::code_for(&error)
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message already
/// holds (library errors such as "file.csv: No such file" carry their source in their own text).
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    /// clap wraps help at 100 columns when it is not written to a terminal (and at the
    /// terminal's width otherwise), so an example line wider than that is broken mid-command.
    #[test]
    fn every_examples_text_fits_100_columns() {
        let texts = [
            ("ehrsynth", super::EXAMPLES),
            ("cohort", super::commands::cohort::EXAMPLES),
            ("evaluate", super::commands::evaluate::EXAMPLES),
            ("generate", super::commands::generate::EXAMPLES),
            ("importance", super::commands::importance::EXAMPLES),
            ("model", super::commands::model::EXAMPLES),
            ("quickstart", super::commands::quickstart::EXAMPLES),
            ("schema", super::commands::schema::EXAMPLES),
            ("split", super::commands::split::EXAMPLES),
            ("study", super::commands::study::EXAMPLES),
        ];
        for (command, text) in texts {
            for line in text.lines() {
                let width = line.chars().count();
                assert!(width <= 100, "{command}: {width} columns: {line}");
            }
        }
    }
}

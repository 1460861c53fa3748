//! The study: the paper's experiment grid run from one TOML config, with a journal of finished
//! cells, a tidy results table, and a self-contained HTML report (plus a Markdown summary).
//!
//! - [`config`]: the config file (every key documented in docs/study.md).
//! - [`grid`]: the config expanded into cells, with ids and settings hashes.
//! - [`data`]: the real data prepared once: loaded, split, ranked, the cross-hospital matrix.
//! - [`cell`]: one cell: columns, generator, audit, distributions.
//! - [`llm_settings`]: LLM settings to a generator config, for any provider the caller has a transport for.
//! - [`journal`]: the study journal (SQLite) that makes a stopped study resume.
//! - [`runner`]: the loop over cells and the output files.
//! - [`results`]: what a finished study holds; the runner writes it, the report reads it.
//! - [`tidy`]: the results table (one row per cell, one column per metric).
//! - [`distributions`]: real vs synthetic histograms per column.
//! - [`report`]: the HTML report and the Markdown summary, rendered from [`results::StudyResults`].
//!
//! Not here: command-line parsing, terminals and transports (the `ehrsynth` binary).

pub mod cell;
pub mod config;
pub mod data;
pub mod distributions;
pub mod grid;
pub mod journal;
pub mod llm_settings;
pub mod report;
pub mod results;
pub mod runner;
pub mod tidy;

use std::path::PathBuf;

pub use config::StudyConfig;
pub use runner::{Observer, RunOptions, StudyOutcome, run_study};

/// Why a study could not run (a failing cell is not an error: it is recorded in the results).
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The config file is wrong; the message names the key.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        message: String,
    },
    /// The study journal failed.
    #[error("study journal {}: {message}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// The error.
        message: String,
    },
    /// The data could not be prepared.
    #[error("{0}")]
    Data(String),
}

pub use ehrsynth_table::io::write_file_atomically as write_atomically;

//! Errors of the cohort builders.

use ehrsynth_table::TableError;

/// What can go wrong building a cohort.
#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    /// A source or output table could not be read or written.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A required source table is missing or the arguments cannot work.
    #[error("{0}")]
    Input(String),
}

//! Errors of the audit.

use ehrsynth_table::TableError;

/// What can stop an audit.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A table could not be read or validated.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A column the audit needs is not in a table.
    #[error(
        "column '{0}' is missing from one of the tables; every table needs the schema's columns"
    )]
    MissingColumn(String),
    /// The inputs cannot be audited as given (no target, too few rows, ...).
    #[error("{0}")]
    Invalid(String),
}

//! Errors of the table crate. Each variant names the file and, where it applies, the line and
//! column, and says what was expected, so that the message alone tells the user what to fix.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing, validating or splitting a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no header row or no data.
    #[error("{path}: the file is empty; expected a header row naming the columns")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The extension is neither .csv, .csv.gz nor .parquet.
    #[error(
        "{path}: unknown file type; use a name ending in .csv, .csv.gz or .parquet (or .tsv/.tsv.gz)"
    )]
    UnsupportedExtension {
        /// The file.
        path: PathBuf,
    },
    /// A gzip stream ended early or is corrupt.
    #[error(
        "{path}: the gzip stream is cut short or corrupt near line {line} ({detail}); re-download or re-compress the file"
    )]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The last line read before the stream broke.
        line: u64,
        /// What the decoder said.
        detail: String,
    },
    /// A line of the CSV is malformed: wrong number of fields, invalid UTF-8, bad quoting.
    #[error("{path}, line {line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A cell does not parse as the kind its column has.
    #[error("{path}, line {line}, column '{column}': found '{value}', expected {expected}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (for Parquet: 1-based row number).
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
        /// What the column's kind needs.
        expected: String,
    },
    /// A column the schema requires is not in the file.
    #[error("{path}: column '{column}' is required but not in the file (columns found: {found})")]
    MissingColumn {
        /// The file (or table name).
        path: PathBuf,
        /// The missing column.
        column: String,
        /// Columns that were present, comma separated (shortened when long).
        found: String,
    },
    /// A column name appears twice in a header.
    #[error("{path}: column '{column}' appears more than once in the header")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// A schema file is malformed or inconsistent.
    #[error("{path}: {message}")]
    Schema {
        /// The schema file (or `<schema>` when built in memory).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The Parquet file could not be read or written.
    #[error("{path}: Parquet error: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the parquet library said.
        message: String,
    },
    /// A column that the caller asked for does not exist.
    #[error("no column named '{column}' (columns: {found})")]
    UnknownColumn {
        /// The name asked for.
        column: String,
        /// The columns present (shortened when long).
        found: String,
    },
    /// Arguments that cannot work (an empty table to split, a share outside 0..1, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Joins column names for an error message, shortening long lists.
pub(crate) fn short_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.len() <= 12 {
        names.join(", ")
    } else {
        format!("{}, ... ({} in all)", names[..12].join(", "), names.len())
    }
}

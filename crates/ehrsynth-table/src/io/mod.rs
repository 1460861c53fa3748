//! Reading and writing tables, with the format chosen by file extension:
//! `.csv`, `.tsv` (optionally `.gz`) and `.parquet`.
//!
//! Reading without a schema infers each column's kind; reading with a schema selects the
//! schema's columns in its order and parses each as its kind, failing with the file, line and
//! column of the first cell that does not fit. Delimited text has its separator sniffed from the
//! header (comma, semicolon or tab, whatever the extension says) and its missing cells read by
//! [`crate::cell`]'s rule; [`ReadOptions`] overrides the separator and adds missing tokens.

pub mod csv;
#[cfg(feature = "parquet")]
pub mod parquet;

use std::path::Path;

use crate::cell::MissingTokens;
use crate::error::TableError;
use crate::progress::{NoProgress, Progress};
use crate::schema::Schema;
use crate::table::Table;

/// A file format ehrsynth reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text; `gzip` when the name ends in `.gz`.
    Delimited {
        /// Field delimiter the extension names (`,` or tab); reading sniffs the file's own.
        delimiter: u8,
        /// Whether the file is gzip-compressed.
        gzip: bool,
    },
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format named by `path`'s extension.
    pub fn from_path(path: &Path) -> crate::Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (name, false),
        };
        if stem.ends_with(".csv") {
            Ok(Format::Delimited {
                delimiter: b',',
                gzip,
            })
        } else if stem.ends_with(".tsv") {
            Ok(Format::Delimited {
                delimiter: b'\t',
                gzip,
            })
        } else if stem.ends_with(".parquet") && !gzip {
            Ok(Format::Parquet)
        } else {
            Err(TableError::UnsupportedExtension {
                path: path.to_path_buf(),
            })
        }
    }
}

/// How to read a file, beyond what its extension says. The default sniffs the separator and
/// uses the built-in missing tokens.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Field separator of delimited text; `None` sniffs it ([`csv::sniff_delimiter`]).
    pub delimiter: Option<u8>,
    /// Missing tokens of delimited text, with any extra ones ([`MissingTokens::with_extra`]).
    /// Parquet files mark missing values themselves and ignore this.
    pub missing: MissingTokens,
}

/// Reads a table, inferring column kinds, or parsing them as `schema` says when one is given.
pub fn read_table(path: &Path, schema: Option<&Schema>) -> crate::Result<Table> {
    read_table_with_progress(path, schema, &NoProgress)
}

/// [`read_table`], reporting bytes read to `progress`.
pub fn read_table_with_progress(
    path: &Path,
    schema: Option<&Schema>,
    progress: &dyn Progress,
) -> crate::Result<Table> {
    read_table_with_options(path, schema, &ReadOptions::default(), progress)
}

/// [`read_table_with_progress`] with a chosen separator or extra missing tokens.
pub fn read_table_with_options(
    path: &Path,
    schema: Option<&Schema>,
    options: &ReadOptions,
    progress: &dyn Progress,
) -> crate::Result<Table> {
    match Format::from_path(path)? {
        Format::Delimited { delimiter, gzip } => {
            csv::read_delimited(path, delimiter, gzip, schema, options, progress)
        }
        Format::Parquet => read_parquet(path, schema),
    }
}

/// Writes a table in the format named by `path`'s extension. The rows go to a hidden
/// `.NAME.partial` file beside it that is renamed into place once complete, so a crash or a
/// full disk never leaves a torn table where a good one was.
pub fn write_table(path: &Path, table: &Table) -> crate::Result<()> {
    let format = Format::from_path(path)?;
    let partial = partial_path(path);
    let written = match format {
        Format::Delimited { delimiter, gzip } => {
            csv::write_delimited(&partial, table, delimiter, gzip)
        }
        Format::Parquet => write_parquet(&partial, table),
    };
    written
        .and_then(|()| {
            std::fs::rename(&partial, path).map_err(|source| TableError::Io {
                path: path.to_path_buf(),
                source,
            })
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
}

/// Writes `bytes` to `path` through its partial file and a rename (see [`write_table`]).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
}

/// The hidden file a table is written to before it is renamed into `path`.
pub fn partial_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

#[cfg(feature = "parquet")]
fn read_parquet(path: &Path, schema: Option<&Schema>) -> crate::Result<Table> {
    parquet::read_parquet(path, schema)
}

#[cfg(feature = "parquet")]
fn write_parquet(path: &Path, table: &Table) -> crate::Result<()> {
    parquet::write_parquet(path, table)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(path: &Path, _schema: Option<&Schema>) -> crate::Result<Table> {
    Err(parquet_disabled(path))
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(path: &Path, _table: &Table) -> crate::Result<()> {
    Err(parquet_disabled(path))
}

#[cfg(not(feature = "parquet"))]
fn parquet_disabled(path: &Path) -> TableError {
    TableError::Parquet {
        path: path.to_path_buf(),
        message: "this build has no Parquet support; rebuild with the `parquet` feature".into(),
    }
}

/// Opens a file for reading, naming it in the error.
pub(crate) fn open(path: &Path) -> crate::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| TableError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates a file for writing (and its parent folder), naming it in the error.
pub(crate) fn create(path: &Path) -> crate::Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| TableError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::File::create(path).map_err(|source| TableError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(
            Format::from_path(Path::new("a/B.CSV.gz")).unwrap(),
            Format::Delimited {
                delimiter: b',',
                gzip: true
            }
        );
        assert_eq!(
            Format::from_path(Path::new("x.parquet")).unwrap(),
            Format::Parquet
        );
        assert!(Format::from_path(Path::new("x.xlsx")).is_err());
        assert!(Format::from_path(Path::new("x.parquet.gz")).is_err());
    }
}

//! Delimited text (CSV/TSV, optionally gzip-compressed) reading and writing.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{create, open};
use crate::cell::push_continuous;
use crate::column::Value;
use crate::error::{TableError, short_list};
use crate::progress::Progress;
use crate::schema::Schema;
use crate::table::Table;
use crate::text::ColumnBuilder;

/// Counts bytes as they are read and reports them to a [`Progress`].
pub struct CountingReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> CountingReader<'a, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Self { inner, progress }
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Opens a delimited file as a CSV reader (decompressing when `gzip`), reporting bytes read.
pub fn open_delimited<'a>(
    path: &Path,
    delimiter: u8,
    gzip: bool,
    progress: &'a dyn Progress,
) -> crate::Result<csv::Reader<Box<dyn Read + 'a>>> {
    let file = open(path)?;
    let size = file.metadata().map(|m| m.len()).ok();
    if size == Some(0) {
        return Err(TableError::Empty {
            path: path.to_path_buf(),
        });
    }
    let label = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    progress.start(&label, size, "bytes");
    let counted = BufReader::with_capacity(1 << 16, CountingReader::new(file, progress));
    let reader: Box<dyn Read + 'a> = if gzip {
        Box::new(MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .buffer_capacity(1 << 16)
        .from_reader(reader))
}

/// Turns a CSV library error into one that names the file and line and says what to do.
pub fn csv_error(path: &Path, gzip: bool, last_line: u64, error: csv::Error) -> TableError {
    let line = error.position().map_or(last_line + 1, |p| p.line());
    match error.into_kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len,
            len,
            pos,
        } => TableError::Csv {
            path: path.to_path_buf(),
            line: pos.map_or(line, |p| p.line()),
            message: format!(
                "found {len} fields, but the header has {expected_len}; \
                 check for a missing or extra field or an unquoted delimiter"
            ),
        },
        csv::ErrorKind::Io(e) if gzip => TableError::Gzip {
            path: path.to_path_buf(),
            line: last_line,
            detail: e.to_string(),
        },
        csv::ErrorKind::Io(source) => TableError::Io {
            path: path.to_path_buf(),
            source,
        },
        csv::ErrorKind::Utf8 { pos, err } => TableError::Csv {
            path: path.to_path_buf(),
            line: pos.map_or(line, |p| p.line()),
            message: format!(
                "field {} is not valid UTF-8; save the file as UTF-8",
                err.field() + 1
            ),
        },
        other => TableError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("{other:?}"),
        },
    }
}

/// Reads the header row as text column names; an empty file is an error.
pub fn read_header<R: Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
    gzip: bool,
) -> crate::Result<Vec<String>> {
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, gzip, 0, e))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(TableError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut names = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for (i, field) in header.iter().enumerate() {
        let name = std::str::from_utf8(field).map_err(|_| TableError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "header field {} is not valid UTF-8; save the file as UTF-8",
                i + 1
            ),
        })?;
        let name = name.trim().trim_start_matches('\u{feff}').to_string();
        if !seen.insert(name.clone()) {
            return Err(TableError::DuplicateColumn {
                path: path.to_path_buf(),
                column: name,
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// For each wanted column, its position in the header; errors on the first one that is absent.
pub fn locate_columns<S: AsRef<str>>(
    header: &[String],
    wanted: &[S],
    path: &Path,
) -> crate::Result<Vec<usize>> {
    wanted
        .iter()
        .map(|w| {
            header
                .iter()
                .position(|h| h == w.as_ref())
                .ok_or_else(|| TableError::MissingColumn {
                    path: path.to_path_buf(),
                    column: w.as_ref().to_string(),
                    found: short_list(header.iter().map(String::as_str)),
                })
        })
        .collect()
}

/// Reads a delimited file into a table (see [`crate::io::read_table`]).
pub fn read_delimited(
    path: &Path,
    delimiter: u8,
    gzip: bool,
    schema: Option<&Schema>,
    progress: &dyn Progress,
) -> crate::Result<Table> {
    let mut reader = open_delimited(path, delimiter, gzip, progress)?;
    let header = read_header(&mut reader, path, gzip)?;
    let names: Vec<String> = match schema {
        Some(s) => s.names().into_iter().map(str::to_string).collect(),
        None => header.clone(),
    };
    let positions = locate_columns(&header, &names, path)?;
    let mut builders: Vec<ColumnBuilder> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ColumnBuilder::for_kind(name, schema.map(|s| s.columns()[i].kind)))
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut line = 1;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, gzip, line, e)),
        }
        line = record.position().map_or(line + 1, |p| p.line());
        for (builder, (&pos, name)) in builders.iter_mut().zip(positions.iter().zip(&names)) {
            let text = std::str::from_utf8(&record[pos]).map_err(|_| TableError::Csv {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "column '{name}' holds bytes that are not valid UTF-8; save the file as UTF-8"
                ),
            })?;
            builder.push(text, line);
        }
    }
    let columns = builders
        .into_iter()
        .map(|b| b.finish(path))
        .collect::<crate::Result<Vec<_>>>()?;
    progress.finish(&format!("{} rows", columns.first().map_or(0, |c| c.len())));
    Table::new(columns)
}

/// Writes a table as delimited text, gzip-compressed when `gzip`.
pub fn write_delimited(path: &Path, table: &Table, delimiter: u8, gzip: bool) -> crate::Result<()> {
    let file = BufWriter::with_capacity(1 << 16, create(path)?);
    let io_error = |source: std::io::Error| TableError::Io {
        path: path.to_path_buf(),
        source,
    };
    if gzip {
        let encoder = write_records(
            GzEncoder::new(file, Compression::fast()),
            table,
            delimiter,
            path,
        )?;
        encoder
            .finish()
            .and_then(|mut f| f.flush())
            .map_err(io_error)
    } else {
        let mut file = write_records(file, table, delimiter, path)?;
        file.flush().map_err(io_error)
    }
}

fn write_records<W: Write>(sink: W, table: &Table, delimiter: u8, path: &Path) -> crate::Result<W> {
    let csv_err = |e: csv::Error| TableError::Csv {
        path: path.to_path_buf(),
        line: 0,
        message: format!("could not write: {e}"),
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(sink);
    writer.write_record(table.column_names()).map_err(csv_err)?;
    let mut cell = String::new();
    for row in 0..table.n_rows() {
        for column in table.columns() {
            cell.clear();
            match column.value(row) {
                Value::Missing => {}
                Value::Number(x) => push_continuous(&mut cell, x),
                other => {
                    use std::fmt::Write as _;
                    let _ = write!(cell, "{other}");
                }
            }
            writer.write_field(&cell).map_err(csv_err)?;
        }
        writer.write_record(None::<&[u8]>).map_err(csv_err)?;
    }
    writer.into_inner().map_err(|e| TableError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

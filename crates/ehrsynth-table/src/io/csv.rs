//! Delimited text (CSV/TSV, optionally gzip-compressed) reading and writing.
//!
//! Reading sniffs the separator from the first lines ([`sniff_delimiter`]): a file named `.csv`
//! may well be separated by semicolons or tabs, and reading it with commas would make one column
//! named "los;hmo;white;...".

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{ReadOptions, create, open};
use crate::cell::{MissingTokens, push_continuous};
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

/// Reads the header row as text column names; an empty file is an error. A field with no name
/// (the row-name column R and pandas write) is named `unnamed_N`, N its 1-based position.
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
        let mut name = name.trim().trim_start_matches('\u{feff}').to_string();
        // R's write.csv and pandas' to_csv leave the row-name column's header empty.
        if name.is_empty() {
            name = format!("unnamed_{}", i + 1);
        }
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

/// Separators tried when sniffing, in order of preference after the extension's own.
const SNIFF_CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
/// How much of the (decompressed) file sniffing looks at.
const SNIFF_BYTES: usize = 64 * 1024;
/// Lines after the header that a separator must split into as many fields as the header.
const SNIFF_LINES: usize = 5;

/// The separator chosen for a file, and a sentence to show when the choice is worth telling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// The separator to read with.
    pub delimiter: u8,
    /// Set when the separator is not the extension's, or when another one also fits.
    pub note: Option<String>,
}

/// How one candidate separator splits the sample.
struct Split {
    delimiter: u8,
    header_fields: usize,
    /// Every sampled line after the header has as many fields as the header.
    consistent: bool,
}

/// A separator as users write it in messages.
pub fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_string(),
        d => format!("'{}'", d as char),
    }
}

/// Picks the separator of a file from `sample`, its first bytes: among comma, semicolon and tab,
/// the one that splits the header into the most fields while splitting the next few lines into
/// as many. `default` (the extension's) wins ties and stays when nothing splits the header.
/// When no separator splits the lines consistently, the one that splits the header most is
/// taken anyway, so that reading fails at the first ragged line, naming that separator.
pub fn sniff_delimiter(sample: &[u8], default: u8) -> Sniffed {
    let truncated = sample.len() >= SNIFF_BYTES;
    let mut candidates = vec![default];
    candidates.extend(SNIFF_CANDIDATES.iter().filter(|&&d| d != default));
    let splits: Vec<Split> = candidates
        .iter()
        .map(|&d| split_sample(sample, d, truncated))
        .collect();
    // Order: consistent first, then more header fields; `max_by_key` keeps the last maximum, so
    // iterate in reverse to let earlier candidates (the default first) win ties.
    let best = splits
        .iter()
        .rev()
        .max_by_key(|s| (s.consistent && s.header_fields > 1, s.header_fields))
        .expect("at least one candidate");
    Sniffed {
        delimiter: best.delimiter,
        note: sniff_note(best, &splits, default),
    }
}

/// Field counts of the header and the next [`SNIFF_LINES`] lines of `sample` split on `delimiter`.
fn split_sample(sample: &[u8], delimiter: u8, truncated: bool) -> Split {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample);
    let mut counts: Vec<usize> = reader
        .byte_records()
        .take(SNIFF_LINES + 2)
        .map_while(Result::ok)
        .map(|r| r.len())
        .collect();
    // One record more than we look at is read, so that dropping the last one, which may be cut
    // when the sample is, still leaves the header and SNIFF_LINES lines.
    if truncated || counts.len() > SNIFF_LINES + 1 {
        counts.pop();
    }
    let header_fields = counts.first().copied().unwrap_or(0);
    Split {
        delimiter,
        header_fields,
        consistent: counts.iter().all(|&n| n == header_fields),
    }
}

/// What to tell the user about the choice: nothing when the extension's separator fits alone.
fn sniff_note(best: &Split, splits: &[Split], default: u8) -> Option<String> {
    let others: Vec<String> = splits
        .iter()
        .filter(|s| s.delimiter != best.delimiter && s.consistent && s.header_fields > 1)
        .map(|s| {
            format!(
                "{} would give {}",
                delimiter_name(s.delimiter),
                s.header_fields
            )
        })
        .collect();
    if best.delimiter == default && others.is_empty() {
        return None;
    }
    let mut note = format!(
        "read as {}-separated ({} columns in the header)",
        delimiter_name(best.delimiter),
        best.header_fields
    );
    if !best.consistent {
        note.push_str(", but the first lines do not all have that many fields");
    }
    if !others.is_empty() {
        note.push_str(&format!("; ambiguous: {}", others.join(", ")));
    }
    Some(note)
}

/// The first [`SNIFF_BYTES`] of the file, decompressed when `gzip`.
fn read_sample(path: &Path, gzip: bool) -> crate::Result<Vec<u8>> {
    let file = open(path)?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    // A broken gzip stream is reported by the real read, with its line; sniff what came out.
    let _ = reader.take(SNIFF_BYTES as u64).read_to_end(&mut sample);
    Ok(sample)
}

/// The separator to read `path` with: the caller's, else sniffed (`default` is the extension's).
fn choose_delimiter(
    path: &Path,
    default: u8,
    gzip: bool,
    options: &ReadOptions,
) -> crate::Result<Sniffed> {
    match options.delimiter {
        Some(delimiter) => Ok(Sniffed {
            delimiter,
            note: None,
        }),
        None => Ok(sniff_delimiter(&read_sample(path, gzip)?, default)),
    }
}

/// Adds the separator note to a malformed-line error, since a wrong guess is a likely cause.
fn with_note(error: TableError, note: Option<&str>) -> TableError {
    match (error, note) {
        (
            TableError::Csv {
                path,
                line,
                message,
            },
            Some(note),
        ) => TableError::Csv {
            path,
            line,
            message: format!("{message} ({note})"),
        },
        (error, _) => error,
    }
}

/// Reads a delimited file into a table (see [`crate::io::read_table`]). `delimiter` is the
/// extension's; the file's own is sniffed unless `options` gives one.
pub fn read_delimited(
    path: &Path,
    delimiter: u8,
    gzip: bool,
    schema: Option<&Schema>,
    options: &ReadOptions,
    progress: &dyn Progress,
) -> crate::Result<Table> {
    let sniffed = choose_delimiter(path, delimiter, gzip, options)?;
    let mut reader = open_delimited(path, sniffed.delimiter, gzip, progress)?;
    if let Some(note) = &sniffed.note {
        progress.note(note);
    }
    read_records(&mut reader, path, gzip, schema, options, progress)
        .map_err(|e| with_note(e, sniffed.note.as_deref()))
}

/// Reads the header and every record of an opened file into columns.
fn read_records<R: Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
    gzip: bool,
    schema: Option<&Schema>,
    options: &ReadOptions,
    progress: &dyn Progress,
) -> crate::Result<Table> {
    let header = read_header(reader, path, gzip)?;
    let names: Vec<String> = match schema {
        Some(s) => s.names().into_iter().map(str::to_string).collect(),
        None => header.clone(),
    };
    let positions = locate_columns(&header, &names, path)?;
    // The schema's own missing tokens join the caller's.
    let missing = match schema.filter(|s| !s.missing_tokens.is_empty()) {
        Some(s) => {
            MissingTokens::with_extra(options.missing.extra().iter().chain(&s.missing_tokens))
        }
        None => options.missing.clone(),
    };
    let mut builders: Vec<ColumnBuilder> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            ColumnBuilder::for_kind(name, schema.map(|s| s.columns()[i].kind))
                .with_missing(missing.clone())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(text: &str, default: u8) -> Sniffed {
        sniff_delimiter(text.as_bytes(), default)
    }

    #[test]
    fn the_separator_is_sniffed_from_the_header_and_next_lines() {
        let semicolons = sniff("los;hmo;white\n3;1;0\n4;0;1\n", b',');
        assert_eq!(semicolons.delimiter, b';');
        let note = semicolons.note.unwrap();
        assert!(note.contains("read as ';'-separated (3 columns"), "{note}");
        assert_eq!(sniff("a\tb\n1\t2\n", b',').delimiter, b'\t');
        assert_eq!(sniff("a,b\n1,2\n", b',').note, None);
        assert_eq!(sniff("only\n1\n2\n", b',').delimiter, b',');
        // Decimal commas in a semicolon file: commas do not split the header.
        assert_eq!(sniff("x;y\n1,5;2\n3,25;4\n", b',').delimiter, b';');
        // Quoted separators do not count.
        assert_eq!(sniff("\"a;b\",c\n\"1;2\",3\n", b',').delimiter, b',');
    }

    #[test]
    fn the_most_fields_then_the_extension_win_and_ambiguity_is_told() {
        let tie = sniff("a,b;c,d\n1,2;3,4\n", b',');
        assert_eq!(tie.delimiter, b',');
        let note = tie.note.unwrap();
        assert!(
            note.contains("(3 columns") && note.contains("';' would give 2"),
            "{note}"
        );
        let even = sniff("a,b;c\n1,2;3\n", b';');
        assert_eq!(even.delimiter, b';');
        let note = even.note.unwrap();
        assert!(note.contains("ambiguous: ',' would give 2"), "{note}");
    }

    #[test]
    fn ragged_lines_still_pick_the_separator_that_splits_the_header() {
        let ragged = sniff("a;b;c\n1;2;3\n4;5\n", b',');
        assert_eq!(ragged.delimiter, b';');
        assert!(
            ragged
                .note
                .unwrap()
                .contains("do not all have that many fields")
        );
    }
}

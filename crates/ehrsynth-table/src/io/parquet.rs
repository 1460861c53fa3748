//! Parquet reading and writing with the parquet crate's low-level column API (no arrow, which
//! keeps the build small). Flat schemas only: one leaf column per table column.
//!
//! Kinds map to physical types as: continuous = DOUBLE, integer = INT64, binary = BOOLEAN,
//! categorical = BYTE_ARRAY (UTF-8 string), all OPTIONAL. When reading files written by other
//! tools, FLOAT and INT32 are accepted too, and an integer column holding only 0/1 is binary.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::{create, open};
use crate::column::{Column, ColumnData, Value};
use crate::error::TableError;
use crate::schema::{ColumnKind, Schema};
use crate::table::Table;
use crate::text::TextColumnBuilder;

const ROW_GROUP_ROWS: usize = 128 * 1024;
const READ_BATCH: usize = 64 * 1024;

fn parquet_error(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> TableError + '_ {
    move |e| TableError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes `table` as a Parquet file (snappy-compressed).
pub fn write_parquet(path: &Path, table: &Table) -> crate::Result<()> {
    let err = parquet_error(path);
    let fields = table
        .columns()
        .iter()
        .map(|c| leaf_type(c).map(Arc::new).map_err(&err))
        .collect::<crate::Result<Vec<_>>>()?;
    let schema = Type::group_type_builder("ehrsynth")
        .with_fields(fields)
        .build()
        .map_err(&err)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut writer = SerializedFileWriter::new(create(path)?, Arc::new(schema), Arc::new(props))
        .map_err(&err)?;
    let mut start = 0;
    while start < table.n_rows() || (start == 0 && table.n_rows() == 0) {
        let end = (start + ROW_GROUP_ROWS).min(table.n_rows());
        let mut group = writer.next_row_group().map_err(&err)?;
        for column in table.columns() {
            let mut slot =
                group
                    .next_column()
                    .map_err(&err)?
                    .ok_or_else(|| TableError::Parquet {
                        path: path.to_path_buf(),
                        message: "writer ran out of columns".into(),
                    })?;
            write_column(&mut slot, column, start, end).map_err(&err)?;
            slot.close().map_err(&err)?;
        }
        group.close().map_err(&err)?;
        if end == table.n_rows() {
            break;
        }
        start = end;
    }
    writer.close().map_err(&err)?;
    Ok(())
}

fn leaf_type(column: &Column) -> parquet::errors::Result<Type> {
    let (physical, logical) = match column.kind() {
        ColumnKind::Continuous => (PhysicalType::DOUBLE, None),
        ColumnKind::Integer => (PhysicalType::INT64, None),
        ColumnKind::Binary => (PhysicalType::BOOLEAN, None),
        ColumnKind::Categorical => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
    };
    Type::primitive_type_builder(column.name(), physical)
        .with_repetition(Repetition::OPTIONAL)
        .with_logical_type(logical)
        .build()
}

fn write_column(
    slot: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    column: &Column,
    start: usize,
    end: usize,
) -> parquet::errors::Result<()> {
    let rows = start..end;
    let defs: Vec<i16> = rows
        .clone()
        .map(|i| i16::from(!column.is_missing(i)))
        .collect();
    let present: Vec<usize> = rows.filter(|&i| !column.is_missing(i)).collect();
    match column.data() {
        ColumnData::Continuous(v) => {
            let values: Vec<f64> = present.iter().map(|&i| v[i]).collect();
            slot.typed::<DoubleType>()
                .write_batch(&values, Some(&defs), None)?;
        }
        ColumnData::Integer(v) => {
            let values: Vec<i64> = present.iter().map(|&i| v[i]).collect();
            slot.typed::<Int64Type>()
                .write_batch(&values, Some(&defs), None)?;
        }
        ColumnData::Binary(v) => {
            let values: Vec<bool> = present.iter().map(|&i| v[i]).collect();
            slot.typed::<BoolType>()
                .write_batch(&values, Some(&defs), None)?;
        }
        ColumnData::Categorical { codes, dictionary } => {
            let values: Vec<ByteArray> = present
                .iter()
                .map(|&i| ByteArray::from(dictionary[codes[i] as usize].as_bytes().to_vec()))
                .collect();
            slot.typed::<ByteArrayType>()
                .write_batch(&values, Some(&defs), None)?;
        }
    }
    Ok(())
}

/// Values of one column gathered across row groups.
enum Gathered {
    Reals(Vec<Option<f64>>),
    Ints(Vec<Option<i64>>),
    Bools(Vec<Option<bool>>),
    Texts(TextColumnBuilder),
}

/// Reads a Parquet file; with a schema, selects and casts the schema's columns.
pub fn read_parquet(path: &Path, schema: Option<&Schema>) -> crate::Result<Table> {
    let err = parquet_error(path);
    let reader = SerializedFileReader::new(open(path)?).map_err(&err)?;
    let descr = reader.metadata().file_metadata().schema_descr_ptr();
    let leaves: Vec<String> = (0..descr.num_columns())
        .map(|i| descr.column(i).name().to_string())
        .collect();
    if descr.root_schema().get_fields().len() != leaves.len() {
        return Err(TableError::Parquet {
            path: path.to_path_buf(),
            message: "nested columns are not supported; flatten the table first".into(),
        });
    }
    let wanted: Vec<String> = match schema {
        Some(s) => s.names().into_iter().map(str::to_string).collect(),
        None => leaves.clone(),
    };
    let positions = super::csv::locate_columns(&leaves, &wanted, path)?;
    let mut gathered: Vec<Gathered> = Vec::with_capacity(positions.len());
    for (&pos, name) in positions.iter().zip(&wanted) {
        let physical = descr.column(pos).physical_type();
        gathered.push(match physical {
            PhysicalType::DOUBLE | PhysicalType::FLOAT => Gathered::Reals(Vec::new()),
            PhysicalType::INT32 | PhysicalType::INT64 => Gathered::Ints(Vec::new()),
            PhysicalType::BOOLEAN => Gathered::Bools(Vec::new()),
            PhysicalType::BYTE_ARRAY => Gathered::Texts(TextColumnBuilder::new(name)),
            other => {
                return Err(TableError::Parquet {
                    path: path.to_path_buf(),
                    message: format!(
                        "column '{name}' has physical type {other}, which ehrsynth does not read"
                    ),
                });
            }
        });
    }
    let mut row_offset = 0u64;
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(&err)?;
        let rows = group.metadata().num_rows() as usize;
        for (&pos, target) in positions.iter().zip(gathered.iter_mut()) {
            let column_reader = group.get_column_reader(pos).map_err(&err)?;
            read_leaf(column_reader, rows, target, row_offset, path)?;
        }
        row_offset += rows as u64;
    }
    let columns = gathered
        .into_iter()
        .zip(&wanted)
        .map(|(g, name)| finish_column(g, name, path))
        .collect::<crate::Result<Vec<_>>>()?;
    let columns = match schema {
        Some(s) => columns
            .into_iter()
            .zip(s.columns())
            .map(|(c, spec)| {
                c.cast(spec.kind).map_err(|(row, value)| TableError::Parse {
                    path: path.to_path_buf(),
                    line: row as u64 + 1,
                    column: spec.name.clone(),
                    value,
                    expected: crate::cell::expected_text(spec.kind).to_string(),
                })
            })
            .collect::<crate::Result<Vec<_>>>()?,
        None => columns.into_iter().map(promote_flags).collect(),
    };
    Table::new(columns)
}

/// Spreads non-null values over their definition levels.
fn spread<T: Copy>(defs: &[i16], values: &[T], out: &mut Vec<Option<T>>) {
    let mut next = values.iter();
    for &d in defs {
        out.push(if d > 0 { next.next().copied() } else { None });
    }
}

fn read_leaf(
    reader: ColumnReader,
    rows: usize,
    target: &mut Gathered,
    row_offset: u64,
    path: &Path,
) -> crate::Result<()> {
    let err = parquet_error(path);
    let mut defs: Vec<i16> = Vec::new();
    macro_rules! drain {
        ($r:expr, $values:ident, $convert:expr, $out:expr) => {{
            let mut r = $r;
            let mut $values = Vec::new();
            let mut read = 0;
            while read < rows {
                defs.clear();
                $values.clear();
                let (records, _, levels) = r
                    .read_records(READ_BATCH, Some(&mut defs), None, &mut $values)
                    .map_err(&err)?;
                if records == 0 {
                    break;
                }
                if levels == 0 {
                    // A REQUIRED column carries no definition levels: every value is present.
                    defs.resize($values.len(), 1);
                }
                let converted: Vec<_> = $values.iter().map($convert).collect();
                spread(&defs, &converted, $out);
                read += records;
            }
        }};
    }
    match (reader, target) {
        (ColumnReader::DoubleColumnReader(r), Gathered::Reals(out)) => {
            drain!(r, v, |x: &f64| *x, out)
        }
        (ColumnReader::FloatColumnReader(r), Gathered::Reals(out)) => {
            drain!(r, v, |x: &f32| f64::from(*x), out)
        }
        (ColumnReader::Int64ColumnReader(r), Gathered::Ints(out)) => {
            drain!(r, v, |x: &i64| *x, out)
        }
        (ColumnReader::Int32ColumnReader(r), Gathered::Ints(out)) => {
            drain!(r, v, |x: &i32| i64::from(*x), out)
        }
        (ColumnReader::BoolColumnReader(r), Gathered::Bools(out)) => {
            drain!(r, v, |x: &bool| *x, out)
        }
        (ColumnReader::ByteArrayColumnReader(r), Gathered::Texts(builder)) => {
            let mut texts: Vec<Option<String>> = Vec::new();
            {
                let out = &mut texts;
                let mut r = r;
                let mut values: Vec<ByteArray> = Vec::new();
                let mut read = 0;
                while read < rows {
                    defs.clear();
                    values.clear();
                    let (records, _, levels) = r
                        .read_records(READ_BATCH, Some(&mut defs), None, &mut values)
                        .map_err(&err)?;
                    if records == 0 {
                        break;
                    }
                    if levels == 0 {
                        defs.resize(values.len(), 1);
                    }
                    let mut next = values.iter();
                    for &d in &defs {
                        out.push(if d > 0 {
                            next.next()
                                .map(|b| String::from_utf8_lossy(b.data()).into_owned())
                        } else {
                            None
                        });
                    }
                    read += records;
                }
            }
            for (i, t) in texts.iter().enumerate() {
                builder.push(t.as_deref().unwrap_or(""), row_offset + i as u64 + 1);
            }
        }
        _ => {
            return Err(TableError::Parquet {
                path: path.to_path_buf(),
                message: "a column's physical type changed between row groups".into(),
            });
        }
    }
    Ok(())
}

fn finish_column(gathered: Gathered, name: &str, path: &Path) -> crate::Result<Column> {
    Ok(match gathered {
        Gathered::Reals(v) => Column::continuous(name, &v),
        Gathered::Ints(v) => Column::integer(name, &v),
        Gathered::Bools(v) => Column::binary(name, &v),
        Gathered::Texts(builder) => builder.finish(Some(ColumnKind::Categorical), path)?,
    })
}

/// Without a schema, an integer column holding only 0 and 1 is read as binary, as in CSV.
fn promote_flags(column: Column) -> Column {
    let only_flags = column.kind() == ColumnKind::Integer
        && column.missing_count() < column.len()
        && (0..column.len())
            .all(|i| matches!(column.value(i), Value::Missing | Value::Integer(0 | 1)));
    if only_flags {
        column.cast(ColumnKind::Binary).unwrap_or(column)
    } else {
        column
    }
}

//! Building typed columns from text cells: the common path of the CSV reader and of row parsers
//! (generators turn LLM answers into tables through it).
//!
//! Cells are first dictionary-coded as strings (each distinct text parsed once, which is what
//! makes CSV reading fast: clinical values repeat a lot), then the dictionary is converted to the
//! column's kind, inferred or given.
//!
//! Missing cells follow [`crate::cell`]'s rule: tokens missing in every column ("", "NA", and a
//! caller's extra tokens) are dropped as they are pushed; tokens missing only in numeric columns
//! ("?", "-", "n/a", ...) stay in the dictionary until the kind is known, so that in a categorical
//! column they remain categories.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;

use crate::cell::{MissingTokens, expected_text, parse_binary, parse_integer, parse_number};
use crate::column::{Column, ColumnData, Validity};
use crate::error::TableError;
use crate::schema::ColumnKind;

/// A small, fast, non-cryptographic hasher for the cell dictionary (FxHash's mixing step).
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(SEED);
        }
    }
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak and hash tables index by them: mix (fmix64).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

const MISSING: u32 = u32::MAX;

/// A text of at most 15 bytes as one integer: the bytes, then the length in the last byte.
fn pack(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(buf))
}

/// Collects the text cells of one column, then turns them into a typed [`Column`].
#[derive(Default)]
pub struct TextColumnBuilder {
    name: String,
    /// Texts of up to 15 bytes packed into a u128 (with their length), so a lookup compares
    /// integers instead of chasing a heap pointer: most clinical cells are short.
    short: HashMap<u128, u32, BuildHasherDefault<FxHasher>>,
    long: HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>,
    entries: Vec<Box<str>>,
    first_line: Vec<u64>,
    codes: Vec<u32>,
    missing: MissingTokens,
}

impl TextColumnBuilder {
    /// An empty builder for column `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The same builder with the caller's extra missing tokens (see [`MissingTokens`]).
    pub fn with_missing(mut self, missing: MissingTokens) -> Self {
        self.missing = missing;
        self
    }

    /// Adds one cell; `line` is where it came from, used in error messages.
    pub fn push(&mut self, text: &str, line: u64) {
        let text = text.trim();
        if self.missing.is_missing(text) {
            self.codes.push(MISSING);
            return;
        }
        let next = self.entries.len() as u32;
        let code = match pack(text) {
            Some(key) => *self.short.entry(key).or_insert(next),
            None => match self.long.get(text) {
                Some(&code) => code,
                None => {
                    self.long.insert(text.into(), next);
                    next
                }
            },
        };
        if code == next {
            self.entries.push(text.into());
            self.first_line.push(line);
        }
        self.codes.push(code);
    }

    /// Number of cells so far.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when no cell was pushed.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The kind the cells look like: binary, then integer (whole numbers, also written "2.0"),
    /// then continuous, else categorical. Numeric-only missing tokens ("?", "-", ...) are left
    /// out of the test, but a column of nothing else is categorical (no number says it is
    /// numeric). A column with no values at all is continuous.
    pub fn infer_kind(&self) -> ColumnKind {
        let numeric_missing = self.numeric_missing_entries();
        let values: Vec<&str> = self
            .entries
            .iter()
            .zip(&numeric_missing)
            .filter(|&(_, &missing)| !missing)
            .map(|(e, _)| &**e)
            .collect();
        let all = |f: &dyn Fn(&str) -> bool| values.iter().all(|e| f(e));
        if self.entries.is_empty() {
            ColumnKind::Continuous
        } else if values.is_empty() {
            ColumnKind::Categorical
        } else if all(&|e| parse_binary(e).is_some()) {
            ColumnKind::Binary
        } else if all(&|e| parse_integer(e, true).is_some()) {
            ColumnKind::Integer
        } else if all(&|e| parse_number(e).is_some()) {
            ColumnKind::Continuous
        } else {
            ColumnKind::Categorical
        }
    }

    /// For each dictionary entry, whether it is a missing value in a numeric column.
    fn numeric_missing_entries(&self) -> Vec<bool> {
        self.entries
            .iter()
            .map(|e| self.missing.is_missing_in(ColumnKind::Continuous, e))
            .collect()
    }

    /// Builds the column as `kind` (inferred when `None`). `source` names the file in errors.
    pub fn finish(mut self, kind: Option<ColumnKind>, source: &Path) -> crate::Result<Column> {
        let kind = kind.unwrap_or_else(|| self.infer_kind());
        // Entries that are only missing in a numeric column become missing cells now.
        let dropped = if kind.is_numeric() {
            self.numeric_missing_entries()
        } else {
            vec![false; self.entries.len()]
        };
        for code in &mut self.codes {
            if *code != MISSING && dropped[*code as usize] {
                *code = MISSING;
            }
        }
        let mut validity = Validity::filled(self.codes.len(), true);
        for (i, &code) in self.codes.iter().enumerate() {
            if code == MISSING {
                validity.set(i, false);
            }
        }
        let data = match kind {
            ColumnKind::Categorical => {
                let codes = self
                    .codes
                    .iter()
                    .map(|&c| if c == MISSING { 0 } else { c })
                    .collect();
                let dictionary = self.entries.iter().map(|e| e.to_string()).collect();
                ColumnData::Categorical {
                    codes,
                    dictionary: Arc::new(dictionary),
                }
            }
            ColumnKind::Continuous => ColumnData::Continuous(self.decode(
                kind,
                source,
                &dropped,
                parse_number,
                f64::NAN,
            )?),
            ColumnKind::Integer => ColumnData::Integer(self.decode(
                kind,
                source,
                &dropped,
                |t| parse_integer(t, false),
                0,
            )?),
            ColumnKind::Binary => {
                ColumnData::Binary(self.decode(kind, source, &dropped, parse_binary, false)?)
            }
        };
        Ok(Column::new(self.name, data, validity))
    }

    /// Parses each dictionary entry once (but the `dropped` ones, no cell refers to them any
    /// more), then maps every cell through the parsed entries.
    fn decode<T: Copy>(
        &self,
        kind: ColumnKind,
        source: &Path,
        dropped: &[bool],
        parse: impl Fn(&str) -> Option<T>,
        placeholder: T,
    ) -> crate::Result<Vec<T>> {
        let parsed = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                if dropped[i] {
                    return Ok(placeholder);
                }
                parse(entry).ok_or_else(|| TableError::Parse {
                    path: source.to_path_buf(),
                    line: self.first_line[i],
                    column: self.name.clone(),
                    value: entry.to_string(),
                    expected: expected_text(kind).to_string(),
                })
            })
            .collect::<crate::Result<Vec<T>>>()?;
        Ok(self
            .codes
            .iter()
            .map(|&c| {
                if c == MISSING {
                    placeholder
                } else {
                    parsed[c as usize]
                }
            })
            .collect())
    }
}

/// Parses the cells of a column whose kind is known and numeric straight into values, without a
/// dictionary (the fast path when a schema is given). The first cell that does not parse is
/// remembered and reported by [`NumericColumnBuilder::finish`].
pub struct NumericColumnBuilder {
    name: String,
    kind: ColumnKind,
    values: Vec<f64>,
    validity: Validity,
    first_bad: Option<(String, u64)>,
    missing: MissingTokens,
}

impl NumericColumnBuilder {
    /// A builder for column `name` of numeric `kind`.
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        Self {
            name: name.into(),
            kind,
            values: Vec::new(),
            validity: Validity::new(),
            first_bad: None,
            missing: MissingTokens::default(),
        }
    }

    /// The same builder with the caller's extra missing tokens (see [`MissingTokens`]).
    pub fn with_missing(mut self, missing: MissingTokens) -> Self {
        self.missing = missing;
        self
    }

    /// Adds one cell; `line` is where it came from.
    pub fn push(&mut self, text: &str, line: u64) {
        let text = text.trim();
        if self.missing.is_missing_in(self.kind, text) {
            self.values.push(0.0);
            self.validity.push(false);
            return;
        }
        let parsed = match self.kind {
            ColumnKind::Integer => parse_integer(text, false).map(|i| i as f64),
            ColumnKind::Binary => parse_binary(text).map(|b| if b { 1.0 } else { 0.0 }),
            _ => parse_number(text),
        };
        if parsed.is_none() && self.first_bad.is_none() {
            self.first_bad = Some((text.to_string(), line));
        }
        self.values.push(parsed.unwrap_or(0.0));
        self.validity.push(parsed.is_some());
    }

    /// The column, or the first cell that did not parse.
    pub fn finish(self, source: &Path) -> crate::Result<Column> {
        if let Some((value, line)) = self.first_bad {
            return Err(TableError::Parse {
                path: source.to_path_buf(),
                line,
                column: self.name,
                value,
                expected: expected_text(self.kind).to_string(),
            });
        }
        let data = match self.kind {
            ColumnKind::Integer => {
                ColumnData::Integer(self.values.iter().map(|&x| x as i64).collect())
            }
            ColumnKind::Binary => {
                ColumnData::Binary(self.values.iter().map(|&x| x == 1.0).collect())
            }
            _ => ColumnData::Continuous(
                self.values
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if self.validity.is_valid(i) {
                            x
                        } else {
                            f64::NAN
                        }
                    })
                    .collect(),
            ),
        };
        Ok(Column::new(self.name, data, self.validity))
    }
}

/// A column being read: dictionary-coded text (kind inferred or categorical) or direct numbers.
pub enum ColumnBuilder {
    /// Text cells, dictionary-coded.
    Text(TextColumnBuilder, Option<ColumnKind>),
    /// Numbers of a known kind.
    Numeric(NumericColumnBuilder),
}

impl ColumnBuilder {
    /// The right builder for a column of `kind` (`None` = infer).
    pub fn for_kind(name: &str, kind: Option<ColumnKind>) -> Self {
        match kind {
            Some(k) if k.is_numeric() => ColumnBuilder::Numeric(NumericColumnBuilder::new(name, k)),
            other => ColumnBuilder::Text(TextColumnBuilder::new(name), other),
        }
    }

    /// The same builder with the caller's extra missing tokens (see [`MissingTokens`]).
    pub fn with_missing(self, missing: MissingTokens) -> Self {
        match self {
            ColumnBuilder::Text(b, kind) => ColumnBuilder::Text(b.with_missing(missing), kind),
            ColumnBuilder::Numeric(b) => ColumnBuilder::Numeric(b.with_missing(missing)),
        }
    }

    /// Adds one cell.
    pub fn push(&mut self, text: &str, line: u64) {
        match self {
            ColumnBuilder::Text(b, _) => b.push(text, line),
            ColumnBuilder::Numeric(b) => b.push(text, line),
        }
    }

    /// The finished column.
    pub fn finish(self, source: &Path) -> crate::Result<Column> {
        match self {
            ColumnBuilder::Text(b, kind) => b.finish(kind, source),
            ColumnBuilder::Numeric(b) => b.finish(source),
        }
    }
}

/// A table of `schema`'s columns from rows of text cells (`None` = missing), read through the
/// same parser files use: how generators and LLM answers turn cells into a [`crate::Table`].
pub fn table_from_cells(
    schema: &crate::Schema,
    rows: &[Vec<Option<String>>],
) -> crate::Result<crate::Table> {
    let columns = schema
        .columns()
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            let mut builder = ColumnBuilder::for_kind(&spec.name, Some(spec.kind));
            for (r, row) in rows.iter().enumerate() {
                builder.push(row[c].as_deref().unwrap_or(""), r as u64 + 1);
            }
            builder.finish(Path::new("<generated>"))
        })
        .collect::<crate::Result<Vec<_>>>()?;
    crate::Table::new(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::Value;

    fn build(cells: &[&str], kind: Option<ColumnKind>) -> crate::Result<Column> {
        let mut b = TextColumnBuilder::new("c");
        for (i, c) in cells.iter().enumerate() {
            b.push(c, i as u64 + 2);
        }
        b.finish(kind, Path::new("f.csv"))
    }

    #[test]
    fn kinds_are_inferred_from_the_cells() {
        assert_eq!(
            build(&["0", "1", ""], None).unwrap().kind(),
            ColumnKind::Binary
        );
        assert_eq!(
            build(&["3", "12", "NA"], None).unwrap().kind(),
            ColumnKind::Integer
        );
        assert_eq!(
            build(&["3.5", "12"], None).unwrap().kind(),
            ColumnKind::Continuous
        );
        assert_eq!(
            build(&["> 89", "45"], None).unwrap().kind(),
            ColumnKind::Categorical
        );
        assert_eq!(
            build(&["", ""], None).unwrap().kind(),
            ColumnKind::Continuous
        );
    }

    #[test]
    fn whole_numbers_written_with_a_decimal_point_are_integers() {
        let col = build(&["1.0", "2.0", "", "12.00", "-3"], None).unwrap();
        assert_eq!(col.kind(), ColumnKind::Integer);
        assert_eq!(col.value(3), Value::Integer(12));
        assert_eq!(col.value(4), Value::Integer(-3));
        assert_eq!(
            build(&["1.0", "2.5"], None).unwrap().kind(),
            ColumnKind::Continuous
        );
        assert_eq!(
            build(&["0.0", "1.0"], None).unwrap().kind(),
            ColumnKind::Binary
        );
    }

    #[test]
    fn numeric_missing_tokens_are_missing_beside_numbers_and_categories_elsewhere() {
        let age = build(
            &["63", "?", "71", ".", "-", "na", "n/a", "Missing", "-3"],
            None,
        )
        .unwrap();
        assert_eq!(age.kind(), ColumnKind::Integer);
        assert_eq!(age.missing_count(), 6);
        assert_eq!(age.value(8), Value::Integer(-3));
        let lactate = build(&["1.5", "-", ".5"], None).unwrap();
        assert_eq!(lactate.kind(), ColumnKind::Continuous);
        assert_eq!(lactate.value(2), Value::Number(0.5));
        let rh = build(&["+", "-", "+"], None).unwrap();
        assert_eq!(rh.kind(), ColumnKind::Categorical);
        assert_eq!(rh.value(1), Value::Category("-"));
        let only_tokens = build(&["?", "-"], None).unwrap();
        assert_eq!(only_tokens.kind(), ColumnKind::Categorical);
        let typed = build(&["?", "4"], Some(ColumnKind::Integer)).unwrap();
        assert_eq!(
            (typed.value(0), typed.value(1)),
            (Value::Missing, Value::Integer(4))
        );
        let mut direct = NumericColumnBuilder::new("c", ColumnKind::Continuous);
        for (i, c) in ["?", "1.5", "N/A"].iter().enumerate() {
            direct.push(c, i as u64 + 2);
        }
        assert_eq!(
            direct.finish(Path::new("f.csv")).unwrap().missing_count(),
            2
        );
    }

    #[test]
    fn extra_missing_tokens_are_missing_in_every_column() {
        let extra = || MissingTokens::with_extra(["-99", "not recorded"]);
        let mut b = TextColumnBuilder::new("c").with_missing(extra());
        for (i, c) in ["5", "-99", "7"].iter().enumerate() {
            b.push(c, i as u64 + 2);
        }
        let col = b.finish(None, Path::new("f.csv")).unwrap();
        assert_eq!((col.kind(), col.missing_count()), (ColumnKind::Integer, 1));
        let mut b = ColumnBuilder::for_kind("c", None).with_missing(extra());
        for (i, c) in ["MICU", "Not Recorded", "SICU"].iter().enumerate() {
            b.push(c, i as u64 + 2);
        }
        let col = b.finish(Path::new("f.csv")).unwrap();
        assert_eq!(
            (col.kind(), col.missing_count()),
            (ColumnKind::Categorical, 1)
        );
    }

    #[test]
    fn a_cell_of_the_wrong_kind_names_its_line() {
        let err = build(&["1.5", "2", "abc"], Some(ColumnKind::Continuous))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.csv, line 4, column 'c': found 'abc', expected a number (or an empty cell for missing)"
        );
        let mut direct = NumericColumnBuilder::new("c", ColumnKind::Continuous);
        for (i, c) in ["1.5", "", "abc", "x"].iter().enumerate() {
            direct.push(c, i as u64 + 2);
        }
        let err = direct.finish(Path::new("f.csv")).unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains("'abc'"), "{err}");
        let col = build(&[" 7 ", "", "7"], Some(ColumnKind::Integer)).unwrap();
        assert_eq!(
            (col.value(0), col.value(1), col.value(2)),
            (Value::Integer(7), Value::Missing, Value::Integer(7))
        );
    }
}

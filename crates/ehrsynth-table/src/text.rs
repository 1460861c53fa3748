//! Building typed columns from text cells: the common path of the CSV reader and of row parsers
//! (generators turn LLM answers into tables through it).
//!
//! Cells are first dictionary-coded as strings (each distinct text parsed once, which is what
//! makes CSV reading fast: clinical values repeat a lot), then the dictionary is converted to the
//! column's kind, inferred or given.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;

use crate::cell::{expected_text, is_missing_token, parse_binary, parse_integer, parse_number};
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
        self.0
    }
}

const MISSING: u32 = u32::MAX;

/// Collects the text cells of one column, then turns them into a typed [`Column`].
#[derive(Default)]
pub struct TextColumnBuilder {
    name: String,
    lookup: HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>,
    entries: Vec<Box<str>>,
    first_line: Vec<u64>,
    codes: Vec<u32>,
}

impl TextColumnBuilder {
    /// An empty builder for column `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Adds one cell; `line` is where it came from, used in error messages.
    pub fn push(&mut self, text: &str, line: u64) {
        if is_missing_token(text) {
            self.codes.push(MISSING);
            return;
        }
        let text = text.trim();
        let code = match self.lookup.get(text) {
            Some(&code) => code,
            None => {
                let code = self.entries.len() as u32;
                self.entries.push(text.into());
                self.first_line.push(line);
                self.lookup.insert(text.into(), code);
                code
            }
        };
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

    /// The kind the cells look like: binary, then integer, then continuous, else categorical.
    /// A column with no values at all is continuous.
    pub fn infer_kind(&self) -> ColumnKind {
        let all = |f: &dyn Fn(&str) -> bool| self.entries.iter().all(|e| f(e));
        if self.entries.is_empty() {
            ColumnKind::Continuous
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

    /// Builds the column as `kind` (inferred when `None`). `source` names the file in errors.
    pub fn finish(self, kind: Option<ColumnKind>, source: &Path) -> crate::Result<Column> {
        let kind = kind.unwrap_or_else(|| self.infer_kind());
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
            ColumnKind::Continuous => {
                ColumnData::Continuous(self.decode(kind, source, parse_number, f64::NAN)?)
            }
            ColumnKind::Integer => {
                ColumnData::Integer(self.decode(kind, source, |t| parse_integer(t, false), 0)?)
            }
            ColumnKind::Binary => {
                ColumnData::Binary(self.decode(kind, source, parse_binary, false)?)
            }
        };
        Ok(Column::new(self.name, data, validity))
    }

    /// Parses each dictionary entry once, then maps every cell through the parsed entries.
    fn decode<T: Copy>(
        &self,
        kind: ColumnKind,
        source: &Path,
        parse: impl Fn(&str) -> Option<T>,
        placeholder: T,
    ) -> crate::Result<Vec<T>> {
        let parsed = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
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
            build(&["3.0", "12"], None).unwrap().kind(),
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
    fn a_cell_of_the_wrong_kind_names_its_line() {
        let err = build(&["1.5", "2", "abc"], Some(ColumnKind::Continuous))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.csv, line 4, column 'c': found 'abc', expected a number (or an empty cell for missing)"
        );
        let col = build(&[" 7 ", "", "7"], Some(ColumnKind::Integer)).unwrap();
        assert_eq!(
            (col.value(0), col.value(1), col.value(2)),
            (Value::Integer(7), Value::Missing, Value::Integer(7))
        );
    }
}

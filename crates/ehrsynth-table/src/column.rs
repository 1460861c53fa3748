//! One typed column: values of a single kind plus a validity bitmap for missing cells.

use std::sync::Arc;

use crate::schema::ColumnKind;

/// Which cells of a column hold a value (bit set) and which are missing (bit clear).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Validity {
    words: Vec<u64>,
    len: usize,
}

impl Validity {
    /// An empty bitmap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bitmap of `len` cells, all valid or all missing.
    pub fn filled(len: usize, valid: bool) -> Self {
        let word = if valid { u64::MAX } else { 0 };
        let mut bitmap = Self {
            words: vec![word; len.div_ceil(64)],
            len,
        };
        bitmap.clear_tail();
        bitmap
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no cells.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one cell.
    pub fn push(&mut self, valid: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if valid {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    /// Whether cell `i` holds a value. Panics if `i` is out of bounds, like slice indexing.
    pub fn is_valid(&self, i: usize) -> bool {
        assert!(
            i < self.len,
            "validity index {i} out of bounds ({})",
            self.len
        );
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Marks cell `i` valid or missing.
    pub fn set(&mut self, i: usize, valid: bool) {
        assert!(
            i < self.len,
            "validity index {i} out of bounds ({})",
            self.len
        );
        if valid {
            self.words[i / 64] |= 1 << (i % 64);
        } else {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Number of missing cells.
    pub fn missing_count(&self) -> usize {
        self.len
            - self
                .words
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
    }

    fn clear_tail(&mut self) {
        let rem = self.len % 64;
        if rem != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << rem) - 1;
        }
    }
}

/// The values of a column. Missing cells hold a placeholder (0, NaN or code 0) and are
/// marked in the column's [`Validity`].
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Real numbers.
    Continuous(Vec<f64>),
    /// Whole numbers.
    Integer(Vec<i64>),
    /// 0/1 flags.
    Binary(Vec<bool>),
    /// Strings stored as codes into a shared dictionary.
    Categorical {
        /// One code per row, indexing `dictionary`.
        codes: Vec<u32>,
        /// The distinct strings.
        dictionary: Arc<Vec<String>>,
    },
}

/// One cell, borrowed from a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// No value.
    Missing,
    /// A continuous value.
    Number(f64),
    /// An integer value.
    Integer(i64),
    /// A binary value.
    Binary(bool),
    /// A category.
    Category(&'a str),
}

impl Value<'_> {
    /// The value as a number: continuous, integer and binary cells convert, others give `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Number(x) => Some(x),
            Value::Integer(x) => Some(x as f64),
            Value::Binary(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Missing | Value::Category(_) => None,
        }
    }

    /// True for a missing cell.
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }
}

impl std::fmt::Display for Value<'_> {
    /// Writes the cell as it would appear in a CSV file (missing = empty).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Missing => Ok(()),
            Value::Number(x) => write!(f, "{x}"),
            Value::Integer(x) => write!(f, "{x}"),
            Value::Binary(b) => f.write_str(if *b { "1" } else { "0" }),
            Value::Category(s) => f.write_str(s),
        }
    }
}

/// A named, typed column with missing values.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    name: String,
    data: ColumnData,
    validity: Validity,
}

impl Column {
    /// Builds a column; `validity` must have one entry per value.
    pub fn new(name: impl Into<String>, data: ColumnData, validity: Validity) -> Self {
        let column = Self {
            name: name.into(),
            data,
            validity,
        };
        assert_eq!(
            column.data_len(),
            column.validity.len(),
            "column '{}': values and validity differ in length",
            column.name
        );
        column
    }

    /// A continuous column from optional values.
    pub fn continuous(name: impl Into<String>, values: &[Option<f64>]) -> Self {
        let mut validity = Validity::new();
        let data = values
            .iter()
            .map(|v| {
                let valid = v.is_some_and(|x| !x.is_nan());
                validity.push(valid);
                if valid {
                    v.unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                }
            })
            .collect();
        Self::new(name, ColumnData::Continuous(data), validity)
    }

    /// An integer column from optional values.
    pub fn integer(name: impl Into<String>, values: &[Option<i64>]) -> Self {
        let mut validity = Validity::new();
        let data = values
            .iter()
            .map(|v| {
                validity.push(v.is_some());
                v.unwrap_or(0)
            })
            .collect();
        Self::new(name, ColumnData::Integer(data), validity)
    }

    /// A binary column from optional values.
    pub fn binary(name: impl Into<String>, values: &[Option<bool>]) -> Self {
        let mut validity = Validity::new();
        let data = values
            .iter()
            .map(|v| {
                validity.push(v.is_some());
                v.unwrap_or(false)
            })
            .collect();
        Self::new(name, ColumnData::Binary(data), validity)
    }

    /// A categorical column from optional strings; the dictionary keeps first-seen order.
    pub fn categorical<S: AsRef<str>>(name: impl Into<String>, values: &[Option<S>]) -> Self {
        let mut dictionary: Vec<String> = Vec::new();
        let mut lookup = std::collections::HashMap::<String, u32>::new();
        let mut validity = Validity::new();
        let codes = values
            .iter()
            .map(|v| match v {
                Some(s) => {
                    validity.push(true);
                    let s = s.as_ref();
                    *lookup.entry(s.to_string()).or_insert_with(|| {
                        dictionary.push(s.to_string());
                        (dictionary.len() - 1) as u32
                    })
                }
                None => {
                    validity.push(false);
                    0
                }
            })
            .collect();
        Self::new(
            name,
            ColumnData::Categorical {
                codes,
                dictionary: Arc::new(dictionary),
            },
            validity,
        )
    }

    fn data_len(&self) -> usize {
        match &self.data {
            ColumnData::Continuous(v) => v.len(),
            ColumnData::Integer(v) => v.len(),
            ColumnData::Binary(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same column under another name (data shared by clone).
    pub fn renamed(&self, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..self.clone()
        }
    }

    /// The column's kind.
    pub fn kind(&self) -> ColumnKind {
        match self.data {
            ColumnData::Continuous(_) => ColumnKind::Continuous,
            ColumnData::Integer(_) => ColumnKind::Integer,
            ColumnData::Binary(_) => ColumnKind::Binary,
            ColumnData::Categorical { .. } => ColumnKind::Categorical,
        }
    }

    /// The raw values.
    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    /// Which cells are present.
    pub fn validity(&self) -> &Validity {
        &self.validity
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.validity.len()
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.validity.is_empty()
    }

    /// Number of missing cells.
    pub fn missing_count(&self) -> usize {
        self.validity.missing_count()
    }

    /// Whether row `i` is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        !self.validity.is_valid(i)
    }

    /// The cell at row `i`.
    pub fn value(&self, i: usize) -> Value<'_> {
        if !self.validity.is_valid(i) {
            return Value::Missing;
        }
        match &self.data {
            ColumnData::Continuous(v) => Value::Number(v[i]),
            ColumnData::Integer(v) => Value::Integer(v[i]),
            ColumnData::Binary(v) => Value::Binary(v[i]),
            ColumnData::Categorical { codes, dictionary } => {
                Value::Category(&dictionary[codes[i] as usize])
            }
        }
    }

    /// The cell at row `i` as a number (see [`Value::as_f64`]).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        self.value(i).as_f64()
    }

    /// All cells as numbers, `None` where missing or categorical.
    pub fn to_f64_vec(&self) -> Vec<Option<f64>> {
        (0..self.len()).map(|i| self.get_f64(i)).collect()
    }

    /// The distinct categories of a categorical column, in dictionary order.
    pub fn dictionary(&self) -> Option<&[String]> {
        match &self.data {
            ColumnData::Categorical { dictionary, .. } => Some(dictionary),
            _ => None,
        }
    }

    /// A new column holding the rows at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> Self {
        let mut validity = Validity::new();
        for &i in indices {
            validity.push(self.validity.is_valid(i));
        }
        let data = match &self.data {
            ColumnData::Continuous(v) => {
                ColumnData::Continuous(indices.iter().map(|&i| v[i]).collect())
            }
            ColumnData::Integer(v) => ColumnData::Integer(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Binary(v) => ColumnData::Binary(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Categorical { codes, dictionary } => ColumnData::Categorical {
                codes: indices.iter().map(|&i| codes[i]).collect(),
                dictionary: Arc::clone(dictionary),
            },
        };
        Self::new(self.name.clone(), data, validity)
    }

    /// The observed minimum and maximum of a numeric column, ignoring missing cells.
    pub fn numeric_range(&self) -> Option<(f64, f64)> {
        let mut range: Option<(f64, f64)> = None;
        for i in 0..self.len() {
            if let Some(x) = self.get_f64(i) {
                range = Some(match range {
                    None => (x, x),
                    Some((lo, hi)) => (lo.min(x), hi.max(x)),
                });
            }
        }
        range
    }
}

impl Column {
    /// The column converted to `kind`. Fails with the first row whose value does not fit
    /// (a fraction for an integer, anything but 0/1 for binary, a non-number for a numeric kind),
    /// giving the row index and the value's text.
    pub fn cast(&self, kind: ColumnKind) -> Result<Self, (usize, String)> {
        if kind == self.kind() {
            return Ok(self.clone());
        }
        if kind == ColumnKind::Categorical {
            let texts: Vec<Option<String>> = (0..self.len())
                .map(|i| (!self.is_missing(i)).then(|| self.value(i).to_string()))
                .collect();
            return Ok(Self::categorical(self.name.clone(), &texts));
        }
        let mut values = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let value = self.value(i);
            let number = match value {
                Value::Missing => None,
                Value::Category(s) => {
                    Some(crate::cell::parse_number(s).ok_or_else(|| (i, s.to_string()))?)
                }
                other => other.as_f64(),
            };
            let fits = number.is_none_or(|x| match kind {
                ColumnKind::Integer => x.fract() == 0.0,
                ColumnKind::Binary => x == 0.0 || x == 1.0,
                _ => true,
            });
            if !fits {
                return Err((i, value.to_string()));
            }
            values.push(number);
        }
        let name = self.name.clone();
        Ok(match kind {
            ColumnKind::Continuous => Self::continuous(name, &values),
            ColumnKind::Integer => Self::integer(
                name,
                &values
                    .iter()
                    .map(|v| v.map(|x| x as i64))
                    .collect::<Vec<_>>(),
            ),
            _ => Self::binary(
                name,
                &values
                    .iter()
                    .map(|v| v.map(|x| x == 1.0))
                    .collect::<Vec<_>>(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_tracks_missing_cells_across_word_boundaries() {
        let mut v = Validity::new();
        for i in 0..130 {
            v.push(i % 3 != 0);
        }
        assert_eq!(v.len(), 130);
        assert_eq!(v.missing_count(), 44);
        assert!(!v.is_valid(129));
        assert!(v.is_valid(128));
        v.set(129, true);
        assert_eq!(v.missing_count(), 43);
        assert_eq!(Validity::filled(70, true).missing_count(), 0);
        assert_eq!(Validity::filled(70, false).missing_count(), 70);
    }

    #[test]
    fn columns_report_values_and_missing_cells() {
        let c = Column::continuous("x", &[Some(1.5), None, Some(f64::NAN)]);
        assert_eq!(c.value(0), Value::Number(1.5));
        assert!(c.is_missing(1) && c.is_missing(2));
        let cat = Column::categorical("race", &[Some("a"), Some("b"), None, Some("a")]);
        assert_eq!(cat.value(3), Value::Category("a"));
        assert_eq!(cat.dictionary().map(<[String]>::len), Some(2));
        let taken = cat.take(&[3, 2]);
        assert_eq!(taken.value(0), Value::Category("a"));
        assert!(taken.is_missing(1));
        assert_eq!(
            Column::integer("i", &[Some(3), None, Some(-2)]).numeric_range(),
            Some((-2.0, 3.0))
        );
    }

    #[test]
    fn casts_convert_or_name_the_first_bad_row() {
        let ints = Column::integer("i", &[Some(0), None, Some(1)]);
        let bin = ints.cast(ColumnKind::Binary).unwrap();
        assert_eq!(bin.value(2), Value::Binary(true));
        assert!(bin.is_missing(1));
        let reals = Column::continuous("x", &[Some(1.0), Some(2.5)]);
        assert_eq!(
            reals.cast(ColumnKind::Integer).unwrap_err(),
            (1, "2.5".to_string())
        );
        let text = Column::categorical("t", &[Some("1.5"), Some("abc")]);
        assert_eq!(
            text.cast(ColumnKind::Continuous).unwrap_err(),
            (1, "abc".to_string())
        );
        assert_eq!(
            reals.cast(ColumnKind::Categorical).unwrap().value(1),
            Value::Category("2.5")
        );
    }
}

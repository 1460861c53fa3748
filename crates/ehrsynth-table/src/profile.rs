//! What inference notices about a column beyond its kind, for callers to warn about or act on:
//! - [`ColumnNote::Constant`]: one distinct value in every non-missing cell, so there is nothing
//!   to learn from it or generate for it (missing cells may still carry information).
//! - [`ColumnNote::IdLike`]: an integer or text column with a different value in every row and
//!   no missing cell, like a patient id. Such a column is an identifier, not a feature.
//!
//! [`crate::Schema::infer`] proposes role `id` for id-like columns when [`proposes_id`] says the
//! evidence is strong; the notes themselves are only reported ([`notes`]), never acted on here.

use std::collections::HashSet;
use std::fmt;

use crate::column::{Column, ColumnData};
use crate::table::Table;

/// Rows an id-like column needs before its values alone (not its name) make it an identifier:
/// in a short table, a few distinct values are likely by chance.
pub const MIN_ID_ROWS: usize = 20;

/// Something worth telling about a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnNote {
    /// Every non-missing cell holds the same value.
    Constant,
    /// Integer or text, no missing cell, a different value in every row.
    IdLike,
}

impl ColumnNote {
    /// A short lowercase label ("constant", "id_like").
    pub fn label(self) -> &'static str {
        match self {
            ColumnNote::Constant => "constant",
            ColumnNote::IdLike => "id_like",
        }
    }
}

impl fmt::Display for ColumnNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnNote::Constant => "constant: every non-missing value is the same",
            ColumnNote::IdLike => "unique per row: looks like an identifier, not a feature",
        })
    }
}

/// The note for `column`, if any.
pub fn note(column: &Column) -> Option<ColumnNote> {
    if is_id_like(column) {
        Some(ColumnNote::IdLike)
    } else if is_constant(column) {
        Some(ColumnNote::Constant)
    } else {
        None
    }
}

/// The notes of a table's columns, in column order, naming each column.
pub fn notes(table: &Table) -> Vec<(&str, ColumnNote)> {
    table
        .columns()
        .iter()
        .filter_map(|c| note(c).map(|n| (c.name(), n)))
        .collect()
}

/// True when the column has non-missing values and they are all the same.
pub fn is_constant(column: &Column) -> bool {
    let mut keys = value_keys(column);
    keys.next().is_some_and(|first| keys.all(|k| k == first))
}

/// True when the column is integer or text, has at least 2 rows, no missing cell and a
/// different value in every row.
pub fn is_id_like(column: &Column) -> bool {
    let kind_fits = matches!(
        column.data(),
        ColumnData::Integer(_) | ColumnData::Categorical { .. }
    );
    if !kind_fits || column.len() < 2 || column.missing_count() > 0 {
        return false;
    }
    let mut seen = HashSet::with_capacity(column.len());
    value_keys(column).all(|k| seen.insert(k))
}

/// True when an id-like column should get role `id` in an inferred schema: its name ends in
/// "id" (as in `patientunitstayid`), or, with at least [`MIN_ID_ROWS`] rows, its values are
/// shaped like identifiers: consecutive integers (a row number) or texts without spaces (free
/// text, unique per row too, is not an identifier).
pub fn proposes_id(column: &Column) -> bool {
    if !is_id_like(column) {
        return false;
    }
    if column.name().to_ascii_lowercase().ends_with("id") {
        return true;
    }
    if column.len() < MIN_ID_ROWS {
        return false;
    }
    match column.data() {
        ColumnData::Integer(_) => column
            .numeric_range()
            .is_some_and(|(lo, hi)| hi - lo + 1.0 == column.len() as f64),
        ColumnData::Categorical { codes, dictionary } => codes
            .iter()
            .all(|&c| !dictionary[c as usize].contains(char::is_whitespace)),
        _ => false,
    }
}

/// One key per non-missing cell, equal exactly when the values are (categories by code: the
/// dictionary holds each text once).
fn value_keys(column: &Column) -> impl Iterator<Item = u64> + '_ {
    (0..column.len())
        .filter(|&i| !column.is_missing(i))
        .map(move |i| match column.data() {
            // +0.0 so that 0.0 and -0.0 are one value.
            ColumnData::Continuous(v) => (v[i] + 0.0).to_bits(),
            ColumnData::Integer(v) => v[i] as u64,
            ColumnData::Binary(v) => u64::from(v[i]),
            ColumnData::Categorical { codes, .. } => u64::from(codes[i]),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(name: &str, values: &[&str]) -> Column {
        let values: Vec<Option<&str>> = values.iter().map(|v| Some(*v)).collect();
        Column::categorical(name, &values)
    }

    #[test]
    fn constant_columns_are_noted() {
        let c = Column::continuous("x", &[Some(2.0), None, Some(2.0)]);
        assert!(is_constant(&c));
        assert_eq!(note(&c), Some(ColumnNote::Constant));
        assert!(is_constant(&texts("site", &["a", "a"])));
        assert!(!is_constant(&Column::binary(
            "b",
            &[Some(true), Some(false)]
        )));
        assert!(!is_constant(&Column::integer("n", &[None, None])));
    }

    #[test]
    fn unique_integer_and_text_columns_are_id_like() {
        let ids = Column::integer("patient", &[Some(17), Some(3), Some(99)]);
        assert_eq!(note(&ids), Some(ColumnNote::IdLike));
        assert!(is_id_like(&texts("mrn", &["A1", "B2"])));
        assert!(!is_id_like(&Column::integer("n", &[Some(1), Some(1)])));
        assert!(!is_id_like(&Column::integer(
            "n",
            &[Some(1), None, Some(2)]
        )));
        assert!(!is_id_like(&Column::continuous(
            "x",
            &[Some(1.5), Some(2.5)]
        )));
        let t = Table::new(vec![ids, texts("unit", &["a", "a", "a"])]).unwrap();
        assert_eq!(
            notes(&t),
            vec![
                ("patient", ColumnNote::IdLike),
                ("unit", ColumnNote::Constant)
            ]
        );
    }

    #[test]
    fn role_id_needs_an_id_name_or_id_shaped_values_in_enough_rows() {
        let few = Column::integer("row", &[Some(1), Some(2), Some(3)]);
        assert!(!proposes_id(&few));
        assert!(proposes_id(&few.renamed("stay_id")));
        let n = MIN_ID_ROWS as i64;
        let rows: Vec<Option<i64>> = (0..n).map(|i| Some(i + 100)).collect();
        assert!(proposes_id(&Column::integer("", &rows)));
        let spread: Vec<Option<i64>> = (0..n).map(|i| Some(i * 37)).collect();
        assert!(!proposes_id(&Column::integer("charges", &spread)));
        let codes: Vec<String> = (0..n).map(|i| format!("P{i:05}")).collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        assert!(proposes_id(&texts("subject", &codes)));
        let prose: Vec<String> = (0..n).map(|i| format!("seen on day {i}")).collect();
        let prose: Vec<&str> = prose.iter().map(String::as_str).collect();
        assert!(!proposes_id(&texts("note", &prose)));
    }
}

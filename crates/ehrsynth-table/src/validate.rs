//! Row validation against a [`Schema`]: every rejected row comes with the columns that failed
//! and why, so generators can log rejections and users can see what went wrong.
//!
//! An id column is checked for its kind and for missing values only: generators write fresh
//! ids (1, 2, 3, ...), so the real ids' range or values say nothing about a valid row.

use std::collections::BTreeMap;
use std::fmt;

use crate::cell::{expected_text, is_missing_in, parse_binary, parse_integer, parse_number};
use crate::column::Value;
use crate::error::{TableError, short_list};
use crate::schema::{ColumnKind, ColumnSpec, Role, Schema};
use crate::table::Table;

/// Why one cell was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectReason {
    /// The cell is empty but the column does not allow missing values.
    MissingNotAllowed,
    /// The text is not of the column's kind.
    WrongType {
        /// The offending text.
        value: String,
        /// What the kind needs.
        expected: &'static str,
    },
    /// The number is outside the schema's range.
    OutOfRange {
        /// The value.
        value: f64,
        /// Lower bound, if any.
        min: Option<f64>,
        /// Upper bound, if any.
        max: Option<f64>,
    },
    /// The text is not one of the column's categories.
    UnknownCategory {
        /// The offending text.
        value: String,
    },
    /// The row breaks a constraint across columns (the rejection's `column` is the
    /// constraint's label).
    ConstraintBroken {
        /// How ("race_black, race_asian are all 1").
        detail: String,
    },
}

impl RejectReason {
    /// A short stable label for counting rejections ("out_of_range", ...).
    pub fn label(&self) -> &'static str {
        match self {
            RejectReason::MissingNotAllowed => "missing_not_allowed",
            RejectReason::WrongType { .. } => "wrong_type",
            RejectReason::OutOfRange { .. } => "out_of_range",
            RejectReason::UnknownCategory { .. } => "unknown_category",
            RejectReason::ConstraintBroken { .. } => "constraint_broken",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::MissingNotAllowed => {
                f.write_str("missing, but the schema does not allow missing values")
            }
            RejectReason::WrongType { value, expected } => write!(f, "'{value}' is not {expected}"),
            RejectReason::OutOfRange { value, min, max } => {
                let lo = min.map_or("-inf".to_string(), |x| x.to_string());
                let hi = max.map_or("inf".to_string(), |x| x.to_string());
                write!(f, "{value} is outside the valid range [{lo}, {hi}]")
            }
            RejectReason::UnknownCategory { value } => {
                write!(f, "'{value}' is not one of the schema's categories")
            }
            RejectReason::ConstraintBroken { detail } => write!(f, "broken: {detail}"),
        }
    }
}

/// One failed cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRejection {
    /// The column.
    pub column: String,
    /// Why.
    pub reason: RejectReason,
}

impl fmt::Display for CellRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            RejectReason::ConstraintBroken { .. } => {
                write!(f, "constraint {}: {}", self.column, self.reason)
            }
            _ => write!(f, "column '{}': {}", self.column, self.reason),
        }
    }
}

/// One rejected row and all its failed cells.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRejection {
    /// 0-based row index.
    pub row: usize,
    /// The failed cells.
    pub cells: Vec<CellRejection>,
}

/// The outcome of validating a whole table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationReport {
    /// Rows checked.
    pub n_rows: usize,
    /// Rows that failed, in row order.
    pub rejected: Vec<RowRejection>,
}

impl ValidationReport {
    /// Indices of the rows that passed.
    pub fn accepted_rows(&self) -> Vec<usize> {
        let mut bad = self.rejected.iter().map(|r| r.row).peekable();
        (0..self.n_rows)
            .filter(|&i| {
                if bad.peek() == Some(&i) {
                    bad.next();
                    false
                } else {
                    true
                }
            })
            .collect()
    }

    /// Failed cells counted by (column, reason label).
    pub fn counts(&self) -> BTreeMap<(String, &'static str), usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rejected {
            for cell in &row.cells {
                *counts
                    .entry((cell.column.clone(), cell.reason.label()))
                    .or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Checks a numeric value against the spec's range (an id column has none that binds).
fn check_range(spec: &ColumnSpec, value: f64) -> Option<RejectReason> {
    if spec.role == Role::Id {
        return None;
    }
    let below = spec.min.is_some_and(|lo| value < lo);
    let above = spec.max.is_some_and(|hi| value > hi);
    (below || above).then_some(RejectReason::OutOfRange {
        value,
        min: spec.min,
        max: spec.max,
    })
}

/// Validates one text cell against one column spec. Missing cells follow [`is_missing_in`]: "?"
/// or "-" is a missing number in a numeric column but a category in a categorical one.
pub fn validate_text(spec: &ColumnSpec, text: &str) -> Option<RejectReason> {
    if is_missing_in(spec.kind, text) {
        return (!spec.missing_allowed).then_some(RejectReason::MissingNotAllowed);
    }
    let wrong_type = || RejectReason::WrongType {
        value: text.trim().to_string(),
        expected: expected_text(spec.kind),
    };
    match spec.kind {
        ColumnKind::Continuous => match parse_number(text) {
            Some(x) => check_range(spec, x),
            None => Some(wrong_type()),
        },
        ColumnKind::Integer => match parse_integer(text, false) {
            Some(i) => check_range(spec, i as f64),
            None => Some(wrong_type()),
        },
        ColumnKind::Binary => parse_binary(text).is_none().then(wrong_type),
        ColumnKind::Categorical => {
            let t = text.trim();
            let listed = spec.categories.is_empty() || spec.categories.iter().any(|c| c == t);
            (spec.role != Role::Id && !listed).then(|| RejectReason::UnknownCategory {
                value: t.to_string(),
            })
        }
    }
}

/// Validates one typed cell against one column spec.
pub fn validate_value(spec: &ColumnSpec, value: Value<'_>) -> Option<RejectReason> {
    match value {
        Value::Missing => (!spec.missing_allowed).then_some(RejectReason::MissingNotAllowed),
        Value::Category(s) => validate_text(spec, s),
        numeric => {
            let x = numeric.as_f64().unwrap_or(f64::NAN);
            match spec.kind {
                ColumnKind::Categorical => validate_text(spec, &numeric.to_string()),
                ColumnKind::Integer if x.fract() != 0.0 => Some(RejectReason::WrongType {
                    value: numeric.to_string(),
                    expected: expected_text(spec.kind),
                }),
                ColumnKind::Binary if x != 0.0 && x != 1.0 => Some(RejectReason::WrongType {
                    value: numeric.to_string(),
                    expected: expected_text(spec.kind),
                }),
                _ => check_range(spec, x),
            }
        }
    }
}

/// A valid cell's value for the constraints, `None`'s place taken by [`Value::Missing`].
fn cell_value<'a>(spec: &ColumnSpec, text: &'a str) -> Value<'a> {
    if is_missing_in(spec.kind, text) {
        return Value::Missing;
    }
    match spec.kind {
        ColumnKind::Binary => parse_binary(text).map_or(Value::Missing, Value::Binary),
        ColumnKind::Integer => {
            parse_number(text).map_or(Value::Missing, |x| Value::Integer(x as i64))
        }
        ColumnKind::Continuous => parse_number(text).map_or(Value::Missing, Value::Number),
        ColumnKind::Categorical => Value::Category(text.trim()),
    }
}

impl Schema {
    /// The constraints a row breaks, given each column's value by name (columns a constraint
    /// names that `value` does not know count as missing).
    fn broken_constraints<'a>(
        &self,
        value: impl Fn(&str) -> Option<Value<'a>>,
    ) -> Vec<CellRejection> {
        self.constraints
            .iter()
            .filter_map(|c| {
                let values: Vec<Value<'a>> = c
                    .columns()
                    .iter()
                    .map(|n| value(n).unwrap_or(Value::Missing))
                    .collect();
                c.broken_by(&values).map(|detail| CellRejection {
                    column: c.label(),
                    reason: RejectReason::ConstraintBroken { detail },
                })
            })
            .collect()
    }

    /// Validates a row given as text cells in schema column order. On failure returns every
    /// failed cell. A row with the wrong number of cells fails as a whole.
    pub fn validate_cells<S: AsRef<str>>(&self, cells: &[S]) -> Result<(), Vec<CellRejection>> {
        if cells.len() != self.columns.len() {
            return Err(vec![CellRejection {
                column: "<row>".to_string(),
                reason: RejectReason::WrongType {
                    value: format!("{} cells", cells.len()),
                    expected: "one cell per schema column",
                },
            }]);
        }
        let mut failed: Vec<CellRejection> = self
            .columns
            .iter()
            .zip(cells)
            .filter_map(|(spec, cell)| {
                validate_text(spec, cell.as_ref()).map(|reason| CellRejection {
                    column: spec.name.clone(),
                    reason,
                })
            })
            .collect();
        if failed.is_empty() {
            failed = self.broken_constraints(|name| {
                let i = self.columns.iter().position(|c| c.name == name)?;
                Some(cell_value(&self.columns[i], cells[i].as_ref()))
            });
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }

    /// Validates every row of `table` (which must contain every schema column).
    pub fn validate_table(&self, table: &Table) -> crate::Result<ValidationReport> {
        let columns = self
            .columns
            .iter()
            .map(|spec| {
                table
                    .column(&spec.name)
                    .ok_or_else(|| TableError::MissingColumn {
                        path: "<table>".into(),
                        column: spec.name.clone(),
                        found: short_list(table.column_names()),
                    })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let mut report = ValidationReport {
            n_rows: table.n_rows(),
            rejected: Vec::new(),
        };
        for row in 0..table.n_rows() {
            let cells: Vec<CellRejection> = self
                .columns
                .iter()
                .zip(&columns)
                .filter_map(|(spec, column)| {
                    validate_value(spec, column.value(row)).map(|reason| CellRejection {
                        column: spec.name.clone(),
                        reason,
                    })
                })
                .collect();
            let mut cells = cells;
            if cells.is_empty() {
                cells = self.broken_constraints(|name| Some(table.column(name)?.value(row)));
            }
            if !cells.is_empty() {
                report.rejected.push(RowRejection { row, cells });
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::Column;

    fn schema() -> Schema {
        let mut age = ColumnSpec::new("age", ColumnKind::Continuous);
        age.min = Some(16.0);
        age.max = Some(90.0);
        age.missing_allowed = false;
        let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
        race.categories = vec!["black".into(), "white".into()];
        let vent = ColumnSpec::new("ventdays", ColumnKind::Integer);
        let female = ColumnSpec::new("is_female", ColumnKind::Binary);
        Schema::new(vec![age, race, vent, female]).unwrap()
    }

    #[test]
    fn id_columns_accept_fresh_ids_outside_the_real_range_but_not_the_wrong_type() {
        let mut id = ColumnSpec::new("pidnum", ColumnKind::Integer);
        id.role = Role::Id;
        id.min = Some(10_056.0);
        id.max = Some(990_077.0);
        assert_eq!(validate_text(&id, "1"), None);
        assert!(matches!(
            validate_text(&id, "a7"),
            Some(RejectReason::WrongType { .. })
        ));
        let mut feature = id.clone();
        feature.role = Role::Feature;
        assert!(matches!(
            validate_text(&feature, "1"),
            Some(RejectReason::OutOfRange { .. })
        ));
        let mut text_id = ColumnSpec::new("stay", ColumnKind::Categorical);
        text_id.role = Role::Id;
        text_id.categories = vec!["s-17".into()];
        assert_eq!(validate_text(&text_id, "3"), None);
    }

    #[test]
    fn each_rejected_cell_names_its_column_and_reason() {
        let s = schema();
        assert!(s.validate_cells(&["40", "black", "3", "1"]).is_ok());
        assert!(s.validate_cells(&["40", "", "", ""]).is_ok());
        let errs = s
            .validate_cells(&["104", "martian", "2.5", "yes"])
            .unwrap_err();
        let labels: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.column.as_str(), e.reason.label()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("age", "out_of_range"),
                ("race", "unknown_category"),
                ("ventdays", "wrong_type"),
                ("is_female", "wrong_type")
            ]
        );
        assert!(
            errs[0]
                .to_string()
                .contains("104 is outside the valid range [16, 90]")
        );
        let missing = s.validate_cells(&["", "white", "1", "0"]).unwrap_err();
        assert_eq!(missing[0].reason, RejectReason::MissingNotAllowed);
        assert!(s.validate_cells(&["40", "white"]).is_err());
    }

    #[test]
    fn numeric_missing_tokens_are_missing_in_numeric_columns_only() {
        let s = schema();
        assert!(s.validate_cells(&["40", "white", "?", "-"]).is_ok());
        let missing = s.validate_cells(&["n/a", "white", "1", "0"]).unwrap_err();
        assert_eq!(missing[0].reason, RejectReason::MissingNotAllowed);
        let category = s.validate_cells(&["40", "?", "1", "0"]).unwrap_err();
        assert_eq!(category[0].reason.label(), "unknown_category");
    }

    #[test]
    fn table_validation_lists_rejected_rows() {
        let t = Table::new(vec![
            Column::continuous("age", &[Some(40.0), Some(12.0), None]),
            Column::categorical("race", &[Some("black"), Some("white"), Some("green")]),
            Column::integer("ventdays", &[Some(1), None, Some(2)]),
            Column::binary("is_female", &[Some(true), Some(false), None]),
        ])
        .unwrap();
        let report = schema().validate_table(&t).unwrap();
        assert_eq!(report.accepted_rows(), vec![0]);
        assert_eq!(report.rejected.len(), 2);
        assert_eq!(report.rejected[1].cells.len(), 2);
        assert_eq!(
            report.counts().get(&("age".to_string(), "out_of_range")),
            Some(&1)
        );
    }
}

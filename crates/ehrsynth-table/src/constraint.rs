//! Rules across columns that every real row obeys: a one-hot set (the `race_*` indicators are one
//! variable coded as 0/1 columns, at most one of them 1), an order (`heartrate_min <=
//! heartrate_first <= heartrate_max`), a panel missing together (a blood gas: pH, PaO2 and
//! PaCO2 are all measured or none is) and a list of allowed value combinations
//! ([`combinations`]). They live in the schema (`[[constraint]]` tables), are checked with a
//! row's cells ([`crate::Schema::validate_cells`], [`crate::Schema::validate_table`]), counted
//! for the audit ([`violations`]), inferred from data with the evidence behind each ([`infer`]),
//! and restored in a generator's rows by a bounded repair ([`repair`]).
//!
//! Not here: how a generator keeps them by construction (its own module), or scoring a table
//! with them (`ehrsynth-eval`).

use serde::{Deserialize, Serialize};

use crate::column::{Column, Value};
use crate::schema::{ColumnKind, Schema};
use crate::table::Table;

/// One rule across columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Constraint {
    /// At most one of these binary columns is 1 in a row (exactly one with `exactly = true`).
    OneHot {
        /// The 0/1 columns of the set (two or more).
        columns: Vec<String>,
        /// Exactly one of them is 1 (and none is missing).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exactly: bool,
    },
    /// `columns[0] <= columns[1] <= ...` among the values present in a row (a chain; two or
    /// more continuous or integer columns; an integer column given a repaired value rounds it).
    Order {
        /// The columns, smallest first.
        columns: Vec<String>,
    },
    /// In a row these columns are all present or all missing (columns of any kind).
    MissingTogether {
        /// The columns of the panel (two or more, each allowed to be missing).
        columns: Vec<String>,
    },
    /// Only these combinations of values occur together (a unit type only in the hospitals
    /// that have one). Columns are categorical, binary or integer; a row with any of them
    /// missing is not judged. See [`combinations`].
    Combinations {
        /// The columns (two or more).
        columns: Vec<String>,
        /// The allowed combinations, one value per column in the columns' order, each written
        /// as in a CSV cell (`"MICU"`, `"73"`, `"1"`; TOML numbers and booleans are read too).
        #[serde(deserialize_with = "combinations::read_allowed")]
        allowed: Vec<Vec<String>>,
    },
}

impl Constraint {
    /// The columns the rule reads.
    pub fn columns(&self) -> &[String] {
        match self {
            Constraint::OneHot { columns, .. }
            | Constraint::Order { columns }
            | Constraint::MissingTogether { columns }
            | Constraint::Combinations { columns, .. } => columns,
        }
    }

    /// A short name for messages and reports: `one_hot(a, b, c)`, `order(a <= b)`.
    pub fn label(&self) -> String {
        match self {
            Constraint::OneHot { columns, exactly } => format!(
                "{}({})",
                if *exactly { "exactly_one" } else { "one_hot" },
                columns.join(", ")
            ),
            Constraint::Order { columns } => format!("order({})", columns.join(" <= ")),
            Constraint::MissingTogether { columns } => {
                format!("missing_together({})", columns.join(", "))
            }
            Constraint::Combinations { columns, .. } => {
                format!("combinations({})", columns.join(", "))
            }
        }
    }

    /// Checks the rule against the schema's columns; the message says what is wrong.
    pub(crate) fn check(&self, schema: &Schema) -> Result<(), String> {
        let label = self.label();
        let columns = self.columns();
        if columns.len() < 2 {
            return Err(format!("constraint {label} needs two or more columns"));
        }
        let mut kinds = Vec::new();
        let mut required = None;
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                return Err(format!("constraint {label} names column '{name}' twice"));
            }
            let spec = schema
                .column(name)
                .ok_or_else(|| format!("constraint {label} names an unknown column '{name}'"))?;
            kinds.push(spec.kind);
            if !spec.missing_allowed {
                required.get_or_insert(name);
            }
        }
        match self {
            Constraint::OneHot { .. } => {
                if let Some(i) = kinds.iter().position(|k| *k != ColumnKind::Binary) {
                    return Err(format!(
                        "constraint {label}: column '{}' is {}, a one-hot set needs binary columns",
                        columns[i],
                        kinds[i].as_str()
                    ));
                }
            }
            Constraint::Order { .. } => {
                let numeric =
                    |k: &ColumnKind| matches!(k, ColumnKind::Continuous | ColumnKind::Integer);
                if let Some(i) = kinds.iter().position(|k| !numeric(k)) {
                    return Err(format!(
                        "constraint {label}: column '{}' is {}, an order needs continuous or integer columns",
                        columns[i],
                        kinds[i].as_str()
                    ));
                }
            }
            Constraint::MissingTogether { .. } => {
                if let Some(name) = required {
                    return Err(format!(
                        "constraint {label}: column '{name}' may not be missing (missing_allowed = false), so the panel could never be missing together"
                    ));
                }
            }
            Constraint::Combinations { allowed, .. } => {
                combinations::check(&label, columns, allowed, schema)?;
            }
        }
        Ok(())
    }

    /// The rule on the columns among `names` (a column subset), if it still says something: a
    /// one-hot set keeps "at most one" over the columns left, an order its sub-chain.
    pub fn restricted_to(&self, names: &[&str]) -> Option<Constraint> {
        let kept: Vec<String> = self
            .columns()
            .iter()
            .filter(|c| names.contains(&c.as_str()))
            .cloned()
            .collect();
        if kept.len() < 2 {
            return None;
        }
        let whole = kept.len() == self.columns().len();
        Some(match self {
            Constraint::OneHot { exactly, .. } => Constraint::OneHot {
                columns: kept,
                exactly: *exactly && whole,
            },
            Constraint::Order { .. } => Constraint::Order { columns: kept },
            Constraint::MissingTogether { .. } => Constraint::MissingTogether { columns: kept },
            Constraint::Combinations { columns, allowed } => Constraint::Combinations {
                allowed: combinations::projected(columns, allowed, &kept),
                columns: kept,
            },
        })
    }

    /// How a row breaks the rule, given its values in the rule's column order, or `None` when
    /// it holds.
    pub fn broken_by(&self, values: &[Value<'_>]) -> Option<String> {
        let columns = self.columns();
        match self {
            Constraint::OneHot { exactly, .. } => {
                let ones: Vec<&str> = columns
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| v.as_f64() == Some(1.0))
                    .map(|(c, _)| c.as_str())
                    .collect();
                if ones.len() > 1 {
                    return Some(format!("{} are all 1", ones.join(", ")));
                }
                let complete = !values.iter().any(Value::is_missing);
                (*exactly && ones.is_empty() && complete).then(|| "none of them is 1".to_string())
            }
            Constraint::Order { .. } => {
                let present: Vec<(&str, f64)> = columns
                    .iter()
                    .zip(values)
                    .filter_map(|(c, v)| v.as_f64().map(|v| (c.as_str(), v)))
                    .collect();
                present
                    .windows(2)
                    .find(|w| w[0].1 > w[1].1)
                    .map(|w| format!("{} = {} is above {} = {}", w[0].0, w[0].1, w[1].0, w[1].1))
            }
            Constraint::MissingTogether { .. } => {
                let (present, missing): (Vec<_>, Vec<_>) = columns
                    .iter()
                    .zip(values)
                    .partition(|(_, v)| !v.is_missing());
                let names = |cells: Vec<(&String, &Value<'_>)>| {
                    cells
                        .into_iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (!present.is_empty() && !missing.is_empty())
                    .then(|| format!("{} present but {} missing", names(present), names(missing)))
            }
            Constraint::Combinations { allowed, .. } => {
                combinations::broken_by(columns, allowed, values)
            }
        }
    }
}

/// `table`'s columns `names`, or `None` when one is absent.
fn named_columns<'a>(table: &'a Table, names: &[String]) -> Option<Vec<&'a Column>> {
    names.iter().map(|n| table.column(n)).collect()
}

/// How many rows of a table break one constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstraintCount {
    /// [`Constraint::label`].
    pub constraint: String,
    /// Rows checked.
    pub rows: usize,
    /// Rows that break it.
    pub broken: usize,
}

impl ConstraintCount {
    /// Share of rows that break the constraint (0 for an empty table).
    pub fn share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.broken as f64 / self.rows as f64
        }
    }
}

/// Rows of `table` that break each of `schema`'s constraints (over the columns the table has).
pub fn violations(schema: &Schema, table: &Table) -> Vec<ConstraintCount> {
    let names = table.column_names();
    schema
        .constraints
        .iter()
        .filter_map(|c| c.restricted_to(&names))
        .filter_map(|c| {
            let columns = named_columns(table, c.columns())?;
            let broken = (0..table.n_rows())
                .filter(|&row| {
                    let values: Vec<Value<'_>> = columns.iter().map(|col| col.value(row)).collect();
                    c.broken_by(&values).is_some()
                })
                .count();
            Some(ConstraintCount {
                constraint: c.label(),
                rows: table.n_rows(),
                broken,
            })
        })
        .collect()
}

pub mod combinations;
mod infer;
mod repair;

pub use infer::{Inferred, infer};
pub use repair::{repair, repair_keeping};

#[cfg(test)]
mod tests;

//! The `combinations` rule: only the listed combinations of values of a few discrete columns
//! occur together (a unit type only in the hospitals that have one, a state only with its own
//! region). Written in the schema as
//!
//! ```toml
//! [[constraint]]
//! kind = "combinations"
//! columns = ["unittype", "hospitalid"]
//! allowed = [["MICU", 73], ["SICU", 73], ["MICU", 110]]
//! ```
//!
//! Columns are categorical, binary or integer (a continuous column has too many values to list);
//! a row with any of them missing is not judged. Here: reading `allowed`, checking it against the
//! schema, judging a row, restricting the rule to a column subset, finding the rule in data
//! ([`infer`]) and the bounded repair of a row that breaks it ([`repair`]): the nearest allowed
//! combination, the fewest cells changed.
//!
//! Not here: the other kinds (the parent module), how the local model's grammar treats the
//! rule (it does not narrow fields by it: a row that breaks it is rejected by validation, which
//! the LLM engine counts with the other rejections).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::Constraint;
use crate::cell::{parse_binary, parse_number, thousands};
use crate::column::{Column, ColumnData, Value};
use crate::schema::{ColumnKind, Schema};
use crate::table::Table;
use crate::validate::validate_text;

/// A combination rule is proposed when, were the two columns independent, at least this many
/// rows would be expected to have one of the combinations that never occur (the chance of
/// seeing none of them by luck is below e^-8).
const COMBINATION_EVIDENCE: f64 = 8.0;
/// Columns with more distinct values than this are not searched for combinations.
const MAX_LEVELS: usize = 50;
/// A rule with more allowed combinations than this is not proposed (it would be a list, not a
/// rule a reader can check).
const MAX_ALLOWED: usize = 200;

/// One allowed cell as TOML may write it.
#[derive(Deserialize)]
#[serde(untagged)]
enum AllowedCell {
    Text(String),
    Integer(i64),
    Number(f64),
    Flag(bool),
}

impl AllowedCell {
    fn into_text(self) -> String {
        match self {
            AllowedCell::Text(s) => s,
            AllowedCell::Integer(i) => i.to_string(),
            AllowedCell::Number(x) => x.to_string(),
            AllowedCell::Flag(b) => if b { "1" } else { "0" }.to_string(),
        }
    }
}

/// Reads `allowed` with each cell as text, a number or a boolean.
pub(super) fn read_allowed<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
    let rows: Vec<Vec<AllowedCell>> = Vec::deserialize(d)?;
    Ok(rows
        .into_iter()
        .map(|row| row.into_iter().map(AllowedCell::into_text).collect())
        .collect())
}

/// Checks the rule's columns and allowed combinations against the schema.
pub(super) fn check(
    label: &str,
    columns: &[String],
    allowed: &[Vec<String>],
    schema: &Schema,
) -> Result<(), String> {
    let specs: Vec<_> = columns.iter().filter_map(|c| schema.column(c)).collect();
    if let Some(spec) = specs.iter().find(|s| s.kind == ColumnKind::Continuous) {
        return Err(format!(
            "constraint {label}: column '{}' is continuous, combinations need categorical, binary or integer columns",
            spec.name
        ));
    }
    if allowed.is_empty() {
        return Err(format!(
            "constraint {label} lists no allowed combination (allowed = [[...], ...])"
        ));
    }
    for (i, combination) in allowed.iter().enumerate() {
        if combination.len() != columns.len() {
            return Err(format!(
                "constraint {label}: allowed combination {} has {} values for {} columns",
                i + 1,
                combination.len(),
                columns.len()
            ));
        }
        for (spec, text) in specs.iter().zip(combination) {
            let reason = if text.trim().is_empty() {
                Some("is empty (a row with a missing value is not judged)".to_string())
            } else {
                validate_text(spec, text).map(|r| format!("is not valid there: {r}"))
            };
            if let Some(reason) = reason {
                return Err(format!(
                    "constraint {label}: allowed combination {} has '{text}' for column '{}', which {reason}",
                    i + 1,
                    spec.name
                ));
            }
        }
    }
    Ok(())
}

/// Whether a present cell has the value an allowed cell writes.
fn matches(value: &Value<'_>, text: &str) -> bool {
    match *value {
        Value::Missing => false,
        Value::Category(s) => s.trim() == text.trim(),
        Value::Binary(b) => parse_binary(text) == Some(b),
        Value::Integer(i) => parse_number(text) == Some(i as f64),
        Value::Number(x) => parse_number(text) == Some(x),
    }
}

/// How many cells of `values` differ from `combination`.
fn distance(values: &[Value<'_>], combination: &[String]) -> usize {
    values
        .iter()
        .zip(combination)
        .filter(|(v, t)| !matches(v, t))
        .count()
}

/// How a row breaks the rule, or `None` when it holds or has a missing value among `columns`.
pub(super) fn broken_by(
    columns: &[String],
    allowed: &[Vec<String>],
    values: &[Value<'_>],
) -> Option<String> {
    if values.iter().any(Value::is_missing) || allowed.iter().any(|a| distance(values, a) == 0) {
        return None;
    }
    let cells: Vec<String> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{c} = {v}"))
        .collect();
    Some(format!(
        "{} is not one of the {} allowed combinations",
        cells.join(", "),
        allowed.len()
    ))
}

/// The allowed combinations over the columns `kept` (a subset of `columns`, in their order),
/// each once.
pub(super) fn projected(
    columns: &[String],
    allowed: &[Vec<String>],
    kept: &[String],
) -> Vec<Vec<String>> {
    let at: Vec<usize> = kept
        .iter()
        .filter_map(|k| columns.iter().position(|c| c == k))
        .collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for combination in allowed {
        let cut: Vec<String> = at.iter().map(|&i| combination[i].clone()).collect();
        if !out.contains(&cut) {
            out.push(cut);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Repair

/// `table` with every row that breaks a combinations rule given the nearest allowed
/// combination (the fewest cells changed; among equally near ones, one picked by `seed` and the
/// row through `pick`). A rule holding the column `kept` only takes combinations that keep its
/// value, and leaves the row as it was when none does. Marks changed rows in `changed`.
pub(super) fn repair(
    constraints: &[Constraint],
    table: &Table,
    kept: Option<&str>,
    pick: impl Fn(usize, u64, usize) -> usize,
    changed: &mut [bool],
) -> Table {
    let mut edits: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (salt, c) in constraints.iter().enumerate() {
        let Constraint::Combinations { columns, allowed } = c else {
            continue;
        };
        let Some(cells) = super::named_columns(table, columns) else {
            continue;
        };
        let pinned = kept.and_then(|k| columns.iter().position(|c| c == k));
        for (row, changed) in changed.iter_mut().enumerate() {
            let values: Vec<Value<'_>> = cells.iter().map(|col| col.value(row)).collect();
            if values.iter().any(Value::is_missing) {
                continue;
            }
            let candidates: Vec<&Vec<String>> = allowed
                .iter()
                .filter(|a| pinned.is_none_or(|p| matches(&values[p], &a[p])))
                .collect();
            let Some(nearest) = candidates.iter().map(|a| distance(&values, a)).min() else {
                continue;
            };
            if nearest == 0 {
                continue;
            }
            let best: Vec<&Vec<String>> = candidates
                .into_iter()
                .filter(|a| distance(&values, a) == nearest)
                .collect();
            let choice = best[pick(row, salt as u64, best.len())];
            for ((name, value), text) in columns.iter().zip(&values).zip(choice) {
                if !matches(value, text) {
                    edits
                        .entry(name.clone())
                        .or_default()
                        .push((row, text.clone()));
                }
            }
            *changed = true;
        }
    }
    if edits.is_empty() {
        return table.clone();
    }
    let columns: Vec<Column> = table
        .columns()
        .iter()
        .map(|column| match edits.get(column.name()) {
            Some(cells) => with_cells(column, cells),
            None => column.as_ref().clone(),
        })
        .collect();
    Table::new(columns).expect("the same columns, the same lengths")
}

/// `column` with the cells `(row, text)` set (texts valid for the column's kind, as
/// [`check`] makes sure); a categorical column keeps its dictionary and grows it if needed.
fn with_cells(column: &Column, cells: &[(usize, String)]) -> Column {
    let mut validity = column.validity().clone();
    for (row, _) in cells {
        validity.set(*row, true);
    }
    let data = match column.data() {
        ColumnData::Categorical { codes, dictionary } => {
            let mut dictionary = dictionary.as_ref().clone();
            let mut codes = codes.clone();
            for (row, text) in cells {
                let label = text.trim();
                let code = dictionary
                    .iter()
                    .position(|d| d == label)
                    .unwrap_or_else(|| {
                        dictionary.push(label.to_string());
                        dictionary.len() - 1
                    });
                codes[*row] = code as u32;
            }
            ColumnData::Categorical {
                codes,
                dictionary: Arc::new(dictionary),
            }
        }
        ColumnData::Integer(values) => {
            let mut values = values.clone();
            for (row, text) in cells {
                values[*row] = parse_number(text).map_or(values[*row], |x| x.round() as i64);
            }
            ColumnData::Integer(values)
        }
        ColumnData::Binary(values) => {
            let mut values = values.clone();
            for (row, text) in cells {
                values[*row] = parse_binary(text).unwrap_or(values[*row]);
            }
            ColumnData::Binary(values)
        }
        ColumnData::Continuous(values) => {
            let mut values = values.clone();
            for (row, text) in cells {
                values[*row] = parse_number(text).unwrap_or(values[*row]);
            }
            ColumnData::Continuous(values)
        }
    };
    Column::new(column.name(), data, validity)
}

// ---------------------------------------------------------------------------------------------
// Inference

/// A discrete column as inference reads it: its name, kind and each row's value (`None` =
/// missing) as an index into its levels.
struct Levels<'a> {
    name: &'a str,
    kind: ColumnKind,
    codes: Vec<Option<usize>>,
    labels: Vec<String>,
}

fn levels(column: &Column) -> Option<Levels<'_>> {
    let kind = column.kind();
    if kind == ColumnKind::Continuous {
        return None;
    }
    let mut lookup: HashMap<String, usize> = HashMap::new();
    let mut labels = Vec::new();
    let mut codes = Vec::with_capacity(column.len());
    for row in 0..column.len() {
        let value = column.value(row);
        if value.is_missing() {
            codes.push(None);
            continue;
        }
        let text = value.to_string();
        let next = labels.len();
        let code = *lookup.entry(text.clone()).or_insert(next);
        if code == next {
            if next == MAX_LEVELS {
                return None;
            }
            labels.push(text);
        }
        codes.push(Some(code));
    }
    (labels.len() >= 2).then_some(Levels {
        name: column.name(),
        kind,
        codes,
        labels,
    })
}

/// The pairs of discrete columns, at least one of them categorical (two flags are the one-hot
/// rule's business), of which some combination of values never occurs although independent
/// columns would give it at least [`COMBINATION_EVIDENCE`] rows; the allowed list is every
/// combination seen. `skip` names columns left out.
pub(super) fn infer(table: &Table, skip: &[&str]) -> Vec<super::Inferred> {
    let discrete: Vec<Levels<'_>> = table
        .columns()
        .iter()
        .filter(|c| !skip.contains(&c.name()))
        .filter_map(|c| levels(c))
        .collect();
    let mut out = Vec::new();
    for a in 0..discrete.len() {
        for b in a + 1..discrete.len() {
            let (x, y) = (&discrete[a], &discrete[b]);
            if x.kind != ColumnKind::Categorical && y.kind != ColumnKind::Categorical {
                continue;
            }
            if let Some(found) = infer_pair(x, y) {
                out.push(found);
            }
        }
    }
    out
}

fn infer_pair(x: &Levels<'_>, y: &Levels<'_>) -> Option<super::Inferred> {
    let (nx, ny) = (x.labels.len(), y.labels.len());
    let mut counts = vec![0usize; nx * ny];
    let (mut rows, mut per_x, mut per_y) = (0usize, vec![0usize; nx], vec![0usize; ny]);
    for (cx, cy) in x.codes.iter().zip(&y.codes) {
        if let (Some(i), Some(j)) = (cx, cy) {
            counts[i * ny + j] += 1;
            per_x[*i] += 1;
            per_y[*j] += 1;
            rows += 1;
        }
    }
    let seen = counts.iter().filter(|&&c| c > 0).count();
    if seen > MAX_ALLOWED || seen == counts.len() {
        return None;
    }
    let expected = |i: usize, j: usize| per_x[i] as f64 * per_y[j] as f64 / rows.max(1) as f64;
    let (strongest, i, j) = (0..nx * ny)
        .filter(|&k| counts[k] == 0)
        .map(|k| (expected(k / ny, k % ny), k / ny, k % ny))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    if strongest < COMBINATION_EVIDENCE {
        return None;
    }
    let allowed: Vec<Vec<String>> = (0..nx * ny)
        .filter(|&k| counts[k] > 0)
        .map(|k| vec![x.labels[k / ny].clone(), y.labels[k % ny].clone()])
        .collect();
    Some(super::Inferred {
        constraint: Constraint::Combinations {
            columns: vec![x.name.to_string(), y.name.to_string()],
            allowed,
        },
        evidence: format!(
            "{seen} of the {} combinations occur in {} rows with both present; independent columns would give {:.0} rows of {} = {}, {} = {}, and none has it",
            nx * ny,
            thousands(rows),
            strongest,
            x.name,
            x.labels[i],
            y.name,
            y.labels[j]
        ),
    })
}

#[cfg(test)]
mod tests;

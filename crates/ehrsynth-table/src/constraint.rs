//! Rules across columns that every real row obeys: a one-hot set (the `race_*` indicators are one
//! variable coded as 0/1 columns, at most one of them 1) and an order (`heartrate_min <=
//! heartrate_first <= heartrate_max`), and a panel missing together (a blood gas: pH, PaO2 and
//! PaCO2 are all measured or none is). They live in the schema (`[[constraint]]` tables), are
//! checked with a row's cells ([`crate::Schema::validate_cells`], [`crate::Schema::validate_table`]),
//! counted for the audit ([`violations`]), inferred from data with the evidence behind each
//! ([`infer`]), and restored in a generator's rows by a bounded repair ([`repair`]).
//!
//! Not here: how a generator keeps them by construction (its own module), or scoring a table
//! with them (`ehrsynth-eval`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cell::thousands;
use crate::column::{Column, ColumnData};
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
}

impl Constraint {
    /// The columns the rule reads.
    pub fn columns(&self) -> &[String] {
        match self {
            Constraint::OneHot { columns, .. }
            | Constraint::Order { columns }
            | Constraint::MissingTogether { columns } => columns,
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
        })
    }

    /// How a row breaks the rule, given its values in the rule's column order (`None` =
    /// missing; binary as 0/1; a present categorical cell as NaN, which only its presence
    /// matters for), or `None` when it holds.
    pub fn broken_by(&self, values: &[Option<f64>]) -> Option<String> {
        let columns = self.columns();
        match self {
            Constraint::OneHot { exactly, .. } => {
                let ones: Vec<&str> = columns
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| **v == Some(1.0))
                    .map(|(c, _)| c.as_str())
                    .collect();
                if ones.len() > 1 {
                    return Some(format!("{} are all 1", ones.join(", ")));
                }
                let complete = values.iter().all(Option::is_some);
                (*exactly && ones.is_empty() && complete).then(|| "none of them is 1".to_string())
            }
            Constraint::Order { .. } => {
                let present: Vec<(&str, f64)> = columns
                    .iter()
                    .zip(values)
                    .filter_map(|(c, v)| v.map(|v| (c.as_str(), v)))
                    .collect();
                present
                    .windows(2)
                    .find(|w| w[0].1 > w[1].1)
                    .map(|w| format!("{} = {} is above {} = {}", w[0].0, w[0].1, w[1].0, w[1].1))
            }
            Constraint::MissingTogether { .. } => {
                let (present, missing): (Vec<_>, Vec<_>) =
                    columns.iter().zip(values).partition(|(_, v)| v.is_some());
                let names = |cells: Vec<(&String, &Option<f64>)>| {
                    cells
                        .into_iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (!present.is_empty() && !missing.is_empty())
                    .then(|| format!("{} present but {} missing", names(present), names(missing)))
            }
        }
    }
}

/// The values of `table`'s columns `names` (numbers, binary as 0/1; categorical cells are not
/// numbers), or `None` when a column is absent.
fn numeric_columns<'a>(table: &'a Table, names: &[String]) -> Option<Vec<&'a Column>> {
    names.iter().map(|n| table.column(n)).collect()
}

/// A cell as [`Constraint::broken_by`] reads it: its number, NaN for a present category.
fn value_at(column: &Column, row: usize) -> Option<f64> {
    (!column.is_missing(row)).then(|| column.get_f64(row).unwrap_or(f64::NAN))
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
            let columns = numeric_columns(table, c.columns())?;
            let broken = (0..table.n_rows())
                .filter(|&row| {
                    let values: Vec<Option<f64>> =
                        columns.iter().map(|col| value_at(col, row)).collect();
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

// ---------------------------------------------------------------------------------------------
// Repair

/// A stable pseudo-random number for (seed, row, salt): which indicator a repaired one-hot row
/// keeps, without a random generator shared across rows.
fn mix(seed: u64, row: usize, salt: u64) -> u64 {
    let mut z = seed ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The order constraints as groups of linked columns, each with its edges (`a` before `b`),
/// transitively closed so that a chain stays ordered across a missing middle value.
/// Linked columns and their `a` before `b` edges.
type Linked = (Vec<String>, Vec<(String, String)>);

fn order_groups(constraints: &[Constraint]) -> Vec<(Vec<String>, Vec<Vec<bool>>)> {
    let mut groups: Vec<Linked> = Vec::new();
    for c in constraints {
        let Constraint::Order { columns } = c else {
            continue;
        };
        let touching: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, (cols, _))| columns.iter().any(|c| cols.contains(c)))
            .map(|(i, _)| i)
            .collect();
        let mut merged: Linked = (Vec::new(), Vec::new());
        for &i in touching.iter().rev() {
            let (cols, edges) = groups.remove(i);
            merged.0.extend(cols);
            merged.1.extend(edges);
        }
        for col in columns {
            if !merged.0.contains(col) {
                merged.0.push(col.clone());
            }
        }
        merged
            .1
            .extend(columns.windows(2).map(|w| (w[0].clone(), w[1].clone())));
        groups.push(merged);
    }
    groups
        .into_iter()
        .map(|(cols, edges)| {
            let n = cols.len();
            let at = |name: &str| cols.iter().position(|c| c == name).unwrap_or(0);
            let mut before = vec![vec![false; n]; n];
            for (a, b) in &edges {
                before[at(a)][at(b)] = true;
            }
            for k in 0..n {
                let through = before[k].clone();
                for row in before.iter_mut() {
                    if row[k] {
                        for (to, reach) in row.iter_mut().zip(&through) {
                            *to |= *reach;
                        }
                    }
                }
            }
            (cols, before)
        })
        .collect()
}

/// A row's values of one order group put in order: the values present are sorted and handed
/// out along a topological order of the group, which among the columns free to go next takes
/// the one with the smallest value of its own. A row that keeps the order is left as it was; a
/// broken one keeps its multiset of values (the generator's numbers, reassigned), so each
/// column's value stays within the range of the values the row already had.
fn ordered(values: &[Option<f64>], before: &[Vec<bool>]) -> Vec<Option<f64>> {
    let present: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    let mut sorted: Vec<f64> = present.iter().filter_map(|&i| values[i]).collect();
    sorted.sort_by(f64::total_cmp);
    let mut placed = vec![false; values.len()];
    let mut out = values.to_vec();
    for value in sorted {
        let free = |i: usize| {
            !present
                .iter()
                .any(|&p| !placed[p] && p != i && before[p][i])
        };
        let candidates: Vec<usize> = present.iter().copied().filter(|&i| !placed[i]).collect();
        // A cycle (a <= b and b <= a) leaves no free column: take the smallest then.
        let pick = candidates
            .iter()
            .copied()
            .filter(|&i| free(i))
            .chain(candidates.iter().copied())
            .min_by(|&a, &b| {
                (!free(a), values[a].unwrap_or(0.0), a)
                    .partial_cmp(&(!free(b), values[b].unwrap_or(0.0), b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        if let Some(i) = pick {
            placed[i] = true;
            out[i] = Some(value);
        }
    }
    out
}

/// `table` with every row brought back within `schema`'s constraints, and how many rows were
/// changed. Bounded work (one pass, no rejection): a panel that is partly missing loses its
/// present values ([`blank_broken_panels`]); a one-hot row with several 1s keeps one of
/// them (picked by `seed` and the row), an exactly-one row with none gets one; an order
/// group's values are reassigned in order ([`ordered`]), then kept within each column's range.
/// Columns the table lacks are skipped.
pub fn repair(schema: &Schema, table: &Table, seed: u64) -> (Table, usize) {
    repair_keeping(schema, table, seed, None)
}

/// [`repair`] that never changes column `kept` (a conditional run's fixed column): a one-hot row
/// keeps that column's 1, and an order group or a panel holding it is left as generated (a
/// documented gap: its rows may still break the rule).
pub fn repair_keeping(
    schema: &Schema,
    table: &Table,
    seed: u64,
    kept: Option<&str>,
) -> (Table, usize) {
    let names = table.column_names();
    let constraints: Vec<Constraint> = schema
        .constraints
        .iter()
        .filter_map(|c| c.restricted_to(&names))
        .collect();
    if constraints.is_empty() {
        return (table.clone(), 0);
    }
    let mut changed = vec![false; table.n_rows()];
    let blanked = blank_broken_panels(&constraints, table, kept, &mut changed);
    let table = &blanked;
    let mut values: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for c in &constraints {
        for name in c.columns() {
            if let Some(column) = table.column(name) {
                values
                    .entry(name.clone())
                    .or_insert_with(|| column.to_f64_vec());
            }
        }
    }
    for (salt, c) in constraints.iter().enumerate() {
        if let Constraint::OneHot { columns, exactly } = c {
            let pinned = kept.and_then(|k| columns.iter().position(|c| c == k));
            let rule = OneHotRule {
                columns,
                exactly: *exactly,
                pinned,
            };
            repair_one_hot(&mut values, &rule, seed, salt as u64, &mut changed);
        }
    }
    for (columns, before) in order_groups(&constraints) {
        if kept.is_some_and(|k| columns.iter().any(|c| c == k)) {
            continue;
        }
        repair_order(schema, &mut values, &columns, &before, &mut changed);
    }
    let rebuilt: Vec<Column> = table
        .columns()
        .iter()
        .map(|column| match values.get(column.name()) {
            Some(v) if changed.iter().any(|&c| c) => rebuild(column, v),
            _ => column.as_ref().clone(),
        })
        .collect();
    let table = Table::new(rebuilt).expect("the same columns, the same lengths");
    (table, changed.iter().filter(|&&c| c).count())
}

/// `table` where every row that has some but not all of a panel's columns (a `missing_together`
/// rule) has the panel blanked, marking those rows in `changed`. Blanking rather than filling:
/// a filled cell would be a value no generator drew. A panel that holds `kept` is left alone.
fn blank_broken_panels(
    constraints: &[Constraint],
    table: &Table,
    kept: Option<&str>,
    changed: &mut [bool],
) -> Table {
    let mut blank: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for c in constraints {
        let Constraint::MissingTogether { columns } = c else {
            continue;
        };
        if kept.is_some_and(|k| columns.iter().any(|c| c == k)) {
            continue;
        }
        let Some(cells) = numeric_columns(table, columns) else {
            continue;
        };
        for (row, changed) in changed.iter_mut().enumerate() {
            let present = cells.iter().filter(|c| !c.is_missing(row)).count();
            if present > 0 && present < cells.len() {
                for name in columns {
                    blank.entry(name).or_default().push(row);
                }
                *changed = true;
            }
        }
    }
    if blank.is_empty() {
        return table.clone();
    }
    let columns: Vec<Column> = table
        .columns()
        .iter()
        .map(|column| match blank.get(column.name()) {
            Some(rows) => {
                let mut validity = column.validity().clone();
                for &row in rows {
                    validity.set(row, false);
                }
                Column::new(column.name(), column.data().clone(), validity)
            }
            None => column.as_ref().clone(),
        })
        .collect();
    Table::new(columns).expect("the same columns, the same lengths")
}

/// A one-hot set to repair, and the column that must keep its value (if any).
struct OneHotRule<'a> {
    columns: &'a [String],
    exactly: bool,
    pinned: Option<usize>,
}

fn repair_one_hot(
    values: &mut BTreeMap<String, Vec<Option<f64>>>,
    rule: &OneHotRule<'_>,
    seed: u64,
    salt: u64,
    changed: &mut [bool],
) {
    let OneHotRule {
        columns,
        exactly,
        pinned,
    } = *rule;
    for (row, changed) in changed.iter_mut().enumerate() {
        let cells: Vec<Option<f64>> = columns.iter().map(|c| values[c][row]).collect();
        let ones: Vec<usize> = (0..cells.len())
            .filter(|&i| cells[i] == Some(1.0))
            .collect();
        let pick = |from: &[usize]| from[(mix(seed, row, salt) % from.len() as u64) as usize];
        // A fixed column keeps its value: its 1 wins, its 0 is never the one set.
        let free: Vec<usize> = (0..cells.len()).filter(|&i| Some(i) != pinned).collect();
        let keep = if ones.len() > 1 {
            pinned
                .filter(|&p| cells[p] == Some(1.0))
                .unwrap_or_else(|| pick(&ones))
        } else if exactly && ones.is_empty() && cells.iter().all(Option::is_some) {
            pick(&free)
        } else {
            continue;
        };
        for (i, name) in columns.iter().enumerate() {
            if let Some(column) = values.get_mut(name)
                && column[row].is_some()
            {
                column[row] = Some(if i == keep { 1.0 } else { 0.0 });
            }
        }
        *changed = true;
    }
}

fn repair_order(
    schema: &Schema,
    values: &mut BTreeMap<String, Vec<Option<f64>>>,
    columns: &[String],
    before: &[Vec<bool>],
    changed: &mut [bool],
) {
    let range = |name: &str| {
        schema
            .column(name)
            .map_or((f64::NEG_INFINITY, f64::INFINITY), |s| {
                (
                    s.min.unwrap_or(f64::NEG_INFINITY),
                    s.max.unwrap_or(f64::INFINITY),
                )
            })
    };
    for (row, changed) in changed.iter_mut().enumerate() {
        let cells: Vec<Option<f64>> = columns.iter().map(|c| values[c][row]).collect();
        let broken = (0..cells.len()).any(|i| {
            (0..cells.len()).any(|j| {
                before[i][j] && matches!((cells[i], cells[j]), (Some(a), Some(b)) if a > b)
            })
        });
        if !broken {
            continue;
        }
        for (name, value) in columns.iter().zip(ordered(&cells, before)) {
            let (lo, hi) = range(name);
            if let Some(column) = values.get_mut(name) {
                column[row] = value.map(|v| v.clamp(lo, hi));
            }
        }
        *changed = true;
    }
}

/// `column` with new values of its own kind.
fn rebuild(column: &Column, values: &[Option<f64>]) -> Column {
    let name = column.name();
    match column.data() {
        ColumnData::Continuous(_) => Column::continuous(name, values),
        ColumnData::Integer(_) => {
            let ints: Vec<Option<i64>> =
                values.iter().map(|v| v.map(|x| x.round() as i64)).collect();
            Column::integer(name, &ints)
        }
        ColumnData::Binary(_) => {
            let flags: Vec<Option<bool>> = values.iter().map(|v| v.map(|x| x >= 0.5)).collect();
            Column::binary(name, &flags)
        }
        ColumnData::Categorical { .. } => column.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Inference

/// A one-hot pair is believed when, were the two columns independent, this many rows would be
/// expected to have both set (and none has): the chance of seeing none by luck is e^-8.
const ONE_HOT_EVIDENCE: f64 = 8.0;
/// An order `a <= b` is believed when at least this many rows have both values inside the
/// overlap of the two columns' ranges, where either order could have come out, and every row
/// keeps it.
const ORDER_EVIDENCE: usize = 50;

/// A panel (`missing_together`) is believed when its columns are missing in exactly the same
/// rows, with at least this many rows where they are all present and as many where all are
/// missing.
const PANEL_EVIDENCE: usize = 20;

/// A constraint found in data, with the evidence behind it in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// The rule.
    pub constraint: Constraint,
    /// Why it was proposed ("holds in all 10,000 rows; ...").
    pub evidence: String,
}

/// The one-hot sets, orders and panels missing together that hold in every row of `table` with
/// enough support (see [`ONE_HOT_EVIDENCE`], [`ORDER_EVIDENCE`], [`PANEL_EVIDENCE`]); `skip`
/// names columns left out (the target, ids).
/// Orders are given as pairs, without the ones that follow from others (`a <= b` and `b <= c`
/// make `a <= c` go unsaid).
pub fn infer(table: &Table, skip: &[&str]) -> Vec<Inferred> {
    let mut found = infer_one_hot(table, skip);
    found.extend(infer_orders(table, skip));
    found.extend(infer_panels(table, skip));
    found
}

/// Columns grouped by their exact pattern of missing cells; groups of two or more with enough
/// rows of each state become panels.
fn infer_panels(table: &Table, skip: &[&str]) -> Vec<Inferred> {
    let n = table.n_rows();
    let mut groups: Vec<Vec<&str>> = Vec::new();
    let mut by_pattern: std::collections::HashMap<Vec<bool>, usize> = Default::default();
    for column in table.columns() {
        let missing = column.missing_count();
        if skip.contains(&column.name()) || missing < PANEL_EVIDENCE || n - missing < PANEL_EVIDENCE
        {
            continue;
        }
        let pattern: Vec<bool> = (0..n).map(|i| column.is_missing(i)).collect();
        let next = groups.len();
        let at = *by_pattern.entry(pattern).or_insert(next);
        if at == next {
            groups.push(Vec::new());
        }
        groups[at].push(column.name());
    }
    groups
        .into_iter()
        .filter(|g| g.len() >= 2)
        .map(|g| {
            let missing = table.column(g[0]).map_or(0, |c| c.missing_count());
            Inferred {
                constraint: Constraint::MissingTogether {
                    columns: g.iter().map(|c| c.to_string()).collect(),
                },
                evidence: format!(
                    "all present in {} rows and all missing in {} of {}; never one without the others",
                    thousands(n - missing),
                    thousands(missing),
                    thousands(n)
                ),
            }
        })
        .collect()
}

fn infer_one_hot(table: &Table, skip: &[&str]) -> Vec<Inferred> {
    let n = table.n_rows();
    let flags: Vec<(&str, Vec<Option<bool>>)> = table
        .columns()
        .iter()
        .filter(|c| c.kind() == ColumnKind::Binary && !skip.contains(&c.name()))
        .map(|c| {
            let v = (0..n).map(|i| c.get_f64(i).map(|x| x == 1.0)).collect();
            (c.name(), v)
        })
        .collect();
    let ones: Vec<usize> = flags
        .iter()
        .map(|(_, v)| v.iter().filter(|x| **x == Some(true)).count())
        .collect();
    let exclusive = |a: usize, b: usize| {
        let both_present = (0..n)
            .filter(|&i| flags[a].1[i].is_some() && flags[b].1[i].is_some())
            .count();
        let together = (0..n)
            .filter(|&i| flags[a].1[i] == Some(true) && flags[b].1[i] == Some(true))
            .count();
        let expected = both_present as f64
            * (ones[a] as f64 / n.max(1) as f64)
            * (ones[b] as f64 / n.max(1) as f64);
        (together == 0 && expected >= ONE_HOT_EVIDENCE).then_some(expected)
    };
    let mut grouped = vec![false; flags.len()];
    let mut out = Vec::new();
    for first in 0..flags.len() {
        if grouped[first] {
            continue;
        }
        let mut group = vec![first];
        let mut weakest = f64::INFINITY;
        for (other, taken) in grouped.iter().enumerate().skip(first + 1) {
            if *taken {
                continue;
            }
            let evidence: Option<Vec<f64>> = group.iter().map(|&g| exclusive(g, other)).collect();
            if let Some(e) = evidence {
                weakest = e.into_iter().fold(weakest, f64::min);
                group.push(other);
            }
        }
        if group.len() < 2 {
            continue;
        }
        for &g in &group {
            grouped[g] = true;
        }
        let exactly = (0..n).all(|i| {
            group.iter().all(|&g| flags[g].1[i].is_some())
                && group
                    .iter()
                    .filter(|&&g| flags[g].1[i] == Some(true))
                    .count()
                    == 1
        });
        out.push(Inferred {
            constraint: Constraint::OneHot {
                columns: group.iter().map(|&g| flags[g].0.to_string()).collect(),
                exactly,
            },
            evidence: format!(
                "no row of {} has two of them set; independent columns would give at least {:.0} such rows per pair",
                thousands(n),
                weakest
            ),
        });
    }
    out
}

/// A numeric column for order inference: its name, values and observed range.
type NumberColumn<'a> = (&'a str, Vec<Option<f64>>, (f64, f64));

fn infer_orders(table: &Table, skip: &[&str]) -> Vec<Inferred> {
    let n = table.n_rows();
    let numbers: Vec<NumberColumn<'_>> = table
        .columns()
        .iter()
        .filter(|c| {
            matches!(c.kind(), ColumnKind::Continuous | ColumnKind::Integer)
                && !skip.contains(&c.name())
        })
        .filter_map(|c| {
            let range = c.numeric_range()?;
            (range.0 < range.1).then(|| (c.name(), c.to_f64_vec(), range))
        })
        .collect();
    let centre: Vec<(f64, f64)> = numbers.iter().map(|n| median_and_iqr(&n.1)).collect();
    let k = numbers.len();
    // holds[a][b]: a <= b in every row, with this many rows of evidence.
    let mut holds = vec![vec![None::<usize>; k]; k];
    for a in 0..k {
        for b in 0..k {
            // Two measures of one quantity sit close: medians apart by at most the larger
            // interquartile range (creatinine, ~1 mg/dL, always below a white count of ~10 is
            // no rule).
            let close = (centre[a].0 - centre[b].0).abs() <= centre[a].1.max(centre[b].1);
            if a == b || !close {
                continue;
            }
            let (lo, hi) = (
                numbers[a].2.0.max(numbers[b].2.0),
                numbers[a].2.1.min(numbers[b].2.1),
            );
            if lo >= hi {
                continue;
            }
            let (va, vb) = (&numbers[a].1, &numbers[b].1);
            let mut evidence = 0;
            let mut strict = false;
            let kept = (0..n).all(|i| match (va[i], vb[i]) {
                (Some(x), Some(y)) => {
                    if (lo..=hi).contains(&x) && (lo..=hi).contains(&y) {
                        evidence += 1;
                    }
                    strict |= x < y;
                    x <= y
                }
                _ => true,
            });
            if kept && strict && evidence >= ORDER_EVIDENCE {
                holds[a][b] = Some(evidence);
            }
        }
    }
    let mut out = Vec::new();
    for a in 0..k {
        for b in 0..k {
            let Some(evidence) = holds[a][b] else {
                continue;
            };
            let implied =
                (0..k).any(|m| m != a && m != b && holds[a][m].is_some() && holds[m][b].is_some());
            if implied {
                continue;
            }
            out.push(Inferred {
                constraint: Constraint::Order {
                    columns: vec![numbers[a].0.to_string(), numbers[b].0.to_string()],
                },
                evidence: format!(
                    "holds in every row of {} where both are present; {} rows have both values inside the range the two columns share",
                    thousands(n),
                    thousands(evidence)
                ),
            });
        }
    }
    out
}

/// The median and interquartile range of the values present.
fn median_and_iqr(values: &[Option<f64>]) -> (f64, f64) {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.75) - at(0.25))
}

#[cfg(test)]
mod tests;

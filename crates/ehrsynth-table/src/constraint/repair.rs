//! Bringing a generator's rows back within the schema's constraints: one bounded pass, no
//! rejection ([`repair`], [`repair_keeping`]).
//!
//! Not here: which rows break a rule ([`super::Constraint::broken_by`]) or finding rules in data
//! ([`super::infer`]).

use std::collections::BTreeMap;

use super::{Constraint, named_columns};
use crate::column::{Column, ColumnData};
use crate::schema::Schema;
use crate::table::Table;

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
    // Salts past the one-hot rules' own (their index), so the two picks are unrelated.
    let pick = |row: usize, salt: u64, len: usize| {
        (mix(seed, row, salt + constraints.len() as u64) % len as u64) as usize
    };
    let combined = super::combinations::repair(&constraints, &blanked, kept, pick, &mut changed);
    let table = &combined;
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
        let Some(cells) = named_columns(table, columns) else {
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

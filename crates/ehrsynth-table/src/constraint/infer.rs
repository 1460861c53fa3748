//! Finding the constraints that hold in every row of a table with enough support, each with the
//! evidence behind it in words ([`infer`]).
//!
//! Not here: checking or repairing rows (the parent module and [`super::repair`]).

use super::Constraint;
use crate::cell::thousands;
use crate::schema::ColumnKind;
use crate::table::Table;

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

/// The one-hot sets, orders, panels missing together and value combinations that hold in every
/// row of `table` with enough support (see [`ONE_HOT_EVIDENCE`], [`ORDER_EVIDENCE`],
/// [`PANEL_EVIDENCE`] and [`super::combinations`]); `skip` names columns left out (the target,
/// ids).
/// Orders are given as pairs, without the ones that follow from others (`a <= b` and `b <= c`
/// make `a <= c` go unsaid).
pub fn infer(table: &Table, skip: &[&str]) -> Vec<Inferred> {
    let mut found = infer_one_hot(table, skip);
    found.extend(infer_orders(table, skip));
    found.extend(infer_panels(table, skip));
    found.extend(super::combinations::infer(table, skip));
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

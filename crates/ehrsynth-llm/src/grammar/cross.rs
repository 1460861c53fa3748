//! Rules across columns in the schema grammar: the schema's one-hot sets and orders, restricted
//! to the generated columns, turned into a bound on each field from the values already written
//! in the same row. After a 1 in a one-hot set only a 0 may follow (and the last member of an
//! `exactly` set whose others are all 0 must be 1); a column in an order chain stays between the
//! values written for the columns before and after it in the chain (`heartrate_max` cannot go
//! below the `heartrate_first` already written, whichever of them comes first), and within the
//! ranges of the chain's columns still to come that may not be missing (so that they can still
//! be written). A column of a panel (`missing_together`) is present when the panel's columns
//! already written are, and missing when they are missing. A fixed column (the group of a
//! request) counts as written from the start of every row. A `combinations` rule narrows no
//! field: a row that breaks it is rejected by validation (with the rule named), which the
//! engine counts with its other rejections.
//!
//! Not here: how a bound narrows a field's bytes (the field rules in the parent module) or
//! where the values come from (the decoder).

use ehrsynth_table::Schema;
use ehrsynth_table::cell::{is_missing_token, parse_number};

/// What the decoder knows of another field of the row when a field begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Earlier {
    /// Written (or fixed) with this value; `None` = missing.
    Known(Option<f64>),
    /// Comes later in the row.
    NotYet,
    /// Written inside the token being tested, too far back for the decoder to have kept it:
    /// the path is refused (rare: a token spanning three fields).
    Lost,
}

/// What the rules allow a field, from the row's earlier values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bound {
    /// A binary field that may only be this digit (`b'0'` or `b'1'`).
    pub(super) digit: Option<u8>,
    /// Numbers no lower than this (`-inf` when free).
    pub(super) lo: f64,
    /// Numbers no higher than this (`inf` when free).
    pub(super) hi: f64,
    /// Whether the field must be present (`Some(true)`) or missing (`Some(false)`).
    pub(super) present: Option<bool>,
}

impl Bound {
    const FREE: Bound = Bound {
        digit: None,
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
        present: None,
    };

    /// Whether the bound leaves the field's own rule as it is.
    pub(super) fn is_free(&self) -> bool {
        *self == Self::FREE
    }
}

/// The rules, indexed by the grammar's column positions.
#[derive(Debug, Clone, Default)]
pub(super) struct CrossRules {
    /// Per column: the one-hot sets it is in, as (the other members, exactly one).
    one_hot: Vec<Vec<(Vec<u32>, bool)>>,
    /// Per column: the other columns of its order chains, with whether the other one must be
    /// `<=` this one (it comes before it in the chain).
    order: Vec<Vec<(u32, bool)>>,
    /// Per column: the other columns of the panels (missing together) it is in.
    panels: Vec<Vec<Vec<u32>>>,
    /// Per column: its fixed value (`Some(None)`: fixed to missing; NaN: not a number).
    fixed: Vec<Option<Option<f64>>>,
    /// Per column: its schema range where it may not be missing (a later column of a chain
    /// bounds an earlier one by it), `None` where it may be missing.
    required_range: Vec<Option<(f64, f64)>>,
    /// Whether any column has a rule.
    any: bool,
}

impl CrossRules {
    /// The rules of `schema` over `columns` (in the grammar's order), with the `fixed` values.
    pub(super) fn new(schema: &Schema, columns: &[String], fixed: &[(String, String)]) -> Self {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let at = |name: &str| names.iter().position(|n| *n == name).map(|i| i as u32);
        let mut rules = Self {
            one_hot: vec![Vec::new(); columns.len()],
            order: vec![Vec::new(); columns.len()],
            panels: vec![Vec::new(); columns.len()],
            fixed: columns
                .iter()
                .map(|c| {
                    let value = fixed.iter().find(|(n, _)| n == c)?;
                    let text = value.1.as_str();
                    // A present value that is not a number still counts as present.
                    Some((!is_missing_token(text)).then(|| parse_number(text).unwrap_or(f64::NAN)))
                })
                .collect(),
            required_range: columns
                .iter()
                .map(|c| {
                    let spec = schema.column(c)?;
                    (!spec.missing_allowed).then(|| {
                        (
                            spec.min.unwrap_or(f64::NEG_INFINITY),
                            spec.max.unwrap_or(f64::INFINITY),
                        )
                    })
                })
                .collect(),
            any: false,
        };
        for constraint in &schema.constraints {
            let Some(rule) = constraint.restricted_to(&names) else {
                continue;
            };
            let members: Vec<u32> = rule.columns().iter().filter_map(|c| at(c)).collect();
            match rule {
                ehrsynth_table::Constraint::OneHot { exactly, .. } => {
                    for &m in &members {
                        let others = members.iter().copied().filter(|o| *o != m).collect();
                        rules.one_hot[m as usize].push((others, exactly));
                    }
                }
                ehrsynth_table::Constraint::MissingTogether { .. } => {
                    for &m in &members {
                        let others = members.iter().copied().filter(|o| *o != m).collect();
                        rules.panels[m as usize].push(others);
                    }
                }
                // Not narrowed here: a row that breaks it is the validator's rejection.
                ehrsynth_table::Constraint::Combinations { .. } => continue,
                ehrsynth_table::Constraint::Order { .. } => {
                    for (j, &m) in members.iter().enumerate() {
                        for (i, &o) in members.iter().enumerate() {
                            if i != j {
                                rules.order[m as usize].push((o, i < j));
                            }
                        }
                    }
                }
            }
            rules.any = true;
        }
        rules
    }

    /// Whether no column has a rule (the decoder then tracks no values).
    pub(super) fn is_empty(&self) -> bool {
        !self.any
    }

    /// The fixed value of `column`, if it is fixed.
    pub(super) fn fixed(&self, column: u32) -> Option<Option<f64>> {
        self.fixed.get(column as usize).copied().flatten()
    }

    /// The bound on `column` given what `earlier` says of the other columns; `None` when a
    /// value it depends on is [`Earlier::Lost`]. A fixed column is never bound (its value is
    /// the request's), and bounds that contradict each other (only possible when the schema's
    /// rules do) leave the digit free: the row is then the validator's rejection.
    pub(super) fn bound(&self, column: u32, earlier: impl Fn(u32) -> Earlier) -> Option<Bound> {
        let c = column as usize;
        if self.fixed(column).is_some() || c >= self.one_hot.len() {
            return Some(Bound::FREE);
        }
        let mut bound = Bound::FREE;
        let mut digits = (false, false);
        for (others, exactly) in &self.one_hot[c] {
            let mut any_one = false;
            let mut all_zero = true;
            for &o in others {
                match earlier(o) {
                    Earlier::Known(Some(1.0)) => any_one = true,
                    Earlier::Known(Some(_)) => {}
                    Earlier::Known(None) | Earlier::NotYet => all_zero = false,
                    Earlier::Lost => return None,
                }
            }
            if any_one {
                digits.0 = true;
            } else if *exactly && all_zero {
                digits.1 = true;
            }
        }
        bound.digit = match digits {
            (true, false) => Some(b'0'),
            (false, true) => Some(b'1'),
            _ => None,
        };
        let (mut present, mut missing) = (false, false);
        for &o in self.panels[c].iter().flatten() {
            match earlier(o) {
                Earlier::Known(Some(_)) => present = true,
                Earlier::Known(None) => missing = true,
                Earlier::NotYet => {}
                Earlier::Lost => return None,
            }
        }
        bound.present = match (present, missing) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        };
        for &(o, below) in &self.order[c] {
            let (lo, hi) = match earlier(o) {
                Earlier::Known(Some(v)) => (v, v),
                Earlier::NotYet => match self.required_range[o as usize] {
                    Some(range) => range,
                    None => continue,
                },
                Earlier::Known(None) => continue,
                Earlier::Lost => return None,
            };
            if below {
                bound.lo = bound.lo.max(lo);
            } else {
                bound.hi = bound.hi.min(hi);
            }
        }
        Some(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrsynth_table::{ColumnKind, ColumnSpec, Constraint};

    fn schema() -> Schema {
        let mut columns: Vec<ColumnSpec> = ["a", "b", "c"]
            .iter()
            .map(|n| ColumnSpec::new(*n, ColumnKind::Binary))
            .collect();
        columns.extend(
            ["lo", "mid", "hi"]
                .iter()
                .map(|n| ColumnSpec::new(*n, ColumnKind::Continuous)),
        );
        let mut schema = Schema::new(columns).unwrap();
        schema.constraints = vec![
            Constraint::OneHot {
                columns: vec!["a".into(), "b".into(), "c".into()],
                exactly: true,
            },
            Constraint::Order {
                columns: vec!["lo".into(), "mid".into(), "hi".into()],
            },
        ];
        schema
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_one_in_a_set_leaves_only_zeros_and_the_last_of_an_exact_set_must_be_one() {
        let rules = CrossRules::new(&schema(), &names(&["a", "b", "c"]), &[]);
        let after = |values: [Earlier; 3]| move |o: u32| values[o as usize];
        let one = Earlier::Known(Some(1.0));
        let zero = Earlier::Known(Some(0.0));
        let bound = rules.bound(1, after([one, Earlier::NotYet, Earlier::NotYet]));
        assert_eq!(bound.unwrap().digit, Some(b'0'));
        let bound = rules.bound(2, after([zero, zero, Earlier::NotYet]));
        assert_eq!(bound.unwrap().digit, Some(b'1'));
        // A missing member makes the set incomplete: "exactly one" no longer binds.
        let bound = rules.bound(2, after([zero, Earlier::Known(None), Earlier::NotYet]));
        assert!(bound.unwrap().is_free());
        let bound = rules.bound(1, after([Earlier::Lost, Earlier::NotYet, Earlier::NotYet]));
        assert_eq!(bound, None);
    }

    #[test]
    fn an_order_bounds_a_column_from_both_sides_whatever_the_writing_order() {
        // Written hi, lo, then mid: mid is between them.
        let rules = CrossRules::new(&schema(), &names(&["hi", "lo", "mid"]), &[]);
        let values = [
            Earlier::Known(Some(120.0)),
            Earlier::Known(Some(60.0)),
            Earlier::NotYet,
        ];
        let bound = rules.bound(2, |o| values[o as usize]).unwrap();
        assert_eq!((bound.lo, bound.hi), (60.0, 120.0));
        // lo comes after hi only: bounded above.
        let bound = rules.bound(1, |o| values[o as usize]).unwrap();
        assert_eq!((bound.lo, bound.hi), (f64::NEG_INFINITY, 120.0));
    }

    #[test]
    fn a_later_column_that_must_be_written_bounds_an_earlier_one_by_its_range() {
        let mut schema = schema();
        for (name, min, max, missing) in [("hi", 0.0, 80.0, false), ("mid", 10.0, 50.0, true)] {
            let spec = schema.column_mut(name).unwrap();
            (spec.min, spec.max, spec.missing_allowed) = (Some(min), Some(max), missing);
        }
        let rules = CrossRules::new(&schema, &names(&["lo", "mid", "hi"]), &[]);
        // hi (never missing, at most 80) bounds lo; mid may be missing, so its range does not.
        let bound = rules.bound(0, |_| Earlier::NotYet).unwrap();
        assert_eq!((bound.lo, bound.hi), (f64::NEG_INFINITY, 80.0));
    }

    #[test]
    fn a_panel_column_follows_the_presence_of_the_ones_written_before_it() {
        let mut schema = schema();
        schema.constraints = vec![Constraint::MissingTogether {
            columns: names(&["lo", "mid", "hi"]),
        }];
        let rules = CrossRules::new(&schema, &names(&["lo", "mid", "hi"]), &[]);
        let first = rules.bound(0, |_| Earlier::NotYet).unwrap();
        assert_eq!(first.present, None);
        let after = |v: Option<f64>| {
            move |o: u32| {
                if o == 0 {
                    Earlier::Known(v)
                } else {
                    Earlier::NotYet
                }
            }
        };
        assert_eq!(
            rules.bound(1, after(Some(7.0))).unwrap().present,
            Some(true)
        );
        assert_eq!(rules.bound(1, after(None)).unwrap().present, Some(false));
    }

    #[test]
    fn a_fixed_column_is_known_from_the_start_and_never_bound() {
        let fixed = vec![("b".to_string(), "1".to_string())];
        let rules = CrossRules::new(&schema(), &names(&["a", "b", "c"]), &fixed);
        assert_eq!(rules.fixed(1), Some(Some(1.0)));
        assert!(
            rules
                .bound(1, |_| Earlier::Known(Some(1.0)))
                .unwrap()
                .is_free()
        );
        // A subset without two members of a rule has no rule.
        assert!(CrossRules::new(&schema(), &names(&["a", "lo"]), &[]).is_empty());
    }
}

//! The outcome column read as two classes. A binary target may be written 0/1, true/false, or as
//! two labels ("0_no" / "1_yes", "alive" / "dead"); the positive class is the one a stated rule
//! finds (below) or the one the user names (`--positive VALUE`). A column with more than two
//! values is not a binary target, and every command says so the same way.
//!
//! Not here: which column is the target (the schema's role, or `--target`).

use ehrsynth_table::{Column, Value};

use crate::error::EvalError;

/// Words that mark the positive class of a two-label outcome, matched case-insensitively
/// against the whole label or any of its parts split at non-letters ("1_yes" has "1" and "yes").
pub const POSITIVE_WORDS: &[&str] = &[
    "1", "yes", "y", "true", "t", "positive", "pos", "dead", "died", "death", "deceased",
    "expired", "case", "event",
];

/// How to read a target column as two classes.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryTarget {
    /// The column's name.
    pub column: String,
    /// The label read as the positive class.
    pub positive: String,
    /// The other label, when the data holds one.
    pub negative: Option<String>,
}

fn label(value: &Value<'_>) -> Option<String> {
    match value {
        Value::Missing => None,
        v => Some(match v.as_f64() {
            // 1, 1.0 and true all read "1"; 0, 0.0 and false "0".
            Some(x) if x == 0.0 || x == 1.0 => format!("{x}"),
            _ => v.to_string(),
        }),
    }
}

fn distinct_labels(column: &Column) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for i in 0..column.len() {
        if let Some(l) = label(&column.value(i))
            && !found.contains(&l)
        {
            found.push(l);
            if found.len() > 2 {
                break;
            }
        }
    }
    found
}

fn marks_positive(label: &str) -> bool {
    let lower = label.to_lowercase();
    POSITIVE_WORDS.contains(&lower.as_str())
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|part| POSITIVE_WORDS.contains(&part))
}

impl BinaryTarget {
    /// Reads `column` (the training rows' target) as two classes, the positive one named by
    /// `positive` or found by [`POSITIVE_WORDS`].
    pub fn infer(column: &Column, positive: Option<&str>) -> Result<Self, EvalError> {
        let name = column.name();
        let labels = distinct_labels(column);
        if labels.len() > 2 {
            return Err(EvalError::Invalid(format!(
                "target '{name}' is not binary: it holds more than two values ({}, ...); the audit's utility, fairness and stratified splits need an outcome of two classes",
                labels.join(", ")
            )));
        }
        let chosen = match positive {
            Some(p) => {
                let wanted = label_of_text(p);
                if !labels.contains(&wanted) {
                    return Err(EvalError::Invalid(format!(
                        "--positive '{p}' is not a value of target '{name}' (values: {})",
                        labels.join(", ")
                    )));
                }
                wanted
            }
            None => {
                let marked: Vec<&String> = labels.iter().filter(|l| marks_positive(l)).collect();
                match marked.as_slice() {
                    [one] => (*one).clone(),
                    [] if labels.len() < 2 => "1".to_string(),
                    _ => {
                        return Err(EvalError::Invalid(format!(
                            "target '{name}' has the labels {}: say which is the positive class with --positive VALUE",
                            labels.join(" and ")
                        )));
                    }
                }
            }
        };
        let negative = labels.iter().find(|l| **l != chosen).cloned();
        Ok(Self {
            column: name.to_string(),
            positive: chosen,
            negative,
        })
    }

    /// Each row's class (`None` = missing). A value that is neither label is an error naming
    /// the table and the row.
    pub fn labels(&self, column: &Column, table: &str) -> Result<Vec<Option<bool>>, EvalError> {
        (0..column.len())
            .map(|i| match label(&column.value(i)) {
                None => Ok(None),
                Some(l) if l == self.positive => Ok(Some(true)),
                Some(l) if self.negative.as_ref().is_none_or(|n| *n == l) => Ok(Some(false)),
                Some(l) => Err(EvalError::Invalid(format!(
                    "target '{}' in the {table} table, row {}: '{l}' is neither '{}' nor '{}'",
                    self.column,
                    i + 1,
                    self.positive,
                    self.negative.as_deref().unwrap_or("")
                ))),
            })
            .collect()
    }
}

/// A label as written on the command line, in the form [`label`] gives cells ("1.0" is "1").
fn label_of_text(text: &str) -> String {
    match text.trim().parse::<f64>() {
        Ok(x) if x == 0.0 || x == 1.0 => format!("{x}"),
        _ => text.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> Column {
        Column::categorical(
            "outcome",
            &values.iter().map(|v| Some(*v)).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn two_labels_find_their_positive_class_by_the_stated_rule() {
        let t = BinaryTarget::infer(&column(&["0_no", "1_yes", "0_no"]), None).unwrap();
        assert_eq!(
            (t.positive.as_str(), t.negative.as_deref()),
            ("1_yes", Some("0_no"))
        );
        let t = BinaryTarget::infer(&column(&["alive", "dead"]), None).unwrap();
        assert_eq!(t.positive, "dead");
        let labels = t.labels(&column(&["dead", "alive"]), "holdout").unwrap();
        assert_eq!(labels, vec![Some(true), Some(false)]);
    }

    #[test]
    fn zero_one_numbers_and_booleans_read_as_before() {
        let ints = Column::integer("death", &[Some(0), Some(1), None]);
        let t = BinaryTarget::infer(&ints, None).unwrap();
        assert_eq!(
            t.labels(&ints, "train").unwrap(),
            vec![Some(false), Some(true), None]
        );
        let floats = Column::continuous("death", &[Some(1.0), Some(0.0)]);
        assert_eq!(
            t.labels(&floats, "synthetic").unwrap(),
            vec![Some(true), Some(false)]
        );
        let bools = Column::binary("death", &[Some(true), Some(false)]);
        assert_eq!(
            t.labels(&bools, "synthetic").unwrap(),
            vec![Some(true), Some(false)]
        );
    }

    #[test]
    fn ambiguous_labels_ask_for_positive_and_positive_decides() {
        let c = column(&["red", "blue"]);
        let e = BinaryTarget::infer(&c, None).unwrap_err();
        assert!(e.to_string().contains("--positive"), "{e}");
        let t = BinaryTarget::infer(&c, Some("blue")).unwrap();
        assert_eq!(t.positive, "blue");
        let e = BinaryTarget::infer(&c, Some("green")).unwrap_err();
        assert!(e.to_string().contains("not a value"), "{e}");
    }

    #[test]
    fn more_than_two_values_is_not_a_binary_target() {
        let c = Column::integer("stay", &(0..52).map(Some).collect::<Vec<_>>());
        let e = BinaryTarget::infer(&c, None).unwrap_err();
        assert!(e.to_string().contains("is not binary"), "{e}");
    }

    #[test]
    fn a_third_value_in_another_table_names_its_row() {
        let t = BinaryTarget::infer(&column(&["no", "yes"]), None).unwrap();
        let e = t
            .labels(&column(&["yes", "maybe"]), "synthetic")
            .unwrap_err();
        assert!(
            e.to_string().contains("synthetic table, row 2: 'maybe'"),
            "{e}"
        );
    }
}

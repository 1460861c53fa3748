//! What a prompt may say about the training data.
//!
//! By default only the schema (names, kinds, units, ranges, categories, meanings) and aggregate
//! statistics: per numeric column mean, standard deviation, quartiles (3 significant digits) and
//! missing share — never the observed minimum or maximum, which single out individual patients;
//! per category its share, with categories of fewer than `k` rows (default 10) suppressed.
//! Real rows enter a prompt only when the caller names the provider they may go to
//! (`--allow-real-examples PROVIDER`) and that is the provider the prompt is for.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Role, Schema, Table};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::generator::GenError;

/// Smallest category count shown in statistics; smaller cells are suppressed.
pub const DEFAULT_SUPPRESS_BELOW: usize = 10;

/// What the prompts may contain.
#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// Describe each column (kind, unit, range, categories, meaning).
    pub schema: bool,
    /// Give aggregate statistics of the training data.
    pub statistics: bool,
    /// Categories (and groups) with fewer rows than this are not shown.
    pub suppress_below: usize,
    /// Real example rows wanted (the paper used < 100); 0 = none.
    pub real_examples: usize,
    /// The one provider real rows may be sent to (`--allow-real-examples PROVIDER`); `None` = none.
    pub allow_real_examples_for: Option<String>,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self {
            schema: true,
            statistics: true,
            suppress_below: DEFAULT_SUPPRESS_BELOW,
            real_examples: 0,
            allow_real_examples_for: None,
        }
    }
}

/// The data description for one provider, built once per run (and per group for the
/// group-based strategy).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptContext {
    /// Column names in schema order (the header the model must write).
    pub columns: Vec<String>,
    /// One line per column describing it.
    pub schema_text: String,
    /// Aggregate statistics, or empty.
    pub statistics_text: String,
    /// Real example rows as CSV (header included), or `None`.
    pub examples_csv: Option<String>,
}

/// Three significant digits, without trailing noise ("63.2", "0.0123", "1.2e+03" avoided).
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    let rounded = format!("{x:.digits$}");
    if rounded.contains('.') {
        rounded
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        rounded
    }
}

/// The sentence describing one column.
pub fn describe_column(spec: &ColumnSpec) -> String {
    let mut line = format!("- {} ({}", spec.name, spec.kind.as_str());
    if let Some(unit) = &spec.unit {
        let _ = write!(line, ", {unit}");
    }
    match (spec.min, spec.max) {
        (Some(lo), Some(hi)) if spec.kind != ColumnKind::Binary => {
            let _ = write!(
                line,
                ", valid range {} to {}",
                significant_or_int(lo),
                significant_or_int(hi)
            );
        }
        _ => {}
    }
    if spec.kind == ColumnKind::Binary {
        line.push_str(", 0 or 1");
    }
    if !spec.categories.is_empty() {
        let _ = write!(line, ", one of: {}", spec.categories.join(", "));
    }
    line.push_str(if spec.missing_allowed {
        ", may be empty"
    } else {
        ", never empty"
    });
    line.push(')');
    if let Some(d) = &spec.description {
        let _ = write!(line, ": {d}");
    }
    line
}

fn significant_or_int(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        significant(x)
    }
}

/// A quantile of sorted values (NaN when empty, which `significant` prints as 0).
fn quartile(sorted: &[f64], q: f64) -> f64 {
    ehrsynth_eval::stats::quantile_linear_sorted(sorted, q).unwrap_or(f64::NAN)
}

/// One line of aggregate statistics for a column (or `None` when nothing may be said).
fn column_statistics(spec: &ColumnSpec, column: &Column, suppress_below: usize) -> Option<String> {
    if spec.role == Role::Id || column.is_empty() {
        return None;
    }
    let n = column.len();
    let missing = 100.0 * column.missing_count() as f64 / n as f64;
    let discrete = matches!(spec.kind, ColumnKind::Binary | ColumnKind::Categorical)
        || matches!(spec.role, Role::Group | Role::Site);
    if discrete {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..n {
            if !column.is_missing(i) {
                *counts.entry(column.value(i).to_string()).or_insert(0) += 1;
            }
        }
        let mut shown: Vec<(String, usize)> = counts
            .iter()
            .filter(|(_, c)| **c >= suppress_below)
            .map(|(v, c)| (v.clone(), *c))
            .collect();
        shown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let hidden = counts.len() - shown.len();
        let mut line = format!("- {}: ", spec.name);
        let parts: Vec<String> = shown
            .iter()
            .take(30)
            .map(|(v, c)| format!("{v} {}%", significant(100.0 * *c as f64 / n as f64)))
            .collect();
        line.push_str(&parts.join(", "));
        if hidden > 0 || shown.len() > 30 {
            let _ = write!(
                line,
                "{}other values suppressed (fewer than {suppress_below} rows each, or too many to list)",
                if parts.is_empty() { "" } else { "; " }
            );
        }
        if missing > 0.0 {
            let _ = write!(line, "; missing {}%", significant(missing));
        }
        return Some(line);
    }
    let mut values: Vec<f64> = (0..n).filter_map(|i| column.get_f64(i)).collect();
    if values.len() < suppress_below {
        return Some(format!(
            "- {}: too few values to summarise; missing {}%",
            spec.name,
            significant(missing)
        ));
    }
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    Some(format!(
        "- {}: mean {}, sd {}, quartiles {} / {} / {}; missing {}%",
        spec.name,
        significant(mean),
        significant(sd),
        significant(quartile(&values, 0.25)),
        significant(quartile(&values, 0.5)),
        significant(quartile(&values, 0.75)),
        significant(missing)
    ))
}

impl PromptContext {
    /// Builds the context for `provider` from the training rows (`train` may be one group's rows).
    pub fn build(
        train: &Table,
        schema: &Schema,
        options: &ContextOptions,
        provider: &str,
        seed: u64,
    ) -> Result<Self, GenError> {
        let columns: Vec<String> = schema.names().into_iter().map(str::to_string).collect();
        let schema_text = if options.schema {
            schema
                .columns()
                .iter()
                .map(describe_column)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            columns.join(", ")
        };
        let statistics_text = if options.statistics {
            schema
                .columns()
                .iter()
                .filter_map(|spec| {
                    train
                        .column(&spec.name)
                        .and_then(|c| column_statistics(spec, c, options.suppress_below))
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        };
        let allowed = options
            .allow_real_examples_for
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(provider));
        let examples_csv = (allowed && options.real_examples > 0)
            .then(|| real_examples(train, schema, options.real_examples, seed))
            .transpose()?;
        if options.real_examples > 0 && !allowed {
            return Err(GenError::Invalid(format!(
                "real example rows were requested but may not be sent to '{provider}': pass --allow-real-examples {provider} \
                 only if your data use agreement allows sending patient rows to that provider"
            )));
        }
        Ok(Self {
            columns,
            schema_text,
            statistics_text,
            examples_csv,
        })
    }
}

/// Up to `k` seeded random training rows as CSV with a header (identifiers left out).
fn real_examples(train: &Table, schema: &Schema, k: usize, seed: u64) -> Result<String, GenError> {
    let mut rows: Vec<usize> = (0..train.n_rows()).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    rows.truncate(k);
    rows.sort_unstable();
    let names: Vec<&str> = schema.names();
    let mut out = names.join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = schema
            .columns()
            .iter()
            .map(|spec| match (spec.role, train.column(&spec.name)) {
                (Role::Id, _) | (_, None) => String::new(),
                (_, Some(c)) => c.value(r).to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(significant(63.2456), "63.2");
        assert_eq!(significant(0.012345), "0.0123");
        assert_eq!(significant(1234.6), "1235");
        assert_eq!(significant(50.0), "50");
    }
}

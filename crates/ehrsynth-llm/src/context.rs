//! What a prompt may say about the training data.
//!
//! By default only the schema (names, kinds, units, ranges, categories, meanings) and aggregate
//! statistics: per numeric column mean, standard deviation, quartiles (3 significant digits) and
//! missing share — never the observed minimum or maximum, which single out individual patients;
//! per category its share, with categories of fewer than `k` rows (default 10) suppressed.
//! Real rows enter a prompt sent over the network only when the caller names the provider they
//! may go to (`--allow-real-examples PROVIDER`) and that is the provider the prompt is for. The
//! in-process model (`local`) sends nothing anywhere, so it may always see real rows, and by
//! default it does ([`DEFAULT_LOCAL_EXAMPLES`], the paper's context), drawn afresh per prompt.
//!
//! Also here: the precision of each numeric column ([`column_decimals`]), which the examples
//! are written at and the in-process grammar enforces, so the model spends no tokens on digits
//! the data never has.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Role, Schema, Table};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::LlmError;

/// Smallest category count shown in statistics; smaller cells are suppressed.
pub const DEFAULT_SUPPRESS_BELOW: usize = 10;

/// Real example rows per prompt for the in-process model when the user gives no number: the
/// paper's context (it used fewer than 100). Measured on the reference cohort and the eICU demo
/// (docs/local-model.md): more rows lengthen every prompt for little gain in fidelity.
pub const DEFAULT_LOCAL_EXAMPLES: usize = 20;

/// Rows a request to the in-process model asks for unless told otherwise: it writes them as
/// 128 one-row sequences decoded 32 at a time on the request's one prompt.
pub const DEFAULT_LOCAL_ROWS_PER_REQUEST: usize = 128;

/// Rows a request to the other providers asks for unless told otherwise.
pub const DEFAULT_ROWS_PER_REQUEST: usize = 20;

/// Rows per request for `provider` when the user said `requested` (None: not said).
pub fn default_rows_per_request(provider: &str, requested: Option<usize>) -> usize {
    requested.unwrap_or(if is_in_process(provider) {
        DEFAULT_LOCAL_ROWS_PER_REQUEST
    } else {
        DEFAULT_ROWS_PER_REQUEST
    })
}

/// Most decimals a column is written with.
pub const MAX_COLUMN_DECIMALS: u32 = 3;

/// Whether prompts for `provider` stay on this machine (the in-process model).
pub fn is_in_process(provider: &str) -> bool {
    crate::provider::ProviderKind::parse(provider)
        .is_some_and(crate::provider::ProviderKind::is_in_process)
}

/// The real example rows wanted for `provider` when the user said `requested` (None: not said):
/// [`DEFAULT_LOCAL_EXAMPLES`] for the in-process model, none for the others.
pub fn default_examples(provider: &str, requested: Option<usize>) -> usize {
    requested.unwrap_or(if is_in_process(provider) {
        DEFAULT_LOCAL_EXAMPLES
    } else {
        0
    })
}

/// The decimals each numeric column's training values have: the fewest (up to
/// [`MAX_COLUMN_DECIMALS`]) that write 99% of its values exactly. Integer columns get 0; columns
/// without values are left out.
pub fn column_decimals(train: &Table, schema: &Schema) -> Vec<(String, u32)> {
    schema
        .columns()
        .iter()
        .filter(|spec| matches!(spec.kind, ColumnKind::Continuous | ColumnKind::Integer))
        .filter_map(|spec| {
            let column = train.column(&spec.name)?;
            let values: Vec<f64> = (0..column.len())
                .filter_map(|i| column.get_f64(i))
                .collect();
            if values.is_empty() {
                return None;
            }
            let exact_at = |d: u32| {
                let scale = 10f64.powi(d as i32);
                let exact = values
                    .iter()
                    .filter(|v| {
                        let scaled = *v * scale;
                        (scaled - scaled.round()).abs() <= 1e-6 * scaled.abs().max(1.0)
                    })
                    .count();
                exact as f64 >= 0.99 * values.len() as f64
            };
            let d = (0..=MAX_COLUMN_DECIMALS)
                .find(|&d| exact_at(d))
                .unwrap_or(MAX_COLUMN_DECIMALS);
            Some((spec.name.clone(), d))
        })
        .collect()
}

/// `value` with at most `decimals` decimals, without trailing zeros ("36.7", "8").
pub fn format_at(value: f64, decimals: u32) -> String {
    let text = format!("{value:.*}", decimals as usize);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

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
    /// Whether the example rows open the answer instead of standing in the prompt (the
    /// in-process model: see [`PromptContext::answer_rows`]).
    pub examples_in_answer: bool,
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
    ehrsynth_table::stats::quantile_linear_sorted(sorted, q).unwrap_or(f64::NAN)
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
    ) -> Result<Self, LlmError> {
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
        let allowed = is_in_process(provider)
            || options
                .allow_real_examples_for
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(provider));
        let examples_csv = (allowed && options.real_examples > 0)
            .then(|| real_examples(train, schema, options.real_examples, seed));
        if options.real_examples > 0 && !allowed {
            return Err(LlmError::Invalid(format!(
                "real example rows were requested but may not be sent to '{provider}': pass --allow-real-examples {provider} \
                 only if your data use agreement allows sending patient rows to that provider"
            )));
        }
        Ok(Self {
            columns,
            schema_text,
            statistics_text,
            examples_csv,
            examples_in_answer: is_in_process(provider),
        })
    }
}

impl PromptContext {
    /// Whether the prompts show real rows.
    pub fn has_examples(&self) -> bool {
        self.examples_csv.is_some()
    }

    /// The example rows (CSV data lines, no header) the answer starts with, when they open
    /// the answer. A small model continues rows it has just "written" far better than it
    /// copies the layout of rows shown in the question: with the examples in the question,
    /// SmolLM2-135M loses track of the column it is writing (a temperature written where
    /// the ventilation days go, a 0/1 where the age goes) and the grammar, refusing about a
    /// quarter of its probability, pushes the value to the low end of the column's range
    /// (docs/local-model.md, "Why constrained values collapsed").
    pub fn answer_rows(&self) -> Option<String> {
        if !self.examples_in_answer {
            return None;
        }
        let csv = self.examples_csv.as_deref()?;
        let rows: String = csv.split_inclusive('\n').skip(1).collect();
        (!rows.is_empty()).then_some(rows)
    }

    /// This context with its example rows drawn afresh (same count) with `seed`; unchanged when
    /// it shows none.
    pub fn with_examples_drawn(&self, train: &Table, schema: &Schema, k: usize, seed: u64) -> Self {
        let mut context = self.clone();
        if context.examples_csv.is_some() && k > 0 {
            context.examples_csv = Some(real_examples(train, schema, k, seed));
        }
        context
    }
}

/// Up to `k` seeded random training rows as CSV with a header (identifiers left out), numbers
/// at their column's precision ([`column_decimals`]).
pub fn real_examples(train: &Table, schema: &Schema, k: usize, seed: u64) -> String {
    let decimals: BTreeMap<String, u32> = column_decimals(train, schema).into_iter().collect();
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
                (_, Some(c)) => match (decimals.get(&spec.name), c.get_f64(r)) {
                    (Some(d), Some(v)) => format_at(v, *d),
                    _ => c.value(r).to_string(),
                },
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_the_fewest_decimals_that_write_the_values() {
        let schema = Schema::new(vec![
            ColumnSpec::new("bun", ColumnKind::Continuous),
            ColumnSpec::new("temp", ColumnKind::Continuous),
            ColumnSpec::new("los", ColumnKind::Continuous),
            ColumnSpec::new("label", ColumnKind::Categorical),
        ])
        .unwrap();
        let rows: Vec<Vec<Option<String>>> = [
            ["8.0", "36.71", "3.7361", "a"],
            ["14", "36.2", "1.5", "b"],
            ["", "35", "0.25", ""],
        ]
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| (!c.is_empty()).then(|| c.to_string()))
                .collect()
        })
        .collect();
        let table = ehrsynth_table::text::table_from_cells(&schema, &rows).unwrap();
        let d: BTreeMap<String, u32> = column_decimals(&table, &schema).into_iter().collect();
        assert_eq!(d["bun"], 0);
        assert_eq!(d["temp"], 2);
        assert_eq!(d["los"], 3, "capped at three decimals");
        assert!(!d.contains_key("label"));
        assert_eq!(format_at(8.0, 0), "8");
        assert_eq!(format_at(36.70, 2), "36.7");
        assert_eq!(format_at(-0.0001, 2), "0");
        let csv = real_examples(&table, &schema, 3, 1);
        assert!(csv.contains("8,36.71,"), "{csv}");
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(significant(63.2456), "63.2");
        assert_eq!(significant(0.012345), "0.0123");
        assert_eq!(significant(1234.6), "1235");
        assert_eq!(significant(50.0), "50");
    }
}

//! The [`Generator`] trait every generator implements (the statistical ones and the LLM
//! strategies), with what they share: the options of a fit and of a sampling call, the
//! condition a caller may put on the rows, and the error type.

use ehrsynth_table::{Progress, Schema, Table};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// A column fixed to one value in every generated row, e.g. `is_female = 1` or a hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The column (a group or site column, usually).
    pub column: String,
    /// The value, as written in the data ("1", "73", "MICU").
    pub value: String,
}

impl std::str::FromStr for Condition {
    type Err = GenError;

    /// Parses `column=value`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((c, v)) if !c.trim().is_empty() && !v.trim().is_empty() => Ok(Self {
                column: c.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(GenError::Invalid(format!(
                "a condition is COLUMN=VALUE (e.g. is_female=1), got '{text}'"
            ))),
        }
    }
}

/// Options of one sampling call.
#[derive(Debug, Clone, Default)]
pub struct SampleOptions {
    /// Rows to generate.
    pub rows: usize,
    /// Fix a column to a value in every row.
    pub condition: Option<Condition>,
    /// Seed: the same fitted generator, options and seed give identical rows.
    pub seed: u64,
}

/// `x` clipped to the column's range and rounded: integer and binary columns to a whole number
/// inside the range, other numbers to six significant digits (the precision clinical values are
/// recorded with). Both steps are monotone, so an order between two values survives them.
pub(crate) fn fit_to_spec(spec: &ehrsynth_table::ColumnSpec, x: f64) -> f64 {
    let mut x = x;
    if let Some(lo) = spec.min {
        x = x.max(lo);
    }
    if let Some(hi) = spec.max {
        x = x.min(hi);
    }
    match spec.kind {
        ehrsynth_table::ColumnKind::Integer | ehrsynth_table::ColumnKind::Binary => {
            let mut r = x.round();
            if spec.min.is_some_and(|lo| r < lo) {
                r += 1.0;
            }
            if spec.max.is_some_and(|hi| r > hi) {
                r -= 1.0;
            }
            r
        }
        _ => format!("{x:.6e}").parse().unwrap_or(x),
    }
}

/// `table` (a generator's rows) brought within the schema's constraints by their bounded repair
/// ([`ehrsynth_table::constraint::repair_keeping`]), a conditional run's fixed column untouched;
/// with the number of rows that were changed.
pub fn within_constraints(
    schema: &Schema,
    table: Table,
    options: &SampleOptions,
) -> (Table, usize) {
    if schema.constraints.is_empty() {
        return (table, 0);
    }
    let kept = options.condition.as_ref().map(|c| c.column.as_str());
    ehrsynth_table::constraint::repair_keeping(schema, &table, options.seed, kept)
}

/// Rows sampled in parallel blocks of 1,024, block `c` with its own random stream of `seed`,
/// so the same seed gives the same rows whatever the thread count; `row(i, rng)` draws row `i`
/// (its index in the whole table). Advances `progress` by each block's rows.
pub(crate) fn sample_in_blocks<T: Send>(
    rows: usize,
    seed: u64,
    progress: &dyn Progress,
    row: impl Fn(usize, &mut ChaCha8Rng) -> T + Sync,
) -> Vec<T> {
    const BLOCK: usize = 1024;
    let blocks: Vec<Vec<T>> = (0..rows.div_ceil(BLOCK))
        .into_par_iter()
        .map(|c| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(c as u64);
            let count = BLOCK.min(rows - c * BLOCK);
            let out = (0..count).map(|r| row(c * BLOCK + r, &mut rng)).collect();
            progress.advance(count as u64);
            out
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// " (N repaired to keep the schema's constraints)" when N > 0.
pub(crate) fn repaired_note(repaired: usize) -> String {
    if repaired == 0 {
        String::new()
    } else {
        format!(" ({repaired} repaired to keep the schema's constraints)")
    }
}

/// A generator of synthetic rows shaped by a schema.
pub trait Generator: Send + Sync {
    /// A short name ("copula", "bayesnet", ...).
    fn name(&self) -> &str;

    /// Learns from the training table; `schema` says each column's kind, range and role, and the
    /// generated table has exactly the schema's columns in its order. `seed` makes fitting
    /// deterministic where it is random.
    fn fit(
        &mut self,
        train: &Table,
        schema: &Schema,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(), GenError>;

    /// Generates rows; every row satisfies the schema (kinds, ranges, categories, missing).
    fn generate(&self, options: &SampleOptions, progress: &dyn Progress)
    -> Result<Table, GenError>;
}

/// What can go wrong fitting or sampling.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Called `generate` before `fit`.
    #[error("the {0} generator has not been fitted; call fit (or pass --train) first")]
    NotFitted(String),
    /// The training data cannot support the request.
    #[error("{0}")]
    Invalid(String),
    /// A condition names a column an order rule codes as a gap (its fitted values are gaps).
    #[error(
        "cannot condition on '{0}': an order rule models it as its gap above the columns below it; condition on a group, site or categorical column"
    )]
    ConditionOnGap(String),
    /// A table operation failed.
    #[error(transparent)]
    Table(#[from] ehrsynth_table::TableError),
    /// An LLM run or its preparation failed (its settings, its journal, its HTTP client).
    #[error(transparent)]
    Llm(#[from] ehrsynth_llm::LlmError),
}

/// Builds the output table from text cells (see [`ehrsynth_table::text::table_from_cells`]).
pub fn build_table(schema: &Schema, rows: &[Vec<Option<String>>]) -> Result<Table, GenError> {
    Ok(ehrsynth_table::text::table_from_cells(schema, rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_from_column_equals_value() {
        let c: Condition = "is_female = 1".parse().unwrap();
        assert_eq!((c.column.as_str(), c.value.as_str()), ("is_female", "1"));
        assert!("is_female".parse::<Condition>().is_err());
        assert!("=1".parse::<Condition>().is_err());
    }
}

//! [`LlmGenerator`]: the four prompting strategies as a [`Generator`]. Fitting builds what the
//! prompts may say (schema, k-suppressed statistics; real rows only on opt-in) — per group for the
//! group strategy; generating runs the request loop ([`ehrsynth_llm::engine`]) until the wanted
//! number of valid rows exists, spreading rows evenly over the groups for the group strategy.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ehrsynth_llm::Journal;
use ehrsynth_table::{Progress, Role, Schema, Table};

use crate::generator::{GenError, Generator, SampleOptions, build_table};
use ehrsynth_llm::context::{ContextOptions, PromptContext, column_decimals};
use ehrsynth_llm::engine::{EngineConfig, StopReason, Transport, row_key, run_with_progress};
use ehrsynth_llm::prompt::{Strategy, Template, csv_instructions, json_instructions};

/// How an LLM generator runs.
#[derive(Clone)]
pub struct LlmConfig {
    /// The prompting strategy.
    pub strategy: Strategy,
    /// The prompt template (the strategy's built-in one unless the user gave a file).
    pub template: Template,
    /// What prompts may contain.
    pub context: ContextOptions,
    /// Rows asked for per request.
    pub rows_per_request: usize,
    /// Request loop settings; `run` is the base name of the journal runs and `target_rows`,
    /// `seed` are set per call.
    pub engine: EngineConfig,
    /// The journal file.
    pub journal: PathBuf,
    /// How requests travel.
    pub transport: Arc<dyn Transport>,
}

struct Fitted {
    schema: Schema,
    /// The schema in the order the model writes it ([`writing_order`]).
    writing: Schema,
    train: Table,
    training_rows: HashSet<String>,
    /// Each numeric column's precision in the training data.
    decimals: Vec<(String, u32)>,
}

/// The LLM strategies as a generator.
pub struct LlmGenerator {
    config: LlmConfig,
    fitted: Option<Fitted>,
    /// What the last `generate` call did, per journal run: (run, outcome summary).
    pub last_runs: std::sync::Mutex<Vec<(String, String)>>,
}

impl LlmGenerator {
    /// A generator with `config`.
    pub fn new(config: LlmConfig) -> Self {
        Self {
            config,
            fitted: None,
            last_runs: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// Row `i` of `table` as the engine keys rows (columns in `schema` order).
fn training_row_key(table: &Table, schema: &Schema, i: usize) -> String {
    let cells: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| {
            table
                .column(&c.name)
                .map_or_else(String::new, |col| col.value(i).to_string())
        })
        .collect();
    row_key(cells.iter().map(String::as_str))
}

/// The schema the model writes: the columns in the schema's order with the target moved to the
/// end. A model reads the first field of a CSV line as a row number: with a 0/1 outcome first,
/// it writes "1" in every row (every patient dies). The constraints stay, so an answer's row
/// that breaks one is a rejection with the rule named.
fn writing_order(schema: &Schema) -> Result<Schema, GenError> {
    let (targets, others): (Vec<_>, Vec<_>) = schema
        .columns()
        .iter()
        .cloned()
        .partition(|c| c.role == Role::Target);
    let mut order = Schema::new(others.into_iter().chain(targets).collect())?;
    order.constraints = schema.constraints.clone();
    Ok(order)
}

/// Seed of the examples of request slot `slot` (a SplitMix64 step of both).
fn examples_seed(seed: u64, slot: usize) -> u64 {
    let mut z = seed.wrapping_add((slot as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Generator for LlmGenerator {
    fn name(&self) -> &str {
        self.config.strategy.name()
    }

    fn fit(
        &mut self,
        train: &Table,
        schema: &Schema,
        _seed: u64,
        _progress: &dyn Progress,
    ) -> Result<(), GenError> {
        if train.n_rows() == 0 {
            return Err(GenError::Invalid("the training table has no rows".into()));
        }
        let writing = writing_order(schema)?;
        let training_rows = (0..train.n_rows())
            .map(|i| training_row_key(train, &writing, i))
            .collect();
        self.fitted = Some(Fitted {
            schema: schema.clone(),
            writing,
            train: train.clone(),
            training_rows,
            decimals: column_decimals(train, schema),
        });
        Ok(())
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let fitted = self
            .fitted
            .as_ref()
            .ok_or_else(|| GenError::NotFitted(self.name().into()))?;
        // Which groups the rows are spread over: a condition fixes one; the group strategy uses
        // every value of the first group column; the other strategies use all rows.
        let groups: Vec<Option<(String, String)>> = match (&options.condition, self.config.strategy)
        {
            (Some(c), _) => vec![Some((c.column.clone(), c.value.clone()))],
            (None, Strategy::Group) => {
                let column = fitted.schema.with_role(Role::Group).first().map(|s| s.to_string()).ok_or_else(|| {
                    GenError::Invalid("the group strategy needs a group column (role = \"group\" in the schema)".into())
                })?;
                let c = fitted.train.require(&column)?;
                let mut values: Vec<String> = (0..c.len())
                    .filter(|&i| !c.is_missing(i))
                    .map(|i| c.value(i).to_string())
                    .collect();
                values.sort();
                values.dedup();
                values
                    .into_iter()
                    .map(|v| Some((column.clone(), v)))
                    .collect()
            }
            (None, _) => vec![None],
        };
        let per_group = options.rows / groups.len().max(1);
        let mut rows: Vec<Vec<String>> = Vec::new();
        progress.start(
            &format!("{} LLM generation", self.name()),
            Some(options.rows as u64),
            "rows",
        );
        for (g, group) in groups.iter().enumerate() {
            let wanted = if g + 1 == groups.len() {
                options.rows - per_group * g
            } else {
                per_group
            };
            let (subset, label, run_name) = match group {
                Some((column, value)) => {
                    let c = fitted.train.require(column)?;
                    let idx: Vec<usize> = (0..c.len())
                        .filter(|&i| c.value(i).to_string() == *value)
                        .collect();
                    if idx.is_empty() {
                        return Err(GenError::Invalid(format!(
                            "value '{value}' never occurs in column '{column}' of the training data"
                        )));
                    }
                    (
                        fitted.train.take(&idx),
                        Some(format!("{column} = {value}")),
                        format!("{}-{column}={value}", self.config.engine.run),
                    )
                }
                None => (fitted.train.clone(), None, self.config.engine.run.clone()),
            };
            let context = PromptContext::build(
                &subset,
                &fitted.writing,
                &self.config.context,
                &self.config.engine.provider_name,
                options.seed,
            )?;
            let template = self.config.template.clone();
            let batch = self.config.rows_per_request.max(1);
            let examples = self.config.context.real_examples;
            let structured = self.config.engine.structured;
            // Each request shows its own draw of example rows (the same for the same seed).
            let prompt_for = |slot: usize| {
                let context = context.with_examples_drawn(
                    &subset,
                    &fitted.writing,
                    examples,
                    examples_seed(options.seed, slot),
                );
                let mut prompt = template.prompt(&context, batch, label.as_deref());
                if structured {
                    // The rows come back as JSON: the CSV wording would contradict the schema.
                    prompt.text = prompt.text.replace(
                        &csv_instructions(&context.columns),
                        &json_instructions(&context.columns),
                    );
                }
                if let (Some(label), false) = (&label, template.mentions_group()) {
                    prompt.text.push_str(&format!(
                        "Every patient belongs to this group: {label}; write that value in its column.\n"
                    ));
                }
                prompt
            };
            let fixed = group.as_ref().and_then(|(column, value)| {
                fitted
                    .writing
                    .names()
                    .iter()
                    .position(|n| n == column)
                    .map(|p| (p, value.clone()))
            });
            let engine = EngineConfig {
                run: run_name.clone(),
                target_rows: wanted,
                seed: options.seed,
                fixed,
                decimals: fitted.decimals.clone(),
                real_rows_in_prompts: context.has_examples(),
                ..self.config.engine.clone()
            };
            let journal = Journal::open(&self.config.journal)
                .map_err(|e| GenError::Invalid(e.to_string()))?;
            let outcome = run_with_progress(
                &engine,
                &fitted.writing,
                &journal,
                self.config.transport.as_ref(),
                &prompt_for,
                &fitted.training_rows,
                &|d| std::thread::sleep(d.min(Duration::from_secs(120))),
                progress,
            )?;
            let kept = outcome.rows.len();
            rows.extend(outcome.rows.iter().cloned());
            let failures = match &outcome.last_failure {
                Some(last) => format!("; {} failed requests, the last: {last}", outcome.failed),
                None => String::new(),
            };
            let summary = format!(
                "{kept} rows kept, {} rejected, {} duplicates, {} training copies, {} requests ({} sent, {} from the journal), {} tokens, ${:.4}; stopped: {:?}{failures}",
                outcome.rejected.len(),
                outcome.duplicates,
                outcome.training_copies,
                outcome.requests,
                outcome.sent,
                outcome.from_journal,
                outcome.tokens,
                outcome.cost_usd,
                outcome.stop
            );
            if let Ok(mut log) = self.last_runs.lock() {
                log.push((run_name, summary));
            }
            if let StopReason::ProviderFailing(reason) = &outcome.stop {
                return Err(GenError::Invalid(format!(
                    "the provider keeps failing: {reason}"
                )));
            }
        }
        progress.finish(&format!("{} rows", rows.len()));
        // Rows come in writing order; the table has the schema's.
        let order: Vec<usize> = fitted
            .schema
            .names()
            .iter()
            .map(|n| {
                fitted
                    .writing
                    .names()
                    .iter()
                    .position(|w| w == n)
                    .unwrap_or(0)
            })
            .collect();
        let cells: Vec<Vec<Option<String>>> = rows
            .into_iter()
            .map(|r| {
                order
                    .iter()
                    .map(|&i| Some(r[i].clone()).filter(|c| !c.is_empty()))
                    .collect()
            })
            .collect();
        build_table(&fitted.schema, &cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrsynth_table::{ColumnKind, ColumnSpec, Constraint};

    #[test]
    fn the_writing_order_puts_the_target_last_and_keeps_the_constraints() {
        let mut death = ColumnSpec::new("death", ColumnKind::Binary);
        death.role = Role::Target;
        let flags = ["race_black", "race_asian"].map(|n| ColumnSpec::new(n, ColumnKind::Binary));
        let mut schema = Schema::new(std::iter::once(death).chain(flags).collect()).unwrap();
        schema.constraints = vec![Constraint::OneHot {
            columns: vec!["race_black".into(), "race_asian".into()],
            exactly: false,
        }];
        let order = writing_order(&schema).unwrap();
        assert_eq!(order.names(), vec!["race_black", "race_asian", "death"]);
        assert_eq!(order.constraints, schema.constraints);
        // So a row with both flags set is a rejection that names the rule.
        let err = order.validate_cells(&["1", "1", "0"]).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .contains("one_hot(race_black, race_asian)")
        );
    }
}

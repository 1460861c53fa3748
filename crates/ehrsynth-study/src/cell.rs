//! One cell of the grid: select its columns, fit and sample its generator, audit the synthetic
//! table, and bin real against synthetic distributions. Every failure becomes a reason, so one
//! broken cell never stops the study.

use std::path::Path;
use std::time::Instant;

use ehrsynth_eval::{AuditConfig, audit};
use ehrsynth_gen::registry::GeneratorSettings;
use ehrsynth_gen::strategies::LlmGenerator;
use ehrsynth_gen::{Generator, SampleOptions};
use ehrsynth_llm::Journal;
use ehrsynth_llm::context::default_rows_per_request;
use ehrsynth_table::{Progress, Role, Schema, Table};

use crate::config::{FeatureSet, GeneratorConfig, GeneratorKind, StudyConfig};
use crate::data::{RealData, SplitData};
use crate::distributions::distributions;
use crate::grid::CellPlan;
use crate::llm_settings::{LlmSettings, TransportFor, default_max_requests, llm_config};
use crate::results::{CellResult, CellStatus, CellUsage};

/// What a cell needs besides its plan.
pub struct CellContext<'a> {
    /// The config.
    pub config: &'a StudyConfig,
    /// The real data.
    pub data: &'a RealData,
    /// The cell's split.
    pub split: &'a SplitData,
    /// Features by importance, most important first.
    pub ranking: &'a [String],
    /// The cell's folder (`OUT/cells/<id>`).
    pub folder: &'a Path,
    /// Transports per provider.
    pub transport_for: &'a TransportFor<'a>,
    /// US dollars the cell may still spend under the study budget.
    pub budget_left_usd: Option<f64>,
}

/// The statistical generators of a cell.
pub fn statistical_generator(
    kind: GeneratorKind,
    epsilon: Option<f64>,
) -> Result<Box<dyn Generator>, String> {
    match kind {
        GeneratorKind::Statistical(entry) => entry
            .generator(&GeneratorSettings {
                epsilon,
                ..GeneratorSettings::default()
            })
            .map_err(|e| e.to_string()),
        GeneratorKind::Llm => Err("the LLM generator is built from LlmSettings".into()),
    }
}

/// The cell's columns: its features, the target and (when kept) the group columns, in schema order.
pub fn cell_schema(
    schema: &Schema,
    target: &str,
    set: FeatureSet,
    ranking: &[String],
    keep_groups: bool,
) -> Result<Schema, String> {
    let chosen: Vec<&str> = match set {
        FeatureSet::Top(k) => ranking.iter().take(k).map(String::as_str).collect(),
        FeatureSet::All => ranking.iter().map(String::as_str).collect(),
    };
    let keep: Vec<&str> = schema
        .columns()
        .iter()
        .filter(|c| {
            chosen.contains(&c.name.as_str())
                || c.name == target
                || (keep_groups && c.role == Role::Group)
        })
        .map(|c| c.name.as_str())
        .collect();
    schema.subset(&keep).map_err(|e| e.to_string())
}

/// The LLM settings of a cell.
pub fn cell_llm_settings(
    entry: &GeneratorConfig,
    plan: &CellPlan,
    config: &StudyConfig,
    journal: &Path,
    budget_left_usd: Option<f64>,
) -> Result<LlmSettings, String> {
    let per_cell = config.budget.max_cost_per_cell_usd;
    let max_cost_usd = match (per_cell, budget_left_usd) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let provider = plan.spec.provider.clone().unwrap_or_default();
    let model = plan.spec.model.clone().unwrap_or_default();
    let rows_per_request = default_rows_per_request(&provider, entry.rows_per_request);
    Ok(LlmSettings {
        price: crate::llm_settings::cell_price(entry, &provider, &model)?,
        strategy: plan.spec.strategy.clone().unwrap_or_default(),
        provider: provider.clone(),
        model,
        base_url: entry.base_url.clone(),
        api_key_env: entry.api_key_env.clone(),
        rows_per_request,
        max_requests: entry
            .max_requests
            .unwrap_or_else(|| default_max_requests(plan.spec.rows, rows_per_request)),
        max_output_tokens: entry.max_output_tokens,
        temperature: entry.temperature,
        reasoning_effort: entry.reasoning_effort.clone(),
        structured: entry.structured,
        use_cache: true,
        real_examples: entry.real_examples,
        allow_real_examples_for: entry.allow_real_examples_for.clone(),
        template: None,
        timeout: std::time::Duration::from_secs(entry.timeout_seconds),
        max_answer_bytes: entry.max_answer_mb.max(1) << 20,
        max_tokens: config.budget.max_tokens_per_cell,
        max_cost_usd,
        run: plan.spec.id.clone(),
        journal: journal.to_path_buf(),
        seed: plan.spec.seed,
        limits: None,
    })
}

/// Tokens, requests and cost of the LLM runs of a cell, from its request journal.
fn llm_usage(generator: &LlmGenerator, journal: &Path, usage: &mut CellUsage) {
    let Ok(journal) = Journal::open(journal) else {
        return;
    };
    let runs: Vec<String> = generator
        .last_runs
        .lock()
        .map(|runs| runs.iter().map(|(run, _)| run.clone()).collect())
        .unwrap_or_default();
    let mut cost = 0.0;
    for run in runs {
        if let Ok(t) = journal.totals(&run) {
            usage.requests += t.requests;
            usage.prompt_tokens += t.input_tokens;
            usage.completion_tokens += t.output_tokens;
            cost += t.cost_usd;
        }
    }
    usage.cost_usd = Some(cost);
}

/// Runs one cell; never fails: a failure is recorded in the result's status.
pub fn run_cell(plan: &CellPlan, context: &CellContext, progress: &dyn Progress) -> CellResult {
    let mut usage = CellUsage::default();
    let outcome = run_cell_inner(plan, context, progress, &mut usage);
    let (status, audit, distributions) = match outcome {
        Ok((audit, distributions)) => (CellStatus::Done, Some(audit), distributions),
        Err(reason) => (CellStatus::Failed { reason }, None, Vec::new()),
    };
    CellResult {
        spec: plan.spec.clone(),
        status,
        usage,
        audit,
        distributions,
    }
}

type Audited = (
    ehrsynth_eval::AuditReport,
    Vec<crate::results::FeatureDistribution>,
);

fn run_cell_inner(
    plan: &CellPlan,
    context: &CellContext,
    progress: &dyn Progress,
    usage: &mut CellUsage,
) -> Result<Audited, String> {
    let config = context.config;
    let entry = &config.generators[plan.generator];
    let schema = cell_schema(
        &context.data.schema,
        &context.data.target,
        plan.feature_set,
        context.ranking,
        config.audit.keep_group_columns,
    )?;
    let names = schema.names();
    let train = context
        .split
        .train
        .select(&names)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(context.folder)
        .map_err(|e| format!("cannot create {}: {e}", context.folder.display()))?;

    let started = Instant::now();
    let options = SampleOptions {
        rows: plan.spec.rows,
        condition: None,
        seed: plan.spec.seed,
    };
    let synthetic = match entry.kind {
        GeneratorKind::Llm => {
            if context.budget_left_usd.is_some_and(|left| left <= 0.0) {
                return Err("the study's budget (budget.max_cost_usd) is spent".into());
            }
            let journal = context.folder.join("requests.sqlite");
            let settings =
                cell_llm_settings(entry, plan, config, &journal, context.budget_left_usd)?;
            let mut model = LlmGenerator::new(
                llm_config(&settings, &schema, context.transport_for).map_err(|e| e.to_string())?,
            );
            let result = fit_and_sample(&mut model, &train, &schema, &options, progress);
            llm_usage(&model, &journal, usage);
            usage.rows_rejected = rejected_rows(&model);
            result
        }
        kind => {
            let mut model = statistical_generator(kind, plan.spec.epsilon)?;
            fit_and_sample(model.as_mut(), &train, &schema, &options, progress)
        }
    }
    .map_err(|e| e.to_string())?;
    usage.generate_seconds = started.elapsed().as_secs_f64();
    usage.rows_valid = synthetic.n_rows();
    if synthetic.n_rows() == 0 {
        return Err("the generator produced no valid rows".into());
    }
    write_synthetic(context.folder, &synthetic, &schema)?;

    let started = Instant::now();
    let groups: Vec<String> = config
        .audit
        .groups
        .iter()
        .filter(|g| names.contains(&g.as_str()))
        .cloned()
        .collect();
    // The generator never sees the site column, but the audit reads it from the real rows, so
    // that a hospital split reports TSTR on the held-out hospitals.
    let site = context
        .data
        .schema
        .site()
        .filter(|s| context.split.train.column(s).is_some())
        .map(str::to_string);
    let with_site = |table: &Table| -> Result<Table, String> {
        let mut wanted = names.clone();
        if let Some(s) = site.as_deref().filter(|s| !names.contains(s)) {
            wanted.push(s);
        }
        table.select(&wanted).map_err(|e| e.to_string())
    };
    let (audit_train, audit_holdout) = (
        with_site(&context.split.train)?,
        with_site(&context.split.holdout)?,
    );
    let report = audit(
        &schema,
        &audit_train,
        &audit_holdout,
        &synthetic,
        &AuditConfig {
            target: Some(context.data.target.clone()),
            site: site.clone(),
            groups,
            positive: Some(context.data.classes.positive.clone()),
            seed: plan.spec.seed,
            skip_control: false,
        },
        progress,
    )
    .map_err(|e| format!("audit: {e}"))?;
    usage.audit_seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    write_file(&context.folder.join("audit.json"), json.as_bytes())?;
    Ok((report, distributions(&schema, &train, &synthetic)))
}

fn fit_and_sample(
    model: &mut dyn Generator,
    train: &Table,
    schema: &Schema,
    options: &SampleOptions,
    progress: &dyn Progress,
) -> Result<Table, ehrsynth_gen::GenError> {
    model.fit(train, schema, options.seed, progress)?;
    model.generate(options, progress)
}

/// Rows the LLM runs dropped (rejected, duplicates, training copies), from their summaries
/// ("K rows kept, R rejected, D duplicates, T training copies, ...").
fn rejected_rows(llm: &LlmGenerator) -> usize {
    llm.last_runs.lock().map_or(0, |runs| {
        runs.iter()
            .filter_map(|(_, summary)| {
                let (_, after) = summary.split_once("rows kept, ")?;
                let counts: Vec<usize> = after
                    .split(", ")
                    .take(3)
                    .filter_map(|part| part.split_whitespace().next()?.parse().ok())
                    .collect();
                Some(counts.iter().sum::<usize>())
            })
            .sum()
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::write_atomically(path, bytes).map_err(|e| e.to_string())
}

fn write_synthetic(folder: &Path, synthetic: &Table, schema: &Schema) -> Result<(), String> {
    let path = folder.join("synthetic.parquet");
    ehrsynth_table::io::write_table(&path, synthetic)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    schema
        .save(&folder.join("synthetic.schema.toml"))
        .map_err(|e| e.to_string())
}

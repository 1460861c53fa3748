//! The study runner: prepare the real data once, run every cell of the grid that the journal
//! does not already hold, and write the results (JSON, CSV, Parquet), the report and the
//! Markdown summary. Results are rewritten after every cell, so a stopped study leaves a
//! readable partial report.

use std::path::{Path, PathBuf};

use ehrsynth_eval::ImportanceReport;
use ehrsynth_table::Progress;

use crate::StudyError;
use crate::cell::{CellContext, run_cell};
use crate::config::{SplitKind, StudyConfig};
use crate::data::{self, RealData, SplitData};
use crate::grid::{CellPlan, expand, matches_pattern, stable_hash};
use crate::journal::StudyJournal;
use crate::llm_settings::TransportFor;
use crate::results::{
    CellResult, CellStatus, CrossHospitalMatrix, DataRoles, RESULTS_VERSION, StudyResults,
};

/// Hears what the runner does, cell by cell (the binary draws the bar over cells with it).
pub trait Observer: Sync {
    /// The grid is known: `total` cells to go through, `already_done` of them in the journal.
    fn grid(&self, _total: usize, _already_done: usize) {}
    /// A message about preparation (data loaded, ranking, cross-hospital matrix).
    fn message(&self, _text: &str) {}
    /// Cell `index` (0-based) starts.
    fn cell_started(&self, _index: usize, _plan: &CellPlan) {}
    /// A cell ended; `computed` is false when its result came from the journal.
    fn cell_finished(&self, _index: usize, _result: &CellResult, _computed: bool) {}
}

/// Ignores everything.
pub struct Quiet;

impl Observer for Quiet {}

/// How to run a study.
pub struct RunOptions<'a> {
    /// Output folder.
    pub out: PathBuf,
    /// Run only the cells whose id matches (see [`matches_pattern`]).
    pub only: Option<String>,
    /// The config file's text (kept in the results).
    pub config_text: String,
    /// Transports per provider.
    pub transport_for: &'a TransportFor<'a>,
    /// Progress within a cell.
    pub progress: &'a dyn Progress,
    /// Progress over cells.
    pub observer: &'a dyn Observer,
}

/// What a run did.
#[derive(Debug)]
pub struct StudyOutcome {
    /// Everything written to results.json.
    pub results: StudyResults,
    /// Cells computed in this run.
    pub computed: usize,
    /// Cells taken from the journal.
    pub reused: usize,
    /// Cells that failed in this run.
    pub failed: usize,
}

/// The feature ranking and cross-hospital matrix, cached in the journal by the data settings.
#[derive(serde::Serialize, serde::Deserialize)]
struct Prepared {
    split_for_ranking: String,
    importance: ImportanceReport,
    cross_hospital: Option<CrossHospitalMatrix>,
    #[serde(default)]
    cross_site_note: Option<String>,
}

fn prepare(
    config: &StudyConfig,
    data: &RealData,
    ranking_split: &SplitData,
    journal: &StudyJournal,
    observer: &dyn Observer,
) -> Result<Prepared, StudyError> {
    let key = stable_hash(
        &serde_json::to_string(&(
            &config.data,
            &config.splits,
            &config.cross_hospital,
            config.seed,
            ranking_split.kind,
        ))
        .unwrap_or_default(),
    );
    if let Some(text) = journal.prepared(&key)?
        && let Ok(prepared) = serde_json::from_str::<Prepared>(&text)
    {
        observer.message("feature ranking and cross-hospital matrix taken from the journal");
        return Ok(prepared);
    }
    observer.message(&format!(
        "ranking features for '{}' on the {} split's {} training rows",
        data.target,
        ranking_split.kind.name(),
        ranking_split.train.n_rows()
    ));
    let importance = ehrsynth_eval::importance(
        &ranking_split.train,
        &data.schema,
        &data.target,
        Some(&data.classes.positive),
        config.seed,
    )
    .map_err(|e| StudyError::Data(format!("feature importance: {e}")))?;
    observer.message("cross-hospital matrix on the real rows");
    let (cross_hospital, cross_site_note) =
        data::cross_hospital(data, &config.cross_hospital, config.seed)?;
    let prepared = Prepared {
        split_for_ranking: ranking_split.kind.name().into(),
        importance,
        cross_hospital,
        cross_site_note,
    };
    if let Ok(text) = serde_json::to_string(&prepared) {
        journal.store_prepared(&key, &text)?;
    }
    Ok(prepared)
}

/// Runs (or resumes) a study and writes its outputs under `options.out`.
pub fn run_study(config: &StudyConfig, options: &RunOptions) -> Result<StudyOutcome, StudyError> {
    let out = &options.out;
    std::fs::create_dir_all(out.join("cells")).map_err(|e| StudyError::Io {
        path: out.clone(),
        message: e.to_string(),
    })?;
    let journal = StudyJournal::open(&out.join("study.sqlite"))?;
    let observer = options.observer;

    let data = data::load(&config.data, options.progress)?;
    observer.message(&data.description);
    let mut split_kinds: Vec<SplitKind> = Vec::new();
    for g in &config.generators {
        for s in config.splits_of(g) {
            if !split_kinds.contains(&s) {
                split_kinds.push(s);
            }
        }
    }
    split_kinds.sort_by_key(|s| s.name() != "random");
    let splits: Vec<SplitData> = split_kinds
        .iter()
        .map(|&kind| data::split(&data, &config.splits, kind, config.seed))
        .collect::<Result<_, _>>()?;
    // The ranking uses the training rows of the stratified split when there is one.
    let prepared = prepare(config, &data, &splits[0], &journal, observer)?;
    let ranking: Vec<String> = prepared
        .importance
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();

    let mut plans = expand(config, Some(ranking.len()));
    if let Some(pattern) = &options.only {
        plans.retain(|p| matches_pattern(&p.spec.id, pattern));
    }
    let finished: Vec<Option<CellResult>> = plans
        .iter()
        .map(|p| journal.finished(&p.spec.id, &p.config_hash))
        .collect::<Result<_, _>>()?;
    observer.grid(plans.len(), finished.iter().flatten().count());

    let ranking_split = &splits[0];
    let mut results = StudyResults {
        format: "ehrsynth-study".into(),
        version: RESULTS_VERSION,
        ehrsynth_version: env!("CARGO_PKG_VERSION").into(),
        title: config.title.clone(),
        config_text: options.config_text.clone(),
        data_description: data.description.clone(),
        train_rows: ranking_split.train.n_rows(),
        holdout_rows: ranking_split.holdout.n_rows(),
        outcome_rate: data::outcome_rate(&ranking_split.train, &data.classes),
        importance: prepared.importance.clone(),
        cross_hospital: prepared.cross_hospital.clone(),
        roles: DataRoles {
            target: data.target.clone(),
            positive: data.classes.positive.clone(),
            site: data.schema.site().map(str::to_string),
            eicu_shaped: data::eicu_shaped(&data.schema, &data.target),
            cross_site_note: prepared.cross_site_note.clone(),
        },
        cells: Vec::new(),
        pending: plans.iter().map(|p| p.spec.id.clone()).collect(),
    };
    let (mut computed, mut reused, mut failed) = (0, 0, 0);
    let mut spent_usd: f64 = finished
        .iter()
        .flatten()
        .filter_map(|c| c.usage.cost_usd)
        .sum();
    for (index, (plan, done)) in plans.iter().zip(finished).enumerate() {
        observer.cell_started(index, plan);
        let (result, was_computed) = match done {
            Some(result) => {
                reused += 1;
                (result, false)
            }
            None => {
                let split = splits
                    .iter()
                    .find(|s| s.kind == plan.split)
                    .unwrap_or(ranking_split);
                let folder = out.join("cells").join(&plan.spec.id);
                let context = CellContext {
                    config,
                    data: &data,
                    split,
                    ranking: &ranking,
                    folder: &folder,
                    transport_for: options.transport_for,
                    budget_left_usd: config.budget.max_cost_usd.map(|m| m - spent_usd),
                };
                let result = run_cell(plan, &context, options.progress);
                spent_usd += result.usage.cost_usd.unwrap_or(0.0);
                journal.record(&result, &plan.config_hash)?;
                computed += 1;
                if matches!(result.status, CellStatus::Failed { .. }) {
                    failed += 1;
                }
                (result, true)
            }
        };
        results.pending.retain(|id| *id != result.spec.id);
        results.cells.push(result);
        // Written before the cell is announced: a cell reported finished is on disk. (Cells
        // from the journal are already there; the loop's end writes them all once.)
        if was_computed {
            write_results(out, &results)?;
        }
        if let Some(last) = results.cells.last() {
            observer.cell_finished(index, last, was_computed);
        }
    }
    write_results(out, &results)?;
    Ok(StudyOutcome {
        results,
        computed,
        reused,
        failed,
    })
}

/// The report and the summary of `results`: the one place where the runner calls the report.
pub fn render_reports(results: &StudyResults) -> (String, String) {
    (
        crate::report::render_html(results),
        crate::report::render_markdown(results),
    )
}

/// Writes results.json, results.csv, results.parquet, report.html and summary.md.
pub fn write_results(out: &Path, results: &StudyResults) -> Result<(), StudyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| StudyError::Io {
            path: path.clone(),
            message: e.to_string(),
        }
    };
    let json_path = out.join("results.json");
    let json = serde_json::to_string_pretty(results).map_err(|e| StudyError::Io {
        path: json_path.clone(),
        message: e.to_string(),
    })?;
    crate::write_atomically(&json_path, json.as_bytes()).map_err(io(&json_path))?;
    let table = crate::tidy::results_table(&results.cells)
        .map_err(|e| StudyError::Data(format!("results table: {e}")))?;
    for name in ["results.csv", "results.parquet"] {
        let path = out.join(name);
        let partial = out.join(format!(
            ".{name}.partial.{}",
            name.rsplit('.').next().unwrap_or("")
        ));
        ehrsynth_table::io::write_table(&partial, &table).map_err(|e| StudyError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::rename(&partial, &path).map_err(io(&path))?;
    }
    let (html, markdown) = render_reports(results);
    let html_path = out.join("report.html");
    crate::write_atomically(&html_path, html.as_bytes()).map_err(io(&html_path))?;
    let md_path = out.join("summary.md");
    crate::write_atomically(&md_path, markdown.as_bytes()).map_err(io(&md_path))?;
    Ok(())
}

//! What a finished (or partly finished) study holds. The runner fills these; the report renders
//! them; both round-trip through JSON (`OUT/results.json`) so a report can be re-rendered.

use ehrsynth_eval::audit::AuditReport;
use ehrsynth_eval::importance::ImportanceReport;
use serde::{Deserialize, Serialize};

/// Version of the results JSON layout; bumped on any incompatible change.
pub const RESULTS_VERSION: u32 = 1;

/// One cell of the grid: what was generated, and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellSpec {
    /// Stable identifier derived from the other fields, e.g. `llm-group-local-smollm2-k10-n1000-s1-random`.
    pub id: String,
    /// `copula`, `bayesnet` or `llm`.
    pub generator: String,
    /// LLM strategy: `naive`, `schema`, `conditional` or `group` (LLM cells only).
    pub strategy: Option<String>,
    /// LLM provider: `local`, `openai`, `anthropic`, `gemini`, `openai-compatible` (LLM cells only).
    pub provider: Option<String>,
    /// LLM model name (LLM cells only).
    pub model: Option<String>,
    /// Differential-privacy budget of the Bayesian network, if any.
    pub epsilon: Option<f64>,
    /// The feature set's label: `top5`, `top10`, ..., or `all`.
    pub feature_set: String,
    /// Number of predictor columns in the cell's table (the target excluded).
    pub feature_count: usize,
    /// Synthetic rows asked for.
    pub rows: usize,
    /// Seed of the cell.
    pub seed: u64,
    /// The split: `random` (stratified) or `hospital` (train hospitals vs held-out hospitals).
    pub split: String,
}

/// How a cell ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CellStatus {
    /// Generated and audited.
    Done,
    /// Could not finish; the reason says why (budget spent, provider down, ...).
    Failed { reason: String },
}

/// Cost and effort of a cell.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CellUsage {
    /// Requests sent to the model (LLM cells; 0 otherwise).
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// US dollars, when the model's price is known.
    pub cost_usd: Option<f64>,
    /// Valid synthetic rows produced.
    pub rows_valid: usize,
    /// Rows rejected (invalid, duplicate, copy of a training row, wrong group).
    pub rows_rejected: usize,
    /// Seconds spent fitting and generating.
    pub generate_seconds: f64,
    /// Seconds spent auditing.
    pub audit_seconds: f64,
}

/// Real against synthetic distribution of one feature, for Figure 4.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureDistribution {
    /// Column name.
    pub name: String,
    /// Column kind (`numeric`, `integer`, `binary`, `categorical`).
    pub kind: String,
    /// Bin labels: a category, or a numeric interval such as `[12.5, 15)`; the last may be `missing`.
    pub bins: Vec<String>,
    /// Share of real (training) rows per bin; sums to 1.
    pub real: Vec<f64>,
    /// Share of synthetic rows per bin; sums to 1.
    pub synthetic: Vec<f64>,
}

/// One finished cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellResult {
    /// What the cell is.
    pub spec: CellSpec,
    /// How it ended.
    pub status: CellStatus,
    /// Cost and effort.
    pub usage: CellUsage,
    /// The full audit (absent when the cell failed).
    pub audit: Option<AuditReport>,
    /// Real vs synthetic distribution of every feature of the cell (absent when the cell failed).
    pub distributions: Vec<FeatureDistribution>,
}

/// Cross-hospital generalisation on the real data: AUROC of a model trained on the real rows of
/// one hospital (row) and tested on the real rows of another (column); the diagonal uses a
/// held-out part of the same hospital.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CrossHospitalMatrix {
    /// Hospital identifiers, in row/column order.
    pub hospitals: Vec<String>,
    /// `auroc[i][j]`: trained on hospital i, tested on hospital j (None when a side has one class).
    pub auroc: Vec<Vec<Option<f64>>>,
}

/// What the data's roles are, for the report's words.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataRoles {
    /// The outcome column.
    pub target: String,
    /// The outcome's positive label.
    pub positive: String,
    /// The site column, if the data have one.
    pub site: Option<String>,
    /// The paper's kind of data (see `data::eicu_shaped`): the report speaks of ICU stays,
    /// in-hospital death and hospitals, and shows the paper's numbers beside ours.
    pub eicu_shaped: bool,
    /// Sites the cross-site matrix left out, or why there is none.
    pub cross_site_note: Option<String>,
}

impl Default for DataRoles {
    /// The paper's cohort (also what results written before these fields were added hold).
    fn default() -> Self {
        Self {
            target: "death".into(),
            positive: "1".into(),
            site: Some("hospitalid".into()),
            eicu_shaped: true,
            cross_site_note: None,
        }
    }
}

/// A finished (or partly finished) study.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StudyResults {
    /// Always "ehrsynth-study".
    pub format: String,
    /// [`RESULTS_VERSION`].
    pub version: u32,
    /// The ehrsynth version that wrote it.
    pub ehrsynth_version: String,
    /// The study's title (from the config).
    pub title: String,
    /// The config file's text, verbatim (no secrets: keys come from the environment).
    pub config_text: String,
    /// What the data were, in words (e.g. "reference cohort, 20,000 rows, 10 hospitals").
    pub data_description: String,
    /// Real training and holdout rows, and the outcome rate in the training rows.
    pub train_rows: usize,
    /// Real holdout rows.
    pub holdout_rows: usize,
    /// Share of positive outcomes in the training rows.
    pub outcome_rate: f64,
    /// Feature importance on the real training rows (Figure 5; the source of the top-k sets).
    pub importance: ImportanceReport,
    /// Cross-hospital matrix on the real data (absent without a site column).
    pub cross_hospital: Option<CrossHospitalMatrix>,
    /// The outcome, the site and the kind of data, for the report's words.
    #[serde(default)]
    pub roles: DataRoles,
    /// Every cell run so far, in grid order.
    pub cells: Vec<CellResult>,
    /// Cells of the grid not run (yet), by id.
    pub pending: Vec<String>,
}

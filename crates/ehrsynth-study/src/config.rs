//! The study config file (TOML): the data, the splits, the grid (generators × feature sets ×
//! sample sizes × seeds), the audit settings, budgets and the output folder. Every table rejects
//! unknown keys, so a typo is an error that names the key; docs/study.md documents every key.

use std::path::{Path, PathBuf};

use ehrsynth_gen::registry::{self, GeneratorEntry};
use serde::{Deserialize, Serialize};

use crate::StudyError;

/// The whole config file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// The study's title, shown in the report.
    pub title: String,
    /// Output folder (the `--out` option overrides it).
    #[serde(default = "default_out")]
    pub out: PathBuf,
    /// Seed of the splits, the feature ranking and the cross-hospital matrix.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where the real rows come from.
    pub data: DataConfig,
    /// How the real rows are split into training and holdout rows.
    #[serde(default)]
    pub splits: SplitsConfig,
    /// Defaults of the grid that every generator entry may override.
    #[serde(default)]
    pub grid: GridConfig,
    /// The generators; each entry expands over its strategies, providers, models, feature sets,
    /// sizes, seeds and splits.
    #[serde(default)]
    pub generators: Vec<GeneratorConfig>,
    /// How every synthetic table is audited.
    #[serde(default)]
    pub audit: AuditSettings,
    /// The cross-hospital matrix on the real data.
    #[serde(default)]
    pub cross_hospital: CrossHospitalConfig,
    /// Spending limits of the LLM cells.
    #[serde(default)]
    pub budget: BudgetConfig,
}

fn default_out() -> PathBuf {
    PathBuf::from("out/study")
}

fn default_seed() -> u64 {
    42
}

/// The real data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum DataConfig {
    /// The built-in simulated reference cohort.
    Reference {
        /// ICU stays.
        #[serde(default = "default_reference_rows")]
        rows: usize,
        /// Hospitals.
        #[serde(default = "default_hospitals")]
        hospitals: usize,
        /// Seed of the simulation.
        #[serde(default = "default_seed")]
        seed: u64,
    },
    /// eICU's own tables, built with the cohort builder.
    Eicu {
        /// Folder holding patient.csv.gz, lab.csv.gz, ...
        dir: PathBuf,
        /// Per-table file overrides, e.g. `lab = "lab_subset.csv.gz"`.
        #[serde(default)]
        tables: std::collections::BTreeMap<String, PathBuf>,
    },
    /// A CSV(.gz) or Parquet table with its schema file.
    File {
        /// The table.
        path: PathBuf,
        /// Its schema (TOML, as `ehrsynth schema` writes it).
        schema: PathBuf,
        /// The target's positive class, for an outcome of two labels that no rule recognises
        /// (default: 1, or the label that says yes / true / dead / positive).
        #[serde(default)]
        positive: Option<String>,
    },
}

fn default_reference_rows() -> usize {
    10_000
}

fn default_hospitals() -> usize {
    20
}

/// Which splits to run; at least one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitsConfig {
    /// Stratified on the target: `holdout` share of the rows held out.
    pub random: Option<RandomSplitConfig>,
    /// By hospital: every row of the held-out hospitals is holdout.
    pub hospital: Option<HospitalSplitConfig>,
}

impl Default for SplitsConfig {
    fn default() -> Self {
        Self {
            random: Some(RandomSplitConfig { holdout: 0.2 }),
            hospital: None,
        }
    }
}

/// The stratified split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomSplitConfig {
    /// Share of the rows held out (0 < share < 1).
    #[serde(default = "default_holdout")]
    pub holdout: f64,
}

fn default_holdout() -> f64 {
    0.2
}

/// The hospital split: name the held-out hospitals or give a share of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HospitalSplitConfig {
    /// Held-out hospitals by their value in the site column.
    #[serde(default)]
    pub holdout_hospitals: Vec<String>,
    /// Otherwise a seeded share of the hospitals (default 0.2).
    pub holdout_share: Option<f64>,
}

/// A feature set: the top k by importance, or every feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureSet {
    /// The `k` most important features.
    Top(usize),
    /// Every feature column.
    All,
}

impl FeatureSet {
    /// `top10` or `all`.
    pub fn label(self) -> String {
        match self {
            Self::Top(k) => format!("top{k}"),
            Self::All => "all".into(),
        }
    }
}

impl Serialize for FeatureSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Top(k) => s.serialize_u64(*k as u64),
            Self::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for FeatureSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = FeatureSet;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of top features (e.g. 10) or \"all\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FeatureSet, E> {
                if v <= 0 {
                    return Err(E::custom(format!(
                        "a feature set needs at least one feature, got {v}"
                    )));
                }
                Ok(FeatureSet::Top(v as usize))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FeatureSet, E> {
                self.visit_i64(v as i64)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FeatureSet, E> {
                match v {
                    "all" => Ok(FeatureSet::All),
                    _ => v
                        .strip_prefix("top")
                        .and_then(|k| k.parse::<i64>().ok())
                        .map_or_else(
                            || {
                                Err(E::custom(format!(
                                    "unknown feature set '{v}': use a number (top k) or \"all\""
                                )))
                            },
                            |k| self.visit_i64(k),
                        ),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Split names a grid entry may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// Stratified random split.
    Random,
    /// Hospital split.
    Hospital,
}

impl SplitKind {
    /// `random` or `hospital`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Hospital => "hospital",
        }
    }
}

/// Grid defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// Feature sets (numbers = top k by importance, or "all").
    #[serde(default = "default_feature_sets")]
    pub feature_sets: Vec<FeatureSet>,
    /// Synthetic rows per cell.
    #[serde(default = "default_rows")]
    pub rows: Vec<usize>,
    /// Seeds per cell.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Splits (default: every split configured in `[splits]`).
    pub splits: Option<Vec<SplitKind>>,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            feature_sets: default_feature_sets(),
            rows: default_rows(),
            seeds: default_seeds(),
            splits: None,
        }
    }
}

fn default_feature_sets() -> Vec<FeatureSet> {
    vec![FeatureSet::Top(10), FeatureSet::All]
}

fn default_rows() -> Vec<usize> {
    vec![1000]
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// Which generator: a statistical one of [`ehrsynth_gen::registry::GENERATORS`], or the LLM
/// strategies. Written in the config as its name (`copula`, `bayesnet`, `llm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    /// A statistical generator.
    Statistical(&'static GeneratorEntry),
    /// An LLM with prompting strategies.
    Llm,
}

impl GeneratorKind {
    /// The generator called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        if name == registry::LLM {
            return Some(Self::Llm);
        }
        registry::find(name).map(Self::Statistical)
    }

    /// Its name: `copula`, `bayesnet`, `llm`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Statistical(entry) => entry.name,
            Self::Llm => registry::LLM,
        }
    }

    /// Whether it takes a differential-privacy budget.
    pub fn takes_epsilon(self) -> bool {
        matches!(self, Self::Statistical(entry) if entry.takes_epsilon)
    }
}

impl Serialize for GeneratorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for GeneratorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, registry::names()))
    }
}

/// One `[[generators]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// `copula`, `bayesnet` or `llm`.
    pub kind: GeneratorKind,
    /// Bayesian network: differential-privacy budgets (each a cell; omit for no DP).
    #[serde(default)]
    pub epsilon: Vec<f64>,
    /// Overrides `grid.feature_sets` for this entry.
    pub feature_sets: Option<Vec<FeatureSet>>,
    /// Overrides `grid.rows`.
    pub rows: Option<Vec<usize>>,
    /// Overrides `grid.seeds`.
    pub seeds: Option<Vec<u64>>,
    /// Overrides `grid.splits`.
    pub splits: Option<Vec<SplitKind>>,
    /// LLM: strategies (naive, schema, conditional, group).
    #[serde(default)]
    pub strategies: Vec<String>,
    /// LLM: providers (local, openai, anthropic, gemini, openai-compatible).
    #[serde(default)]
    pub providers: Vec<String>,
    /// LLM: model names (each crossed with each provider).
    #[serde(default)]
    pub models: Vec<String>,
    /// LLM: rows asked for per request (default 128 for `local`, 20 for the others).
    pub rows_per_request: Option<usize>,
    /// LLM: most requests per cell (default 3 × rows / rows_per_request + 5).
    pub max_requests: Option<usize>,
    /// LLM: output token limit per request.
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// LLM: sampling temperature.
    pub temperature: Option<f64>,
    /// LLM: ask for JSON rows with the provider's structured-output schema.
    #[serde(default)]
    pub structured: bool,
    /// LLM: server base URL (default: the provider's).
    pub base_url: Option<String>,
    /// LLM: environment variable holding the API key (default per provider).
    pub api_key_env: Option<String>,
    /// LLM: seconds to wait for an answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// LLM: the largest answer body read from a server, in MiB (default 8); a larger answer is a
    /// failed request.
    #[serde(default = "default_max_answer_mb")]
    pub max_answer_mb: usize,
    /// LLM: US dollars per million prompt tokens (default: the built-in price table, as
    /// `generate` uses it; 0 for servers beside the data).
    #[serde(default)]
    pub price_input: Option<f64>,
    /// LLM: US dollars per million completion tokens (default: the built-in price table).
    #[serde(default)]
    pub price_output: Option<f64>,
    /// LLM: real training rows per prompt (needs `allow_real_examples_for`, except for the
    /// in-process `local` provider, which shows 20 unless told otherwise).
    #[serde(default)]
    pub real_examples: Option<usize>,
    /// LLM: the one provider allowed to receive real rows (data use agreements!).
    pub allow_real_examples_for: Option<String>,
    /// LLM: reasoning effort for reasoning models (OpenAI o1: low, medium, high).
    pub reasoning_effort: Option<String>,
}

fn default_max_output_tokens() -> u32 {
    2048
}

fn default_timeout() -> u64 {
    300
}

fn default_max_answer_mb() -> usize {
    ehrsynth_llm::http::DEFAULT_MAX_ANSWER_BYTES >> 20
}

/// Audit settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Group columns for fairness (default: the schema's group columns).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Keep the group columns in every cell's table (besides its feature set), so fairness can
    /// be audited and the group strategy has its groups.
    #[serde(default = "default_true")]
    pub keep_group_columns: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            keep_group_columns: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// The cross-hospital matrix on the real data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrossHospitalConfig {
    /// Compute it (needs a site column).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The largest hospitals only, at most this many.
    #[serde(default = "default_max_hospitals")]
    pub max_hospitals: usize,
    /// Hospitals with fewer rows are left out.
    #[serde(default = "default_min_rows")]
    pub min_rows: usize,
}

impl Default for CrossHospitalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_hospitals: default_max_hospitals(),
            min_rows: default_min_rows(),
        }
    }
}

fn default_max_hospitals() -> usize {
    8
}

fn default_min_rows() -> usize {
    200
}

/// Spending limits of the LLM cells.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// US dollars for the whole study; cells stop (and later cells fail) once it is spent.
    pub max_cost_usd: Option<f64>,
    /// US dollars per cell.
    pub max_cost_per_cell_usd: Option<f64>,
    /// Tokens per cell.
    pub max_tokens_per_cell: Option<u64>,
}

impl StudyConfig {
    /// Parses and checks a config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, StudyError> {
        let config: StudyConfig = toml::from_str(text).map_err(|e| StudyError::Config {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| StudyError::Config {
            path: origin.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Self, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|e| StudyError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// The splits a generator entry runs on.
    pub fn splits_of(&self, generator: &GeneratorConfig) -> Vec<SplitKind> {
        generator
            .splits
            .clone()
            .or_else(|| self.grid.splits.clone())
            .unwrap_or_else(|| {
                let mut all = Vec::new();
                if self.splits.random.is_some() {
                    all.push(SplitKind::Random);
                }
                if self.splits.hospital.is_some() {
                    all.push(SplitKind::Hospital);
                }
                all
            })
    }

    /// Checks what serde cannot; the message names the key.
    fn check(&self) -> Result<(), String> {
        if self.splits.random.is_none() && self.splits.hospital.is_none() {
            return Err("[splits]: configure `random` and/or `hospital`".into());
        }
        if let Some(r) = &self.splits.random
            && !(r.holdout > 0.0 && r.holdout < 1.0)
        {
            return Err(format!(
                "splits.random.holdout must be between 0 and 1, got {}",
                r.holdout
            ));
        }
        if let Some(h) = &self.splits.hospital
            && let Some(share) = h.holdout_share
            && !(share > 0.0 && share < 1.0)
        {
            return Err(format!(
                "splits.hospital.holdout_share must be between 0 and 1, got {share}"
            ));
        }
        if self.generators.is_empty() {
            return Err("generators: the grid has no generator; add a [[generators]] entry".into());
        }
        check_list("grid.rows", &self.grid.rows, |&r| r > 0)?;
        check_list("grid.seeds", &self.grid.seeds, |_| true)?;
        check_list("grid.feature_sets", &self.grid.feature_sets, |_| true)?;
        for (i, g) in self.generators.iter().enumerate() {
            self.check_generator(i, g)?;
        }
        Ok(())
    }

    fn check_generator(&self, i: usize, g: &GeneratorConfig) -> Result<(), String> {
        let at = |key: &str| format!("generators[{i}].{key}");
        if let Some(rows) = &g.rows {
            check_list(&at("rows"), rows, |&r| r > 0)?;
        }
        if let Some(seeds) = &g.seeds {
            check_list(&at("seeds"), seeds, |_| true)?;
        }
        if let Some(sets) = &g.feature_sets {
            check_list(&at("feature_sets"), sets, |_| true)?;
        }
        for split in self.splits_of(g) {
            let configured = match split {
                SplitKind::Random => self.splits.random.is_some(),
                SplitKind::Hospital => self.splits.hospital.is_some(),
            };
            if !configured {
                return Err(format!(
                    "{}: split '{}' is not configured in [splits]",
                    at("splits"),
                    split.name()
                ));
            }
        }
        if g.epsilon.iter().any(|&e| e.is_nan() || e <= 0.0) {
            return Err(format!("{}: every epsilon must be > 0", at("epsilon")));
        }
        match g.kind {
            GeneratorKind::Llm => {
                check_list(&at("strategies"), &g.strategies, |s| {
                    ehrsynth_llm::prompt::Strategy::parse(s).is_ok()
                })
                .map_err(|e| format!("{e} (naive, schema, conditional, group)"))?;
                check_list(&at("providers"), &g.providers, |p| !p.is_empty())?;
                check_list(&at("models"), &g.models, |m| !m.is_empty())?;
                if g.rows_per_request == Some(0) {
                    return Err(format!("{} must be at least 1", at("rows_per_request")));
                }
                if !g.epsilon.is_empty() {
                    return Err(only_some_take_epsilon(&at("epsilon")));
                }
            }
            kind => {
                for (key, set) in [
                    ("strategies", !g.strategies.is_empty()),
                    ("providers", !g.providers.is_empty()),
                    ("models", !g.models.is_empty()),
                ] {
                    if set {
                        return Err(format!(
                            "{}: only llm generators take {key} (this one is {})",
                            at(key),
                            kind.name()
                        ));
                    }
                }
                if !kind.takes_epsilon() && !g.epsilon.is_empty() {
                    return Err(only_some_take_epsilon(&at("epsilon")));
                }
            }
        }
        Ok(())
    }
}

/// The error for an ε given to a generator that takes none.
fn only_some_take_epsilon(key: &str) -> String {
    format!(
        "{key}: only the {} takes epsilon",
        registry::epsilon_takers(|g| g.name)
    )
}

fn check_list<T>(key: &str, values: &[T], valid: impl Fn(&T) -> bool) -> Result<(), String> {
    if values.is_empty() {
        return Err(format!("{key} is empty"));
    }
    if !values.iter().all(valid) {
        return Err(format!("{key} holds an invalid value"));
    }
    Ok(())
}

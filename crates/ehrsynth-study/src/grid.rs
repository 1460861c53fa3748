//! The grid: a config expanded into its cells, in grid order, each with a stable id and the hash
//! of everything that determines its result (so an edited config recomputes exactly the cells
//! it changed).

use serde::Serialize;

use crate::config::{FeatureSet, GeneratorConfig, GeneratorKind, SplitKind, StudyConfig};
use crate::results::CellSpec;

/// One cell to run.
#[derive(Debug, Clone, PartialEq)]
pub struct CellPlan {
    /// What the cell is (its id included).
    pub spec: CellSpec,
    /// Index of its `[[generators]]` entry.
    pub generator: usize,
    /// Its feature set.
    pub feature_set: FeatureSet,
    /// Its split.
    pub split: SplitKind,
    /// Hash of the cell's settings, the data, splits and audit settings (hex).
    pub config_hash: String,
}

/// Model names as they may appear in ids: letters, digits, `.` and `-`.
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The cell id, e.g. `llm-group-local-smollm2-top10-n100-s1-random`.
pub fn cell_id(spec: &CellSpec) -> String {
    let mut parts = vec![spec.generator.clone()];
    if let Some(e) = spec.epsilon {
        parts.push(format!("eps{e}"));
    }
    for p in [&spec.strategy, &spec.provider, &spec.model]
        .into_iter()
        .flatten()
    {
        parts.push(id_part(p));
    }
    parts.push(spec.feature_set.clone());
    parts.push(format!("n{}", spec.rows));
    parts.push(format!("s{}", spec.seed));
    parts.push(spec.split.clone());
    parts.join("-")
}

/// 64-bit FNV-1a, as hex: stable across runs and platforms (unlike std's hasher).
pub fn stable_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What a cell's result depends on.
#[derive(Serialize)]
struct CellKey<'a> {
    spec: &'a CellSpec,
    generator: GeneratorConfig,
    data: &'a crate::config::DataConfig,
    splits: &'a crate::config::SplitsConfig,
    audit: &'a crate::config::AuditSettings,
    seed: u64,
}

fn hash_of(config: &StudyConfig, entry: &GeneratorConfig, spec: &CellSpec) -> String {
    // The entry's lists are what the grid expands over; the cell's own values are in its spec.
    let generator = GeneratorConfig {
        epsilon: Vec::new(),
        feature_sets: None,
        rows: None,
        seeds: None,
        splits: None,
        strategies: Vec::new(),
        providers: Vec::new(),
        models: Vec::new(),
        ..entry.clone()
    };
    let spec = CellSpec {
        feature_count: 0,
        ..spec.clone()
    };
    let key = CellKey {
        spec: &spec,
        generator,
        data: &config.data,
        splits: &config.splits,
        audit: &config.audit,
        seed: config.seed,
    };
    stable_hash(&serde_json::to_string(&key).unwrap_or_default())
}

/// (strategy, provider, model, epsilon) variants of one generator entry.
type Variant = (Option<String>, Option<String>, Option<String>, Option<f64>);

fn variants(entry: &GeneratorConfig) -> Vec<Variant> {
    match entry.kind {
        GeneratorKind::Llm => {
            let mut out = Vec::new();
            for s in &entry.strategies {
                for p in &entry.providers {
                    for m in &entry.models {
                        out.push((
                            Some(s.to_ascii_lowercase()),
                            Some(p.to_ascii_lowercase()),
                            Some(m.clone()),
                            None,
                        ));
                    }
                }
            }
            out
        }
        _ if entry.epsilon.is_empty() => vec![(None, None, None, None)],
        _ => entry
            .epsilon
            .iter()
            .map(|&e| (None, None, None, Some(e)))
            .collect(),
    }
}

/// Every cell of the grid, in grid order, without repeats (the first of equal ids is kept).
/// `n_features` (when known) caps top-k sets and sizes the `all` set.
pub fn expand(config: &StudyConfig, n_features: Option<usize>) -> Vec<CellPlan> {
    let mut cells: Vec<CellPlan> = Vec::new();
    for (g, entry) in config.generators.iter().enumerate() {
        let sets = entry
            .feature_sets
            .as_ref()
            .unwrap_or(&config.grid.feature_sets);
        let sizes = entry.rows.as_ref().unwrap_or(&config.grid.rows);
        let seeds = entry.seeds.as_ref().unwrap_or(&config.grid.seeds);
        for (strategy, provider, model, epsilon) in variants(entry) {
            for split in config.splits_of(entry) {
                for &set in sets {
                    for &rows in sizes {
                        for &seed in seeds {
                            let feature_count = match (set, n_features) {
                                (FeatureSet::Top(k), Some(n)) => k.min(n),
                                (FeatureSet::Top(k), None) => k,
                                (FeatureSet::All, n) => n.unwrap_or(0),
                            };
                            let mut spec = CellSpec {
                                id: String::new(),
                                generator: entry.kind.name().to_string(),
                                strategy: strategy.clone(),
                                provider: provider.clone(),
                                model: model.clone(),
                                epsilon,
                                feature_set: set.label(),
                                feature_count,
                                rows,
                                seed,
                                split: split.name().to_string(),
                            };
                            spec.id = cell_id(&spec);
                            if cells.iter().any(|c| c.spec.id == spec.id) {
                                continue;
                            }
                            let config_hash = hash_of(config, entry, &spec);
                            cells.push(CellPlan {
                                spec,
                                generator: g,
                                feature_set: set,
                                split,
                                config_hash,
                            });
                        }
                    }
                }
            }
        }
    }
    cells
}

/// Whether a cell id matches `--only`: `*` matches any text; without `*` a substring matches.
pub fn matches_pattern(id: &str, pattern: &str) -> bool {
    if !pattern.contains('*') {
        return id.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = id;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i + 1 == parts.len() {
            return part.is_empty() || rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

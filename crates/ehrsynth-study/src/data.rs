//! The real data of a study, prepared once: loaded (reference cohort, eICU or a file), split
//! (stratified and/or by hospital), and summarised (feature ranking on the real training rows,
//! cross-hospital matrix on the real rows).

use std::collections::BTreeMap;

use ehrsynth_cohort::eicu::{EicuOptions, build_eicu};
use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::encode::Encoder;
use ehrsynth_eval::model::gbdt::{Gbdt, GbdtParams};
use ehrsynth_eval::stats::classification::auroc;
use ehrsynth_eval::target::BinaryTarget;
use ehrsynth_table::split::{SiteHoldout, site_split, stratified_split};
use ehrsynth_table::{Progress, Role, Schema, Table};
use rayon::prelude::*;

use crate::StudyError;
use crate::config::{CrossHospitalConfig, DataConfig, SplitKind, SplitsConfig};
use crate::results::CrossHospitalMatrix;

/// The loaded real table.
pub struct RealData {
    /// Every real row.
    pub table: Table,
    /// Its schema (roles set).
    pub schema: Schema,
    /// The outcome column.
    pub target: String,
    /// The outcome's two classes (which label is the positive one).
    pub classes: BinaryTarget,
    /// What the data are, in words.
    pub description: String,
}

fn data_error(message: impl Into<String>) -> StudyError {
    StudyError::Data(message.into())
}

/// Loads the configured data.
pub fn load(config: &DataConfig, progress: &dyn Progress) -> Result<RealData, StudyError> {
    let (table, schema, description) = match config {
        DataConfig::Reference {
            rows,
            hospitals,
            seed,
        } => {
            let cohort = reference_cohort(&ReferenceConfig {
                rows: *rows,
                hospitals: *hospitals,
                seed: *seed,
            })
            .map_err(|e| data_error(format!("data (reference cohort): {e}")))?;
            (
                cohort.table,
                eicu_schema(),
                format!(
                    "simulated reference cohort, {rows} ICU stays from {hospitals} hospitals (seed {seed})"
                ),
            )
        }
        DataConfig::Eicu { dir, tables } => {
            let options = EicuOptions {
                table_files: tables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ..EicuOptions::default()
            };
            let cohort = build_eicu(dir, &options, progress)
                .map_err(|e| data_error(format!("data.dir {}: {e}", dir.display())))?;
            let n = cohort.table.n_rows();
            (
                cohort.table,
                cohort.schema,
                format!("eICU cohort from {}, {n} ICU stays", dir.display()),
            )
        }
        DataConfig::File { path, schema, .. } => {
            let schema = Schema::load(schema)
                .map_err(|e| data_error(format!("data.schema {}: {e}", schema.display())))?;
            let table = ehrsynth_table::io::read_table_with_progress(path, Some(&schema), progress)
                .map_err(|e| data_error(format!("data.path {}: {e}", path.display())))?;
            let n = table.n_rows();
            (table, schema, format!("{}, {n} rows", path.display()))
        }
    };
    let target = schema
        .target()
        .ok_or_else(|| data_error("the data's schema has no target column (role = \"target\")"))?
        .to_string();
    let positive = match config {
        DataConfig::File { positive, .. } => positive.as_deref(),
        _ => None,
    };
    let classes = BinaryTarget::infer(
        table
            .require(&target)
            .map_err(|e| data_error(format!("the target: {e}")))?,
        positive,
    )
    .map_err(|e| data_error(e.to_string()))?;
    Ok(RealData {
        table,
        schema,
        target,
        classes,
        description,
    })
}

/// Whether the data are the paper's kind: an outcome named `death` and at least half of the
/// paper's 83 eICU columns. Only then does the report speak of ICU stays and in-hospital death
/// and show the paper's published numbers beside ours.
pub fn eicu_shaped(schema: &Schema, target: &str) -> bool {
    let paper = eicu_schema();
    let shared = paper
        .names()
        .into_iter()
        .filter(|n| schema.column(n).is_some())
        .count();
    target == "death" && 2 * shared >= paper.columns().len()
}

/// Training and holdout rows of one split.
pub struct SplitData {
    /// Which split.
    pub kind: SplitKind,
    /// Real training rows.
    pub train: Table,
    /// Real holdout rows.
    pub holdout: Table,
}

/// Applies a configured split.
pub fn split(
    data: &RealData,
    splits: &SplitsConfig,
    kind: SplitKind,
    seed: u64,
) -> Result<SplitData, StudyError> {
    let split = match kind {
        SplitKind::Random => {
            let share = splits.random.as_ref().map_or(0.2, |r| r.holdout);
            stratified_split(&data.table, &data.target, share, seed)
                .map_err(|e| data_error(format!("splits.random: {e}")))?
        }
        SplitKind::Hospital => {
            let site = data.schema.site().ok_or_else(|| {
                data_error(
                    "splits.hospital: the data's schema has no site column (role = \"site\")",
                )
            })?;
            let config = splits
                .hospital
                .clone()
                .unwrap_or(crate::config::HospitalSplitConfig {
                    holdout_hospitals: Vec::new(),
                    holdout_share: None,
                });
            let holdout = if config.holdout_hospitals.is_empty() {
                SiteHoldout::Share(config.holdout_share.unwrap_or(0.2))
            } else {
                SiteHoldout::Sites(config.holdout_hospitals.clone())
            };
            site_split(&data.table, site, &holdout, seed)
                .map_err(|e| data_error(format!("splits.hospital: {e}")))?
        }
    };
    let (train, holdout) = split.apply(&data.table);
    Ok(SplitData {
        kind,
        train,
        holdout,
    })
}

/// Share of positive outcomes among labelled rows.
pub fn outcome_rate(table: &Table, classes: &BinaryTarget) -> f64 {
    let labels = labels(table, classes);
    let known: Vec<bool> = labels.into_iter().flatten().collect();
    if known.is_empty() {
        0.0
    } else {
        known.iter().filter(|&&y| y).count() as f64 / known.len() as f64
    }
}

/// Each row's outcome as a class (`None` = missing, or a label the classes do not know).
fn labels(table: &Table, classes: &BinaryTarget) -> Vec<Option<bool>> {
    table.column(&classes.column).map_or_else(Vec::new, |c| {
        classes
            .labels(c, "real")
            .unwrap_or_else(|_| vec![None; c.len()])
    })
}

/// The columns the cross-hospital models use: every column but ids, the site and the target.
fn model_features(schema: &Schema, target: &str) -> Vec<String> {
    schema
        .columns()
        .iter()
        .filter(|c| c.name != target && !matches!(c.role, Role::Id | Role::Site))
        .map(|c| c.name.clone())
        .collect()
}

/// Cross-hospital AUROC on the real rows: a GBDT trained on 70% of one hospital's rows, tested on
/// every other hospital's rows and on the remaining 30% of its own (the diagonal). Only hospitals
/// with `min_rows` rows and both outcomes, the largest `max_hospitals` of them.
///
/// Also returns what the reader should know about the sites left out: those below `min_rows`
/// or with one outcome only, those beyond `max_hospitals`, or why there is no matrix at all.
pub fn cross_hospital(
    data: &RealData,
    config: &CrossHospitalConfig,
    seed: u64,
) -> Result<(Option<CrossHospitalMatrix>, Option<String>), StudyError> {
    let Some(site) = data.schema.site() else {
        return Ok((None, None));
    };
    if !config.enabled {
        return Ok((
            None,
            Some(format!(
                "the data have a site column ('{site}'), but cross_hospital.enabled = false"
            )),
        ));
    }
    let sites = data
        .table
        .require(site)
        .map_err(|e| data_error(e.to_string()))?;
    let labels = labels(&data.table, &data.classes);
    let mut by_site: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        if !sites.is_missing(i) && label.is_some() {
            by_site
                .entry(sites.value(i).to_string())
                .or_default()
                .push(i);
        }
    }
    let by_site_count = by_site.len();
    let mut eligible: Vec<(String, Vec<usize>)> = by_site
        .into_iter()
        .filter(|(_, rows)| {
            let positives = rows.iter().filter(|&&i| labels[i] == Some(true)).count();
            rows.len() >= config.min_rows && positives > 0 && positives < rows.len()
        })
        .collect();
    let all_sites = by_site_count;
    let qualified = eligible.len();
    eligible.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    eligible.truncate(config.max_hospitals);
    let outcome = format!("{} = '{}'", data.classes.column, data.classes.positive);
    if eligible.len() < 2 {
        return Ok((
            None,
            Some(format!(
                "no cross-site matrix: {qualified} of the {all_sites} values of '{site}' have at least {} rows (cross_hospital.min_rows) with and without {outcome}; it needs two",
                config.min_rows
            )),
        ));
    }
    let mut left_out = Vec::new();
    if qualified < all_sites {
        left_out.push(format!(
            "{} of the {all_sites} values of '{site}' have fewer than {} rows (cross_hospital.min_rows) or rows of one outcome only",
            all_sites - qualified,
            config.min_rows
        ));
    }
    if eligible.len() < qualified {
        left_out.push(format!(
            "only the {} largest of the {qualified} that qualify are shown (cross_hospital.max_hospitals)",
            eligible.len()
        ));
    }
    let note = (!left_out.is_empty()).then(|| format!("Left out: {}.", left_out.join("; ")));
    let features = model_features(&data.schema, &data.target);
    let encoder = Encoder::fit(&data.table, &features).map_err(|e| data_error(e.to_string()))?;
    let x = encoder
        .model_matrix(&data.table)
        .map_err(|e| data_error(e.to_string()))?;
    let y =
        |rows: &[usize]| -> Vec<bool> { rows.iter().map(|&i| labels[i] == Some(true)).collect() };
    let auroc_rows: Vec<Vec<Option<f64>>> = eligible
        .par_iter()
        .enumerate()
        .map(|(i, (_, rows))| {
            // A seeded 70/30 cut of the hospital's own rows: 70% to fit, 30% for the diagonal.
            let (fit_rows, own_test): (Vec<usize>, Vec<usize>) = {
                let mut shuffled = rows.clone();
                use rand::SeedableRng;
                use rand::seq::SliceRandom;
                shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed + i as u64));
                let cut = shuffled.len() * 7 / 10;
                (shuffled[..cut].to_vec(), shuffled[cut..].to_vec())
            };
            let tx = x.take(&fit_rows);
            let ty: Vec<f32> = y(&fit_rows)
                .iter()
                .map(|&b| f32::from(u8::from(b)))
                .collect();
            let params = GbdtParams {
                n_trees: 50,
                max_depth: 4,
                seed,
                ..GbdtParams::default()
            };
            let Ok(model) = Gbdt::fit(&tx.data, tx.n_rows, tx.n_cols, &ty, &params) else {
                return vec![None; eligible.len()];
            };
            eligible
                .iter()
                .enumerate()
                .map(|(j, (_, other))| {
                    let test = if i == j { &own_test } else { other };
                    let hx = x.take(test);
                    auroc(&model.predict_proba(&hx.data, hx.n_rows), &y(test))
                })
                .collect()
        })
        .collect();
    let matrix = CrossHospitalMatrix {
        hospitals: eligible.into_iter().map(|(s, _)| s).collect(),
        auroc: auroc_rows,
    };
    Ok((Some(matrix), note))
}

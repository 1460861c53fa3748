//! The whole audit: one call that runs fidelity, utility, fairness and privacy on a real training
//! table, a real holdout table and a synthetic table sharing a schema, and returns one
//! serialisable [`AuditReport`] (the JSON layout documented in docs/metrics.md).

use std::collections::HashSet;
use std::time::Instant;

use ehrsynth_table::{ColumnKind, ColumnSpec, Progress, Role, Schema, Table};
use serde::{Deserialize, Serialize};

use crate::control::{ControlInputs, ControlReport, ControlTarget, control};
use crate::encode::Encoder;
use crate::error::EvalError;
use crate::fairness::{FairnessInputs, FairnessReport, fairness};
use crate::fidelity::{
    FidelityReport, MarginalMeans, absent_feature_fidelity, copies, feature_fidelity,
    mean_abs_difference, pair_associations, site_fidelity,
};
use crate::privacy::{PrivacyReport, privacy};
use crate::roles::{NamedRoles, check_roles, closest_name};
use crate::target::BinaryTarget;
use crate::utility::{Labelled, LogisticUtility, ModelKind, UtilityReport, per_site, three_ways};

/// Version of the JSON layout; bumped on any incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// What to audit and how.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// The outcome column (default: the schema's target).
    pub target: Option<String>,
    /// The site column (default: the schema's site).
    pub site: Option<String>,
    /// Group columns (default: the schema's group columns present in the synthetic table).
    pub groups: Vec<String>,
    /// The target's positive class (default: found by [`crate::target::POSITIVE_WORDS`]).
    pub positive: Option<String>,
    /// Seed for every random step.
    pub seed: u64,
    /// Leave out the control (the real holdout scored as if it were the synthetic table).
    pub skip_control: bool,
}

/// Row counts of the three tables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RowCounts {
    /// Real training rows.
    pub train: usize,
    /// Real holdout rows.
    pub holdout: usize,
    /// Synthetic rows.
    pub synthetic: usize,
}

/// Seconds spent per section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Timings {
    /// Fidelity, detection included.
    pub fidelity: f64,
    /// Utility.
    pub utility: f64,
    /// Fairness.
    pub fairness: f64,
    /// Privacy.
    pub privacy: f64,
    /// The control.
    #[serde(default)]
    pub control: f64,
}

/// The audit's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditReport {
    /// Always "ehrsynth-audit".
    pub format: String,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The ehrsynth version that wrote it.
    pub ehrsynth_version: String,
    /// The seed.
    pub seed: u64,
    /// The target column.
    pub target: Option<String>,
    /// The target's label read as the positive class ("1" for a 0/1 outcome).
    #[serde(default)]
    pub target_positive: Option<String>,
    /// The site column.
    pub site: Option<String>,
    /// The group columns.
    pub groups: Vec<String>,
    /// Row counts.
    pub rows: RowCounts,
    /// Columns audited (in the synthetic table and the schema, identifiers excluded).
    pub columns: Vec<String>,
    /// Columns the utility models use.
    pub model_features: Vec<String>,
    /// Things the reader should know (skipped sections, leaky features, dropped rows).
    pub notes: Vec<String>,
    /// Fidelity.
    pub fidelity: FidelityReport,
    /// Utility (absent without a target).
    pub utility: Option<UtilityReport>,
    /// Fairness (absent without group columns).
    pub fairness: Option<FairnessReport>,
    /// Privacy.
    pub privacy: Option<PrivacyReport>,
    /// The same headline figures for real holdout rows passed as the synthetic table: the ideal
    /// each figure above is read against (absent with too few holdout rows, or when skipped).
    #[serde(default)]
    pub control: Option<ControlReport>,
    /// Seconds per section.
    pub timings: Timings,
}

fn require_columns(table: &Table, names: &[&str], which: &str) -> Result<(), EvalError> {
    for n in names {
        if table.column(n).is_none() {
            return Err(EvalError::Invalid(format!(
                "the {which} table has no column '{n}', which the audit needs"
            )));
        }
    }
    Ok(())
}

/// The synthetic table's columns against the schema's: what it lacks and what it adds.
struct ColumnCheck<'a> {
    /// Schema columns (not ids) the synthetic table does not have; each counts as a total miss.
    missing: Vec<&'a ColumnSpec>,
    /// Synthetic columns the schema does not know; not audited.
    extra: Vec<String>,
}

impl<'a> ColumnCheck<'a> {
    fn of(schema: &'a Schema, train: &Table, synthetic: &Table) -> Self {
        let missing = schema
            .columns()
            .iter()
            .filter(|c| {
                c.role != Role::Id
                    && synthetic.column(&c.name).is_none()
                    && train.column(&c.name).is_some()
            })
            .collect();
        let extra = synthetic
            .column_names()
            .into_iter()
            .filter(|n| schema.column(n).is_none())
            .map(str::to_string)
            .collect();
        Self { missing, extra }
    }

    /// One note for the missing columns and one for the extra ones, a likely renaming named.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let missing: Vec<&str> = self.missing.iter().map(|c| c.name.as_str()).collect();
        if !missing.is_empty() {
            let shown = if missing.len() > 12 {
                format!(
                    "{}, ... (all in fidelity.missing_columns)",
                    missing[..12].join(", ")
                )
            } else {
                missing.join(", ")
            };
            notes.push(format!(
                "the synthetic table lacks {} of the schema's columns ({shown}); each counts as a total miss in the fidelity means",
                missing.len()
            ));
        }
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|e| match closest_name(e, &missing) {
                Some(m) => format!("{e} (renamed {m}?)"),
                None => e.clone(),
            })
            .collect();
        if !extra.is_empty() {
            notes.push(format!(
                "the synthetic table has {} the schema does not know, left out of the audit: {}",
                match extra.len() {
                    1 => "a column".to_string(),
                    n => format!("{n} columns"),
                },
                extra.join(", ")
            ));
        }
        notes
    }
}

/// Labels of the target column in one table, read by `target`'s two classes.
pub(crate) fn labels(
    table: &Table,
    target: &BinaryTarget,
    which: &str,
) -> Result<Vec<Option<bool>>, EvalError> {
    let c = table
        .column(&target.column)
        .ok_or_else(|| EvalError::MissingColumn(target.column.clone()))?;
    target.labels(c, which)
}

/// On a hospital split the non-members come from other hospitals than the members, so the
/// attacks and the DCR share measure the difference between hospitals as well as any leak.
fn split_by_site_note(train: &Table, holdout: &Table, site: &str) -> Option<String> {
    let all = |t: &Table| -> HashSet<String> {
        site_values(t, site, &(0..t.n_rows()).collect::<Vec<_>>())
            .into_iter()
            .collect()
    };
    let (members, others) = (all(train), all(holdout));
    (!members.is_empty() && !others.is_empty() && members.is_disjoint(&others)).then(|| {
        format!(
            "the holdout's {} hospitals are not among the training rows' {}: members and non-members differ by hospital, so privacy figures above 0.5 may show that difference, not a leak (judge leakage on a random split)",
            others.len(),
            members.len()
        )
    })
}

/// Rows with a known label, and those labels.
pub(crate) fn labelled_rows(labels: &[Option<bool>]) -> (Vec<usize>, Vec<bool>) {
    labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|b| (i, b)))
        .unzip()
}

fn site_values(table: &Table, site: &str, rows: &[usize]) -> Vec<String> {
    table.column(site).map_or_else(Vec::new, |c| {
        rows.iter().map(|&i| c.value(i).to_string()).collect()
    })
}

/// Runs the audit.
pub fn audit(
    schema: &Schema,
    train: &Table,
    holdout: &Table,
    synthetic: &Table,
    config: &AuditConfig,
    progress: &dyn Progress,
) -> Result<AuditReport, EvalError> {
    let mut notes = Vec::new();
    check_roles(
        &train.column_names(),
        NamedRoles {
            target: config.target.as_deref(),
            site: config.site.as_deref(),
            groups: &config.groups,
        },
    )?;
    let target = config
        .target
        .clone()
        .or_else(|| schema.target().map(str::to_string));
    let site = config
        .site
        .clone()
        .or_else(|| schema.site().map(str::to_string));
    let specs: Vec<&ColumnSpec> = schema
        .columns()
        .iter()
        .filter(|c| c.role != Role::Id && synthetic.column(&c.name).is_some())
        .collect();
    if specs.is_empty() {
        return Err(EvalError::Invalid(
            "the synthetic table shares no column with the schema".into(),
        ));
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    require_columns(train, &names, "real training")?;
    require_columns(holdout, &names, "real holdout")?;
    let groups: Vec<String> = if config.groups.is_empty() {
        schema
            .with_role(Role::Group)
            .into_iter()
            .filter(|g| names.contains(g))
            .map(str::to_string)
            .collect()
    } else {
        config.groups.clone()
    };
    for g in &groups {
        if !names.contains(&g.as_str()) {
            return Err(EvalError::Invalid(format!(
                "group column '{g}' is not among the audited columns"
            )));
        }
    }
    // The roles as resolved (named or from the schema) must still be one column each.
    let known: Vec<&str> = schema
        .names()
        .into_iter()
        .chain(train.column_names())
        .collect();
    check_roles(
        &known,
        NamedRoles {
            target: target.as_deref(),
            site: site.as_deref(),
            groups: &groups,
        },
    )?;
    let columns = ColumnCheck::of(schema, train, synthetic);
    notes.extend(columns.notes());
    let mut timings = Timings::default();

    // Fidelity.
    let clock = Instant::now();
    progress.start("fidelity", Some(specs.len() as u64), "columns");
    let mut features = specs
        .iter()
        .map(|s| {
            progress.advance(1);
            let (r, q) = (train.column(&s.name), synthetic.column(&s.name));
            match (r, q) {
                (Some(r), Some(q)) if Some(&s.name) == site.as_ref() => Ok(site_fidelity(s, r, q)),
                (Some(r), Some(q)) => Ok(feature_fidelity(s, r, q)),
                _ => Err(EvalError::MissingColumn(s.name.clone())),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    for spec in &columns.missing {
        if let Some(real) = train.column(&spec.name) {
            features.push(absent_feature_fidelity(spec, real, synthetic.n_rows()));
        }
    }
    let pairs = pair_associations(&specs, train, synthetic)?;
    let (exact_copy_share, duplicate_share) = copies(train, synthetic, &names)?;
    let exact_copy_share_baseline = if holdout.n_rows() > 0 {
        Some(copies(train, holdout, &names)?.0)
    } else {
        None
    };
    // Detection and privacy distances leave the site out: a hospital id is a label, and scaled
    // into a distance it would make hospital 264 "far" from hospital 73.
    let encoder_all = Encoder::fit(
        train,
        &names
            .iter()
            .filter(|n| Some(**n) != site.as_deref())
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )?;
    let detection =
        crate::detection::detection_report(&encoder_all, train, synthetic, config.seed)?;
    progress.finish("fidelity done");
    let constant: Vec<&str> = features
        .iter()
        .filter(|f| f.constant_in_real)
        .map(|f| f.name.as_str())
        .collect();
    if !constant.is_empty() {
        notes.push(format!(
            "{} constant in the real training rows, left out of the fidelity means: {}",
            if constant.len() == 1 {
                "one column is"
            } else {
                "columns are"
            },
            constant.join(", ")
        ));
    }
    let means = MarginalMeans::of(&features);
    let fidelity = FidelityReport {
        kl_mean: means.kl,
        ks_mean: means.ks,
        tvd_mean: means.tvd,
        out_of_range_share: means.out_of_range,
        correlation_mae: mean_abs_difference(pairs.iter().map(|p| (p.real, p.synthetic))),
        spearman_mae: mean_abs_difference(
            pairs
                .iter()
                .map(|p| (p.real_spearman, p.synthetic_spearman)),
        ),
        detection_auroc: detection.map(|d| d.auroc),
        detection_auroc_raw: detection.map(|d| d.raw),
        exact_copy_share,
        exact_copy_share_baseline,
        duplicate_share,
        features,
        pairs,
        missing_columns: columns.missing.iter().map(|c| c.name.clone()).collect(),
        extra_columns: columns.extra,
        constraints: ehrsynth_table::constraint::violations(schema, synthetic),
    };
    timings.fidelity = clock.elapsed().as_secs_f64();

    // Utility.
    let clock = Instant::now();
    let model_features: Vec<String> = specs
        .iter()
        .filter(|s| Some(&s.name) != target.as_ref() && Some(&s.name) != site.as_ref())
        .map(|s| s.name.clone())
        .collect();
    let leaky: Vec<&str> = specs
        .iter()
        .filter(|s| s.known_after_outcome && model_features.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !leaky.is_empty() {
        notes.push(format!(
            "the utility models use {}, known only after the outcome: scores are optimistic (label leakage), as in the paper",
            leaky.join(", ")
        ));
    }
    let mut utility = None;
    let mut fairness_report = None;
    let mut positive_class = None;
    let mut control_target: Option<(BinaryTarget, Encoder)> = None;
    match target.as_deref().filter(|t| names.contains(t)) {
        None => notes.push(
            "no target column among the audited columns: utility and fairness were skipped".into(),
        ),
        Some(_) if model_features.is_empty() => {
            notes.push("no feature column besides the target: utility skipped".into())
        }
        Some(target_name) => {
            progress.start("utility", None, "models");
            let encoder = Encoder::fit(train, &model_features)?;
            let classes = BinaryTarget::infer(
                train
                    .column(target_name)
                    .ok_or_else(|| EvalError::MissingColumn(target_name.to_string()))?,
                config.positive.as_deref(),
            )?;
            if classes.positive != "1" {
                notes.push(format!(
                    "target '{target_name}': '{}' is the positive class{}",
                    classes.positive,
                    classes
                        .negative
                        .as_ref()
                        .map_or_else(String::new, |n| format!(", '{n}' the negative"))
                ));
            }
            positive_class = Some(classes.positive.clone());
            let (tr_rows, tr_y) = labelled_rows(&labels(train, &classes, "real training")?);
            let (ho_rows, ho_y) = labelled_rows(&labels(holdout, &classes, "real holdout")?);
            let (sy_rows, sy_y) = labelled_rows(&labels(synthetic, &classes, "synthetic")?);
            let dropped = train.n_rows() - tr_rows.len() + holdout.n_rows() - ho_rows.len()
                + synthetic.n_rows()
                - sy_rows.len();
            if dropped > 0 {
                notes.push(format!(
                    "{dropped} rows with a missing target were left out of the utility models"
                ));
            }
            let tr_x = encoder.model_matrix(&train.take(&tr_rows))?;
            let ho_x = encoder.model_matrix(&holdout.take(&ho_rows))?;
            let sy_x = encoder.model_matrix(&synthetic.take(&sy_rows))?;
            let (real_l, hold_l, syn_l) = (
                Labelled { x: &tr_x, y: &tr_y },
                Labelled { x: &ho_x, y: &ho_y },
                Labelled { x: &sy_x, y: &sy_y },
            );
            let ((within, across, trtr, tstr), (lw, la, lt, _)) = rayon::join(
                || three_ways(ModelKind::Gbdt, &real_l, &hold_l, &syn_l, config.seed),
                || three_ways(ModelKind::Logistic, &real_l, &hold_l, &syn_l, config.seed),
            );
            progress.advance(2);
            let predictions = tstr.as_ref().map(|m| m.predict(&ho_x));
            let (sites, unseen_sites_pooled) = match (&site, &predictions) {
                (Some(site_col), Some(pred))
                    if holdout.column(site_col).is_some() && train.column(site_col).is_some() =>
                {
                    let train_sites: HashSet<String> =
                        site_values(train, site_col, &(0..train.n_rows()).collect::<Vec<_>>())
                            .into_iter()
                            .collect();
                    per_site(
                        pred,
                        &ho_y,
                        &site_values(holdout, site_col, &ho_rows),
                        &train_sites,
                        sy_y.len(),
                        config.seed,
                    )
                }
                _ => (Vec::new(), None),
            };
            control_target = Some((classes, encoder));
            utility = Some(UtilityReport {
                within,
                across,
                trtr,
                logistic: LogisticUtility {
                    within: lw,
                    across: la,
                    trtr: lt,
                },
                sites,
                unseen_sites_pooled,
            });
            progress.finish("utility done");
            timings.utility = clock.elapsed().as_secs_f64();

            if !groups.is_empty() {
                let clock = Instant::now();
                let holdout_labelled = holdout.take(&ho_rows);
                let positive_rate =
                    tr_y.iter().filter(|&&b| b).count() as f64 / tr_y.len().max(1) as f64;
                fairness_report = Some(fairness(&FairnessInputs {
                    features: &specs,
                    groups: &groups,
                    real: train,
                    synthetic,
                    holdout: &holdout_labelled,
                    predictions: predictions.as_deref(),
                    labels: &ho_y,
                    positive_rate,
                })?);
                timings.fairness = clock.elapsed().as_secs_f64();
            }
        }
    }

    // Privacy.
    let across_sites = site
        .as_deref()
        .and_then(|s| split_by_site_note(train, holdout, s));
    if let Some(note) = &across_sites {
        notes.push(note.clone());
    }
    let clock = Instant::now();
    progress.start("privacy", None, "steps");
    let train_distances = encoder_all.distance_matrix(train)?;
    let holdout_distances = encoder_all.distance_matrix(holdout)?;
    let privacy_report = match privacy(
        &train_distances,
        &holdout_distances,
        &encoder_all.distance_matrix(synthetic)?,
        config.seed,
    ) {
        Ok(report) => Some(PrivacyReport {
            non_members_from_other_sites: across_sites.is_some(),
            ..report
        }),
        Err(e) => {
            notes.push(format!("privacy skipped: {e}"));
            None
        }
    };
    progress.finish("privacy done");
    timings.privacy = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let control_report = if config.skip_control {
        None
    } else {
        progress.start("control (real holdout as synthetic)", None, "steps");
        let result = control(&ControlInputs {
            specs: &specs,
            site: site.as_deref(),
            train,
            holdout,
            synthetic_rows: synthetic.n_rows(),
            encoder: &encoder_all,
            train_distances: &train_distances,
            holdout_distances: &holdout_distances,
            target: control_target
                .as_ref()
                .map(|(target, encoder)| ControlTarget { target, encoder }),
            seed: config.seed,
        });
        progress.finish("control done");
        result
            .map_err(|e| notes.push(format!("no control figures: {e}")))
            .ok()
    };
    timings.control = clock.elapsed().as_secs_f64();

    let categorical = specs
        .iter()
        .filter(|s| s.kind == ColumnKind::Categorical)
        .count();
    if categorical > 0 {
        notes.push(format!("{categorical} categorical columns are one-hot encoded (at most 64 most frequent categories each)"));
    }
    Ok(AuditReport {
        format: "ehrsynth-audit".into(),
        version: REPORT_VERSION,
        ehrsynth_version: env!("CARGO_PKG_VERSION").into(),
        seed: config.seed,
        target,
        target_positive: positive_class,
        site,
        groups,
        rows: RowCounts {
            train: train.n_rows(),
            holdout: holdout.n_rows(),
            synthetic: synthetic.n_rows(),
        },
        columns: names.iter().map(|s| s.to_string()).collect(),
        model_features,
        notes,
        fidelity,
        utility,
        fairness: fairness_report,
        privacy: privacy_report,
        control: control_report,
        timings,
    })
}

//! The eICU day-1 mortality cohort: eICU's own CSV(.gz) tables in, one row per ICU stay with the
//! 83 columns of [`crate::features`] out.
//!
//! Steps: select stays ([`stays`]); find each stay's admission time, the first charted heart rate
//! ([`vitals::heart_rate_span`]); then stream the big tables once each, keeping only the cohort's
//! rows inside the time windows, so memory follows the cohort and not the source
//! ([`vitals`], [`labs`], [`urine`]); finally summarise per stay. A table that is absent leaves its
//! features missing, with one warning naming it. docs/eicu.md records every definition and where
//! eICU v2 forced a choice.

pub mod hourly;
pub mod labs;
pub mod source;
pub mod stays;
pub mod urine;
pub mod vitals;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ehrsynth_table::{Column, ColumnKind, Progress, Schema, Table};

use crate::error::CohortError;
use crate::features::{LAB_SUFFIXES, LABS, RACE_FLAGS, VITAL_SUFFIXES, VITALS, eicu_schema};
use source::SourceDir;
pub use stays::FirstStayOrder;
use stays::PatientRow;
use vitals::VitalSource;

/// Options of the eICU builder.
#[derive(Debug, Clone, Default)]
pub struct EicuOptions {
    /// Per-table file overrides, e.g. `lab` -> a lab extract with eICU's lab columns.
    pub table_files: HashMap<String, PathBuf>,
    /// How the one stay per patient is chosen.
    pub first_stay: FirstStayOrder,
}

/// Rows left after one exclusion step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionStep {
    /// What the step keeps.
    pub label: String,
    /// Stays left after it.
    pub remaining: usize,
}

/// The built cohort and how it was built.
#[derive(Debug, Clone)]
pub struct EicuCohort {
    /// One row per stay, the 83 columns in schema order.
    pub table: Table,
    /// The schema with roles set.
    pub schema: Schema,
    /// Stays left after each exclusion, in order.
    pub steps: Vec<ExclusionStep>,
    /// Warnings about absent tables and fallbacks, one per cause.
    pub warnings: Vec<String>,
}

/// Builds the cohort from the eICU tables in `dir`.
pub fn build_eicu(
    dir: &Path,
    options: &EicuOptions,
    progress: &dyn Progress,
) -> Result<EicuCohort, CohortError> {
    let source = SourceDir::new(dir, options.table_files.clone())?;
    let mut warnings = Vec::new();
    let require = |name: &str| {
        source.find(name).ok_or_else(|| {
            CohortError::Input(format!(
                "{}: no {name}.csv.gz or {name}.csv; the cohort cannot be built without it",
                source.dir().display()
            ))
        })
    };
    let patients = stays::read_patients(&require(source::PATIENT)?, progress)?;
    let apache = stays::read_apache(&require(source::APACHE_RESULT)?, progress)?;
    let elective = match source.find(source::APACHE_PRED) {
        Some(p) => stays::read_elective(&p, progress)?,
        None => {
            warnings.push(absent(
                &source,
                source::APACHE_PRED,
                "electivesurgery is 0 for every stay",
            ));
            HashMap::new()
        }
    };

    let vital_source = choose_vital_source(&source, &mut warnings);
    let mut steps = Vec::new();
    let candidates = select_before_admission(&patients, &apache, options.first_stay, &mut steps);
    let candidate_index: HashMap<i64, u32> = candidates
        .iter()
        .enumerate()
        .map(|(i, p)| (p.stay, i as u32))
        .collect();
    let has_hr_source = !matches!(vital_source, VitalSource::Monitors { periodic: None, .. });
    let spans = vitals::heart_rate_span(&vital_source, &candidate_index, progress)?;
    if !has_hr_source {
        warnings.push(
            "no heart-rate source (nurseCharting and vitalPeriodic are both absent): admission time is \
             the unit admission (offset 0) for every stay, and no stay is excluded for lacking a heart rate"
                .to_string(),
        );
    }
    let cohort: Vec<&PatientRow> = candidates
        .into_iter()
        .filter(|p| p.has_discharge_status() && (!has_hr_source || spans.contains_key(&p.stay)))
        .collect();
    steps.push(step(
        if has_hr_source {
            "known discharge status and a charted heart rate"
        } else {
            "known discharge status"
        },
        cohort.len(),
    ));

    let index: HashMap<i64, u32> = cohort
        .iter()
        .enumerate()
        .map(|(i, p)| (p.stay, i as u32))
        .collect();
    let admit: Vec<f64> = cohort
        .iter()
        .map(|p| spans.get(&p.stay).map_or(0.0, |s| s.0))
        .collect();
    let day_one = vitals::day_one_vitals(&vital_source, &index, &admit, progress)?;
    let labs = match source.find(source::LAB) {
        Some(p) => Some(labs::early_labs(&p, &index, &admit, progress)?),
        None => {
            warnings.push(absent(
                &source,
                source::LAB,
                "the 42 lab and blood-gas columns are missing",
            ));
            None
        }
    };
    let urine = match source.find(source::INTAKE_OUTPUT) {
        Some(p) => Some(urine::urine_output(&p, &index, &admit, progress)?),
        None => {
            warnings.push(absent(
                &source,
                source::INTAKE_OUTPUT,
                "urineoutput_sum is missing",
            ));
            None
        }
    };

    let schema = eicu_schema();
    let table = assemble(
        &schema,
        &cohort,
        &admit,
        &apache,
        &elective,
        &day_one,
        labs.as_deref(),
        urine.as_deref(),
    )?;
    let report = schema.validate_table(&table)?;
    if !report.rejected.is_empty() {
        warnings.push(format!(
            "{} of {} stays have a value outside the schema's valid range (see `ehrsynth evaluate` for which)",
            report.rejected.len(),
            table.n_rows()
        ));
    }
    Ok(EicuCohort {
        table,
        schema,
        steps,
        warnings,
    })
}

fn absent(source: &SourceDir, table: &str, consequence: &str) -> String {
    format!(
        "table {table} is absent from {}: {consequence}",
        source.dir().display()
    )
}

fn step(label: &str, remaining: usize) -> ExclusionStep {
    ExclusionStep {
        label: label.to_string(),
        remaining,
    }
}

/// nurseCharting when present; else the monitor tables, with warnings naming what is absent.
fn choose_vital_source(source: &SourceDir, warnings: &mut Vec<String>) -> VitalSource {
    if let Some(p) = source.find(source::NURSE_CHARTING) {
        return VitalSource::NurseCharting(p);
    }
    let periodic = source.find(source::VITAL_PERIODIC);
    let aperiodic = source.find(source::VITAL_APERIODIC);
    let mut note = format!(
        "table {} is absent from {}: vitals come from vitalPeriodic and vitalAperiodic instead",
        source::NURSE_CHARTING,
        source.dir().display()
    );
    if periodic.is_none() {
        note.push_str(
            "; vitalPeriodic is absent too, so heartrate, resprate, tempc, spo2 and invasive pressures are missing",
        );
    }
    if aperiodic.is_none() {
        note.push_str("; vitalAperiodic is absent, so non-invasive pressures are missing");
    }
    warnings.push(note);
    VitalSource::Monitors {
        periodic,
        aperiodic,
    }
}

/// The exclusions that need no vitals, in the original order, recording each step.
fn select_before_admission<'a>(
    patients: &'a [PatientRow],
    apache: &HashMap<i64, stays::Apache>,
    order: FirstStayOrder,
    steps: &mut Vec<ExclusionStep>,
) -> Vec<&'a PatientRow> {
    steps.push(step("all unit stays", patients.len()));
    let icu: Vec<&PatientRow> = patients
        .iter()
        .filter(|p| p.unit_type.to_ascii_lowercase().contains("icu"))
        .collect();
    steps.push(step("unit type is an ICU", icu.len()));
    let first: HashSet<i64> = stays::first_stays(&icu, order);
    let adults: Vec<&PatientRow> = icu
        .into_iter()
        .filter(|p| p.age_for_exclusion().is_none_or(|a| a >= 16.0))
        .collect();
    steps.push(step("age 16 or over (unknown age kept)", adults.len()));
    let firsts: Vec<&PatientRow> = adults
        .into_iter()
        .filter(|p| first.contains(&p.stay))
        .collect();
    steps.push(step("first ICU stay of the patient", firsts.len()));
    let scored: Vec<&PatientRow> = firsts
        .into_iter()
        .filter(|p| {
            apache
                .get(&p.stay)
                .and_then(|a| a.predicted_mortality)
                .is_some_and(|m| m > 0.0)
        })
        .collect();
    steps.push(step(
        "APACHE IVa predicted hospital mortality > 0",
        scored.len(),
    ));
    scored
}

/// Builds the output table in schema order.
#[allow(clippy::too_many_arguments)]
fn assemble(
    schema: &Schema,
    cohort: &[&PatientRow],
    admit: &[f64],
    apache: &HashMap<i64, stays::Apache>,
    elective: &HashMap<i64, bool>,
    vitals: &[vitals::StayVitals],
    labs: Option<&[labs::StayLabs]>,
    urine: Option<&[f64]>,
) -> Result<Table, CohortError> {
    let mut values: HashMap<String, Vec<Option<f64>>> = HashMap::new();
    let mut put = |name: String, i: usize, v: Option<f64>| {
        values
            .entry(name)
            .or_insert_with(|| vec![None; cohort.len()])[i] = v;
    };
    for (i, p) in cohort.iter().enumerate() {
        let apache = apache.get(&p.stay).copied().unwrap_or_default();
        let flag = |b: bool| Some(if b { 1.0 } else { 0.0 });
        put("patientunitstayid".into(), i, Some(p.stay as f64));
        put("hospitalid".into(), i, p.hospital.map(|h| h as f64));
        put("death".into(), i, flag(p.died()));
        put(
            "hosp_los".into(),
            i,
            p.hospital_discharge_offset.map(|d| (d - admit[i]) / 1440.0),
        );
        put("ventdays".into(), i, apache.vent_days.map(|d| d as f64));
        for (v, series) in VITALS.iter().zip(&vitals[i]) {
            let s = series.summary(0, 24);
            let picks: [fn(hourly::Summary) -> f64; 4] =
                [|s| s.first, |s| s.last, |s| s.min, |s| s.max];
            for (suffix, pick) in VITAL_SUFFIXES.iter().zip(picks) {
                put(format!("{}_{suffix}", v.name), i, s.map(pick));
            }
        }
        if let Some(labs) = labs {
            for (l, series) in LABS.iter().zip(&labs[i]) {
                let s = series.summary(-24, 24);
                put(
                    format!("{}_{}", l.name, LAB_SUFFIXES[0]),
                    i,
                    s.map(|s| s.first),
                );
                put(
                    format!("{}_{}", l.name, LAB_SUFFIXES[1]),
                    i,
                    s.map(|s| s.last),
                );
            }
        }
        put("urineoutput_sum".into(), i, urine.map(|u| u[i]));
        put("is_female".into(), i, flag(p.gender == "Female"));
        put("age".into(), i, p.age_years());
        for (flag_name, ethnicity) in RACE_FLAGS {
            let set = match ethnicity {
                Some(e) => p.ethnicity == e,
                None => {
                    !p.ethnicity.is_empty()
                        && !RACE_FLAGS
                            .iter()
                            .any(|(_, e)| *e == Some(p.ethnicity.as_str()))
                }
            };
            put(flag_name.into(), i, flag(set));
        }
        put(
            "electivesurgery".into(),
            i,
            flag(elective.get(&p.stay).copied().unwrap_or(false)),
        );
    }
    let columns = schema
        .columns()
        .iter()
        .map(|spec| {
            let v = values
                .remove(&spec.name)
                .unwrap_or_else(|| vec![None; cohort.len()]);
            let column = Column::continuous(&spec.name, &v);
            column.cast(spec.kind).map_err(|(row, value)| {
                CohortError::Input(format!(
                    "internal: column {} row {row} value {value} does not fit",
                    spec.name
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    debug_assert!(
        schema
            .columns()
            .iter()
            .all(|c| c.kind != ColumnKind::Categorical)
    );
    Ok(Table::new(columns)?)
}

//! Which ICU stays enter the cohort, and their static columns, from `patient`,
//! `apachePatientResult` and `apachePredVar`.
//!
//! The exclusions follow alistairewj/icu-model-transfer's cohort.sql (see docs/eicu.md): ICU units
//! only; age >= 16; one stay per patient (the first by the original ordering); APACHE IVa
//! predicted hospital mortality present and > 0; a known discharge status and, where a
//! heart-rate source exists, at least one charted heart rate.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

use ehrsynth_table::Progress;

use super::source::stream;
use crate::error::CohortError;

/// How the one stay per patient is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstStayOrder {
    /// As the original SQL: order by hospital discharge year, age, health-system stay id, then
    /// hospital admit offset ascending (eICU v2 has no hospitaladmityear, so that key is dropped).
    /// Within one hospitalisation this picks the *later* unit stay, a quirk kept for fidelity.
    #[default]
    Original,
    /// The earliest unit stay of the patient's first hospitalisation.
    EarliestUnitStay,
}

/// One row of `patient`, with what the builder needs.
#[derive(Debug, Clone, Default)]
pub struct PatientRow {
    /// patientunitstayid.
    pub stay: i64,
    /// patienthealthsystemstayid.
    pub health_system_stay: Option<i64>,
    /// uniquepid.
    pub patient: String,
    /// gender.
    pub gender: String,
    /// age as written ("> 89", "45", "").
    pub age: String,
    /// ethnicity.
    pub ethnicity: String,
    /// hospitalid.
    pub hospital: Option<i64>,
    /// hospitaladmitoffset (minutes, <= 0).
    pub hospital_admit_offset: Option<f64>,
    /// hospitaldischargeyear.
    pub discharge_year: Option<i64>,
    /// hospitaldischargeoffset (minutes).
    pub hospital_discharge_offset: Option<f64>,
    /// hospitaldischargestatus.
    pub hospital_status: String,
    /// unittype.
    pub unit_type: String,
    /// unitdischargestatus.
    pub unit_status: String,
}

impl PatientRow {
    /// Age as the exclusion reads it: "> 89" is 89, empty is unknown.
    pub fn age_for_exclusion(&self) -> Option<f64> {
        ehrsynth_table::cell::parse_number(&self.age.replace('>', ""))
    }

    /// Age as the output column holds it: "> 89" is 90.
    pub fn age_years(&self) -> Option<f64> {
        if self.age.trim_start().starts_with('>') {
            Some(90.0)
        } else {
            ehrsynth_table::cell::parse_number(&self.age)
        }
    }

    /// Died in hospital or in the unit.
    pub fn died(&self) -> bool {
        self.hospital_status == "Expired" || self.unit_status == "Expired"
    }

    /// Whether a discharge status is known at all.
    pub fn has_discharge_status(&self) -> bool {
        !self.hospital_status.is_empty() || !self.unit_status.is_empty()
    }
}

/// Reads every row of `patient`.
pub fn read_patients(path: &Path, progress: &dyn Progress) -> Result<Vec<PatientRow>, CohortError> {
    let columns = [
        "patientunitstayid",
        "patienthealthsystemstayid",
        "uniquepid",
        "gender",
        "age",
        "ethnicity",
        "hospitalid",
        "hospitaladmitoffset",
        "hospitaldischargeyear",
        "hospitaldischargeoffset",
        "hospitaldischargestatus",
        "unittype",
        "unitdischargestatus",
    ];
    let mut rows = Vec::new();
    stream(path, &columns, progress, |r| {
        let stay = r.integer(0).ok_or_else(|| {
            CohortError::Input(format!(
                "{}, line {}: patientunitstayid '{}' is not a whole number",
                path.display(),
                r.line,
                r.text(0)
            ))
        })?;
        rows.push(PatientRow {
            stay,
            health_system_stay: r.integer(1),
            patient: r.text(2).to_string(),
            gender: r.text(3).to_string(),
            age: r.text(4).to_string(),
            ethnicity: r.text(5).to_string(),
            hospital: r.integer(6),
            hospital_admit_offset: r.number(7),
            discharge_year: r.integer(8),
            hospital_discharge_offset: r.number(9),
            hospital_status: r.text(10).to_string(),
            unit_type: r.text(11).to_string(),
            unit_status: r.text(12).to_string(),
        });
        Ok(())
    })?;
    Ok(rows)
}

/// Compares optional keys with missing values last, as SQL's ascending NULLS LAST.
fn nulls_last<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The stay ids ranked first for their patient among `rows` (which are already ICU stays).
pub fn first_stays(rows: &[&PatientRow], order: FirstStayOrder) -> std::collections::HashSet<i64> {
    let mut by_patient: HashMap<&str, Vec<&PatientRow>> = HashMap::new();
    for r in rows {
        by_patient.entry(r.patient.as_str()).or_default().push(r);
    }
    by_patient
        .into_values()
        .filter_map(|stays| {
            stays
                .into_iter()
                .min_by(|a, b| {
                    let keys = nulls_last(a.discharge_year, b.discharge_year)
                        .then(nulls_last(a.age_for_exclusion(), b.age_for_exclusion()))
                        .then(nulls_last(a.health_system_stay, b.health_system_stay));
                    let offset = match order {
                        FirstStayOrder::Original => {
                            nulls_last(a.hospital_admit_offset, b.hospital_admit_offset)
                        }
                        FirstStayOrder::EarliestUnitStay => {
                            nulls_last(b.hospital_admit_offset, a.hospital_admit_offset)
                        }
                    };
                    keys.then(offset).then(a.stay.cmp(&b.stay))
                })
                .map(|r| r.stay)
        })
        .collect()
}

/// APACHE IVa values of one stay.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apache {
    /// predictedhospitalmortality (-1 = not computed).
    pub predicted_mortality: Option<f64>,
    /// actualventdays, rounded to a whole number.
    pub vent_days: Option<i64>,
}

/// APACHE IVa rows of `apachePatientResult`, by stay.
pub fn read_apache(
    path: &Path,
    progress: &dyn Progress,
) -> Result<HashMap<i64, Apache>, CohortError> {
    let columns = [
        "patientunitstayid",
        "apacheversion",
        "predictedhospitalmortality",
        "actualventdays",
    ];
    let mut out = HashMap::new();
    stream(path, &columns, progress, |r| {
        if r.text(1) == "IVa"
            && let Some(stay) = r.integer(0)
        {
            out.insert(
                stay,
                Apache {
                    predicted_mortality: r.number(2),
                    // Postgres casts double to integer by rounding half to even.
                    vent_days: r.number(3).map(|d| d.round_ties_even() as i64),
                },
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// `electivesurgery` of `apachePredVar` by stay (missing counts as 0 later).
pub fn read_elective(
    path: &Path,
    progress: &dyn Progress,
) -> Result<HashMap<i64, bool>, CohortError> {
    let mut out = HashMap::new();
    stream(
        path,
        &["patientunitstayid", "electivesurgery"],
        progress,
        |r| {
            if let (Some(stay), Some(flag)) = (r.integer(0), r.integer(1)) {
                out.insert(stay, flag == 1);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stay: i64, patient: &str, hss: i64, offset: f64) -> PatientRow {
        PatientRow {
            stay,
            patient: patient.into(),
            health_system_stay: Some(hss),
            hospital_admit_offset: Some(offset),
            discharge_year: Some(2015),
            age: "70".into(),
            ..Default::default()
        }
    }

    #[test]
    fn first_stay_follows_the_original_ordering_quirk() {
        let rows = [
            row(1, "a", 10, -8.0),
            row(2, "a", 10, -2258.0),
            row(3, "a", 11, 0.0),
            row(4, "b", 12, 0.0),
        ];
        let refs: Vec<&PatientRow> = rows.iter().collect();
        let original = first_stays(&refs, FirstStayOrder::Original);
        assert!(original.contains(&2) && original.contains(&4) && original.len() == 2);
        let earliest = first_stays(&refs, FirstStayOrder::EarliestUnitStay);
        assert!(earliest.contains(&1) && earliest.contains(&4));
    }

    #[test]
    fn ages_parse_as_the_sql_does() {
        let mut r = row(1, "a", 1, 0.0);
        r.age = "> 89".into();
        assert_eq!(
            (r.age_for_exclusion(), r.age_years()),
            (Some(89.0), Some(90.0))
        );
        r.age = String::new();
        assert_eq!((r.age_for_exclusion(), r.age_years()), (None, None));
    }
}

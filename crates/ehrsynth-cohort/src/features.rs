//! The 83 columns of the eICU day-1 mortality table (82 predictors + `death`), following Johnson,
//! Pollard and Naumann 2018 (alistairewj/icu-model-transfer): names, kinds, units, valid ranges,
//! descriptions and roles. Both the eICU builder and the reference cohort produce exactly these
//! columns, in this order, and write [`eicu_schema`] beside their output.

use ehrsynth_table::{ColumnKind, ColumnSpec, Constraint, Role, Schema};

/// A vital sign summarised as `_first`, `_last`, `_min`, `_max` over hours [0, 24].
#[derive(Debug, Clone, Copy)]
pub struct Vital {
    /// Base name (heartrate, sysbp, ...).
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Valid range; values outside are dropped when the table is built.
    pub range: (f64, f64),
    /// What it is.
    pub description: &'static str,
}

/// A laboratory or blood-gas value summarised as `_first_early`, `_last_early` over [-24, 24] h.
#[derive(Debug, Clone, Copy)]
pub struct Lab {
    /// Base name (lactate, bg_pao2, ...).
    pub name: &'static str,
    /// eICU `lab.labname` values that feed it (empty for the derived P/F ratio).
    pub labnames: &'static [&'static str],
    /// Unit.
    pub unit: &'static str,
    /// Valid range; results outside are dropped when the table is built.
    pub range: (f64, f64),
    /// What it is.
    pub description: &'static str,
}

/// The seven vitals, in the paper's order.
pub const VITALS: [Vital; 7] = [
    Vital {
        name: "heartrate",
        unit: "beats/min",
        range: (25.0, 225.0),
        description: "heart rate",
    },
    Vital {
        name: "sysbp",
        unit: "mmHg",
        range: (1.0, 300.0),
        description: "systolic blood pressure (invasive if charted, else non-invasive)",
    },
    Vital {
        name: "diasbp",
        unit: "mmHg",
        range: (1.0, 200.0),
        description: "diastolic blood pressure (invasive if charted, else non-invasive)",
    },
    Vital {
        name: "meanbp",
        unit: "mmHg",
        range: (1.0, 250.0),
        description: "mean arterial pressure (invasive if charted, else non-invasive)",
    },
    Vital {
        name: "resprate",
        unit: "breaths/min",
        range: (0.0, 60.0),
        description: "respiratory rate",
    },
    Vital {
        name: "tempc",
        unit: "°C",
        range: (25.0, 46.0),
        description: "body temperature",
    },
    Vital {
        name: "spo2",
        unit: "%",
        range: (0.0, 100.0),
        description: "peripheral oxygen saturation",
    },
];

/// The 21 labs and blood gases, in the paper's order. Ranges follow MIT-LCP/eicu-code's
/// pivoted-lab.sql and pivoted-bg.sql; where that code admits anything up to 9999 we cap at a
/// physiologic bound (noted in docs/eicu.md) so that every built row satisfies the schema.
pub const LABS: [Lab; 21] = [
    Lab {
        name: "albumin",
        labnames: &["albumin"],
        unit: "g/dL",
        range: (0.5, 6.5),
        description: "serum albumin",
    },
    Lab {
        name: "bands",
        labnames: &["-bands"],
        unit: "%",
        range: (0.0, 100.0),
        description: "band neutrophils",
    },
    Lab {
        name: "bicarbonate",
        labnames: &["bicarbonate"],
        unit: "mEq/L",
        range: (0.0, 60.0),
        description: "serum bicarbonate",
    },
    Lab {
        name: "bilirubin",
        labnames: &["total bilirubin"],
        unit: "mg/dL",
        range: (0.2, 70.175),
        description: "total bilirubin",
    },
    Lab {
        name: "bun",
        labnames: &["BUN"],
        unit: "mg/dL",
        range: (1.0, 280.0),
        description: "blood urea nitrogen",
    },
    Lab {
        name: "calcium",
        labnames: &["calcium"],
        unit: "mg/dL",
        range: (0.5, 20.0),
        description: "serum calcium",
    },
    Lab {
        name: "creatinine",
        labnames: &["creatinine"],
        unit: "mg/dL",
        range: (0.1, 28.28),
        description: "serum creatinine",
    },
    Lab {
        name: "glucose",
        labnames: &["bedside glucose", "glucose"],
        unit: "mg/dL",
        range: (25.0, 1500.0),
        description: "glucose (laboratory or bedside)",
    },
    Lab {
        name: "hematocrit",
        labnames: &["Hct"],
        unit: "%",
        range: (5.0, 75.0),
        description: "hematocrit",
    },
    Lab {
        name: "hemoglobin",
        labnames: &["Hgb"],
        unit: "g/dL",
        range: (1.0, 25.0),
        description: "hemoglobin",
    },
    Lab {
        name: "inr",
        labnames: &["PT - INR"],
        unit: "ratio",
        range: (0.5, 15.0),
        description: "international normalised ratio",
    },
    Lab {
        name: "lactate",
        labnames: &["lactate"],
        unit: "mmol/L",
        range: (0.1, 30.0),
        description: "lactate",
    },
    Lab {
        name: "platelet",
        labnames: &["platelets x 1000"],
        unit: "K/µL",
        range: (1.0, 2000.0),
        description: "platelet count",
    },
    Lab {
        name: "potassium",
        labnames: &["potassium"],
        unit: "mEq/L",
        range: (0.05, 12.0),
        description: "serum potassium",
    },
    Lab {
        name: "sodium",
        labnames: &["sodium"],
        unit: "mEq/L",
        range: (90.0, 215.0),
        description: "serum sodium",
    },
    Lab {
        name: "wbc",
        labnames: &["WBC x 1000"],
        unit: "K/µL",
        range: (0.01, 100.0),
        description: "white blood cell count",
    },
    Lab {
        name: "bg_pao2",
        labnames: &["paO2"],
        unit: "mmHg",
        range: (15.0, 720.0),
        description: "arterial partial pressure of oxygen",
    },
    Lab {
        name: "bg_paco2",
        labnames: &["paCO2"],
        unit: "mmHg",
        range: (5.0, 250.0),
        description: "arterial partial pressure of carbon dioxide",
    },
    Lab {
        name: "bg_pao2fio2ratio",
        labnames: &[],
        unit: "mmHg",
        range: (15.0, 3600.0),
        description: "PaO2 / FiO2 (both charted at the same time)",
    },
    Lab {
        name: "bg_ph",
        labnames: &["pH"],
        unit: "pH",
        range: (6.5, 8.5),
        description: "arterial pH",
    },
    Lab {
        name: "bg_baseexcess",
        labnames: &["Base Excess"],
        unit: "mEq/L",
        range: (-100.0, 100.0),
        description: "base excess",
    },
];

/// The 20 most important features the paper found (XGBoost gain on eICU, most important
/// first; ../shared/PAPER.md), used to pick the paper's top-k feature sets.
pub const PAPER_IMPORTANCE_TOP20: [&str; 20] = [
    "lactate_last_early",
    "ventdays",
    "hosp_los",
    "bun_last_early",
    "electivesurgery",
    "age",
    "tempc_min",
    "albumin_first_early",
    "tempc_last",
    "bilirubin_last_early",
    "sysbp_min",
    "bg_pao2fio2ratio_last_early",
    "wbc_last_early",
    "bicarbonate_last_early",
    "heartrate_max",
    "resprate_last",
    "creatinine_last_early",
    "bg_pao2fio2ratio_first_early",
    "heartrate_last",
    "urineoutput_sum",
];

/// eICU `labname` of the inspired oxygen fraction used for the P/F ratio.
pub const FIO2_LABNAME: &str = "FiO2";

/// Vital summaries, in column order.
pub const VITAL_SUFFIXES: [&str; 4] = ["first", "last", "min", "max"];
/// Lab summaries, in column order.
pub const LAB_SUFFIXES: [&str; 2] = ["first_early", "last_early"];

/// The race flags, in column order, with the eICU `ethnicity` value each stands for
/// (`race_other` = any other non-empty value, Caucasian included, as in the original SQL).
pub const RACE_FLAGS: [(&str, Option<&str>); 4] = [
    ("race_black", Some("African American")),
    ("race_hispanic", Some("Hispanic")),
    ("race_asian", Some("Asian")),
    ("race_other", None),
];

/// The 83 column names in order.
pub fn column_names() -> Vec<String> {
    eicu_schema()
        .names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn spec(
    name: &str,
    kind: ColumnKind,
    unit: Option<&str>,
    range: Option<(f64, f64)>,
    description: &str,
) -> ColumnSpec {
    let mut s = ColumnSpec::new(name, kind);
    s.unit = unit.map(str::to_string);
    if let Some((lo, hi)) = range {
        s.min = Some(lo);
        s.max = Some(hi);
    }
    s.description = Some(description.to_string());
    s
}

fn required(mut s: ColumnSpec, role: Role) -> ColumnSpec {
    s.missing_allowed = false;
    s.role = role;
    s
}

/// The schema of the 83-column table, with roles set: death = target, hospitalid = site,
/// is_female and race_* = group, patientunitstayid = id; hosp_los and ventdays are flagged as
/// known only after the outcome.
pub fn eicu_schema() -> Schema {
    use ColumnKind::*;
    let mut cols = vec![
        required(
            spec(
                "patientunitstayid",
                Integer,
                None,
                None,
                "eICU ICU stay identifier",
            ),
            Role::Id,
        ),
        required(
            spec(
                "hospitalid",
                Integer,
                None,
                None,
                "eICU hospital identifier",
            ),
            Role::Site,
        ),
        required(
            spec(
                "death",
                Binary,
                None,
                Some((0.0, 1.0)),
                "died in hospital or in the unit (discharge status 'Expired')",
            ),
            Role::Target,
        ),
    ];
    let mut hosp_los = spec(
        "hosp_los",
        Continuous,
        Some("days"),
        Some((0.0, 365.0)),
        "days from ICU admission to hospital discharge",
    );
    hosp_los.known_after_outcome = true;
    let mut ventdays = spec(
        "ventdays",
        Integer,
        Some("days"),
        Some((0.0, 365.0)),
        "days of mechanical ventilation (APACHE IVa actualventdays)",
    );
    ventdays.known_after_outcome = true;
    cols.push(hosp_los);
    cols.push(ventdays);
    for suffix in VITAL_SUFFIXES {
        for v in VITALS {
            let what = format!(
                "{} of the hourly means of {} over hours 0-24",
                suffix, v.description
            );
            cols.push(spec(
                &format!("{}_{suffix}", v.name),
                Continuous,
                Some(v.unit),
                Some(v.range),
                &what,
            ));
        }
    }
    for suffix in LAB_SUFFIXES {
        for l in LABS {
            let which = if suffix == "first_early" {
                "first"
            } else {
                "last"
            };
            let what = format!(
                "{which} hourly mean of {} over hours -24 to 24",
                l.description
            );
            cols.push(spec(
                &format!("{}_{suffix}", l.name),
                Continuous,
                Some(l.unit),
                Some(l.range),
                &what,
            ));
        }
    }
    cols.push(spec(
        "urineoutput_sum",
        Continuous,
        Some("mL"),
        Some((0.0, 20000.0)),
        "urine output summed over hours 0-24",
    ));
    cols.push(required(
        spec(
            "is_female",
            Binary,
            None,
            Some((0.0, 1.0)),
            "gender recorded as Female",
        ),
        Role::Group,
    ));
    cols.push(spec(
        "age",
        Continuous,
        Some("years"),
        Some((16.0, 90.0)),
        "age at admission ('> 89' recorded as 90)",
    ));
    for (flag, ethnicity) in RACE_FLAGS {
        let what = match ethnicity {
            Some(e) => format!("ethnicity recorded as {e}"),
            None => {
                "ethnicity recorded as anything else (Caucasian, Native American, Other/Unknown)"
                    .to_string()
            }
        };
        cols.push(required(
            spec(flag, Binary, None, Some((0.0, 1.0)), &what),
            Role::Group,
        ));
    }
    cols.push(required(
        spec(
            "electivesurgery",
            Binary,
            None,
            Some((0.0, 1.0)),
            "admitted after elective surgery (APACHE)",
        ),
        Role::Feature,
    ));
    let mut schema = Schema::new(cols).expect("the built-in eICU schema is consistent");
    schema.constraints = cohort_constraints();
    schema
        .check_constraints()
        .expect("the built-in constraints name the schema's columns");
    schema
}

/// The rules every row of the cohort keeps by construction: the race flags code one variable
/// (at most one is 1), each vital's first and last hourly means lie between the smallest and
/// the largest of them, and a vital's four summaries come from one series of hourly means, so
/// they are all present or all missing.
fn cohort_constraints() -> Vec<Constraint> {
    let mut constraints = vec![Constraint::OneHot {
        columns: RACE_FLAGS
            .iter()
            .map(|(flag, _)| flag.to_string())
            .collect(),
        exactly: false,
    }];
    for v in VITALS {
        for middle in ["first", "last"] {
            constraints.push(Constraint::Order {
                columns: ["min", middle, "max"]
                    .iter()
                    .map(|s| format!("{}_{s}", v.name))
                    .collect(),
            });
        }
        constraints.push(Constraint::MissingTogether {
            columns: VITAL_SUFFIXES
                .iter()
                .map(|s| format!("{}_{s}", v.name))
                .collect(),
        });
    }
    constraints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_82_predictors_and_death_with_roles() {
        let s = eicu_schema();
        assert_eq!(s.columns().len(), 83);
        assert_eq!(s.target(), Some("death"));
        assert_eq!(s.site(), Some("hospitalid"));
        assert_eq!(s.with_role(Role::Group).len(), 5);
        assert_eq!(s.with_role(Role::Id), vec!["patientunitstayid"]);
        let leaky: Vec<&str> = s
            .columns()
            .iter()
            .filter(|c| c.known_after_outcome)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(leaky, vec!["hosp_los", "ventdays"]);
        for name in [
            "lactate_last_early",
            "tempc_min",
            "bg_pao2fio2ratio_first_early",
            "urineoutput_sum",
        ] {
            assert!(s.column(name).is_some(), "{name}");
        }
    }
}

//! The eICU builder on the real eICU demo (../shared/data/eicu-demo, or $EHRSYNTH_EICU_DEMO).
//! Expected values were computed independently from the same CSVs by scripts/eicu_demo_counts.py.

use std::collections::HashMap;
use std::path::PathBuf;

use ehrsynth_cohort::eicu::{EicuCohort, EicuOptions, build_eicu};
use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_table::{NoProgress, Table, Value};

fn demo_dir() -> PathBuf {
    std::env::var_os("EHRSYNTH_EICU_DEMO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/eicu-demo")
        })
}

fn build(with_lab_subset: bool) -> EicuCohort {
    let mut options = EicuOptions::default();
    if with_lab_subset {
        options.table_files = HashMap::from([(
            "lab".to_string(),
            demo_dir().join("lab_SUBSET_pyhealth.csv.gz"),
        )]);
    }
    build_eicu(&demo_dir(), &options, &NoProgress).expect("the demo builds")
}

fn row_of(table: &Table, stay: i64) -> usize {
    let ids = table.column("patientunitstayid").unwrap();
    (0..table.n_rows())
        .find(|&i| ids.value(i) == Value::Integer(stay))
        .expect("stay in cohort")
}

fn number(table: &Table, column: &str, row: usize) -> Option<f64> {
    table.column(column).unwrap().get_f64(row)
}

#[test]
fn demo_cohort_counts_after_each_exclusion() {
    let cohort = build(false);
    let counts: Vec<usize> = cohort.steps.iter().map(|s| s.remaining).collect();
    assert_eq!(counts, vec![2520, 2520, 2519, 1840, 1281, 1281]);
    let t = &cohort.table;
    assert_eq!(t.column_names(), eicu_schema().names());
    let death = t.column("death").unwrap();
    let deaths = (0..t.n_rows())
        .filter(|&i| death.value(i) == Value::Binary(true))
        .count();
    assert_eq!(deaths, 110); // 8.59 %
    assert!(eicu_schema().validate_table(t).unwrap().rejected.is_empty());
}

#[test]
fn absent_tables_are_named_once_and_leave_their_features_missing() {
    let cohort = build(false);
    let joined = cohort.warnings.join("\n");
    assert_eq!(cohort.warnings.len(), 4, "{joined}");
    for table in [
        "table nurseCharting is absent",
        "vitalPeriodic is absent",
        "table lab is absent",
        "table intakeOutput is absent",
        "unit admission",
    ] {
        assert_eq!(joined.matches(table).count(), 1, "{table} in:\n{joined}");
    }
    let t = &cohort.table;
    for column in [
        "heartrate_first",
        "lactate_last_early",
        "urineoutput_sum",
        "tempc_max",
    ] {
        assert_eq!(
            t.column(column).unwrap().missing_count(),
            t.n_rows(),
            "{column}"
        );
    }
    // Non-invasive pressures come from vitalAperiodic.
    assert!(t.column("sysbp_first").unwrap().missing_count() < t.n_rows() / 5);
}

#[test]
fn hand_checked_stays_match_their_source_rows() {
    let cohort = build(true);
    let t = &cohort.table;
    let r = row_of(t, 143870);
    assert_eq!(number(t, "age", r), Some(76.0));
    assert_eq!(number(t, "is_female", r), Some(0.0));
    assert_eq!(number(t, "race_other", r), Some(1.0));
    assert_eq!(number(t, "hospitalid", r), Some(68.0));
    assert!((number(t, "hosp_los", r).unwrap() - 0.845_833_333).abs() < 1e-6);
    assert_eq!(number(t, "ventdays", r), None);
    let sys: Vec<Option<f64>> = ["first", "last", "min", "max"]
        .iter()
        .map(|s| number(t, &format!("sysbp_{s}"), r))
        .collect();
    assert_eq!(sys, vec![Some(94.5), Some(107.0), Some(93.0), Some(117.0)]);
    let mean: Vec<Option<f64>> = ["first", "last", "min", "max"]
        .iter()
        .map(|s| number(t, &format!("meanbp_{s}"), r))
        .collect();
    assert_eq!(mean, vec![Some(69.75), Some(78.0), Some(69.75), Some(80.0)]);
    let r = row_of(t, 144815);
    assert_eq!(
        (number(t, "sysbp_min", r), number(t, "sysbp_max", r)),
        (Some(82.0), Some(136.0))
    );
    assert_eq!(number(t, "is_female", r), Some(1.0));
    let r = row_of(t, 281132);
    assert_eq!(
        (
            number(t, "bun_first_early", r),
            number(t, "bun_last_early", r)
        ),
        (Some(13.0), Some(12.0))
    );
    let r = row_of(t, 257802);
    assert_eq!(number(t, "bun_first_early", r), Some(30.0));
}

//! The eICU builder on small hand-written tables in eICU's own format, where every answer is
//! worked out by hand in the comments: exclusions, the hour grid, first/last/min/max inside the
//! window, hourly averaging, invasive-over-non-invasive pressures, the 24 h look-back for labs,
//! the P/F ratio, urine output, and the static columns.

use std::io::Write;
use std::path::Path;

use ehrsynth_cohort::eicu::{EicuCohort, EicuOptions, build_eicu};
use ehrsynth_table::{NoProgress, Table, Value};

const PATIENT: &str = "\
patientunitstayid,patienthealthsystemstayid,gender,age,ethnicity,hospitalid,wardid,hospitaladmitoffset,hospitaldischargeyear,hospitaldischargeoffset,hospitaldischargestatus,unittype,unitdischargeoffset,unitdischargestatus,uniquepid
1001,1,Female,70,African American,1,9,-100,2015,2940,Alive,MICU,2000,Alive,p1
1002,2,Male,> 89,Caucasian,2,9,0,2015,1440,Expired,Med-Surg ICU,1400,Alive,p2
1003,3,Male,50,Caucasian,2,9,0,2015,1440,Alive,Step-Down Unit,1400,Alive,p3
1004,4,Male,15,Hispanic,2,9,0,2015,1440,Alive,SICU,1400,Alive,p4
1005,5,Female,71,African American,1,9,0,2016,1440,Alive,MICU,1400,Alive,p1
1006,6,Male,60,Asian,1,9,0,2015,1440,Alive,MICU,1400,Alive,p6
1007,7,Male,60,Asian,1,9,0,2015,1440,Alive,MICU,1400,Alive,p7
1008,8,Male,60,Asian,1,9,0,2015,1440,,MICU,1400,,p8
";

const APACHE: &str = "\
patientunitstayid,apacheversion,predictedhospitalmortality,actualventdays
1001,IV,0.3,9
1001,IVa,0.1,2.5
1002,IVa,0.6,
1003,IVa,0.1,
1004,IVa,0.1,
1005,IVa,0.1,
1006,IVa,-1,
1007,IVa,0.2,
1008,IVa,0.2,
";

const PRED: &str = "patientunitstayid,electivesurgery\n1001,1\n";

const NURSE_HEADER: &str = "nursingchartid,patientunitstayid,nursingchartoffset,nursingchartentryoffset,nursingchartcelltypecat,nursingchartcelltypevallabel,nursingchartcelltypevalname,nursingchartvalue\n";

/// (stay, offset, label, name, value). Stay 1001's first heart rate is at minute 10, so its
/// grid anchor is minute 60 and hour h covers minutes (60h, 60h + 60].
const NURSE_ROWS: &[(i64, i64, &str, &str, &str)] = &[
    (1001, 10, "Heart Rate", "Heart Rate", "80"),   // hour 0
    (1001, 20, "Heart Rate", "Heart Rate", "100"),  // hour 0: mean 90
    (1001, 90, "Heart Rate", "Heart Rate", "70"),   // hour 1
    (1001, 100, "Heart Rate", "Heart Rate", "300"), // out of range: ignored
    (1001, 110, "Heart Rate", "Heart Rate", "72 bpm"), // not a number: ignored
    (1001, 1500, "Heart Rate", "Heart Rate", "120"), // hour 24: last hour inside
    (1001, 1501, "Heart Rate", "Heart Rate", "200"), // hour 25: outside
    (
        1001,
        90,
        "Non-Invasive BP",
        "Non-Invasive BP Systolic",
        "110",
    ),
    (1001, 90, "Invasive BP", "Invasive BP Systolic", "150"), // same time: invasive wins
    (
        1001,
        100,
        "Non-Invasive BP",
        "Non-Invasive BP Systolic",
        "100",
    ), // hour 1: mean(150, 100)
    (
        1001,
        200,
        "Non-Invasive BP",
        "Non-Invasive BP Systolic",
        "90",
    ), // hour 3
    (1001, 30, "Temperature", "Temperature (F)", "99"),       // Fahrenheit cells are not read
    (1001, 30, "Temperature", "Temperature (C)", "37.5"),
    (1002, -30, "Heart Rate", "Heart Rate", "90"), // admission 30 min before the unit: anchor 0
    (1002, 60, "Respiratory Rate", "Respiratory Rate", "18"),
    (1008, 10, "Heart Rate", "Heart Rate", "90"),
];

const LAB: &str = "\
labid,patientunitstayid,labresultoffset,labname,labresult,labresultrevisedoffset
1,1001,-1380,BUN,20,-1380
2,1001,-1441,BUN,99,-1441
3,1001,1500,BUN,40,1500
4,1001,1501,BUN,77,1501
5,1001,130,lactate,2.0,130
6,1001,150,lactate,4.0,150
7,1001,300,paO2,80,300
8,1001,300,FiO2,50,300
9,1001,400,creatinine,1.0,400
10,1001,400,creatinine,1.4,500
11,1002,0,BUN,10,0
";

const IO: &str = "\
patientunitstayid,intakeoutputoffset,cellpath,cellvaluenumeric
1001,100,flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|Urine,300
1001,500,flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|Urine Output-Foley,200
1001,2000,flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|Urine,999
1001,600,flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|Stool,50
";

fn write_gz(path: &Path, text: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn eicu_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_gz(&dir.path().join("patient.csv.gz"), PATIENT);
    std::fs::write(dir.path().join("apachePatientResult.csv"), APACHE).unwrap();
    std::fs::write(dir.path().join("apachePredVar.csv"), PRED).unwrap();
    let mut nurse = NURSE_HEADER.to_string();
    for (i, (stay, offset, label, name, value)) in NURSE_ROWS.iter().enumerate() {
        nurse.push_str(&format!(
            "{i},{stay},{offset},{offset},Vital Signs,{label},{name},{value}\n"
        ));
    }
    write_gz(&dir.path().join("nurseCharting.csv.gz"), &nurse);
    write_gz(&dir.path().join("lab.csv.gz"), LAB);
    std::fs::write(dir.path().join("intakeOutput.csv"), IO).unwrap();
    dir
}

fn build() -> EicuCohort {
    let dir = eicu_dir();
    build_eicu(dir.path(), &EicuOptions::default(), &NoProgress).unwrap()
}

fn cell(t: &Table, stay: i64, column: &str) -> Option<f64> {
    let ids = t.column("patientunitstayid").unwrap();
    let row = (0..t.n_rows())
        .find(|&i| ids.value(i) == Value::Integer(stay))
        .unwrap();
    t.column(column).unwrap().get_f64(row)
}

#[test]
fn exclusions_remove_exactly_the_stays_they_name() {
    let c = build();
    let counts: Vec<usize> = c.steps.iter().map(|s| s.remaining).collect();
    // 8 stays; 1003 not an ICU; 1004 aged 15; 1005 is p1's later stay; 1006 APACHE -1;
    // 1007 has no heart rate; 1008 has no discharge status.
    assert_eq!(counts, vec![8, 7, 6, 5, 4, 2]);
    let ids: Vec<Value> = (0..c.table.n_rows())
        .map(|i| c.table.column("patientunitstayid").unwrap().value(i))
        .collect();
    assert_eq!(ids, vec![Value::Integer(1001), Value::Integer(1002)]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn vitals_are_hourly_means_summarised_inside_hours_0_to_24() {
    let t = build().table;
    let hr: Vec<Option<f64>> = ["first", "last", "min", "max"]
        .iter()
        .map(|s| cell(&t, 1001, &format!("heartrate_{s}")))
        .collect();
    assert_eq!(hr, vec![Some(90.0), Some(120.0), Some(70.0), Some(120.0)]);
    let sys: Vec<Option<f64>> = ["first", "last", "min", "max"]
        .iter()
        .map(|s| cell(&t, 1001, &format!("sysbp_{s}")))
        .collect();
    assert_eq!(sys, vec![Some(125.0), Some(90.0), Some(90.0), Some(125.0)]);
    assert_eq!(cell(&t, 1001, "tempc_first"), Some(37.5));
    assert_eq!(cell(&t, 1001, "diasbp_first"), None);
    assert_eq!(cell(&t, 1002, "resprate_last"), Some(18.0));
}

#[test]
fn labs_look_back_24_hours_and_keep_the_latest_revision() {
    let t = build().table;
    assert_eq!(cell(&t, 1001, "bun_first_early"), Some(20.0)); // minute -1380 is hour -24: in
    assert_eq!(cell(&t, 1001, "bun_last_early"), Some(40.0)); // minute 1500 is hour 24: in
    assert_eq!(cell(&t, 1001, "lactate_first_early"), Some(3.0)); // hour 2: mean of 2 and 4
    assert_eq!(cell(&t, 1001, "lactate_last_early"), Some(3.0));
    assert_eq!(cell(&t, 1001, "creatinine_first_early"), Some(1.4)); // revised at minute 500
    assert_eq!(cell(&t, 1001, "bg_pao2fio2ratio_first_early"), Some(160.0)); // 80 / 0.5
    assert_eq!(cell(&t, 1002, "bun_first_early"), Some(10.0));
    assert_eq!(cell(&t, 1002, "albumin_first_early"), None);
}

#[test]
fn urine_and_static_columns() {
    let t = build().table;
    assert_eq!(cell(&t, 1001, "urineoutput_sum"), Some(500.0));
    assert_eq!(cell(&t, 1002, "urineoutput_sum"), Some(0.0)); // table present, no urine charted
    assert!((cell(&t, 1001, "hosp_los").unwrap() - (2940.0 - 10.0) / 1440.0).abs() < 1e-12);
    assert!((cell(&t, 1002, "hosp_los").unwrap() - (1440.0 + 30.0) / 1440.0).abs() < 1e-12);
    assert_eq!(cell(&t, 1001, "ventdays"), Some(2.0)); // 2.5 rounds half to even, IVa row only
    assert_eq!(cell(&t, 1002, "ventdays"), None);
    assert_eq!(cell(&t, 1001, "electivesurgery"), Some(1.0));
    assert_eq!(cell(&t, 1002, "electivesurgery"), Some(0.0));
    assert_eq!(
        (
            cell(&t, 1001, "is_female"),
            cell(&t, 1001, "race_black"),
            cell(&t, 1001, "race_other")
        ),
        (Some(1.0), Some(1.0), Some(0.0))
    );
    assert_eq!(
        (
            cell(&t, 1002, "age"),
            cell(&t, 1002, "race_other"),
            cell(&t, 1002, "death")
        ),
        (Some(90.0), Some(1.0), Some(1.0))
    );
    assert_eq!(cell(&t, 1001, "death"), Some(0.0));
}

#[test]
fn a_missing_required_table_or_column_is_a_clear_error() {
    let dir = eicu_dir();
    std::fs::remove_file(dir.path().join("apachePatientResult.csv")).unwrap();
    let err = build_eicu(dir.path(), &EicuOptions::default(), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no apachePatientResult.csv.gz or apachePatientResult.csv"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("apachePatientResult.csv"),
        "patientunitstayid,apacheversion\n1001,IVa\n",
    )
    .unwrap();
    let err = build_eicu(dir.path(), &EicuOptions::default(), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column 'predictedhospitalmortality' is required"),
        "{err}"
    );
}

#[test]
fn without_nurse_charting_the_monitor_tables_stand_in() {
    let dir = eicu_dir();
    std::fs::remove_file(dir.path().join("nurseCharting.csv.gz")).unwrap();
    // Stay 1001: first monitored heart rate at minute 5 (anchor 60); an invasive systolic at
    // minute 30 and a non-invasive one at minute 30 (same time: invasive wins) and minute 40.
    std::fs::write(
        dir.path().join("vitalPeriodic.csv"),
        "vitalperiodicid,patientunitstayid,observationoffset,temperature,sao2,heartrate,respiration,systemicsystolic,systemicdiastolic,systemicmean\n\
         1,1001,5,,97,88,,,,\n\
         2,1001,30,37.0,,92,14,140,,\n\
         3,1002,0,,,70,,,,\n\
         4,1008,0,,,70,,,,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vitalAperiodic.csv"),
        "vitalaperiodicid,patientunitstayid,observationoffset,noninvasivesystolic,noninvasivediastolic,noninvasivemean\n\
         1,1001,30,100,60,80\n\
         2,1001,40,120,70,90\n",
    )
    .unwrap();
    let c = build_eicu(dir.path(), &EicuOptions::default(), &NoProgress).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("table nurseCharting is absent"));
    let t = &c.table;
    assert_eq!(cell(t, 1001, "heartrate_first"), Some(90.0)); // minutes 5 and 30: both hour 0
    assert_eq!(cell(t, 1001, "sysbp_first"), Some(130.0)); // hour 0: mean(140 invasive, 120)
    assert_eq!(cell(t, 1001, "diasbp_first"), Some(65.0)); // no invasive diastolic: mean(60, 70)
    assert_eq!(cell(t, 1001, "spo2_first"), Some(97.0));
    assert!((cell(t, 1001, "hosp_los").unwrap() - (2940.0 - 5.0) / 1440.0).abs() < 1e-12);
}

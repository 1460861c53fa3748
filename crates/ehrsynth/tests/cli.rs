//! The `ehrsynth` binary end to end: what a user types, what they get back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ehrsynth_table::io::read_table;

fn ehrsynth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ehrsynth"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn demo_dir() -> PathBuf {
    std::env::var_os("EHRSYNTH_EICU_DEMO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/eicu-demo")
        })
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn reference_cohort_then_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ref.csv");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "3000",
        "--hospitals",
        "8",
        "--seed",
        "3",
        "--out",
        path(&out),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let table = read_table(&out, None).unwrap();
    assert_eq!((table.n_rows(), table.n_columns()), (3000, 83));
    let schema_file = std::fs::read_to_string(dir.path().join("ref.schema.toml")).unwrap();
    assert!(schema_file.contains("name = \"death\"") && schema_file.contains("role = \"target\""));

    let schema = ehrsynth(&[
        "schema",
        path(&out),
        "--target",
        "death",
        "--site",
        "hospitalid",
        "--group",
        "is_female",
    ]);
    assert!(schema.status.success(), "{}", text(&schema.stderr));
    let toml = text(&schema.stdout);
    let death = toml
        .split("[[column]]")
        .find(|c| c.contains("name = \"death\""))
        .unwrap();
    assert!(
        death.contains("kind = \"binary\"") && death.contains("role = \"target\""),
        "{death}"
    );
    let stay = toml
        .split("[[column]]")
        .find(|c| c.contains("name = \"patientunitstayid\""))
        .unwrap();
    assert!(stay.contains("role = \"id\""), "{stay}");
}

#[test]
fn eicu_demo_cohort_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.parquet");
    let run = ehrsynth(&[
        "cohort",
        "eicu",
        "--eicu-dir",
        path(&demo_dir()),
        "--out",
        path(&out),
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: table nurseCharting is absent"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1281  APACHE IVa predicted hospital mortality > 0"),
        "{stderr}"
    );
    assert!(stderr.contains("death = 1 in 110 rows (8.59%)"), "{stderr}");
    let table = read_table(&out, None).unwrap();
    assert_eq!((table.n_rows(), table.n_columns()), (1281, 83));
    assert!(dir.path().join("demo.schema.toml").exists());
}

#[test]
fn bad_input_gives_one_clear_error_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "a,b\n1,2\n3\n").unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "a,b\n1,2\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["schema", path(&ragged)],
            "line 3: found 1 fields, but the header has 2",
        ),
        (vec!["schema", "nope.csv"], "nope.csv"),
        (
            vec!["schema", path(&good), "--target", "zzz"],
            "no column named 'zzz'",
        ),
        (
            vec![
                "cohort",
                "eicu",
                "--eicu-dir",
                "/nonexistent",
                "--out",
                "x.parquet",
            ],
            "not a folder",
        ),
        (
            vec!["cohort", "reference", "--rows", "0", "--out", "x.csv"],
            "row",
        ),
        (
            vec![
                "cohort",
                "eicu",
                "--eicu-dir",
                ".",
                "--out",
                "x.parquet",
                "--table",
                "lab",
            ],
            "TABLE=FILE",
        ),
    ];
    for (args, expected) in cases {
        let run = ehrsynth(&args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    for args in [
        vec!["--help"],
        vec!["cohort", "--help"],
        vec!["schema", "--help"],
        vec!["cohort", "eicu", "--help"],
        vec!["cohort", "reference", "--help"],
        vec!["quickstart", "--help"],
    ] {
        let run = ehrsynth(&args);
        assert!(run.status.success());
        assert!(text(&run.stdout).contains("Examples:"), "{args:?}");
    }
}

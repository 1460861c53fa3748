//! Reading and writing real files: round trips through CSV, CSV.GZ and Parquet, and bad files
//! that must give a clear error naming the file (and line and column where there is one).

use std::io::Write;
use std::path::{Path, PathBuf};

use ehrsynth_table::io::{read_table, write_table};
use ehrsynth_table::schema::RoleHints;
use ehrsynth_table::{Column, ColumnKind, Schema, Table, Value};

fn sample() -> Table {
    Table::new(vec![
        Column::integer("stay", &[Some(1), Some(2), Some(3)]),
        Column::continuous("lactate", &[Some(1.25), None, Some(4.0)]),
        Column::binary("death", &[Some(false), Some(true), None]),
        Column::categorical("unit", &[Some("MICU"), None, Some("S, ICU \"b\"")]),
        Column::integer("ventdays", &[None, Some(0), Some(12)]),
    ])
    .unwrap()
}

fn assert_same(a: &Table, b: &Table) {
    assert_eq!(a.column_names(), b.column_names());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.kind(), y.kind(), "{}", x.name());
        for i in 0..a.n_rows() {
            assert_eq!(x.value(i), y.value(i), "{} row {i}", x.name());
        }
    }
}

#[test]
fn round_trips_keep_kinds_values_and_missing_cells() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.csv", "t.csv.gz", "t.parquet", "t.tsv"] {
        let path = dir.path().join(name);
        write_table(&path, &sample()).unwrap();
        let back = read_table(&path, None).unwrap();
        assert_same(&sample(), &back);
        let schema = Schema::infer(&back, &RoleHints::default()).unwrap();
        assert_same(&sample(), &read_table(&path, Some(&schema)).unwrap());
    }
}

#[test]
fn a_schema_selects_reorders_and_casts_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_table(&path, &sample()).unwrap();
    let mut schema = Schema::infer(&sample(), &RoleHints::default())
        .unwrap()
        .subset(&["ventdays", "stay"])
        .unwrap();
    schema.column_mut("ventdays").unwrap().kind = ColumnKind::Continuous;
    let t = read_table(&path, Some(&schema)).unwrap();
    assert_eq!(t.column_names(), vec!["ventdays", "stay"]);
    assert_eq!(t.column("ventdays").unwrap().value(2), Value::Number(12.0));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn error_of(path: &Path, schema: Option<&Schema>) -> String {
    read_table(path, schema)
        .expect_err("the file is bad")
        .to_string()
}

#[test]
fn a_ragged_csv_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ragged.csv", b"a,b,c\n1,2,3\n4,5\n");
    let err = error_of(&path, None);
    assert!(
        err.contains("ragged.csv, line 3") && err.contains("found 2 fields, but the header has 3"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_in_a_typed_column_names_line_column_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "typed.csv", b"age,sex\n40,F\n51,M\nold,F\n");
    let schema = Schema::new(vec![
        ehrsynth_table::ColumnSpec::new("age", ColumnKind::Continuous),
        ehrsynth_table::ColumnSpec::new("sex", ColumnKind::Categorical),
    ])
    .unwrap();
    let err = error_of(&path, Some(&schema));
    assert_eq!(
        err,
        format!(
            "{}, line 4, column 'age': found 'old', expected a number (or an empty cell for missing)",
            path.display()
        )
    );
}

#[test]
fn a_missing_required_column_lists_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "cols.csv", b"age,sex\n40,F\n");
    let schema = Schema::new(vec![ehrsynth_table::ColumnSpec::new(
        "death",
        ColumnKind::Binary,
    )])
    .unwrap();
    let err = error_of(&path, Some(&schema));
    assert!(
        err.contains("column 'death' is required but not in the file (columns found: age, sex)"),
        "{err}"
    );
}

#[test]
fn a_non_utf8_byte_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "latin1.csv", b"name,age\nJos\xe9,40\n");
    let err = error_of(&path, None);
    assert!(
        err.contains("latin1.csv, line 2")
            && err.contains("'name'")
            && err.contains("not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn an_empty_file_asks_for_a_header() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["empty.csv", "empty.csv.gz"] {
        let path = write(dir.path(), name, b"");
        let err = error_of(&path, None);
        assert!(
            err.contains("the file is empty; expected a header row"),
            "{err}"
        );
    }
}

#[test]
fn a_cut_gzip_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(gz, "a,b").unwrap();
    for i in 0..5000 {
        writeln!(gz, "{i},{}", i * 7).unwrap();
    }
    let bytes = gz.finish().unwrap();
    let path = write(dir.path(), "cut.csv.gz", &bytes[..bytes.len() / 2]);
    let err = error_of(&path, None);
    assert!(
        err.contains("cut.csv.gz: the gzip stream is cut short or corrupt"),
        "{err}"
    );
}

#[test]
fn unknown_extensions_and_absent_files_are_errors() {
    let err = error_of(Path::new("table.xlsx"), None);
    assert!(err.contains("unknown file type"), "{err}");
    let err = error_of(Path::new("/nonexistent/t.csv"), None);
    assert!(err.contains("/nonexistent/t.csv"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.parquet", b"not parquet at all");
    assert!(error_of(&path, None).contains("Parquet error"));
}

#[test]
fn semicolon_and_tab_separated_files_are_sniffed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "semi.csv", b"los;hmo;white\n3.5;1;0\n4;0;1\n");
    let t = read_table(&csv, None).unwrap();
    assert_eq!(t.column_names(), vec!["los", "hmo", "white"]);
    assert_eq!(t.column("los").unwrap().kind(), ColumnKind::Continuous);
    let tsv = write(
        dir.path(),
        "tabs.csv.gz",
        &gzip(b"age\tsex\n40\tF\n51\tM\n"),
    );
    let t = read_table(&tsv, None).unwrap();
    assert_eq!(t.column_names(), vec!["age", "sex"]);
    let schema = Schema::infer(&t, &RoleHints::default()).unwrap();
    assert_eq!(read_table(&tsv, Some(&schema)).unwrap().n_rows(), 2);
}

#[test]
fn a_ragged_line_after_a_sniffed_separator_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ragged.csv", b"a;b;c\n1;2;3\n4;5\n");
    let err = error_of(&path, None);
    assert!(
        err.contains("line 3") && err.contains("read as ';'-separated"),
        "{err}"
    );
}

#[test]
fn read_options_set_the_separator_and_extra_missing_tokens() {
    use ehrsynth_table::NoProgress;
    use ehrsynth_table::cell::MissingTokens;
    use ehrsynth_table::io::{ReadOptions, read_table_with_options};
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.csv", b"a;b\n5;x\n-99;y\n");
    let options = ReadOptions {
        delimiter: Some(b','),
        missing: MissingTokens::with_extra(["-99"]),
    };
    let t = read_table_with_options(&path, None, &options, &NoProgress).unwrap();
    assert_eq!(t.column_names(), vec!["a;b"]);
    let options = ReadOptions {
        delimiter: None,
        ..options
    };
    let t = read_table_with_options(&path, None, &options, &NoProgress).unwrap();
    let a = t.column("a").unwrap();
    assert_eq!((a.kind(), a.missing_count()), (ColumnKind::Integer, 1));
}

#[test]
fn missing_tokens_and_decimal_integers_infer_numeric_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "uci.csv",
        b"age,los,sign,count\n63,1.5,+,1.0\n?,.5,-,2.0\n71,-,+,\n.,-3,-,3.0\nn/a,2,+,NA\n",
    );
    let t = read_table(&path, None).unwrap();
    let kinds: Vec<ColumnKind> = t.columns().iter().map(|c| c.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            ColumnKind::Integer,
            ColumnKind::Continuous,
            ColumnKind::Categorical,
            ColumnKind::Integer
        ]
    );
    assert_eq!(t.column("age").unwrap().missing_count(), 3);
    assert_eq!(t.column("los").unwrap().value(3), Value::Number(-3.0));
    assert_eq!(t.column("sign").unwrap().value(1), Value::Category("-"));
    assert_eq!(t.column("count").unwrap().value(3), Value::Integer(3));
    // The same file read with the inferred schema gives the same table.
    let schema = Schema::infer(&t, &RoleHints::default()).unwrap();
    assert_same(&t, &read_table(&path, Some(&schema)).unwrap());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

use std::path::Path;

use crate::Schema;
use crate::column::{Column, Value};
use crate::constraint::{Constraint, infer, repair, repair_keeping, violations};
use crate::table::Table;

const UNITS: &str = r#"
[[column]]
name = "unittype"
kind = "categorical"
categories = ["MICU", "SICU", "CTICU"]

[[column]]
name = "hospitalid"
kind = "integer"

[[column]]
name = "age"
kind = "continuous"
missing_allowed = true

[[constraint]]
kind = "combinations"
columns = ["unittype", "hospitalid"]
allowed = [["MICU", 73], ["SICU", "73"], ["MICU", 110], ["CTICU", 264]]
"#;

fn units() -> Schema {
    Schema::from_toml_str(UNITS, Path::new("units.toml")).unwrap()
}

fn unit_table(rows: &[(&str, i64)]) -> Table {
    let units: Vec<Option<&str>> = rows.iter().map(|r| Some(r.0)).collect();
    let hospitals: Vec<Option<i64>> = rows.iter().map(|r| Some(r.1)).collect();
    let ages: Vec<Option<f64>> = (0..rows.len()).map(|i| Some(40.0 + i as f64)).collect();
    Table::new(vec![
        Column::categorical("unittype", &units),
        Column::integer("hospitalid", &hospitals),
        Column::continuous("age", &ages),
    ])
    .unwrap()
}

#[test]
fn allowed_cells_may_be_text_or_numbers_and_rows_outside_them_are_named() {
    let schema = units();
    let rule = &schema.constraints[0];
    assert_eq!(rule.label(), "combinations(unittype, hospitalid)");
    let Constraint::Combinations { allowed, .. } = rule else {
        panic!("{rule:?}");
    };
    assert_eq!(allowed[0], vec!["MICU", "73"]);
    assert_eq!(allowed[1], vec!["SICU", "73"]);
    assert_eq!(
        rule.broken_by(&[Value::Category("SICU"), Value::Integer(73)]),
        None
    );
    assert_eq!(
        rule.broken_by(&[Value::Category("SICU"), Value::Integer(110)])
            .as_deref(),
        Some("unittype = SICU, hospitalid = 110 is not one of the 4 allowed combinations")
    );
    assert_eq!(
        rule.broken_by(&[Value::Missing, Value::Integer(999)]),
        None,
        "a row with a missing value is not judged"
    );
    // Validation of text cells names the rule, as the LLM engine's rejections do.
    assert!(schema.validate_cells(&["MICU", "110", "50"]).is_ok());
    let err = schema.validate_cells(&["CTICU", "73", "50"]).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].column, "combinations(unittype, hospitalid)");
    assert!(err[0].reason.to_string().contains("CTICU"), "{:?}", err[0]);
    // The schema file writes the rule back and reads it the same.
    let back = Schema::from_toml_str(&schema.to_toml(), Path::new("s.toml")).unwrap();
    assert_eq!(back.constraints, schema.constraints);
}

#[test]
fn a_broken_combinations_rule_is_an_error_with_its_cause() {
    let cases = [
        (
            r#"columns = ["unittype", "age"]"#,
            "column 'age' is continuous",
        ),
        (r#"columns = ["unittype", "ward"]"#, "unknown column 'ward'"),
        (r#"columns = ["unittype"]"#, "two or more columns"),
    ];
    for (columns, expected) in cases {
        let text = UNITS.replace(r#"columns = ["unittype", "hospitalid"]"#, columns);
        let err = Schema::from_toml_str(&text, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{columns}: {err}");
    }
    let allowed_cases = [
        ("allowed = []", "lists no allowed combination"),
        (r#"allowed = [["MICU"]]"#, "has 1 values for 2 columns"),
        (
            r#"allowed = [["NICU", 73]]"#,
            "has 'NICU' for column 'unittype', which is not valid there",
        ),
        (
            r#"allowed = [["MICU", "seventy"]]"#,
            "has 'seventy' for column 'hospitalid'",
        ),
        (r#"allowed = [["MICU", ""]]"#, "is empty"),
    ];
    let allowed_line = UNITS.lines().find(|l| l.starts_with("allowed")).unwrap();
    for (allowed, expected) in allowed_cases {
        let text = UNITS.replace(allowed_line, allowed);
        let err = Schema::from_toml_str(&text, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{allowed}: {err}");
    }
}

#[test]
fn the_audit_counts_broken_rows_and_the_repair_moves_them_to_the_nearest_combination() {
    let schema = units();
    let table = unit_table(&[
        ("MICU", 73),   // allowed
        ("CTICU", 73),  // the unit is wrong for 73: the nearest keep 73 or CTICU
        ("SICU", 110),  // one cell from (MICU, 110) and from (SICU, 73)
        ("MICU", 264),  // one cell from (CTICU, 264), (MICU, 73), (MICU, 110)
        ("CTICU", 264), // allowed
    ]);
    let counts = violations(&schema, &table);
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].broken, 3);
    let (fixed, changed) = repair(&schema, &table, 11);
    assert_eq!(changed, 3);
    assert_eq!(violations(&schema, &fixed)[0].broken, 0);
    for row in 0..5 {
        let before = (
            table.column("unittype").unwrap().value(row).to_string(),
            table.column("hospitalid").unwrap().value(row).to_string(),
        );
        let after = (
            fixed.column("unittype").unwrap().value(row).to_string(),
            fixed.column("hospitalid").unwrap().value(row).to_string(),
        );
        let moved = usize::from(before.0 != after.0) + usize::from(before.1 != after.1);
        let expected = if [0, 4].contains(&row) { 0 } else { 1 };
        assert_eq!(moved, expected, "row {row}: {before:?} -> {after:?}");
    }
    assert_eq!(
        fixed.column("age").unwrap().to_f64_vec(),
        table.column("age").unwrap().to_f64_vec(),
        "columns outside the rule are untouched"
    );
    // The same seed, the same repair; a conditional run's fixed column keeps its value.
    let again = repair(&schema, &table, 11).0;
    assert_eq!(again.columns(), fixed.columns());
    let (kept, _) = repair_keeping(&schema, &table, 11, Some("hospitalid"));
    assert_eq!(
        kept.column("hospitalid").unwrap().to_f64_vec(),
        table.column("hospitalid").unwrap().to_f64_vec()
    );
    assert_eq!(violations(&schema, &kept)[0].broken, 0);
    let unit = kept.column("unittype").unwrap().value(1).to_string();
    assert!(["MICU", "SICU"].contains(&unit.as_str()), "{unit}");
}

#[test]
fn inference_proposes_combinations_that_never_occur_and_not_chance_gaps() {
    // 400 rows: units 0-2 in hospital 1, units 2-4 in hospital 2; a flag independent of both.
    let n = 400;
    let hospital: Vec<Option<&str>> = (0..n)
        .map(|i| Some(if i % 2 == 0 { "north" } else { "south" }))
        .collect();
    let unit: Vec<Option<String>> = (0..n)
        .map(|i| {
            Some(format!(
                "unit{}",
                (i / 2) % 3 + if i % 2 == 0 { 0 } else { 2 }
            ))
        })
        .collect();
    // Flags drawn independently of the units (a fixed linear congruential sequence).
    let mut state = 12345u64;
    let mut coin = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Some(state >> 63 == 1)
    };
    let flag: Vec<Option<bool>> = (0..n).map(|_| coin()).collect();
    let other: Vec<Option<bool>> = (0..n).map(|_| coin()).collect();
    let table = Table::new(vec![
        Column::categorical("hospital", &hospital),
        Column::categorical("unit", &unit),
        Column::binary("flag", &flag),
        Column::binary("other", &other),
    ])
    .unwrap();
    let found = infer(&table, &[]);
    let rules: Vec<&Constraint> = found
        .iter()
        .map(|f| &f.constraint)
        .filter(|c| matches!(c, Constraint::Combinations { .. }))
        .collect();
    assert_eq!(rules.len(), 1, "{found:?}");
    let Constraint::Combinations { columns, allowed } = rules[0] else {
        unreachable!()
    };
    assert_eq!(columns, &["hospital", "unit"]);
    assert_eq!(allowed.len(), 6);
    assert!(allowed.contains(&vec!["south".to_string(), "unit2".to_string()]));
    let evidence = &found
        .iter()
        .find(|f| matches!(f.constraint, Constraint::Combinations { .. }))
        .unwrap()
        .evidence;
    assert!(
        evidence.contains("6 of the 10 combinations occur in 400 rows"),
        "{evidence}"
    );
    // With the schema's rule, every real row holds it.
    let mut schema = Schema::infer(&table, &crate::schema::RoleHints::default()).unwrap();
    schema.constraints = vec![rules[0].clone()];
    assert_eq!(violations(&schema, &table)[0].broken, 0);
}

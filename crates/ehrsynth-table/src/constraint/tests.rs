use super::*;
use crate::schema::ColumnSpec;

/// Cells as numbers (`None` = missing), the way a numeric row reaches [`Constraint::broken_by`].
fn numbers(values: &[Option<f64>]) -> Vec<Value<'static>> {
    values
        .iter()
        .map(|v| v.map_or(Value::Missing, Value::Number))
        .collect()
}

fn race_and_vitals() -> Schema {
    let mut columns: Vec<ColumnSpec> = ["race_black", "race_asian", "race_other"]
        .iter()
        .map(|n| ColumnSpec::new(*n, ColumnKind::Binary))
        .collect();
    for name in ["hr_min", "hr_first", "hr_max"] {
        let mut spec = ColumnSpec::new(name, ColumnKind::Continuous);
        spec.min = Some(20.0);
        spec.max = Some(250.0);
        columns.push(spec);
    }
    let mut schema = Schema::new(columns).unwrap();
    schema.constraints = vec![
        Constraint::OneHot {
            columns: vec![
                "race_black".into(),
                "race_asian".into(),
                "race_other".into(),
            ],
            exactly: false,
        },
        Constraint::Order {
            columns: vec!["hr_min".into(), "hr_first".into(), "hr_max".into()],
        },
    ];
    schema
}

#[test]
fn rows_that_break_a_rule_are_named_and_counted() {
    let schema = race_and_vitals();
    let one_hot = &schema.constraints[0];
    assert_eq!(
        one_hot.broken_by(&numbers(&[Some(0.0), Some(0.0), Some(1.0)])),
        None
    );
    assert_eq!(
        one_hot
            .broken_by(&numbers(&[Some(1.0), None, Some(1.0)]))
            .as_deref(),
        Some("race_black, race_other are all 1")
    );
    let order = &schema.constraints[1];
    assert_eq!(
        order.broken_by(&numbers(&[Some(60.0), None, Some(90.0)])),
        None
    );
    assert_eq!(
        order
            .broken_by(&numbers(&[Some(60.0), Some(95.0), Some(90.0)]))
            .as_deref(),
        Some("hr_first = 95 is above hr_max = 90")
    );
    // Across a missing middle value the chain still holds end to end.
    assert!(
        order
            .broken_by(&numbers(&[Some(95.0), None, Some(90.0)]))
            .is_some()
    );
    let table = Table::new(vec![
        Column::binary("race_black", &[Some(true), Some(true), Some(false)]),
        Column::binary("race_asian", &[Some(true), Some(false), Some(false)]),
        Column::binary("race_other", &[Some(false), Some(false), None]),
        Column::continuous("hr_min", &[Some(60.0), Some(70.0), Some(80.0)]),
        Column::continuous("hr_first", &[Some(65.0), Some(60.0), None]),
        Column::continuous("hr_max", &[Some(70.0), Some(90.0), Some(75.0)]),
    ])
    .unwrap();
    let counts = violations(&schema, &table);
    assert_eq!(
        counts
            .iter()
            .map(|c| (c.constraint.as_str(), c.broken))
            .collect::<Vec<_>>(),
        vec![
            ("one_hot(race_black, race_asian, race_other)", 1),
            ("order(hr_min <= hr_first <= hr_max)", 2)
        ]
    );
    // Repair: every rule holds after, rows that kept them are untouched, values stay in
    // the row's own multiset and inside the schema's ranges.
    let (repaired, changed) = repair(&schema, &table, 7);
    assert_eq!(changed, 3);
    assert!(violations(&schema, &repaired).iter().all(|c| c.broken == 0));
    let hr = |name: &str| repaired.column(name).unwrap().to_f64_vec();
    assert_eq!(hr("hr_min"), vec![Some(60.0), Some(60.0), Some(75.0)]);
    assert_eq!(hr("hr_first"), vec![Some(65.0), Some(70.0), None]);
    assert_eq!(hr("hr_max"), vec![Some(70.0), Some(90.0), Some(80.0)]);
    let ones: f64 = ["race_black", "race_asian", "race_other"]
        .iter()
        .map(|n| hr(n)[0].unwrap())
        .sum();
    assert_eq!(ones, 1.0);
    assert_eq!(hr("race_black")[1], Some(1.0), "a valid row is left alone");
}

#[test]
fn constraints_round_trip_through_the_schema_file_with_their_evidence() {
    let mut schema = race_and_vitals();
    schema.constraint_notes = vec!["seen in every row".into(), "held".into()];
    let text = schema.to_toml();
    assert!(
        text.contains("# inferred: seen in every row\n[[constraint]]\nkind = \"one_hot\""),
        "{text}"
    );
    let back = Schema::from_toml_str(&text, std::path::Path::new("s.toml")).unwrap();
    assert_eq!(back.constraints, schema.constraints);
    // A typo in a constraint's fields and a wrong kind of column are errors with the cause.
    let typo = text.replace("kind = \"order\"", "kind = \"order\"\nstrict = true");
    let err = Schema::from_toml_str(&typo, std::path::Path::new("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("strict"), "{err}");
    let wrong = text.replace("\"hr_first\", ", "\"race_asian\", ");
    let err = Schema::from_toml_str(&wrong, std::path::Path::new("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("'race_asian' is binary"), "{err}");
    // A column subset keeps what the rules still say.
    let sub = schema
        .subset(&["race_black", "race_other", "hr_min", "hr_max"])
        .unwrap();
    assert_eq!(
        sub.constraints
            .iter()
            .map(Constraint::label)
            .collect::<Vec<_>>(),
        vec!["one_hot(race_black, race_other)", "order(hr_min <= hr_max)"]
    );
    assert!(
        schema
            .subset(&["race_black", "hr_min"])
            .unwrap()
            .constraints
            .is_empty()
    );
}

#[test]
fn a_row_that_breaks_a_rule_is_rejected_with_the_rule_named() {
    let schema = race_and_vitals();
    assert!(
        schema
            .validate_cells(&["0", "1", "0", "60", "70", "80"])
            .is_ok()
    );
    let err = schema
        .validate_cells(&["1", "1", "1", "60", "90", "80"])
        .unwrap_err();
    let said: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        vec![
            "constraint one_hot(race_black, race_asian, race_other): broken: race_black, race_asian, race_other are all 1",
            "constraint order(hr_min <= hr_first <= hr_max): broken: hr_first = 90 is above hr_max = 80"
        ]
    );
}

#[test]
fn inference_finds_one_hot_sets_and_orders_and_not_chance_patterns() {
    // 400 rows: a 4-level variable coded as indicators (level 3 as all zeros), a rare flag
    // never seen together with the rarest level by chance only, min <= value <= max, and an
    // unrelated number whose range overlaps and sits below the max by luck in most rows.
    let n = 400;
    let level = |i: usize| (i * 7 + i / 3) % 4;
    let flag = |i: usize, l: usize| Some(level(i) == l);
    let rare = |i: usize| Some(i.is_multiple_of(97));
    let value = |i: usize| 50.0 + ((i * 37) % 40) as f64;
    let table = Table::new(vec![
        Column::binary("grp_a", &(0..n).map(|i| flag(i, 0)).collect::<Vec<_>>()),
        Column::binary("grp_b", &(0..n).map(|i| flag(i, 1)).collect::<Vec<_>>()),
        Column::binary("grp_c", &(0..n).map(|i| flag(i, 2)).collect::<Vec<_>>()),
        Column::binary("rare", &(0..n).map(rare).collect::<Vec<_>>()),
        Column::continuous(
            "v_min",
            &(0..n)
                .map(|i| Some(value(i) - (i % 5) as f64))
                .collect::<Vec<_>>(),
        ),
        Column::continuous("v", &(0..n).map(|i| Some(value(i))).collect::<Vec<_>>()),
        Column::continuous(
            "v_max",
            &(0..n)
                .map(|i| Some(value(i) + (i % 3) as f64))
                .collect::<Vec<_>>(),
        ),
        Column::continuous(
            "other",
            &(0..n)
                .map(|i| Some(40.0 + ((i * 13) % 50) as f64))
                .collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    let found: Vec<String> = infer(&table, &[])
        .iter()
        .map(|f| f.constraint.label())
        .collect();
    assert_eq!(
        found,
        vec![
            "one_hot(grp_a, grp_b, grp_c)",
            "order(v_min <= v)",
            "order(v <= v_max)"
        ]
    );
}

#[test]
fn the_schema_refuses_rules_on_unknown_or_wrong_columns() {
    let mut schema = race_and_vitals();
    schema.constraints.push(Constraint::Order {
        columns: vec!["hr_min".into(), "race_black".into()],
    });
    let err = schema.check_constraints().unwrap_err().to_string();
    assert!(err.contains("'race_black' is binary"), "{err}");
    schema.constraints.pop();
    schema.constraints.push(Constraint::OneHot {
        columns: vec!["race_black".into(), "race_white".into()],
        exactly: false,
    });
    let err = schema.check_constraints().unwrap_err().to_string();
    assert!(err.contains("unknown column 'race_white'"), "{err}");
}

/// A blood-gas panel (a number, an integer, a category) measured in rows 0, 2, 4, ..., and
/// a lactate missing in the same rows but one.
fn gas_table(n: usize) -> Table {
    let measured = |i: usize| i.is_multiple_of(2);
    Table::new(vec![
        Column::continuous(
            "ph",
            &(0..n)
                .map(|i| measured(i).then_some(7.4))
                .collect::<Vec<_>>(),
        ),
        Column::integer(
            "paco2",
            &(0..n)
                .map(|i| measured(i).then_some(40))
                .collect::<Vec<_>>(),
        ),
        Column::categorical(
            "site",
            &(0..n)
                .map(|i| measured(i).then_some("arterial"))
                .collect::<Vec<_>>(),
        ),
        Column::continuous(
            "lactate",
            &(0..n)
                .map(|i| (measured(i) || i == 1).then_some(1.5))
                .collect::<Vec<_>>(),
        ),
    ])
    .unwrap()
}

#[test]
fn a_panel_partly_missing_is_found_named_counted_and_blanked() {
    let table = gas_table(100);
    let found: Vec<Inferred> = infer(&table, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].constraint.label(),
        "missing_together(ph, paco2, site)"
    );
    assert!(
        found[0].evidence.contains("all present in 50 rows"),
        "{}",
        found[0].evidence
    );
    let mut schema = Schema::infer(&table, &crate::schema::RoleHints::default()).unwrap();
    schema.constraints = vec![Constraint::MissingTogether {
        columns: vec!["ph".into(), "site".into(), "lactate".into()],
    }];
    schema.check_constraints().unwrap();
    let panel = &schema.constraints[0];
    assert_eq!(
        panel
            .broken_by(&[Value::Number(7.4), Value::Category("x"), Value::Missing])
            .as_deref(),
        Some("ph, site present but lactate missing")
    );
    assert_eq!(
        panel.broken_by(&[Value::Missing, Value::Missing, Value::Missing]),
        None
    );
    // Row 1 has the lactate only.
    let counts = violations(&schema, &table);
    assert_eq!(counts[0].broken, 1);
    let (repaired, changed) = repair(&schema, &table, 1);
    assert_eq!(changed, 1);
    assert!(violations(&schema, &repaired)[0].broken == 0);
    assert!(repaired.column("lactate").unwrap().is_missing(1));
    assert!(!repaired.column("site").unwrap().is_missing(0));
    // A panel column that may not be missing is refused with the reason.
    schema.column_mut("ph").unwrap().missing_allowed = false;
    let err = schema.check_constraints().unwrap_err().to_string();
    assert!(err.contains("'ph' may not be missing"), "{err}");
}

use super::*;
use ehrsynth_table::NoProgress;

/// 3,000 rows where `y` is 1 exactly when `a` is high and `g` is "b" (an interaction a linear
/// dependence cannot hold), `m` is missing exactly when `a` is low, and `c` is a noisy copy of `a`.
fn interaction_table() -> Table {
    let n = 3000;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let a: Vec<Option<f64>> = (0..n).map(|_| Some(rng.random_range(0.0..100.0))).collect();
    let g: Vec<Option<&str>> = (0..n)
        .map(|_| Some(if rng.random_bool(0.5) { "a" } else { "b" }))
        .collect();
    let y: Vec<Option<bool>> = a
        .iter()
        .zip(&g)
        .map(|(a, g)| Some(a.unwrap() > 50.0 && *g == Some("b")))
        .collect();
    let m: Vec<Option<f64>> = a
        .iter()
        .map(|a| (a.unwrap() > 30.0).then(|| a.unwrap() * 2.0))
        .collect();
    let c: Vec<Option<f64>> = a
        .iter()
        .map(|a| Some(a.unwrap() + rng.random_range(-1.0..1.0)))
        .collect();
    Table::new(vec![
        Column::continuous("a", &a),
        Column::categorical("g", &g),
        Column::binary("y", &y),
        Column::continuous("m", &m),
        Column::continuous("c", &c),
    ])
    .unwrap()
}

fn fitted(table: &Table) -> SequentialCart {
    let schema = Schema::infer(table, &Default::default()).unwrap();
    let mut cart = SequentialCart::new(CartConfig::default());
    cart.fit(table, &schema, 1, &NoProgress).unwrap();
    cart
}

fn rows(cart: &SequentialCart, rows: usize, seed: u64) -> Table {
    let options = SampleOptions {
        rows,
        seed,
        condition: None,
    };
    cart.generate(&options, &NoProgress).unwrap()
}

#[test]
fn trees_keep_an_interaction_and_a_missingness_pattern() {
    let table = interaction_table();
    let cart = fitted(&table);
    let synthetic = rows(&cart, 4000, 3);
    assert_eq!(synthetic.n_rows(), 4000);
    let a = synthetic.column("a").unwrap().to_f64_vec();
    let g = synthetic.column("g").unwrap();
    let y = synthetic.column("y").unwrap().to_f64_vec();
    let m = synthetic.column("m").unwrap();
    let agree = (0..4000)
        .filter(|&i| {
            let expected = a[i].unwrap() > 50.0 && g.value(i).to_string() == "b";
            (y[i] == Some(1.0)) == expected
        })
        .count();
    assert!(
        agree as f64 / 4000.0 > 0.95,
        "y follows a and g in {agree} of 4000 rows"
    );
    let missing_right = (0..4000)
        .filter(|&i| m.is_missing(i) == (a[i].unwrap() <= 30.0))
        .count();
    assert!(missing_right as f64 / 4000.0 > 0.95, "{missing_right}");
}

/// Whether two tables hold the same cells (the first difference is printed).
fn same_rows(a: &Table, b: &Table) -> bool {
    for (x, y) in a.columns().iter().zip(b.columns()) {
        for row in 0..a.n_rows() {
            if x.value(row) != y.value(row) {
                eprintln!(
                    "{} row {row}: {} vs {}",
                    x.name(),
                    x.value(row),
                    y.value(row)
                );
                return false;
            }
        }
    }
    a.n_rows() == b.n_rows()
}

#[test]
fn the_same_seed_gives_the_same_rows_on_any_thread_count() {
    let table = interaction_table();
    let cart = fitted(&table);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| rows(&cart, 2500, 5));
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| rows(&cart, 2500, 5));
    assert!(same_rows(&one, &many));
    let other = rows(&cart, 2500, 6);
    assert!(!same_rows(&one, &other));
    // Fitting in parallel gives the same trees as well.
    let refit = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| fitted(&table));
    assert!(same_rows(&rows(&refit, 2500, 5), &one));
}

#[test]
fn a_condition_fixes_its_column_and_later_columns_follow_it() {
    let table = interaction_table();
    let cart = fitted(&table);
    let options = SampleOptions {
        rows: 1000,
        seed: 2,
        condition: Some("g=a".parse().unwrap()),
    };
    let synthetic = cart.generate(&options, &NoProgress).unwrap();
    let g = synthetic.column("g").unwrap();
    assert!((0..1000).all(|i| g.value(i).to_string() == "a"));
    // With g = a, y is never 1 in the real data, so nearly never in the rows drawn given it.
    let ones = synthetic
        .column("y")
        .unwrap()
        .to_f64_vec()
        .iter()
        .filter(|v| **v == Some(1.0))
        .count();
    assert!(ones < 30, "{ones} rows with y = 1 given g = a");
    let unknown = SampleOptions {
        condition: Some("g=z".parse().unwrap()),
        ..options.clone()
    };
    let err = cart
        .generate(&unknown, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no training row has that value"), "{err}");
}

#[test]
fn leaves_hold_at_least_min_leaf_rows_and_unfitted_or_empty_input_is_an_error() {
    let table = interaction_table();
    let schema = Schema::infer(&table, &Default::default()).unwrap();
    let mut cart = SequentialCart::new(CartConfig {
        min_leaf: 50,
        ..CartConfig::default()
    });
    cart.fit(&table, &schema, 1, &NoProgress).unwrap();
    let fitted = cart.fitted.as_ref().unwrap();
    let mut split_on_presence = false;
    for trees in &fitted.trees {
        split_on_presence |= trees.presence.is_some();
        for tree in trees.presence.iter().chain([&trees.value]) {
            for node in &tree.nodes {
                if let Node::Leaf { rows } = node {
                    assert!(rows.len() >= 50, "a leaf of {} rows", rows.len());
                }
            }
        }
    }
    assert!(
        split_on_presence,
        "m is sometimes missing: its presence has a tree of its own"
    );
    // No target in this schema: no forest.
    assert!(fitted.target.is_none());
    let unfitted = SequentialCart::default();
    let err = unfitted
        .generate(&SampleOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("has not been fitted"), "{err}");
    let empty = table.take(&[]);
    let err = SequentialCart::default()
        .fit(&empty, &schema, 1, &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("no rows"), "{err}");
}

#[test]
fn a_flag_target_is_drawn_from_a_forest_or_the_additive_model_and_keeps_its_interaction() {
    for additive_target in [false, true] {
        flag_target_keeps_its_interaction(CartConfig {
            additive_target,
            ..CartConfig::default()
        });
    }
}

fn flag_target_keeps_its_interaction(config: CartConfig) {
    let table = interaction_table();
    let hints = ehrsynth_table::schema::RoleHints {
        target: Some("y".into()),
        ..Default::default()
    };
    let schema = Schema::infer(&table, &hints).unwrap();
    let mut cart = SequentialCart::new(config);
    cart.fit(&table, &schema, 1, &NoProgress).unwrap();
    let fitted = cart.fitted.as_ref().unwrap();
    let forest = fitted
        .target
        .as_ref()
        .expect("a forest for the flag target");
    if config.additive_target {
        assert!(forest.additive.is_some() && forest.trees.is_empty());
    } else {
        assert_eq!(forest.trees.len(), config.target_trees);
        assert!(forest.additive.is_none());
    }
    assert_eq!(
        *fitted.order.last().unwrap(),
        2,
        "the target is visited last"
    );
    let synthetic = rows(&cart, 3000, 4);
    let a = synthetic.column("a").unwrap().to_f64_vec();
    let g = synthetic.column("g").unwrap();
    let y = synthetic.column("y").unwrap().to_f64_vec();
    let agree = (0..3000)
        .filter(|&i| (y[i] == Some(1.0)) == (a[i].unwrap() > 50.0 && g.value(i).to_string() == "b"))
        .count();
    assert!(agree as f64 / 3000.0 > 0.95, "{agree} of 3000 ({config:?})");
}

#[test]
fn identifiers_get_fresh_values_and_are_no_predictor() {
    let table = interaction_table();
    let ids: Vec<Option<i64>> = (0..table.n_rows() as i64).map(|i| Some(1000 + i)).collect();
    let mut columns: Vec<Column> = vec![Column::integer("stay", &ids)];
    columns.extend(table.columns().iter().map(|c| c.as_ref().clone()));
    let table = Table::new(columns).unwrap();
    let hints = ehrsynth_table::schema::RoleHints {
        ids: vec!["stay".into()],
        ..Default::default()
    };
    let schema = Schema::infer(&table, &hints).unwrap();
    let mut cart = SequentialCart::new(CartConfig::default());
    cart.fit(&table, &schema, 1, &NoProgress).unwrap();
    assert!(!cart.fitted.as_ref().unwrap().order.contains(&0));
    let synthetic = rows(&cart, 500, 1);
    let stay = synthetic.column("stay").unwrap().to_f64_vec();
    assert_eq!(stay[0], Some(1.0));
    assert_eq!(stay[499], Some(500.0));
    let on_id = SampleOptions {
        rows: 10,
        seed: 1,
        condition: Some("stay=1000".parse().unwrap()),
    };
    let err = cart.generate(&on_id, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("identifier"), "{err}");
}

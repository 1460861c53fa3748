use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::fidelity::feature_fidelity;
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, NoProgress, Role};
use rand::SeedableRng;

use super::*;

fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec::new(name, kind)
}

fn fitted(table: &Table, schema: &Schema, config: BayesNetConfig, seed: u64) -> BayesNet {
    let mut bn = BayesNet::new(config);
    bn.fit(table, schema, seed, &NoProgress).unwrap();
    bn
}

fn sample(
    bn: &BayesNet,
    rows: usize,
    condition: Option<&str>,
    seed: u64,
) -> Result<Table, GenError> {
    let options = SampleOptions {
        rows,
        condition: condition.map(|c| c.parse().unwrap()),
        seed,
    };
    bn.generate(&options, &NoProgress)
}

/// Every cell as text, column by column.
fn cells(t: &Table) -> Vec<String> {
    t.columns()
        .iter()
        .flat_map(|c| (0..c.len()).map(|i| c.value(i).to_string()))
        .collect()
}

fn texts(t: &Table, name: &str) -> Vec<String> {
    let c = t.column(name).unwrap();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

fn assert_valid(schema: &Schema, t: &Table) {
    let report = schema.validate_table(t).unwrap();
    assert!(
        report.rejected.is_empty(),
        "{} rejected rows, first: {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    assert_eq!(t.column_names(), schema.names());
    for (spec, column) in schema.columns().iter().zip(t.columns()) {
        assert_eq!(column.kind(), spec.kind, "{}", spec.name);
    }
}

/// x ~ categorical (a 50%, b 30%, c 20%), y = f(x), plus noise columns.
fn function_table(n: usize) -> (Table, Schema) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<Option<&str>> = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            Some(if u < 0.5 {
                "a"
            } else if u < 0.8 {
                "b"
            } else {
                "c"
            })
        })
        .collect();
    let f = |x: &str| if x == "b" { 20 } else { 10 };
    let y: Vec<Option<i64>> = x.iter().map(|x| x.map(f)).collect();
    let z: Vec<Option<f64>> = (0..n)
        .map(|_| (rng.random::<f64>() > 0.1).then(|| rng.random::<f64>() * 100.0))
        .collect();
    let w: Vec<Option<bool>> = (0..n).map(|_| Some(rng.random_bool(0.3))).collect();
    let table = Table::new(vec![
        Column::categorical("x", &x),
        Column::integer("y", &y),
        Column::continuous("z", &z),
        Column::binary("w", &w),
    ])
    .unwrap();
    let mut zs = spec("z", ColumnKind::Continuous);
    (zs.min, zs.max) = (Some(0.0), Some(100.0));
    let schema = Schema::new(vec![
        spec("x", ColumnKind::Categorical),
        spec("y", ColumnKind::Integer),
        zs,
        spec("w", ColumnKind::Binary),
    ])
    .unwrap();
    (table, schema)
}

#[test]
fn a_deterministic_dependency_is_kept_and_marginals_match() {
    let n = 20_000;
    let (table, schema) = function_table(n);
    let bn = fitted(&table, &schema, BayesNetConfig::default(), 3);
    let out = sample(&bn, n, None, 11).unwrap();
    assert_valid(&schema, &out);
    let (x, y) = (texts(&out, "x"), texts(&out, "y"));
    for (x, y) in x.iter().zip(&y) {
        let expected = if x == "b" { "20" } else { "10" };
        assert_eq!(y, expected, "y = f(x) broken for x = {x}");
    }
    for (category, share) in [("a", 0.5), ("b", 0.3), ("c", 0.2)] {
        let train = texts(&table, "x").iter().filter(|v| *v == category).count() as f64 / n as f64;
        let syn = x.iter().filter(|v| *v == category).count() as f64 / n as f64;
        assert!(
            (train - share).abs() < 0.02,
            "{category}: training share {train}"
        );
        assert!((syn - train).abs() < 0.02, "{category}: {syn} vs {train}");
    }
    let missing = out.column("z").unwrap().missing_count() as f64 / n as f64;
    assert!((missing - 0.1).abs() < 0.02, "z missing share {missing}");
}

#[test]
fn constant_all_missing_and_forbidden_missing_columns() {
    let n = 300;
    let constant: Vec<Option<f64>> = vec![Some(5.0); n];
    let empty: Vec<Option<i64>> = vec![None; n];
    let holes: Vec<Option<f64>> = (0..n).map(|i| (i % 4 != 0).then_some(i as f64)).collect();
    let table = Table::new(vec![
        Column::continuous("constant", &constant),
        Column::integer("empty", &empty),
        Column::continuous("holes", &holes),
    ])
    .unwrap();
    let mut holes_spec = spec("holes", ColumnKind::Continuous);
    holes_spec.missing_allowed = false;
    let schema = Schema::new(vec![
        spec("constant", ColumnKind::Continuous),
        spec("empty", ColumnKind::Integer),
        holes_spec,
    ])
    .unwrap();
    for epsilon in [None, Some(1.0)] {
        let config = BayesNetConfig {
            epsilon,
            ..Default::default()
        };
        let bn = fitted(&table, &schema, config, 5);
        let out = sample(&bn, 1000, None, 2).unwrap();
        assert_valid(&schema, &out);
        assert!(texts(&out, "constant").iter().all(|v| v == "5"));
        assert_eq!(out.column("empty").unwrap().missing_count(), 1000);
        assert_eq!(out.column("holes").unwrap().missing_count(), 0);
    }
    let mut strict = schema.clone();
    strict.column_mut("empty").unwrap().missing_allowed = false;
    let err = BayesNet::new(BayesNetConfig::default())
        .fit(&table, &strict, 0, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'empty' is missing in every training row"),
        "{err}"
    );
}

#[test]
fn one_training_row_and_zero_rows_requested() {
    let table = Table::new(vec![
        Column::integer("id", &[Some(77)]),
        Column::continuous("a", &[Some(1.5)]),
        Column::categorical("b", &[Some("k")]),
        Column::binary("c", &[None]),
    ])
    .unwrap();
    let mut id = spec("id", ColumnKind::Integer);
    id.role = Role::Id;
    let schema = Schema::new(vec![
        id,
        spec("a", ColumnKind::Continuous),
        spec("b", ColumnKind::Categorical),
        spec("c", ColumnKind::Binary),
    ])
    .unwrap();
    let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
    let out = sample(&bn, 5, Some("b=k"), 1).unwrap();
    assert_valid(&schema, &out);
    assert_eq!(texts(&out, "id"), ["1", "2", "3", "4", "5"]);
    assert!(texts(&out, "a").iter().all(|v| v == "1.5"));
    assert!(texts(&out, "b").iter().all(|v| v == "k"));
    assert_eq!(out.column("c").unwrap().missing_count(), 5);
    let empty = sample(&bn, 0, None, 1).unwrap();
    assert_eq!(empty.n_rows(), 0);
    assert_eq!(empty.column_names(), schema.names());
}

#[test]
fn ids_are_sequential_in_the_column_kind() {
    let (table, mut schema) = function_table(200);
    schema.column_mut("x").unwrap().role = Role::Id;
    let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
    let out = sample(&bn, 3, None, 0).unwrap();
    assert_eq!(texts(&out, "x"), ["syn-1", "syn-2", "syn-3"]);
    assert_eq!(bn.structure().unwrap().len(), 3);
}

#[test]
fn bad_settings_and_conditions_are_clear_errors() {
    let (table, schema) = function_table(500);
    for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut bn = BayesNet::new(BayesNetConfig {
            epsilon: Some(epsilon),
            ..Default::default()
        });
        let err = bn
            .fit(&table, &schema, 0, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("epsilon must be a positive number"), "{err}");
    }
    let unfitted = BayesNet::new(BayesNetConfig::default());
    assert!(matches!(
        sample(&unfitted, 1, None, 0),
        Err(GenError::NotFitted(_))
    ));
    let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
    let err = sample(&bn, 1, Some("nope=1"), 0).unwrap_err().to_string();
    assert!(err.contains("'nope'"), "{err}");
    let err = sample(&bn, 1, Some("x=zzz"), 0).unwrap_err().to_string();
    assert_eq!(
        err,
        "value 'zzz' never occurs in column 'x' of the training data"
    );
    let err = sample(&bn, 1, Some("y=15"), 0).unwrap_err().to_string();
    assert_eq!(
        err,
        "value '15' never occurs in column 'y' of the training data"
    );
    let err = sample(&bn, 1, Some("y=ten"), 0).unwrap_err().to_string();
    assert!(err.contains("not a valid integer value"), "{err}");
}

#[test]
fn same_seeds_same_rows_other_seeds_other_rows() {
    let (table, schema) = function_table(3000);
    for epsilon in [None, Some(2.0)] {
        let config = BayesNetConfig {
            epsilon,
            ..Default::default()
        };
        let a = fitted(&table, &schema, config.clone(), 9);
        let b = fitted(&table, &schema, config.clone(), 9);
        let run = |bn: &BayesNet, seed| cells(&sample(bn, 2500, None, seed).unwrap());
        assert_eq!(run(&a, 4), run(&b, 4));
        assert_ne!(run(&a, 4), run(&a, 5));
        if epsilon.is_some() {
            // The fit seed drives the noise: another fit seed, other tables.
            let c = fitted(&table, &schema, config, 10);
            assert_ne!(run(&a, 4), run(&c, 4));
        }
    }
}

/// A site column, a group column with a value seen once, and a feature depending on both.
#[test]
fn conditions_on_a_non_root_group_hold_on_every_row_even_for_a_single_row_value() {
    let n = 4000;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let site: Vec<Option<i64>> = (0..n).map(|i| Some(100 + (i % 7) as i64)).collect();
    let group: Vec<Option<&str>> = (0..n)
        .map(|i| {
            Some(if i == 17 {
                "rare"
            } else if rng.random_bool(0.4) {
                "f"
            } else {
                "m"
            })
        })
        .collect();
    let value: Vec<Option<f64>> = (0..n)
        .map(|i| Some(if group[i] == Some("f") { 10.0 } else { 0.0 } + rng.random::<f64>()))
        .collect();
    let table = Table::new(vec![
        Column::integer("site", &site),
        Column::categorical("group", &group),
        Column::continuous("value", &value),
    ])
    .unwrap();
    let mut s = spec("site", ColumnKind::Integer);
    s.role = Role::Site;
    let mut g = spec("group", ColumnKind::Categorical);
    g.role = Role::Group;
    let schema = Schema::new(vec![s, g, spec("value", ColumnKind::Continuous)]).unwrap();
    for epsilon in [None, Some(1.0)] {
        let bn = fitted(
            &table,
            &schema,
            BayesNetConfig {
                epsilon,
                ..Default::default()
            },
            1,
        );
        let structure = bn.structure().unwrap();
        assert_eq!(structure[0].0, "site");
        assert_eq!(structure[1].0, "group");
        for (condition, column, expected) in [
            ("group=rare", "group", "rare"),
            ("group=f", "group", "f"),
            ("site=103", "site", "103"),
        ] {
            let out = sample(&bn, 1500, Some(condition), 3).unwrap();
            assert_valid(&schema, &out);
            assert!(
                texts(&out, column).iter().all(|v| v == expected),
                "{condition}"
            );
        }
    }
    // Without privacy the other columns follow the group.
    let bn = fitted(&table, &schema, BayesNetConfig::default(), 1);
    let out = sample(&bn, 1000, Some("group=f"), 3).unwrap();
    let values = out.column("value").unwrap().to_f64_vec();
    // One quantile bin may straddle the gap between 1 and 10, so a few values may fall below.
    let high = values
        .iter()
        .filter(|v| v.is_some_and(|v| v >= 10.0))
        .count();
    eprintln!("group=f: {high} of 1000 values >= 10");
    assert!(high >= 900, "{high} of 1000 values >= 10");
    let rare = sample(&bn, 200, Some("group=rare"), 3).unwrap();
    let site_of_rare = texts(&rare, "site");
    assert!(
        site_of_rare.iter().all(|v| v == "103"),
        "row 17 is at site 103"
    );
}

#[derive(Default)]
struct Counting {
    starts: AtomicU64,
    advanced: AtomicU64,
    finishes: AtomicU64,
}

impl Progress for Counting {
    fn start(&self, _label: &str, _total: Option<u64>, _unit: &str) {
        self.starts.fetch_add(1, Ordering::Relaxed);
    }
    fn advance(&self, delta: u64) {
        self.advanced.fetch_add(delta, Ordering::Relaxed);
    }
    fn finish(&self, _message: &str) {
        self.finishes.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn progress_is_reported_per_attribute_and_per_chunk() {
    let (table, schema) = function_table(500);
    let mut bn = BayesNet::new(BayesNetConfig::default());
    let fit = Counting::default();
    bn.fit(&table, &schema, 0, &fit).unwrap();
    assert_eq!(fit.starts.load(Ordering::Relaxed), 2);
    assert_eq!(fit.finishes.load(Ordering::Relaxed), 2);
    assert_eq!(fit.advanced.load(Ordering::Relaxed), 8);
    let sampling = Counting::default();
    let options = SampleOptions {
        rows: 2500,
        condition: None,
        seed: 0,
    };
    bn.generate(&options, &sampling).unwrap();
    assert_eq!(sampling.advanced.load(Ordering::Relaxed), 2500);
    assert_eq!(sampling.finishes.load(Ordering::Relaxed), 1);
}

// The reference cohort (simulated eICU, 83 columns).

fn cohort() -> &'static Table {
    static COHORT: OnceLock<Table> = OnceLock::new();
    COHORT.get_or_init(|| {
        let config = ReferenceConfig {
            rows: 8000,
            ..Default::default()
        };
        reference_cohort(&config).unwrap().table
    })
}

fn reference_model() -> &'static BayesNet {
    static MODEL: OnceLock<BayesNet> = OnceLock::new();
    MODEL.get_or_init(|| fitted(cohort(), &eicu_schema(), BayesNetConfig::default(), 42))
}

/// Mean KL over the non-id columns, except `skip`.
fn mean_kl(real: &Table, synthetic: &Table, skip: &str) -> f64 {
    let schema = eicu_schema();
    let kls: Vec<f64> = schema
        .columns()
        .iter()
        .filter(|s| s.role != Role::Id && s.name != skip)
        .map(|s| {
            let kl = feature_fidelity(
                s,
                real.column(&s.name).unwrap(),
                synthetic.column(&s.name).unwrap(),
            )
            .kl;
            kl.unwrap_or(f64::INFINITY)
        })
        .collect();
    kls.iter().sum::<f64>() / kls.len() as f64
}

#[test]
fn reference_cohort_rows_validate_and_marginals_are_close() {
    let schema = eicu_schema();
    let out = sample(reference_model(), 8000, None, 1).unwrap();
    assert_valid(&schema, &out);
    let kl = mean_kl(cohort(), &out, "");
    eprintln!("bayesnet mean KL without DP: {kl:.4}");
    assert!(kl < 0.05, "mean KL {kl}");
}

#[test]
fn differential_privacy_costs_fidelity_but_stays_finite_and_valid() {
    let schema = eicu_schema();
    let config = BayesNetConfig {
        epsilon: Some(1.0),
        ..Default::default()
    };
    let private = fitted(cohort(), &schema, config, 42);
    let out = sample(&private, 8000, None, 1).unwrap();
    assert_valid(&schema, &out);
    let dp = mean_kl(cohort(), &out, "");
    let exact = mean_kl(
        cohort(),
        &sample(reference_model(), 8000, None, 1).unwrap(),
        "",
    );
    eprintln!("bayesnet mean KL with epsilon = 1: {dp:.4} (without DP {exact:.4})");
    assert!(dp.is_finite() && dp > exact, "{dp} vs {exact}");
    let site = texts(cohort(), "hospitalid")[0].clone();
    let out = sample(&private, 500, Some(&format!("hospitalid={site}")), 2).unwrap();
    assert!(texts(&out, "hospitalid").iter().all(|v| *v == site));
}

#[test]
fn conditions_on_late_attributes_and_exact_values_hold_on_every_row() {
    let schema = eicu_schema();
    let model = reference_model();
    let err = sample(model, 1, Some("is_female=9"), 0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "value '9' never occurs in column 'is_female' of the training data"
    );
    // death is placed late: its ancestors are too many to enumerate, so they are drawn by
    // rejection sampling.
    let fixed = model
        .model
        .as_ref()
        .unwrap()
        .fixed(&"death=1".parse().unwrap())
        .unwrap();
    assert!(matches!(
        model.model.as_ref().unwrap().plan(&fixed),
        Plan::Reject { .. }
    ));
    let out = sample(model, 1000, Some("death=1"), 6).unwrap();
    assert_valid(&schema, &out);
    assert!(texts(&out, "death").iter().all(|v| v == "1"));
    // A continuous value: exactly that value in every row.
    let out = sample(model, 300, Some("age=90"), 6).unwrap();
    assert!(texts(&out, "age").iter().all(|v| v == "90"));
    let err = sample(model, 1, Some("age=200"), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("never occurs in column 'age'"), "{err}");
}

#[test]
fn parent_limits_are_respected() {
    let (table, schema) = function_table(2000);
    for max_parents in [0, 1, 3] {
        let config = BayesNetConfig {
            max_parents,
            ..Default::default()
        };
        let bn = fitted(&table, &schema, config, 0);
        let structure = bn.structure().unwrap();
        assert!(structure.iter().all(|(_, p)| p.len() <= max_parents));
        let out = sample(&bn, 500, None, 0).unwrap();
        assert_valid(&schema, &out);
        // y = f(x): with any parent allowed, the two are linked.
        let linked = structure.iter().any(|(child, parents)| {
            (child == "y" && parents.iter().any(|p| p == "x"))
                || (child == "x" && parents.iter().any(|p| p == "y"))
        });
        assert_eq!(linked, max_parents > 0, "{structure:?}");
    }
}

#[test]
fn conditioning_on_is_female_gives_only_women_and_plausible_rows() {
    let schema = eicu_schema();
    let out = sample(reference_model(), 4000, Some("is_female=1"), 5).unwrap();
    assert_valid(&schema, &out);
    assert!(texts(&out, "is_female").iter().all(|v| v == "1"));
    let women: Vec<usize> = (0..cohort().n_rows())
        .filter(|&i| cohort().column("is_female").unwrap().value(i).to_string() == "1")
        .collect();
    let real = cohort().take(&women);
    let kl = mean_kl(&real, &out, "is_female");
    assert!(kl < 0.08, "mean KL against the real women {kl}");
    let mean = |t: &Table, c: &str| {
        let v: Vec<f64> = t
            .column(c)
            .unwrap()
            .to_f64_vec()
            .into_iter()
            .flatten()
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    for column in ["age", "heartrate_first", "death"] {
        let (r, s) = (mean(&real, column), mean(&out, column));
        assert!(
            (r - s).abs() <= 0.05 * r.abs().max(0.2),
            "{column}: {s} vs {r}"
        );
    }
}

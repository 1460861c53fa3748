//! The Gaussian copula on tables where the truth is known, and on the reference cohort.

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::fidelity::feature_fidelity;
use ehrsynth_eval::stats::pearson;
use ehrsynth_gen::{Condition, GaussianCopula, Generator, SampleOptions};
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, NoProgress, Role, Schema, Table, Value};
use rand::SeedableRng;

fn normal_pairs(n: usize, rho: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let (a, b) = (
                ehrsynth_gen::normal::draw(&mut rng),
                ehrsynth_gen::normal::draw(&mut rng),
            );
            (a, rho * a + (1.0 - rho * rho).sqrt() * b)
        })
        .unzip()
}

fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec::new(name, kind)
}

fn sample(copula: &GaussianCopula, rows: usize, seed: u64, condition: Option<&str>) -> Table {
    let options = SampleOptions {
        rows,
        seed,
        condition: condition.map(|c| c.parse::<Condition>().unwrap()),
    };
    copula.generate(&options, &NoProgress).unwrap()
}

fn values(t: &Table, name: &str) -> Vec<f64> {
    let c = t.column(name).unwrap();
    (0..c.len())
        .map(|i| c.get_f64(i).unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn correlation_and_skewed_marginals_are_kept() {
    let (x, y) = normal_pairs(20_000, 0.8, 1);
    let x_exp: Vec<Option<f64>> = x.iter().map(|a| Some(a.exp())).collect(); // skewed marginal
    let y_obs: Vec<Option<f64>> = y.iter().map(|b| Some(b * 10.0 + 50.0)).collect();
    let train = Table::new(vec![
        Column::continuous("x", &x_exp),
        Column::continuous("y", &y_obs),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        spec("x", ColumnKind::Continuous),
        spec("y", ColumnKind::Continuous),
    ])
    .unwrap();
    let mut copula = GaussianCopula::new();
    copula.fit(&train, &schema, 7, &NoProgress).unwrap();
    let syn = sample(&copula, 20_000, 3, None);
    let lx: Vec<f64> = values(&syn, "x").iter().map(|v| v.ln()).collect();
    let r = pearson(&lx, &values(&syn, "y")).unwrap();
    assert!((r - 0.8).abs() < 0.02, "synthetic correlation {r}");
    let ks = feature_fidelity(
        &spec("x", ColumnKind::Continuous),
        train.column("x").unwrap(),
        syn.column("x").unwrap(),
    );
    assert!(ks.ks_statistic.unwrap() < 0.02, "{:?}", ks.ks_statistic);
}

#[test]
fn missingness_follows_the_values_it_depends_on() {
    let (x, y) = normal_pairs(20_000, 0.5, 2);
    // y is missing whenever x is large (about 16% of rows).
    let y_obs: Vec<Option<f64>> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (*a < 1.0).then_some(*b))
        .collect();
    let x_obs: Vec<Option<f64>> = x.iter().map(|a| Some(*a)).collect();
    let train = Table::new(vec![
        Column::continuous("x", &x_obs),
        Column::continuous("y", &y_obs),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        spec("x", ColumnKind::Continuous),
        spec("y", ColumnKind::Continuous),
    ])
    .unwrap();
    let mut copula = GaussianCopula::new();
    copula.fit(&train, &schema, 7, &NoProgress).unwrap();
    let syn = sample(&copula, 20_000, 3, None);
    let (sx, sy) = (values(&syn, "x"), values(&syn, "y"));
    let rate = |keep: &dyn Fn(f64) -> bool| {
        let rows: Vec<usize> = (0..sx.len()).filter(|&i| keep(sx[i])).collect();
        rows.iter().filter(|&&i| sy[i].is_nan()).count() as f64 / rows.len() as f64
    };
    let (high, low) = (rate(&|v| v >= 1.0), rate(&|v| v < 1.0));
    assert!(
        high > 0.6 && low < 0.1,
        "missing when x is high {high}, low {low}"
    );
    let overall = sy.iter().filter(|v| v.is_nan()).count() as f64 / 20_000.0;
    let trained = y_obs.iter().filter(|v| v.is_none()).count() as f64 / 20_000.0;
    assert!((overall - trained).abs() < 0.015, "{overall} vs {trained}");
}

#[test]
fn conditioning_fixes_the_group_and_moves_the_rest() {
    let n = 6000;
    let group: Vec<Option<bool>> = (0..n).map(|i| Some(i % 3 == 0)).collect();
    let y: Vec<Option<f64>> = (0..n)
        .map(|i| Some(if i % 3 == 0 { 10.0 } else { 0.0 } + (i % 7) as f64))
        .collect();
    let mut g = spec("is_female", ColumnKind::Binary);
    g.role = Role::Group;
    let schema = Schema::new(vec![g, spec("y", ColumnKind::Continuous)]).unwrap();
    let train = Table::new(vec![
        Column::binary("is_female", &group),
        Column::continuous("y", &y),
    ])
    .unwrap();
    let mut copula = GaussianCopula::new();
    copula.fit(&train, &schema, 1, &NoProgress).unwrap();
    let women = sample(&copula, 2000, 5, Some("is_female=1"));
    assert!((0..2000).all(|i| women.column("is_female").unwrap().value(i) == Value::Binary(true)));
    let mean = |t: &Table| values(t, "y").iter().sum::<f64>() / t.n_rows() as f64;
    // Training means: 13 in the group, 3 outside, 6.3 overall. A Gaussian copula cannot make a
    // bimodal column fully conditional, but the shift must be large and in the right direction.
    assert!(mean(&women) > 8.0, "{}", mean(&women));
    let men = sample(&copula, 2000, 5, Some("is_female=0"));
    assert!(mean(&men) < 5.0, "{}", mean(&men)); // training mean: 3
    let err = copula.generate(
        &SampleOptions {
            rows: 5,
            seed: 1,
            condition: Some("is_female=7".parse().unwrap()),
        },
        &NoProgress,
    );
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("value '7' never occurs in column 'is_female'")
    );
}

#[test]
fn degenerate_columns_have_defined_outcomes() {
    let n = 50;
    let mut allowed = spec("empty", ColumnKind::Continuous);
    allowed.missing_allowed = true;
    let mut id = spec("stay", ColumnKind::Integer);
    id.role = Role::Id;
    let mut site = spec("site", ColumnKind::Integer);
    site.role = Role::Site;
    let schema = Schema::new(vec![
        id,
        spec("constant", ColumnKind::Integer),
        allowed,
        site,
        spec("x", ColumnKind::Continuous),
    ])
    .unwrap();
    let train = Table::new(vec![
        Column::integer(
            "stay",
            &(0..n).map(|i| Some(1000 + i as i64)).collect::<Vec<_>>(),
        ),
        Column::integer("constant", &vec![Some(4); n]),
        Column::continuous("empty", &vec![None; n]),
        Column::integer(
            "site",
            &(0..n)
                .map(|i| Some(if i == 0 { 99 } else { 1 }))
                .collect::<Vec<_>>(),
        ),
        Column::continuous("x", &(0..n).map(|i| Some(i as f64)).collect::<Vec<_>>()),
    ])
    .unwrap();
    let mut copula = GaussianCopula::new();
    copula.fit(&train, &schema, 1, &NoProgress).unwrap();
    // The hospital with a single training row can still be asked for.
    let syn = sample(&copula, 30, 2, Some("site=99"));
    assert!(schema.validate_table(&syn).unwrap().rejected.is_empty());
    assert_eq!(syn.column("constant").unwrap().value(3), Value::Integer(4));
    assert_eq!(syn.column("empty").unwrap().missing_count(), 30);
    assert_eq!(syn.column("stay").unwrap().value(0), Value::Integer(1));
    assert_eq!(syn.column("site").unwrap().value(29), Value::Integer(99));
    assert_eq!(sample(&copula, 0, 2, None).n_rows(), 0);
    // An all-missing column the schema says is never missing cannot be learned.
    let strict = Schema::new(vec![spec("empty", ColumnKind::Continuous)]).unwrap();
    let mut strict_spec = strict.clone();
    strict_spec.column_mut("empty").unwrap().missing_allowed = false;
    let err = GaussianCopula::new()
        .fit(&train, &strict_spec, 1, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing in every training row"), "{err}");
    assert!(
        GaussianCopula::new()
            .generate(&SampleOptions::default(), &NoProgress)
            .is_err()
    );
}

#[test]
fn the_reference_cohort_is_reproduced_within_the_schema() {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 8000,
        hospitals: 10,
        seed: 21,
    })
    .unwrap()
    .table;
    let schema = eicu_schema();
    let mut copula = GaussianCopula::new();
    copula.fit(&cohort, &schema, 3, &NoProgress).unwrap();
    let syn = sample(&copula, 4000, 9, None);
    assert_eq!(syn.column_names(), schema.names());
    assert!(schema.validate_table(&syn).unwrap().rejected.is_empty());
    let kls: Vec<f64> = schema
        .columns()
        .iter()
        .filter(|s| s.role != Role::Id)
        .filter_map(|s| {
            feature_fidelity(
                s,
                cohort.column(&s.name).unwrap(),
                syn.column(&s.name).unwrap(),
            )
            .kl
        })
        .collect();
    let mean_kl = kls.iter().sum::<f64>() / kls.len() as f64;
    assert!(mean_kl < 0.05, "mean KL {mean_kl}");
    // Same seed, same rows; another seed, other rows.
    let again = sample(&copula, 4000, 9, None);
    assert_eq!(
        values(&again, "lactate_first_early")
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        values(&syn, "lactate_first_early")
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    );
    let other = sample(&copula, 4000, 10, None);
    assert_ne!(values(&other, "age")[..50], values(&syn, "age")[..50]);
}

#[test]
fn a_model_trained_on_copula_rows_works_on_real_patients() {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 10_000,
        hospitals: 10,
        seed: 22,
    })
    .unwrap()
    .table;
    let rows: Vec<usize> = (0..cohort.n_rows()).collect();
    let (train, holdout) = (cohort.take(&rows[..7000]), cohort.take(&rows[7000..]));
    let schema = eicu_schema();
    let mut copula = GaussianCopula::new();
    copula.fit(&train, &schema, 4, &NoProgress).unwrap();
    let syn = sample(&copula, 7000, 4, None);
    let report = ehrsynth_eval::audit(
        &schema,
        &train,
        &holdout,
        &syn,
        &ehrsynth_eval::AuditConfig::default(),
        &NoProgress,
    )
    .unwrap();
    let utility = report.utility.unwrap();
    let (tstr, trtr) = (utility.across.auroc.unwrap(), utility.trtr.auroc.unwrap());
    assert!(trtr - tstr < 0.05, "TSTR {tstr} vs TRTR {trtr}");
    assert!(report.fidelity.kl_mean.unwrap() < 0.05);
    assert_eq!(report.fidelity.out_of_range_share, 0.0);
}

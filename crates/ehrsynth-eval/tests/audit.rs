//! The whole audit on tables where the answer is known: a synthetic table that copies the
//! training rows must look like a leak; fresh rows from the same distribution must not; and
//! degenerate columns must give defined values (never NaN) or a clear message.

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::{AuditConfig, AuditReport, audit};
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, NoProgress, Role, Schema, Table};

/// Train, holdout and a disjoint third part of one simulated cohort.
fn three_parts(train: usize, holdout: usize, rest: usize, seed: u64) -> (Table, Table, Table) {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: train + holdout + rest,
        hospitals: 12,
        seed,
    })
    .expect("cohort")
    .table;
    let rows: Vec<usize> = (0..cohort.n_rows()).collect();
    (
        cohort.take(&rows[..train]),
        cohort.take(&rows[train..train + holdout]),
        cohort.take(&rows[train + holdout..]),
    )
}

fn run(train: &Table, holdout: &Table, synthetic: &Table) -> AuditReport {
    run_with(
        train,
        holdout,
        synthetic,
        AuditConfig {
            seed: 5,
            ..AuditConfig::default()
        },
    )
    .expect("audit runs")
}

/// The audit on the eICU schema with a given configuration.
fn run_with(
    train: &Table,
    holdout: &Table,
    synthetic: &Table,
    config: AuditConfig,
) -> Result<AuditReport, ehrsynth_eval::EvalError> {
    audit(
        &eicu_schema(),
        train,
        holdout,
        synthetic,
        &config,
        &NoProgress,
    )
}

fn attack_auroc(report: &AuditReport, name: &str) -> f64 {
    let privacy = report.privacy.as_ref().expect("privacy");
    privacy
        .attacks
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.auroc)
        .expect("attack auroc")
}

#[test]
fn a_copy_of_the_training_rows_is_flagged_as_a_leak() {
    let (train, holdout, _) = three_parts(3000, 1500, 0, 11);
    let report = run(&train, &holdout, &train);
    assert_eq!(report.fidelity.exact_copy_share, 1.0);
    // Continuous columns: no real holdout row matches a training row.
    assert_eq!(report.fidelity.exact_copy_share_baseline, Some(0.0));
    assert!(report.fidelity.copies_beyond_chance(report.rows.synthetic));
    let privacy = report.privacy.as_ref().unwrap();
    assert!(privacy.dcr_share_beyond_chance(report.rows.synthetic));
    assert!(privacy.attacks.iter().all(|a| a.beyond_chance()));
    let privacy = report.privacy.as_ref().unwrap();
    assert!(privacy.dcr_share.unwrap() > 0.95, "{:?}", privacy.dcr_share);
    assert!(attack_auroc(&report, "distance") > 0.95);
    assert!(attack_auroc(&report, "density_ratio") > 0.9);
    assert_eq!(privacy.zero_distance_share, Some(1.0));
    assert!(report.fidelity.kl_mean.unwrap() < 1e-9);
}

#[test]
fn fresh_rows_from_the_same_distribution_look_safe_and_similar() {
    let (train, holdout, fresh) = three_parts(3000, 1500, 1500, 12);
    let report = run(&train, &holdout, &fresh);
    assert_eq!(report.fidelity.exact_copy_share, 0.0);
    for attack in ["distance", "density_ratio"] {
        let a = attack_auroc(&report, attack);
        assert!((0.44..=0.56).contains(&a), "{attack}: {a}");
    }
    let dcr = report.privacy.as_ref().unwrap().dcr_share.unwrap();
    assert!((0.44..=0.56).contains(&dcr), "{dcr}");
    let detection = report.fidelity.detection_auroc.unwrap();
    assert!((0.4..=0.6).contains(&detection), "{detection}");
    assert!(report.fidelity.kl_mean.unwrap() < 0.05);
    let utility = report.utility.as_ref().unwrap();
    let (tstr, trtr) = (utility.across.auroc.unwrap(), utility.trtr.auroc.unwrap());
    assert!(
        tstr > 0.7 && (tstr - trtr).abs() < 0.06,
        "TSTR {tstr} TRTR {trtr}"
    );
    let ci = utility.across.auroc_ci.unwrap();
    assert!(ci.0 <= tstr && tstr <= ci.1);
    assert_eq!(utility.sites.len(), 12);
    let fairness = report.fairness.as_ref().unwrap();
    assert_eq!(fairness.gaps.len(), 5);
    assert!(fairness.groups.iter().all(|g| g.kl_mean.is_some()));
}

#[test]
fn the_control_reads_as_the_ideal_beside_a_leaking_table() {
    let (train, holdout, _) = three_parts(3000, 1600, 0, 14);
    // The training rows passed as synthetic leak; the control (real holdout rows) does not.
    let report = run(&train, &holdout, &train.take(&(0..600).collect::<Vec<_>>()));
    let c = report.control.as_ref().expect("control");
    assert_eq!((c.rows, c.non_members), (600, 1000));
    assert_eq!(c.exact_copy_share, 0.0);
    let dcr = c.dcr_share.unwrap();
    assert!((0.43..=0.57).contains(&dcr), "control DCR share {dcr}");
    assert_eq!(c.attacks.len(), 2);
    for a in &c.attacks {
        let auroc = a.auroc.unwrap();
        assert!((0.42..=0.58).contains(&auroc), "{}: {auroc}", a.name);
    }
    let detection = c.detection_auroc.unwrap();
    assert!((0.5..=0.6).contains(&detection), "{detection}");
    assert!(c.kl_mean.unwrap() < 0.1);
    // Trained on 600 real rows: near the TRTR ceiling, and the synthetic table's figures differ.
    let (control_tstr, trtr) = (
        c.tstr.as_ref().unwrap().auroc.unwrap(),
        report.utility.as_ref().unwrap().trtr.auroc.unwrap(),
    );
    assert!(
        control_tstr > 0.7 && control_tstr <= trtr + 0.05,
        "{control_tstr} {trtr}"
    );
    assert!(report.privacy.as_ref().unwrap().dcr_share.unwrap() > 0.9);
    // Skipped on request; too small a holdout gives a note, not an error.
    let skipped = run_with(
        &train,
        &holdout,
        &train,
        AuditConfig {
            skip_control: true,
            ..AuditConfig::default()
        },
    )
    .unwrap();
    assert!(skipped.control.is_none());
    let tiny = run(&train, &holdout.take(&[0, 1, 2]), &train);
    assert!(tiny.control.is_none());
    assert!(
        tiny.notes.iter().any(|n| n.contains("no control figures")),
        "{:?}",
        tiny.notes
    );
}

#[test]
fn a_distorted_synthetic_table_shows_up_in_fidelity() {
    let (train, holdout, fresh) = three_parts(2000, 1000, 1000, 13);
    // Shift bilirubin below its valid range, as the paper's LLM did.
    let shifted: Vec<Option<f64>> = (0..fresh.n_rows())
        .map(|i| {
            fresh
                .column("bilirubin_last_early")
                .unwrap()
                .get_f64(i)
                .map(|x| x - 3.0)
        })
        .collect();
    let columns: Vec<Column> = fresh
        .columns()
        .iter()
        .map(|c| {
            if c.name() == "bilirubin_last_early" {
                Column::continuous(c.name(), &shifted)
            } else {
                (**c).clone()
            }
        })
        .collect();
    let report = run(&train, &holdout, &Table::new(columns).unwrap());
    let bili = report
        .fidelity
        .features
        .iter()
        .find(|f| f.name == "bilirubin_last_early")
        .unwrap();
    let age = report
        .fidelity
        .features
        .iter()
        .find(|f| f.name == "age")
        .unwrap();
    assert!(bili.out_of_range_share > 0.2, "{}", bili.out_of_range_share);
    assert!(bili.kl.unwrap() > 10.0 * age.kl.unwrap().max(1e-3));
    assert!(bili.ks_statistic.unwrap() > 0.5);
}

fn spec(name: &str, kind: ColumnKind, role: Role) -> ColumnSpec {
    let mut s = ColumnSpec::new(name, kind);
    s.role = role;
    s
}

#[test]
fn degenerate_columns_give_defined_values_never_nan() {
    let schema = Schema::new(vec![
        spec("death", ColumnKind::Binary, Role::Target),
        spec("constant", ColumnKind::Continuous, Role::Feature),
        spec("empty", ColumnKind::Continuous, Role::Feature),
        spec("x", ColumnKind::Continuous, Role::Feature),
        spec("unit", ColumnKind::Categorical, Role::Group),
    ])
    .unwrap();
    let table = |n: usize, shift: f64, one_class: bool| {
        Table::new(vec![
            Column::binary(
                "death",
                &(0..n)
                    .map(|i| Some(!one_class && i % 4 == 0))
                    .collect::<Vec<_>>(),
            ),
            Column::continuous("constant", &vec![Some(3.0); n]),
            Column::continuous("empty", &vec![None; n]),
            Column::continuous(
                "x",
                &(0..n)
                    .map(|i| Some(i as f64 % 17.0 + shift))
                    .collect::<Vec<_>>(),
            ),
            Column::categorical(
                "unit",
                &(0..n)
                    .map(|i| Some(if i % 3 == 0 { "a" } else { "b" }))
                    .collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    };
    let (train, holdout) = (table(300, 0.0, false), table(120, 0.0, false));
    // Synthetic: a single class, so "within" cannot be scored.
    let synthetic = table(90, 1.0, true);
    let report = audit(
        &schema,
        &train,
        &holdout,
        &synthetic,
        &AuditConfig::default(),
        &NoProgress,
    )
    .expect("audit runs");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let features = value["fidelity"]["features"].as_array().unwrap();
    let empty = features.iter().find(|f| f["name"] == "empty").unwrap();
    assert!(empty["ks_statistic"].is_null() && empty["wasserstein"].is_null());
    assert!(empty["kl"].as_f64().unwrap() < 0.01); // both all missing: only smoothing differs
    // The constant and the empty columns match "perfectly" and say nothing: out of the means.
    for name in ["constant", "empty"] {
        let f = features.iter().find(|f| f["name"] == name).unwrap();
        assert_eq!(f["constant_in_real"], true, "{name}");
    }
    let x_kl = features.iter().find(|f| f["name"] == "x").unwrap()["kl"]
        .as_f64()
        .unwrap();
    let unit_kl = features.iter().find(|f| f["name"] == "unit").unwrap()["kl"]
        .as_f64()
        .unwrap();
    let death_kl = features.iter().find(|f| f["name"] == "death").unwrap()["kl"]
        .as_f64()
        .unwrap();
    let informative = (x_kl + unit_kl + death_kl) / 3.0;
    assert!((report.fidelity.kl_mean.unwrap() - informative).abs() < 1e-12);
    assert!(
        report.notes.iter().any(|n| n.contains("constant, empty")),
        "{:?}",
        report.notes
    );
    let utility = report.utility.as_ref().unwrap();
    assert!(utility.across.auroc.is_none());
    assert!(
        utility
            .across
            .note
            .as_deref()
            .unwrap()
            .contains("only one class"),
        "{:?}",
        utility.across.note
    );
    assert!(utility.trtr.auroc.is_some());
}

#[test]
fn missing_columns_and_empty_tables_are_clear_errors() {
    let (train, holdout, fresh) = three_parts(200, 100, 100, 14);
    let schema = eicu_schema();
    let without_age = holdout
        .select(
            &schema
                .names()
                .into_iter()
                .filter(|n| *n != "age")
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let err = audit(
        &schema,
        &train,
        &without_age,
        &fresh,
        &AuditConfig::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the real holdout table has no column 'age'"),
        "{err}"
    );
    let nothing = fresh.take(&[]);
    let report = audit(
        &schema,
        &train,
        &holdout,
        &nothing,
        &AuditConfig::default(),
        &NoProgress,
    )
    .expect("runs");
    assert!(
        report.notes.iter().any(|n| n.contains("privacy skipped")),
        "{:?}",
        report.notes
    );
    let unrelated = Table::new(vec![Column::integer("zzz", &[Some(1)])]).unwrap();
    let err = audit(
        &schema,
        &train,
        &holdout,
        &unrelated,
        &AuditConfig::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("shares no column with the schema"),
        "{err}"
    );
}

#[test]
fn a_missing_synthetic_column_counts_as_a_total_miss_and_an_extra_one_is_named() {
    let (train, holdout, fresh) = three_parts(2000, 1000, 2000, 31);
    let full = run(&train, &holdout, &fresh);
    assert!(full.fidelity.missing_columns.is_empty());
    // age renamed: "age" is missing, "age_years" is extra.
    let renamed: Vec<Column> = fresh
        .columns()
        .iter()
        .map(|c| {
            if c.name() == "age" {
                c.renamed("age_years")
            } else {
                (**c).clone()
            }
        })
        .collect();
    let report = run(&train, &holdout, &Table::new(renamed).unwrap());
    assert_eq!(report.fidelity.missing_columns, vec!["age".to_string()]);
    assert_eq!(report.fidelity.extra_columns, vec!["age_years".to_string()]);
    let age = report
        .fidelity
        .features
        .iter()
        .find(|f| f.name == "age")
        .expect("age is still scored");
    assert!(age.absent_from_synthetic);
    assert_eq!(age.ks_statistic, Some(1.0));
    assert!(age.kl.unwrap() > 1.0, "{:?}", age.kl);
    // The means get worse, not better, for the lost column.
    assert!(report.fidelity.ks_mean.unwrap() > full.fidelity.ks_mean.unwrap());
    assert!(report.fidelity.kl_mean.unwrap() > full.fidelity.kl_mean.unwrap());
    assert!(
        report.notes.iter().any(|n| n.contains("lacks 1 of")),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("age_years (renamed age?)")),
        "{:?}",
        report.notes
    );
}

#[test]
fn a_named_role_that_is_not_a_column_or_holds_two_roles_is_an_error() {
    let (train, holdout, fresh) = three_parts(600, 300, 600, 32);
    let with = |config: AuditConfig| run_with(&train, &holdout, &fresh, config);
    let err = with(AuditConfig {
        site: Some("hospital".into()),
        ..AuditConfig::default()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("did you mean 'hospitalid'"),
        "{err}"
    );
    let err = with(AuditConfig {
        target: Some("died".into()),
        ..AuditConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("'died'"), "{err}");
    let err = with(AuditConfig {
        target: Some("death".into()),
        groups: vec!["death".into()],
        ..AuditConfig::default()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("both the target and a group"),
        "{err}"
    );
}

#[test]
fn exact_copies_are_read_against_the_real_holdout_rows() {
    // Few distinct rows: real holdout rows match training rows as often as a perfect
    // generator's rows would, so a generator's copies at that rate are no flag.
    let few = |rows: usize, seed: u64| {
        let values: Vec<Option<i64>> = (0..rows)
            .map(|i| Some(((i as u64 * 2_654_435_761 + seed) % 6) as i64))
            .collect();
        let flags: Vec<Option<bool>> = (0..rows)
            .map(|i| Some((i as u64 / 7 + seed).is_multiple_of(3)))
            .collect();
        Table::new(vec![
            Column::integer("level", &values),
            Column::binary("flag", &flags),
        ])
        .unwrap()
    };
    let schema = Schema::new(vec![
        ColumnSpec::new("level", ColumnKind::Integer),
        ColumnSpec::new("flag", ColumnKind::Binary),
    ])
    .unwrap();
    let (train, holdout, synthetic) = (few(900, 1), few(300, 2), few(600, 3));
    let report = audit(
        &schema,
        &train,
        &holdout,
        &synthetic,
        &AuditConfig::default(),
        &NoProgress,
    )
    .unwrap();
    let f = &report.fidelity;
    assert_eq!(f.exact_copy_share, 1.0);
    assert_eq!(f.exact_copy_share_baseline, Some(1.0));
    assert!(!f.copies_beyond_chance(report.rows.synthetic));
    // Every distance ties: the DCR share reads as no leak, not "better than ideal".
    let dcr = report.privacy.as_ref().unwrap().dcr_share.unwrap();
    assert!((dcr - 0.5).abs() < 1e-9, "{dcr}");
    // The training rows passed as synthetic: detection cannot tell them apart.
    let itself = audit(
        &schema,
        &train,
        &holdout,
        &train,
        &AuditConfig::default(),
        &NoProgress,
    )
    .unwrap();
    let detection = itself.fidelity.detection_auroc_raw.unwrap();
    assert!((detection - 0.5).abs() < 0.06, "{detection}");
}

#[test]
fn tiny_groups_are_marked_and_kept_out_of_the_gaps() {
    let (train, holdout, fresh) = three_parts(3000, 1500, 3000, 33);
    let report = run_with(
        &train,
        &holdout,
        &fresh,
        AuditConfig {
            groups: vec!["age".into(), "is_female".into()],
            seed: 5,
            ..AuditConfig::default()
        },
    )
    .unwrap();
    let fairness = report.fairness.as_ref().unwrap();
    let ages: Vec<_> = fairness
        .groups
        .iter()
        .filter(|g| g.column == "age")
        .collect();
    assert!(ages.len() > 50, "{}", ages.len());
    for g in &ages {
        let small = g.holdout_rows < 30
            || g.holdout_positives < 5
            || g.holdout_rows - g.holdout_positives < 5;
        if small {
            assert!(g.too_few, "{g:?}");
        }
    }
    // Dozens of ages with a handful of patients each gave an AUROC gap near 1.
    let gap = fairness.gaps.iter().find(|g| g.column == "age").unwrap();
    assert!(gap.auroc_gap.is_none_or(|x| x < 0.5), "{gap:?}");
    // The two sexes are judged, each with its counts and an interval.
    for g in fairness.groups.iter().filter(|g| g.column == "is_female") {
        assert!(!g.too_few, "{g:?}");
        let (lo, hi) = g.auroc_ci.unwrap();
        assert!(lo <= g.auroc.unwrap() && g.auroc.unwrap() <= hi, "{g:?}");
    }
    let sexes = fairness
        .gaps
        .iter()
        .find(|g| g.column == "is_female")
        .unwrap();
    assert!(sexes.auroc_gap.is_some());
}

#[test]
fn the_site_is_compared_as_labels_not_as_a_number() {
    let (train, holdout, fresh) = three_parts(1500, 600, 1500, 34);
    let report = run_with(
        &train,
        &holdout,
        &fresh,
        AuditConfig {
            site: Some("hospitalid".into()),
            ..AuditConfig::default()
        },
    )
    .unwrap();
    let site = report
        .fidelity
        .features
        .iter()
        .find(|f| f.name == "hospitalid")
        .unwrap();
    assert!(
        site.ks_statistic.is_none() && site.wasserstein.is_none(),
        "{site:?}"
    );
    assert!(site.tvd.unwrap() < 0.1, "{site:?}");
    assert!(site.real_mean.is_none());
}

#[test]
fn a_hospital_split_says_its_privacy_figures_mix_in_the_hospitals() {
    let (train, holdout, fresh) = three_parts(2000, 800, 1500, 35);
    let site = train.column("hospitalid").unwrap();
    let first = site.value(0).to_string();
    let split = |t: &Table, same: bool| {
        let c = t.column("hospitalid").unwrap();
        let rows: Vec<usize> = (0..t.n_rows())
            .filter(|&i| (c.value(i).to_string() == first) == same)
            .collect();
        t.take(&rows)
    };
    let report = run_with(
        &split(&train, false),
        &split(&holdout, true),
        &fresh,
        AuditConfig {
            site: Some("hospitalid".into()),
            ..AuditConfig::default()
        },
    )
    .unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("differ by hospital")),
        "{:?}",
        report.notes
    );
    let utility = report.utility.unwrap();
    let unseen = utility
        .unseen_sites_pooled
        .expect("the held-out hospital is scored");
    assert!(unseen.test_rows > 0);
    assert!(utility.sites.iter().all(|s| !s.seen_in_training));
}

#[test]
fn the_schema_constraints_are_counted_on_the_synthetic_rows() {
    let (train, holdout, rest) = three_parts(600, 300, 300, 21);
    let fresh = run(&train, &holdout, &rest);
    let counts = &fresh.fidelity.constraints;
    assert_eq!(
        counts.len(),
        22,
        "the race set, 14 vital orders and 7 vital panels"
    );
    assert!(counts.iter().all(|c| c.broken == 0 && c.rows == 300));
    // Every row made Asian: the rows already carrying another race flag break the set.
    let others: usize = (0..rest.n_rows())
        .filter(|&i| {
            ["race_black", "race_hispanic", "race_other"]
                .iter()
                .any(|c| rest.column(c).unwrap().get_f64(i) == Some(1.0))
        })
        .count();
    assert!(others > 0);
    let columns = rest
        .columns()
        .iter()
        .map(|c| {
            if c.name() == "race_asian" {
                Column::binary("race_asian", &vec![Some(true); rest.n_rows()])
            } else {
                c.as_ref().clone()
            }
        })
        .collect();
    let broken = run(&train, &holdout, &Table::new(columns).unwrap());
    let race = &broken.fidelity.constraints[0];
    assert_eq!(
        race.constraint,
        "one_hot(race_black, race_hispanic, race_asian, race_other)"
    );
    assert_eq!(race.broken, others);
}

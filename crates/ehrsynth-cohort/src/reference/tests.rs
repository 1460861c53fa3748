use super::*;

fn cohort(rows: usize, seed: u64) -> ReferenceCohort {
    match reference_cohort(&ReferenceConfig {
        rows,
        hospitals: 20,
        seed,
    }) {
        Ok(c) => c,
        Err(e) => panic!("reference cohort failed: {e}"),
    }
}

fn col<'a>(t: &'a Table, name: &str) -> &'a Column {
    match t.column(name) {
        Some(c) => c,
        None => panic!("no column {name}"),
    }
}

/// Rank-based AUROC (Mann–Whitney U) with average ranks for ties.
fn auroc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = rank;
        }
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Rows where both columns are present, mapped through `f`.
fn present_pairs(t: &Table, a: &str, b: &str, f: fn(f64) -> f64) -> Vec<(f64, f64)> {
    let (ca, cb) = (col(t, a), col(t, b));
    (0..t.n_rows())
        .filter_map(|i| Some((f(ca.get_f64(i)?), f(cb.get_f64(i)?))))
        .collect()
}

fn missing_rate(t: &Table, name: &str) -> f64 {
    col(t, name).missing_count() as f64 / t.n_rows() as f64
}

fn deaths(t: &Table) -> Vec<bool> {
    let c = col(t, "death");
    (0..t.n_rows()).map(|i| c.get_f64(i) == Some(1.0)).collect()
}

#[test]
fn auroc_helper_handles_ties_and_perfect_separation() {
    assert_eq!(
        auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
        1.0
    );
    assert_eq!(
        auroc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]),
        0.5
    );
    assert!((auroc(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true]) - 0.875).abs() < 1e-12);
}

#[test]
fn risk_model_discriminates_and_death_rate_is_about_nine_percent() {
    let c = cohort(20_000, 42);
    let labels = deaths(&c.table);
    let rate = labels.iter().filter(|&&d| d).count() as f64 / labels.len() as f64;
    let auc = auroc(&c.true_risk, &labels);
    eprintln!("death rate {rate:.4}, AUROC {auc:.4}");
    assert!((0.08..=0.10).contains(&rate), "death rate {rate}");
    assert!((0.80..=0.90).contains(&auc), "AUROC {auc}");
    assert!(c.true_risk.iter().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn every_row_is_valid_and_columns_follow_the_schema() {
    let c = cohort(20_000, 7);
    let schema = eicu_schema();
    assert_eq!(c.table.column_names(), schema.names());
    assert_eq!(c.table.n_rows(), 20_000);
    assert_eq!(c.true_risk.len(), 20_000);
    let report = match schema.validate_table(&c.table) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let first = report.rejected.first().map(|r| format!("{:?}", r.cells));
    assert!(
        report.rejected.is_empty(),
        "{} rejected, e.g. {first:?}",
        report.rejected.len()
    );
    // Column kinds follow the schema.
    for spec in schema.columns() {
        assert_eq!(col(&c.table, &spec.name).kind(), spec.kind, "{}", spec.name);
    }
    // Ids unique and increasing; hospitals as requested.
    let ids = col(&c.table, "patientunitstayid").to_f64_vec();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let mut sites: Vec<i64> = col(&c.table, "hospitalid")
        .to_f64_vec()
        .iter()
        .flatten()
        .map(|&x| x as i64)
        .collect();
    sites.sort_unstable();
    sites.dedup();
    assert_eq!(sites.len(), 20);
}

#[test]
fn column_positions_match_the_schema() {
    let names = eicu_schema()
        .names()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(names.len(), N_COLS);
    assert_eq!(names[COL_ID], "patientunitstayid");
    assert_eq!(names[COL_HOSPITAL], "hospitalid");
    assert_eq!(names[COL_DEATH], "death");
    assert_eq!(names[COL_LOS], "hosp_los");
    assert_eq!(names[COL_VENTDAYS], "ventdays");
    assert_eq!(names[COL_URINE], "urineoutput_sum");
    assert_eq!(names[COL_FEMALE], "is_female");
    assert_eq!(names[COL_AGE], "age");
    assert_eq!(names[COL_RACE], "race_black");
    assert_eq!(names[COL_ELECTIVE], "electivesurgery");
    let vitals = [
        (HR, "heartrate"),
        (SYS, "sysbp"),
        (DIA, "diasbp"),
        (MBP, "meanbp"),
        (RR, "resprate"),
        (TEMP, "tempc"),
        (SPO2, "spo2"),
    ];
    for (v, name) in vitals {
        assert_eq!(names[vital_col(v, 0)], format!("{name}_first"));
        assert_eq!(names[vital_col(v, 3)], format!("{name}_max"));
    }
    let labs = [
        (ALB, "albumin"),
        (BANDS, "bands"),
        (HCO3, "bicarbonate"),
        (BILI, "bilirubin"),
        (BUN, "bun"),
        (CA, "calcium"),
        (CREAT, "creatinine"),
        (GLU, "glucose"),
        (HCT, "hematocrit"),
        (HGB, "hemoglobin"),
        (INR, "inr"),
        (LAC, "lactate"),
        (PLT, "platelet"),
        (K, "potassium"),
        (NA, "sodium"),
        (WBC, "wbc"),
        (PAO2, "bg_pao2"),
        (PACO2, "bg_paco2"),
        (PF, "bg_pao2fio2ratio"),
        (PH, "bg_ph"),
        (BE, "bg_baseexcess"),
    ];
    for (l, name) in labs {
        assert_eq!(names[lab_col(l, 0)], format!("{name}_first_early"));
        assert_eq!(names[lab_col(l, 1)], format!("{name}_last_early"));
    }
}

#[test]
fn vitals_are_ordered_and_labs_correlate_as_designed() {
    let c = cohort(20_000, 11);
    let t = &c.table;
    for v in VITALS {
        let get = |s: &str| col(t, &format!("{}_{s}", v.name)).to_f64_vec();
        let (first, last, min, max) = (get("first"), get("last"), get("min"), get("max"));
        for i in 0..t.n_rows() {
            let present = [first[i], last[i], min[i], max[i]].map(|x| x.is_some());
            assert!(
                present.iter().all(|&p| p == present[0]),
                "{} row {i}: summaries missing apart",
                v.name
            );
            if let (Some(f), Some(l), Some(lo), Some(hi)) = (first[i], last[i], min[i], max[i]) {
                assert!(
                    lo <= f && lo <= l && f <= hi && l <= hi,
                    "{} row {i}: {lo} {f} {l} {hi}",
                    v.name
                );
            }
        }
    }
    for s in ["first", "last", "min", "max"] {
        let (sys, mean, dia) = (
            col(t, &format!("sysbp_{s}")).to_f64_vec(),
            col(t, &format!("meanbp_{s}")).to_f64_vec(),
            col(t, &format!("diasbp_{s}")).to_f64_vec(),
        );
        for i in 0..t.n_rows() {
            if let (Some(a), Some(b), Some(c)) = (sys[i], mean[i], dia[i]) {
                assert!(a > b && b > c, "row {i} {s}: {a} {b} {c}");
            }
        }
    }
    let hgb_hct = pearson(&present_pairs(
        t,
        "hemoglobin_first_early",
        "hematocrit_first_early",
        |x| x,
    ));
    assert!(hgb_hct > 0.9, "hgb-hct {hgb_hct}");
    let bun_creat = pearson(&present_pairs(
        t,
        "bun_first_early",
        "creatinine_first_early",
        f64::ln,
    ));
    assert!(bun_creat > 0.5, "log bun - log creatinine {bun_creat}");
    let age_creat = pearson(&present_pairs(t, "age", "creatinine_first_early", f64::ln));
    let age_bun = pearson(&present_pairs(t, "age", "bun_first_early", f64::ln));
    assert!(
        age_creat > 0.05 && age_bun > 0.05,
        "age-creatinine {age_creat}, age-bun {age_bun}"
    );
    let ph_paco2 = pearson(&present_pairs(
        t,
        "bg_ph_first_early",
        "bg_paco2_first_early",
        |x| x,
    ));
    assert!(ph_paco2 < -0.3, "pH-paCO2 {ph_paco2}");
    let be_hco3 = pearson(&present_pairs(
        t,
        "bg_baseexcess_first_early",
        "bicarbonate_first_early",
        |x| x,
    ));
    assert!(be_hco3 > 0.5, "BE-bicarbonate {be_hco3}");
    // The P/F ratio is pao2 over an FiO2 in [0.21, 1].
    for (pao2, ratio) in present_pairs(
        t,
        "bg_pao2_first_early",
        "bg_pao2fio2ratio_first_early",
        |x| x,
    ) {
        let fio2 = pao2 / ratio;
        assert!((0.2..=1.001).contains(&fio2), "fio2 {fio2}");
    }
    eprintln!(
        "hgb-hct {hgb_hct:.3} bun-creat {bun_creat:.3} age-creat {age_creat:.3} age-bun {age_bun:.3} pH-paCO2 {ph_paco2:.3} BE-HCO3 {be_hco3:.3}"
    );
}

#[test]
fn missing_rates_are_like_eicu() {
    let c = cohort(20_000, 3);
    let t = &c.table;
    let within = |name: &str, lo: f64, hi: f64| {
        let r = missing_rate(t, name);
        assert!((lo..=hi).contains(&r), "{name} missing {r}");
    };
    within("lactate_first_early", 0.55, 0.75);
    within("heartrate_first", 0.0, 0.05);
    within("tempc_first", 0.02, 0.08);
    within("ventdays", 0.6, 0.8);
    within("bg_ph_first_early", 0.5, 0.7);
    within("inr_first_early", 0.4, 0.6);
    within("albumin_first_early", 0.45, 0.65);
    within("bands_first_early", 0.78, 0.92);
    within("creatinine_first_early", 0.03, 0.12);
    within("urineoutput_sum", 0.1, 0.2);
    within("age", 0.0, 0.01);
    for never in [
        "hosp_los",
        "death",
        "is_female",
        "race_black",
        "electivesurgery",
        "hospitalid",
    ] {
        within(never, 0.0, 0.0);
    }
    // first_early and last_early go missing together; some stays have a single value.
    for l in LABS {
        let first = col(t, &format!("{}_first_early", l.name));
        let last = col(t, &format!("{}_last_early", l.name));
        assert!(
            (0..t.n_rows()).all(|i| first.is_missing(i) == last.is_missing(i)),
            "{}",
            l.name
        );
    }
    let same = present_pairs(t, "sodium_first_early", "sodium_last_early", |x| x);
    let share = same.iter().filter(|(a, b)| a == b).count() as f64 / same.len() as f64;
    assert!(
        (0.2..0.5).contains(&share),
        "single-measurement share {share}"
    );
    // Sicker stays get blood gases more often: deaths are measured more than survivors.
    let labels = deaths(t);
    let gas = col(t, "bg_ph_first_early");
    let measured = |dead: bool| {
        let rows: Vec<usize> = (0..t.n_rows()).filter(|&i| labels[i] == dead).collect();
        rows.iter().filter(|&&i| !gas.is_missing(i)).count() as f64 / rows.len() as f64
    };
    assert!(measured(true) > measured(false) + 0.1);
    eprintln!(
        "death missing mix ok: gas measured {:.3} (dead) vs {:.3}",
        measured(true),
        measured(false)
    );
}

#[test]
fn demographics_follow_eicu_proportions() {
    let c = cohort(20_000, 5);
    let t = &c.table;
    let mean = |name: &str| {
        let v: Vec<f64> = col(t, name).to_f64_vec().into_iter().flatten().collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!((0.42..0.48).contains(&mean("is_female")));
    assert!((0.11..0.20).contains(&mean("electivesurgery")));
    let age = mean("age");
    assert!((60.0..66.0).contains(&age), "age mean {age}");
    let ages: Vec<f64> = col(t, "age").to_f64_vec().into_iter().flatten().collect();
    let at90 = ages.iter().filter(|&&a| a == 90.0).count() as f64 / ages.len() as f64;
    assert!((0.02..0.05).contains(&at90), "age 90 share {at90}");
    let race: Vec<f64> = ["race_black", "race_hispanic", "race_asian", "race_other"]
        .iter()
        .map(|r| mean(r))
        .collect();
    let unknown = 1.0 - race.iter().sum::<f64>();
    assert!(
        (0.06..0.17).contains(&race[0]) && (0.70..0.88).contains(&race[3]),
        "{race:?}"
    );
    assert!((0.01..0.06).contains(&unknown), "unknown {unknown}");
    let los: Vec<f64> = col(t, "hosp_los")
        .to_f64_vec()
        .into_iter()
        .flatten()
        .collect();
    let mut sorted = los.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!((3.5..7.0).contains(&median), "hosp_los median {median}");
    eprintln!(
        "age {age:.1} at90 {at90:.3} race {race:?} unknown {unknown:.3} los median {median:.2}"
    );
}

#[test]
fn hospitals_differ_in_mortality_and_size() {
    let c = cohort(20_000, 42);
    let t = &c.table;
    let sites = col(t, "hospitalid").to_f64_vec();
    let labels = deaths(t);
    let mut by_site: std::collections::BTreeMap<i64, (usize, usize, f64)> = Default::default();
    for i in 0..t.n_rows() {
        let e = by_site.entry(sites[i].unwrap_or(-1.0) as i64).or_default();
        e.0 += 1;
        e.1 += usize::from(labels[i]);
        e.2 += c.true_risk[i];
    }
    let mut sizes: Vec<(usize, f64, f64)> = by_site
        .values()
        .map(|&(n, d, r)| (n, d as f64 / n as f64, r / n as f64))
        .collect();
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    assert!(
        sizes[0].0 > 3 * sizes[sizes.len() - 1].0,
        "sizes equal: {sizes:?}"
    );
    let top: Vec<f64> = sizes.iter().take(5).map(|s| s.2).collect();
    let spread =
        top.iter().cloned().fold(f64::MIN, f64::max) - top.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        spread > 0.02,
        "mean risk of the 5 largest hospitals: {top:?}"
    );
    let rates: Vec<f64> = sizes.iter().take(5).map(|s| s.1).collect();
    eprintln!(
        "5 largest: sizes {:?} risk {top:?} death {rates:?}",
        sizes.iter().take(5).map(|s| s.0).collect::<Vec<_>>()
    );
}

#[test]
fn same_seed_same_table_other_seed_other_table() {
    let a = cohort(3_000, 9);
    let b = cohort(3_000, 9);
    let other = cohort(3_000, 10);
    assert_eq!(a.table.n_columns(), b.table.n_columns());
    for (ca, cb) in a.table.columns().iter().zip(b.table.columns()) {
        for i in 0..a.table.n_rows() {
            let (x, y) = (ca.value(i), cb.value(i));
            assert!(x == y, "{} row {i}: {x:?} vs {y:?}", ca.name());
        }
    }
    assert_eq!(a.true_risk, b.true_risk);
    let differ = a
        .table
        .columns()
        .iter()
        .zip(other.table.columns())
        .filter(|(x, y)| (0..a.table.n_rows()).any(|i| x.value(i) != y.value(i)))
        .count();
    assert!(differ > 70, "only {differ} columns differ between seeds");
}

#[test]
fn invalid_configs_are_errors() {
    let bad = |rows, hospitals| {
        reference_cohort(&ReferenceConfig {
            rows,
            hospitals,
            seed: 1,
        })
    };
    assert!(matches!(bad(0, 1), Err(ReferenceError::NoRows)));
    assert!(matches!(bad(10, 0), Err(ReferenceError::NoHospitals)));
    assert!(matches!(bad(0, 0), Err(ReferenceError::NoRows)));
    let err = bad(5, 6).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("6 hospitals") && err.contains("5 rows"),
        "{err}"
    );
    assert!(matches!(
        bad(MAX_ROWS + 1, 3),
        Err(ReferenceError::TooManyRows { .. })
    ));
    // Edge cases that must work: one row, one hospital per row, more hospitals than ids listed.
    assert_eq!(bad(1, 1).map(|c| c.table.n_rows()).ok(), Some(1));
    let many = bad(200, 200).map(|c| c.table.n_rows()).ok();
    assert_eq!(many, Some(200));
    assert_eq!(
        ReferenceConfig::default(),
        ReferenceConfig {
            rows: 10_000,
            hospitals: 20,
            seed: 42
        }
    );
}

//! Study results for the report tests: a realistic one from small real cells (reference cohort,
//! Gaussian copula and Bayesian network at two feature sets, the real audit), built once per test
//! run, and hand-made variants with missing pieces (failed cells, no site column, hostile names).

use std::sync::OnceLock;
use std::time::Instant;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_eval::encode::Encoder;
use ehrsynth_eval::utility::{Labelled, ModelKind, stratified_indices, train_and_test};
use ehrsynth_eval::{AuditConfig, audit, importance};
use ehrsynth_gen::{BayesNet, BayesNetConfig, GaussianCopula, Generator, SampleOptions};
use ehrsynth_table::split::stratified_split;
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, NoProgress, Role, Schema, Table};

use crate::results::{
    CellResult, CellSpec, CellStatus, CellUsage, CrossHospitalMatrix, FeatureDistribution,
    RESULTS_VERSION, StudyResults,
};

const SEED: u64 = 7;
const TARGET: &str = "death";
/// Bins of a numeric feature's histogram in Figure 4.
const BINS: usize = 12;

/// Value-by-value bins (categories, flags, small integers), missing last.
fn category_distribution(real: &Column, synthetic: &Column) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let present = |c: &Column| -> Vec<String> {
        (0..c.len())
            .filter(|&i| !c.is_missing(i))
            .map(|i| c.value(i).to_string())
            .collect()
    };
    let (r, s) = (present(real), present(synthetic));
    let mut bins: Vec<String> = r.iter().chain(&s).cloned().collect();
    bins.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    bins.dedup();
    let count = |values: &[String]| -> Vec<f64> {
        bins.iter()
            .map(|b| values.iter().filter(|v| *v == b).count() as f64)
            .collect()
    };
    let (rc, sc) = (count(&r), count(&s));
    (bins, rc, sc)
}

/// Equal-width bins over the range of both tables' present values, missing last.
fn numeric_distribution(real: &Column, synthetic: &Column) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let values = |c: &Column| -> Vec<f64> { (0..c.len()).filter_map(|i| c.get_f64(i)).collect() };
    let (r, s) = (values(real), values(synthetic));
    let lo = r.iter().chain(&s).copied().fold(f64::INFINITY, f64::min);
    let hi = r
        .iter()
        .chain(&s)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let width = ((hi - lo) / BINS as f64).max(1e-9);
    let bin = |v: f64| (((v - lo) / width) as usize).min(BINS - 1);
    let count = |xs: &[f64]| {
        let mut counts = vec![0.0; BINS];
        for &x in xs {
            counts[bin(x)] += 1.0;
        }
        counts
    };
    let bins = (0..BINS)
        .map(|i| {
            format!(
                "[{:.3}, {:.3})",
                lo + width * i as f64,
                lo + width * (i + 1) as f64
            )
        })
        .collect();
    (bins, count(&r), count(&s))
}

/// Real vs synthetic shares of one feature, for Figure 4.
fn distribution(spec: &ColumnSpec, real: &Column, synthetic: &Column) -> FeatureDistribution {
    let few_values = |c: &Column| {
        let mut v: Vec<u64> = (0..c.len())
            .filter_map(|i| c.get_f64(i))
            .map(f64::to_bits)
            .collect();
        v.sort_unstable();
        v.dedup();
        v.len() <= BINS
    };
    let (mut bins, mut r, mut s) = match spec.kind {
        ColumnKind::Continuous => numeric_distribution(real, synthetic),
        ColumnKind::Integer if !few_values(real) => numeric_distribution(real, synthetic),
        _ => category_distribution(real, synthetic),
    };
    if real.missing_count() + synthetic.missing_count() > 0 {
        bins.push("missing".into());
        r.push(real.missing_count() as f64);
        s.push(synthetic.missing_count() as f64);
    }
    let share = |xs: Vec<f64>| {
        let total: f64 = xs.iter().sum::<f64>().max(1.0);
        xs.into_iter().map(|x| x / total).collect()
    };
    FeatureDistribution {
        name: spec.name.clone(),
        kind: spec.kind.as_str().to_string(),
        bins,
        real: share(r),
        synthetic: share(s),
    }
}

/// The feature set's schema: the listed features, the target and the group columns.
fn feature_schema(schema: &Schema, features: &[String]) -> Schema {
    let keep: Vec<&str> = schema
        .names()
        .into_iter()
        .filter(|n| features.iter().any(|f| f == n) || *n == TARGET)
        .collect();
    schema.subset(&keep).unwrap()
}

/// Runs one cell: fit, generate, audit, distributions.
fn run_cell(
    generator: &str,
    feature_set: &str,
    schema: &Schema,
    train: &Table,
    holdout: &Table,
    rows: usize,
) -> CellResult {
    let clock = Instant::now();
    let mut model: Box<dyn Generator> = match generator {
        "copula" => Box::new(GaussianCopula::new()),
        _ => Box::new(BayesNet::new(BayesNetConfig::default())),
    };
    let (train, holdout) = (
        train.select(&schema.names()).unwrap(),
        holdout.select(&schema.names()).unwrap(),
    );
    model.fit(&train, schema, SEED, &NoProgress).unwrap();
    let options = SampleOptions {
        rows,
        seed: SEED,
        condition: None,
    };
    let synthetic = model.generate(&options, &NoProgress).unwrap();
    let generate_seconds = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let config = AuditConfig {
        seed: SEED,
        ..AuditConfig::default()
    };
    let report = audit(schema, &train, &holdout, &synthetic, &config, &NoProgress).unwrap();
    let distributions = schema
        .columns()
        .iter()
        .filter(|c| c.role != Role::Id && c.name != TARGET)
        .map(|c| {
            distribution(
                c,
                train.column(&c.name).unwrap(),
                synthetic.column(&c.name).unwrap(),
            )
        })
        .collect();
    let feature_count = schema
        .columns()
        .iter()
        .filter(|c| c.name != TARGET && c.role != Role::Id)
        .count();
    CellResult {
        spec: CellSpec {
            id: format!("{generator}-{feature_set}-n{rows}-s{SEED}-random"),
            generator: generator.into(),
            strategy: None,
            provider: None,
            model: None,
            epsilon: None,
            feature_set: feature_set.into(),
            feature_count,
            rows,
            seed: SEED,
            split: "random".into(),
        },
        status: CellStatus::Done,
        usage: CellUsage {
            rows_valid: synthetic.n_rows(),
            generate_seconds,
            audit_seconds: clock.elapsed().as_secs_f64(),
            ..CellUsage::default()
        },
        audit: Some(report),
        distributions,
    }
}

/// Logistic AUROC trained on each hospital's real rows, tested on every hospital's held-out rows.
fn cross_hospital(table: &Table, features: &[String]) -> CrossHospitalMatrix {
    let site = table.column("hospitalid").unwrap();
    let mut hospitals: Vec<String> = (0..table.n_rows())
        .map(|i| site.value(i).to_string())
        .collect();
    hospitals.sort_by_key(|h| h.parse::<i64>().unwrap_or(i64::MAX));
    hospitals.dedup();
    let encoder = Encoder::fit(table, features).unwrap();
    let died = table.column(TARGET).unwrap();
    // (model matrix, labels) of the training and test parts of each hospital.
    let parts: Vec<_> = hospitals
        .iter()
        .map(|h| {
            let rows: Vec<usize> = (0..table.n_rows())
                .filter(|&i| site.value(i).to_string() == *h)
                .collect();
            let y: Vec<bool> = rows.iter().map(|&i| died.get_f64(i) == Some(1.0)).collect();
            let (tr, te) = stratified_indices(&y, 0.3, SEED);
            let x = encoder.model_matrix(&table.take(&rows)).unwrap();
            let pick = |idx: &[usize]| {
                (
                    x.take(idx),
                    idx.iter().map(|&i| y[i]).collect::<Vec<bool>>(),
                )
            };
            (pick(&tr), pick(&te))
        })
        .collect();
    let auroc = parts
        .iter()
        .map(|((xtr, ytr), _)| {
            parts
                .iter()
                .map(|(_, (xte, yte))| {
                    let (scores, _) = train_and_test(
                        ModelKind::Logistic,
                        &Labelled { x: xtr, y: ytr },
                        &Labelled { x: xte, y: yte },
                        SEED,
                    );
                    scores.auroc
                })
                .collect()
        })
        .collect();
    CrossHospitalMatrix { hospitals, auroc }
}

fn build_realistic() -> StudyResults {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 2400,
        hospitals: 5,
        seed: SEED,
    })
    .unwrap()
    .table;
    let schema = eicu_schema();
    let split = stratified_split(&cohort, TARGET, 0.25, SEED).unwrap();
    let (train, holdout) = split.apply(&cohort);
    let ranking = importance(&train, &schema, TARGET, None, SEED).unwrap();
    let top5: Vec<String> = ranking
        .features
        .iter()
        .take(5)
        .map(|f| f.name.clone())
        .collect();
    let sets = [
        ("top5", feature_schema(&schema, &top5)),
        ("all", schema.clone()),
    ];
    let mut cells = Vec::new();
    for (label, cell_schema) in &sets {
        for generator in ["copula", "bayesnet"] {
            cells.push(run_cell(
                generator,
                label,
                cell_schema,
                &train,
                &holdout,
                400,
            ));
        }
    }
    // A second sample size, for Table 4.
    cells.push(run_cell(
        "copula", "top5", &sets[0].1, &train, &holdout, 800,
    ));
    let outcome_rate = (0..train.n_rows())
        .filter(|&i| train.column(TARGET).unwrap().get_f64(i) == Some(1.0))
        .count() as f64
        / train.n_rows() as f64;
    StudyResults {
        format: "ehrsynth-study".into(),
        version: RESULTS_VERSION,
        ehrsynth_version: env!("CARGO_PKG_VERSION").into(),
        title: "Report test study".into(),
        config_text: "title = \"Report test study\"\n[data]\nsource = \"reference\"\nrows = 2400\n"
            .into(),
        data_description: "reference cohort, 2,400 rows, 5 hospitals".into(),
        train_rows: train.n_rows(),
        holdout_rows: holdout.n_rows(),
        outcome_rate,
        cross_hospital: Some(cross_hospital(&cohort, &top5)),
        roles: crate::results::DataRoles::default(),
        importance: ranking,
        cells,
        pending: Vec::new(),
    }
}

/// The realistic study, built once per test run.
pub fn realistic() -> &'static StudyResults {
    static STUDY: OnceLock<StudyResults> = OnceLock::new();
    STUDY.get_or_init(build_realistic)
}

/// A hostile feature name, to check escaping.
pub const HOSTILE: &str = "<script>alert('x')</script>&lab|value";

/// The realistic study with pieces missing: no site column (no cross-hospital matrix, no per-site
/// scores), a failed LLM cell, a pending cell, and an LLM group-based cell whose feature and
/// category names would inject HTML if not escaped.
pub fn handmade() -> StudyResults {
    let mut study = realistic().clone();
    study.cross_hospital = None;
    study.roles.site = None;
    study.title = "Hand-made <b>study</b>".into();
    for cell in &mut study.cells {
        if let Some(a) = &mut cell.audit {
            a.site = None;
            if let Some(u) = &mut a.utility {
                u.sites.clear();
                u.unseen_sites_pooled = None;
            }
        }
    }
    let mut llm = study
        .cells
        .iter()
        .find(|c| c.spec.feature_set == "all" && c.spec.generator == "copula")
        .unwrap()
        .clone();
    llm.spec = CellSpec {
        id: "llm-group-openai-o1-all-n400-s7-random".into(),
        generator: "llm".into(),
        strategy: Some("group".into()),
        provider: Some("openai".into()),
        model: Some("o1".into()),
        ..llm.spec
    };
    llm.usage = CellUsage {
        requests: 42,
        prompt_tokens: 123_456,
        completion_tokens: 78_901,
        cost_usd: Some(3.21),
        rows_valid: 400,
        rows_rejected: 17,
        generate_seconds: 812.5,
        audit_seconds: 4.0,
    };
    llm.distributions[0].name = HOSTILE.into();
    llm.distributions[0].bins[0] = "<img src=x onerror=alert(1)>".into();
    if let Some(a) = &mut llm.audit {
        a.fidelity.features[0].name = HOSTILE.into();
    }
    let mut failed = llm.clone();
    failed.spec.id = "llm-naive-openai-o1-all-n400-s7-random".into();
    failed.spec.strategy = Some("naive".into());
    failed.status = CellStatus::Failed {
        reason: "budget of $5 spent <before> the cell finished".into(),
    };
    failed.audit = None;
    failed.distributions.clear();
    study.cells.push(llm);
    study.cells.push(failed);
    study.pending = vec!["llm-conditional-openai-o1-all-n400-s7-random".into()];
    study
}

/// A study where nothing ran: no cells, no importance, no matrix.
pub fn empty() -> StudyResults {
    let mut study = handmade();
    study.cells.clear();
    study.importance.features.clear();
    study.pending = vec!["copula-all-n1000-s1-random".into()];
    study
}

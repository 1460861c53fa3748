//! The tidy results table: one row per cell, one column per setting and per metric, written as
//! CSV and Parquet through ehrsynth-table's io.

use ehrsynth_table::{Column, Table};

use crate::results::{CellResult, CellStatus};

/// Metric columns, in order, with how each is read from a cell.
type Metric = (&'static str, fn(&CellResult) -> Option<f64>);

/// Every metric column of the tidy table (after the setting columns).
pub const METRICS: &[Metric] = &[
    ("kl_mean", |c| c.audit.as_ref()?.fidelity.kl_mean),
    ("ks_mean", |c| c.audit.as_ref()?.fidelity.ks_mean),
    ("tvd_mean", |c| c.audit.as_ref()?.fidelity.tvd_mean),
    ("out_of_range_share", |c| {
        Some(c.audit.as_ref()?.fidelity.out_of_range_share)
    }),
    ("correlation_mae", |c| {
        c.audit.as_ref()?.fidelity.correlation_mae
    }),
    ("detection_auroc", |c| {
        c.audit.as_ref()?.fidelity.detection_auroc
    }),
    ("exact_copy_share", |c| {
        Some(c.audit.as_ref()?.fidelity.exact_copy_share)
    }),
    ("duplicate_share", |c| {
        Some(c.audit.as_ref()?.fidelity.duplicate_share)
    }),
    ("constraint_broken_share_max", |c| {
        let counts = &c.audit.as_ref()?.fidelity.constraints;
        counts.iter().map(|k| k.share()).reduce(f64::max)
    }),
    ("tstr_auroc", |c| {
        c.audit.as_ref()?.utility.as_ref()?.across.auroc
    }),
    ("tstr_auprc", |c| {
        c.audit.as_ref()?.utility.as_ref()?.across.auprc
    }),
    ("within_auroc", |c| {
        c.audit.as_ref()?.utility.as_ref()?.within.auroc
    }),
    ("trtr_auroc", |c| {
        c.audit.as_ref()?.utility.as_ref()?.trtr.auroc
    }),
    ("unseen_sites_auroc", |c| {
        c.audit
            .as_ref()?
            .utility
            .as_ref()?
            .unseen_sites_pooled
            .as_ref()?
            .auroc
    }),
    ("fairness_max_auroc_gap", |c| {
        largest_gap(c, |g| g.auroc_gap)
    }),
    ("fairness_max_kl_gap", |c| largest_gap(c, |g| g.kl_gap)),
    ("dcr_share", |c| {
        c.audit.as_ref()?.privacy.as_ref()?.dcr_share
    }),
    ("nndr_mean", |c| {
        c.audit.as_ref()?.privacy.as_ref()?.nndr_mean
    }),
    ("mia_auroc_max", |c| strongest_attack(c, |a| a.auroc)),
    ("mia_advantage_max", |c| {
        strongest_attack(c, |a| a.advantage)
    }),
    ("cost_usd", |c| c.usage.cost_usd),
    ("generate_seconds", |c| Some(c.usage.generate_seconds)),
    ("audit_seconds", |c| Some(c.usage.audit_seconds)),
];

/// The largest of one gap over the cell's fairness groups.
fn largest_gap(
    cell: &CellResult,
    gap: fn(&ehrsynth_eval::fairness::GroupGap) -> Option<f64>,
) -> Option<f64> {
    let fairness = cell.audit.as_ref()?.fairness.as_ref()?;
    fairness.gaps.iter().filter_map(gap).reduce(f64::max)
}

/// The highest of one attack score over the cell's membership-inference attacks.
fn strongest_attack(
    cell: &CellResult,
    score: fn(&ehrsynth_eval::privacy::AttackReport) -> Option<f64>,
) -> Option<f64> {
    let privacy = cell.audit.as_ref()?.privacy.as_ref()?;
    privacy.attacks.iter().filter_map(score).reduce(f64::max)
}

/// The tidy table of `cells`.
pub fn results_table(cells: &[CellResult]) -> Result<Table, ehrsynth_table::TableError> {
    let text = |name: &str, f: &dyn Fn(&CellResult) -> Option<String>| {
        let values: Vec<Option<String>> = cells.iter().map(f).collect();
        Column::categorical(name, &values)
    };
    let int = |name: &str, f: &dyn Fn(&CellResult) -> u64| {
        let values: Vec<Option<i64>> = cells.iter().map(|c| Some(f(c) as i64)).collect();
        Column::integer(name, &values)
    };
    let mut columns = vec![
        text("id", &|c| Some(c.spec.id.clone())),
        text("generator", &|c| Some(c.spec.generator.clone())),
        text("strategy", &|c| c.spec.strategy.clone()),
        text("provider", &|c| c.spec.provider.clone()),
        text("model", &|c| c.spec.model.clone()),
        Column::continuous(
            "epsilon",
            &cells.iter().map(|c| c.spec.epsilon).collect::<Vec<_>>(),
        ),
        text("feature_set", &|c| Some(c.spec.feature_set.clone())),
        int("feature_count", &|c| c.spec.feature_count as u64),
        int("rows", &|c| c.spec.rows as u64),
        int("seed", &|c| c.spec.seed),
        text("split", &|c| Some(c.spec.split.clone())),
        text("status", &|c| {
            Some(match c.status {
                CellStatus::Done => "done".into(),
                CellStatus::Failed { .. } => "failed".into(),
            })
        }),
        text("failure", &|c| match &c.status {
            CellStatus::Failed { reason } => Some(reason.clone()),
            CellStatus::Done => None,
        }),
        int("rows_valid", &|c| c.usage.rows_valid as u64),
        int("rows_rejected", &|c| c.usage.rows_rejected as u64),
        int("requests", &|c| c.usage.requests),
        int("prompt_tokens", &|c| c.usage.prompt_tokens),
        int("completion_tokens", &|c| c.usage.completion_tokens),
    ];
    for (name, metric) in METRICS {
        let values: Vec<Option<f64>> = cells.iter().map(metric).collect();
        columns.push(Column::continuous(*name, &values));
    }
    Table::new(columns)
}

//! The tidy results table: one row per cell, one column per setting and per metric, written as
//! CSV and Parquet through ehrsynth-table's io.

use ehrsynth_eval::metrics::HEADLINE;
use ehrsynth_table::{Column, Table};

use crate::results::{CellResult, CellStatus};

/// Metric columns read from a cell's usage rather than its audit, after the audit's headline
/// metrics ([`ehrsynth_eval::metrics::HEADLINE`]).
type UsageMetric = (&'static str, fn(&CellResult) -> Option<f64>);

/// The usage metric columns of the tidy table, after the headline metrics.
pub const USAGE_METRICS: &[UsageMetric] = &[
    ("cost_usd", |c| c.usage.cost_usd),
    ("generate_seconds", |c| Some(c.usage.generate_seconds)),
    ("audit_seconds", |c| Some(c.usage.audit_seconds)),
];

/// How a metric column is read from a cell.
pub type ReadMetric = Box<dyn Fn(&CellResult) -> Option<f64>>;

/// Every metric column of the tidy table, in order: the headline metrics, then usage.
pub fn metric_columns() -> Vec<(&'static str, ReadMetric)> {
    let headline = HEADLINE.iter().map(|m| {
        let read: ReadMetric = Box::new(move |c: &CellResult| (m.value)(c.audit.as_ref()?));
        (m.key, read)
    });
    let usage = USAGE_METRICS.iter().map(|(key, read)| {
        let read: ReadMetric = Box::new(*read);
        (*key, read)
    });
    headline.chain(usage).collect()
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
    for (name, metric) in metric_columns() {
        let values: Vec<Option<f64>> = cells.iter().map(&metric).collect();
        columns.push(Column::continuous(name, &values));
    }
    Table::new(columns)
}

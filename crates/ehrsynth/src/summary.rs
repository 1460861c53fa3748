//! Plain-text summaries of a table and its schema for the console.

use std::fmt::Write as _;

use ehrsynth_table::{ColumnKind, Role, Schema, Table};

/// One line per column: name, role, kind, unit, missing share, and mean / range or categories.
pub fn table_summary(table: &Table, schema: &Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:<8} {:<12} {:<10} {:>8}  values",
        "column", "role", "kind", "unit", "missing"
    );
    for spec in schema.columns() {
        let Some(column) = table.column(&spec.name) else {
            continue;
        };
        let missing = column.missing_count() as f64 / column.len().max(1) as f64;
        let values = if spec.kind == ColumnKind::Categorical {
            column
                .dictionary()
                .map(|d| format!("{} categories", d.len()))
                .unwrap_or_default()
        } else {
            let xs: Vec<f64> = (0..column.len())
                .filter_map(|i| column.get_f64(i))
                .collect();
            if xs.is_empty() {
                "-".to_string()
            } else {
                let mean = xs.iter().sum::<f64>() / xs.len() as f64;
                let (lo, hi) = xs
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                        (a.min(x), b.max(x))
                    });
                format!("mean {mean:.3}  range [{lo:.4}, {hi:.4}]")
            }
        };
        let mut role = spec.role.as_str().to_string();
        if spec.known_after_outcome {
            role.push('*');
        }
        let _ = writeln!(
            out,
            "{:<30} {:<8} {:<12} {:<10} {:>7.1}%  {}",
            spec.name,
            role,
            spec.kind.as_str(),
            spec.unit.as_deref().unwrap_or(""),
            100.0 * missing,
            values
        );
    }
    if schema.columns().iter().any(|c| c.known_after_outcome) {
        let _ = writeln!(
            out,
            "* known only after the outcome: predicting the target with it leaks the label"
        );
    }
    out
}

/// A one-line headline: rows, columns, target rate, sites.
pub fn headline(table: &Table, schema: &Schema, positive: Option<&str>) -> String {
    let mut parts = vec![format!(
        "{} rows x {} columns",
        table.n_rows(),
        table.n_columns()
    )];
    if let Some(target) = schema.target().and_then(|t| table.column(t)) {
        parts.push(target_share(target, positive));
    }
    if let Some(site) = schema.site().and_then(|s| table.column(s)) {
        let mut sites: Vec<String> = (0..site.len()).map(|i| site.value(i).to_string()).collect();
        sites.sort();
        sites.dedup();
        parts.push(format!("{} sites ({})", sites.len(), site.name()));
    }
    let groups = schema.with_role(Role::Group);
    if !groups.is_empty() {
        parts.push(format!("groups: {}", groups.join(", ")));
    }
    parts.join("; ")
}

/// "death = 1 in 110 rows (8.59%)", the positive class read as the audit reads it (a target of
/// two labels counts its positive label); "outcome: 52 values" for one that is not binary.
fn target_share(target: &ehrsynth_table::Column, positive: Option<&str>) -> String {
    match ehrsynth_eval::target::BinaryTarget::infer(target, positive) {
        Ok(classes) => {
            let labels = classes
                .labels(target, "data")
                .unwrap_or_else(|_| vec![None; target.len()]);
            let known = labels.iter().flatten().count();
            let positives = labels.iter().filter(|l| **l == Some(true)).count();
            format!(
                "{} = {} in {positives} rows ({:.2}%)",
                target.name(),
                classes.positive,
                100.0 * positives as f64 / known.max(1) as f64
            )
        }
        Err(_) => format!("target {}: not two classes", target.name()),
    }
}

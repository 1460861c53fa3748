//! The HTML report: one self-contained page (inline CSS and SVG, no script, no network). Each
//! table and figure is a `<section data-check="…">` so the browser test can find it; sections the
//! study did not run carry a plain note instead of empty rows.

use std::fmt::Write as _;

use ehrsynth_eval::html::esc;

use super::paper;
use super::select::{self, Done, by_feature_set, kl, method, primary, showcase};
use super::svg::{self, ForestRow, Series};
use super::tables::{self, ReportTable, glossary};
use super::words::Words;
use crate::results::StudyResults;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;color:#1d232a;line-height:1.45}\
main{max-width:1240px;margin:0 auto;padding:24px 32px 64px}\
h1{font-size:28px;margin:8px 0 4px}h2{font-size:21px;margin:0 0 6px}h3{font-size:16px;margin:18px 0 6px}\
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:18px 22px;margin:18px 0;overflow-x:auto}\
.lede{color:#4a5561;margin:0 0 8px}.gloss{color:#4a5561;font-size:13.5px;margin:2px 0}\
.note{background:#fff6dd;border-left:4px solid #e0a800;padding:6px 10px;font-size:14px}\
table{border-collapse:collapse;margin:10px 0;font-size:13px}\
th{background:#eef1f4;text-align:left;padding:5px 8px;border-bottom:2px solid #cfd5db;vertical-align:bottom}\
td{padding:4px 8px;border-bottom:1px solid #e6e9ed;vertical-align:top}tr:nth-child(even) td{background:#fafbfc}\
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
td.flag{background:#fdecea!important;color:#8a1c13}th.paper,td.paper{background:#f3efe6!important;color:#5b4a1f}td.nr{color:#9099a3;font-style:italic}\
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.kpi{background:#f2f6fb;border-radius:6px;padding:10px 14px;min-width:170px}\
.kpi b{display:block;font-size:24px;font-variant-numeric:tabular-nums}.kpi span{font-size:12.5px;color:#4a5561}\
.kpi.flag{background:#fdecea}.summary li{margin:4px 0}\
.legend span{margin-right:16px;font-size:13px;white-space:nowrap}.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}\
.tick{font-size:10.5px;fill:#444}.axis{font-size:12px;fill:#222}.cellv{font-size:11px;font-weight:600}\
.panels{display:flex;flex-wrap:wrap;gap:6px}.panel{margin:0;text-align:center;font-size:12px}\
.dists{display:grid;grid-template-columns:repeat(auto-fill,minmax(186px,1fr));gap:4px 8px}\
.dist{margin:0}.dist figcaption{font-size:12px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\
.dist small{font-weight:400;color:#4a5561;margin-left:6px}\
nav a{margin-right:12px;font-size:13.5px;white-space:nowrap}pre{font-size:12px;background:#f6f7f9;padding:10px;overflow-x:auto}";

/// Cell classes: numbers right-aligned, "not run" greyed, paper columns tinted.
fn cell_class(text: &str, paper: bool) -> &'static str {
    let numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '–' | '—'));
    match (text == tables::NOT_RUN, paper, numeric) {
        (true, true, _) => "paper nr",
        (true, false, _) => "nr",
        (false, true, _) => "paper n",
        (false, false, true) => "n",
        _ => "",
    }
}

/// A table's rows as HTML; `bar_column` gets an inline bar (scaled to its largest value) in a
/// column of its own right after it. Non-empty cells of a "flags" column are tinted.
fn table_html(t: &ReportTable, bar_column: Option<usize>) -> String {
    let mut h = String::from("<table><thead><tr>");
    let paper_cols: Vec<bool> = t.headers.iter().map(|x| x.starts_with("paper")).collect();
    let flag_col = t.headers.iter().position(|x| x == "flags");
    for (i, (head, &is_paper)) in t.headers.iter().zip(&paper_cols).enumerate() {
        let _ = write!(
            h,
            "<th{}>{}</th>",
            if is_paper { " class=\"paper\"" } else { "" },
            esc(head)
        );
        if bar_column == Some(i) {
            h.push_str("<th></th>");
        }
    }
    h.push_str("</tr></thead><tbody>");
    let max = bar_column.map_or(0.0, |c| {
        t.rows
            .iter()
            .filter_map(|r| r.get(c)?.parse::<f64>().ok())
            .fold(0.0, f64::max)
    });
    for row in &t.rows {
        h.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if flag_col == Some(i) && cell != "none" && !cell.starts_with("not judged")
            {
                "flag"
            } else {
                cell_class(cell, paper_cols.get(i).copied().unwrap_or(false))
            };
            let _ = write!(h, "<td class=\"{class}\">{}</td>", esc(cell));
            if bar_column == Some(i) {
                let v = cell.parse::<f64>().unwrap_or(0.0);
                let _ = write!(h, "<td>{}</td>", svg::inline_bar(v, max, svg::SYNTHETIC));
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

fn gloss_html(t: &ReportTable) -> String {
    let mut h = String::new();
    for g in &t.gloss {
        let _ = write!(h, "<p class=\"gloss\">{}</p>", esc(g));
    }
    if let Some(note) = &t.note {
        let _ = write!(h, "<p class=\"note\" data-empty>{}</p>", esc(note));
    }
    h
}

/// A section around a table, with an optional figure above it.
fn section(t: &ReportTable, figure: &str, bar_column: Option<usize>) -> String {
    format!(
        "<section id=\"{id}\" data-check=\"{id}\"><h2>{}</h2>{}{figure}{}</section>",
        esc(&t.title),
        gloss_html(t),
        table_html(t, bar_column),
        id = t.id
    )
}

fn kpi(value: String, label: &str, flag: bool) -> String {
    format!(
        "<div class=\"kpi{}\"><b>{}</b><span>{}</span></div>",
        if flag { " flag" } else { "" },
        esc(&value),
        esc(label)
    )
}

/// "Gaussian copula, 5 features": a KPI's source.
fn method_and_size(d: &Done<'_>) -> String {
    format!("{}, {} features", method(d.spec()), d.spec().feature_count)
}

fn summary_html(results: &StudyResults, done: &[Done<'_>]) -> String {
    let best_kl = done
        .iter()
        .filter_map(|d| kl(d.audit).map(|v| (d, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let best_tstr = done
        .iter()
        .filter_map(|d| select::tstr(d.audit).map(|v| (d, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let flagged = done
        .iter()
        .filter(|d| !select::privacy_flags(d.audit).is_empty())
        .count();
    // Start from +0.0: an empty f64 sum is -0.0, which would print as "$-0.00".
    let cost = results
        .cells
        .iter()
        .filter_map(|c| c.usage.cost_usd)
        .fold(0.0, |a, b| a + b);
    let mut h = String::from(
        "<section id=\"summary\" data-check=\"summary\" class=\"summary\"><h2>Summary</h2><div class=\"kpis\">",
    );
    h.push_str(&kpi(
        format!(
            "{} / {}",
            done.len(),
            results.cells.len() + results.pending.len()
        ),
        "cells audited / in the grid",
        done.len() < results.cells.len(),
    ));
    h.push_str(&kpi(
        tables::n3(best_kl.map(|x| x.1)),
        &format!(
            "lowest mean KL ({})",
            best_kl.map_or("none".into(), |(d, _)| method_and_size(d))
        ),
        false,
    ));
    h.push_str(&kpi(
        tables::n3(best_tstr.map(|x| x.1)),
        &format!(
            "best AUROC trained on synthetic ({})",
            best_tstr.map_or("none".into(), |(d, _)| method_and_size(d))
        ),
        false,
    ));
    h.push_str(&kpi(
        tables::n3(best_tstr.and_then(|(d, _)| select::trtr(d.audit))),
        "AUROC trained on real patients",
        false,
    ));
    h.push_str(&kpi(
        flagged.to_string(),
        "cells with a privacy flag",
        flagged > 0,
    ));
    h.push_str(&kpi(format!("${cost:.2}"), "spent on LLM calls", false));
    h.push_str("</div><ul>");
    for sentence in super::summary::summary(results) {
        let _ = write!(h, "<li>{}</li>", esc(&sentence));
    }
    h.push_str("</ul></section>");
    h
}

/// Figure 2: strongest attack AUROC by feature count, ours and the paper's.
fn figure2(results: &StudyResults) -> String {
    let pts = by_feature_set(&primary(&select::done(results)));
    // Our "all" feature set stands where the paper's 83 columns stand.
    let published = if Words::of(results).eicu() {
        &paper::ATTACK_BY_FEATURES[..]
    } else {
        &[]
    };
    let mut counts: Vec<usize> = select::distinct(
        pts.iter()
            .map(select::paper_feature_count)
            .chain(published.iter().map(|x| x.0)),
    );
    counts.sort_unstable();
    let methods = select::distinct(pts.iter().map(|p| p.method.clone()));
    let mut series: Vec<Series> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| Series {
            label: m.clone(),
            values: counts
                .iter()
                .map(|&k| {
                    pts.iter()
                        .find(|p| &p.method == m && select::paper_feature_count(p) == k)
                        .and_then(|p| p.mean(select::attack_auroc))
                })
                .collect(),
            colour: svg::colour(i),
        })
        .collect();
    if Words::of(results).eicu() {
        series.push(Series {
            label: "paper (LLM, OpenAI o1)".into(),
            values: counts.iter().map(|&k| paper::attack_auroc(k)).collect(),
            colour: svg::PAPER,
        });
    }
    let legend: Vec<(String, &str)> = series.iter().map(|s| (s.label.clone(), s.colour)).collect();
    let all_count = pts
        .iter()
        .find(|p| p.feature_set == "all")
        .map(|p| p.feature_count);
    let categories: Vec<String> = counts
        .iter()
        .map(|&k| match all_count {
            Some(ours) if k == select::ALL_FEATURES => format!("all ({ours}; paper 83)"),
            _ if k == select::ALL_FEATURES => "all (paper 83)".to_string(),
            _ => format!("{k} features"),
        })
        .collect();
    format!(
        "{}{}",
        svg::legend(&legend),
        svg::grouped_bars(
            &categories,
            &series,
            1.0,
            Some((0.5, "0.5 = attacker guesses")),
            "attack AUROC (strongest attack; – = not run)"
        )
    )
}

/// Attack ROC curves: one panel per method and feature set.
fn roc_section(results: &StudyResults) -> String {
    let pts = by_feature_set(&primary(&select::done(results)));
    let mut panels = String::new();
    let mut names: Vec<String> = Vec::new();
    for p in &pts {
        let Some(privacy) = p.cells[0].audit.privacy.as_ref() else {
            continue;
        };
        let curves: Vec<svg::Curve<'_>> = privacy
            .attacks
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if !names.contains(&a.name) {
                    names.push(a.name.clone());
                }
                let colour = names.iter().position(|n| *n == a.name).unwrap_or(i);
                (
                    format!("{} AUROC {}", a.name, tables::n3(a.auroc)),
                    a.roc.as_slice(),
                    svg::colour(colour),
                )
            })
            .collect();
        panels.push_str(&svg::roc_panel(
            &format!("{} · {} features", p.method, p.feature_count),
            &curves,
        ));
    }
    let legend: Vec<(String, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{n} attack"), svg::colour(i)))
        .collect();
    let body = if panels.is_empty() {
        format!(
            "<p class=\"note\" data-empty>No audited cell has a privacy section ({}).</p>",
            tables::NOT_RUN
        )
    } else {
        format!(
            "{}<div class=\"panels\">{panels}</div>",
            svg::legend(&legend)
        )
    };
    format!(
        "<section id=\"roc\" data-check=\"roc\"><h2>Attack ROC curves</h2><p class=\"gloss\">{}</p><p class=\"gloss\">Each curve traces the share of training patients found (true positive rate) against the share of other patients wrongly accused (false positive rate); the dashed diagonal is guessing. The paper reports no curves.</p>{body}</section>",
        esc(glossary::ATTACK)
    )
}

/// Figure 4: real vs synthetic distributions of every feature of each method's showcase cell.
fn figure4(results: &StudyResults) -> String {
    let cells = showcase(&primary(&select::done(results)));
    let mut body = String::new();
    for d in &cells {
        if d.cell.distributions.is_empty() {
            continue;
        }
        let s = d.spec();
        let _ = write!(
            body,
            "<h3>{} · {} features · {} rows (seed {})</h3><div class=\"dists\">",
            esc(&method(s)),
            s.feature_count,
            s.rows,
            s.seed
        );
        for f in &d.cell.distributions {
            let feature_kl = d
                .audit
                .fidelity
                .features
                .iter()
                .find(|x| x.name == f.name)
                .and_then(|x| x.kl);
            body.push_str(&svg::paired_histogram(
                &f.name,
                &f.bins,
                &f.real,
                &f.synthetic,
                &format!("KL {}", tables::n3(feature_kl)),
            ));
        }
        body.push_str("</div>");
    }
    if body.is_empty() {
        body = format!(
            "<p class=\"note\" data-empty>No audited cell recorded distributions ({}).</p>",
            tables::NOT_RUN
        );
    }
    format!(
        "<section id=\"figure4\" data-check=\"figure4\"><h2>Figure 4 · Real vs synthetic distribution of every feature</h2><p class=\"gloss\">For each method, the cell with the most features: the share of patients per value range, real patients in grey, synthetic in blue; the lowest and highest values are written under each chart, and a bar set apart on the right is the share missing. {}</p><p class=\"gloss\">{}</p>{}{body}</section>",
        esc(glossary::KL),
        esc(if Words::of(results).eicu() {
            paper::DRIFT_AT_83
        } else {
            ""
        }),
        svg::legend(&[
            ("real patients".into(), svg::REAL),
            ("synthetic".into(), svg::SYNTHETIC)
        ])
    )
}

fn cross_hospital_figure(results: &StudyResults) -> String {
    match &results.cross_hospital {
        Some(m) if !m.hospitals.is_empty() => {
            format!(
                "<p class=\"gloss\">Colour: pale = 0.5 (no better than chance), dark blue = 1 (perfect); grey n/a = not computable (a hospital with one outcome only).</p>{}",
                svg::heatmap(&m.hospitals, &m.auroc)
            )
        }
        _ => String::new(),
    }
}

fn forest_figure(results: &StudyResults) -> String {
    let rows: Vec<ForestRow> = select::done(results)
        .iter()
        .map(|d| ForestRow {
            label: select::cell_words(d.spec()),
            value: select::tstr(d.audit),
            ci: select::tstr_ci(d.audit),
            reference: select::trtr(d.audit),
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "{}{}",
        svg::legend(&[
            (
                "trained on synthetic (TSTR), with 95% CI".into(),
                svg::SYNTHETIC
            ),
            ("trained on real (TRTR)".into(), svg::PAPER),
        ]),
        svg::forest(&rows)
    )
}

fn glossary_html() -> String {
    let mut h = String::from("<section id=\"glossary\"><h2>What the numbers mean</h2><ul>");
    for g in [
        glossary::KL,
        glossary::TSTR,
        glossary::TRTR,
        glossary::CI,
        glossary::ATTACK,
        glossary::DCR,
        glossary::DETECTION,
        glossary::GAPS,
        glossary::CROSS,
        glossary::IMPORTANCE,
        "AUROC (area under the ROC curve): the chance that a randomly chosen row with the outcome gets a higher risk score than one without it.",
        "Gaussian copula and Bayesian network: statistical generators that learn the real data's distributions directly; LLM strategies prompt a language model for rows.",
    ] {
        let _ = write!(h, "<li>{}</li>", esc(g));
    }
    h.push_str("</ul></section>");
    h
}

const NAV: [(&str, &str); 15] = [
    ("summary", "Summary"),
    ("table1", "Table 1"),
    ("table2", "Table 2"),
    ("table3", "Table 3"),
    ("table4", "Table 4"),
    ("table5", "Table 5"),
    ("figure2", "Figure 2"),
    ("roc", "ROC curves"),
    ("figure4", "Figure 4"),
    ("figure5", "Figure 5"),
    ("cross-hospital", "Cross-hospital"),
    ("fairness", "Fairness"),
    ("utility", "TSTR vs TRTR"),
    ("constraints", "Rules"),
    ("privacy", "Privacy"),
];

/// The whole report as one HTML page.
pub fn render(results: &StudyResults) -> String {
    let words = Words::of(results);
    let done = select::done(results);
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body><main><h1>{}</h1><p class=\"lede\">{} Data: {}. Outcome: {}. Written by ehrsynth {}.</p><nav>",
        esc(&results.title),
        esc(&results.title),
        esc(words.lede()),
        esc(&results.data_description),
        esc(&words.outcome()),
        esc(&results.ehrsynth_version)
    );
    for (id, label) in NAV.iter().chain([("cost", "Cost")].iter()) {
        let label = match *id {
            "cross-hospital" if !words.eicu() => "Cross-site",
            _ => label,
        };
        let _ = write!(h, "<a href=\"#{id}\">{label}</a>");
    }
    h.push_str("</nav>");
    h.push_str(&summary_html(results, &done));
    for t in [
        tables::table1(results),
        tables::table2(results),
        tables::table3(results),
        tables::table4(results),
        tables::table5(results),
    ] {
        h.push_str(&section(&t, "", None));
    }
    let mut f2 = tables::attacks_by_features(results);
    f2.id = "figure2";
    f2.title = "Figure 2 · Membership-inference attack AUROC by number of features".into();
    h.push_str(&section(&f2, &figure2(results), None));
    h.push_str(&roc_section(results));
    h.push_str(&figure4(results));
    let mut f5 = tables::importance(results);
    f5.id = "figure5";
    f5.title = format!("Figure 5 · Feature importance for {}", words.outcome());
    h.push_str(&section(&f5, "", Some(2)));
    h.push_str("<h2 style=\"margin-top:32px\">Beyond the paper</h2>");
    let mut cross = tables::cross_hospital(results);
    cross.id = "cross-hospital";
    h.push_str(&section(&cross, &cross_hospital_figure(results), None));
    h.push_str(&section(&tables::fairness(results), "", None));
    h.push_str(&section(
        &tables::utility(results),
        &forest_figure(results),
        None,
    ));
    h.push_str(&section(&tables::constraints(results), "", None));
    h.push_str(&section(&tables::privacy(results), "", None));
    h.push_str(&section(&tables::cost(results), "", None));
    h.push_str(&glossary_html());
    let _ = writeln!(
        h,
        "<section id=\"config\"><details><summary>The study's config file</summary><pre>{}</pre></details></section></main></body></html>",
        esc(&results.config_text)
    );
    h
}

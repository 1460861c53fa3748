//! A self-contained HTML page for one audit (no scripts, no network): headline numbers, the
//! per-feature fidelity table with inline SVG bars, utility, per-site and per-group results, and the
//! attack ROC curves. The study report (ehrsynth-study) reuses the escaping and number helpers.

use std::fmt::Write as _;

use crate::audit::AuditReport;
use crate::control::ControlReport;
use crate::privacy::AttackReport;
use crate::utility::Scores;

/// Escapes text for HTML element content and quoted attributes (also used by the study report).
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A number with `digits` decimals, or an en dash when absent.
pub fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// An AUROC with its interval, or "too few to judge" (with the value, greyed) for a group or a
/// site with too few rows.
fn judged(auroc: Option<f64>, ci: Option<(f64, f64)>, too_few: bool) -> String {
    if too_few {
        return format!(
            "<span style=\"color:#888\">too few to judge ({})</span>",
            num(auroc, 2)
        );
    }
    match ci {
        Some((lo, hi)) => format!("{} [{lo:.2}, {hi:.2}]", num(auroc, 3)),
        None => num(auroc, 3),
    }
}

/// A 95% interval as ` <small>[lo, hi]</small>`, or nothing when absent.
pub fn interval(ci: Option<(f64, f64)>) -> String {
    ci.map_or_else(String::new, |(lo, hi)| {
        format!(" <small>[{lo:.3}, {hi:.3}]</small>")
    })
}

fn bar(value: Option<f64>, max: f64) -> String {
    let width = value.map_or(0.0, |v| (v / max.max(1e-12)).clamp(0.0, 1.0) * 120.0);
    format!(
        r##"<svg width="120" height="10" role="img"><rect width="{width:.1}" height="10" fill="#4a7ab5"/></svg>"##
    )
}

fn scores_row(label: &str, s: &Scores) -> String {
    format!(
        "<tr><td>{label}</td><td>{}{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        num(s.auroc, 3),
        interval(s.auroc_ci),
        num(s.auprc, 3),
        interval(s.auprc_ci),
        s.train_rows,
        s.test_rows,
        esc(s.note.as_deref().unwrap_or(""))
    )
}

fn roc_svg(attacks: &[AttackReport]) -> String {
    let colours = ["#b5474a", "#4a7ab5", "#5a9e5a"];
    let mut svg = String::from(
        r##"<svg width="260" height="260" viewBox="-30 -10 260 260" role="img"><rect x="0" y="0" width="220" height="220" fill="none" stroke="#999"/><line x1="0" y1="220" x2="220" y2="0" stroke="#ccc" stroke-dasharray="4"/>"##,
    );
    for (a, colour) in attacks.iter().zip(colours) {
        let points: Vec<String> = a
            .roc
            .iter()
            .map(|(f, t)| format!("{:.1},{:.1}", f * 220.0, 220.0 - t * 220.0))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
    }
    svg.push_str(r#"<text x="80" y="245" font-size="11">false positive rate</text></svg>"#);
    svg
}

/// Each headline figure beside the control's: the real holdout passed as synthetic.
fn control_table(report: &AuditReport, c: &ControlReport) -> String {
    let f = &report.fidelity;
    let mut rows: Vec<(String, Option<f64>, Option<f64>)> = vec![
        ("mean KL".into(), f.kl_mean, c.kl_mean),
        ("mean KS".into(), f.ks_mean, c.ks_mean),
        ("mean TVD".into(), f.tvd_mean, c.tvd_mean),
        (
            "correlation MAE".into(),
            f.correlation_mae,
            c.correlation_mae,
        ),
        (
            "detection AUROC".into(),
            f.detection_auroc,
            c.detection_auroc,
        ),
        (
            "out-of-schema share".into(),
            Some(f.out_of_range_share),
            Some(c.out_of_range_share),
        ),
        (
            "exact copies of training rows".into(),
            Some(f.exact_copy_share),
            Some(c.exact_copy_share),
        ),
    ];
    if let Some(u) = &report.utility {
        rows.push((
            "TSTR AUROC (GBDT)".into(),
            u.across.auroc,
            c.tstr.as_ref().and_then(|s| s.auroc),
        ));
    }
    if let Some(p) = &report.privacy {
        rows.push(("DCR share".into(), p.dcr_share, c.dcr_share));
        for a in &p.attacks {
            let control = c
                .attacks
                .iter()
                .find(|x| x.name == a.name)
                .and_then(|x| x.auroc);
            rows.push((format!("attack AUROC, {}", a.name), a.auroc, control));
        }
    }
    let mut h = format!(
        "<h2>Beside the control</h2><p>The control is {} real holdout rows passed as if they were the synthetic table (the other {} holdout rows are its non-members and test rows): the figures a perfect generator reaches on this table at this size. Read each synthetic figure against it.</p><table><tr><th>figure</th><th>synthetic</th><th>control</th></tr>",
        c.rows, c.non_members
    );
    for (label, value, control) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&label),
            num(value, 3),
            num(control, 3)
        );
    }
    h.push_str("</table>");
    h
}

/// The schema's rules across columns: every rule with the rows that break it, or one line when
/// no rule applies to the audited columns.
fn constraints_section(counts: &[ehrsynth_table::constraint::ConstraintCount]) -> String {
    if counts.is_empty() {
        return "<h2>Rules across columns</h2><p>The schema has no rule across the audited columns (one-hot sets, orders, panels: docs/schema.md).</p>".into();
    }
    let broken = counts.iter().filter(|c| c.broken > 0).count();
    let mut h = String::new();
    let _ = write!(
        h,
        "<h2>Rules across columns</h2><p>{} rules from the schema; {}. Real rows break none.</p><table><tr><th>rule</th><th>rows checked</th><th>rows breaking it</th><th>share</th></tr>",
        counts.len(),
        match broken {
            0 => "no synthetic row breaks one".to_string(),
            n => format!("{n} broken by some synthetic rows"),
        }
    );
    for c in counts {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td></tr>",
            esc(&c.constraint),
            c.rows,
            c.broken,
            c.share()
        );
    }
    h.push_str("</table>");
    h
}

/// The audit as one HTML page.
pub fn render(report: &AuditReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ehrsynth audit</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}}th{{background:#f3f3f3}}\
         .kpi{{display:inline-block;margin:0 2em 1em 0}}.kpi b{{font-size:22px;display:block}}</style></head><body>\
         <h1>Synthetic data audit</h1><p>{} real training rows, {} real holdout rows, {} synthetic rows; {} columns audited; seed {}.</p>",
        report.rows.train,
        report.rows.holdout,
        report.rows.synthetic,
        report.columns.len(),
        report.seed
    );
    let f = &report.fidelity;
    let c = report.control.as_ref();
    let tstr = report.utility.as_ref().and_then(|u| u.across.auroc);
    let control_tstr = c.and_then(|c| c.tstr.as_ref()).and_then(|s| s.auroc);
    let dcr = report.privacy.as_ref().and_then(|p| p.dcr_share);
    let kpis = [
        (
            "mean KL (lower is better)",
            f.kl_mean,
            c.and_then(|c| c.kl_mean),
        ),
        (
            "detection AUROC (0.5 ideal)",
            f.detection_auroc,
            c.and_then(|c| c.detection_auroc),
        ),
        (
            "exact copies of training rows",
            Some(f.exact_copy_share),
            c.map(|c| c.exact_copy_share)
                .or(f.exact_copy_share_baseline),
        ),
        ("TSTR AUROC", tstr, control_tstr),
        ("DCR share (0.5 ideal)", dcr, c.and_then(|c| c.dcr_share)),
    ];
    for (label, value, control) in kpis {
        let control =
            control.map_or_else(String::new, |v| format!("<small>control {v:.3}</small>"));
        let _ = write!(
            h,
            "<div class=\"kpi\"><b>{}</b>{label}<br>{control}</div>",
            num(value, 3)
        );
    }
    if let Some(c) = c {
        h.push_str(&control_table(report, c));
    }
    for note in &report.notes {
        let _ = write!(h, "<p><em>Note: {}</em></p>", esc(note));
    }
    let max_kl = f.features.iter().filter_map(|x| x.kl).fold(0.0, f64::max);
    h.push_str("<h2>Fidelity per feature</h2><table><tr><th>feature</th><th>KL</th><th></th><th>KS</th><th>Wasserstein/IQR</th><th>TVD</th><th>missing Δ</th><th>out of schema</th></tr>");
    for x in &f.features {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.3}</td><td>{:.3}</td></tr>",
            esc(&x.name),
            num(x.kl, 3),
            bar(x.kl, max_kl),
            num(x.ks_statistic, 3),
            num(x.wasserstein_iqr, 3),
            num(x.tvd, 3),
            x.missing_rate_difference,
            x.out_of_range_share
        );
    }
    let _ = write!(
        h,
        "</table><p>Correlation MAE {}; Spearman MAE {}.</p>",
        num(f.correlation_mae, 3),
        num(f.spearman_mae, 3)
    );
    h.push_str(&constraints_section(&f.constraints));
    if let Some(u) = &report.utility {
        h.push_str("<h2>Utility</h2><table><tr><th>setting</th><th>AUROC [95% CI]</th><th>AUPRC [95% CI]</th><th>train rows</th><th>test rows</th><th>note</th></tr>");
        for (label, s) in [
            ("GBDT within (synthetic→synthetic)", &u.within),
            ("GBDT across / TSTR (synthetic→real)", &u.across),
            ("GBDT TRTR (real→real)", &u.trtr),
            ("logistic within", &u.logistic.within),
            ("logistic TSTR", &u.logistic.across),
            ("logistic TRTR", &u.logistic.trtr),
        ] {
            h.push_str(&scores_row(label, s));
        }
        h.push_str("</table>");
        if !u.sites.is_empty() {
            h.push_str("<h3>TSTR per hospital of the holdout</h3><table><tr><th>site</th><th>in training data</th><th>rows</th><th>positives</th><th>AUROC</th></tr>");
            for s in &u.sites {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&s.site),
                    if s.seen_in_training { "yes" } else { "no" },
                    s.scores.test_rows,
                    s.scores.test_positives,
                    judged(s.scores.auroc, s.scores.auroc_ci, s.scores.too_few)
                );
            }
            h.push_str("</table>");
        }
    }
    if let Some(fr) = &report.fairness {
        h.push_str("<h2>Fairness</h2><table><tr><th>group</th><th>value</th><th>real rows</th><th>synthetic rows</th><th>holdout rows (positive)</th><th>KL mean</th><th>TSTR AUROC [95% interval]</th><th>TPR</th><th>FPR</th></tr>");
        for g in &fr.groups {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&g.column),
                esc(&g.value),
                g.real_rows,
                g.synthetic_rows,
                g.holdout_rows,
                g.holdout_positives,
                num(g.kl_mean, 3),
                judged(g.auroc, g.auroc_ci, g.too_few),
                num(g.tpr, 3),
                num(g.fpr, 3)
            );
        }
        h.push_str("<p>Groups and sites with fewer than 30 holdout rows or 5 of either class are too few to judge: their figures are noise and the gaps leave them out.</p>");
        h.push_str("</table><table><tr><th>group</th><th>AUROC gap</th><th>KL gap</th><th>equalised-odds difference</th></tr>");
        for g in &fr.gaps {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&g.column),
                num(g.auroc_gap, 3),
                num(g.kl_gap, 3),
                num(g.equalized_odds_difference, 3)
            );
        }
        h.push_str("</table>");
    }
    if let Some(p) = &report.privacy {
        let _ = write!(
            h,
            "<h2>Privacy</h2><p>DCR share {} (0.5 ideal); median distance synthetic→train {} vs synthetic→holdout {}; NNDR mean {}; {} members and {} non-members evaluated.</p>",
            num(p.dcr_share, 3),
            num(p.dcr_median_synthetic_to_train, 4),
            num(p.dcr_median_synthetic_to_holdout, 4),
            num(p.nndr_mean, 3),
            p.members_evaluated,
            p.non_members_evaluated
        );
        if p.non_members_from_other_sites {
            h.push_str("<p><em>Not read as leakage: the non-members come from other hospitals than the members (a hospital split), so figures above 0.5 may show the difference between hospitals. Judge leakage on a random split.</em></p>");
        }
        h.push_str("<table><tr><th>attack</th><th>AUROC</th><th>advantage</th><th>TPR@1%FPR</th><th>TPR@0.1%FPR</th><th>empirical risk</th></tr>");
        for a in &p.attacks {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.name),
                num(a.auroc, 3),
                num(a.advantage, 3),
                num(a.tpr_at_fpr_1pct, 3),
                num(a.tpr_at_fpr_01pct, 3),
                num(a.empirical_risk, 3)
            );
        }
        let _ = write!(
            h,
            "</table><p>Attack ROC curves (red: distance, blue: density ratio):</p>{}",
            roc_svg(&p.attacks)
        );
    }
    h.push_str("<p><small>Definitions: docs/metrics.md in the ehrsynth repository.</small></p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::constraints_section;
    use ehrsynth_table::constraint::ConstraintCount;

    #[test]
    fn the_rules_section_lists_each_rule_and_counts_those_broken() {
        let count = |constraint: &str, broken| ConstraintCount {
            constraint: constraint.into(),
            rows: 200,
            broken,
        };
        let page = constraints_section(&[
            count("one_hot(race_a, race_b)", 50),
            count("order(lo <= hi)", 0),
        ]);
        assert!(page.contains("2 rules from the schema; 1 broken by some synthetic rows"));
        assert!(
            page.contains("<td>one_hot(race_a, race_b)</td><td>200</td><td>50</td><td>0.2500</td>")
        );
        assert!(page.contains("order(lo &lt;= hi)"));
        assert!(constraints_section(&[]).contains("no rule across the audited columns"));
    }
}

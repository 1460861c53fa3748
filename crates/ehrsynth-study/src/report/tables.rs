//! The report's tables as plain text cells (the renderers escape and lay them out), the plain-words
//! summary, and the one-sentence explanation of every metric. Each table puts the paper's
//! published numbers beside ours and says plainly when the study's grid did not run a slice.

use ehrsynth_eval::audit::AuditReport;

use super::paper;
use super::select::{
    self, Done, Point, attack_auroc, by_feature_set, control, kl, method, points, primary,
    showcase, strongest_attack, trtr, tstr, tstr_ci,
};
use super::words::Words;
use crate::results::{CellStatus, StudyResults};

/// What an absent value says in a table.
pub const NOT_RUN: &str = "not in this study's grid";
/// What an absent published value says.
pub const NOT_PUBLISHED: &str = "—";

/// One table of the report.
pub struct ReportTable {
    /// Section id (the HTML `data-check` attribute and anchor).
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// What the table shows and how to read its numbers, one sentence each.
    pub gloss: Vec<String>,
    /// Column headings; those starting with "paper" hold published numbers.
    pub headers: Vec<String>,
    /// Rows of text cells.
    pub rows: Vec<Vec<String>>,
    /// Said instead of (or under) the rows when the study did not run what the table needs.
    pub note: Option<String>,
}

impl ReportTable {
    fn new(id: &'static str, title: &str, headers: &[&str]) -> Self {
        Self {
            id,
            title: title.to_string(),
            gloss: Vec::new(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            note: None,
        }
    }

    /// Says why the table has no rows of ours, when it has none.
    fn note_if_empty(mut self, why: &str) -> Self {
        if self.rows.is_empty() {
            self.note = Some(format!("{why} ({NOT_RUN})."));
        }
        self
    }

    fn gloss(mut self, sentences: &[&str]) -> Self {
        self.gloss = sentences.iter().map(|s| s.to_string()).collect();
        self
    }

    /// On data that are not eICU-shaped the paper's numbers compare with nothing: its columns
    /// ("paper ..."), its rows (a method "(paper ...)") and the sentences about it go.
    fn for_data(mut self, results: &StudyResults) -> Self {
        if Words::of(results).eicu() {
            return self;
        }
        let keep: Vec<bool> = self
            .headers
            .iter()
            .map(|h| !h.starts_with("paper"))
            .collect();
        self.headers = drop_columns(&self.headers, &keep);
        self.rows = self
            .rows
            .iter()
            .filter(|r| !r.first().is_some_and(|c| c.contains("(paper")))
            .map(|r| drop_columns(r, &keep))
            .collect();
        self.gloss.retain(|g| !about_the_paper(g));
        self
    }
}

/// A gloss sentence that only speaks of the paper's numbers (its sources, its findings).
fn about_the_paper(sentence: &str) -> bool {
    sentence.starts_with("paper ")
        || sentence.starts_with("The paper")
        || sentence == glossary::PAPER_COLUMNS
        || sentence == paper::DRIFT_AT_83
}

fn drop_columns(cells: &[String], keep: &[bool]) -> Vec<String> {
    cells
        .iter()
        .zip(keep.iter().chain(std::iter::repeat(&true)))
        .filter(|(_, k)| **k)
        .map(|(c, _)| c.clone())
        .collect()
}

/// One-sentence explanations of the metrics, shared by the tables and the glossary.
pub mod glossary {
    /// KL divergence.
    pub const KL: &str = "Mean KL divergence: how far each feature's synthetic distribution is from the real one, averaged over features (0 = identical; lower is better; unitless).";
    /// TSTR.
    pub const TSTR: &str = "TSTR AUROC (the paper's \"across\"): a model of the outcome trained only on synthetic rows, tested on real held-out patients (0.5 = coin toss, 1 = perfect).";
    /// TRTR.
    pub const TRTR: &str = "TRTR AUROC: the same model trained on the real training patients instead, the ceiling synthetic data can reach.";
    /// Paper columns.
    pub const PAPER_COLUMNS: &str = "Tinted columns hold the paper's published numbers (— = the paper did not report this method or setting).";
    /// CI.
    pub const CI: &str = "Brackets hold 95% bootstrap confidence intervals (shown for single-seed cells; several seeds show their mean).";
    /// MIA.
    pub const ATTACK: &str = "Membership-inference attack AUROC: how well an attacker holding the synthetic data tells patients who were in the training data from patients who were not (0.5 = cannot tell; above 0.6 is flagged).";
    /// DCR.
    pub const DCR: &str = "DCR share: share of synthetic rows closer to a training patient than to a held-out patient, corrected for group sizes (0.5 = no memorisation; near 1 = rows sit on real patients).";
    /// Detection.
    pub const DETECTION: &str = "Detection AUROC: how well a classifier tells synthetic rows from real ones (0.5 = indistinguishable).";
    /// Fairness gaps.
    pub const GAPS: &str = "Fairness gaps compare the groups of one group column (e.g. the values of a sex or race column): AUROC gap = best minus worst group's TSTR AUROC, KL gap = largest minus smallest group KL, equalised-odds difference = largest gap in true- or false-positive rate (0 = equal for every group).";
    /// Cross-hospital.
    pub const CROSS: &str = "Cross-site AUROC: a model trained on real rows of one hospital or site (row) and tested on real rows of another (column); the diagonal uses held-out rows of the same site.";
    /// Control.
    pub const CONTROL: &str = "Control: real held-out patients passed to the audit as if they were the synthetic table, as many as the cell's synthetic rows (at most half the holdout). A perfect generator writes rows like these, so for fidelity and privacy the control is the ideal on this table at this size; a model trained on synthetic rows can beat the control's TSTR when the generator learnt from more real rows than the control holds. Read every synthetic figure against it.";
    /// Importance.
    pub const IMPORTANCE: &str = "Importance: share of the gradient-boosted model's total gain from each feature when predicting the outcome on the real training rows (sums to 1).";
}

/// A number with 3 decimals, or a dash.
pub fn n3(x: Option<f64>) -> String {
    ehrsynth_eval::html::num(x, 3)
}

/// A value with its interval, e.g. `0.712 [0.650, 0.770]`.
pub fn with_ci(x: Option<f64>, ci: Option<(f64, f64)>) -> String {
    match (x, ci) {
        (Some(v), Some((lo, hi))) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        _ => n3(x),
    }
}

fn ours(x: Option<f64>) -> String {
    x.map_or_else(|| NOT_RUN.to_string(), |v| format!("{v:.3}"))
}

fn published(x: Option<f64>) -> String {
    x.map_or_else(|| NOT_PUBLISHED.to_string(), |v| format!("{v:.3}"))
}

fn seeds(p: &Point<'_>) -> String {
    p.cells.len().to_string()
}

fn paper_method(strategy: &str) -> String {
    format!(
        "LLM {} (paper, OpenAI o1)",
        select::strategy_words(strategy)
    )
}

/// The label of a control row.
const CONTROL_ROW: &str = "Control: real held-out patients (the ideal)";

/// The control's row count (fewer than the cell's when the holdout is small).
fn control_rows(p: &Point<'_>) -> String {
    p.cells
        .first()
        .and_then(|d| d.audit.control.as_ref())
        .map_or_else(|| "–".into(), |c| c.rows.to_string())
}

/// A value followed by the control's in parentheses, when there is one.
fn and_control(value: Option<f64>, control: Option<f64>) -> String {
    match control {
        Some(c) => format!("{} ({c:.3})", n3(value)),
        None => n3(value),
    }
}

/// Table 1: strategies and generators compared with all features, rows closest to 1,000.
pub fn table1(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "table1",
        "Table 1 · Generators and strategies compared (all features)",
        &[
            "method",
            "features",
            "synthetic rows",
            "seeds",
            "TSTR AUROC [95% CI]",
            "paper TSTR AUROC",
            "mean KL",
            "paper mean KL",
            "TRTR AUROC (real data)",
        ],
    )
    .gloss(&[
        glossary::TSTR,
        glossary::KL,
        glossary::TRTR,
        glossary::PAPER_COLUMNS,
        paper::TABLE1,
    ]);
    let done = primary(&select::done(results));
    let all: Vec<Done<'_>> = done
        .iter()
        .copied()
        .filter(|d| d.spec().feature_set == "all")
        .collect();
    let pts: Vec<Point<'_>> = by_feature_set(&all);
    for p in &pts {
        let published_pair = p.strategy().and_then(paper::strategy);
        t.rows.push(vec![
            p.method.clone(),
            p.feature_count.to_string(),
            p.rows.to_string(),
            seeds(p),
            with_ci(p.mean(tstr), p.single_ci(tstr_ci)),
            published(published_pair.map(|x| x.0)),
            n3(p.mean(kl)),
            published(published_pair.map(|x| x.1)),
            n3(p.mean(trtr)),
        ]);
    }
    if let Some(p) = pts.first().filter(|p| p.mean(control::kl).is_some()) {
        t.rows.push(vec![
            CONTROL_ROW.into(),
            p.feature_count.to_string(),
            control_rows(p),
            seeds(p),
            n3(p.mean(control::tstr)),
            NOT_PUBLISHED.into(),
            n3(p.mean(control::kl)),
            NOT_PUBLISHED.into(),
            n3(p.mean(trtr)),
        ]);
        t.gloss.push(glossary::CONTROL.into());
    }
    for (strategy, auc, kl_paper) in paper::STRATEGIES {
        if !pts.iter().any(|p| p.strategy() == Some(strategy)) {
            t.rows.push(vec![
                paper_method(strategy),
                "83 columns".into(),
                "1000".into(),
                NOT_RUN.into(),
                NOT_RUN.into(),
                format!("{auc:.3}"),
                NOT_RUN.into(),
                format!("{kl_paper:.3}"),
                NOT_RUN.into(),
            ]);
        }
    }
    if pts.is_empty() {
        t.note = Some(format!(
            "No cell of this study used all features ({NOT_RUN}); only the paper's numbers are shown."
        ));
    }
    t.for_data(results)
}

/// Group value rows of the fairness section: every value of every group column.
fn group_rows(a: &AuditReport) -> Vec<(String, String)> {
    let Some(f) = &a.fairness else {
        return Vec::new();
    };
    let columns = select::distinct(f.groups.iter().map(|g| g.column.clone()));
    columns
        .into_iter()
        .flat_map(|c| {
            let values: Vec<&str> = f
                .groups
                .iter()
                .filter(|g| g.column == c)
                .map(|g| g.value.as_str())
                .collect();
            values
                .into_iter()
                .map(|v| (c.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn group_kl(a: &AuditReport, column: &str, value: &str) -> Option<f64> {
    a.fairness.as_ref().and_then(|f| {
        f.groups
            .iter()
            .find(|g| g.column == column && g.value == value)
            .and_then(|g| g.kl_mean)
    })
}

/// Table 2: fidelity within each demographic group, per method (the showcase cells).
pub fn table2(results: &StudyResults) -> ReportTable {
    let cells = showcase(&primary(&select::done(results)));
    let mut headers: Vec<String> = vec!["group (column = value)".into()];
    headers.extend(cells.iter().map(|d| {
        format!(
            "KL: {} ({} features)",
            method(d.spec()),
            d.spec().feature_count
        )
    }));
    headers.extend(["paper KL: group-based".into(), "paper KL: naive".into()]);
    let mut t = ReportTable::new("table2", "Table 2 · Fidelity within demographic groups", &[])
        .gloss(&[
            "Mean KL over all features, computed only among the rows of one group (one value of a group column, such as a sex or race column), so a generator that fits the majority but not a minority shows a higher number (lower is better).",
            "The paper compares its group-based prompts with naive prompts (paper Table 2; its estimator is not stated).",
        ]);
    t.headers = headers;
    let mut groups: Vec<(String, String)> =
        select::distinct(cells.iter().flat_map(|d| group_rows(d.audit)));
    if Words::of(results).eicu() {
        for (column, _, _) in paper::GROUP_KL {
            if !groups.iter().any(|(c, _)| c == column) {
                groups.push((column.to_string(), "1".to_string()));
            }
        }
    }
    for (column, value) in &groups {
        let mut row = vec![format!("{column} = {value}")];
        row.extend(cells.iter().map(|d| ours(group_kl(d.audit, column, value))));
        // The paper reports the group of value 1 (is_female = 1, race_black = 1) only.
        let published_pair = (value == "1").then(|| paper::group_kl(column)).flatten();
        row.push(published(published_pair.map(|x| x.0)));
        row.push(published(published_pair.map(|x| x.1)));
        t.rows.push(row);
    }
    if !cells.iter().any(|d| d.audit.fairness.is_some()) {
        t.note = Some(format!(
            "No audited cell had demographic group columns ({NOT_RUN}); only the paper's numbers are shown."
        ));
    }
    t.for_data(results)
}

/// Table 3: by number of features (rows closest to 1,000).
pub fn table3(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "table3",
        "Table 3 · By number of features",
        &[
            "method",
            "feature set",
            "features",
            "synthetic rows",
            "TSTR AUROC [95% CI]",
            "paper TSTR AUROC",
            "mean KL",
            "paper mean KL",
            "attack AUROC",
            "paper attack AUROC",
        ],
    )
    .gloss(&[
        "Top-k feature sets keep the k features most predictive of the outcome on the real data (Figure 5); fewer features are easier to imitate but carry less signal.",
        glossary::TSTR,
        glossary::KL,
        glossary::ATTACK,
        glossary::PAPER_COLUMNS,
        paper::TABLE3,
    ]);
    let pts = by_feature_set(&primary(&select::done(results)));
    for p in &pts {
        let is_group = p.strategy() == Some("group");
        let published_pair = is_group
            .then(|| paper::by_features(p.feature_count))
            .flatten();
        let published_attack = p
            .strategy()
            .and_then(|_| paper::attack_auroc(select::paper_feature_count(p)));
        t.rows.push(vec![
            p.method.clone(),
            p.feature_set.clone(),
            p.feature_count.to_string(),
            p.rows.to_string(),
            with_ci(p.mean(tstr), p.single_ci(tstr_ci)),
            published(published_pair.map(|x| x.0)),
            n3(p.mean(kl)),
            published(published_pair.map(|x| x.1)),
            n3(p.mean(attack_auroc)),
            published(published_attack),
        ]);
    }
    let mut controls = 0;
    for set in select::distinct(pts.iter().map(|p| p.feature_set.clone())) {
        let Some(p) = pts.iter().find(|p| p.feature_set == set) else {
            continue;
        };
        if p.mean(control::kl).is_none() {
            continue;
        }
        controls += 1;
        t.rows.push(vec![
            CONTROL_ROW.into(),
            p.feature_set.clone(),
            p.feature_count.to_string(),
            control_rows(p),
            n3(p.mean(control::tstr)),
            NOT_PUBLISHED.into(),
            n3(p.mean(control::kl)),
            NOT_PUBLISHED.into(),
            n3(p.mean(control::attack_auroc)),
            NOT_PUBLISHED.into(),
        ]);
    }
    if controls > 0 {
        t.gloss.push(glossary::CONTROL.into());
    }
    if !pts.iter().any(|p| p.strategy() == Some("group")) {
        for (k, auc, kl_paper) in paper::BY_FEATURES {
            t.rows.push(vec![
                paper_method("group"),
                format!("top{k}"),
                k.to_string(),
                "1000".into(),
                NOT_RUN.into(),
                format!("{auc:.3}"),
                NOT_RUN.into(),
                format!("{kl_paper:.3}"),
                NOT_RUN.into(),
                published(paper::attack_auroc(k)),
            ]);
        }
    }
    if distinct_count(pts.iter().map(|p| p.feature_count)) < 2 {
        t.note = Some(format!(
            "This study ran a single feature set, so there is no trend by feature count ({NOT_RUN})."
        ));
    }
    t.for_data(results)
}

fn distinct_count<T: PartialEq>(items: impl IntoIterator<Item = T>) -> usize {
    select::distinct(items).len()
}

/// Table 4: by synthetic sample size, for every method and feature set run at two sizes or more.
pub fn table4(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "table4",
        "Table 4 · By number of synthetic rows",
        &[
            "method",
            "feature set",
            "synthetic rows",
            "TSTR AUROC [95% CI]",
            "paper TSTR AUROC",
            "mean KL",
            "paper mean KL",
        ],
    )
    .gloss(&[
        "More synthetic rows usually give a better model and closer distributions, at a higher cost for LLM generators.",
        glossary::TSTR,
        glossary::KL,
        glossary::PAPER_COLUMNS,
        paper::TABLE4,
    ]);
    let all = points(&primary(&select::done(results)));
    let mut shown: Vec<&Point<'_>> = all
        .iter()
        .filter(|p| {
            distinct_count(
                all.iter()
                    .filter(|q| q.method == p.method && q.feature_set == p.feature_set)
                    .map(|q| q.rows),
            ) >= 2
        })
        .collect();
    shown.sort_by_key(|p| (p.method.clone(), p.feature_count, p.rows));
    for p in &shown {
        let published_pair = (p.strategy() == Some("group") && p.feature_count == 10)
            .then(|| paper::by_rows(p.rows))
            .flatten();
        t.rows.push(vec![
            p.method.clone(),
            p.feature_set.clone(),
            p.rows.to_string(),
            with_ci(p.mean(tstr), p.single_ci(tstr_ci)),
            published(published_pair.map(|x| x.0)),
            n3(p.mean(kl)),
            published(published_pair.map(|x| x.1)),
        ]);
    }
    if !shown.iter().any(|p| p.strategy() == Some("group")) {
        for (n, auc, kl_paper) in paper::BY_ROWS {
            t.rows.push(vec![
                paper_method("group"),
                "top10".into(),
                n.to_string(),
                NOT_RUN.into(),
                format!("{auc:.3}"),
                NOT_RUN.into(),
                format!("{kl_paper:.3}"),
            ]);
        }
    }
    if shown.is_empty() {
        t.note = Some(format!(
            "Every cell of this study used one sample size per method and feature set, so there is no trend by size ({NOT_RUN})."
        ));
    }
    t.for_data(results)
}

/// Table 5: KL of every feature, per method (showcase cells), most important features first.
pub fn table5(results: &StudyResults) -> ReportTable {
    let cells = showcase(&primary(&select::done(results)));
    let mut t = ReportTable::new("table5", "Table 5 · Fidelity of every feature", &[]).gloss(&[
        "KL divergence of each feature's synthetic distribution from the real one (0 = identical); the features are ordered by their importance for predicting the outcome.",
        "Out-of-range share: synthetic values the schema forbids (outside the real range, an unknown category), in percent.",
        paper::DRIFT_AT_83,
    ]);
    t.headers = vec!["feature".into(), "importance rank".into()];
    for d in &cells {
        let m = method(d.spec());
        t.headers.push(format!("KL: {m}"));
        t.headers.push(format!("out of range %: {m}"));
    }
    let rank = |name: &str| {
        results
            .importance
            .features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.rank)
    };
    let mut features: Vec<String> = select::distinct(
        cells
            .iter()
            .flat_map(|d| d.audit.fidelity.features.iter().map(|f| f.name.clone())),
    );
    features.sort_by_key(|f| rank(f).unwrap_or(usize::MAX));
    for name in &features {
        let mut row = vec![
            name.clone(),
            rank(name).map_or_else(|| "–".into(), |r| r.to_string()),
        ];
        for d in &cells {
            let f = d.audit.fidelity.features.iter().find(|f| &f.name == name);
            row.push(f.map_or_else(|| NOT_RUN.into(), |f| n3(f.kl)));
            row.push(f.map_or_else(
                || NOT_RUN.into(),
                |f| format!("{:.1}", 100.0 * f.out_of_range_share),
            ));
        }
        t.rows.push(row);
    }
    t.note_if_empty("No cell was audited").for_data(results)
}

/// Figure 2's numbers: strongest attack AUROC per method and feature count, with the paper's.
pub fn attacks_by_features(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "figure2-table",
        "Membership-inference attack AUROC by number of features",
        &["method", "features", "attack", "attack AUROC", "membership advantage", "paper attack AUROC"],
    )
    .gloss(&[
        glossary::ATTACK,
        "Membership advantage: the attacker's best true-positive rate minus false-positive rate (0 = none, 1 = complete).",
        glossary::PAPER_COLUMNS,
        paper::FIGURE2,
    ]);
    for p in by_feature_set(&primary(&select::done(results))) {
        let first = p.cells[0].audit;
        let name = strongest_attack(first).map_or_else(|| "–".into(), |a| a.name.clone());
        let advantage = p.mean(|a| strongest_attack(a).and_then(|x| x.advantage));
        let published_attack = p
            .strategy()
            .and_then(|_| paper::attack_auroc(select::paper_feature_count(&p)));
        t.rows.push(vec![
            p.method.clone(),
            p.feature_count.to_string(),
            name,
            n3(p.mean(attack_auroc)),
            n3(advantage),
            published(published_attack),
        ]);
    }
    for (k, auc) in paper::ATTACK_BY_FEATURES {
        t.rows.push(vec![
            "LLM (paper, OpenAI o1)".into(),
            k.to_string(),
            "not stated".into(),
            NOT_RUN.into(),
            NOT_RUN.into(),
            format!("{auc:.3}"),
        ]);
    }
    t.for_data(results)
}

/// Figure 5's numbers: feature importance on the real data, with the paper's rank.
pub fn importance(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "figure5-table",
        "Feature importance for the outcome (real data)",
        &["rank", "feature", "gain share", "permutation (AUROC drop)", "paper rank", "known only after the outcome"],
    )
    .gloss(&[
        glossary::IMPORTANCE,
        "Permutation: how much the model's AUROC drops when the feature is shuffled (larger = more important).",
        "Features known only after the outcome (such as length of stay) leak the answer, so scores that use them are optimistic; the paper used them.",
        paper::FIGURE5,
    ]);
    for f in &results.importance.features {
        t.rows.push(vec![
            f.rank.to_string(),
            f.name.clone(),
            format!("{:.3}", f.gain_share),
            format!("{:.4}", f.permutation),
            paper::importance_rank(&f.name)
                .map_or_else(|| "not in its top 20".into(), |r| r.to_string()),
            if f.known_after_outcome {
                "yes, leaks the outcome".into()
            } else {
                "no".into()
            },
        ]);
    }
    if results.importance.features.is_empty() {
        t.note = Some("No feature importance was computed for this study.".into());
    }
    t.title = format!(
        "Feature importance for {} (real data)",
        Words::of(results).outcome()
    );
    t.for_data(results)
}

/// Cross-hospital AUROC matrix on the real data.
pub fn cross_hospital(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "cross-hospital-table",
        "Cross-hospital AUROC (real data)",
        &[],
    )
    .gloss(&[glossary::CROSS, "The paper claims generalisation across hospitals but never trains and tests on different hospitals; this matrix does."]);
    match &results.cross_hospital {
        Some(m) if !m.hospitals.is_empty() => {
            t.headers = std::iter::once("trained on ↓ / tested on →".to_string())
                .chain(m.hospitals.iter().map(|h| format!("hospital {h}")))
                .collect();
            for (h, row) in m.hospitals.iter().zip(&m.auroc) {
                let mut cells = vec![format!("hospital {h}")];
                cells.extend(row.iter().map(|x| n3(*x)));
                t.rows.push(cells);
            }
        }
        _ => {
            t.note = Some(match &results.roles.cross_site_note {
                Some(why) => format!("{why} ({NOT_RUN})."),
                None => format!("No cross-site matrix: the data have no site column ({NOT_RUN})."),
            })
        }
    }
    if t.note.is_none()
        && let Some(left_out) = &results.roles.cross_site_note
    {
        t.note = Some(left_out.clone());
    }
    let words = Words::of(results);
    if !words.eicu() {
        let site = format!("{} ", words.site());
        t.title = "Cross-site AUROC (real data)".into();
        for h in &mut t.headers {
            *h = h.replace("hospital ", &site);
        }
        for row in &mut t.rows {
            if let Some(first) = row.first_mut() {
                *first = first.replace("hospital ", &site);
            }
        }
    }
    t.for_data(results)
}

/// Fairness gaps by sex and race for each method's showcase cell.
pub fn fairness(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "fairness",
        "Fairness gaps between groups",
        &[
            "method",
            "features",
            "group column",
            "AUROC gap",
            "KL gap",
            "equalised-odds difference",
            "groups (rows: real / synthetic / holdout, positives)",
        ],
    )
    .gloss(&[
        glossary::GAPS,
        "The paper reports only the KL within groups (Table 2), not these gaps.",
    ]);
    for d in showcase(&primary(&select::done(results))) {
        let Some(f) = &d.audit.fairness else { continue };
        for g in &f.gaps {
            let sizes: Vec<String> = f
                .groups
                .iter()
                .filter(|r| r.column == g.column)
                .map(|r| {
                    format!(
                        "{}: {} / {} / {}, {}{}",
                        r.value,
                        r.real_rows,
                        r.synthetic_rows,
                        r.holdout_rows,
                        r.holdout_positives,
                        if r.too_few { " (too few to judge)" } else { "" }
                    )
                })
                .collect();
            t.rows.push(vec![
                method(d.spec()),
                d.spec().feature_count.to_string(),
                g.column.clone(),
                n3(g.auroc_gap),
                n3(g.kl_gap),
                n3(g.equalized_odds_difference),
                sizes.join("; "),
            ]);
        }
    }
    t.note_if_empty("No audited cell had demographic group columns and an outcome")
}

/// TSTR vs TRTR with intervals, for every audited cell.
pub fn utility(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "utility",
        "Utility: trained on synthetic vs trained on real",
        &[
            "cell",
            "TSTR AUROC [95% CI]",
            "TRTR AUROC [95% CI]",
            "TSTR − TRTR",
            "TSTR AUPRC [95% CI]",
            "within-synthetic AUROC",
            "held-out hospitals AUROC",
            "control TSTR AUROC",
        ],
    )
    .gloss(&[
        glossary::TSTR,
        glossary::TRTR,
        "Control TSTR: the same model trained on as many real held-out patients as the cell has synthetic rows and tested on the other held-out patients: what real rows of that number give (a generator fitted on more real rows can exceed it).",
        "AUPRC: area under the precision-recall curve, which weighs the rarer class more (chance = the outcome's rate).",
        "Within-synthetic: trained and tested on synthetic rows (the paper's \"within\"), which can look good even when the data are useless for real patients.",
        "Held-out hospitals: TSTR on real rows of hospitals (sites) absent from the training data (site splits only).",
        glossary::CI,
    ]);
    for d in select::done(results) {
        let Some(u) = &d.audit.utility else {
            t.rows.push(vec![
                select::cell_words(d.spec()),
                "no outcome column".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
            ]);
            continue;
        };
        let gap = u.across.auroc.zip(u.trtr.auroc).map(|(s, r)| s - r);
        t.rows.push(vec![
            select::cell_words(d.spec()),
            with_ci(u.across.auroc, u.across.auroc_ci),
            with_ci(u.trtr.auroc, u.trtr.auroc_ci),
            gap.map_or_else(|| "–".into(), |g| format!("{g:+.3}")),
            with_ci(u.across.auprc, u.across.auprc_ci),
            n3(u.within.auroc),
            u.unseen_sites_pooled.as_ref().map_or_else(
                || "–".into(),
                |s| {
                    format!(
                        "{} ({} rows, {} positive{})",
                        with_ci(s.auroc, s.auroc_ci),
                        s.test_rows,
                        s.test_positives,
                        if s.too_few { "; too few to judge" } else { "" }
                    )
                },
            ),
            n3(control::tstr(d.audit)),
        ]);
    }
    t.note_if_empty("No cell was audited")
}

/// The schema's rules across columns in every audited cell: how many rows break the worst one.
pub fn constraints(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "constraints",
        "Rules across columns: rows that break them",
        &["cell", "rules checked", "rules broken", "rows breaking the worst rule", "worst rule"],
    )
    .gloss(&[
        "Rules come from the schema: a one-hot set (the race indicators, at most one is 1), an order (a vital's minimum ≤ first ≤ maximum), a panel measured together or not at all, the value combinations the data allow (docs/schema.md). No real row breaks them, and a classifier spots a row that does at once.",
        "The statistical generators and the local model keep them by construction or by a bounded repair; rows from a hosted LLM that break one are rejected before the audit.",
    ]);
    for d in select::done(results) {
        let counts = &d.audit.fidelity.constraints;
        if counts.is_empty() {
            continue;
        }
        let broken = counts.iter().filter(|c| c.broken > 0).count();
        let worst = counts
            .iter()
            .filter(|c| c.broken > 0)
            .max_by(|a, b| a.share().total_cmp(&b.share()));
        t.rows.push(vec![
            select::cell_words(d.spec()),
            counts.len().to_string(),
            broken.to_string(),
            worst.map_or_else(
                || "none".into(),
                |c| {
                    format!(
                        "{} of {} ({:.1}%)",
                        thousands(c.broken),
                        thousands(c.rows),
                        100.0 * c.share()
                    )
                },
            ),
            worst.map_or_else(|| "–".into(), |c| c.constraint.clone()),
        ]);
    }
    t.note_if_empty("No audited cell's schema has rules across columns")
}

/// Privacy of every audited cell, with flags.
pub fn privacy(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "privacy",
        "Privacy: distance to real patients and membership inference",
        &["cell", "DCR share (control)", "exact copies % (real holdout %)", "strongest attack", "attack AUROC (control)", "TPR at 1% FPR", "detection AUROC (control)", "flags"],
    )
    .gloss(&[
        "In parentheses: the control, real held-out patients passed as the synthetic table (about 0.5 for the DCR share and the AUROCs when nothing leaks).",
        glossary::DCR,
        "Exact copies: synthetic rows identical to a real training patient on every column.",
        glossary::ATTACK,
        "TPR at 1% FPR: share of training patients the attacker finds while wrongly accusing at most 1 in 100 others.",
        glossary::DETECTION,
    ]);
    for d in select::done(results) {
        let a = d.audit;
        let attack = strongest_attack(a);
        let flags = select::privacy_flags(a);
        t.rows.push(vec![
            select::cell_words(d.spec()),
            and_control(
                a.privacy.as_ref().and_then(|p| p.dcr_share),
                control::dcr_share(a),
            ),
            match a.fidelity.exact_copy_share_baseline {
                Some(b) => format!(
                    "{:.1} ({:.1})",
                    100.0 * a.fidelity.exact_copy_share,
                    100.0 * b
                ),
                None => format!("{:.1}", 100.0 * a.fidelity.exact_copy_share),
            },
            attack.map_or_else(|| "–".into(), |x| x.name.clone()),
            and_control(attack.and_then(|x| x.auroc), control::attack_auroc(a)),
            n3(attack.and_then(|x| x.tpr_at_fpr_1pct)),
            and_control(a.fidelity.detection_auroc, control::detection(a)),
            if select::across_sites(a) {
                select::ACROSS_SITES.into()
            } else if flags.is_empty() {
                "none".into()
            } else {
                flags.join("; ")
            },
        ]);
    }
    t.note_if_empty("No cell was audited")
}

/// Cost and effort of every cell, failed ones included, with a total row.
pub fn cost(results: &StudyResults) -> ReportTable {
    let mut t = ReportTable::new(
        "cost",
        "Cost, tokens and time per cell",
        &["cell", "status", "requests", "prompt tokens", "completion tokens", "cost (US$)", "valid rows", "rejected rows", "generate (s)", "audit (s)"],
    )
    .gloss(&[
        "Tokens are the units LLM providers bill by (about ¾ of a word); statistical generators use none.",
        "Rejected rows: answers that broke the schema, repeated a row, copied a training patient or belonged to the wrong group.",
    ]);
    let dollars = |x: Option<f64>| x.map_or_else(|| "–".into(), |c| format!("{c:.2}"));
    for c in &results.cells {
        let u = &c.usage;
        let status = match &c.status {
            CellStatus::Done => "done".to_string(),
            CellStatus::Failed { reason } => format!("failed: {reason}"),
        };
        t.rows.push(vec![
            select::cell_words(&c.spec),
            status,
            thousands(u.requests as usize),
            thousands(u.prompt_tokens as usize),
            thousands(u.completion_tokens as usize),
            dollars(u.cost_usd),
            u.rows_valid.to_string(),
            u.rows_rejected.to_string(),
            format!("{:.1}", u.generate_seconds),
            format!("{:.1}", u.audit_seconds),
        ]);
    }
    if !results.cells.is_empty() {
        let sum = |f: &dyn Fn(&crate::results::CellUsage) -> f64| {
            results.cells.iter().map(|c| f(&c.usage)).sum::<f64>()
        };
        let costs: Vec<f64> = results
            .cells
            .iter()
            .filter_map(|c| c.usage.cost_usd)
            .collect();
        t.rows.push(vec![
            "total".into(),
            format!("{} cells", results.cells.len()),
            thousands(sum(&|u| u.requests as f64) as usize),
            thousands(sum(&|u| u.prompt_tokens as f64) as usize),
            thousands(sum(&|u| u.completion_tokens as f64) as usize),
            dollars((!costs.is_empty()).then(|| costs.iter().fold(0.0, |a, b| a + b))),
            format!("{:.0}", sum(&|u| u.rows_valid as f64)),
            format!("{:.0}", sum(&|u| u.rows_rejected as f64)),
            format!("{:.1}", sum(&|u| u.generate_seconds)),
            format!("{:.1}", sum(&|u| u.audit_seconds)),
        ]);
    }
    if !results.pending.is_empty() {
        t.note = Some(format!(
            "Cells of the grid that have not run yet ({}): {}.",
            results.pending.len(),
            results.pending.join(", ")
        ));
    } else if results.cells.is_empty() {
        t.note = Some("No cell has run.".into());
    }
    t
}

pub use ehrsynth_table::cell::thousands;

/// Every table, in report order.
pub fn all_tables(results: &StudyResults) -> Vec<ReportTable> {
    vec![
        table1(results),
        table2(results),
        table3(results),
        table4(results),
        table5(results),
        attacks_by_features(results),
        importance(results),
        cross_hospital(results),
        fairness(results),
        utility(results),
        constraints(results),
        privacy(results),
        cost(results),
    ]
}

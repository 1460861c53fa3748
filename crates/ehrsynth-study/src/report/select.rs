//! Which cells each table and figure shows: methods (generator + strategy + model), the cells of one
//! slice of the grid (a feature set, a sample size), seeds averaged, and the metrics read off an
//! audit. The HTML and Markdown renderers both go through here, so they show the same numbers.

use ehrsynth_eval::audit::AuditReport;
use ehrsynth_eval::privacy::AttackReport;

use crate::results::{CellResult, CellSpec, CellStatus, StudyResults};

/// The synthetic row count the paper's Tables 1-3 use; slices prefer the size closest to it.
pub const PAPER_ROWS: usize = 1000;

/// A finished, audited cell.
#[derive(Clone, Copy)]
pub struct Done<'a> {
    /// The cell.
    pub cell: &'a CellResult,
    /// Its audit.
    pub audit: &'a AuditReport,
}

impl<'a> Done<'a> {
    /// The cell's spec.
    pub fn spec(&self) -> &'a CellSpec {
        &self.cell.spec
    }
}

/// The plain-words name of an LLM strategy.
pub fn strategy_words(strategy: &str) -> &str {
    match strategy {
        "naive" => "naive",
        "schema" => "schema-constrained",
        "conditional" => "conditional",
        "group" => "group-based",
        other => other,
    }
}

/// What the report compares: the generator, with its strategy and model for LLM cells.
pub fn method(spec: &CellSpec) -> String {
    if let Some(entry) = ehrsynth_gen::registry::find(&spec.generator) {
        return entry.label_with(spec.epsilon);
    }
    match spec.generator.as_str() {
        ehrsynth_gen::registry::LLM => {
            let strategy = strategy_words(spec.strategy.as_deref().unwrap_or("?"));
            let model = [spec.provider.as_deref(), spec.model.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            format!("LLM {strategy} ({model})")
        }
        other => other.to_string(),
    }
}

/// A cell in a few words: method, features, rows, seed, split.
pub fn cell_words(spec: &CellSpec) -> String {
    format!(
        "{} · {} features · {} rows · seed {} · {} split",
        method(spec),
        spec.feature_count,
        spec.rows,
        spec.seed,
        spec.split
    )
}

/// Every audited cell, in grid order.
pub fn done(results: &StudyResults) -> Vec<Done<'_>> {
    results
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Done)
        .filter_map(|cell| cell.audit.as_ref().map(|audit| Done { cell, audit }))
        .collect()
}

/// The split the paper-style tables use: `random` when any audited cell used it, else the first.
pub fn primary_split(done: &[Done<'_>]) -> Option<String> {
    done.iter()
        .find(|d| d.spec().split == "random")
        .or_else(|| done.first())
        .map(|d| d.spec().split.clone())
}

/// The audited cells of the primary split.
pub fn primary<'a>(done: &[Done<'a>]) -> Vec<Done<'a>> {
    let split = primary_split(done);
    done.iter()
        .copied()
        .filter(|d| Some(&d.spec().split) == split.as_ref())
        .collect()
}

/// Distinct values in first-appearance order.
pub fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Methods in grid order.
pub fn methods(cells: &[Done<'_>]) -> Vec<String> {
    distinct(cells.iter().map(|d| method(d.spec())))
}

/// The row count among `sizes` closest to the paper's 1,000 (ties go to the larger).
pub fn closest_to_paper(sizes: impl IntoIterator<Item = usize>) -> Option<usize> {
    sizes
        .into_iter()
        .min_by_key(|&n| (n.abs_diff(PAPER_ROWS), std::cmp::Reverse(n)))
}

/// Seeds of one method at one feature set and row count: one point of a table.
pub struct Point<'a> {
    /// The method.
    pub method: String,
    /// The feature set's label.
    pub feature_set: String,
    /// Predictors in the cells.
    pub feature_count: usize,
    /// Synthetic rows.
    pub rows: usize,
    /// The cells (one per seed).
    pub cells: Vec<Done<'a>>,
}

impl Point<'_> {
    /// The mean of a metric over the seeds that have it.
    pub fn mean(&self, metric: impl Fn(&AuditReport) -> Option<f64>) -> Option<f64> {
        mean(self.cells.iter().filter_map(|d| metric(d.audit)))
    }

    /// A metric's 95% interval when the point has one seed (several seeds: the mean is shown).
    pub fn single_ci(&self, ci: impl Fn(&AuditReport) -> Option<(f64, f64)>) -> Option<(f64, f64)> {
        match self.cells.as_slice() {
            [only] => ci(only.audit),
            _ => None,
        }
    }

    /// The LLM strategy of the method, if it is one.
    pub fn strategy(&self) -> Option<&str> {
        self.cells
            .first()
            .and_then(|d| d.spec().strategy.as_deref())
    }
}

/// Mean of some numbers, `None` when there are none.
pub fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The paper's count for "all features" (its tables say 83 columns).
pub const ALL_FEATURES: usize = 83;

/// The feature count under which the paper reports a point: 83 for the `all` set.
pub fn paper_feature_count(p: &Point<'_>) -> usize {
    if p.feature_set == "all" {
        ALL_FEATURES
    } else {
        p.feature_count
    }
}

/// Groups cells into points (method × feature set × rows), in grid order.
pub fn points<'a>(cells: &[Done<'a>]) -> Vec<Point<'a>> {
    let mut out: Vec<Point<'a>> = Vec::new();
    for d in cells {
        let s = d.spec();
        let m = method(s);
        match out
            .iter_mut()
            .find(|p| p.method == m && p.feature_set == s.feature_set && p.rows == s.rows)
        {
            Some(p) => p.cells.push(*d),
            None => out.push(Point {
                method: m,
                feature_set: s.feature_set.clone(),
                feature_count: s.feature_count,
                rows: s.rows,
                cells: vec![*d],
            }),
        }
    }
    out
}

/// For each method and feature set, the point with the row count closest to the paper's 1,000;
/// ordered by method (grid order), then by feature count.
pub fn by_feature_set<'a>(cells: &[Done<'a>]) -> Vec<Point<'a>> {
    let all = points(cells);
    let mut keep: Vec<Point<'a>> = Vec::new();
    for p in all.iter() {
        let sizes = all
            .iter()
            .filter(|q| q.method == p.method && q.feature_set == p.feature_set)
            .map(|q| q.rows);
        if closest_to_paper(sizes) == Some(p.rows) {
            keep.push(Point {
                method: p.method.clone(),
                feature_set: p.feature_set.clone(),
                feature_count: p.feature_count,
                rows: p.rows,
                cells: p.cells.clone(),
            });
        }
    }
    let order = distinct(keep.iter().map(|p| p.method.clone()));
    keep.sort_by_key(|p| (order.iter().position(|m| *m == p.method), p.feature_count));
    keep
}

/// The cell that stands for a method in the per-feature views: its largest feature set, the row
/// count closest to 1,000, the first seed.
pub fn showcase<'a>(cells: &[Done<'a>]) -> Vec<Done<'a>> {
    let sets = by_feature_set(cells);
    methods(cells)
        .into_iter()
        .filter_map(|m| {
            sets.iter()
                .filter(|p| p.method == m)
                .max_by_key(|p| p.feature_count)
                .and_then(|p| p.cells.first().copied())
        })
        .collect()
}

/// TSTR ("across") AUROC of the GBDT.
pub fn tstr(a: &AuditReport) -> Option<f64> {
    a.utility.as_ref().and_then(|u| u.across.auroc)
}

/// TSTR AUROC interval.
pub fn tstr_ci(a: &AuditReport) -> Option<(f64, f64)> {
    a.utility.as_ref().and_then(|u| u.across.auroc_ci)
}

/// TRTR AUROC of the GBDT (trained on real rows: the ceiling).
pub fn trtr(a: &AuditReport) -> Option<f64> {
    a.utility.as_ref().and_then(|u| u.trtr.auroc)
}

/// Mean KL over features.
pub fn kl(a: &AuditReport) -> Option<f64> {
    a.fidelity.kl_mean
}

/// The attack that found members best (highest AUROC).
pub fn strongest_attack(a: &AuditReport) -> Option<&AttackReport> {
    a.privacy.as_ref().and_then(|p| {
        p.attacks
            .iter()
            .filter(|x| x.auroc.is_some())
            .max_by(|x, y| {
                x.auroc
                    .partial_cmp(&y.auroc)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    })
}

/// AUROC of the strongest membership-inference attack.
pub fn attack_auroc(a: &AuditReport) -> Option<f64> {
    strongest_attack(a).and_then(|x| x.auroc)
}

/// The control's figures: the real holdout rows the audit passed as synthetic (the ideal).
pub mod control {
    use ehrsynth_eval::audit::AuditReport;

    /// The control's mean KL.
    pub fn kl(a: &AuditReport) -> Option<f64> {
        a.control.as_ref().and_then(|c| c.kl_mean)
    }

    /// The control's TSTR AUROC (GBDT trained on real holdout rows of the synthetic table's size).
    pub fn tstr(a: &AuditReport) -> Option<f64> {
        a.control
            .as_ref()
            .and_then(|c| c.tstr.as_ref())
            .and_then(|s| s.auroc)
    }

    /// The control's DCR share.
    pub fn dcr_share(a: &AuditReport) -> Option<f64> {
        a.control.as_ref().and_then(|c| c.dcr_share)
    }

    /// The control's detection AUROC.
    pub fn detection(a: &AuditReport) -> Option<f64> {
        a.control.as_ref().and_then(|c| c.detection_auroc)
    }

    /// The control's AUROC for the attack that was strongest on the synthetic rows.
    pub fn attack_auroc(a: &AuditReport) -> Option<f64> {
        let name = &super::strongest_attack(a)?.name;
        a.control
            .as_ref()?
            .attacks
            .iter()
            .find(|x| &x.name == name)?
            .auroc
    }
}

/// The cell's non-members come from other hospitals than its members (a hospital split), so
/// its privacy figures are not read as leakage.
pub fn across_sites(a: &AuditReport) -> bool {
    a.privacy
        .as_ref()
        .is_some_and(|p| p.non_members_from_other_sites)
}

/// What the flags column says for such a cell.
pub const ACROSS_SITES: &str = "not judged: members and non-members come from different hospitals (read privacy on the random split)";

/// Attack AUROC at or above which a cell is flagged (0.5 = the attacker guesses).
pub const ATTACK_FLAG: f64 = 0.6;
/// DCR share at or above which a cell is flagged (0.5 = synthetic rows no closer to training rows).
pub const DCR_FLAG: f64 = 0.6;

/// Privacy warnings of one audit, in plain words (empty = no flag). A figure is flagged only
/// when it is both large and beyond chance for the cell's row counts (a 10-row cell's DCR share
/// of 1.00 is noise), and exact copies only beyond what real holdout rows show.
pub fn privacy_flags(a: &AuditReport) -> Vec<String> {
    let mut flags = Vec::new();
    if across_sites(a) {
        // Members and non-members differ by hospital: a high figure is no evidence of a leak.
        return flags;
    }
    if let Some(attack) = strongest_attack(a)
        && let Some(x) = attack.auroc.filter(|&x| x >= ATTACK_FLAG)
        && attack.beyond_chance()
    {
        flags.push(format!("membership attack AUROC {x:.2}"));
    }
    if let Some(p) = &a.privacy
        && let Some(x) = p.dcr_share.filter(|&x| x >= DCR_FLAG)
        && p.dcr_share_beyond_chance(a.rows.synthetic)
    {
        flags.push(format!(
            "DCR share {x:.2}: rows sit close to training patients"
        ));
    }
    let f = &a.fidelity;
    if f.exact_copy_share > 0.0 && f.copies_beyond_chance(a.rows.synthetic) {
        flags.push(match f.exact_copy_share_baseline {
            Some(b) => format!(
                "{:.1}% exact copies of training patients (real holdout rows: {:.1}%)",
                100.0 * f.exact_copy_share,
                100.0 * b
            ),
            None => format!(
                "{:.1}% exact copies of training patients",
                100.0 * f.exact_copy_share
            ),
        });
    }
    flags
}

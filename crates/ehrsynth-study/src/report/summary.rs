//! The plain-words summary at the top of the report: one sentence per finding (what ran, which
//! method kept distributions best, what the models trained on synthetic rows achieved, what the
//! attacks found, leaky features, failed cells).
//!
//! Not here: the tables ([`super::tables`]) or how the sentences are rendered (`html`,
//! `markdown`).

use super::paper;
use super::select::{
    self, Done, Point, attack_auroc, by_feature_set, control, kl, method, primary, trtr, tstr,
};
use super::tables::{n3, thousands};
use super::words::Words;
use crate::results::{CellStatus, StudyResults};

/// The summary at the top, in plain words: one sentence per finding.
pub fn summary(results: &StudyResults) -> Vec<String> {
    let words = Words::of(results);
    let done = select::done(results);
    let failed = results.cells.len() - done.len();
    let mut out = vec![format!(
        "This study ran {} cells ({} audited, {} failed, {} not yet run) on {}: {} real training rows and {} held-out rows, {}.",
        results.cells.len() + results.pending.len(),
        done.len(),
        failed,
        results.pending.len(),
        results.data_description,
        thousands(results.train_rows),
        thousands(results.holdout_rows),
        words.outcome_rate(results.outcome_rate)
    )];
    out.extend(fidelity_finding(&done, &words));
    out.extend(utility_finding(&done, &words));
    out.push(privacy_finding(&done));
    let leaky: Vec<&str> = results
        .importance
        .features
        .iter()
        .filter(|f| f.known_after_outcome && f.rank <= 10)
        .map(|f| f.name.as_str())
        .collect();
    if !leaky.is_empty() {
        out.push(format!(
            "Caution: {} rank among the 10 most important features but are known only after the outcome, so utility scores that use them are optimistic (as in the paper).",
            leaky.join(", ")
        ));
    }
    for c in &results.cells {
        if let CellStatus::Failed { reason } = &c.status {
            out.push(format!("Cell {} failed: {reason}.", c.spec.id));
        }
    }
    if words.eicu() {
        out.push(paper::CONCLUSION.to_string());
    }
    out
}

/// Which method kept distributions best, at the feature set most methods share.
fn fidelity_finding(done: &[Done<'_>], words: &Words<'_>) -> Option<String> {
    let pts = by_feature_set(&primary(done));
    let counts = select::distinct(pts.iter().map(|p| p.feature_count));
    let k = counts
        .into_iter()
        .max_by_key(|&k| (pts.iter().filter(|p| p.feature_count == k).count(), k))?;
    let mut ranked: Vec<(&Point<'_>, f64)> = pts
        .iter()
        .filter(|p| p.feature_count == k)
        .filter_map(|p| p.mean(kl).map(|v| (p, v)))
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (best, v) = ranked.first()?;
    let control_words = best
        .mean(control::kl)
        .map_or_else(String::new, |c| format!("; real held-out rows read {c:.3}"));
    let rest: Vec<String> = ranked[1..]
        .iter()
        .map(|(p, v)| format!("{} {v:.3}", p.method))
        .collect();
    Some(format!(
        "Distributions: with {k} features, {} kept the real data's distributions best (mean KL {v:.3}{control_words}; 0 means identical){}.{}",
        best.method,
        if rest.is_empty() {
            String::new()
        } else {
            format!(", ahead of {}", rest.join(", "))
        },
        if words.eicu() {
            " The paper's best LLM strategy reached 0.296 with 83 features (paper Table 1)."
        } else {
            ""
        }
    ))
}

/// The best TSTR against the TRTR ceiling.
fn utility_finding(done: &[Done<'_>], words: &Words<'_>) -> Option<String> {
    let best = done
        .iter()
        .filter_map(|d| tstr(d.audit).map(|v| (d, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (d, v) = best;
    Some(format!(
        "Usefulness: the best model of {} trained only on synthetic rows ({}, {} features, {} rows) reached AUROC {v:.3} on real held-out rows, against {} for the same model trained on real rows (0.5 = coin toss, 1 = perfect).",
        words.outcome(),
        method(d.spec()),
        d.spec().feature_count,
        d.spec().rows,
        n3(trtr(d.audit))
    ))
}

/// Privacy flags over all cells.
fn privacy_finding(done: &[Done<'_>]) -> String {
    if done.is_empty() {
        return "Privacy: no cell has been audited yet, so there is no privacy result.".into();
    }
    let flagged: Vec<String> = done
        .iter()
        .filter_map(|d| {
            let flags = select::privacy_flags(d.audit);
            (!flags.is_empty())
                .then(|| format!("{} ({})", select::cell_words(d.spec()), flags.join(", ")))
        })
        .collect();
    let judged: Vec<&Done<'_>> = done
        .iter()
        .filter(|d| !select::across_sites(d.audit))
        .collect();
    let unjudged = match done.len() - judged.len() {
        0 => String::new(),
        n => format!(
            " {n} hospital-split cell{} not judged: {} members and non-members come from different hospitals.",
            if n == 1 { " is" } else { "s are" },
            if n == 1 { "its" } else { "their" }
        ),
    };
    let strongest = judged
        .iter()
        .filter_map(|d| attack_auroc(d.audit))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if flagged.is_empty() {
        format!(
            "Privacy: no cell raised a flag; the strongest membership attack reached AUROC {} (0.5 means the attacker cannot tell who was in the training data; flags start at {:.1}).{unjudged}",
            n3(strongest),
            select::ATTACK_FLAG
        )
    } else {
        format!(
            "Privacy risk: {} of {} audited cells raised a flag: {}.{unjudged}",
            flagged.len(),
            done.len(),
            flagged.join("; ")
        )
    }
}

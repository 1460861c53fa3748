//! The audit's headline metrics, one entry each ([`HEADLINE`]): the key a study's tidy table and
//! the docs use, a label for people, which direction is better, the range, and how the figure is
//! read from an [`AuditReport`]. A new headline metric is one entry here (and its definition in
//! docs/metrics.md, which a test checks lists every key).
//!
//! Not here: how each figure is computed (the audit's sections), the console and HTML layouts
//! of one audit, which group figures by section.

use crate::AuditReport;
use crate::fairness::GroupGap;
use crate::privacy::AttackReport;

/// Which values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Lower is better (0 ideal).
    Lower,
    /// Higher is better.
    Higher,
    /// 0.5 is ideal (a classifier or share that cannot tell real from synthetic, members from
    /// non-members); farther from it is worse.
    NearHalf,
}

impl Better {
    /// As a reader sees it: "lower", "higher", "0.5".
    pub fn words(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Higher => "higher",
            Self::NearHalf => "near 0.5",
        }
    }
}

/// One headline figure of an audit.
#[derive(Debug)]
pub struct HeadlineMetric {
    /// Its key (`kl_mean`): a tidy column, a JSON path's last part.
    pub key: &'static str,
    /// For people (`mean KL over features`).
    pub label: &'static str,
    /// Which values are better.
    pub better: Better,
    /// Its range, as written in docs/metrics.md (`[0, 1]`).
    pub range: &'static str,
    /// The figure in an audit (`None` where the audit could not compute it).
    pub value: fn(&AuditReport) -> Option<f64>,
}

/// Every headline metric, in the order tables list them.
pub static HEADLINE: &[HeadlineMetric] = &[
    HeadlineMetric {
        key: "kl_mean",
        label: "mean KL over features",
        better: Better::Lower,
        range: "[0, ∞)",
        value: |a| a.fidelity.kl_mean,
    },
    HeadlineMetric {
        key: "ks_mean",
        label: "mean KS statistic",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| a.fidelity.ks_mean,
    },
    HeadlineMetric {
        key: "tvd_mean",
        label: "mean total variation distance",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| a.fidelity.tvd_mean,
    },
    HeadlineMetric {
        key: "out_of_range_share",
        label: "values outside the training range",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| Some(a.fidelity.out_of_range_share),
    },
    HeadlineMetric {
        key: "correlation_mae",
        label: "mean absolute correlation error",
        better: Better::Lower,
        range: "[0, 2]",
        value: |a| a.fidelity.correlation_mae,
    },
    HeadlineMetric {
        key: "detection_auroc",
        label: "real-vs-synthetic detection AUROC",
        better: Better::NearHalf,
        range: "[0, 1]",
        value: |a| a.fidelity.detection_auroc,
    },
    HeadlineMetric {
        key: "exact_copy_share",
        label: "synthetic rows that copy a training row",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| Some(a.fidelity.exact_copy_share),
    },
    HeadlineMetric {
        key: "duplicate_share",
        label: "synthetic rows repeated within the table",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| Some(a.fidelity.duplicate_share),
    },
    HeadlineMetric {
        key: "constraint_broken_share_max",
        label: "most-broken schema rule, share of rows",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| {
            let counts = &a.fidelity.constraints;
            counts.iter().map(|k| k.share()).reduce(f64::max)
        },
    },
    HeadlineMetric {
        key: "tstr_auroc",
        label: "train on synthetic, test on real: AUROC",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.utility.as_ref()?.across.auroc,
    },
    HeadlineMetric {
        key: "tstr_auprc",
        label: "train on synthetic, test on real: AUPRC",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.utility.as_ref()?.across.auprc,
    },
    HeadlineMetric {
        key: "within_auroc",
        label: "train and test on synthetic: AUROC",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.utility.as_ref()?.within.auroc,
    },
    HeadlineMetric {
        key: "trtr_auroc",
        label: "train and test on real: AUROC",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.utility.as_ref()?.trtr.auroc,
    },
    HeadlineMetric {
        key: "unseen_sites_auroc",
        label: "TSTR AUROC at hospitals left out",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.utility.as_ref()?.unseen_sites_pooled.as_ref()?.auroc,
    },
    HeadlineMetric {
        key: "fairness_max_auroc_gap",
        label: "largest AUROC gap between groups",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| largest_gap(a, |g| g.auroc_gap),
    },
    HeadlineMetric {
        key: "fairness_max_kl_gap",
        label: "largest KL gap between groups",
        better: Better::Lower,
        range: "[0, ∞)",
        value: |a| largest_gap(a, |g| g.kl_gap),
    },
    HeadlineMetric {
        key: "dcr_share",
        label: "rows closer to training than to holdout (size-corrected)",
        better: Better::NearHalf,
        range: "[0, 1]",
        value: |a| a.privacy.as_ref()?.dcr_share,
    },
    HeadlineMetric {
        key: "nndr_mean",
        label: "mean nearest-neighbour distance ratio",
        better: Better::Higher,
        range: "[0, 1]",
        value: |a| a.privacy.as_ref()?.nndr_mean,
    },
    HeadlineMetric {
        key: "mia_auroc_max",
        label: "highest membership-inference AUROC",
        better: Better::NearHalf,
        range: "[0, 1]",
        value: |a| highest_attack_score(a, |x| x.auroc),
    },
    HeadlineMetric {
        key: "mia_advantage_max",
        label: "highest membership advantage",
        better: Better::Lower,
        range: "[0, 1]",
        value: |a| highest_attack_score(a, |x| x.advantage),
    },
];

/// The metric's row in docs/metrics.md's headline table.
pub fn docs_row(metric: &HeadlineMetric) -> String {
    format!(
        "| `{}` | {} | {} | {} |",
        metric.key,
        metric.label,
        metric.range,
        metric.better.words()
    )
}

/// The headline metric called `key`.
pub fn find(key: &str) -> Option<&'static HeadlineMetric> {
    HEADLINE.iter().find(|m| m.key == key)
}

/// The largest of one gap over the audit's fairness groups.
pub fn largest_gap(report: &AuditReport, gap: fn(&GroupGap) -> Option<f64>) -> Option<f64> {
    let fairness = report.fairness.as_ref()?;
    fairness.gaps.iter().filter_map(gap).reduce(f64::max)
}

/// The highest value of one score over the membership-inference attacks (each score's own
/// maximum: the attack with the highest AUROC need not have the highest advantage).
pub fn highest_attack_score(
    report: &AuditReport,
    score: fn(&AttackReport) -> Option<f64>,
) -> Option<f64> {
    let privacy = report.privacy.as_ref()?;
    privacy.attacks.iter().filter_map(score).reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_the_docs_table_lists_each_as_written_here() {
        let docs = include_str!("../../../docs/metrics.md");
        for (i, metric) in HEADLINE.iter().enumerate() {
            assert!(
                HEADLINE[i + 1..].iter().all(|m| m.key != metric.key),
                "{} twice",
                metric.key
            );
            assert_eq!(find(metric.key).map(|m| m.key), Some(metric.key));
            assert!(
                docs.contains(&docs_row(metric)),
                "docs/metrics.md's headline table lacks this row:\n{}",
                docs_row(metric)
            );
        }
    }
}

//! The paper's published numbers (Lin, Yu and Lee, CHIL 2025; summarised in ../shared/PAPER.md),
//! in one place, each with the table or figure it comes from. The report prints them beside ours.
//! All are OpenAI o1 results on full eICU.

/// Where a published number comes from, e.g. "paper Table 1".
pub type Source = &'static str;

/// Table 1 (83 features, 1,000 rows): strategy, across-hospital AUROC, mean KL.
pub const TABLE1: Source = "paper Table 1 (83 features, 1k rows)";
/// Table 1 rows: (strategy, across AUROC, mean KL).
pub const STRATEGIES: [(&str, f64, f64); 4] = [
    ("naive", 0.538, 0.580),
    ("schema", 0.621, 0.521),
    ("conditional", 0.477, 0.305),
    ("group", 0.505, 0.296),
];

/// Table 2: KL per demographic column, group-based vs naive.
pub const TABLE2: Source = "paper Table 2";
/// Table 2 rows: (group column, group-based KL, naive KL).
pub const GROUP_KL: [(&str, f64, f64); 2] =
    [("race_black", 0.330, 0.547), ("is_female", 0.393, 0.411)];

/// Table 3: group-based strategy by number of features (1k rows).
pub const TABLE3: Source = "paper Table 3 (group-based)";
/// Table 3 rows: (features, across AUROC, mean KL).
pub const BY_FEATURES: [(usize, f64, f64); 4] = [
    (5, 0.822, 0.169),
    (10, 0.813, 0.155),
    (15, 0.689, 0.229),
    (20, 0.534, 0.247),
];

/// Table 4: group-based strategy, 10 features, by synthetic sample size.
pub const TABLE4: Source = "paper Table 4 (group-based, 10 features)";
/// Table 4 rows: (rows, across AUROC, mean KL).
pub const BY_ROWS: [(usize, f64, f64); 3] = [
    (1000, 0.813, 0.155),
    (5000, 0.902, 0.095),
    (10000, 0.916, 0.082),
];

/// Figure 2: membership-inference attack AUROC by number of features (read off the figure).
pub const FIGURE2: Source = "paper Figure 2 (approximate, read off the plot)";
/// Figure 2 points: (features, attack AUROC).
pub const ATTACK_BY_FEATURES: [(usize, f64); 5] =
    [(5, 0.45), (10, 0.45), (15, 0.85), (20, 0.90), (83, 1.0)];

/// Figure 5: XGBoost-gain importance order on eICU.
pub const FIGURE5: Source = "paper Figure 5 (XGBoost gain, top 20)";
/// Figure 5: the top 20 features, most important first.
pub const IMPORTANCE_TOP20: [&str; 20] = ehrsynth_cohort::features::PAPER_IMPORTANCE_TOP20;

/// Table 5 / Figure 4 observation in words (no per-feature numbers are published in PAPER.md).
pub const DRIFT_AT_83: &str = "At 83 features the paper's LLM drifted to wide Gaussians: negative bilirubin, lactate and BUN, ages over 100 (paper Figure 4 / Table 5).";

/// The paper's conclusion, for the summary.
pub const CONCLUSION: &str =
    "The paper found about 10 features and 10,000 rows to be the sweet spot for LLM generation.";

/// Published across-hospital AUROC and mean KL of an LLM strategy (Table 1).
pub fn strategy(name: &str) -> Option<(f64, f64)> {
    STRATEGIES
        .iter()
        .find(|(s, _, _)| *s == name)
        .map(|&(_, auc, kl)| (auc, kl))
}

/// Published (group-based, naive) KL of a demographic column (Table 2).
pub fn group_kl(column: &str) -> Option<(f64, f64)> {
    GROUP_KL
        .iter()
        .find(|(c, _, _)| *c == column)
        .map(|&(_, g, n)| (g, n))
}

/// Published group-based (AUROC, KL) at a feature count (Table 3).
pub fn by_features(count: usize) -> Option<(f64, f64)> {
    BY_FEATURES
        .iter()
        .find(|(k, _, _)| *k == count)
        .map(|&(_, a, k)| (a, k))
}

/// Published group-based (AUROC, KL) at 10 features and a row count (Table 4).
pub fn by_rows(rows: usize) -> Option<(f64, f64)> {
    BY_ROWS
        .iter()
        .find(|(n, _, _)| *n == rows)
        .map(|&(_, a, k)| (a, k))
}

/// Published attack AUROC at a feature count (Figure 2; 83 = all features).
pub fn attack_auroc(features: usize) -> Option<f64> {
    ATTACK_BY_FEATURES
        .iter()
        .find(|(k, _)| *k == features)
        .map(|&(_, a)| a)
}

/// The paper's importance rank (1 = most important) of a feature, within its top 20 (Figure 5).
pub fn importance_rank(feature: &str) -> Option<usize> {
    IMPORTANCE_TOP20
        .iter()
        .position(|f| *f == feature)
        .map(|i| i + 1)
}

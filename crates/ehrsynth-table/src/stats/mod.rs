//! Small statistics helpers that both the audit (`ehrsynth-eval`) and the generators
//! (`ehrsynth-gen`) need: ranks, numpy's linear quantile, a NaN-aware order on floats, and the
//! all-pairs Pearson matrix. The audit's metrics themselves live in `ehrsynth_eval::stats`,
//! which re-exports these.

pub mod pearson_matrix;
pub mod rank;

pub use pearson_matrix::pairwise_pearson_matrix;
pub use rank::{cmp_f64, quantile_linear_sorted, ranks_average, sorted_non_nan};

//! Statistics used by the synthetic-vs-real audit.
//!
//! Every function here is pure, never panics (whatever the input: empty
//! slices, mismatched lengths, NaN, infinities, one class, constant data) and
//! returns `None` where the quantity is undefined rather than a NaN (the
//! exceptions mirror scipy: [`kolmogorov_sf`] of NaN is NaN, [`ranks_average`]
//! of data with a NaN is all NaN, and the unsmoothed [`kl_divergence`] may be
//! `+inf`). Each
//! function's documentation states its range and which direction is "more
//! similar" / "better".
//!
//! The functions reproduce well-known Python implementations so that audit
//! numbers can be cross-checked; `scripts/reference_metrics.py` writes
//! `fixtures/reference_metrics.json` from scipy / scikit-learn / sdmetrics and
//! `tests/reference.rs` compares against it (tolerance 1e-9):
//!
//! | Rust | Python reference |
//! |---|---|
//! | [`ks_2samp`] statistic | `scipy.stats.ks_2samp(a, b).statistic` (sdmetrics `KSComplement` = 1 − D) |
//! | [`ks_2samp`] p-value | `scipy.stats.kstwobign.sf(sqrt(en) * D)` (see [`ks_2samp`]) |
//! | [`wasserstein_1d`] | `scipy.stats.wasserstein_distance` |
//! | [`auroc`], [`average_precision`], [`roc_points`] | `sklearn.metrics.roc_auc_score`, `average_precision_score`, `roc_curve(drop_intermediate=False)` |
//! | [`tvd`] | ½ Σ\|p − q\| (sdmetrics `TVComplement` = 1 − tvd) |
//! | [`js_divergence`] | `scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2` |
//! | [`kl_divergence`] | `scipy.stats.entropy(p, q)` |
//! | [`kl_continuous`], [`kl_from_counts`] | the binned, smoothed estimator documented in [`divergence`] |
//! | [`pearson`], [`spearman`] | `scipy.stats.pearsonr`, `spearmanr` statistic on complete pairs |
//! | [`cramers_v`] | `scipy.stats.contingency.association(table, method='cramer')` |
//! | [`ranks_average`] | `scipy.stats.rankdata(x, method='average')` |
//!
//! All algorithms are sort- or hash-based, O(n log n) or better, so they are
//! fit for ~100k-row columns.

pub mod association;
pub mod classification;
pub mod divergence;
pub mod two_sample;

/// Ranks and quantiles, shared with the generators: they live in `ehrsynth_table::stats`.
pub use ehrsynth_table::stats::rank;

pub use association::{correlation_ratio, cramers_v, pearson, spearman};
pub use classification::{
    auroc, average_precision, bootstrap_auroc_ap, bootstrap_ci, max_advantage, roc_points,
    tpr_at_fpr,
};
pub use divergence::{
    DEFAULT_KL_ALPHA, DEFAULT_KL_BINS, binned_counts, js_divergence, kl_categorical, kl_continuous,
    kl_divergence, kl_from_counts, quantile_bin_edges, tvd,
};
pub use ehrsynth_table::stats::pairwise_pearson_matrix;
pub use rank::{quantile_linear_sorted, ranks_average};
pub use two_sample::{KsResult, kolmogorov_sf, ks_2samp, wasserstein_1d};

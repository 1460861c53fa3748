//! Histogram gradient-boosted trees for a binary outcome, built to behave like XGBoost's
//! defaults (`binary:logistic`, `tree_method = "hist"`).
//!
//! What it does, step by step:
//! - **Bins.** Each feature's non-missing training values are cut into at most `max_bins`
//!   quantile bins (each distinct value gets its own bin when there are few enough); bins are
//!   stored as one `u8` per cell, column by column. A feature with missing values keeps one
//!   extra bin for them, so it has at most 255 value bins. `NaN` and `±inf` are missing.
//! - **Base score.** The logit of the training mean of `y`, as XGBoost ≥ 2 estimates it.
//! - **Trees.** Grown depth-wise to `max_depth`. Each node's gradient histogram is built
//!   directly for the smaller child and by subtraction (parent − smaller) for the larger one;
//!   histograms are built and splits searched feature by feature in parallel with rayon.
//! - **Splits.** For a node with gradient sums `G`, `H` and a candidate with `G_L, H_L` /
//!   `G_R, H_R`, the gain is XGBoost's `loss_chg = G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`.
//!   This is twice the textbook ½[…] term: XGBoost drops the ½, and `gamma` and
//!   [`Gbdt::gain_importance`] follow XGBoost's scale. A node splits when its best gain is
//!   above 1e-6 and at least `gamma`, and each child has hessian sum ≥ `min_child_weight`.
//!   Missing values are sent to the side that gains more (sparsity-aware split finding):
//!   first every threshold with missing going right, then, when the node has missing values,
//!   every threshold with missing going left; ties keep the first candidate and the lower
//!   feature index, as XGBoost does, so a node without missing values sends them right.
//! - **Leaves.** Weight `−G/(H+λ)`, scaled by the learning rate.
//!
//! Everything is deterministic for a given input and seed, whatever the number of threads:
//! each histogram and each feature's split search runs sequentially inside one task.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{ModelError, check_param, check_training_data, check_x, sigmoid};

/// Slots in one feature's histogram (value bins plus the missing bin).
const HIST_BINS: usize = 256;
/// Smallest gain that counts as an improvement (XGBoost's `kRtEps`).
const MIN_GAIN: f64 = 1e-6;
/// Smallest hessian XGBoost's logistic objective hands to the tree builder.
const MIN_HESSIAN: f64 = 1e-16;
/// Histogram work (rows × features) below which a node is built on the calling thread.
const PAR_WORK: usize = 1 << 16;

/// Hyper-parameters of [`Gbdt`]; the default is XGBoost's default for `binary:logistic`.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtParams {
    /// Number of boosting rounds (trees).
    pub n_trees: usize,
    /// Maximum tree depth (0 = every tree is a single leaf).
    pub max_depth: usize,
    /// Shrinkage applied to every leaf weight (`eta`).
    pub learning_rate: f64,
    /// L2 penalty on leaf weights (`reg_lambda`).
    pub lambda: f64,
    /// Minimum gain (XGBoost's scale, see the module docs) a split must reach (`min_split_loss`).
    pub gamma: f64,
    /// Minimum hessian sum in each child of a split.
    pub min_child_weight: f64,
    /// Maximum number of quantile bins per feature, 2..=256 (255 for features with missing values).
    pub max_bins: usize,
    /// Fraction of rows drawn (without replacement, independently per row) for each tree, (0, 1].
    pub subsample: f64,
    /// Fraction of features drawn for each tree (`colsample_bytree`), (0, 1].
    pub colsample: f64,
    /// Seed of the ChaCha8 generator behind `subsample` and `colsample`.
    pub seed: u64,
}

impl Default for GbdtParams {
    /// XGBoost's defaults: 100 trees, depth 6, eta 0.3, lambda 1, gamma 0,
    /// min_child_weight 1, 256 bins, no row or column sampling.
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: 6,
            learning_rate: 0.3,
            lambda: 1.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            max_bins: 256,
            subsample: 1.0,
            colsample: 1.0,
            seed: 0,
        }
    }
}

impl GbdtParams {
    /// Checks every parameter's range.
    fn validate(&self) -> Result<(), ModelError> {
        const FINITE_NONNEG: &str = "must be finite and >= 0";
        check_param(
            self.learning_rate.is_finite() && self.learning_rate >= 0.0,
            "learning_rate",
            self.learning_rate,
            FINITE_NONNEG,
        )?;
        check_param(
            self.lambda.is_finite() && self.lambda >= 0.0,
            "lambda",
            self.lambda,
            FINITE_NONNEG,
        )?;
        check_param(
            self.gamma.is_finite() && self.gamma >= 0.0,
            "gamma",
            self.gamma,
            FINITE_NONNEG,
        )?;
        check_param(
            self.min_child_weight.is_finite() && self.min_child_weight >= 0.0,
            "min_child_weight",
            self.min_child_weight,
            FINITE_NONNEG,
        )?;
        check_param(
            (2..=HIST_BINS).contains(&self.max_bins),
            "max_bins",
            self.max_bins,
            "must be in 2..=256",
        )?;
        check_param(
            self.subsample > 0.0 && self.subsample <= 1.0,
            "subsample",
            self.subsample,
            "must be in (0, 1]",
        )?;
        check_param(
            self.colsample > 0.0 && self.colsample <= 1.0,
            "colsample",
            self.colsample,
            "must be in (0, 1]",
        )?;
        check_param(
            self.max_depth <= 30,
            "max_depth",
            self.max_depth,
            "must be at most 30",
        )?;
        Ok(())
    }
}

/// A fitted gradient-boosted tree classifier.
#[derive(Debug, Clone)]
pub struct Gbdt {
    n_features: usize,
    base_margin: f64,
    trees: Vec<Tree>,
    gain: Vec<f64>,
}

impl Gbdt {
    /// Fits the model; `x` is row-major `n_rows × n_cols` (`NaN` = missing), `y` is 0 or 1.
    pub fn fit(
        x: &[f32],
        n_rows: usize,
        n_cols: usize,
        y: &[f32],
        params: &GbdtParams,
    ) -> Result<Gbdt, ModelError> {
        let positives = check_training_data(x, n_rows, n_cols, y)?;
        params.validate()?;
        let mean = positives as f64 / n_rows as f64;
        let base_margin = (mean / (1.0 - mean)).ln();

        let binned = Binned::new(x, n_rows, n_cols, params.max_bins);
        let labels: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
        let mut margin = vec![base_margin; n_rows];
        let mut grad = vec![GradPair::default(); n_rows];
        let mut rows: Vec<u32> = Vec::with_capacity(n_rows);
        let mut scratch: Vec<u32> = Vec::with_capacity(n_rows);
        let mut gain = vec![0.0; n_cols];
        let mut trees = Vec::with_capacity(params.n_trees);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let n_sampled_cols = ((params.colsample * n_cols as f64).round() as usize).clamp(1, n_cols);

        for _ in 0..params.n_trees {
            grad.par_iter_mut()
                .zip(margin.par_iter())
                .zip(labels.par_iter())
                .for_each(|((gp, &m), &label)| {
                    let p = sigmoid(m);
                    *gp = GradPair {
                        g: p - label,
                        h: (p * (1.0 - p)).max(MIN_HESSIAN),
                    };
                });

            rows.clear();
            if params.subsample < 1.0 {
                use rand::Rng;
                rows.extend((0..n_rows as u32).filter(|_| rng.random::<f64>() < params.subsample));
            } else {
                rows.extend(0..n_rows as u32);
            }
            let mut active = vec![n_sampled_cols == n_cols; n_cols];
            if n_sampled_cols < n_cols {
                for f in sample(&mut rng, n_cols, n_sampled_cols) {
                    active[f] = true;
                }
            }

            let grower = Grower {
                binned: &binned,
                grad: &grad,
                active: &active,
                params,
            };
            let (tree, leaves) = grower.grow(&mut rows, &mut scratch, &mut gain);
            if rows.len() == n_rows {
                // Every row sits in exactly one leaf's range of `rows`.
                for (start, end, value) in leaves {
                    for &r in &rows[start..end] {
                        margin[r as usize] += value;
                    }
                }
            } else {
                margin.par_iter_mut().enumerate().for_each(|(r, m)| {
                    *m += tree.predict_binned(&binned, r);
                });
            }
            trees.push(tree);
        }

        Ok(Gbdt {
            n_features: n_cols,
            base_margin,
            trees,
            gain,
        })
    }

    /// Probability of class 1 for each row of the row-major `x` (`n_rows × n_features`);
    /// all `NaN` when `x` does not hold exactly that many values (see [`Gbdt::try_predict_proba`]).
    pub fn predict_proba(&self, x: &[f32], n_rows: usize) -> Vec<f64> {
        self.try_predict_proba(x, n_rows)
            .unwrap_or_else(|_| vec![f64::NAN; n_rows])
    }

    /// Probability of class 1 for each row, or an error when `x` has the wrong length.
    pub fn try_predict_proba(&self, x: &[f32], n_rows: usize) -> Result<Vec<f64>, ModelError> {
        Ok(self
            .try_predict_margin(x, n_rows)?
            .into_iter()
            .map(sigmoid)
            .collect())
    }

    /// Raw score (log-odds) of class 1 for each row, or an error when `x` has the wrong length.
    pub fn try_predict_margin(&self, x: &[f32], n_rows: usize) -> Result<Vec<f64>, ModelError> {
        check_x(x, n_rows, self.n_features)?;
        let mut out = vec![self.base_margin; n_rows];
        if n_rows == 0 {
            return Ok(out);
        }
        const CHUNK: usize = 512;
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK * self.n_features))
            .for_each(|(out, x)| {
                for tree in &self.trees {
                    for (o, row) in out.iter_mut().zip(x.chunks_exact(self.n_features)) {
                        *o += tree.predict_row(row);
                    }
                }
            });
        Ok(out)
    }

    /// Total gain of the splits on each feature (XGBoost's `total_gain`), one entry per feature.
    pub fn gain_importance(&self) -> Vec<f64> {
        self.gain.clone()
    }

    /// Number of feature columns the model was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// The starting log-odds every prediction adds the trees to (logit of the training mean).
    pub fn base_margin(&self) -> f64 {
        self.base_margin
    }
}

/// Gradient and hessian sums.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct GradPair {
    g: f64,
    h: f64,
}

impl GradPair {
    fn add(self, o: GradPair) -> GradPair {
        GradPair {
            g: self.g + o.g,
            h: self.h + o.h,
        }
    }

    fn sub(self, o: GradPair) -> GradPair {
        GradPair {
            g: self.g - o.g,
            h: self.h - o.h,
        }
    }
}

/// One feature's bin edges.
#[derive(Debug, Clone)]
struct FeatureBins {
    /// Ascending cut points; value `v` falls in bin `#{c : c <= v}`.
    cuts: Vec<f32>,
    /// Number of value bins (`cuts.len() + 1`, or 0 when the feature has no values).
    n_value_bins: usize,
    /// Bin index of missing cells, when the training data has any.
    missing_bin: Option<u8>,
}

impl FeatureBins {
    /// Bin edges from one feature's training values (`NaN`/`inf` = missing).
    fn new(column: &mut Vec<f32>, max_bins: usize) -> FeatureBins {
        let n = column.len();
        column.retain(|v| v.is_finite());
        let has_missing = column.len() < n;
        let limit = if has_missing {
            max_bins.min(HIST_BINS - 1)
        } else {
            max_bins
        };
        column.sort_unstable_by(f32::total_cmp);
        let values = column.as_slice();
        let mut cuts = Vec::new();
        if !values.is_empty() {
            let mut distinct = values.to_vec();
            distinct.dedup();
            if distinct.len() <= limit {
                cuts.extend_from_slice(&distinct[1..]);
            } else {
                // Equal-rank cut points; a value is a cut when it starts a new bin.
                let n = values.len();
                let min = values[0];
                for j in 1..limit {
                    let c = values[j * n / limit];
                    if c > min && cuts.last().is_none_or(|&last| c > last) {
                        cuts.push(c);
                    }
                }
            }
        }
        let n_value_bins = if values.is_empty() { 0 } else { cuts.len() + 1 };
        FeatureBins {
            missing_bin: has_missing.then_some(n_value_bins as u8),
            cuts,
            n_value_bins,
        }
    }

    /// Bin of a value.
    fn bin(&self, v: f32) -> u8 {
        if v.is_finite() {
            self.cuts.partition_point(|&c| c <= v) as u8
        } else {
            // Only reached for features with missing values, so the bin exists.
            self.missing_bin.unwrap_or(0)
        }
    }

    /// Raw-value threshold equivalent to "bin < left_bins".
    fn threshold(&self, left_bins: usize) -> f32 {
        if left_bins == 0 {
            f32::NEG_INFINITY
        } else if left_bins >= self.n_value_bins {
            f32::INFINITY
        } else {
            self.cuts[left_bins - 1]
        }
    }
}

/// The training data as bin indices, column-major.
struct Binned {
    n_rows: usize,
    bins: Vec<u8>,
    features: Vec<FeatureBins>,
}

impl Binned {
    fn new(x: &[f32], n_rows: usize, n_cols: usize, max_bins: usize) -> Binned {
        let mut bins = vec![0u8; n_rows * n_cols];
        let features: Vec<FeatureBins> = bins
            .par_chunks_mut(n_rows)
            .enumerate()
            .map(|(f, out)| {
                let mut column: Vec<f32> = x.iter().skip(f).step_by(n_cols).copied().collect();
                let fb = FeatureBins::new(&mut column, max_bins);
                for (o, v) in out.iter_mut().zip(x.iter().skip(f).step_by(n_cols)) {
                    *o = fb.bin(*v);
                }
                fb
            })
            .collect();
        Binned {
            n_rows,
            bins,
            features,
        }
    }

    fn column(&self, f: usize) -> &[u8] {
        &self.bins[f * self.n_rows..(f + 1) * self.n_rows]
    }
}

/// A node of a fitted tree.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Leaf weight (already scaled by the learning rate); unused for splits.
    value: f64,
    /// Rows with `x[feature] < threshold` go left.
    threshold: f32,
    feature: u32,
    left: u32,
    right: u32,
    /// Value bins `< left_bins` go left (training-time form of `threshold`).
    left_bins: u16,
    /// Where missing values go.
    default_left: bool,
    is_leaf: bool,
}

impl Node {
    const PLACEHOLDER: Node = Node {
        value: 0.0,
        threshold: 0.0,
        feature: 0,
        left: 0,
        right: 0,
        left_bins: 0,
        default_left: false,
        is_leaf: true,
    };
}

/// A fitted tree; node 0 is the root.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn predict_row(&self, row: &[f32]) -> f64 {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf {
                return n.value;
            }
            let v = row[n.feature as usize];
            let left = if v.is_finite() {
                v < n.threshold
            } else {
                n.default_left
            };
            i = if left { n.left } else { n.right } as usize;
        }
    }

    fn predict_binned(&self, binned: &Binned, r: usize) -> f64 {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf {
                return n.value;
            }
            let f = n.feature as usize;
            let b = binned.bins[f * binned.n_rows + r];
            let left = if Some(b) == binned.features[f].missing_bin {
                n.default_left
            } else {
                usize::from(b) < usize::from(n.left_bins)
            };
            i = if left { n.left } else { n.right } as usize;
        }
    }
}

/// The best split found for a node.
#[derive(Debug, Clone, Copy)]
struct SplitCand {
    gain: f64,
    feature: usize,
    left_bins: usize,
    default_left: bool,
    left: GradPair,
    right: GradPair,
}

/// A node waiting to be split: its rows are `rows[start..end]`.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    sum: GradPair,
    /// `n_features × HIST_BINS` histogram; `None` when the node cannot split.
    hist: Option<Vec<GradPair>>,
}

/// Everything one tree's growth reads.
struct Grower<'a> {
    binned: &'a Binned,
    grad: &'a [GradPair],
    active: &'a [bool],
    params: &'a GbdtParams,
}

impl Grower<'_> {
    /// Grows one tree over `rows` (reordered in place); returns the tree and each leaf's
    /// `(start, end, value)` range of `rows`; adds split gains to `gain`.
    fn grow(
        &self,
        rows: &mut [u32],
        scratch: &mut Vec<u32>,
        gain: &mut [f64],
    ) -> (Tree, Vec<(usize, usize, f64)>) {
        let p = self.params;
        let sum = rows.iter().fold(GradPair::default(), |acc, &r| {
            acc.add(self.grad[r as usize])
        });
        let mut nodes = vec![Node::PLACEHOLDER];
        let mut leaves = Vec::new();
        let root = Pending {
            node: 0,
            start: 0,
            end: rows.len(),
            sum,
            hist: None,
        };
        let mut level = vec![root];
        if self.may_split(&level[0], 0) {
            level[0].hist = Some(self.build_hist(rows));
        }

        let mut depth = 0;
        while !level.is_empty() {
            let cands: Vec<Option<SplitCand>> = level
                .par_iter()
                .map(|pn| pn.hist.as_deref().and_then(|h| self.best_split(h, pn.sum)))
                .collect();
            let mut next: Vec<Pending> = Vec::new();
            // (index in `next` of the smaller child, of the larger one, larger needs a
            // histogram, parent histogram).
            let mut jobs: Vec<(usize, usize, bool, Vec<GradPair>)> = Vec::new();
            for (pn, cand) in level.into_iter().zip(cands) {
                let Some(c) = cand else {
                    let value = leaf_weight(pn.sum, p.lambda) * p.learning_rate;
                    nodes[pn.node].value = value;
                    leaves.push((pn.start, pn.end, value));
                    continue;
                };
                let fb = &self.binned.features[c.feature];
                let mid = pn.start
                    + partition(
                        &mut rows[pn.start..pn.end],
                        scratch,
                        self.binned.column(c.feature),
                        c.left_bins,
                        fb.missing_bin,
                        c.default_left,
                    );
                let (l, r) = (nodes.len(), nodes.len() + 1);
                nodes.push(Node::PLACEHOLDER);
                nodes.push(Node::PLACEHOLDER);
                nodes[pn.node] = Node {
                    value: 0.0,
                    threshold: fb.threshold(c.left_bins),
                    feature: c.feature as u32,
                    left: l as u32,
                    right: r as u32,
                    left_bins: c.left_bins as u16,
                    default_left: c.default_left,
                    is_leaf: false,
                };
                gain[c.feature] += c.gain;
                let left = Pending {
                    node: l,
                    start: pn.start,
                    end: mid,
                    sum: c.left,
                    hist: None,
                };
                let right = Pending {
                    node: r,
                    start: mid,
                    end: pn.end,
                    sum: c.right,
                    hist: None,
                };
                let (need_l, need_r) = (
                    self.may_split(&left, depth + 1),
                    self.may_split(&right, depth + 1),
                );
                let left_smaller = mid - pn.start <= pn.end - mid;
                let i = next.len();
                next.push(left);
                next.push(right);
                if let Some(parent_hist) = pn.hist.filter(|_| need_l || need_r) {
                    let (small, large, need_large) = if left_smaller {
                        (i, i + 1, need_r)
                    } else {
                        (i + 1, i, need_l)
                    };
                    jobs.push((small, large, need_large, parent_hist));
                }
            }

            let rows_ro: &[u32] = rows;
            let built: Vec<Vec<GradPair>> = jobs
                .par_iter()
                .map(|&(small, ..)| self.build_hist(&rows_ro[next[small].start..next[small].end]))
                .collect();
            for ((small, large, need_large, mut parent), small_hist) in jobs.into_iter().zip(built)
            {
                if need_large {
                    for (ph, sh) in parent.iter_mut().zip(&small_hist) {
                        *ph = ph.sub(*sh);
                    }
                    next[large].hist = Some(parent);
                }
                if self.may_split(&next[small], depth + 1) {
                    next[small].hist = Some(small_hist);
                }
            }
            level = next;
            depth += 1;
        }
        (Tree { nodes }, leaves)
    }

    /// Whether a node at `depth` could possibly be split.
    fn may_split(&self, pn: &Pending, depth: usize) -> bool {
        depth < self.params.max_depth
            && pn.end - pn.start >= 2
            && pn.sum.h >= 2.0 * self.params.min_child_weight
    }

    /// Gradient histogram of `rows`, `n_features × HIST_BINS`, zero for inactive features.
    ///
    /// Features are processed four at a time so that each row's index and gradient are
    /// loaded once per group; each group is one (sequential, so deterministic) task.
    fn build_hist(&self, rows: &[u32]) -> Vec<GradPair> {
        const GROUP: usize = 4;
        let local: Vec<GradPair> = rows.iter().map(|&r| self.grad[r as usize]).collect();
        let n_features = self.binned.features.len();
        let mut hist = vec![GradPair::default(); n_features * HIST_BINS];
        let fill = |(group, chunk): (usize, &mut [GradPair])| {
            let f0 = group * GROUP;
            let mut slots: Vec<(&[u8], &mut [GradPair; HIST_BINS])> = chunk
                .chunks_exact_mut(HIST_BINS)
                .enumerate()
                .filter(|&(k, _)| self.active[f0 + k])
                .filter_map(|(k, h)| Some((self.binned.column(f0 + k), h.try_into().ok()?)))
                .collect();
            if let [(c0, h0), (c1, h1), (c2, h2), (c3, h3)] = slots.as_mut_slice() {
                for (&r, gp) in rows.iter().zip(&local) {
                    let r = r as usize;
                    for (c, h) in [
                        (&*c0, &mut **h0),
                        (&*c1, &mut **h1),
                        (&*c2, &mut **h2),
                        (&*c3, &mut **h3),
                    ] {
                        let slot = &mut h[usize::from(c[r])];
                        slot.g += gp.g;
                        slot.h += gp.h;
                    }
                }
            } else {
                for (c, h) in slots {
                    for (&r, gp) in rows.iter().zip(&local) {
                        let slot = &mut h[usize::from(c[r as usize])];
                        slot.g += gp.g;
                        slot.h += gp.h;
                    }
                }
            }
        };
        if rows.len() * n_features >= PAR_WORK {
            hist.par_chunks_mut(GROUP * HIST_BINS)
                .enumerate()
                .for_each(fill);
        } else {
            hist.chunks_mut(GROUP * HIST_BINS)
                .enumerate()
                .for_each(fill);
        }
        hist
    }

    /// Best valid split of a node over the active features (lowest feature index on ties).
    fn best_split(&self, hist: &[GradPair], sum: GradPair) -> Option<SplitCand> {
        let per_feature: Vec<Option<SplitCand>> = hist
            .par_chunks_exact(HIST_BINS)
            .enumerate()
            .map(|(f, h)| {
                if self.active[f] {
                    self.best_split_feature(f, h, sum)
                } else {
                    None
                }
            })
            .collect();
        let best =
            per_feature
                .into_iter()
                .flatten()
                .fold(None::<SplitCand>, |best, c| match best {
                    Some(b) if c.gain <= b.gain => Some(b),
                    _ => Some(c),
                })?;
        (best.gain > MIN_GAIN && best.gain >= self.params.gamma).then_some(best)
    }

    /// Best split of one feature: thresholds with missing values right, then (when the node
    /// has missing values) with missing values left; the first of equal gains wins.
    fn best_split_feature(&self, f: usize, hist: &[GradPair], sum: GradPair) -> Option<SplitCand> {
        let fb = &self.binned.features[f];
        let lambda = self.params.lambda;
        let mcw = self.params.min_child_weight;
        let parent_gain = gain_term(sum, lambda);
        let nb = fb.n_value_bins;
        let mut best: Option<SplitCand> = None;
        let mut consider = |left: GradPair, right: GradPair, left_bins: usize, default_left| {
            if left.h < mcw || right.h < mcw || left.h <= 0.0 || right.h <= 0.0 {
                return;
            }
            let gain = gain_term(left, lambda) + gain_term(right, lambda) - parent_gain;
            if best.is_none_or(|b| gain > b.gain) {
                best = Some(SplitCand {
                    gain,
                    feature: f,
                    left_bins,
                    default_left,
                    left,
                    right,
                });
            }
        };

        // Missing values go right: left = value bins < k.
        let last = if fb.missing_bin.is_some() {
            nb
        } else {
            nb.saturating_sub(1)
        };
        let mut acc = GradPair::default();
        for k in 1..=last {
            acc = acc.add(hist[k - 1]);
            consider(acc, sum.sub(acc), k, false);
        }
        // Missing values go left: right = value bins >= k.
        if let Some(mb) = fb.missing_bin {
            let missing = hist[usize::from(mb)];
            if missing.h > 1e-9 * sum.h.max(1.0) {
                let mut acc = GradPair::default();
                for k in (0..nb).rev() {
                    acc = acc.add(hist[k]);
                    consider(sum.sub(acc), acc, k, true);
                }
            }
        }
        best
    }
}

/// `G²/(H+λ)`, zero for an empty node.
fn gain_term(s: GradPair, lambda: f64) -> f64 {
    let d = s.h + lambda;
    if d > 0.0 { s.g * s.g / d } else { 0.0 }
}

/// `−G/(H+λ)`, zero for an empty node.
fn leaf_weight(s: GradPair, lambda: f64) -> f64 {
    let d = s.h + lambda;
    if d > 0.0 { -s.g / d } else { 0.0 }
}

/// Stable partition of `rows` into those going left and those going right; returns the
/// number going left.
fn partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    col: &[u8],
    left_bins: usize,
    missing_bin: Option<u8>,
    default_left: bool,
) -> usize {
    scratch.clear();
    let mut w = 0;
    for i in 0..rows.len() {
        let r = rows[i];
        let b = col[r as usize];
        let left = if Some(b) == missing_bin {
            default_left
        } else {
            usize::from(b) < left_bins
        };
        if left {
            rows[w] = r;
            w += 1;
        } else {
            scratch.push(r);
        }
    }
    rows[w..].copy_from_slice(scratch);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Features with ties, missing values and few distinct values.
    fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::with_capacity(n * 3);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let a = ((i * 7919) % 1000) as f32 / 10.0;
            let b = if i % 7 == 0 { f32::NAN } else { (i % 5) as f32 };
            let c = ((i * 104_729) % 613) as f32 - 300.0;
            x.extend_from_slice(&[a, b, c]);
            let signal = a / 100.0 + if b.is_nan() { 0.4 } else { 0.1 * b } + c / 3000.0;
            y.push(f32::from(u8::from(signal > 0.75 || i % 13 == 0)));
        }
        (x, y)
    }

    #[test]
    fn raw_thresholds_agree_with_bins() {
        // A prediction from raw values takes the same path as training did on bins.
        let (x, y) = data(3000);
        let params = GbdtParams {
            n_trees: 5,
            max_bins: 16,
            ..GbdtParams::default()
        };
        let m = Gbdt::fit(&x, 3000, 3, &y, &params).unwrap();
        let binned = Binned::new(&x, 3000, 3, params.max_bins);
        for tree in &m.trees {
            for (r, row) in x.chunks_exact(3).enumerate() {
                assert_eq!(tree.predict_row(row), tree.predict_binned(&binned, r));
            }
        }
    }

    #[test]
    fn bins_respect_max_bins_and_keep_distinct_values() {
        let mut few: Vec<f32> = (0..100).map(|i| (i % 4) as f32).collect();
        let fb = FeatureBins::new(&mut few, 256);
        assert_eq!(fb.cuts, vec![1.0, 2.0, 3.0]);
        assert_eq!(fb.missing_bin, None);
        let mut many: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        many.push(f32::NAN);
        let fb = FeatureBins::new(&mut many, 256);
        assert_eq!(fb.n_value_bins, 255);
        assert_eq!(fb.missing_bin, Some(255));
        assert!(fb.cuts.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn stump_matches_a_brute_force_search() {
        // One depth-1 tree: the chosen split and leaf weights are the best by direct search.
        let (x, y) = data(500);
        let params = GbdtParams {
            n_trees: 1,
            max_depth: 1,
            learning_rate: 1.0,
            ..GbdtParams::default()
        };
        let m = Gbdt::fit(&x, 500, 3, &y, &params).unwrap();
        let p0 = sigmoid(m.base_margin);
        let (g, h): (Vec<f64>, Vec<f64>) = y
            .iter()
            .map(|&l| (p0 - f64::from(l), p0 * (1.0 - p0)))
            .unzip();
        let score = |idx: &dyn Fn(usize) -> bool| {
            let (mut gl, mut hl, mut gr, mut hr) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..500 {
                if idx(i) {
                    gl += g[i];
                    hl += h[i];
                } else {
                    gr += g[i];
                    hr += h[i];
                }
            }
            gl * gl / (hl + 1.0) + gr * gr / (hr + 1.0)
        };
        let mut best = f64::MIN;
        for f in 0..3 {
            let mut vals: Vec<f32> = x.iter().skip(f).step_by(3).copied().collect();
            vals.retain(|v| v.is_finite());
            vals.sort_by(f32::total_cmp);
            vals.dedup();
            for &t in &vals {
                for miss_left in [false, true] {
                    let s = score(&|i: usize| {
                        let v = x[i * 3 + f];
                        if v.is_nan() { miss_left } else { v < t }
                    });
                    best = best.max(s);
                }
            }
        }
        let total = score(&|_| false);
        let root = m.trees[0].nodes[0];
        assert!(!root.is_leaf);
        assert!(
            ((best - total) - m.gain[root.feature as usize]).abs() < 1e-9,
            "{} vs {:?}",
            best - total,
            m.gain
        );
    }
}

//! Sequential CART, the method synthpop made the standard of health-data synthesis: the columns
//! are synthesised one after another, each by a classification tree grown on the columns before
//! it, and a synthetic row takes, for each column, the value of a real training row drawn from
//! the leaf its earlier values fall into. Trees keep non-linear and conditional structure a
//! Gaussian dependence cannot (a gap that is 0 exactly when a range is 0, a value that only
//! occurs in one subgroup), and the values are real ones, so kinds, ranges, categories and
//! missing cells come out as the data has them.
//!
//! How, in short:
//! - every column (numbers, flags, categories; ordered columns coded as gaps,
//!   [`crate::order_gaps`]) is cut into at most [`MAX_BINS`] quantile bins, with a bin of its
//!   own for a missing cell, so that a split can send "missing" one way;
//! - the columns are visited in the schema's order with the target last; the tree of a column
//!   splits on the bins of the columns visited before it: a flag or a category by the Gini
//!   impurity of its values (missing a value of its own), a number by the squared error of
//!   its place among its bins and of its being missing, on at most [`CartConfig::fit_rows`] training
//!   rows drawn with the seed; then every training row is routed to its leaf, and a leaf keeps
//!   the rows that reached it;
//! - a two-label target (visited last, mortality) is drawn from an additive logistic model of
//!   every other column's bins (`cart/additive.rs`): a tree's leaves turn the outcome's chance
//!   into steps on the few columns it splits on, and a model trained on the synthetic rows
//!   then ranks patients worse than one trained on the real rows (TSTR 0.766 against TRTR
//!   0.844 on the reference cohort; 0.818 with the additive model, docs/generators.md). With
//!   [`CartConfig::additive_target`] off, or for a target of more labels, the draw is from the
//!   average of the leaves of [`CartConfig::target_trees`] trees, each grown on its own draw
//!   of rows (one tree's leaf is a noisy estimate of the chance);
//! - a leaf has at least [`CartConfig::min_leaf`] fitting rows: the privacy knob. A synthetic
//!   row's values come from different real rows, each drawn among a leaf's many, so no real
//!   row is copied whole unless leaves are tiny (docs/generators.md has the trade-off);
//! - sampling is seeded per block of rows, so the same seed gives the same rows on any number
//!   of threads; the trees are fitted in parallel.
//!
//! Not here: the rules the schema states across columns beyond orders (the bounded repair,
//! [`crate::generator::within_constraints`], applied by [`OrderGaps::finish`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use ehrsynth_table::{Column, ColumnKind, Progress, Role, Schema, Table};

use crate::generator::{GenError, Generator, SampleOptions, build_table, sample_in_blocks};
use crate::order_gaps::OrderGaps;
use crate::registry::{GeneratorSettings, Setting};

mod additive;

/// Value bins per column (a missing cell has a bin of its own beside them).
pub const MAX_BINS: usize = 32;

/// Settings of [`SequentialCart`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CartConfig {
    /// The fewest fitting rows a leaf may hold: larger leaves mix more real rows into each
    /// value drawn (more privacy, less detail).
    pub min_leaf: usize,
    /// The deepest a tree grows.
    pub max_depth: usize,
    /// Training rows each tree is grown on (drawn with the seed; all rows are routed to the
    /// leaves afterwards).
    pub fit_rows: usize,
    /// Trees, each on its own draw of rows, whose leaves' outcome shares are averaged to draw
    /// a flag or categorical target (one tree's leaf is a noisy estimate of the outcome's
    /// chance, and a model trained on the rows learns no more than the labels carry).
    pub target_trees: usize,
    /// Whether a two-label target is drawn from an additive logistic model of all the other
    /// columns' bins instead of the trees' leaves (see the module docs).
    pub additive_target: bool,
}

/// `--set min_leaf=N`.
const MIN_LEAF: Setting = Setting {
    name: "min_leaf",
    about: "fewest fitting rows a leaf holds (larger: more privacy, less detail)",
    default: 20.0,
    min: 1.0,
    max: 1e9,
};
/// `--set max_depth=N`.
const MAX_DEPTH: Setting = Setting {
    name: "max_depth",
    about: "deepest a tree grows",
    default: 16.0,
    min: 1.0,
    max: 64.0,
};
/// `--set fit_rows=N`.
const FIT_ROWS: Setting = Setting {
    name: "fit_rows",
    about: "training rows each tree is grown on (drawn with the seed)",
    default: 20_000.0,
    min: 1.0,
    max: 1e9,
};
/// `--set target_trees=N`.
const TARGET_TREES: Setting = Setting {
    name: "target_trees",
    about: "trees averaged to draw a flag or categorical target",
    default: 10.0,
    min: 1.0,
    max: 1_000.0,
};

/// `--set additive_target=0|1`.
const ADDITIVE_TARGET: Setting = Setting {
    name: "additive_target",
    about: "1: a two-label target's chance from an additive model of all columns; 0: from the trees",
    default: 1.0,
    min: 0.0,
    max: 1.0,
};

/// The settings `--set` may change, with the defaults [`CartConfig::default`] uses.
pub const SETTINGS: &[Setting] = &[MIN_LEAF, MAX_DEPTH, FIT_ROWS, TARGET_TREES, ADDITIVE_TARGET];

impl CartConfig {
    /// The configuration `settings` give (each setting not given keeps its default).
    pub fn from_settings(settings: &GeneratorSettings) -> Self {
        Self {
            min_leaf: settings.count(&MIN_LEAF),
            max_depth: settings.count(&MAX_DEPTH),
            fit_rows: settings.count(&FIT_ROWS),
            target_trees: settings.count(&TARGET_TREES),
            additive_target: settings.count(&ADDITIVE_TARGET) == 1,
        }
    }
}

impl Default for CartConfig {
    fn default() -> Self {
        Self::from_settings(&GeneratorSettings::default())
    }
}

/// A column cut into bins: the upper edges of its value bins (a value goes to the first bin
/// whose edge is at or above it); bin 0 is "missing".
#[derive(Debug, Clone)]
struct Bins {
    edges: Vec<f64>,
}

impl Bins {
    fn of(values: &[Option<f64>]) -> Self {
        let mut present: Vec<f64> = values.iter().flatten().copied().collect();
        present.sort_by(f64::total_cmp);
        present.dedup();
        let edges = if present.len() <= MAX_BINS {
            present
        } else {
            let mut edges: Vec<f64> = (1..=MAX_BINS)
                .map(|k| present[(k * present.len() / MAX_BINS).min(present.len()) - 1])
                .collect();
            edges.dedup();
            edges
        };
        Self { edges }
    }

    /// Bins in all, "missing" included.
    fn count(&self) -> usize {
        self.edges.len() + 1
    }

    fn bin(&self, value: Option<f64>) -> u8 {
        match value {
            None => 0,
            Some(x) if x.is_nan() => 0,
            Some(x) => {
                let i = self.edges.partition_point(|e| *e < x);
                (i.min(self.edges.len().saturating_sub(1)) + 1) as u8
            }
        }
    }
}

/// A tree node: a split (rows whose `predictor` bin is at most `threshold` go left) or a leaf.
#[derive(Debug, Clone)]
enum Node {
    Split {
        predictor: usize,
        threshold: u8,
        left: usize,
        right: usize,
    },
    Leaf {
        /// Training rows that reached the leaf.
        rows: Vec<u32>,
    },
}

/// The tree of one column.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// The leaf a row of bins falls into.
    fn leaf(&self, bins_of: impl Fn(usize) -> u8) -> usize {
        let mut at = 0;
        while let Node::Split {
            predictor,
            threshold,
            left,
            right,
        } = &self.nodes[at]
        {
            at = if bins_of(*predictor) <= *threshold {
                *left
            } else {
                *right
            };
        }
        at
    }
}

/// The training columns as bins, column-major.
struct Binned {
    bins: Vec<Vec<u8>>,
    counts: Vec<usize>,
    /// Per column, for a number with more than two values, each bin's place in [0, 1] (bin 0,
    /// missing, unused); `None` for flags and categories, scored by Gini.
    positions: Vec<Option<Vec<f64>>>,
}

/// What sequential CART learnt.
#[derive(Debug, Clone)]
struct Fitted {
    schema: Schema,
    gaps: OrderGaps,
    encoded: Schema,
    /// The coded training table (leaves point into it).
    train: Table,
    /// Per column, each training row's bin (0 = missing): a synthetic row's cell is a training
    /// row's, so its bin, as the later trees read it, is that row's.
    train_bins: Vec<Vec<u8>>,
    /// The columns in the order they are visited: the schema's, the target last (so that its
    /// tree reads every other column, which is what a model trained on the rows needs).
    order: Vec<usize>,
    /// `trees[k]` are the trees of column `order[k]`.
    trees: Vec<ColumnTrees>,
    /// For a flag or categorical target, the trees whose leaves it is drawn from.
    target: Option<TargetForest>,
}

/// Trees of the target on draws of the rows, with each leaf's share of every class.
#[derive(Debug, Clone)]
struct TargetForest {
    column: usize,
    trees: Vec<Tree>,
    /// Per tree, per node: the class shares of a leaf (empty for a split).
    shares: Vec<Vec<Vec<f64>>>,
    /// Per class, training rows with it (a source for the drawn value).
    class_rows: Vec<Vec<u32>>,
    /// For a two-label target with [`CartConfig::additive_target`]: the additive model that
    /// gives the label's chance in place of the trees' shares.
    additive: Option<additive::AdditiveLogit>,
}

impl TargetForest {
    fn grow(binned: &Binned, order: &[usize], config: &CartConfig, seed: u64) -> Option<Self> {
        let (&column, predictors) = order.split_last()?;
        if binned.positions[column].is_some() {
            return None;
        }
        let n = binned.bins[column].len();
        let classes = binned.counts[column];
        let y = &binned.bins[column];
        let mut class_rows = vec![Vec::new(); classes];
        for (r, &c) in y.iter().enumerate() {
            class_rows[c as usize].push(r as u32);
        }
        // Bins of a flag: 0 = missing, 1 = the first label, 2 = the second.
        let two_labels = classes == 3 && class_rows[0].is_empty();
        if two_labels && config.additive_target {
            let labels: Vec<bool> = y.iter().map(|&b| b == 2).collect();
            let rows = drawn_rows(n, config.fit_rows, seed ^ ADDITIVE_SEED);
            return Some(Self {
                column,
                trees: Vec::new(),
                shares: Vec::new(),
                class_rows,
                additive: Some(additive::AdditiveLogit::fit(
                    binned, predictors, &labels, &rows,
                )),
            });
        }
        if config.target_trees < 2 {
            return None;
        }
        let all: Vec<u32> = (0..n as u32).collect();
        let trees = target_trees(binned, column, predictors, &all, config, seed);
        let shares = trees
            .iter()
            .map(|tree| {
                tree.nodes
                    .iter()
                    .map(|node| match node {
                        Node::Leaf { rows } => {
                            let mut share = vec![0.0; classes];
                            for &r in rows {
                                share[y[r as usize] as usize] += 1.0 / rows.len() as f64;
                            }
                            share
                        }
                        Node::Split { .. } => Vec::new(),
                    })
                    .collect()
            })
            .collect();
        Some(Self {
            column,
            trees,
            shares,
            class_rows,
            additive: None,
        })
    }

    /// A training row whose target is drawn from the trees' average class shares at `bins`
    /// (or the additive model's chance).
    fn draw(&self, bins: &[u8], rng: &mut ChaCha8Rng) -> usize {
        let classes = self.class_rows.len();
        let mut mean = vec![0.0; classes];
        for (tree, shares) in self.trees.iter().zip(&self.shares) {
            let leaf = tree.leaf(|p| bins[p]);
            for (m, s) in mean.iter_mut().zip(&shares[leaf]) {
                *m += s / self.trees.len() as f64;
            }
        }
        if let Some(model) = &self.additive {
            let p = model.probability(bins);
            mean[1] = 1.0 - p;
            mean[2] = p;
        }
        let mut u: f64 = rng.random_range(0.0..1.0);
        let mut class = classes - 1;
        for (k, m) in mean.iter().enumerate() {
            if u < *m && !self.class_rows[k].is_empty() {
                class = k;
                break;
            }
            u -= m;
        }
        while self.class_rows[class].is_empty() {
            class -= 1; // a class with share > 0 has rows; this only guards rounding
        }
        let rows = &self.class_rows[class];
        rows[rng.random_range(0..rows.len())] as usize
    }
}

/// Seed offsets of the target's row draws: its trees, and the additive model.
const TARGET_TREE_SEED: u64 = 0xF0E57;
const ADDITIVE_SEED: u64 = 0xADD;

/// The target's trees, each grown on its own draw of up to `fit_rows` of `pool` and then
/// filled with every row of `pool`.
fn target_trees(
    binned: &Binned,
    column: usize,
    predictors: &[usize],
    pool: &[u32],
    config: &CartConfig,
    seed: u64,
) -> Vec<Tree> {
    (0..config.target_trees)
        .into_par_iter()
        .map(|b| {
            let drawn = drawn_rows(
                pool.len(),
                config.fit_rows,
                seed ^ (TARGET_TREE_SEED + b as u64),
            );
            let rows = drawn.iter().map(|&i| pool[i as usize]).collect();
            let tree = grow(
                binned,
                TargetView::column(binned, column),
                predictors,
                rows,
                config,
            );
            route_all(tree, binned, pool.to_vec())
        })
        .collect()
}

/// Sequential CART (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SequentialCart {
    config: CartConfig,
    fitted: Option<Fitted>,
}

impl SequentialCart {
    /// An unfitted generator with `config`.
    pub fn new(config: CartConfig) -> Self {
        Self {
            config,
            fitted: None,
        }
    }
}

/// What a tree predicts: a class per training row (`y`, `classes` of them) and how a split is
/// scored.
#[derive(Clone, Copy)]
struct TargetView<'a> {
    y: &'a [u8],
    classes: usize,
    impurity: Impurity<'a>,
}

impl<'a> TargetView<'a> {
    /// Column `j`'s bins, scored as its kind says.
    fn column(binned: &'a Binned, j: usize) -> Self {
        Self {
            y: &binned.bins[j],
            classes: binned.counts[j],
            impurity: match &binned.positions[j] {
                Some(positions) => Impurity::Ordered { positions },
                None => Impurity::Gini,
            },
        }
    }
}

/// Grows a tree of `target` on the bins of the `predictors` (the columns visited before it).
fn grow(
    binned: &Binned,
    target: TargetView<'_>,
    predictors: &[usize],
    rows: Vec<u32>,
    config: &CartConfig,
) -> Tree {
    let TargetView {
        y,
        classes,
        impurity,
    } = target;
    let mut nodes = vec![Node::Leaf { rows: Vec::new() }];
    let mut stack = vec![(0usize, rows, 0usize)];
    while let Some((at, rows, depth)) = stack.pop() {
        let split = (depth < config.max_depth && rows.len() >= 2 * config.min_leaf)
            .then(|| {
                best_split(
                    binned,
                    predictors,
                    (y, classes, impurity),
                    &rows,
                    config.min_leaf,
                )
            })
            .flatten();
        let Some((predictor, threshold)) = split else {
            nodes[at] = Node::Leaf { rows };
            continue;
        };
        let x = &binned.bins[predictor];
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) =
            rows.into_iter().partition(|&r| x[r as usize] <= threshold);
        let (left, right) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::Leaf { rows: Vec::new() });
        nodes.push(Node::Leaf { rows: Vec::new() });
        nodes[at] = Node::Split {
            predictor,
            threshold,
            left,
            right,
        };
        stack.push((right, right_rows, depth + 1));
        stack.push((left, left_rows, depth + 1));
    }
    Tree { nodes }
}

/// How a split is scored: by the Gini impurity of the target's bins (flags, categories), or, for
/// a number, by the squared error of its place among its bins (`positions[bin]` in [0, 1]) and
/// of whether it is missing, so that a split that separates near values from far ones counts.
#[derive(Debug, Clone, Copy)]
enum Impurity<'a> {
    Gini,
    Ordered { positions: &'a [f64] },
}

/// A side's score, to be maximised: the sum over the target's dimensions of (sum of the
/// dimension over the side's rows)² / rows. For Gini the dimensions are the classes (one-hot);
/// for a number they are "missing" and the position (a missing row at the node's mean
/// position, so it adds no spread there).
fn side_score(counts: &[f64], impurity: Impurity<'_>, mean_position: f64) -> f64 {
    let n: f64 = counts.iter().sum();
    if n == 0.0 {
        return 0.0;
    }
    match impurity {
        Impurity::Gini => counts.iter().map(|c| c * c).sum::<f64>() / n,
        Impurity::Ordered { positions } => {
            let missing = counts[0];
            let position = missing * mean_position
                + counts[1..]
                    .iter()
                    .zip(&positions[1..])
                    .map(|(c, p)| c * p)
                    .sum::<f64>();
            (missing * missing + position * position) / n
        }
    }
}

/// The split of `rows` (predictor, threshold bin) that lowers the target's impurity most with
/// at least `min_leaf` rows on each side, or `None` when none lowers it.
fn best_split(
    binned: &Binned,
    predictors: &[usize],
    target: (&[u8], usize, Impurity<'_>),
    rows: &[u32],
    min_leaf: usize,
) -> Option<(usize, u8)> {
    let (y, classes, impurity) = target;
    let mut parent = vec![0f64; classes];
    for &r in rows {
        parent[y[r as usize] as usize] += 1.0;
    }
    let mean_position = match impurity {
        Impurity::Gini => 0.0,
        Impurity::Ordered { positions } => {
            let present: f64 = parent[1..].iter().sum();
            let sum: f64 = parent[1..]
                .iter()
                .zip(&positions[1..])
                .map(|(c, p)| c * p)
                .sum();
            if present > 0.0 { sum / present } else { 0.0 }
        }
    };
    let parent_score = side_score(&parent, impurity, mean_position);
    let mut best: Option<(f64, usize, u8)> = None;
    let mut hist = Vec::new();
    let mut right = vec![0f64; classes];
    for &predictor in predictors {
        let bins = binned.counts[predictor];
        if bins < 2 {
            continue;
        }
        hist.clear();
        hist.resize(bins * classes, 0f64);
        let x = &binned.bins[predictor];
        for &r in rows {
            hist[x[r as usize] as usize * classes + y[r as usize] as usize] += 1.0;
        }
        let mut left = vec![0f64; classes];
        let mut left_n = 0f64;
        for threshold in 0..bins - 1 {
            let bin = &hist[threshold * classes..(threshold + 1) * classes];
            for (l, count) in left.iter_mut().zip(bin) {
                *l += count;
                left_n += count;
            }
            let right_n = rows.len() as f64 - left_n;
            if left_n < min_leaf as f64 || right_n < min_leaf as f64 {
                continue;
            }
            for ((r, p), l) in right.iter_mut().zip(&parent).zip(&left) {
                *r = p - l;
            }
            let score = side_score(&left, impurity, mean_position)
                + side_score(&right, impurity, mean_position);
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, predictor, threshold as u8));
            }
        }
    }
    best.filter(|b| b.0 > parent_score * (1.0 + 1e-9) + 1e-12)
        .map(|b| (b.1, b.2))
}

/// The first `count` of `0..n` in an order shuffled by `seed` (all of them when `count >= n`).
fn drawn_rows(n: usize, count: usize, seed: u64) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..n as u32).collect();
    if count < n {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in 0..count {
            let j = rng.random_range(i..n);
            rows.swap(i, j);
        }
        rows.truncate(count);
        rows.sort_unstable();
    }
    rows
}

/// `tree` with every training row routed to its leaf (the fitting rows only reached them
/// before).
fn route_all(mut tree: Tree, binned: &Binned, all: Vec<u32>) -> Tree {
    for node in &mut tree.nodes {
        if let Node::Leaf { rows } = node {
            rows.clear();
        }
    }
    for r in all {
        let leaf = tree.leaf(|p| binned.bins[p][r as usize]);
        if let Node::Leaf { rows } = &mut tree.nodes[leaf] {
            rows.push(r);
        }
    }
    tree
}

/// The trees of one column: for a number that is sometimes missing, whether it is present
/// (a flag's tree) and then its value among the rows where it is present, so that the value's
/// relation to other columns is not drowned by who has one; for any other column one tree.
#[derive(Debug, Clone)]
struct ColumnTrees {
    presence: Option<Tree>,
    value: Tree,
}

impl ColumnTrees {
    fn grow(
        binned: &Binned,
        j: usize,
        predictors: &[usize],
        config: &CartConfig,
        seed: u64,
    ) -> Self {
        let n = binned.bins[j].len();
        let drawn = drawn_rows(n, config.fit_rows, seed ^ (j as u64).wrapping_mul(0x9E37));
        let all: Vec<u32> = (0..n as u32).collect();
        let column = TargetView::column(binned, j);
        let present = |r: &u32| column.y[*r as usize] != 0;
        let missing = column.y.iter().filter(|&&b| b == 0).count();
        if binned.positions[j].is_none() || missing == 0 || missing == n {
            let tree = grow(binned, column, predictors, drawn, config);
            return Self {
                presence: None,
                value: route_all(tree, binned, all),
            };
        }
        let flags: Vec<u8> = column.y.iter().map(|&b| u8::from(b != 0)).collect();
        let presence_view = TargetView {
            y: &flags,
            classes: 2,
            impurity: Impurity::Gini,
        };
        let presence = grow(binned, presence_view, predictors, drawn, config);
        // The value's tree gets up to `fit_rows` of the rows that have one (a sparse lab would
        // otherwise be fitted on the few of the drawn rows that happen to have it).
        let with_value: Vec<u32> = all.iter().copied().filter(present).collect();
        let value_rows: Vec<u32> =
            drawn_rows(with_value.len(), config.fit_rows, seed ^ !(j as u64))
                .into_iter()
                .map(|i| with_value[i as usize])
                .collect();
        let value = grow(binned, column, predictors, value_rows, config);
        Self {
            presence: Some(route_all(presence, binned, all.clone())),
            value: route_all(value, binned, all.into_iter().filter(present).collect()),
        }
    }

    /// A training row to take the column's cell from, given the row's bins so far.
    fn draw(&self, bins: &[u8], missing: impl Fn(usize) -> bool, rng: &mut ChaCha8Rng) -> usize {
        let from_leaf = |tree: &Tree, rng: &mut ChaCha8Rng| {
            let Node::Leaf { rows } = &tree.nodes[tree.leaf(|p| bins[p])] else {
                unreachable!("Tree::leaf ends at a leaf")
            };
            // A leaf holds at least its fitting rows, which are among the rows routed to it.
            rows[rng.random_range(0..rows.len())] as usize
        };
        if let Some(presence) = &self.presence {
            let row = from_leaf(presence, rng);
            if missing(row) {
                return row;
            }
        }
        from_leaf(&self.value, rng)
    }

    fn leaves(&self) -> usize {
        let count = |t: &Tree| {
            t.nodes
                .iter()
                .filter(|n| matches!(n, Node::Leaf { .. }))
                .count()
        };
        count(&self.value) + self.presence.as_ref().map_or(0, count)
    }
}

impl Generator for SequentialCart {
    fn name(&self) -> &str {
        "cart"
    }

    fn fit(
        &mut self,
        train: &Table,
        schema: &Schema,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(), GenError> {
        if train.n_rows() == 0 {
            return Err(GenError::Invalid("the training table has no rows".into()));
        }
        if self.config.min_leaf == 0 {
            return Err(GenError::Invalid("min_leaf must be at least 1".into()));
        }
        let coded = OrderGaps::code_training(schema, train, true)?;
        let (gaps, encoded, train) = (coded.gaps, coded.schema, coded.train);
        let columns: Vec<&Column> = encoded
            .columns()
            .iter()
            .map(|spec| train.require(&spec.name))
            .collect::<Result<_, _>>()?;
        let numbers: Vec<Vec<Option<f64>>> = columns.iter().map(|c| numeric_view(c)).collect();
        let bins: Vec<Bins> = numbers.iter().map(|v| Bins::of(v)).collect();
        let binned = Binned {
            bins: numbers
                .iter()
                .zip(&bins)
                .map(|(v, b)| v.iter().map(|x| b.bin(*x)).collect())
                .collect(),
            counts: bins.iter().map(Bins::count).collect(),
            positions: encoded
                .columns()
                .iter()
                .zip(&bins)
                .map(|(spec, b)| {
                    let numeric = matches!(spec.kind, ColumnKind::Continuous | ColumnKind::Integer);
                    let values = b.edges.len();
                    (numeric && values > 2).then(|| {
                        std::iter::once(0.0)
                            .chain((0..values).map(|i| i as f64 / (values - 1) as f64))
                            .collect()
                    })
                })
                .collect(),
        };
        progress.start(
            "fitting sequential CART",
            Some(columns.len() as u64),
            "columns",
        );
        let config = self.config;
        let order = visit_order(&encoded);
        let trees: Vec<ColumnTrees> = (0..order.len())
            .into_par_iter()
            .map(|k| {
                let trees = ColumnTrees::grow(&binned, order[k], &order[..k], &config, seed);
                progress.advance(1);
                trees
            })
            .collect();
        let leaves: usize = trees.iter().map(ColumnTrees::leaves).sum();
        let target = TargetForest::grow(&binned, &order, &config, seed);
        progress.finish(&format!("{} trees, {leaves} leaves", trees.len()));
        self.fitted = Some(Fitted {
            schema: schema.clone(),
            gaps,
            encoded,
            train,
            train_bins: binned.bins,
            order,
            trees,
            target,
        });
        Ok(())
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let fitted = self
            .fitted
            .as_ref()
            .ok_or_else(|| GenError::NotFitted("cart".into()))?;
        let fixed = fixed_source(fitted, options)?;
        progress.start(
            "sampling sequential CART",
            Some(options.rows as u64),
            "rows",
        );
        let sources: Vec<Vec<usize>> =
            sample_in_blocks(options.rows, options.seed, progress, |_, rng| {
                sample_sources(fitted, fixed, rng)
            });
        let columns: Vec<Column> = fitted
            .train
            .columns()
            .iter()
            .enumerate()
            .map(|(j, column)| {
                // `sources` is in visit order; an unvisited column is an identifier.
                let Some(k) = fitted.order.iter().position(|&c| c == j) else {
                    return fresh_ids(&fitted.encoded.columns()[j], options.rows);
                };
                let rows: Vec<usize> = sources.iter().map(|s| s[k]).collect();
                Ok(column.take(&rows))
            })
            .collect::<Result<_, GenError>>()?;
        let sampled = if columns.is_empty() {
            build_table(&fitted.encoded, &vec![Vec::new(); options.rows])?
        } else {
            Table::new(columns)?
        };
        let (table, repaired) = fitted.gaps.finish(&fitted.schema, &sampled, options)?;
        progress.finish(&format!(
            "{} rows{}",
            options.rows,
            crate::generator::repaired_note(repaired)
        ));
        Ok(table)
    }
}

/// A column as numbers: values, flags as 0/1, categories as their dictionary code; `None` =
/// missing.
fn numeric_view(column: &Column) -> Vec<Option<f64>> {
    match column.data() {
        ehrsynth_table::ColumnData::Categorical { codes, .. } => codes
            .iter()
            .enumerate()
            .map(|(i, c)| (!column.is_missing(i)).then_some(*c as f64))
            .collect(),
        _ => column.to_f64_vec(),
    }
}

/// For a conditional run, the fixed column and a training row holding its value (every
/// synthetic row copies that cell, and later columns are drawn given it).
fn fixed_source(
    fitted: &Fitted,
    options: &SampleOptions,
) -> Result<Option<(usize, usize)>, GenError> {
    let Some(condition) = &options.condition else {
        return Ok(None);
    };
    fitted
        .gaps
        .check_condition(&fitted.schema, &condition.column)?;
    let column = fitted
        .encoded
        .columns()
        .iter()
        .position(|c| c.name == condition.column)
        .ok_or_else(|| {
            GenError::Invalid(format!(
                "cannot condition on '{}': not a column of the schema",
                condition.column
            ))
        })?;
    if fitted.encoded.columns()[column].role == Role::Id {
        return Err(GenError::Invalid(format!(
            "cannot condition on '{}': an identifier column gets fresh values",
            condition.column
        )));
    }
    let cells = &fitted.train.columns()[column];
    let wanted = condition.value.trim();
    let same = |row: usize| {
        let cell = cells.value(row);
        let text = cell.to_string();
        text == wanted
            || cell
                .as_f64()
                .zip(wanted.parse::<f64>().ok())
                .is_some_and(|(a, b)| a == b)
    };
    let row = (0..fitted.train.n_rows())
        .find(|&r| same(r))
        .ok_or_else(|| {
            GenError::Invalid(format!(
                "cannot condition on {} = {}: no training row has that value",
                condition.column, condition.value
            ))
        })?;
    Ok(Some((column, row)))
}

/// The schema's columns in visit order: the schema's own, the target last; identifier columns
/// are not visited (they get fresh values, [`fresh_ids`]).
fn visit_order(schema: &Schema) -> Vec<usize> {
    let target = schema.target();
    let is_target = |i: usize| target == Some(schema.columns()[i].name.as_str());
    let visited = |i: &usize| schema.columns()[*i].role != Role::Id;
    let n = schema.columns().len();
    (0..n)
        .filter(visited)
        .filter(|&i| !is_target(i))
        .chain((0..n).filter(visited).filter(|&i| is_target(i)))
        .collect()
}

/// An identifier column of `rows` fresh values 1, 2, 3, ... of its kind (never a training id).
fn fresh_ids(spec: &ehrsynth_table::ColumnSpec, rows: usize) -> Result<Column, GenError> {
    let ids = 1..=rows as i64;
    Ok(match spec.kind {
        ColumnKind::Integer => Column::integer(&spec.name, &ids.map(Some).collect::<Vec<_>>()),
        ColumnKind::Continuous => {
            Column::continuous(&spec.name, &ids.map(|i| Some(i as f64)).collect::<Vec<_>>())
        }
        ColumnKind::Categorical => Column::categorical(
            &spec.name,
            &ids.map(|i| Some(i.to_string())).collect::<Vec<_>>(),
        ),
        ColumnKind::Binary => {
            return Err(GenError::Invalid(format!(
                "id column '{}' is binary; ids are generated as 1, 2, 3, ... and need an integer, continuous or categorical column",
                spec.name
            )));
        }
    })
}

/// One synthetic row as, per visited column, the training row its value is taken from.
fn sample_sources(
    fitted: &Fitted,
    fixed: Option<(usize, usize)>,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut sources = Vec::with_capacity(fitted.trees.len());
    let mut bins = vec![0u8; fitted.train_bins.len()];
    for (&j, tree) in fitted.order.iter().zip(&fitted.trees) {
        let column = &fitted.train_bins[j];
        let source = match (fixed, &fitted.target) {
            (Some((fixed_column, row)), _) if fixed_column == j => row,
            (_, Some(target)) if target.column == j => target.draw(&bins, rng),
            _ => tree.draw(&bins, |row| column[row] == 0, rng),
        };
        bins[j] = column[source];
        sources.push(source);
    }
    sources
}

#[cfg(test)]
mod tests;

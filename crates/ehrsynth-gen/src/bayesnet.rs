//! [`BayesNet`]: a Bayesian-network generator in the style of PrivBayes (Zhang et al., "PrivBayes:
//! Private Data Release via Bayesian Networks", ACM TODS 2017) and DataSynthesizer's correlated
//! attribute mode, with optional differential privacy.
//!
//! # Model
//!
//! **Discretisation.** Every modelled column becomes a small set of bins:
//! - continuous and integer columns: up to `bins` quantile bins of the training values (cut points
//!   at the `k/bins` quantiles, duplicates merged); a column with at most `bins` distinct values gets
//!   one bin per value. Group and site columns (hospital ids) get one bin per value up to
//!   [`MAX_GROUP_BINS`] distinct values, so a condition such as `hospitalid=73` picks one hospital;
//! - binary columns: two bins; categorical columns: one bin per category (the schema's categories,
//!   else the observed ones in first-seen order);
//! - a column with any missing training cell gets one more bin, "missing".
//!
//! Columns with role `id` are not modelled: generated rows get `1..=rows` (as the column's kind;
//! `syn-1`, `syn-2`, ... for a categorical id).
//!
//! **Structure.** Greedy, as in PrivBayes: the first attribute is the schema's site column, else a
//! group column drawn with the fit seed, else any attribute drawn with the fit seed. The remaining
//! group and site columns are placed next (so a conditioned column has only group/site ancestors),
//! then every other attribute. Each step adds the (attribute, parent set) pair with the highest
//! mutual information I(X; Π) (in bits) among the candidates, Π of at most `max_parents`
//! attributes already placed.
//!
//! *Candidate restriction* (computing I(X; Π) for every pair of placed attributes would cost
//! 83·C(82, 2) MI evaluations per step): without privacy, the candidate parent sets of an
//! attribute X are built from its [`TOP_PARENTS`] best single parents: when an attribute Z is
//! placed, I(X; Z) is computed for every unplaced X, and if Z is among X's [`TOP_PARENTS`] best
//! placed single parents, the sets {Z} ∪ S for every S of size `max_parents - 1` among the other
//! top ones become candidates of X. Candidates stay in X's pool once evaluated (their MI does not
//! change), and the empty set is always a candidate. With privacy the restriction must not look at
//! the data, so the new sets {Z} ∪ S use up to [`TOP_PARENTS`] random sets S (drawn with the fit
//! seed) among the attributes already placed. Parent sets whose conditional table would exceed
//! [`MAX_TABLE_CELLS`] cells are never candidates.
//!
//! **Conditional tables.** Without privacy: counts c(π, x) smoothed towards the child's marginal
//! m(x), p(x | π) = (c(π, x) + α·m(x)) / (c(π) + α) with α = [`SMOOTHING`]; a parent configuration
//! never seen in training thus gives exactly the marginal, and a bin never seen in training is never
//! generated.
//!
//! # Differential privacy (`epsilon = Some(ε)`)
//!
//! The budget is split in half, as DataSynthesizer does: ε₁ = ε/2 for the structure, ε₂ = ε/2 for
//! the conditional tables.
//! - Structure: each of the d − 1 greedy steps is an exponential mechanism with ε₁/(d − 1), choosing
//!   a candidate (X, Π) with probability ∝ exp(ε₁/(d − 1) · I(X; Π) / (2Δ)). Δ is PrivBayes'
//!   sensitivity bound for mutual information (Lemma 1 of the TODS paper, non-binary case, in bits):
//!   Δ = (2/n)·log₂((n + 1)/2) + ((n − 1)/n)·log₂((n + 1)/(n − 1)); it dominates the lemma's bound
//!   for binary domains and is used for every candidate.
//! - Tables: each of the d joint count tables c(Π, X) gets Laplace noise of scale 2·d/ε₂ per cell
//!   (PrivBayes' 2d/(n·ε₂) on normalised distributions, with the L1 sensitivity 2 of one changed
//!   record), negatives are clamped to 0 and each row renormalised; a row with no mass falls back
//!   to the child's noisy marginal (the sum of its noisy joint), then to uniform.
//! - Generated numeric values are drawn uniformly between the bin's edges instead of copying a
//!   training value.
//!
//! What the guarantee does not cover (as in DataSynthesizer, which reads min/max from the data):
//! the discretisation itself — quantile cut points, the observed categories, whether a column has
//! missing cells — and the number of rows are taken from the data without noise.
//!
//! # Sampling
//!
//! Ancestral order. A continuous or integer value is, without privacy, a training value drawn at
//! random among those that fell in the sampled bin (the bin's empirical distribution, so marginals
//! are reproduced closely); with privacy, uniform between the bin's edges. Values are clipped to the
//! schema's `min`/`max`, integers rounded. A column whose schema forbids missing values never gets
//! the missing bin (its probability is set to 0 in every table; if nothing is left, the column's
//! non-missing marginal is used).
//!
//! **Conditions** (`column=value`): the condition fixes the column's bin in every row (and its
//! value exactly). The column's ancestors A are drawn from their exact posterior
//! P(A | column = bin), computed by enumerating every configuration of A when there are at most
//! [`MAX_ENUMERATION`] (always the case for group and site columns, whose ancestors are only group
//! and site columns); otherwise by rejection sampling of the ancestors, accepting with probability
//! p(bin | π)/max_π p(bin | π), at most [`MAX_REJECTION_TRIES`] tries per row before a clear error.
//! The other attributes are then drawn in order given their parents. Under differential privacy the
//! noisy tables may give the condition probability 0 in every ancestor configuration; the ancestors
//! are then drawn from their unconditioned distribution. Either way every row holds the condition.

use std::collections::HashMap;

use ehrsynth_table::cell::{parse_binary, parse_integer, parse_number};
use ehrsynth_table::{Column, ColumnData, ColumnKind, ColumnSpec, Progress, Role, Schema, Table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::generator::{Condition, GenError, Generator, SampleOptions};
use crate::order_gaps::OrderGaps;

/// Additive smoothing (towards the child's marginal) of the conditional tables without privacy.
pub const SMOOTHING: f64 = 1e-6;
/// How many best single parents of an attribute its candidate parent sets are built from.
pub const TOP_PARENTS: usize = 8;
/// A group or site column with at most this many distinct values gets one bin per value.
pub const MAX_GROUP_BINS: usize = 1024;
/// The largest conditional table (child bins × parent configurations) a parent set may give.
pub const MAX_TABLE_CELLS: usize = 1 << 18;
/// The most ancestor configurations enumerated for an exact conditional draw.
pub const MAX_ENUMERATION: usize = 1 << 20;
/// The most rejection-sampling tries per generated row when the ancestors are too many to enumerate.
pub const MAX_REJECTION_TRIES: usize = 100_000;
/// Rows per sampling chunk (one progress step, one random stream).
const CHUNK_ROWS: usize = 1000;

/// Settings of a [`BayesNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct BayesNetConfig {
    /// The most parents an attribute may have (PrivBayes' k).
    pub max_parents: usize,
    /// The most bins of a continuous or integer column.
    pub bins: usize,
    /// The differential-privacy budget ε; `None` = no differential privacy.
    pub epsilon: Option<f64>,
}

impl Default for BayesNetConfig {
    /// Two parents, 20 bins, no differential privacy.
    fn default() -> Self {
        Self {
            max_parents: 2,
            bins: 20,
            epsilon: None,
        }
    }
}

/// The Bayesian-network generator (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct BayesNet {
    config: BayesNetConfig,
    model: Option<Model>,
}

impl BayesNet {
    /// An unfitted generator.
    pub fn new(config: BayesNetConfig) -> Self {
        Self {
            config,
            model: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BayesNetConfig {
        &self.config
    }

    /// The learned network in ancestral order: each modelled column with its parents; `None`
    /// before fitting.
    pub fn structure(&self) -> Option<Vec<(String, Vec<String>)>> {
        let model = self.model.as_ref()?;
        Some(
            model
                .nodes
                .iter()
                .map(|node| {
                    let name = |a: usize| model.attrs[a].spec.name.clone();
                    (
                        name(node.attr),
                        node.parents.iter().map(|&p| name(p)).collect(),
                    )
                })
                .collect(),
        )
    }
}

impl Generator for BayesNet {
    fn name(&self) -> &str {
        "bayesnet"
    }

    fn fit(
        &mut self,
        train: &Table,
        schema: &Schema,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(), GenError> {
        self.model = None;
        self.model = Some(Model::fit(train, schema, &self.config, seed, progress)?);
        Ok(())
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| GenError::NotFitted(self.name().to_string()))?;
        model.generate(options, progress)
    }
}

/// How a discretised column maps back to values.
#[derive(Debug, Clone)]
enum Domain {
    /// Continuous or integer: bin b holds the values in `[cuts[b-1], cuts[b])`.
    Numeric {
        integer: bool,
        /// One bin per distinct value.
        exact: bool,
        cuts: Vec<f64>,
        /// The present training values, sorted; bin b holds `sorted[starts[b]..starts[b+1]]`.
        sorted: Vec<f64>,
        starts: Vec<usize>,
    },
    /// Bin 0 = false, bin 1 = true.
    Binary,
    /// One bin per label.
    Categorical { labels: Vec<String> },
}

/// A modelled column.
#[derive(Debug, Clone)]
struct Attr {
    spec: ColumnSpec,
    domain: Domain,
    /// Bins holding values; the missing bin, if any, comes after them.
    value_bins: usize,
    has_missing: bool,
    /// Training rows per bin (missing bin included).
    counts: Vec<usize>,
}

impl Attr {
    fn n_bins(&self) -> usize {
        self.value_bins + usize::from(self.has_missing)
    }

    /// The bin and exact value of a condition on this column.
    fn condition_bin(&self, text: &str) -> Result<(usize, Option<f64>), GenError> {
        let name = &self.spec.name;
        let never = || {
            GenError::Invalid(format!(
                "value '{text}' never occurs in column '{name}' of the training data"
            ))
        };
        let not_kind = || {
            GenError::Invalid(format!(
                "condition value '{text}' is not a valid {} value for column '{name}'",
                self.spec.kind.as_str()
            ))
        };
        let (bin, value) = match &self.domain {
            Domain::Numeric {
                integer,
                cuts,
                sorted,
                ..
            } => {
                let x = if *integer {
                    parse_integer(text, false).map(|i| i as f64)
                } else {
                    parse_number(text)
                }
                .ok_or_else(not_kind)?;
                if sorted.binary_search_by(|y| y.total_cmp(&x)).is_err() {
                    return Err(never());
                }
                (cuts.partition_point(|&c| c <= x), Some(x))
            }
            Domain::Binary => (usize::from(parse_binary(text).ok_or_else(never)?), None),
            Domain::Categorical { labels } => (
                labels
                    .iter()
                    .position(|l| l == text.trim())
                    .ok_or_else(never)?,
                None,
            ),
        };
        if self.counts.get(bin).copied().unwrap_or(0) == 0 {
            return Err(never());
        }
        Ok((bin, value))
    }

    /// A value of bin `bin` as f64 (NaN = missing; binary 0/1; categorical = label index).
    fn draw_value(&self, bin: usize, private: bool, rng: &mut ChaCha8Rng) -> f64 {
        if bin >= self.value_bins {
            return f64::NAN;
        }
        match &self.domain {
            Domain::Binary | Domain::Categorical { .. } => bin as f64,
            Domain::Numeric {
                integer,
                exact,
                cuts,
                sorted,
                starts,
            } => {
                let (start, end) = (starts[bin], starts[bin + 1]);
                let x = if !private {
                    sorted[rng.random_range(start..end)]
                } else if *exact {
                    sorted[start]
                } else {
                    let lo = if bin == 0 { sorted[0] } else { cuts[bin - 1] };
                    let last = bin + 1 == self.value_bins;
                    let hi = if last {
                        sorted[sorted.len() - 1]
                    } else {
                        cuts[bin]
                    };
                    if *integer {
                        let (lo, hi) = (lo as i64, if last { hi as i64 } else { hi as i64 - 1 });
                        rng.random_range(lo..=hi.max(lo)) as f64
                    } else {
                        lo + rng.random::<f64>() * (hi - lo)
                    }
                };
                self.clip(x)
            }
        }
    }

    /// Clips to the schema range; rounds integers.
    fn clip(&self, x: f64) -> f64 {
        let integer = self.spec.kind == ColumnKind::Integer;
        let mut x = if integer { x.round() } else { x };
        if let Some(lo) = self.spec.min {
            x = x.max(if integer { lo.ceil() } else { lo });
        }
        if let Some(hi) = self.spec.max {
            x = x.min(if integer { hi.floor() } else { hi });
        }
        x
    }
}

/// Discretises one training column (already cast to the spec's kind).
fn discretise(
    spec: &ColumnSpec,
    column: &Column,
    bins: usize,
) -> Result<(Attr, Vec<u32>), GenError> {
    let n = column.len();
    let missing = column.missing_count();
    if missing == n && !spec.missing_allowed {
        return Err(GenError::Invalid(format!(
            "column '{}' is missing in every training row, but its schema does not allow missing values",
            spec.name
        )));
    }
    let (domain, value_bins, codes): (Domain, usize, Vec<u32>) = match column.data() {
        ColumnData::Continuous(_) | ColumnData::Integer(_) => {
            let mut sorted: Vec<f64> = (0..n).filter_map(|i| column.get_f64(i)).collect();
            sorted.sort_by(f64::total_cmp);
            let mut distinct = sorted.clone();
            distinct.dedup();
            let cap = if matches!(spec.role, Role::Group | Role::Site) {
                MAX_GROUP_BINS.max(bins)
            } else {
                bins
            };
            let exact = distinct.len() <= cap;
            let cuts: Vec<f64> = if exact {
                distinct.get(1..).unwrap_or_default().to_vec()
            } else {
                let m = sorted.len();
                let mut cuts: Vec<f64> = Vec::with_capacity(bins);
                for k in 1..bins {
                    let c = sorted[k * m / bins];
                    if c > *cuts.last().unwrap_or(&sorted[0]) {
                        cuts.push(c);
                    }
                }
                cuts
            };
            let value_bins = if sorted.is_empty() { 0 } else { cuts.len() + 1 };
            let mut starts: Vec<usize> = (0..value_bins)
                .map(|b| {
                    if b == 0 {
                        0
                    } else {
                        sorted.partition_point(|&y| y < cuts[b - 1])
                    }
                })
                .collect();
            starts.push(sorted.len());
            let codes = (0..n)
                .map(|i| match column.get_f64(i) {
                    Some(x) => cuts.partition_point(|&c| c <= x) as u32,
                    None => value_bins as u32,
                })
                .collect();
            let integer = spec.kind == ColumnKind::Integer;
            let domain = Domain::Numeric {
                integer,
                exact,
                cuts,
                sorted,
                starts,
            };
            (domain, value_bins, codes)
        }
        ColumnData::Binary(values) => {
            let codes = (0..n)
                .map(|i| {
                    if column.is_missing(i) {
                        2
                    } else {
                        u32::from(values[i])
                    }
                })
                .collect();
            (Domain::Binary, 2, codes)
        }
        ColumnData::Categorical {
            codes: raw,
            dictionary,
        } => {
            let mut labels: Vec<String> = spec.categories.clone();
            let mut lookup: HashMap<String, u32> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i as u32))
                .collect();
            let fixed = !labels.is_empty();
            let mut codes = Vec::with_capacity(n);
            for (i, &code) in raw.iter().enumerate() {
                if column.is_missing(i) {
                    codes.push(u32::MAX);
                    continue;
                }
                let text = &dictionary[code as usize];
                let code = match lookup.get(text) {
                    Some(&c) => c,
                    None if fixed => {
                        return Err(GenError::Invalid(format!(
                            "column '{}': training value '{text}' (row {i}) is not one of the schema's categories",
                            spec.name
                        )));
                    }
                    None => {
                        labels.push(text.clone());
                        lookup.insert(text.clone(), labels.len() as u32 - 1);
                        labels.len() as u32 - 1
                    }
                };
                codes.push(code);
            }
            let value_bins = labels.len();
            for c in &mut codes {
                if *c == u32::MAX {
                    *c = value_bins as u32;
                }
            }
            (Domain::Categorical { labels }, value_bins, codes)
        }
    };
    let has_missing = missing > 0;
    let mut counts = vec![0usize; value_bins + usize::from(has_missing)];
    for &c in &codes {
        counts[c as usize] += 1;
    }
    let attr = Attr {
        spec: spec.clone(),
        domain,
        value_bins,
        has_missing,
        counts,
    };
    Ok((attr, codes))
}

/// What a schema column becomes in the output.
#[derive(Debug, Clone)]
enum Output {
    /// An id column: 1..=rows of this kind.
    Id(ColumnKind),
    /// A modelled attribute.
    Attr(usize),
}

/// One attribute with its parents and conditional table.
#[derive(Debug, Clone)]
struct Node {
    attr: usize,
    parents: Vec<usize>,
    parent_bins: Vec<usize>,
    n_bins: usize,
    /// p(x | π) at `config(π) * n_bins + x`; every row sums to 1.
    probs: Vec<f64>,
}

impl Node {
    fn config(&self, bins: &[usize]) -> usize {
        self.parents
            .iter()
            .zip(&self.parent_bins)
            .fold(0, |acc, (&p, &b)| acc * b + bins[p])
    }

    fn row(&self, bins: &[usize]) -> &[f64] {
        let c = self.config(bins);
        &self.probs[c * self.n_bins..(c + 1) * self.n_bins]
    }
}

/// Draws an index from probabilities summing to 1.
fn draw(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            acc += p;
            last = i;
            if u < acc {
                return i;
            }
        }
    }
    last
}

/// A Laplace(0, scale) draw.
fn laplace(rng: &mut ChaCha8Rng, scale: f64) -> f64 {
    let e = -(1.0 - rng.random::<f64>()).ln();
    if rng.random_bool(0.5) {
        e * scale
    } else {
        -e * scale
    }
}

/// PrivBayes' bound on the sensitivity of I(X; Π) in bits (TODS 2017, Lemma 1, general case).
fn mi_sensitivity(n: usize) -> f64 {
    if n <= 1 {
        return 1.0;
    }
    let n = n as f64;
    (2.0 / n) * ((n + 1.0) / 2.0).log2() + ((n - 1.0) / n) * ((n + 1.0) / (n - 1.0)).log2()
}

/// The discretised training data.
struct Data<'a> {
    codes: &'a [Vec<u32>],
    nbins: &'a [usize],
    n: usize,
}

impl Data<'_> {
    fn cells(&self, child: usize, parents: &[usize]) -> usize {
        parents.iter().fold(self.nbins[child], |acc, &p| {
            acc.saturating_mul(self.nbins[p])
        })
    }

    /// Joint counts at `config(parents) * bins(child) + child`.
    fn joint_counts(&self, child: usize, parents: &[usize]) -> Vec<u32> {
        let bx = self.nbins[child];
        let mut counts = vec![0u32; self.cells(child, parents)];
        let cx = &self.codes[child];
        match parents {
            [] => {
                for &x in cx {
                    counts[x as usize] += 1;
                }
            }
            [a] => {
                for (&x, &p) in cx.iter().zip(&self.codes[*a]) {
                    counts[p as usize * bx + x as usize] += 1;
                }
            }
            [a, b] => {
                let bb = self.nbins[*b];
                let (ca, cb) = (&self.codes[*a], &self.codes[*b]);
                for ((&x, &p), &q) in cx.iter().zip(ca).zip(cb) {
                    counts[(p as usize * bb + q as usize) * bx + x as usize] += 1;
                }
            }
            _ => {
                for (r, &x) in cx.iter().enumerate() {
                    let config = parents.iter().fold(0usize, |acc, &p| {
                        acc * self.nbins[p] + self.codes[p][r] as usize
                    });
                    counts[config * bx + x as usize] += 1;
                }
            }
        }
        counts
    }

    /// I(child; parents) in bits on the training rows.
    fn mutual_information(&self, child: usize, parents: &[usize]) -> f64 {
        if parents.is_empty() || self.n == 0 {
            return 0.0;
        }
        let bx = self.nbins[child];
        let counts = self.joint_counts(child, parents);
        let mut px = vec![0u64; bx];
        let mut pp = vec![0u64; counts.len() / bx];
        for (i, &c) in counts.iter().enumerate() {
            px[i % bx] += u64::from(c);
            pp[i / bx] += u64::from(c);
        }
        let n = self.n as f64;
        let mut mi = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                let c = f64::from(c);
                mi += c * (c * n / (px[i % bx] as f64 * pp[i / bx] as f64)).log2();
            }
        }
        (mi / n).max(0.0)
    }
}

/// An attribute not yet placed, with its candidate parent sets.
struct Pending {
    attr: usize,
    /// I(attr; Z) for every placed Z.
    singles: Vec<(f64, usize)>,
    /// Candidate parent sets with their I(attr; Π); the empty set first.
    pool: Vec<(Vec<usize>, f64)>,
}

/// All `r`-subsets of `items`, in lexicographic order.
fn combinations(items: &[usize], r: usize) -> Vec<Vec<usize>> {
    if r == 0 {
        return vec![Vec::new()];
    }
    if items.len() < r {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        for mut rest in combinations(&items[i + 1..], r - 1) {
            rest.insert(0, first);
            out.push(rest);
        }
    }
    out
}

/// `count` distinct random elements of `items` (partial Fisher–Yates).
fn random_subset(items: &[usize], count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut items = items.to_vec();
    let count = count.min(items.len());
    for i in 0..count {
        let j = rng.random_range(i..items.len());
        items.swap(i, j);
    }
    items.truncate(count);
    items
}

/// Greedy structure learning (see the module documentation); returns (attribute, parents) in
/// ancestral order.
fn learn_structure(
    data: &Data<'_>,
    first: usize,
    prefix: &[bool],
    max_parents: usize,
    structure_epsilon: Option<f64>,
    rng: &mut ChaCha8Rng,
    progress: &dyn Progress,
) -> Vec<(usize, Vec<usize>)> {
    let d = data.nbins.len();
    let mut order = vec![(first, Vec::new())];
    let mut placed = vec![first];
    progress.advance(1);
    let mut pending: Vec<Pending> = (0..d)
        .filter(|&a| a != first)
        .map(|attr| Pending {
            attr,
            singles: Vec::new(),
            pool: vec![(Vec::new(), 0.0)],
        })
        .collect();
    // The exponential mechanism's exponent per bit of MI: ε₁/(d-1) / (2Δ).
    let dp_factor = structure_epsilon
        .map(|e| e / (d.saturating_sub(1).max(1) as f64) / (2.0 * mi_sensitivity(data.n)));
    while !pending.is_empty() {
        let z = placed[placed.len() - 1];
        if max_parents > 0 {
            if dp_factor.is_some() {
                // Data-independent candidates: {Z} ∪ S for random S among the placed attributes.
                let others: Vec<usize> = placed[..placed.len() - 1].to_vec();
                let size = (max_parents - 1).min(others.len());
                let proposals: Vec<Vec<Vec<usize>>> = pending
                    .iter()
                    .map(|p| {
                        let all = combinations(&others, size);
                        let sets: Vec<Vec<usize>> = if all.len() <= TOP_PARENTS {
                            all
                        } else {
                            let mut sets: Vec<Vec<usize>> = (0..TOP_PARENTS)
                                .map(|_| {
                                    let mut s = random_subset(&others, size, rng);
                                    s.sort_unstable();
                                    s
                                })
                                .collect();
                            sets.sort();
                            sets.dedup();
                            sets
                        };
                        sets.into_iter()
                            .map(|mut s| {
                                s.push(z);
                                s
                            })
                            .filter(|s| data.cells(p.attr, s) <= MAX_TABLE_CELLS)
                            .collect()
                    })
                    .collect();
                pending.par_iter_mut().zip(proposals).for_each(|(p, sets)| {
                    for s in sets {
                        let mi = data.mutual_information(p.attr, &s);
                        p.pool.push((s, mi));
                    }
                });
            } else {
                pending.par_iter_mut().for_each(|p| {
                    let mi = data.mutual_information(p.attr, &[z]);
                    p.singles.push((mi, z));
                    p.singles
                        .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    let top: Vec<usize> = p.singles.iter().take(TOP_PARENTS).map(|s| s.1).collect();
                    if !top.contains(&z) {
                        return;
                    }
                    let others: Vec<usize> = top.into_iter().filter(|&a| a != z).collect();
                    let size = (max_parents - 1).min(others.len());
                    for mut s in combinations(&others, size) {
                        s.push(z);
                        if data.cells(p.attr, &s) <= MAX_TABLE_CELLS {
                            let mi = if s.len() == 1 {
                                mi
                            } else {
                                data.mutual_information(p.attr, &s)
                            };
                            p.pool.push((s, mi));
                        }
                    }
                });
            }
        }
        // Group and site columns first.
        let any_prefix = pending.iter().any(|p| prefix[p.attr]);
        let eligible: Vec<usize> = (0..pending.len())
            .filter(|&i| !any_prefix || prefix[pending[i].attr])
            .collect();
        let (pi, ci) = match dp_factor {
            None => {
                let mut best = (eligible[0], 0, f64::NEG_INFINITY);
                for &i in &eligible {
                    for (j, (_, mi)) in pending[i].pool.iter().enumerate() {
                        // Ties (within rounding) keep the smaller, earlier parent set.
                        if *mi > best.2 + 1e-12 {
                            best = (i, j, *mi);
                        }
                    }
                }
                (best.0, best.1)
            }
            Some(factor) => {
                let candidates: Vec<(usize, usize, f64)> = eligible
                    .iter()
                    .flat_map(|&i| {
                        pending[i]
                            .pool
                            .iter()
                            .enumerate()
                            .map(move |(j, (_, mi))| (i, j, *mi))
                    })
                    .collect();
                let top = candidates
                    .iter()
                    .map(|c| c.2)
                    .fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = candidates
                    .iter()
                    .map(|c| ((c.2 - top) * factor).exp())
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut u = rng.random::<f64>() * total;
                let mut chosen = candidates[candidates.len() - 1];
                for (c, w) in candidates.iter().zip(&weights) {
                    if u < *w {
                        chosen = *c;
                        break;
                    }
                    u -= w;
                }
                (chosen.0, chosen.1)
            }
        };
        let p = pending.remove(pi);
        let mut parents = p.pool[ci].0.clone();
        parents.sort_unstable();
        order.push((p.attr, parents));
        placed.push(p.attr);
        progress.advance(1);
    }
    order
}

/// The fitted model.
#[derive(Debug, Clone)]
struct Model {
    /// The schema the tables describe: ordered columns as gaps (see [`crate::order_gaps`]).
    schema: Schema,
    /// The schema as given, constraints included: what generated tables must satisfy.
    constrained: Schema,
    /// Ordered columns modelled as gaps (none with differential privacy: choosing them reads the
    /// data outside the budget).
    gaps: OrderGaps,
    outputs: Vec<Output>,
    attrs: Vec<Attr>,
    /// Nodes in ancestral order.
    nodes: Vec<Node>,
    /// Index in `nodes` of each attribute.
    node_of: Vec<usize>,
    private: bool,
}

impl Model {
    fn fit(
        train: &Table,
        schema: &Schema,
        config: &BayesNetConfig,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self, GenError> {
        if let Some(e) = config.epsilon
            && !(e.is_finite() && e > 0.0)
        {
            return Err(GenError::Invalid(format!(
                "the privacy budget epsilon must be a positive number, got {e}"
            )));
        }
        if config.bins == 0 {
            return Err(GenError::Invalid(
                "bins must be at least 1 (got 0)".to_string(),
            ));
        }
        let n = train.n_rows();
        if n == 0 {
            return Err(GenError::Invalid(
                "the bayesnet generator needs at least one training row".to_string(),
            ));
        }
        let constrained = schema.clone();
        let coded = OrderGaps::code_training(schema, train, config.epsilon.is_none())?;
        let (gaps, schema, train) = (coded.gaps, &coded.schema, &coded.train);
        let mut outputs = Vec::with_capacity(schema.columns().len());
        let mut attrs = Vec::new();
        let mut codes = Vec::new();
        for spec in schema.columns() {
            if spec.role == Role::Id {
                if spec.kind == ColumnKind::Binary {
                    return Err(GenError::Invalid(format!(
                        "id column '{}' is binary; ids are generated as 1, 2, 3, ... and need an integer, continuous or categorical column",
                        spec.name
                    )));
                }
                outputs.push(Output::Id(spec.kind));
                continue;
            }
            let column = train.require(&spec.name)?;
            let column = column.cast(spec.kind).map_err(|(row, text)| {
                GenError::Invalid(format!(
                    "training column '{}' row {row}: '{text}' is not a {} value",
                    spec.name,
                    spec.kind.as_str()
                ))
            })?;
            let (attr, c) = discretise(spec, &column, config.bins)?;
            outputs.push(Output::Attr(attrs.len()));
            attrs.push(attr);
            codes.push(c);
        }
        let d = attrs.len();
        let nbins: Vec<usize> = attrs.iter().map(Attr::n_bins).collect();
        let data = Data {
            codes: &codes,
            nbins: &nbins,
            n,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let private = config.epsilon.is_some();
        let (eps_structure, eps_tables) = match config.epsilon {
            Some(e) => (Some(e / 2.0), Some(e / 2.0)),
            None => (None, None),
        };

        progress.start(
            "bayesnet: learning the network structure",
            Some(d as u64),
            "attributes",
        );
        let order = if d == 0 {
            Vec::new()
        } else {
            let prefix: Vec<bool> = attrs
                .iter()
                .map(|a| matches!(a.spec.role, Role::Group | Role::Site))
                .collect();
            let site = attrs.iter().position(|a| a.spec.role == Role::Site);
            let groups: Vec<usize> = (0..d).filter(|&a| prefix[a]).collect();
            let first = match site {
                Some(s) => s,
                None if !groups.is_empty() => groups[rng.random_range(0..groups.len())],
                None => rng.random_range(0..d),
            };
            learn_structure(
                &data,
                first,
                &prefix,
                config.max_parents,
                eps_structure,
                &mut rng,
                progress,
            )
        };
        progress.finish(&format!("bayesnet: structure of {d} attributes learned"));

        progress.start("bayesnet: conditional tables", Some(d as u64), "attributes");
        let nodes: Vec<Node> = order
            .par_iter()
            .enumerate()
            .map(|(i, (attr, parents))| {
                let mut node_rng = ChaCha8Rng::seed_from_u64(seed);
                node_rng.set_stream(i as u64 + 1);
                let noise = eps_tables.map(|e| 2.0 * d as f64 / e);
                let node =
                    conditional_table(&data, &attrs[*attr], *attr, parents, noise, &mut node_rng);
                progress.advance(1);
                node
            })
            .collect();
        progress.finish(&format!("bayesnet: {d} conditional tables"));

        let mut node_of = vec![0; d];
        for (i, node) in nodes.iter().enumerate() {
            node_of[node.attr] = i;
        }
        Ok(Self {
            schema: schema.clone(),
            constrained,
            gaps,
            outputs,
            attrs,
            nodes,
            node_of,
            private,
        })
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let fixed = match &options.condition {
            Some(c) => Some(self.fixed(c)?),
            None => None,
        };
        let plan = match &fixed {
            Some(f) => self.plan(f),
            None => Plan::Free,
        };
        let rows = options.rows;
        progress.start("bayesnet: sampling", Some(rows as u64), "rows");
        let chunks: Vec<(usize, usize)> = (0..rows.div_ceil(CHUNK_ROWS))
            .map(|c| (c, CHUNK_ROWS.min(rows - c * CHUNK_ROWS)))
            .collect();
        let sampled: Vec<Vec<Vec<f64>>> = chunks
            .par_iter()
            .map(|&(chunk, len)| {
                let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
                rng.set_stream(chunk as u64);
                let out = self.sample_chunk(len, fixed.as_ref(), &plan, &mut rng);
                progress.advance(len as u64);
                out
            })
            .collect::<Result<_, _>>()?;
        let columns = self
            .schema
            .columns()
            .iter()
            .zip(&self.outputs)
            .map(|(spec, output)| self.output_column(spec, output, &sampled, rows))
            .collect();
        let (table, repaired) =
            self.gaps
                .finish(&self.constrained, &Table::new(columns)?, options)?;
        progress.finish(&format!(
            "bayesnet: {rows} rows generated{}",
            crate::generator::repaired_note(repaired)
        ));
        Ok(table)
    }

    /// Resolves a condition to an attribute, bin and value.
    fn fixed(&self, condition: &Condition) -> Result<Fixed, GenError> {
        self.gaps
            .check_condition(&self.constrained, &condition.column)
            .map_err(GenError::Invalid)?;
        let position = self
            .schema
            .columns()
            .iter()
            .position(|c| c.name == condition.column)
            .ok_or_else(|| {
                GenError::Invalid(format!(
                    "cannot condition on column '{}': the schema has no such column",
                    condition.column
                ))
            })?;
        let attr = match self.outputs[position] {
            Output::Attr(a) => a,
            Output::Id(_) => {
                return Err(GenError::Invalid(format!(
                    "cannot condition on id column '{}': ids are generated as 1, 2, 3, ...",
                    condition.column
                )));
            }
        };
        let (bin, value) = self.attrs[attr].condition_bin(&condition.value)?;
        Ok(Fixed { attr, bin, value })
    }

    /// How the ancestors of a conditioned attribute are drawn.
    fn plan(&self, fixed: &Fixed) -> Plan {
        let node = &self.nodes[self.node_of[fixed.attr]];
        // Ancestors: closure of the parents, in ancestral order.
        let mut is_ancestor = vec![false; self.attrs.len()];
        let mut stack = node.parents.clone();
        while let Some(a) = stack.pop() {
            if !is_ancestor[a] {
                is_ancestor[a] = true;
                stack.extend(&self.nodes[self.node_of[a]].parents);
            }
        }
        let mut ancestors: Vec<usize> = (0..self.attrs.len()).filter(|&a| is_ancestor[a]).collect();
        ancestors.sort_by_key(|&a| self.node_of[a]);
        let mut preset = is_ancestor;
        preset[fixed.attr] = true;
        if ancestors.is_empty() {
            return Plan::Enumerate {
                ancestors,
                cumulative: vec![1.0],
                preset,
            };
        }
        let total = ancestors
            .iter()
            .try_fold(1usize, |acc, &a| acc.checked_mul(self.attrs[a].n_bins()))
            .filter(|&t| t <= MAX_ENUMERATION);
        match total {
            Some(total) => {
                let mut bins = vec![0usize; self.attrs.len()];
                bins[fixed.attr] = fixed.bin;
                let weights = |with_condition: bool, bins: &mut [usize]| -> Vec<f64> {
                    let mut cumulative = Vec::with_capacity(total);
                    let mut acc = 0.0;
                    for idx in 0..total {
                        self.decode(&ancestors, idx, bins);
                        let mut w: f64 = ancestors
                            .iter()
                            .map(|&a| {
                                let n = &self.nodes[self.node_of[a]];
                                n.row(bins)[bins[a]]
                            })
                            .product();
                        if with_condition {
                            w *= node.row(bins)[fixed.bin];
                        }
                        acc += w;
                        cumulative.push(acc);
                    }
                    cumulative
                };
                let mut cumulative = weights(true, &mut bins);
                if !(cumulative[total - 1] > 0.0 && cumulative[total - 1].is_finite()) {
                    cumulative = weights(false, &mut bins);
                }
                Plan::Enumerate {
                    ancestors,
                    cumulative,
                    preset,
                }
            }
            None => {
                let best = node
                    .probs
                    .chunks(node.n_bins)
                    .map(|row| row[fixed.bin])
                    .fold(0.0, f64::max);
                Plan::Reject {
                    ancestors,
                    best,
                    preset,
                }
            }
        }
    }

    /// Writes configuration `idx` of `ancestors` (mixed radix) into `bins`.
    fn decode(&self, ancestors: &[usize], mut idx: usize, bins: &mut [usize]) {
        for &a in ancestors.iter().rev() {
            let nb = self.attrs[a].n_bins();
            bins[a] = idx % nb;
            idx /= nb;
        }
    }

    /// Samples `len` rows: one vector of values per attribute (see [`Attr::draw_value`]).
    fn sample_chunk(
        &self,
        len: usize,
        fixed: Option<&Fixed>,
        plan: &Plan,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Vec<f64>>, GenError> {
        let d = self.attrs.len();
        let mut out: Vec<Vec<f64>> = (0..d).map(|_| Vec::with_capacity(len)).collect();
        let mut bins = vec![0usize; d];
        let no_preset = vec![false; d];
        let preset = match plan {
            Plan::Free => &no_preset,
            Plan::Enumerate { preset, .. } | Plan::Reject { preset, .. } => preset,
        };
        for _ in 0..len {
            if let Some(f) = fixed {
                bins[f.attr] = f.bin;
                match plan {
                    Plan::Free => {}
                    Plan::Enumerate {
                        ancestors,
                        cumulative,
                        ..
                    } => {
                        let total = cumulative[cumulative.len() - 1];
                        let u = rng.random::<f64>() * total;
                        let idx = cumulative
                            .partition_point(|&c| c <= u)
                            .min(cumulative.len() - 1);
                        self.decode(ancestors, idx, &mut bins);
                    }
                    Plan::Reject {
                        ancestors, best, ..
                    } => {
                        let node = &self.nodes[self.node_of[f.attr]];
                        let mut tries = 0;
                        loop {
                            for &a in ancestors {
                                let n = &self.nodes[self.node_of[a]];
                                bins[a] = draw(n.row(&bins), rng);
                            }
                            let p = node.row(&bins)[f.bin];
                            // Without any mass anywhere (noisy tables) accept the first draw.
                            if *best <= 0.0 || rng.random::<f64>() * best < p {
                                break;
                            }
                            tries += 1;
                            if tries >= MAX_REJECTION_TRIES {
                                return Err(GenError::Invalid(format!(
                                    "the condition on column '{}' is too rare under the fitted network: no row accepted in {MAX_REJECTION_TRIES} tries",
                                    self.attrs[f.attr].spec.name
                                )));
                            }
                        }
                    }
                }
            }
            for node in &self.nodes {
                if !preset[node.attr] {
                    bins[node.attr] = draw(node.row(&bins), rng);
                }
            }
            for (a, attr) in self.attrs.iter().enumerate() {
                let value = match fixed {
                    Some(f) if f.attr == a && f.value.is_some() => f.value.unwrap_or(f64::NAN),
                    _ => attr.draw_value(bins[a], self.private, rng),
                };
                out[a].push(value);
            }
        }
        Ok(out)
    }

    /// Assembles one output column from the sampled chunks.
    fn output_column(
        &self,
        spec: &ColumnSpec,
        output: &Output,
        sampled: &[Vec<Vec<f64>>],
        rows: usize,
    ) -> Column {
        let name = spec.name.as_str();
        let attr = match output {
            Output::Id(kind) => {
                return match kind {
                    ColumnKind::Continuous => {
                        let v: Vec<Option<f64>> = (1..=rows).map(|i| Some(i as f64)).collect();
                        Column::continuous(name, &v)
                    }
                    ColumnKind::Categorical => {
                        let v: Vec<Option<String>> =
                            (1..=rows).map(|i| Some(format!("syn-{i}"))).collect();
                        Column::categorical(name, &v)
                    }
                    _ => {
                        let v: Vec<Option<i64>> = (1..=rows).map(|i| Some(i as i64)).collect();
                        Column::integer(name, &v)
                    }
                };
            }
            Output::Attr(a) => &self.attrs[*a],
        };
        let idx = match output {
            Output::Attr(a) => *a,
            Output::Id(_) => unreachable!("handled above"),
        };
        let values = sampled.iter().flat_map(|chunk| chunk[idx].iter().copied());
        let present = |x: f64| (!x.is_nan()).then_some(x);
        match &attr.domain {
            Domain::Binary => {
                let v: Vec<Option<bool>> = values.map(|x| present(x).map(|x| x == 1.0)).collect();
                Column::binary(name, &v)
            }
            Domain::Categorical { labels } => {
                let v: Vec<Option<&str>> = values
                    .map(|x| present(x).map(|x| labels[x as usize].as_str()))
                    .collect();
                Column::categorical(name, &v)
            }
            Domain::Numeric { .. } if spec.kind == ColumnKind::Integer => {
                let v: Vec<Option<i64>> = values.map(|x| present(x).map(|x| x as i64)).collect();
                Column::integer(name, &v)
            }
            Domain::Numeric { .. } => {
                let v: Vec<Option<f64>> = values.map(present).collect();
                Column::continuous(name, &v)
            }
        }
    }
}

/// A condition resolved against the model.
#[derive(Debug, Clone)]
struct Fixed {
    attr: usize,
    bin: usize,
    /// The exact numeric value (continuous and integer columns).
    value: Option<f64>,
}

/// How a conditioned row's ancestors are drawn.
enum Plan {
    /// No condition.
    Free,
    /// Exact posterior over every ancestor configuration (cumulative weights, mixed radix).
    Enumerate {
        ancestors: Vec<usize>,
        cumulative: Vec<f64>,
        /// Attributes set before the ancestral pass (the ancestors and the conditioned one).
        preset: Vec<bool>,
    },
    /// Rejection sampling of the ancestors, accepting with p(bin | π) / best.
    Reject {
        ancestors: Vec<usize>,
        best: f64,
        preset: Vec<bool>,
    },
}

/// Builds the conditional table of `attr` given `parents` (noise = Laplace scale on counts).
fn conditional_table(
    data: &Data<'_>,
    attr: &Attr,
    index: usize,
    parents: &[usize],
    noise: Option<f64>,
    rng: &mut ChaCha8Rng,
) -> Node {
    let bx = attr.n_bins();
    let counts: Vec<f64> = data
        .joint_counts(index, parents)
        .into_iter()
        .map(f64::from)
        .collect();
    let configs = counts.len() / bx;
    let forbid_missing = attr.has_missing && !attr.spec.missing_allowed;
    let normalise = |row: &mut [f64]| -> bool {
        if forbid_missing {
            row[bx - 1] = 0.0;
        }
        let total: f64 = row.iter().sum();
        if total > 0.0 && total.is_finite() {
            row.iter_mut().for_each(|p| *p /= total);
            true
        } else {
            false
        }
    };
    // Fallback when a row has no mass: the child's (noisy) marginal, else uniform over the allowed bins.
    let fallback = |counts: &[f64]| -> Vec<f64> {
        let mut marginal = vec![0.0; bx];
        for (i, c) in counts.iter().enumerate() {
            marginal[i % bx] += c;
        }
        if !normalise(&mut marginal) {
            marginal = vec![1.0; bx];
            normalise(&mut marginal);
        }
        marginal
    };
    let probs = match noise {
        None => {
            let marginal = fallback(&counts);
            let mut probs = counts;
            for row in probs.chunks_mut(bx) {
                let total: f64 = row.iter().sum();
                for (p, m) in row.iter_mut().zip(&marginal) {
                    *p = (*p + SMOOTHING * m) / (total + SMOOTHING);
                }
                if !normalise(row) {
                    row.copy_from_slice(&marginal);
                }
            }
            probs
        }
        Some(scale) => {
            let noisy: Vec<f64> = counts
                .iter()
                .map(|&c| (c + laplace(rng, scale)).max(0.0))
                .collect();
            let marginal = fallback(&noisy);
            let mut probs = noisy;
            for row in probs.chunks_mut(bx) {
                if !normalise(row) {
                    row.copy_from_slice(&marginal);
                }
            }
            probs
        }
    };
    debug_assert_eq!(probs.len(), configs * bx);
    Node {
        attr: index,
        parents: parents.to_vec(),
        parent_bins: parents.iter().map(|&p| data.nbins[p]).collect(),
        n_bins: bx,
        probs,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use ehrsynth_cohort::features::eicu_schema;
    use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
    use ehrsynth_eval::fidelity::feature_fidelity;
    use ehrsynth_table::NoProgress;

    use super::*;

    fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
        ColumnSpec::new(name, kind)
    }

    fn fitted(table: &Table, schema: &Schema, config: BayesNetConfig, seed: u64) -> BayesNet {
        let mut bn = BayesNet::new(config);
        bn.fit(table, schema, seed, &NoProgress).unwrap();
        bn
    }

    fn sample(
        bn: &BayesNet,
        rows: usize,
        condition: Option<&str>,
        seed: u64,
    ) -> Result<Table, GenError> {
        let options = SampleOptions {
            rows,
            condition: condition.map(|c| c.parse().unwrap()),
            seed,
        };
        bn.generate(&options, &NoProgress)
    }

    /// Every cell as text, column by column.
    fn cells(t: &Table) -> Vec<String> {
        t.columns()
            .iter()
            .flat_map(|c| (0..c.len()).map(|i| c.value(i).to_string()))
            .collect()
    }

    fn texts(t: &Table, name: &str) -> Vec<String> {
        let c = t.column(name).unwrap();
        (0..c.len()).map(|i| c.value(i).to_string()).collect()
    }

    fn assert_valid(schema: &Schema, t: &Table) {
        let report = schema.validate_table(t).unwrap();
        assert!(
            report.rejected.is_empty(),
            "{} rejected rows, first: {:?}",
            report.rejected.len(),
            report.rejected.first()
        );
        assert_eq!(t.column_names(), schema.names());
        for (spec, column) in schema.columns().iter().zip(t.columns()) {
            assert_eq!(column.kind(), spec.kind, "{}", spec.name);
        }
    }

    /// x ~ categorical (a 50%, b 30%, c 20%), y = f(x), plus noise columns.
    fn function_table(n: usize) -> (Table, Schema) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<Option<&str>> = (0..n)
            .map(|_| {
                let u: f64 = rng.random();
                Some(if u < 0.5 {
                    "a"
                } else if u < 0.8 {
                    "b"
                } else {
                    "c"
                })
            })
            .collect();
        let f = |x: &str| if x == "b" { 20 } else { 10 };
        let y: Vec<Option<i64>> = x.iter().map(|x| x.map(f)).collect();
        let z: Vec<Option<f64>> = (0..n)
            .map(|_| (rng.random::<f64>() > 0.1).then(|| rng.random::<f64>() * 100.0))
            .collect();
        let w: Vec<Option<bool>> = (0..n).map(|_| Some(rng.random_bool(0.3))).collect();
        let table = Table::new(vec![
            Column::categorical("x", &x),
            Column::integer("y", &y),
            Column::continuous("z", &z),
            Column::binary("w", &w),
        ])
        .unwrap();
        let mut zs = spec("z", ColumnKind::Continuous);
        (zs.min, zs.max) = (Some(0.0), Some(100.0));
        let schema = Schema::new(vec![
            spec("x", ColumnKind::Categorical),
            spec("y", ColumnKind::Integer),
            zs,
            spec("w", ColumnKind::Binary),
        ])
        .unwrap();
        (table, schema)
    }

    #[test]
    fn a_deterministic_dependency_is_kept_and_marginals_match() {
        let n = 20_000;
        let (table, schema) = function_table(n);
        let bn = fitted(&table, &schema, BayesNetConfig::default(), 3);
        let out = sample(&bn, n, None, 11).unwrap();
        assert_valid(&schema, &out);
        let (x, y) = (texts(&out, "x"), texts(&out, "y"));
        for (x, y) in x.iter().zip(&y) {
            let expected = if x == "b" { "20" } else { "10" };
            assert_eq!(y, expected, "y = f(x) broken for x = {x}");
        }
        for (category, share) in [("a", 0.5), ("b", 0.3), ("c", 0.2)] {
            let train =
                texts(&table, "x").iter().filter(|v| *v == category).count() as f64 / n as f64;
            let syn = x.iter().filter(|v| *v == category).count() as f64 / n as f64;
            assert!(
                (train - share).abs() < 0.02,
                "{category}: training share {train}"
            );
            assert!((syn - train).abs() < 0.02, "{category}: {syn} vs {train}");
        }
        let missing = out.column("z").unwrap().missing_count() as f64 / n as f64;
        assert!((missing - 0.1).abs() < 0.02, "z missing share {missing}");
    }

    #[test]
    fn constant_all_missing_and_forbidden_missing_columns() {
        let n = 300;
        let constant: Vec<Option<f64>> = vec![Some(5.0); n];
        let empty: Vec<Option<i64>> = vec![None; n];
        let holes: Vec<Option<f64>> = (0..n).map(|i| (i % 4 != 0).then_some(i as f64)).collect();
        let table = Table::new(vec![
            Column::continuous("constant", &constant),
            Column::integer("empty", &empty),
            Column::continuous("holes", &holes),
        ])
        .unwrap();
        let mut holes_spec = spec("holes", ColumnKind::Continuous);
        holes_spec.missing_allowed = false;
        let schema = Schema::new(vec![
            spec("constant", ColumnKind::Continuous),
            spec("empty", ColumnKind::Integer),
            holes_spec,
        ])
        .unwrap();
        for epsilon in [None, Some(1.0)] {
            let config = BayesNetConfig {
                epsilon,
                ..Default::default()
            };
            let bn = fitted(&table, &schema, config, 5);
            let out = sample(&bn, 1000, None, 2).unwrap();
            assert_valid(&schema, &out);
            assert!(texts(&out, "constant").iter().all(|v| v == "5"));
            assert_eq!(out.column("empty").unwrap().missing_count(), 1000);
            assert_eq!(out.column("holes").unwrap().missing_count(), 0);
        }
        let mut strict = schema.clone();
        strict.column_mut("empty").unwrap().missing_allowed = false;
        let err = BayesNet::new(BayesNetConfig::default())
            .fit(&table, &strict, 0, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'empty' is missing in every training row"),
            "{err}"
        );
    }

    #[test]
    fn one_training_row_and_zero_rows_requested() {
        let table = Table::new(vec![
            Column::integer("id", &[Some(77)]),
            Column::continuous("a", &[Some(1.5)]),
            Column::categorical("b", &[Some("k")]),
            Column::binary("c", &[None]),
        ])
        .unwrap();
        let mut id = spec("id", ColumnKind::Integer);
        id.role = Role::Id;
        let schema = Schema::new(vec![
            id,
            spec("a", ColumnKind::Continuous),
            spec("b", ColumnKind::Categorical),
            spec("c", ColumnKind::Binary),
        ])
        .unwrap();
        let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
        let out = sample(&bn, 5, Some("b=k"), 1).unwrap();
        assert_valid(&schema, &out);
        assert_eq!(texts(&out, "id"), ["1", "2", "3", "4", "5"]);
        assert!(texts(&out, "a").iter().all(|v| v == "1.5"));
        assert!(texts(&out, "b").iter().all(|v| v == "k"));
        assert_eq!(out.column("c").unwrap().missing_count(), 5);
        let empty = sample(&bn, 0, None, 1).unwrap();
        assert_eq!(empty.n_rows(), 0);
        assert_eq!(empty.column_names(), schema.names());
    }

    #[test]
    fn ids_are_sequential_in_the_column_kind() {
        let (table, mut schema) = function_table(200);
        schema.column_mut("x").unwrap().role = Role::Id;
        let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
        let out = sample(&bn, 3, None, 0).unwrap();
        assert_eq!(texts(&out, "x"), ["syn-1", "syn-2", "syn-3"]);
        assert_eq!(bn.structure().unwrap().len(), 3);
    }

    #[test]
    fn bad_settings_and_conditions_are_clear_errors() {
        let (table, schema) = function_table(500);
        for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut bn = BayesNet::new(BayesNetConfig {
                epsilon: Some(epsilon),
                ..Default::default()
            });
            let err = bn
                .fit(&table, &schema, 0, &NoProgress)
                .unwrap_err()
                .to_string();
            assert!(err.contains("epsilon must be a positive number"), "{err}");
        }
        let unfitted = BayesNet::new(BayesNetConfig::default());
        assert!(matches!(
            sample(&unfitted, 1, None, 0),
            Err(GenError::NotFitted(_))
        ));
        let bn = fitted(&table, &schema, BayesNetConfig::default(), 0);
        let err = sample(&bn, 1, Some("nope=1"), 0).unwrap_err().to_string();
        assert!(err.contains("'nope'"), "{err}");
        let err = sample(&bn, 1, Some("x=zzz"), 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "value 'zzz' never occurs in column 'x' of the training data"
        );
        let err = sample(&bn, 1, Some("y=15"), 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "value '15' never occurs in column 'y' of the training data"
        );
        let err = sample(&bn, 1, Some("y=ten"), 0).unwrap_err().to_string();
        assert!(err.contains("not a valid integer value"), "{err}");
    }

    #[test]
    fn same_seeds_same_rows_other_seeds_other_rows() {
        let (table, schema) = function_table(3000);
        for epsilon in [None, Some(2.0)] {
            let config = BayesNetConfig {
                epsilon,
                ..Default::default()
            };
            let a = fitted(&table, &schema, config.clone(), 9);
            let b = fitted(&table, &schema, config.clone(), 9);
            let run = |bn: &BayesNet, seed| cells(&sample(bn, 2500, None, seed).unwrap());
            assert_eq!(run(&a, 4), run(&b, 4));
            assert_ne!(run(&a, 4), run(&a, 5));
            if epsilon.is_some() {
                // The fit seed drives the noise: another fit seed, other tables.
                let c = fitted(&table, &schema, config, 10);
                assert_ne!(run(&a, 4), run(&c, 4));
            }
        }
    }

    /// A site column, a group column with a value seen once, and a feature depending on both.
    #[test]
    fn conditions_on_a_non_root_group_hold_on_every_row_even_for_a_single_row_value() {
        let n = 4000;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let site: Vec<Option<i64>> = (0..n).map(|i| Some(100 + (i % 7) as i64)).collect();
        let group: Vec<Option<&str>> = (0..n)
            .map(|i| {
                Some(if i == 17 {
                    "rare"
                } else if rng.random_bool(0.4) {
                    "f"
                } else {
                    "m"
                })
            })
            .collect();
        let value: Vec<Option<f64>> = (0..n)
            .map(|i| Some(if group[i] == Some("f") { 10.0 } else { 0.0 } + rng.random::<f64>()))
            .collect();
        let table = Table::new(vec![
            Column::integer("site", &site),
            Column::categorical("group", &group),
            Column::continuous("value", &value),
        ])
        .unwrap();
        let mut s = spec("site", ColumnKind::Integer);
        s.role = Role::Site;
        let mut g = spec("group", ColumnKind::Categorical);
        g.role = Role::Group;
        let schema = Schema::new(vec![s, g, spec("value", ColumnKind::Continuous)]).unwrap();
        for epsilon in [None, Some(1.0)] {
            let bn = fitted(
                &table,
                &schema,
                BayesNetConfig {
                    epsilon,
                    ..Default::default()
                },
                1,
            );
            let structure = bn.structure().unwrap();
            assert_eq!(structure[0].0, "site");
            assert_eq!(structure[1].0, "group");
            for (condition, column, expected) in [
                ("group=rare", "group", "rare"),
                ("group=f", "group", "f"),
                ("site=103", "site", "103"),
            ] {
                let out = sample(&bn, 1500, Some(condition), 3).unwrap();
                assert_valid(&schema, &out);
                assert!(
                    texts(&out, column).iter().all(|v| v == expected),
                    "{condition}"
                );
            }
        }
        // Without privacy the other columns follow the group.
        let bn = fitted(&table, &schema, BayesNetConfig::default(), 1);
        let out = sample(&bn, 1000, Some("group=f"), 3).unwrap();
        let values = out.column("value").unwrap().to_f64_vec();
        // One quantile bin may straddle the gap between 1 and 10, so a few values may fall below.
        let high = values
            .iter()
            .filter(|v| v.is_some_and(|v| v >= 10.0))
            .count();
        eprintln!("group=f: {high} of 1000 values >= 10");
        assert!(high >= 900, "{high} of 1000 values >= 10");
        let rare = sample(&bn, 200, Some("group=rare"), 3).unwrap();
        let site_of_rare = texts(&rare, "site");
        assert!(
            site_of_rare.iter().all(|v| v == "103"),
            "row 17 is at site 103"
        );
    }

    #[derive(Default)]
    struct Counting {
        starts: AtomicU64,
        advanced: AtomicU64,
        finishes: AtomicU64,
    }

    impl Progress for Counting {
        fn start(&self, _label: &str, _total: Option<u64>, _unit: &str) {
            self.starts.fetch_add(1, Ordering::Relaxed);
        }
        fn advance(&self, delta: u64) {
            self.advanced.fetch_add(delta, Ordering::Relaxed);
        }
        fn finish(&self, _message: &str) {
            self.finishes.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn progress_is_reported_per_attribute_and_per_chunk() {
        let (table, schema) = function_table(500);
        let mut bn = BayesNet::new(BayesNetConfig::default());
        let fit = Counting::default();
        bn.fit(&table, &schema, 0, &fit).unwrap();
        assert_eq!(fit.starts.load(Ordering::Relaxed), 2);
        assert_eq!(fit.finishes.load(Ordering::Relaxed), 2);
        assert_eq!(fit.advanced.load(Ordering::Relaxed), 8);
        let sampling = Counting::default();
        let options = SampleOptions {
            rows: 2500,
            condition: None,
            seed: 0,
        };
        bn.generate(&options, &sampling).unwrap();
        assert_eq!(sampling.advanced.load(Ordering::Relaxed), 2500);
        assert_eq!(sampling.finishes.load(Ordering::Relaxed), 1);
    }

    // The reference cohort (simulated eICU, 83 columns).

    fn cohort() -> &'static Table {
        static COHORT: OnceLock<Table> = OnceLock::new();
        COHORT.get_or_init(|| {
            let config = ReferenceConfig {
                rows: 8000,
                ..Default::default()
            };
            reference_cohort(&config).unwrap().table
        })
    }

    fn reference_model() -> &'static BayesNet {
        static MODEL: OnceLock<BayesNet> = OnceLock::new();
        MODEL.get_or_init(|| fitted(cohort(), &eicu_schema(), BayesNetConfig::default(), 42))
    }

    /// Mean KL over the non-id columns, except `skip`.
    fn mean_kl(real: &Table, synthetic: &Table, skip: &str) -> f64 {
        let schema = eicu_schema();
        let kls: Vec<f64> = schema
            .columns()
            .iter()
            .filter(|s| s.role != Role::Id && s.name != skip)
            .map(|s| {
                let kl = feature_fidelity(
                    s,
                    real.column(&s.name).unwrap(),
                    synthetic.column(&s.name).unwrap(),
                )
                .kl;
                kl.unwrap_or(f64::INFINITY)
            })
            .collect();
        kls.iter().sum::<f64>() / kls.len() as f64
    }

    #[test]
    fn reference_cohort_rows_validate_and_marginals_are_close() {
        let schema = eicu_schema();
        let out = sample(reference_model(), 8000, None, 1).unwrap();
        assert_valid(&schema, &out);
        let kl = mean_kl(cohort(), &out, "");
        eprintln!("bayesnet mean KL without DP: {kl:.4}");
        assert!(kl < 0.05, "mean KL {kl}");
    }

    #[test]
    fn differential_privacy_costs_fidelity_but_stays_finite_and_valid() {
        let schema = eicu_schema();
        let config = BayesNetConfig {
            epsilon: Some(1.0),
            ..Default::default()
        };
        let private = fitted(cohort(), &schema, config, 42);
        let out = sample(&private, 8000, None, 1).unwrap();
        assert_valid(&schema, &out);
        let dp = mean_kl(cohort(), &out, "");
        let exact = mean_kl(
            cohort(),
            &sample(reference_model(), 8000, None, 1).unwrap(),
            "",
        );
        eprintln!("bayesnet mean KL with epsilon = 1: {dp:.4} (without DP {exact:.4})");
        assert!(dp.is_finite() && dp > exact, "{dp} vs {exact}");
        let site = texts(cohort(), "hospitalid")[0].clone();
        let out = sample(&private, 500, Some(&format!("hospitalid={site}")), 2).unwrap();
        assert!(texts(&out, "hospitalid").iter().all(|v| *v == site));
    }

    #[test]
    fn conditions_on_late_attributes_and_exact_values_hold_on_every_row() {
        let schema = eicu_schema();
        let model = reference_model();
        let err = sample(model, 1, Some("is_female=9"), 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "value '9' never occurs in column 'is_female' of the training data"
        );
        // death is placed late: its ancestors are too many to enumerate, so they are drawn by
        // rejection sampling.
        let fixed = model
            .model
            .as_ref()
            .unwrap()
            .fixed(&"death=1".parse().unwrap())
            .unwrap();
        assert!(matches!(
            model.model.as_ref().unwrap().plan(&fixed),
            Plan::Reject { .. }
        ));
        let out = sample(model, 1000, Some("death=1"), 6).unwrap();
        assert_valid(&schema, &out);
        assert!(texts(&out, "death").iter().all(|v| v == "1"));
        // A continuous value: exactly that value in every row.
        let out = sample(model, 300, Some("age=90"), 6).unwrap();
        assert!(texts(&out, "age").iter().all(|v| v == "90"));
        let err = sample(model, 1, Some("age=200"), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("never occurs in column 'age'"), "{err}");
    }

    #[test]
    fn parent_limits_are_respected() {
        let (table, schema) = function_table(2000);
        for max_parents in [0, 1, 3] {
            let config = BayesNetConfig {
                max_parents,
                ..Default::default()
            };
            let bn = fitted(&table, &schema, config, 0);
            let structure = bn.structure().unwrap();
            assert!(structure.iter().all(|(_, p)| p.len() <= max_parents));
            let out = sample(&bn, 500, None, 0).unwrap();
            assert_valid(&schema, &out);
            // y = f(x): with any parent allowed, the two are linked.
            let linked = structure.iter().any(|(child, parents)| {
                (child == "y" && parents.iter().any(|p| p == "x"))
                    || (child == "x" && parents.iter().any(|p| p == "y"))
            });
            assert_eq!(linked, max_parents > 0, "{structure:?}");
        }
    }

    #[test]
    fn conditioning_on_is_female_gives_only_women_and_plausible_rows() {
        let schema = eicu_schema();
        let out = sample(reference_model(), 4000, Some("is_female=1"), 5).unwrap();
        assert_valid(&schema, &out);
        assert!(texts(&out, "is_female").iter().all(|v| v == "1"));
        let women: Vec<usize> = (0..cohort().n_rows())
            .filter(|&i| cohort().column("is_female").unwrap().value(i).to_string() == "1")
            .collect();
        let real = cohort().take(&women);
        let kl = mean_kl(&real, &out, "is_female");
        assert!(kl < 0.08, "mean KL against the real women {kl}");
        let mean = |t: &Table, c: &str| {
            let v: Vec<f64> = t
                .column(c)
                .unwrap()
                .to_f64_vec()
                .into_iter()
                .flatten()
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        for column in ["age", "heartrate_first", "death"] {
            let (r, s) = (mean(&real, column), mean(&out, column));
            assert!(
                (r - s).abs() <= 0.05 * r.abs().max(0.2),
                "{column}: {s} vs {r}"
            );
        }
    }
}

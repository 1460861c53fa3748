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

use ehrsynth_table::{Progress, Schema, Table};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::generator::{Condition, GenError, Generator, SampleOptions};
use crate::order_gaps::OrderGaps;

// The model's parts, one file each: columns to bins and back, the greedy structure, and the
// fitted network with its sampling. This file keeps the settings, the `Generator` face and
// the random draws they share.
mod discretise;
mod model;
mod structure;

use discretise::*;
use model::*;
use structure::*;

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

#[cfg(test)]
mod tests;

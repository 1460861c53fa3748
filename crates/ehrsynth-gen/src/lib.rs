//! Generators of synthetic tables behind one [`Generator`] trait.
//!
//! - [`generator`]: the trait, sampling options, conditions, errors.
//! - [`copula`]: Gaussian copula with empirical marginals and missingness modelled jointly.
//! - [`bayesnet`]: a Bayesian network as in PrivBayes, optionally differentially private.
//! - [`cart`]: sequential CART (synthpop's method), one tree per column on the columns before it.
//! - [`strategies`]: the four LLM prompting strategies as a generator, over the request machinery of
//!   `ehrsynth-llm` (prompts, engine, providers, parsing).
//! - [`normal`]: the standard normal distribution.
//! - [`order_gaps`]: order rules kept by construction, ordered columns modelled as gaps.
//! - [`registry`]: the statistical generators, one entry each, read by the CLI, the study, the
//!   report and the quickstart.
//!
//! Every generated table has the schema's columns in its order and every row satisfies the
//! schema. Not here: LLM requests, prompts and answer parsing (`ehrsynth-llm`), reading files, the
//! audit (`ehrsynth-eval`).

pub mod bayesnet;
pub mod cart;
pub mod copula;
pub mod generator;
pub mod linalg;
pub mod normal;
pub mod order_gaps;
pub mod registry;
pub mod strategies;

pub use bayesnet::{BayesNet, BayesNetConfig};
pub use cart::{CartConfig, SequentialCart};
pub use copula::GaussianCopula;
pub use generator::{Condition, GenError, Generator, SampleOptions};

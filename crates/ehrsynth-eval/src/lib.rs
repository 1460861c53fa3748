//! The audit of a synthetic table against the real data it imitates: fidelity, utility (also
//! across hospitals), fairness across demographic groups, privacy (distances and
//! membership-inference attacks), and feature importance. docs/metrics.md defines every number.
//!
//! - [`audit`]: the whole audit in one call, returning a serialisable [`AuditReport`].
//! - [`fidelity`], [`detection`], [`utility`], [`fairness`], [`privacy`], [`importance`]: the sections.
//! - [`metrics`]: the headline metrics, one entry each (key, label, direction, range, reader).
//! - [`control`]: the real holdout scored as if it were the synthetic table, the ideal beside
//!   each headline figure.
//! - [`stats`]: the metric functions (KS, Wasserstein, AUROC, AUPRC, TVD, JS, KL, correlations,
//!   bootstrap), checked against scipy / scikit-learn / sdmetrics.
//! - [`model`]: the histogram GBDT (XGBoost-like) and logistic regression.
//! - [`encode`], [`neighbors`]: tables to matrices; exact blocked nearest neighbours.
//! - [`roles`]: the target, site and group columns a run names, checked (closest-name hints).
//! - [`target`]: the outcome read as two classes (0/1 or two labels, the positive one stated).
//! - [`html`]: a self-contained HTML rendering of one audit.
//!
//! Not here: reading files (ehrsynth-table), generating data (ehrsynth-gen), the study report.

pub mod audit;
pub mod control;
pub mod detection;
pub mod encode;
pub mod error;
pub mod fairness;
pub mod fidelity;
pub mod html;
pub mod importance;
pub mod metrics;
pub mod model;
pub mod neighbors;
pub mod privacy;
pub mod roles;
pub mod stats;
pub mod target;
pub mod utility;

pub use audit::{AuditConfig, AuditReport, audit};
pub use error::EvalError;
pub use importance::{ImportanceReport, importance};

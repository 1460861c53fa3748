//! Cohorts: the tables ehrsynth generates from and audits against.
//!
//! - [`features`]: the 83 columns of the eICU day-1 mortality table (82 predictors + `death`), with
//!   units, valid ranges, descriptions and roles, as a [`ehrsynth_table::Schema`].
//! - [`eicu`]: builds that table from eICU's own CSV(.gz) tables, streaming the big ones.
//! - [`reference`]: a simulated eICU-shaped table with a known risk model, the offline default
//!   used by the quickstart and most tests (eICU itself needs credentials).
//!
//! Not here: generic table I/O (ehrsynth-table), metrics, generators.

pub mod eicu;
pub mod error;
pub mod features;
pub mod reference;

pub use error::CohortError;

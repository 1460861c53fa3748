//! The study: the paper's experiment grid run from one TOML config, with a journal of finished
//! cells, a tidy results table, and a self-contained HTML report (plus a Markdown summary).
//!
//! - [`results`]: what a finished study holds; the runner writes it, the report reads it.
//! - [`report`]: the HTML report and the Markdown summary, rendered from [`results::StudyResults`].

pub mod report;
pub mod results;

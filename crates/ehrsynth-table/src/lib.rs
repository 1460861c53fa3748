//! Typed columnar tables with schemas: the data model every other ehrsynth crate works on.
//!
//! What lives here:
//! - [`Table`] and [`Column`]: columns of one [`ColumnKind`] each (continuous `f64`, integer `i64`,
//!   binary 0/1, dictionary-coded categorical strings), every cell possibly missing. Columns sit
//!   behind `Arc`, so selecting columns never copies data.
//! - [`Schema`] and [`ColumnSpec`]: kind, unit, valid range, categories, whether missing values are
//!   allowed, a description and a [`Role`] per column; inferred from data ([`Schema::infer`]) and
//!   read from / written to an editable TOML file.
//! - Cell parsing and the one missing-value rule ([`cell`]): which texts are missing in every
//!   column and which only in numeric ones.
//! - Notes on columns inference should tell about, constant or id-like ([`profile`]).
//! - Constraints across columns (one-hot sets, orders: [`constraint`]) in the schema, inferred
//!   with their evidence, checked with every row, counted, and repaired in generated rows.
//! - Row validation ([`Schema::validate_cells`], [`Schema::validate_table`]) that says, for every
//!   rejected row, which column failed and why.
//! - CSV (plain or `.csv.gz`) and Parquet reading and writing chosen by file extension ([`io`]);
//!   the CSV separator (comma, semicolon or tab) is sniffed from the header.
//! - Seeded splits: stratified train/holdout and hospital (site) hold-outs ([`split`]).
//! - Statistics helpers the audit and the generators share: ranks, numpy's linear quantile, the
//!   all-pairs Pearson matrix ([`stats`]).
//! - A tiny [`Progress`] trait so library code can report long work without depending on a UI crate.
//!
//! What does not live here: anything about eICU (see `ehrsynth-cohort`), metrics, or generators.

pub mod cell;
pub mod column;
pub mod constraint;
pub mod error;
pub mod io;
pub mod profile;
pub mod progress;
pub mod schema;
pub mod split;
pub mod stats;
pub mod table;
pub mod text;
pub mod validate;

pub use column::{Column, ColumnData, Validity, Value};
pub use constraint::Constraint;
pub use error::TableError;
pub use progress::{NoProgress, Progress};
pub use schema::{ColumnKind, ColumnSpec, Role, Schema};
pub use table::Table;
pub use validate::{CellRejection, RejectReason, RowRejection, ValidationReport};

/// Result type of this crate.
pub type Result<T, E = TableError> = std::result::Result<T, E>;

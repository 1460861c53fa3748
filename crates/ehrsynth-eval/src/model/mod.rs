//! Binary classifiers used to audit synthetic tables: a histogram gradient-boosted tree model
//! that follows XGBoost's defaults ([`gbdt`]), an L2-regularised logistic regression
//! ([`logistic`]), the shared [`ModelError`], and the input checks both models run.
//!
//! Both models take features as a row-major `f32` slice (`n_rows × n_cols`, `NaN` = missing)
//! and labels as `f32` in `{0, 1}`, and return the probability of class 1.

pub mod gbdt;
pub mod logistic;

#[cfg(test)]
mod tests;

pub use gbdt::{Gbdt, GbdtParams};
pub use logistic::{Logistic, LogisticParams};

/// Why a model could not be fitted or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// No rows or no feature columns.
    #[error("no data to fit: {n_rows} rows and {n_cols} feature columns")]
    Empty {
        /// Number of rows given.
        n_rows: usize,
        /// Number of feature columns given.
        n_cols: usize,
    },
    /// A slice does not have the length its shape implies.
    #[error("{what} has {got} values, expected {expected}")]
    LengthMismatch {
        /// Which input (`"x"` or `"y"`).
        what: &'static str,
        /// Length implied by `n_rows` and `n_cols`.
        expected: usize,
        /// Length of the slice.
        got: usize,
    },
    /// The shape is too large to index (`n_rows × n_cols` overflows, or over `u32::MAX` rows).
    #[error("the data is too large: {n_rows} rows × {n_cols} columns")]
    TooLarge {
        /// Number of rows given.
        n_rows: usize,
        /// Number of feature columns given.
        n_cols: usize,
    },
    /// A label is `NaN` or infinite.
    #[error("the label at row {row} is not finite ({value})")]
    NonFiniteLabel {
        /// Row of the first offending label.
        row: usize,
        /// The label.
        value: f32,
    },
    /// A finite label other than 0 or 1.
    #[error("the label at row {row} is {value}; labels must be 0 or 1")]
    InvalidLabel {
        /// Row of the first offending label.
        row: usize,
        /// The label.
        value: f32,
    },
    /// Every label is the same, so there is nothing to learn.
    #[error("the target has only one class ({rows} rows, all {class})")]
    SingleClass {
        /// Number of rows.
        rows: usize,
        /// The only class present (0 or 1).
        class: u8,
    },
    /// A hyper-parameter is out of its range.
    #[error("invalid parameter {name} = {value}: {rule}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// The allowed range.
        rule: &'static str,
    },
}

/// Checks the shape of `x` and `y` and that `y` holds both classes 0 and 1; returns the
/// number of positive labels.
pub(crate) fn check_training_data(
    x: &[f32],
    n_rows: usize,
    n_cols: usize,
    y: &[f32],
) -> Result<usize, ModelError> {
    if n_rows == 0 || n_cols == 0 {
        return Err(ModelError::Empty { n_rows, n_cols });
    }
    check_x(x, n_rows, n_cols)?;
    if y.len() != n_rows {
        return Err(ModelError::LengthMismatch {
            what: "y",
            expected: n_rows,
            got: y.len(),
        });
    }
    let mut positives = 0usize;
    for (row, &value) in y.iter().enumerate() {
        if !value.is_finite() {
            return Err(ModelError::NonFiniteLabel { row, value });
        }
        if value == 1.0 {
            positives += 1;
        } else if value != 0.0 {
            return Err(ModelError::InvalidLabel { row, value });
        }
    }
    if positives == 0 || positives == n_rows {
        return Err(ModelError::SingleClass {
            rows: n_rows,
            class: u8::from(positives == n_rows),
        });
    }
    Ok(positives)
}

/// Checks that `x` holds `n_rows × n_cols` values and that rows fit in a `u32`.
pub(crate) fn check_x(x: &[f32], n_rows: usize, n_cols: usize) -> Result<(), ModelError> {
    let expected = n_rows
        .checked_mul(n_cols)
        .filter(|_| u32::try_from(n_rows).is_ok() && u32::try_from(n_cols).is_ok())
        .ok_or(ModelError::TooLarge { n_rows, n_cols })?;
    if x.len() != expected {
        return Err(ModelError::LengthMismatch {
            what: "x",
            expected,
            got: x.len(),
        });
    }
    Ok(())
}

/// Returns an [`ModelError::InvalidParameter`] unless `ok`.
pub(crate) fn check_param(
    ok: bool,
    name: &'static str,
    value: impl std::fmt::Display,
    rule: &'static str,
) -> Result<(), ModelError> {
    if ok {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter {
            name,
            value: value.to_string(),
            rule,
        })
    }
}

/// The logistic function, stable for large `|z|`.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

//! Turning tables into dense `f32` matrices: one encoding for models (numbers as they are, NaN for
//! missing, categories one-hot) and one for distances (every column on a comparable scale).
//!
//! Both encoders are fitted on the real training table, so the real holdout and the synthetic
//! table are encoded the same way (categories unseen in training get no column of their own).

use std::collections::HashMap;

use ehrsynth_table::{Column, ColumnKind, Table, Value};

use crate::error::EvalError;

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Values, `n_rows * n_cols`, row-major.
    pub data: Vec<f32>,
    /// Rows.
    pub n_rows: usize,
    /// Columns.
    pub n_cols: usize,
}

impl Matrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// A matrix with the rows at `indices`.
    pub fn take(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.n_cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            data,
            n_rows: indices.len(),
            n_cols: self.n_cols,
        }
    }
}

/// How one source column becomes matrix columns.
#[derive(Debug, Clone)]
enum Encoding {
    /// A number (continuous, integer, binary): one column.
    Numeric { min: f64, max: f64 },
    /// A category: one column per category of the reference table.
    OneHot { categories: Vec<String> },
}

/// An encoder fitted on a reference (real training) table for a list of columns.
#[derive(Debug, Clone)]
pub struct Encoder {
    columns: Vec<(String, Encoding)>,
}

/// Categories kept per categorical column (the most frequent); rarer ones share no column.
const MAX_CATEGORIES: usize = 64;

fn column<'a>(table: &'a Table, name: &str) -> Result<&'a Column, EvalError> {
    table
        .column(name)
        .ok_or_else(|| EvalError::MissingColumn(name.to_string()))
}

impl Encoder {
    /// Fits the encoder on `reference` for `names`.
    pub fn fit(reference: &Table, names: &[String]) -> Result<Self, EvalError> {
        let columns = names
            .iter()
            .map(|name| {
                let c = column(reference, name)?;
                let encoding = if c.kind() == ColumnKind::Categorical {
                    Encoding::OneHot {
                        categories: frequent_categories(c),
                    }
                } else {
                    let (min, max) = c.numeric_range().unwrap_or((0.0, 0.0));
                    Encoding::Numeric { min, max }
                };
                Ok((name.clone(), encoding))
            })
            .collect::<Result<Vec<_>, EvalError>>()?;
        Ok(Self { columns })
    }

    /// Names of the matrix columns (`col` or `col=category`).
    pub fn output_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(|(name, enc)| match enc {
                Encoding::Numeric { .. } => vec![name.clone()],
                Encoding::OneHot { categories } => {
                    categories.iter().map(|c| format!("{name}={c}")).collect()
                }
            })
            .collect()
    }

    /// For each matrix column, the index of the source column it came from.
    pub fn source_of_outputs(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .flat_map(|(i, (_, enc))| match enc {
                Encoding::Numeric { .. } => vec![i],
                Encoding::OneHot { categories } => vec![i; categories.len()],
            })
            .collect()
    }

    /// The model encoding of `table`: numbers as they are, NaN where missing; categories one-hot
    /// (all NaN when the cell is missing, all 0 for a category unseen in the reference).
    pub fn model_matrix(&self, table: &Table) -> Result<Matrix, EvalError> {
        self.encode(table, |enc, value, out| match (enc, value) {
            (Encoding::Numeric { .. }, v) => out.push(v.as_f64().map_or(f32::NAN, |x| x as f32)),
            (Encoding::OneHot { categories }, Value::Missing) => {
                out.extend(categories.iter().map(|_| f32::NAN))
            }
            (Encoding::OneHot { categories }, v) => {
                let text = v.to_string();
                out.extend(
                    categories
                        .iter()
                        .map(|c| if *c == text { 1.0 } else { 0.0 }),
                );
            }
        })
    }

    /// The distance encoding of `table` (docs/metrics.md, "Distance between records"): numbers
    /// scaled to [0, 1] by the reference range (clipped), a missing number at -1; categories
    /// one-hot scaled by 1/sqrt(2) so that two different categories are 1 apart, a missing
    /// category all zero (0.71 from any category, 0 from another missing one).
    pub fn distance_matrix(&self, table: &Table) -> Result<Matrix, EvalError> {
        let half = std::f32::consts::FRAC_1_SQRT_2;
        self.encode(table, |enc, value, out| match enc {
            Encoding::Numeric { min, max } => out.push(match value.as_f64() {
                None => -1.0,
                Some(x) if max > min => ((x - min) / (max - min)).clamp(0.0, 1.0) as f32,
                Some(_) => 0.0,
            }),
            Encoding::OneHot { categories } => {
                let text = value.to_string();
                let missing = value.is_missing();
                out.extend(
                    categories
                        .iter()
                        .map(|c| if !missing && *c == text { half } else { 0.0 }),
                );
            }
        })
    }

    fn encode(
        &self,
        table: &Table,
        mut put: impl FnMut(&Encoding, Value<'_>, &mut Vec<f32>),
    ) -> Result<Matrix, EvalError> {
        let sources = self
            .columns
            .iter()
            .map(|(name, _)| column(table, name))
            .collect::<Result<Vec<_>, _>>()?;
        let n_cols = self.output_names().len();
        let mut data = Vec::with_capacity(table.n_rows() * n_cols);
        for row in 0..table.n_rows() {
            for ((_, enc), source) in self.columns.iter().zip(&sources) {
                put(enc, source.value(row), &mut data);
            }
        }
        Ok(Matrix {
            data,
            n_rows: table.n_rows(),
            n_cols,
        })
    }
}

/// The most frequent categories of a column, most frequent first (ties by name).
fn frequent_categories(column: &Column) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..column.len() {
        if !column.is_missing(i) {
            *counts.entry(column.value(i).to_string()).or_insert(0) += 1;
        }
    }
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted
        .into_iter()
        .take(MAX_CATEGORIES)
        .map(|(c, _)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_the_reference_table() {
        let reference = Table::new(vec![
            Column::continuous("x", &[Some(0.0), Some(10.0), None]),
            Column::categorical("unit", &[Some("a"), Some("b"), Some("a")]),
        ])
        .unwrap();
        let other = Table::new(vec![
            Column::continuous("x", &[Some(5.0), None, Some(20.0)]),
            Column::categorical("unit", &[Some("b"), None, Some("zzz")]),
        ])
        .unwrap();
        let enc = Encoder::fit(&reference, &["x".into(), "unit".into()]).unwrap();
        assert_eq!(enc.output_names(), vec!["x", "unit=a", "unit=b"]);
        let m = enc.model_matrix(&other).unwrap();
        assert_eq!(m.row(0), &[5.0, 0.0, 1.0]);
        assert!(m.row(1).iter().all(|v| v.is_nan()));
        assert_eq!(m.row(2), &[20.0, 0.0, 0.0]);
        let d = enc.distance_matrix(&other).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(d.row(0), &[0.5, 0.0, h]);
        assert_eq!(d.row(1), &[-1.0, 0.0, 0.0]);
        assert_eq!(d.row(2), &[1.0, 0.0, 0.0]);
        assert!(Encoder::fit(&reference, &["nope".into()]).is_err());
    }
}

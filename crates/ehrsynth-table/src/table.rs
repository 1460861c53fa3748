//! [`Table`]: an ordered set of equally long, named columns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::column::{Column, Value};
use crate::error::{TableError, short_list};

/// A columnar table. Columns are shared behind `Arc`, so [`Table::select`] and clones are cheap.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<Arc<Column>>,
    index: HashMap<String, usize>,
    n_rows: usize,
}

impl Table {
    /// Builds a table; every column must have the same length and a distinct name.
    pub fn new(columns: Vec<Column>) -> crate::Result<Self> {
        Self::from_shared(columns.into_iter().map(Arc::new).collect())
    }

    /// Builds a table from shared columns.
    pub fn from_shared(columns: Vec<Arc<Column>>) -> crate::Result<Self> {
        let n_rows = columns.first().map_or(0, |c| c.len());
        let mut index = HashMap::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            if column.len() != n_rows {
                return Err(TableError::Invalid(format!(
                    "column '{}' has {} rows but '{}' has {n_rows}",
                    column.name(),
                    column.len(),
                    columns[0].name()
                )));
            }
            if index.insert(column.name().to_string(), i).is_some() {
                return Err(TableError::Invalid(format!(
                    "column '{}' appears twice",
                    column.name()
                )));
            }
        }
        Ok(Self {
            columns,
            index,
            n_rows,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name()).collect()
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Arc<Column>] {
        &self.columns
    }

    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.index.get(name).map(|&i| self.columns[i].as_ref())
    }

    /// The column called `name`, or an error listing the columns that exist.
    pub fn require(&self, name: &str) -> crate::Result<&Column> {
        self.column(name).ok_or_else(|| TableError::UnknownColumn {
            column: name.to_string(),
            found: short_list(self.column_names()),
        })
    }

    /// A table with only the named columns, in the given order, sharing their data.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> crate::Result<Self> {
        let columns = names
            .iter()
            .map(|n| {
                let name = n.as_ref();
                self.index
                    .get(name)
                    .map(|&i| Arc::clone(&self.columns[i]))
                    .ok_or_else(|| TableError::UnknownColumn {
                        column: name.to_string(),
                        found: short_list(self.column_names()),
                    })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Self::from_shared(columns)
    }

    /// A table with the rows at `indices`, in that order (copies the data).
    pub fn take(&self, indices: &[usize]) -> Self {
        let columns: Vec<Arc<Column>> = self
            .columns
            .iter()
            .map(|c| Arc::new(c.take(indices)))
            .collect();
        Self {
            columns,
            index: self.index.clone(),
            n_rows: indices.len(),
        }
    }

    /// The cells of row `i`, in column order.
    pub fn row(&self, i: usize) -> Vec<Value<'_>> {
        self.columns.iter().map(|c| c.value(i)).collect()
    }

    /// Appends a column (its length must match).
    pub fn push_column(&mut self, column: Column) -> crate::Result<()> {
        let mut columns = std::mem::take(&mut self.columns);
        columns.push(Arc::new(column));
        *self = Self::from_shared(columns)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_shares_columns_and_rejects_unknown_names() {
        let t = Table::new(vec![
            Column::integer("a", &[Some(1), Some(2)]),
            Column::continuous("b", &[Some(0.5), None]),
        ])
        .unwrap();
        let s = t.select(&["b"]).unwrap();
        assert_eq!(s.column_names(), vec!["b"]);
        assert!(Arc::ptr_eq(&s.columns()[0], &t.columns()[1]));
        let err = t.select(&["zzz"]).unwrap_err().to_string();
        assert!(err.contains("zzz") && err.contains("a, b"), "{err}");
    }

    #[test]
    fn mismatched_lengths_and_duplicate_names_are_errors() {
        let err = Table::new(vec![
            Column::integer("a", &[Some(1)]),
            Column::integer("b", &[Some(1), Some(2)]),
        ]);
        assert!(err.is_err());
        let dup = Table::new(vec![Column::integer("a", &[]), Column::integer("a", &[])]);
        assert!(dup.is_err());
    }
}

//! Discretisation: every modelled column as a few bins (quantile bins, one per value, per
//! category, and a missing bin), and the way back from bins to values.

use std::collections::HashMap;

use ehrsynth_table::cell::{parse_binary, parse_integer, parse_number};
use ehrsynth_table::{Column, ColumnData, ColumnKind, ColumnSpec, Role};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::*;

/// How a discretised column maps back to values.
#[derive(Debug, Clone)]
pub(super) enum Domain {
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
pub(super) struct Attr {
    pub(super) spec: ColumnSpec,
    pub(super) domain: Domain,
    /// Bins holding values; the missing bin, if any, comes after them.
    pub(super) value_bins: usize,
    pub(super) has_missing: bool,
    /// Training rows per bin (missing bin included).
    pub(super) counts: Vec<usize>,
}

impl Attr {
    pub(super) fn n_bins(&self) -> usize {
        self.value_bins + usize::from(self.has_missing)
    }

    /// The bin and exact value of a condition on this column.
    pub(super) fn condition_bin(&self, text: &str) -> Result<(usize, Option<f64>), GenError> {
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
    pub(super) fn draw_value(&self, bin: usize, private: bool, rng: &mut ChaCha8Rng) -> f64 {
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
    pub(super) fn clip(&self, x: f64) -> f64 {
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
pub(super) fn discretise(
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

//! Order rules kept by construction. The schema's `order` chains form a graph (a ≤ b for each
//! neighbouring pair). A column with nothing below it (`heartrate_min`) keeps its value; every
//! other ordered column (`heartrate_first`, then `heartrate_max`) becomes its gap above the
//! largest of the columns directly below it, never negative, and is rebuilt after sampling, in
//! topological order, as that largest value plus the gap. So every rule holds in every row, and
//! the clip to the schema's range and the rounding that follow are monotone, so they keep it.
//!
//! A column with nothing above it whose real values touch the schema's maximum often (at least
//! [`CEILING_SHARE`] of them: SpO₂ at 100%) measures its gap as a share of the room left below
//! that maximum, (value − base) / (max − base) in [0, 1], so the ceiling stays a ceiling instead
//! of a pile-up of clipped sums. (A loose maximum, a heart rate's 300, keeps the plain gap; so do
//! columns with others above them. Shares tie the gap to the base, and on the reference cohort
//! coding first and last values as shares of their [min, max] interval raised the copula's
//! detection AUROC from 0.71 to 0.84; docs/generators.md.)
//!
//! A generator fits its model on [`OrderGaps::encode`]'s table and passes its sampled table
//! through [`OrderGaps::decode`]. A column is coded only where the training data allow it without
//! changing what the gap means: every training row with the column present has the columns
//! below it (true of a vital's min/first/last/max, which a panel keeps together), and the rules
//! have no cycle. A column that fails this keeps its value, and the generic repair
//! ([`ehrsynth_table::constraint::repair`]) keeps its rules. A sampled row that lacks the columns
//! below a coded one (a panel broken by the generator, which the repair then blanks) uses the
//! training median of their largest value as its base.
//!
//! Not here: one-hot sets and panels (the repair), how a generator samples.

use std::collections::{BTreeMap, BTreeSet};

use ehrsynth_table::{Column, ColumnKind, Constraint, Schema, Table};

use crate::generator::{GenError, SampleOptions, fit_to_spec, within_constraints};

/// A top column's maximum is a ceiling when at least this share of its training values sit on it.
pub const CEILING_SHARE: f64 = 0.01;

/// How a coded column is measured from the columns below it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Code {
    /// The gap above the largest of them.
    Gap,
    /// The share of the room between the largest of them and this ceiling.
    ShareBelowCeiling(f64),
}

/// One column coded as its gap above the columns directly below it.
#[derive(Debug, Clone, PartialEq)]
struct CodedColumn {
    /// Index of the column in the schema.
    column: usize,
    code: Code,
    /// Schema indices of the columns directly below it (rebuilt before it).
    lower: Vec<usize>,
    /// Training median of the largest lower value, for a sampled row that lacks them all.
    fallback_base: f64,
}

impl CodedColumn {
    /// The code of `value` above `base`.
    fn encode(&self, value: f64, base: f64) -> f64 {
        match self.code {
            Code::Gap => (value - base).max(0.0),
            Code::ShareBelowCeiling(top) if top > base => {
                ((value - base) / (top - base)).clamp(0.0, 1.0)
            }
            // No room left: the value sits at the ceiling.
            Code::ShareBelowCeiling(_) => 1.0,
        }
    }

    /// The value coded by `code` above `base` (the inverse of [`Self::encode`]).
    fn decode(&self, code: f64, base: f64) -> f64 {
        match self.code {
            Code::Gap => base + code.max(0.0),
            Code::ShareBelowCeiling(top) => base + code.clamp(0.0, 1.0) * (top - base).max(0.0),
        }
    }
}

/// What a generator fits on: the coding, the schema with coded columns in place
/// ([`OrderGaps::encoded_schema`]) and the training rows coded.
#[derive(Debug, Clone)]
pub struct CodedTraining {
    /// Which columns are coded.
    pub gaps: OrderGaps,
    /// The schema the model describes.
    pub schema: Schema,
    /// The training rows, coded, with the schema's columns.
    pub train: Table,
}

/// Which ordered columns a generator models by their place among others, in rebuild order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderGaps {
    coded: Vec<CodedColumn>,
}

/// The order graph of a schema: direct neighbours by column index.
struct OrderGraph {
    below: BTreeMap<usize, Vec<usize>>,
    above: BTreeMap<usize, Vec<usize>>,
    /// Ordered columns, each after every column below it.
    order: Vec<usize>,
}

impl OrderGaps {
    /// The coded columns for `schema`'s order rules that `train` supports (see the module docs).
    pub fn plan(schema: &Schema, train: &Table) -> Self {
        let Some(graph) = OrderGraph::of(schema) else {
            return Self::default();
        };
        let mut numbers: BTreeMap<usize, Vec<Option<f64>>> = BTreeMap::new();
        for &c in &graph.order {
            if let Some(column) = train.column(&schema.columns()[c].name) {
                numbers.insert(c, column.to_f64_vec());
            }
        }
        // Columns that keep their value: bottoms, and any column the data cannot code.
        let mut kept: BTreeSet<usize> = graph
            .order
            .iter()
            .copied()
            .filter(|c| graph.below.get(c).is_none_or(Vec::is_empty) || !numbers.contains_key(c))
            .collect();
        loop {
            let coded = graph.candidates(schema, &kept, &numbers);
            let unsupported: Vec<usize> = coded
                .iter()
                .filter(|c| c.fallback_base.is_nan())
                .map(|c| c.column)
                .collect();
            if unsupported.is_empty() {
                return Self { coded };
            }
            kept.extend(unsupported);
        }
    }

    /// The coding of `train` for `schema` (none when `enabled` is false, e.g. with differential
    /// privacy, where choosing it would read the data outside the budget).
    pub fn code_training(
        schema: &Schema,
        train: &Table,
        enabled: bool,
    ) -> Result<CodedTraining, GenError> {
        let train = train.select(&schema.names())?;
        let gaps = if enabled {
            Self::plan(schema, &train)
        } else {
            Self::default()
        };
        Ok(CodedTraining {
            schema: gaps.encoded_schema(schema),
            train: gaps.encode(schema, &train)?,
            gaps,
        })
    }

    /// A generator's sampled rows in the coded form back to values within every constraint of
    /// `schema`: decoded ([`Self::decode`]), then the bounded repair for what the coding does not
    /// cover ([`within_constraints`]); with the number of rows the repair changed.
    pub fn finish(
        &self,
        schema: &Schema,
        sampled: &Table,
        options: &SampleOptions,
    ) -> Result<(Table, usize), GenError> {
        Ok(within_constraints(
            schema,
            self.decode(schema, sampled)?,
            options,
        ))
    }

    /// True when no column is coded.
    pub fn is_empty(&self) -> bool {
        self.coded.is_empty()
    }

    /// How many columns are coded.
    pub fn len(&self) -> usize {
        self.coded.len()
    }

    /// An error for a condition on a coded column, whose fitted values are gaps, not values.
    pub fn check_condition(&self, schema: &Schema, column: &str) -> Result<(), GenError> {
        let coded = self
            .coded
            .iter()
            .any(|c| schema.columns()[c.column].name == column);
        if coded {
            return Err(GenError::ConditionOnGap(column.to_string()));
        }
        Ok(())
    }

    /// The schema a generator fits on: a coded column keeps its name; a gap starts at 0, has no
    /// upper bound and keeps the column's kind; a share of the room is continuous in [0, 1]. No
    /// constraint is carried (the decoded table is repaired against the original schema).
    pub fn encoded_schema(&self, schema: &Schema) -> Schema {
        let mut encoded = schema.clone();
        for coded in &self.coded {
            let spec = &mut encoded.columns[coded.column];
            spec.min = Some(0.0);
            if coded.code == Code::Gap {
                spec.max = None;
            } else {
                spec.max = Some(1.0);
                spec.kind = ColumnKind::Continuous;
            }
        }
        encoded.constraints.clear();
        encoded.constraint_notes.clear();
        encoded
    }

    /// `table` (with `schema`'s columns) with each coded column replaced by its code.
    pub fn encode(&self, schema: &Schema, table: &Table) -> ehrsynth_table::Result<Table> {
        if self.is_empty() {
            return Ok(table.clone());
        }
        let original = self.numeric_columns(schema, table)?;
        let mut codes = original.clone();
        for coded in &self.coded {
            let bases = row_bases(&original, coded);
            let column = codes.get_mut(&coded.column).expect("coded column read");
            for (cell, base) in column.iter_mut().zip(bases) {
                if let (Some(v), Some(base)) = (*cell, base) {
                    *cell = Some(coded.encode(v, base));
                }
            }
        }
        rebuilt(&self.encoded_schema(schema), table, &codes)
    }

    /// A sampled table in the encoded form back to values, each clipped to the schema's range
    /// and rounded as its kind needs.
    pub fn decode(&self, schema: &Schema, table: &Table) -> ehrsynth_table::Result<Table> {
        if self.is_empty() {
            return Ok(table.clone());
        }
        let mut values = self.numeric_columns(schema, table)?;
        for coded in &self.coded {
            let spec = &schema.columns()[coded.column];
            let bases = row_bases(&values, coded);
            let column = values.get_mut(&coded.column).expect("coded column read");
            for (cell, base) in column.iter_mut().zip(bases) {
                if let Some(code) = *cell {
                    let base = base.unwrap_or(coded.fallback_base);
                    *cell = Some(fit_to_spec(spec, coded.decode(code, base)));
                }
            }
        }
        rebuilt(schema, table, &values)
    }

    /// The values of every coded column and its bounds, by schema index.
    fn numeric_columns(
        &self,
        schema: &Schema,
        table: &Table,
    ) -> ehrsynth_table::Result<BTreeMap<usize, Vec<Option<f64>>>> {
        let mut values = BTreeMap::new();
        for coded in &self.coded {
            for &i in std::iter::once(&coded.column).chain(&coded.lower) {
                if let std::collections::btree_map::Entry::Vacant(slot) = values.entry(i) {
                    slot.insert(table.require(&schema.columns()[i].name)?.to_f64_vec());
                }
            }
        }
        Ok(values)
    }
}

impl OrderGraph {
    /// The graph of `schema`'s order rules; `None` when they form a cycle.
    fn of(schema: &Schema) -> Option<Self> {
        let index = |name: &str| schema.columns().iter().position(|c| c.name == name);
        let mut below: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut above: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut nodes = BTreeSet::new();
        for constraint in &schema.constraints {
            let Constraint::Order { columns } = constraint else {
                continue;
            };
            for pair in columns.windows(2) {
                let (Some(low), Some(high)) = (index(&pair[0]), index(&pair[1])) else {
                    continue;
                };
                nodes.extend([low, high]);
                let down = below.entry(high).or_default();
                if !down.contains(&low) {
                    down.push(low);
                    above.entry(low).or_default().push(high);
                }
            }
        }
        let order = topological(&nodes, &below)?;
        Some(Self {
            below,
            above,
            order,
        })
    }

    /// The coded columns, in topological order, when the columns in `kept` keep their values.
    /// A column the data cannot support gets a NaN fallback base.
    fn candidates(
        &self,
        schema: &Schema,
        kept: &BTreeSet<usize>,
        numbers: &BTreeMap<usize, Vec<Option<f64>>>,
    ) -> Vec<CodedColumn> {
        let is_top = |c: usize| self.above.get(&c).is_none_or(Vec::is_empty);
        self.order
            .iter()
            .filter(|c| !kept.contains(c))
            .map(|&c| {
                let ceiling = is_top(c)
                    .then(|| ceiling(schema.columns()[c].max, &numbers[&c]))
                    .flatten();
                let lower = self.below[&c].clone();
                CodedColumn {
                    column: c,
                    code: ceiling.map_or(Code::Gap, Code::ShareBelowCeiling),
                    fallback_base: supported_fallback(c, &lower, numbers),
                    lower,
                }
            })
            .collect()
    }
}

/// Ordered column indices, each after every column below it (Kahn's algorithm, smallest index
/// first for a stable result); `None` when the rules form a cycle.
fn topological(nodes: &BTreeSet<usize>, below: &BTreeMap<usize, Vec<usize>>) -> Option<Vec<usize>> {
    let mut waiting: BTreeMap<usize, usize> = nodes
        .iter()
        .map(|&c| (c, below.get(&c).map_or(0, Vec::len)))
        .collect();
    let mut ready: BTreeSet<usize> = nodes.iter().copied().filter(|c| waiting[c] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(c) = ready.pop_first() {
        order.push(c);
        for (&high, lows) in below {
            if lows.contains(&c) {
                let left = waiting.get_mut(&high).expect("node counted");
                *left -= 1;
                if *left == 0 {
                    ready.insert(high);
                }
            }
        }
    }
    (order.len() == nodes.len()).then_some(order)
}

/// The schema's maximum when at least [`CEILING_SHARE`] of the present values sit on it.
fn ceiling(max: Option<f64>, values: &[Option<f64>]) -> Option<f64> {
    let top = max.filter(|m| m.is_finite())?;
    let present = values.iter().flatten().count();
    let on_top = values.iter().flatten().filter(|&&v| v >= top).count();
    (present > 0 && on_top as f64 >= CEILING_SHARE * present as f64).then_some(top)
}

/// The training median of the largest value below column `c`, or NaN when some training row
/// has `c` present without all the columns below it (the gap would change meaning there).
fn supported_fallback(
    c: usize,
    lower: &[usize],
    numbers: &BTreeMap<usize, Vec<Option<f64>>>,
) -> f64 {
    let Some(own) = numbers.get(&c) else {
        return f64::NAN;
    };
    let mut bases = Vec::new();
    for (row, value) in own.iter().enumerate() {
        if value.is_none() {
            continue;
        }
        let below: Option<Vec<f64>> = lower.iter().map(|i| numbers.get(i)?[row]).collect();
        let Some(below) = below else {
            return f64::NAN;
        };
        bases.push(below.into_iter().fold(f64::NEG_INFINITY, f64::max));
    }
    if bases.is_empty() {
        return f64::NAN;
    }
    bases.sort_by(f64::total_cmp);
    bases[bases.len() / 2]
}

/// Per row, the largest present value among the columns below `coded` (`None`: all missing).
fn row_bases(values: &BTreeMap<usize, Vec<Option<f64>>>, coded: &CodedColumn) -> Vec<Option<f64>> {
    let rows = values[&coded.column].len();
    (0..rows)
        .map(|row| {
            coded
                .lower
                .iter()
                .filter_map(|i| values[i][row])
                .reduce(f64::max)
        })
        .collect()
}

/// `table` with the columns in `values` replaced, each stored as `schema` says.
fn rebuilt(
    schema: &Schema,
    table: &Table,
    values: &BTreeMap<usize, Vec<Option<f64>>>,
) -> ehrsynth_table::Result<Table> {
    let mut columns: Vec<Column> = table.columns().iter().map(|c| (**c).clone()).collect();
    for (&i, column_values) in values {
        let name = &schema.columns()[i].name;
        if let Some(position) = columns.iter().position(|c| c.name() == name) {
            columns[position] = with_values(name, schema.columns()[i].kind, column_values);
        }
    }
    Table::new(columns)
}

fn with_values(name: &str, kind: ColumnKind, values: &[Option<f64>]) -> Column {
    match kind {
        ColumnKind::Integer => {
            let ints: Vec<Option<i64>> =
                values.iter().map(|v| v.map(|x| x.round() as i64)).collect();
            Column::integer(name, &ints)
        }
        _ => Column::continuous(name, values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrsynth_table::ColumnSpec;

    /// Heart rate min <= first, last <= max; every column but the max has a ceiling of 300.
    fn vital_schema() -> Schema {
        let spec = |name: &str, max: Option<f64>| ColumnSpec {
            min: Some(0.0),
            max,
            ..ColumnSpec::new(name, ColumnKind::Integer)
        };
        let ceiling = Some(300.0);
        let mut schema = Schema::new(vec![
            spec("hr_max", None),
            spec("hr_first", ceiling),
            spec("hr_min", ceiling),
            spec("hr_last", ceiling),
        ])
        .unwrap();
        schema.constraints = vec![
            Constraint::Order {
                columns: vec!["hr_min".into(), "hr_first".into(), "hr_max".into()],
            },
            Constraint::Order {
                columns: vec!["hr_min".into(), "hr_last".into(), "hr_max".into()],
            },
        ];
        schema
    }

    /// A table of rows (max, first, min, last), each column built by `column`.
    fn vital_table(rows: &[[Option<f64>; 4]], column: fn(&str, &[Option<f64>]) -> Column) -> Table {
        let names = ["hr_max", "hr_first", "hr_min", "hr_last"];
        let columns = names.iter().enumerate().map(|(k, name)| {
            let values: Vec<Option<f64>> = rows.iter().map(|r| r[k]).collect();
            column(name, &values)
        });
        Table::new(columns.collect()).unwrap()
    }

    /// Integer vitals, as training rows hold them.
    fn vitals(rows: &[[Option<f64>; 4]]) -> Table {
        vital_table(rows, |name, values| {
            let ints: Vec<Option<i64>> = values.iter().map(|v| v.map(|x| x as i64)).collect();
            Column::integer(name, &ints)
        })
    }

    /// The same shape in the encoded form (shares are fractions, so continuous).
    fn encoded_vitals(rows: &[[f64; 4]]) -> Table {
        let rows: Vec<[Option<f64>; 4]> = rows.iter().map(|r| r.map(Some)).collect();
        vital_table(&rows, |name, values| Column::continuous(name, values))
    }

    #[test]
    fn gaps_round_trip_and_any_sampled_gaps_keep_every_order() {
        let schema = vital_schema();
        let train = vitals(&[
            [Some(120.0), Some(90.0), Some(70.0), Some(100.0)],
            [Some(300.0), Some(80.0), Some(60.0), Some(300.0)],
            [None, None, None, None],
        ]);
        let gaps = OrderGaps::plan(&schema, &train);
        // hr_min keeps its value; hr_first and hr_last sit above it, hr_max above both.
        assert_eq!(gaps.len(), 3);
        let encoded = gaps.encode(&schema, &train).unwrap();
        let column = |name: &str| encoded.column(name).unwrap().to_f64_vec();
        assert_eq!(column("hr_max"), vec![Some(20.0), Some(0.0), None]);
        assert_eq!(column("hr_first"), vec![Some(20.0), Some(20.0), None]);
        // hr_last touches 300, but has hr_max above it: a plain gap.
        assert_eq!(column("hr_last"), vec![Some(30.0), Some(240.0), None]);
        assert_eq!(column("hr_min"), vec![Some(70.0), Some(60.0), None]);
        let encoded_schema = gaps.encoded_schema(&schema);
        assert_eq!(encoded_schema.column("hr_last").unwrap().max, None);
        assert_eq!(encoded_schema.column("hr_last").unwrap().min, Some(0.0));
        let decoded = gaps.decode(&schema, &encoded).unwrap();
        for name in schema.names() {
            assert_eq!(decoded.column(name), train.column(name), "{name}");
        }

        // Gaps a generator might sample, including one that passes the schema's maximum.
        let sampled = encoded_vitals(&[[250.0, 150.0, 200.0, 5.0], [3.0, 40.0, 10.0, 2.0]]);
        let decoded = gaps.decode(&schema, &sampled).unwrap();
        let counts = ehrsynth_table::constraint::violations(&schema, &decoded);
        assert!(counts.iter().all(|c| c.broken == 0), "{counts:?}");
        let value = |name: &str, row: usize| decoded.column(name).unwrap().get_f64(row);
        assert_eq!(value("hr_first", 0), Some(300.0));
        assert_eq!(value("hr_last", 0), Some(205.0));
        assert_eq!(value("hr_max", 0), Some(550.0));
        assert_eq!(value("hr_first", 1), Some(50.0));
        assert_eq!(value("hr_last", 1), Some(12.0));
        assert_eq!(value("hr_max", 1), Some(53.0));
    }

    #[test]
    fn a_top_column_that_often_sits_on_its_maximum_is_a_share_of_the_room_below_it() {
        let mut schema = vital_schema();
        schema.column_mut("hr_max").unwrap().max = Some(300.0);
        let train = vitals(&[
            [Some(120.0), Some(90.0), Some(70.0), Some(100.0)],
            [Some(300.0), Some(80.0), Some(60.0), Some(300.0)],
        ]);
        let gaps = OrderGaps::plan(&schema, &train);
        let encoded = gaps.encode(&schema, &train).unwrap();
        let max = encoded.column("hr_max").unwrap().to_f64_vec();
        // Above max(first, last) = 100 the room is 200; row 2 has none left.
        assert_eq!(max, vec![Some(0.1), Some(1.0)]);
        assert_eq!(
            gaps.encoded_schema(&schema).column("hr_max").unwrap().max,
            Some(1.0)
        );
        let sampled = encoded_vitals(&[[0.5, 5.0, 280.0, 0.0], [1.5, 0.0, 10.0, 0.0]]);
        let decoded = gaps.decode(&schema, &sampled).unwrap();
        let max = decoded.column("hr_max").unwrap().to_f64_vec();
        assert_eq!(max, vec![Some(293.0), Some(300.0)]);
    }

    #[test]
    fn a_column_the_data_cannot_code_keeps_its_value_and_others_are_measured_from_it() {
        let schema = vital_schema();
        let train = vitals(&[
            [Some(120.0), Some(90.0), Some(70.0), Some(100.0)],
            [Some(80.0), Some(80.0), None, Some(61.0)],
        ]);
        let gaps = OrderGaps::plan(&schema, &train);
        // hr_first and hr_last lack hr_min in row 2, so they keep their values; hr_max becomes
        // its gap above the larger of first and last.
        assert_eq!(gaps.len(), 1);
        let encoded = gaps.encode(&schema, &train).unwrap();
        let max = encoded.column("hr_max").unwrap().to_f64_vec();
        assert_eq!(max, vec![Some(20.0), Some(0.0)]);
        let first = encoded.column("hr_first").unwrap().to_f64_vec();
        assert_eq!(first, vec![Some(90.0), Some(80.0)]);
        let encoded_schema = gaps.encoded_schema(&schema);
        assert_eq!(encoded_schema.column("hr_first").unwrap().max, Some(300.0));
        assert_eq!(
            encoded_schema.column("hr_first").unwrap().kind,
            ColumnKind::Integer
        );
    }

    #[test]
    fn a_cycle_of_rules_turns_the_coding_off() {
        let mut schema = vital_schema();
        schema.constraints.push(Constraint::Order {
            columns: vec!["hr_max".into(), "hr_min".into()],
        });
        let train = vitals(&[[Some(1.0), Some(1.0), Some(1.0), Some(1.0)]]);
        assert!(OrderGaps::plan(&schema, &train).is_empty());
    }
}

//! The fitted network: nodes with their conditional tables, ancestral sampling, conditions
//! (exact posterior of the ancestors or bounded rejection), and the tables' construction with
//! or without Laplace noise.

use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Progress, Role, Schema, Table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::*;

/// What a schema column becomes in the output.
#[derive(Debug, Clone)]
pub(super) enum Output {
    /// An id column: 1..=rows of this kind.
    Id(ColumnKind),
    /// A modelled attribute.
    Attr(usize),
}

/// One attribute with its parents and conditional table.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) attr: usize,
    pub(super) parents: Vec<usize>,
    pub(super) parent_bins: Vec<usize>,
    pub(super) n_bins: usize,
    /// p(x | π) at `config(π) * n_bins + x`; every row sums to 1.
    pub(super) probs: Vec<f64>,
}

impl Node {
    pub(super) fn config(&self, bins: &[usize]) -> usize {
        self.parents
            .iter()
            .zip(&self.parent_bins)
            .fold(0, |acc, (&p, &b)| acc * b + bins[p])
    }

    pub(super) fn row(&self, bins: &[usize]) -> &[f64] {
        let c = self.config(bins);
        &self.probs[c * self.n_bins..(c + 1) * self.n_bins]
    }
}

/// The fitted model.
#[derive(Debug, Clone)]
pub(super) struct Model {
    /// The schema the tables describe: ordered columns as gaps (see [`crate::order_gaps`]).
    pub(super) schema: Schema,
    /// The schema as given, constraints included: what generated tables must satisfy.
    pub(super) constrained: Schema,
    /// Ordered columns modelled as gaps (none with differential privacy: choosing them reads the
    /// data outside the budget).
    pub(super) gaps: OrderGaps,
    pub(super) outputs: Vec<Output>,
    pub(super) attrs: Vec<Attr>,
    /// Nodes in ancestral order.
    pub(super) nodes: Vec<Node>,
    /// Index in `nodes` of each attribute.
    pub(super) node_of: Vec<usize>,
    pub(super) private: bool,
}

impl Model {
    pub(super) fn fit(
        train: &Table,
        schema: &Schema,
        config: &BayesNetConfig,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self, GenError> {
        if let Some(e) = config.epsilon
            && !(e.is_finite() && e > 0.0)
        {
            return Err(GenError::Invalid(format!(
                "the privacy budget epsilon must be a positive number, got {e}"
            )));
        }
        if config.bins == 0 {
            return Err(GenError::Invalid(
                "bins must be at least 1 (got 0)".to_string(),
            ));
        }
        let n = train.n_rows();
        if n == 0 {
            return Err(GenError::Invalid(
                "the bayesnet generator needs at least one training row".to_string(),
            ));
        }
        let constrained = schema.clone();
        let coded = OrderGaps::code_training(schema, train, config.epsilon.is_none())?;
        let (gaps, schema, train) = (coded.gaps, &coded.schema, &coded.train);
        let mut outputs = Vec::with_capacity(schema.columns().len());
        let mut attrs = Vec::new();
        let mut codes = Vec::new();
        for spec in schema.columns() {
            if spec.role == Role::Id {
                if spec.kind == ColumnKind::Binary {
                    return Err(GenError::Invalid(format!(
                        "id column '{}' is binary; ids are generated as 1, 2, 3, ... and need an integer, continuous or categorical column",
                        spec.name
                    )));
                }
                outputs.push(Output::Id(spec.kind));
                continue;
            }
            let column = train.require(&spec.name)?;
            let column = column.cast(spec.kind).map_err(|(row, text)| {
                GenError::Invalid(format!(
                    "training column '{}' row {row}: '{text}' is not a {} value",
                    spec.name,
                    spec.kind.as_str()
                ))
            })?;
            let (attr, c) = discretise(spec, &column, config.bins)?;
            outputs.push(Output::Attr(attrs.len()));
            attrs.push(attr);
            codes.push(c);
        }
        let d = attrs.len();
        let nbins: Vec<usize> = attrs.iter().map(Attr::n_bins).collect();
        let data = Data {
            codes: &codes,
            nbins: &nbins,
            n,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let private = config.epsilon.is_some();
        let (eps_structure, eps_tables) = match config.epsilon {
            Some(e) => (Some(e / 2.0), Some(e / 2.0)),
            None => (None, None),
        };

        progress.start(
            "bayesnet: learning the network structure",
            Some(d as u64),
            "attributes",
        );
        let order = if d == 0 {
            Vec::new()
        } else {
            let prefix: Vec<bool> = attrs
                .iter()
                .map(|a| matches!(a.spec.role, Role::Group | Role::Site))
                .collect();
            let site = attrs.iter().position(|a| a.spec.role == Role::Site);
            let groups: Vec<usize> = (0..d).filter(|&a| prefix[a]).collect();
            let first = match site {
                Some(s) => s,
                None if !groups.is_empty() => groups[rng.random_range(0..groups.len())],
                None => rng.random_range(0..d),
            };
            learn_structure(
                &data,
                first,
                &prefix,
                config.max_parents,
                eps_structure,
                &mut rng,
                progress,
            )
        };
        progress.finish(&format!("bayesnet: structure of {d} attributes learned"));

        progress.start("bayesnet: conditional tables", Some(d as u64), "attributes");
        let nodes: Vec<Node> = order
            .par_iter()
            .enumerate()
            .map(|(i, (attr, parents))| {
                let mut node_rng = ChaCha8Rng::seed_from_u64(seed);
                node_rng.set_stream(i as u64 + 1);
                let noise = eps_tables.map(|e| 2.0 * d as f64 / e);
                let node =
                    conditional_table(&data, &attrs[*attr], *attr, parents, noise, &mut node_rng);
                progress.advance(1);
                node
            })
            .collect();
        progress.finish(&format!("bayesnet: {d} conditional tables"));

        let mut node_of = vec![0; d];
        for (i, node) in nodes.iter().enumerate() {
            node_of[node.attr] = i;
        }
        Ok(Self {
            schema: schema.clone(),
            constrained,
            gaps,
            outputs,
            attrs,
            nodes,
            node_of,
            private,
        })
    }

    pub(super) fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn Progress,
    ) -> Result<Table, GenError> {
        let fixed = match &options.condition {
            Some(c) => Some(self.fixed(c)?),
            None => None,
        };
        let plan = match &fixed {
            Some(f) => self.plan(f),
            None => Plan::Free,
        };
        let rows = options.rows;
        progress.start("bayesnet: sampling", Some(rows as u64), "rows");
        let chunks: Vec<(usize, usize)> = (0..rows.div_ceil(CHUNK_ROWS))
            .map(|c| (c, CHUNK_ROWS.min(rows - c * CHUNK_ROWS)))
            .collect();
        let sampled: Vec<Vec<Vec<f64>>> = chunks
            .par_iter()
            .map(|&(chunk, len)| {
                let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
                rng.set_stream(chunk as u64);
                let out = self.sample_chunk(len, fixed.as_ref(), &plan, &mut rng);
                progress.advance(len as u64);
                out
            })
            .collect::<Result<_, _>>()?;
        let columns = self
            .schema
            .columns()
            .iter()
            .zip(&self.outputs)
            .map(|(spec, output)| self.output_column(spec, output, &sampled, rows))
            .collect();
        let (table, repaired) =
            self.gaps
                .finish(&self.constrained, &Table::new(columns)?, options)?;
        progress.finish(&format!(
            "bayesnet: {rows} rows generated{}",
            crate::generator::repaired_note(repaired)
        ));
        Ok(table)
    }

    /// Resolves a condition to an attribute, bin and value.
    pub(super) fn fixed(&self, condition: &Condition) -> Result<Fixed, GenError> {
        self.gaps
            .check_condition(&self.constrained, &condition.column)?;
        let position = self
            .schema
            .columns()
            .iter()
            .position(|c| c.name == condition.column)
            .ok_or_else(|| {
                GenError::Invalid(format!(
                    "cannot condition on column '{}': the schema has no such column",
                    condition.column
                ))
            })?;
        let attr = match self.outputs[position] {
            Output::Attr(a) => a,
            Output::Id(_) => {
                return Err(GenError::Invalid(format!(
                    "cannot condition on id column '{}': ids are generated as 1, 2, 3, ...",
                    condition.column
                )));
            }
        };
        let (bin, value) = self.attrs[attr].condition_bin(&condition.value)?;
        Ok(Fixed { attr, bin, value })
    }

    /// How the ancestors of a conditioned attribute are drawn.
    pub(super) fn plan(&self, fixed: &Fixed) -> Plan {
        let node = &self.nodes[self.node_of[fixed.attr]];
        // Ancestors: closure of the parents, in ancestral order.
        let mut is_ancestor = vec![false; self.attrs.len()];
        let mut stack = node.parents.clone();
        while let Some(a) = stack.pop() {
            if !is_ancestor[a] {
                is_ancestor[a] = true;
                stack.extend(&self.nodes[self.node_of[a]].parents);
            }
        }
        let mut ancestors: Vec<usize> = (0..self.attrs.len()).filter(|&a| is_ancestor[a]).collect();
        ancestors.sort_by_key(|&a| self.node_of[a]);
        let mut preset = is_ancestor;
        preset[fixed.attr] = true;
        if ancestors.is_empty() {
            return Plan::Enumerate {
                ancestors,
                cumulative: vec![1.0],
                preset,
            };
        }
        let total = ancestors
            .iter()
            .try_fold(1usize, |acc, &a| acc.checked_mul(self.attrs[a].n_bins()))
            .filter(|&t| t <= MAX_ENUMERATION);
        match total {
            Some(total) => {
                let mut bins = vec![0usize; self.attrs.len()];
                bins[fixed.attr] = fixed.bin;
                let weights = |with_condition: bool, bins: &mut [usize]| -> Vec<f64> {
                    let mut cumulative = Vec::with_capacity(total);
                    let mut acc = 0.0;
                    for idx in 0..total {
                        self.decode(&ancestors, idx, bins);
                        let mut w: f64 = ancestors
                            .iter()
                            .map(|&a| {
                                let n = &self.nodes[self.node_of[a]];
                                n.row(bins)[bins[a]]
                            })
                            .product();
                        if with_condition {
                            w *= node.row(bins)[fixed.bin];
                        }
                        acc += w;
                        cumulative.push(acc);
                    }
                    cumulative
                };
                let mut cumulative = weights(true, &mut bins);
                if !(cumulative[total - 1] > 0.0 && cumulative[total - 1].is_finite()) {
                    cumulative = weights(false, &mut bins);
                }
                Plan::Enumerate {
                    ancestors,
                    cumulative,
                    preset,
                }
            }
            None => {
                let best = node
                    .probs
                    .chunks(node.n_bins)
                    .map(|row| row[fixed.bin])
                    .fold(0.0, f64::max);
                Plan::Reject {
                    ancestors,
                    best,
                    preset,
                }
            }
        }
    }

    /// Writes configuration `idx` of `ancestors` (mixed radix) into `bins`.
    pub(super) fn decode(&self, ancestors: &[usize], mut idx: usize, bins: &mut [usize]) {
        for &a in ancestors.iter().rev() {
            let nb = self.attrs[a].n_bins();
            bins[a] = idx % nb;
            idx /= nb;
        }
    }

    /// Samples `len` rows: one vector of values per attribute (see [`Attr::draw_value`]).
    pub(super) fn sample_chunk(
        &self,
        len: usize,
        fixed: Option<&Fixed>,
        plan: &Plan,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Vec<f64>>, GenError> {
        let d = self.attrs.len();
        let mut out: Vec<Vec<f64>> = (0..d).map(|_| Vec::with_capacity(len)).collect();
        let mut bins = vec![0usize; d];
        let no_preset = vec![false; d];
        let preset = match plan {
            Plan::Free => &no_preset,
            Plan::Enumerate { preset, .. } | Plan::Reject { preset, .. } => preset,
        };
        for _ in 0..len {
            if let Some(f) = fixed {
                bins[f.attr] = f.bin;
                match plan {
                    Plan::Free => {}
                    Plan::Enumerate {
                        ancestors,
                        cumulative,
                        ..
                    } => {
                        let total = cumulative[cumulative.len() - 1];
                        let u = rng.random::<f64>() * total;
                        let idx = cumulative
                            .partition_point(|&c| c <= u)
                            .min(cumulative.len() - 1);
                        self.decode(ancestors, idx, &mut bins);
                    }
                    Plan::Reject {
                        ancestors, best, ..
                    } => {
                        let node = &self.nodes[self.node_of[f.attr]];
                        let mut tries = 0;
                        loop {
                            for &a in ancestors {
                                let n = &self.nodes[self.node_of[a]];
                                bins[a] = draw(n.row(&bins), rng);
                            }
                            let p = node.row(&bins)[f.bin];
                            // Without any mass anywhere (noisy tables) accept the first draw.
                            if *best <= 0.0 || rng.random::<f64>() * best < p {
                                break;
                            }
                            tries += 1;
                            if tries >= MAX_REJECTION_TRIES {
                                return Err(GenError::Invalid(format!(
                                    "the condition on column '{}' is too rare under the fitted network: no row accepted in {MAX_REJECTION_TRIES} tries",
                                    self.attrs[f.attr].spec.name
                                )));
                            }
                        }
                    }
                }
            }
            for node in &self.nodes {
                if !preset[node.attr] {
                    bins[node.attr] = draw(node.row(&bins), rng);
                }
            }
            for (a, attr) in self.attrs.iter().enumerate() {
                let value = match fixed {
                    Some(f) if f.attr == a && f.value.is_some() => f.value.unwrap_or(f64::NAN),
                    _ => attr.draw_value(bins[a], self.private, rng),
                };
                out[a].push(value);
            }
        }
        Ok(out)
    }

    /// Assembles one output column from the sampled chunks.
    pub(super) fn output_column(
        &self,
        spec: &ColumnSpec,
        output: &Output,
        sampled: &[Vec<Vec<f64>>],
        rows: usize,
    ) -> Column {
        let name = spec.name.as_str();
        let attr = match output {
            Output::Id(kind) => {
                return match kind {
                    ColumnKind::Continuous => {
                        let v: Vec<Option<f64>> = (1..=rows).map(|i| Some(i as f64)).collect();
                        Column::continuous(name, &v)
                    }
                    ColumnKind::Categorical => {
                        let v: Vec<Option<String>> =
                            (1..=rows).map(|i| Some(format!("syn-{i}"))).collect();
                        Column::categorical(name, &v)
                    }
                    _ => {
                        let v: Vec<Option<i64>> = (1..=rows).map(|i| Some(i as i64)).collect();
                        Column::integer(name, &v)
                    }
                };
            }
            Output::Attr(a) => &self.attrs[*a],
        };
        let idx = match output {
            Output::Attr(a) => *a,
            Output::Id(_) => unreachable!("handled above"),
        };
        let values = sampled.iter().flat_map(|chunk| chunk[idx].iter().copied());
        let present = |x: f64| (!x.is_nan()).then_some(x);
        match &attr.domain {
            Domain::Binary => {
                let v: Vec<Option<bool>> = values.map(|x| present(x).map(|x| x == 1.0)).collect();
                Column::binary(name, &v)
            }
            Domain::Categorical { labels } => {
                let v: Vec<Option<&str>> = values
                    .map(|x| present(x).map(|x| labels[x as usize].as_str()))
                    .collect();
                Column::categorical(name, &v)
            }
            Domain::Numeric { .. } if spec.kind == ColumnKind::Integer => {
                let v: Vec<Option<i64>> = values.map(|x| present(x).map(|x| x as i64)).collect();
                Column::integer(name, &v)
            }
            Domain::Numeric { .. } => {
                let v: Vec<Option<f64>> = values.map(present).collect();
                Column::continuous(name, &v)
            }
        }
    }
}

/// A condition resolved against the model.
#[derive(Debug, Clone)]
pub(super) struct Fixed {
    pub(super) attr: usize,
    pub(super) bin: usize,
    /// The exact numeric value (continuous and integer columns).
    pub(super) value: Option<f64>,
}

/// How a conditioned row's ancestors are drawn.
pub(super) enum Plan {
    /// No condition.
    Free,
    /// Exact posterior over every ancestor configuration (cumulative weights, mixed radix).
    Enumerate {
        ancestors: Vec<usize>,
        cumulative: Vec<f64>,
        /// Attributes set before the ancestral pass (the ancestors and the conditioned one).
        preset: Vec<bool>,
    },
    /// Rejection sampling of the ancestors, accepting with p(bin | π) / best.
    Reject {
        ancestors: Vec<usize>,
        best: f64,
        preset: Vec<bool>,
    },
}

/// Builds the conditional table of `attr` given `parents` (noise = Laplace scale on counts).
pub(super) fn conditional_table(
    data: &Data<'_>,
    attr: &Attr,
    index: usize,
    parents: &[usize],
    noise: Option<f64>,
    rng: &mut ChaCha8Rng,
) -> Node {
    let bx = attr.n_bins();
    let counts: Vec<f64> = data
        .joint_counts(index, parents)
        .into_iter()
        .map(f64::from)
        .collect();
    let configs = counts.len() / bx;
    let forbid_missing = attr.has_missing && !attr.spec.missing_allowed;
    let normalise = |row: &mut [f64]| -> bool {
        if forbid_missing {
            row[bx - 1] = 0.0;
        }
        let total: f64 = row.iter().sum();
        if total > 0.0 && total.is_finite() {
            row.iter_mut().for_each(|p| *p /= total);
            true
        } else {
            false
        }
    };
    // Fallback when a row has no mass: the child's (noisy) marginal, else uniform over the allowed bins.
    let fallback = |counts: &[f64]| -> Vec<f64> {
        let mut marginal = vec![0.0; bx];
        for (i, c) in counts.iter().enumerate() {
            marginal[i % bx] += c;
        }
        if !normalise(&mut marginal) {
            marginal = vec![1.0; bx];
            normalise(&mut marginal);
        }
        marginal
    };
    let probs = match noise {
        None => {
            let marginal = fallback(&counts);
            let mut probs = counts;
            for row in probs.chunks_mut(bx) {
                let total: f64 = row.iter().sum();
                for (p, m) in row.iter_mut().zip(&marginal) {
                    *p = (*p + SMOOTHING * m) / (total + SMOOTHING);
                }
                if !normalise(row) {
                    row.copy_from_slice(&marginal);
                }
            }
            probs
        }
        Some(scale) => {
            let noisy: Vec<f64> = counts
                .iter()
                .map(|&c| (c + laplace(rng, scale)).max(0.0))
                .collect();
            let marginal = fallback(&noisy);
            let mut probs = noisy;
            for row in probs.chunks_mut(bx) {
                if !normalise(row) {
                    row.copy_from_slice(&marginal);
                }
            }
            probs
        }
    };
    debug_assert_eq!(probs.len(), configs * bx);
    Node {
        attr: index,
        parents: parents.to_vec(),
        parent_bins: parents.iter().map(|&p| data.nbins[p]).collect(),
        n_bins: bx,
        probs,
    }
}

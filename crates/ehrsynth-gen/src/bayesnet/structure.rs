//! Greedy structure learning as in PrivBayes: each step adds the (attribute, parents) pair with
//! the highest mutual information, or one chosen by the exponential mechanism under privacy.

use ehrsynth_table::Progress;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::*;

/// The discretised training data.
pub(super) struct Data<'a> {
    pub(super) codes: &'a [Vec<u32>],
    pub(super) nbins: &'a [usize],
    pub(super) n: usize,
}

impl Data<'_> {
    pub(super) fn cells(&self, child: usize, parents: &[usize]) -> usize {
        parents.iter().fold(self.nbins[child], |acc, &p| {
            acc.saturating_mul(self.nbins[p])
        })
    }

    /// Joint counts at `config(parents) * bins(child) + child`.
    pub(super) fn joint_counts(&self, child: usize, parents: &[usize]) -> Vec<u32> {
        let bx = self.nbins[child];
        let mut counts = vec![0u32; self.cells(child, parents)];
        let cx = &self.codes[child];
        match parents {
            [] => {
                for &x in cx {
                    counts[x as usize] += 1;
                }
            }
            [a] => {
                for (&x, &p) in cx.iter().zip(&self.codes[*a]) {
                    counts[p as usize * bx + x as usize] += 1;
                }
            }
            [a, b] => {
                let bb = self.nbins[*b];
                let (ca, cb) = (&self.codes[*a], &self.codes[*b]);
                for ((&x, &p), &q) in cx.iter().zip(ca).zip(cb) {
                    counts[(p as usize * bb + q as usize) * bx + x as usize] += 1;
                }
            }
            _ => {
                for (r, &x) in cx.iter().enumerate() {
                    let config = parents.iter().fold(0usize, |acc, &p| {
                        acc * self.nbins[p] + self.codes[p][r] as usize
                    });
                    counts[config * bx + x as usize] += 1;
                }
            }
        }
        counts
    }

    /// I(child; parents) in bits on the training rows.
    pub(super) fn mutual_information(&self, child: usize, parents: &[usize]) -> f64 {
        if parents.is_empty() || self.n == 0 {
            return 0.0;
        }
        let bx = self.nbins[child];
        let counts = self.joint_counts(child, parents);
        let mut px = vec![0u64; bx];
        let mut pp = vec![0u64; counts.len() / bx];
        for (i, &c) in counts.iter().enumerate() {
            px[i % bx] += u64::from(c);
            pp[i / bx] += u64::from(c);
        }
        let n = self.n as f64;
        let mut mi = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                let c = f64::from(c);
                mi += c * (c * n / (px[i % bx] as f64 * pp[i / bx] as f64)).log2();
            }
        }
        (mi / n).max(0.0)
    }
}

/// An attribute not yet placed, with its candidate parent sets.
pub(super) struct Pending {
    pub(super) attr: usize,
    /// I(attr; Z) for every placed Z.
    pub(super) singles: Vec<(f64, usize)>,
    /// Candidate parent sets with their I(attr; Π); the empty set first.
    pub(super) pool: Vec<(Vec<usize>, f64)>,
}

/// All `r`-subsets of `items`, in lexicographic order.
pub(super) fn combinations(items: &[usize], r: usize) -> Vec<Vec<usize>> {
    if r == 0 {
        return vec![Vec::new()];
    }
    if items.len() < r {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        for mut rest in combinations(&items[i + 1..], r - 1) {
            rest.insert(0, first);
            out.push(rest);
        }
    }
    out
}

/// `count` distinct random elements of `items` (partial Fisher–Yates).
pub(super) fn random_subset(items: &[usize], count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut items = items.to_vec();
    let count = count.min(items.len());
    for i in 0..count {
        let j = rng.random_range(i..items.len());
        items.swap(i, j);
    }
    items.truncate(count);
    items
}

/// Greedy structure learning (see the module documentation); returns (attribute, parents) in
/// ancestral order.
pub(super) fn learn_structure(
    data: &Data<'_>,
    first: usize,
    prefix: &[bool],
    max_parents: usize,
    structure_epsilon: Option<f64>,
    rng: &mut ChaCha8Rng,
    progress: &dyn Progress,
) -> Vec<(usize, Vec<usize>)> {
    let d = data.nbins.len();
    let mut order = vec![(first, Vec::new())];
    let mut placed = vec![first];
    progress.advance(1);
    let mut pending: Vec<Pending> = (0..d)
        .filter(|&a| a != first)
        .map(|attr| Pending {
            attr,
            singles: Vec::new(),
            pool: vec![(Vec::new(), 0.0)],
        })
        .collect();
    // The exponential mechanism's exponent per bit of MI: ε₁/(d-1) / (2Δ).
    let dp_factor = structure_epsilon
        .map(|e| e / (d.saturating_sub(1).max(1) as f64) / (2.0 * mi_sensitivity(data.n)));
    while !pending.is_empty() {
        let z = placed[placed.len() - 1];
        if max_parents > 0 {
            if dp_factor.is_some() {
                // Data-independent candidates: {Z} ∪ S for random S among the placed attributes.
                let others: Vec<usize> = placed[..placed.len() - 1].to_vec();
                let size = (max_parents - 1).min(others.len());
                let proposals: Vec<Vec<Vec<usize>>> = pending
                    .iter()
                    .map(|p| {
                        let all = combinations(&others, size);
                        let sets: Vec<Vec<usize>> = if all.len() <= TOP_PARENTS {
                            all
                        } else {
                            let mut sets: Vec<Vec<usize>> = (0..TOP_PARENTS)
                                .map(|_| {
                                    let mut s = random_subset(&others, size, rng);
                                    s.sort_unstable();
                                    s
                                })
                                .collect();
                            sets.sort();
                            sets.dedup();
                            sets
                        };
                        sets.into_iter()
                            .map(|mut s| {
                                s.push(z);
                                s
                            })
                            .filter(|s| data.cells(p.attr, s) <= MAX_TABLE_CELLS)
                            .collect()
                    })
                    .collect();
                pending.par_iter_mut().zip(proposals).for_each(|(p, sets)| {
                    for s in sets {
                        let mi = data.mutual_information(p.attr, &s);
                        p.pool.push((s, mi));
                    }
                });
            } else {
                pending.par_iter_mut().for_each(|p| {
                    let mi = data.mutual_information(p.attr, &[z]);
                    p.singles.push((mi, z));
                    p.singles
                        .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    let top: Vec<usize> = p.singles.iter().take(TOP_PARENTS).map(|s| s.1).collect();
                    if !top.contains(&z) {
                        return;
                    }
                    let others: Vec<usize> = top.into_iter().filter(|&a| a != z).collect();
                    let size = (max_parents - 1).min(others.len());
                    for mut s in combinations(&others, size) {
                        s.push(z);
                        if data.cells(p.attr, &s) <= MAX_TABLE_CELLS {
                            let mi = if s.len() == 1 {
                                mi
                            } else {
                                data.mutual_information(p.attr, &s)
                            };
                            p.pool.push((s, mi));
                        }
                    }
                });
            }
        }
        // Group and site columns first.
        let any_prefix = pending.iter().any(|p| prefix[p.attr]);
        let eligible: Vec<usize> = (0..pending.len())
            .filter(|&i| !any_prefix || prefix[pending[i].attr])
            .collect();
        let (pi, ci) = match dp_factor {
            None => {
                let mut best = (eligible[0], 0, f64::NEG_INFINITY);
                for &i in &eligible {
                    for (j, (_, mi)) in pending[i].pool.iter().enumerate() {
                        // Ties (within rounding) keep the smaller, earlier parent set.
                        if *mi > best.2 + 1e-12 {
                            best = (i, j, *mi);
                        }
                    }
                }
                (best.0, best.1)
            }
            Some(factor) => {
                let candidates: Vec<(usize, usize, f64)> = eligible
                    .iter()
                    .flat_map(|&i| {
                        pending[i]
                            .pool
                            .iter()
                            .enumerate()
                            .map(move |(j, (_, mi))| (i, j, *mi))
                    })
                    .collect();
                let top = candidates
                    .iter()
                    .map(|c| c.2)
                    .fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = candidates
                    .iter()
                    .map(|c| ((c.2 - top) * factor).exp())
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut u = rng.random::<f64>() * total;
                let mut chosen = candidates[candidates.len() - 1];
                for (c, w) in candidates.iter().zip(&weights) {
                    if u < *w {
                        chosen = *c;
                        break;
                    }
                    u -= w;
                }
                (chosen.0, chosen.1)
            }
        };
        let p = pending.remove(pi);
        let mut parents = p.pool[ci].0.clone();
        parents.sort_unstable();
        order.push((p.attr, parents));
        placed.push(p.attr);
        progress.advance(1);
    }
    order
}

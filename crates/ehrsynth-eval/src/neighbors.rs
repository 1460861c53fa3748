//! Exact nearest neighbours under Euclidean distance, by blocks: squared distances come from
//! `|q|² + |r|² − 2 q·r` with the dot products of a query block against a reference block
//! computed by one matrix multiply (matrixmultiply's sgemm), blocks spread over threads with
//! rayon. No approximation and no subsampling; the final distances of the neighbours found are
//! recomputed directly, so an exact copy has distance 0.

use rayon::prelude::*;

use crate::encode::Matrix;

const QUERY_BLOCK: usize = 256;
const REFERENCE_BLOCK: usize = 2048;

/// The k nearest reference rows of each query row, closest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Neighbours kept per row.
    pub k: usize,
    /// Distances, `k` per row (infinite when fewer than `k` references exist).
    pub distance: Vec<f32>,
    /// Reference indices, `k` per row (`u32::MAX` when absent).
    pub index: Vec<u32>,
}

impl Neighbours {
    fn empty(rows: usize, k: usize) -> Self {
        Self {
            k,
            distance: vec![f32::INFINITY; rows * k],
            index: vec![u32::MAX; rows * k],
        }
    }

    /// The neighbour lists of the rows at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Neighbours {
        let k = self.k;
        let mut out = Neighbours::empty(rows.len(), k);
        for (dest, &src) in rows.iter().enumerate() {
            out.distance[dest * k..(dest + 1) * k]
                .copy_from_slice(&self.distance[src * k..(src + 1) * k]);
            out.index[dest * k..(dest + 1) * k]
                .copy_from_slice(&self.index[src * k..(src + 1) * k]);
        }
        out
    }

    /// The distance of row `i`'s `j`-th nearest neighbour (0-based).
    pub fn distance(&self, i: usize, j: usize) -> f32 {
        self.distance[i * self.k + j]
    }

    /// Distances to the nearest neighbour, one per row.
    pub fn nearest(&self) -> Vec<f32> {
        (0..self.distance.len() / self.k.max(1))
            .map(|i| self.distance(i, 0))
            .collect()
    }

    /// The current k-th smallest distance of row `i` (infinite until k candidates were seen).
    #[inline]
    fn worst(&self, i: usize) -> f32 {
        self.distance[i * self.k + self.k - 1]
    }

    /// Inserts a candidate into row `i`'s sorted list.
    fn offer(&mut self, i: usize, d: f32, idx: u32) {
        let base = i * self.k;
        let slots = &mut self.distance[base..base + self.k];
        if d >= slots[self.k - 1] {
            return;
        }
        let mut pos = self.k - 1;
        while pos > 0 && slots[pos - 1] > d {
            pos -= 1;
        }
        let ids = &mut self.index[base..base + self.k];
        for p in (pos + 1..self.k).rev() {
            slots[p] = slots[p - 1];
            ids[p] = ids[p - 1];
        }
        slots[pos] = d;
        ids[pos] = idx;
    }

    fn merge(mut self, other: Neighbours) -> Self {
        for i in 0..self.distance.len() / self.k {
            for j in 0..self.k {
                let d = other.distance[i * self.k + j];
                if d.is_finite() {
                    self.offer(i, d, other.index[i * self.k + j]);
                }
            }
        }
        self
    }
}

fn squared_norms(m: &Matrix) -> Vec<f32> {
    (0..m.n_rows)
        .map(|i| m.row(i).iter().map(|v| v * v).sum())
        .collect()
}

/// `c = a_block · b_blockᵀ` for row-major blocks with `d` columns.
fn dot_block(a: &[f32], b: &[f32], d: usize, c: &mut [f32]) {
    let m = a.len() / d;
    let n = b.len() / d;
    debug_assert!(c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: a is m×d row-major (row stride d), b is n×d row-major read as its transpose d×n
    // (row stride 1, column stride d), c has room for m×n row-major; the slices outlive the call.
    unsafe {
        matrixmultiply::sgemm(
            m,
            d,
            n,
            1.0,
            a.as_ptr(),
            d as isize,
            1,
            b.as_ptr(),
            1,
            d as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn exact_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// For each row of `queries` its `k` nearest rows of `reference`, and (when `both`) for each row
/// of `reference` its `k` nearest rows of `queries`. `skip[i]` names a reference row that query
/// `i` must not match (itself, for leave-one-out), or `u32::MAX`.
fn search(
    queries: &Matrix,
    reference: &Matrix,
    k: usize,
    skip: Option<&[u32]>,
    both: bool,
) -> (Neighbours, Neighbours) {
    assert_eq!(
        queries.n_cols, reference.n_cols,
        "matrices must share their columns"
    );
    let d = queries.n_cols.max(1);
    let k = k.max(1);
    let qn = squared_norms(queries);
    let rn = squared_norms(reference);
    let blocks: Vec<usize> = (0..queries.n_rows).step_by(QUERY_BLOCK).collect();
    let identity = || {
        (
            Neighbours::empty(queries.n_rows, k),
            Neighbours::empty(if both { reference.n_rows } else { 0 }, k),
        )
    };
    let (mut forward, mut backward) = blocks
        .par_iter()
        .fold(identity, |(mut fwd, mut bwd), &q0| {
            let q1 = (q0 + QUERY_BLOCK).min(queries.n_rows);
            let qa = &queries.data[q0 * d..q1 * d];
            let mut c = vec![0f32; (q1 - q0) * REFERENCE_BLOCK];
            for r0 in (0..reference.n_rows).step_by(REFERENCE_BLOCK) {
                let r1 = (r0 + REFERENCE_BLOCK).min(reference.n_rows);
                let width = r1 - r0;
                dot_block(qa, &reference.data[r0 * d..r1 * d], d, &mut c);
                for qi in q0..q1 {
                    let row = &c[(qi - q0) * width..(qi - q0 + 1) * width];
                    let excluded = skip.map_or(u32::MAX, |s| s[qi]);
                    let norms = &rn[r0..r1];
                    // Most candidates lose against the current k-th best: test before inserting.
                    let mut worst = fwd.worst(qi);
                    for (j, (&dot, &norm)) in row.iter().zip(norms).enumerate() {
                        let d2 = (qn[qi] + norm - 2.0 * dot).max(0.0);
                        let ri = r0 + j;
                        if d2 < worst && ri as u32 != excluded {
                            fwd.offer(qi, d2, ri as u32);
                            worst = fwd.worst(qi);
                        }
                        if both && d2 < bwd.worst(ri) {
                            bwd.offer(ri, d2, qi as u32);
                        }
                    }
                }
            }
            (fwd, bwd)
        })
        .reduce(identity, |(f1, b1), (f2, b2)| (f1.merge(f2), b1.merge(b2)));
    refine(&mut forward, queries, reference);
    if both {
        refine(&mut backward, reference, queries);
    }
    (forward, backward)
}

/// Replaces the squared distances from the dot-product expansion by exact distances.
fn refine(found: &mut Neighbours, rows: &Matrix, others: &Matrix) {
    let k = found.k;
    found
        .distance
        .par_chunks_mut(k)
        .zip(found.index.par_chunks(k))
        .enumerate()
        .for_each(|(i, (dist, idx))| {
            for (dj, &ij) in dist.iter_mut().zip(idx) {
                if ij != u32::MAX {
                    *dj = exact_distance(rows.row(i), others.row(ij as usize));
                }
            }
        });
    // Exact distances may reorder near-ties.
    for i in 0..found.distance.len() / k.max(1) {
        let base = i * k;
        let mut pairs: Vec<(f32, u32)> = (0..k)
            .map(|j| (found.distance[base + j], found.index[base + j]))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (j, (dv, iv)) in pairs.into_iter().enumerate() {
            found.distance[base + j] = dv;
            found.index[base + j] = iv;
        }
    }
}

/// For each row of `queries`, its `k` nearest rows of `reference`.
pub fn nearest(queries: &Matrix, reference: &Matrix, k: usize) -> Neighbours {
    search(queries, reference, k, None, false).0
}

/// Like [`nearest`], but query `i` never matches reference row `skip[i]` (leave-one-out when the
/// queries are rows of the reference).
pub fn nearest_excluding(
    queries: &Matrix,
    reference: &Matrix,
    k: usize,
    skip: &[u32],
) -> Neighbours {
    search(queries, reference, k, Some(skip), false).0
}

/// Both directions from one pass over the distance matrix: `a`'s neighbours in `b`, and `b`'s in `a`.
pub fn nearest_both(a: &Matrix, b: &Matrix, k: usize) -> (Neighbours, Neighbours) {
    search(a, b, k, None, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Matrix {
            data: (0..rows * cols).map(|_| rng.random::<f32>()).collect(),
            n_rows: rows,
            n_cols: cols,
        }
    }

    fn brute(q: &Matrix, r: &Matrix, i: usize, skip: Option<usize>) -> Vec<(f32, usize)> {
        let mut all: Vec<(f32, usize)> = (0..r.n_rows)
            .filter(|&j| Some(j) != skip)
            .map(|j| (exact_distance(q.row(i), r.row(j)), j))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    }

    #[test]
    fn blocked_search_matches_brute_force() {
        let q = random(300, 7, 1);
        let r = random(2500, 7, 2);
        let (fwd, bwd) = nearest_both(&q, &r, 3);
        for i in [0, 17, 299] {
            let truth = brute(&q, &r, i, None);
            for (j, (distance, index)) in truth.iter().take(3).enumerate() {
                assert_eq!(fwd.index[i * 3 + j] as usize, *index);
                assert!((fwd.distance(i, j) - distance).abs() < 1e-5);
            }
        }
        for i in [0, 1234, 2499] {
            let truth = brute(&r, &q, i, None);
            assert_eq!(bwd.index[i * 3] as usize, truth[0].1);
        }
    }

    #[test]
    fn copies_are_at_distance_zero_and_self_can_be_skipped() {
        let r = random(500, 5, 3);
        let copy = r.take(&[10, 20]);
        let found = nearest(&copy, &r, 2);
        assert_eq!(found.distance(0, 0), 0.0);
        assert_eq!(found.index[0], 10);
        let loo = nearest_excluding(&copy, &r, 1, &[10, 20]);
        assert_eq!(loo.distance(0, 0), brute(&copy, &r, 0, Some(10))[0].0);
        assert_ne!(loo.index[0], 10);
    }
}

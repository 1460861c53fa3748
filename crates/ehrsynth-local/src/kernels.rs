//! The numeric kernels of the in-process transformer ([`crate::transformer`]): weights and
//! activations in 8-bit blocks (llama.cpp's Q8_0 layout: 32 values and one scale), a matrix
//! product that multiplies one weight matrix with a whole batch of activation rows (tiles of
//! four weight rows by four activation rows, so each block is loaded once for sixteen
//! products), and the f32 helpers of attention.
//!
//! Determinism: every output element is computed by the same sequence of operations whatever
//! the batch size, the thread count or the position of the element in its tile (the 4-row and
//! 1-row kernels share their per-element arithmetic, and the scalar fallback mirrors the AVX2
//! lanes), so a sequence decodes the same tokens alone or in a batch of sixteen.
//!
//! Not here: the model's layers (in [`crate::transformer`]) and sampling.

use rayon::prelude::*;

/// Values per quantisation block.
pub const BLOCK: usize = 32;

/// 32 values as `scale * q[i]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct BlockQ8 {
    /// The scale (the block's largest magnitude / 127).
    pub scale: f32,
    /// The quantised values, in -127..=127.
    pub q: [i8; BLOCK],
}

impl Default for BlockQ8 {
    fn default() -> Self {
        Self {
            scale: 0.0,
            q: [0; BLOCK],
        }
    }
}

/// Quantises `values` (a multiple of [`BLOCK`] long) into `out`.
pub fn quantize_row(values: &[f32], out: &mut [BlockQ8]) {
    debug_assert_eq!(values.len(), out.len() * BLOCK);
    for (chunk, block) in values.chunks_exact(BLOCK).zip(out.iter_mut()) {
        let largest = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = largest / 127.0;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        block.scale = scale;
        for (q, v) in block.q.iter_mut().zip(chunk) {
            // Half away from zero, without a call to libm's roundf.
            let scaled = v * inverse;
            *q = (scaled + 0.5f32.copysign(scaled)).clamp(-127.0, 127.0) as i8;
        }
    }
}

/// Quantises `rows` rows of `values` (row-major, `values.len() / rows` each).
pub fn quantize_rows(values: &[f32], rows: usize) -> Vec<BlockQ8> {
    let width = values.len() / rows.max(1);
    let mut out = vec![BlockQ8::default(); values.len() / BLOCK];
    out.par_chunks_mut(width / BLOCK)
        .zip(values.par_chunks(width))
        .for_each(|(blocks, row)| quantize_row(row, blocks));
    out
}

/// 32 quantised weights, aligned so that a load never straddles two cache lines.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Quants([i8; BLOCK]);

/// One weight row: its blocks' values and, apart, their scales.
#[derive(Clone, Copy)]
struct WeightRow<'a> {
    quants: &'a [Quants],
    scales: &'a [f32],
}

/// A weight matrix of `rows` outputs by `cols` inputs, each row in `cols / 32` blocks. Values
/// and scales are stored apart (values 32-byte aligned), which streams faster than
/// llama.cpp's interleaved 34-byte blocks when a step reads every weight once.
#[derive(Debug, Clone)]
pub struct MatrixQ8 {
    /// Output size.
    pub rows: usize,
    /// Input size (a multiple of 32).
    pub cols: usize,
    quants: Vec<Quants>,
    scales: Vec<f32>,
}

/// Rows of a weight matrix one task computes (a multiple of 4).
const ROWS_PER_TASK: usize = 32;
/// Activation rows taken together, so that they stay in the L1 cache while the task's weight
/// rows stream past.
const ACTIVATIONS_PER_TILE: usize = 16;

/// Values that cannot be a quantised matrix of the shape asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "a {rows} x {cols} matrix needs a width that is a multiple of {BLOCK} and {} values (has {values})",
    rows * cols
)]
pub struct ShapeError {
    /// Rows asked for.
    pub rows: usize,
    /// Columns asked for.
    pub cols: usize,
    /// Values given.
    pub values: usize,
}

impl MatrixQ8 {
    /// Quantises a row-major f32 matrix.
    pub fn from_f32(values: &[f32], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        if !cols.is_multiple_of(BLOCK) || values.len() != rows * cols {
            return Err(ShapeError {
                rows,
                cols,
                values: values.len(),
            });
        }
        let blocks = quantize_rows(values, rows);
        Ok(Self {
            rows,
            cols,
            quants: blocks.iter().map(|b| Quants(b.q)).collect(),
            scales: blocks.iter().map(|b| b.scale).collect(),
        })
    }

    /// Stacks matrices of the same width (fused projections: q, k and v as one matrix).
    pub fn stack(parts: &[MatrixQ8]) -> Self {
        let cols = parts[0].cols;
        debug_assert!(parts.iter().all(|p| p.cols == cols));
        Self {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            quants: parts
                .iter()
                .flat_map(|p| p.quants.iter().copied())
                .collect(),
            scales: parts
                .iter()
                .flat_map(|p| p.scales.iter().copied())
                .collect(),
        }
    }

    fn row(&self, r: usize) -> WeightRow<'_> {
        let width = self.cols / BLOCK;
        WeightRow {
            quants: &self.quants[r * width..(r + 1) * width],
            scales: &self.scales[r * width..(r + 1) * width],
        }
    }

    /// Row `r` as f32 values (an embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let row = self.row(r);
        for ((q, scale), chunk) in row
            .quants
            .iter()
            .zip(row.scales)
            .zip(out.chunks_exact_mut(BLOCK))
        {
            for (o, v) in chunk.iter_mut().zip(q.0) {
                *o = scale * f32::from(v);
            }
        }
    }

    /// `out[b * rows + r] = row r · x_b` for the `n` quantised activation rows of `x`.
    pub fn matmul(&self, x: &[BlockQ8], n: usize, out: &mut [f32]) {
        let width = self.cols / BLOCK;
        debug_assert_eq!(x.len(), n * width);
        debug_assert_eq!(out.len(), n * self.rows);
        let tasks: Vec<(usize, Vec<f32>)> = (0..self.rows.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let first = task * ROWS_PER_TASK;
                let count = ROWS_PER_TASK.min(self.rows - first);
                let mut part = vec![0.0f32; n * count];
                self.matmul_rows(x, n, first, count, &mut part);
                (first, part)
            })
            .collect();
        for (first, part) in tasks {
            let count = part.len() / n.max(1);
            for b in 0..n {
                out[b * self.rows + first..b * self.rows + first + count]
                    .copy_from_slice(&part[b * count..(b + 1) * count]);
            }
        }
    }

    /// Rows `first..first + count` against every activation row, into `part[b * count + i]`.
    fn matmul_rows(&self, x: &[BlockQ8], n: usize, first: usize, count: usize, part: &mut [f32]) {
        let width = self.cols / BLOCK;
        for tile in (0..n).step_by(ACTIVATIONS_PER_TILE) {
            let tile_end = (tile + ACTIVATIONS_PER_TILE).min(n);
            let mut i = 0;
            while i + 4 <= count {
                let w = [
                    self.row(first + i),
                    self.row(first + i + 1),
                    self.row(first + i + 2),
                    self.row(first + i + 3),
                ];
                let activation = |b: usize| &x[b * width..(b + 1) * width];
                let mut b = tile;
                while b + 4 <= tile_end {
                    let dots = dot4x4(w, std::array::from_fn(|c| activation(b + c)));
                    for (c, dots) in dots.iter().enumerate() {
                        part[(b + c) * count + i..(b + c) * count + i + 4].copy_from_slice(dots);
                    }
                    b += 4;
                }
                for b in b..tile_end {
                    let dots = dot4(w, activation(b));
                    part[b * count + i..b * count + i + 4].copy_from_slice(&dots);
                }
                i += 4;
            }
            while i < count {
                let w = self.row(first + i);
                for b in tile..tile_end {
                    part[b * count + i] = dot1(w, &x[b * width..(b + 1) * width]);
                }
                i += 1;
            }
        }
    }
}

/// Whether the AVX2 + FMA kernels can run here (checked once).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 VNNI kernels (one instruction per byte dot product) can run here.
fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            has_avx2()
                && std::is_x86_feature_detected!("avx512vnni")
                && std::is_x86_feature_detected!("avx512vl")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Four weight rows dotted with one activation row.
fn dot4(w: [WeightRow<'_>; 4], x: &[BlockQ8]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU supports AVX2, FMA and AVX-512 VNNI/VL (checked above).
        return unsafe { vnni::dot4(w, x) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { avx2::dot4(w, x) };
    }
    [
        scalar::dot(w[0], x),
        scalar::dot(w[1], x),
        scalar::dot(w[2], x),
        scalar::dot(w[3], x),
    ]
}

/// Four weight rows dotted with four activation rows (`[activation][weight]`): each weight
/// and activation block is loaded once for all sixteen products, with the very arithmetic of
/// [`dot4`] per product.
fn dot4x4(w: [WeightRow<'_>; 4], x: [&[BlockQ8]; 4]) -> [[f32; 4]; 4] {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU supports AVX2, FMA and AVX-512 VNNI/VL (checked above).
        return unsafe { vnni::dot4x4(w, x) };
    }
    x.map(|x| dot4(w, x))
}

/// One weight row dotted with one activation row.
fn dot1(w: WeightRow<'_>, x: &[BlockQ8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU supports AVX2, FMA and AVX-512 VNNI/VL (checked above).
        return unsafe { vnni::dot1(w, x) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { avx2::dot1(w, x) };
    }
    scalar::dot(w, x)
}

/// The portable kernel: the same eight lanes and the same order of additions as the AVX2 one.
mod scalar {
    use super::{BLOCK, BlockQ8, WeightRow};

    pub fn dot(w: WeightRow<'_>, x: &[BlockQ8]) -> f32 {
        let mut lanes = [0.0f32; 8];
        for ((a, a_scale), b) in w.quants.iter().zip(w.scales).zip(x) {
            let scale = a_scale * b.scale;
            for (lane, acc) in lanes.iter_mut().enumerate() {
                let sum: i32 = (lane * 4..lane * 4 + 4)
                    .map(|i| i32::from(a.0[i]) * i32::from(b.q[i]))
                    .sum();
                *acc = scale.mul_add(sum as f32, *acc);
            }
        }
        debug_assert_eq!(BLOCK, 32);
        super::sum_lanes(lanes)
    }
}

/// Adds eight lanes in the order the AVX2 kernel does: halves, then pairs, then the last two.
fn sum_lanes(l: [f32; 8]) -> f32 {
    let s4 = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{BlockQ8, Quants, WeightRow};

    /// Products of one weight block and one activation block as eight i32 lane sums, in f32.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn block_products(w: __m256i, x: __m256i) -> __m256 {
        // |w| (unsigned) times x with w's sign: pairwise i16 sums, then i32 sums of four bytes.
        let w_abs = _mm256_sign_epi8(w, w);
        let signed_x = _mm256_sign_epi8(x, w);
        let pairs = _mm256_maddubs_epi16(w_abs, signed_x);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn load(q: &[i8; 32]) -> __m256i {
        // SAFETY: 32 bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(q.as_ptr().cast()) }
    }

    /// Asks for the weights `ahead` blocks on, so that the stream never waits on memory.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn prefetch(row: &WeightRow<'_>, j: usize) {
        const AHEAD: usize = 8;
        if let Some(q) = row.quants.get(j + AHEAD) {
            // SAFETY: a prefetch of an address inside the slice.
            _mm_prefetch::<_MM_HINT_T0>((q as *const Quants).cast());
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sum(acc: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(acc);
        let hi = _mm256_extractf128_ps(acc, 1);
        let s4 = _mm_add_ps(lo, hi);
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
        _mm_cvtss_f32(s1)
    }

    /// `[a.lo + a.hi | b.lo + b.hi]`: two accumulators' first addition, side by side.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn halves_added(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    }

    /// Four keys' eight-lane accumulators summed as [`sum`] sums each (halves, then pairs,
    /// then the last two: the same additions, four keys side by side), scaled, into `out`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sum4_scaled(acc: &[__m256], scale: __m256, out: &mut [f32]) {
        // [a.lo + a.hi | b.lo + b.hi] and the same for c, d.
        let (ab, cd) = (halves_added(acc[0], acc[1]), halves_added(acc[2], acc[3]));
        // [a0+a2, a1+a3, c0+c2, c1+c3 | b.., d..]
        let pairs = _mm256_add_ps(
            _mm256_shuffle_ps::<0b01_00_01_00>(ab, cd),
            _mm256_shuffle_ps::<0b11_10_11_10>(ab, cd),
        );
        // [a, c, a, c | b, d, b, d]
        let totals = _mm256_add_ps(
            _mm256_shuffle_ps::<0b10_00_10_00>(pairs, pairs),
            _mm256_shuffle_ps::<0b11_01_11_01>(pairs, pairs),
        );
        let mut lanes = [0.0f32; 8];
        // SAFETY: eight floats into eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_mul_ps(totals, scale)) };
        out[0] = lanes[0];
        out[1] = lanes[4];
        out[2] = lanes[1];
        out[3] = lanes[5];
    }

    /// [`super::key_scores`] for 64-float heads: the query in eight registers, eight keys at a
    /// time (eight independent chains of additions keep the FMA units busy); each score's
    /// additions in the portable kernel's order.
    #[target_feature(enable = "avx2,fma")]
    pub fn key_scores_64(
        q: &[f32; 64],
        part: &[f32],
        count: usize,
        stride: usize,
        offset: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        if count == 0 {
            return;
        }
        assert!(part.len() >= (count - 1) * stride + offset + 64 && out.len() >= count);
        // SAFETY: every key read lies inside `part` (checked above).
        let key = |i: usize, c: usize| unsafe {
            _mm256_loadu_ps(part.as_ptr().add(i * stride + offset + c * 8))
        };
        let mut qv = [_mm256_setzero_ps(); 8];
        for (c, v) in qv.iter_mut().enumerate() {
            // SAFETY: q holds 64 floats.
            *v = unsafe { _mm256_loadu_ps(q.as_ptr().add(c * 8)) };
        }
        let scales = _mm256_set1_ps(scale);
        let mut i = 0;
        while i + 8 <= count {
            let mut acc = [_mm256_setzero_ps(); 8];
            for (c, qc) in qv.iter().enumerate() {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(*qc, key(i + j, c), *a);
                }
            }
            sum4_scaled(&acc[..4], scales, &mut out[i..i + 4]);
            sum4_scaled(&acc[4..], scales, &mut out[i + 4..i + 8]);
            i += 8;
        }
        while i < count {
            let mut acc = _mm256_setzero_ps();
            for (c, qc) in qv.iter().enumerate() {
                acc = _mm256_fmadd_ps(*qc, key(i, c), acc);
            }
            out[i] = sum(acc) * scale;
            i += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn dot1(w: WeightRow<'_>, x: &[BlockQ8]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (j, b) in x.iter().enumerate() {
            prefetch(&w, j);
            let p = block_products(load(&w.quants[j].0), load(&b.q));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w.scales[j] * b.scale), p, acc);
        }
        sum(acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn dot4(w: [WeightRow<'_>; 4], x: &[BlockQ8]) -> [f32; 4] {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (j, b) in x.iter().enumerate() {
            let xq = load(&b.q);
            for r in 0..4 {
                prefetch(&w[r], j);
                let p = block_products(load(&w[r].quants[j].0), xq);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(w[r].scales[j] * b.scale), p, acc[r]);
            }
        }
        [sum(acc[0]), sum(acc[1]), sum(acc[2]), sum(acc[3])]
    }
}

/// The AVX2 kernels with AVX-512 VNNI's `vpdpbusd` (unsigned × signed bytes, summed in four):
/// the weights are biased to unsigned (`w + 128`, a flip of the top bit) and the bias is taken
/// back out per lane (`128 · Σx`), so the lane sums are exactly the AVX2 kernel's and so are the
/// results, in two instructions fewer per block.
#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::avx2::{load, prefetch, sum};
    use super::{BlockQ8, WeightRow};

    /// `-128 · Σx` per lane of four bytes: where a biased product sum starts.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    fn unbias(x: __m256i) -> __m256i {
        let sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), x);
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, 7))
    }

    /// Exact lane sums of `w · x` for one block pair.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    fn products(w: __m256i, x: __m256i, start: __m256i) -> __m256 {
        let biased = _mm256_xor_si256(w, _mm256_set1_epi8(-128));
        _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(start, biased, x))
    }

    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    pub fn dot1(w: WeightRow<'_>, x: &[BlockQ8]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (j, b) in x.iter().enumerate() {
            prefetch(&w, j);
            let xq = load(&b.q);
            let p = products(load(&w.quants[j].0), xq, unbias(xq));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w.scales[j] * b.scale), p, acc);
        }
        sum(acc)
    }

    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    pub fn dot4(w: [WeightRow<'_>; 4], x: &[BlockQ8]) -> [f32; 4] {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (j, b) in x.iter().enumerate() {
            let xq = load(&b.q);
            let start = unbias(xq);
            for r in 0..4 {
                prefetch(&w[r], j);
                let p = products(load(&w[r].quants[j].0), xq, start);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(w[r].scales[j] * b.scale), p, acc[r]);
            }
        }
        [sum(acc[0]), sum(acc[1]), sum(acc[2]), sum(acc[3])]
    }

    /// [`dot4`] for four activation rows at once: sixteen accumulators (AVX-512VL gives the
    /// registers), each block loaded once; every product is [`dot4`]'s, operation for
    /// operation (the scale product is the same f32 multiply, done in a vector).
    #[allow(clippy::needless_range_loop)] // index loops keep every value in a register
    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    pub fn dot4x4(w: [WeightRow<'_>; 4], x: [&[BlockQ8]; 4]) -> [[f32; 4]; 4] {
        // Plain loops: closures would not inherit this function's target features.
        let mut acc = [[_mm256_setzero_ps(); 4]; 4];
        let flip = _mm256_set1_epi8(-128);
        let mut wq = [_mm256_setzero_si256(); 4];
        let mut ws = [_mm256_setzero_ps(); 4];
        for j in 0..x[0].len() {
            for r in 0..4 {
                prefetch(&w[r], j);
                wq[r] = _mm256_xor_si256(load(&w[r].quants[j].0), flip);
                ws[r] = _mm256_set1_ps(w[r].scales[j]);
            }
            for c in 0..4 {
                let b = &x[c][j];
                let xq = load(&b.q);
                let start = unbias(xq);
                let xs = _mm256_set1_ps(b.scale);
                for r in 0..4 {
                    let p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(start, wq[r], xq));
                    acc[c][r] = _mm256_fmadd_ps(_mm256_mul_ps(ws[r], xs), p, acc[c][r]);
                }
            }
        }
        let mut out = [[0.0f32; 4]; 4];
        for c in 0..4 {
            for r in 0..4 {
                out[c][r] = sum(acc[c][r]);
            }
        }
        out
    }
}

/// `a · b` in eight lanes (vectorised by the compiler; the same order everywhere).
#[inline(always)]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for i in 0..8 {
            lanes[i] = x[i].mul_add(y[i], lanes[i]);
        }
    }
    let mut total = sum_lanes(lanes);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        total = x.mul_add(*y, total);
    }
    total
}

/// `e^x` for `x <= 0` (softmax weights), to about 1e-6 relative: `2^n · 2^f` with a degree-6
/// polynomial for `2^f`, written so that it vectorises (libm's `expf` does not).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // Adding and removing 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const C: [f32; 7] = [
        1.0,
        std::f32::consts::LN_2,
        0.240_226_5,
        0.055_504_11,
        0.009_618_129,
        0.001_333_355_8,
        0.000_154_035_3,
    ];
    let t = (if x > -87.0 { x } else { -87.0 }) * LOG2_E;
    let rounded = t + ROUND;
    let n = rounded - ROUND;
    let f = t - n;
    let mut p = C[6];
    for c in C[..6].iter().rev() {
        p = p.mul_add(f, *c);
    }
    // n's integer value read from the rounded float's low bits: the same number as `n as i32`
    // (|n| < 2^22), without the saturating cast that keeps the loop from vectorising.
    let whole = (rounded.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    p * f32::from_bits(((whole + 127) as u32) << 23)
}

/// Where one key/value head's vectors lie: positions in up to two runs (a shared prefix, then
/// a sequence's own), each position `stride` floats after the last, the head at `offset`.
#[derive(Clone, Copy)]
pub struct HeadRuns<'a> {
    /// Keys of each run.
    pub keys: [&'a [f32]; 2],
    /// Values of each run.
    pub values: [&'a [f32]; 2],
    /// Positions of each run.
    pub lens: [usize; 2],
    /// Floats from one position to the next.
    pub stride: usize,
    /// The head's first float within a position.
    pub offset: usize,
}

/// The positions of one head's keys or values, in order, as `D`-float slices.
#[inline(always)]
fn positions<'a>(
    parts: [&'a [f32]; 2],
    runs: &HeadRuns<'a>,
    seen: usize,
    d: usize,
) -> impl Iterator<Item = &'a [f32]> + 'a {
    let (stride, offset, lens) = (runs.stride, runs.offset, runs.lens);
    (0..2)
        .flat_map(move |r| (0..lens[r]).map(move |i| &parts[r][i * stride + offset..][..d]))
        .take(seen)
}

/// Turns scores into unnormalised softmax weights; returns their total.
#[inline(always)]
fn softmax_weights(row: &mut [f32]) -> f32 {
    // The largest score, in eight lanes of plain comparisons (a maximum is the same whatever
    // the order; f32::max's NaN rule and one running value both keep this from vectorising).
    let mut tops = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in chunks.by_ref() {
        for i in 0..8 {
            tops[i] = if chunk[i] > tops[i] {
                chunk[i]
            } else {
                tops[i]
            };
        }
    }
    let top = chunks
        .remainder()
        .iter()
        .chain(&tops)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let mut lanes = [0.0f32; 8];
    let mut chunks = row.chunks_exact_mut(8);
    for chunk in chunks.by_ref() {
        for i in 0..8 {
            chunk[i] = exp_nonpositive(chunk[i] - top);
            lanes[i] += chunk[i];
        }
    }
    let mut total = sum_lanes(lanes);
    for v in chunks.into_remainder() {
        *v = exp_nonpositive(*v - top);
        total += *v;
    }
    total
}

/// One query head against one key, as [`dot_f32`] computes it (eight lanes, then their sum).
#[inline(always)]
fn dot_fixed<const D: usize>(q: &[f32; D], k: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    for c in 0..D / 8 {
        for i in 0..8 {
            lanes[i] = q[c * 8 + i].mul_add(k[c * 8 + i], lanes[i]);
        }
    }
    sum_lanes(lanes)
}

/// Position `i` of a run as a fixed-size vector.
#[inline(always)]
fn at<const D: usize>(part: &[f32], i: usize, stride: usize, offset: usize) -> &[f32; D] {
    part[i * stride + offset..][..D]
        .try_into()
        .expect("a position holds D floats")
}

/// Scores of one query head against `count` keys of a run (scaled), into `out`: each score
/// is [`dot_fixed`] of the head and the key, so any kernel that scores keys must give those
/// bits (the AVX2 one does).
type KeyScorer<const D: usize> = fn(&[f32; D], &[f32], usize, usize, usize, f32, &mut [f32]);

/// The portable key scorer.
#[inline(always)]
fn key_scores<const D: usize>(
    q: &[f32; D],
    part: &[f32],
    count: usize,
    stride: usize,
    offset: usize,
    scale: f32,
    out: &mut [f32],
) {
    for (i, o) in out[..count].iter_mut().enumerate() {
        *o = dot_fixed(q, at::<D>(part, i, stride, offset)) * scale;
    }
}

/// One query row of a forward step: all its query heads, the two runs of positions it reads
/// (its prefix, then its sequence's own; keys and values `stride` floats per position) and how
/// many positions it sees.
#[derive(Clone, Copy)]
pub struct QueryRow<'a> {
    /// Query heads, `d` floats each.
    pub q: &'a [f32],
    /// Keys of each run.
    pub keys: [&'a [f32]; 2],
    /// Values of each run.
    pub values: [&'a [f32]; 2],
    /// Positions in each run.
    pub lens: [usize; 2],
    /// Positions the row attends to (from the first).
    pub seen: usize,
}

/// Positions read per block: a block of keys (or values) of one head stays in the L1 cache
/// while every row of the task reads it, so a prompt shared by many rows is read from memory
/// once per task, not once per row.
const POSITIONS_PER_BLOCK: usize = 64;

/// Attention of many rows (`out` gets each row's heads, `heads * d` floats per row) over
/// `kv_heads` key/value heads of `d` floats at `stride` floats per position. Each row's result
/// is bit for bit what it would be alone: the blocking only changes which
/// row reads a block when, not the order of any row's sums.
pub fn attend_rows(
    rows: &[QueryRow<'_>],
    d: usize,
    kv_heads: usize,
    stride: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if d == 64 && has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { attend_rows_avx2_64(rows, kv_heads, stride, out) };
    }
    match d {
        64 => attend_rows_fixed::<64>(rows, kv_heads, stride, out, key_scores::<64>),
        128 => attend_rows_fixed::<128>(rows, kv_heads, stride, out, key_scores::<128>),
        _ => {
            let heads_width = out.len() / rows.len().max(1);
            let group = heads_width / d / kv_heads;
            let mut scores = Vec::new();
            for (row, o) in rows.iter().zip(out.chunks_mut(heads_width)) {
                for g in 0..kv_heads {
                    let runs = HeadRuns {
                        keys: row.keys,
                        values: row.values,
                        lens: row.lens,
                        stride,
                        offset: g * d,
                    };
                    let span = g * group * d..(g + 1) * group * d;
                    attend_any(
                        &row.q[span.clone()],
                        d,
                        runs,
                        row.seen,
                        &mut o[span],
                        &mut scores,
                    );
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn attend_rows_avx2_64(rows: &[QueryRow<'_>], kv_heads: usize, stride: usize, out: &mut [f32]) {
    attend_rows_fixed::<64>(rows, kv_heads, stride, out, avx2::key_scores_64)
}

/// The parts of positions `[start, end)` in a row's two runs: (run, first position in the run,
/// count, first position overall).
#[inline(always)]
fn run_parts(lens: [usize; 2], start: usize, end: usize) -> [(usize, usize, usize, usize); 2] {
    let first_end = end.min(lens[0]);
    let in_first = first_end.saturating_sub(start);
    let second_start = start.max(lens[0]);
    let in_second = end.saturating_sub(second_start);
    [
        (0, start.min(lens[0]), in_first, start),
        (1, second_start - lens[0], in_second, second_start),
    ]
}

#[inline(always)]
fn attend_rows_fixed<const D: usize>(
    rows: &[QueryRow<'_>],
    kv_heads: usize,
    stride: usize,
    out: &mut [f32],
    score_keys: KeyScorer<D>,
) {
    let width = out.len() / rows.len().max(1);
    let group = width / D / kv_heads;
    let scale = 1.0 / (D as f32).sqrt();
    let longest = rows.iter().map(|r| r.seen).max().unwrap_or(0);
    out.fill(0.0);
    let mut scores: Vec<Vec<f32>> = rows.iter().map(|r| vec![0.0; group * r.seen]).collect();
    let mut totals = vec![0.0f32; rows.len() * group];
    for g in 0..kv_heads {
        let offset = g * D;
        for start in (0..longest).step_by(POSITIONS_PER_BLOCK) {
            for (row, row_scores) in rows.iter().zip(scores.iter_mut()) {
                let end = (start + POSITIONS_PER_BLOCK).min(row.seen);
                if end <= start {
                    continue;
                }
                for (run, first, count, at_overall) in run_parts(row.lens, start, end) {
                    if count == 0 {
                        continue;
                    }
                    let keys = &row.keys[run][first * stride..];
                    for h in 0..group {
                        let head = (g * group + h) * D;
                        let qh: &[f32; D] = row.q[head..head + D].try_into().expect("D floats");
                        let target = &mut row_scores[h * row.seen + at_overall..];
                        score_keys(qh, keys, count, stride, offset, scale, target);
                    }
                }
            }
        }
        for (r, (row, row_scores)) in rows.iter().zip(scores.iter_mut()).enumerate() {
            for h in 0..group {
                totals[r * group + h] =
                    softmax_weights(&mut row_scores[h * row.seen..(h + 1) * row.seen]);
            }
        }
        for start in (0..longest).step_by(POSITIONS_PER_BLOCK) {
            for (r, (row, row_scores)) in rows.iter().zip(&scores).enumerate() {
                let end = (start + POSITIONS_PER_BLOCK).min(row.seen);
                if end <= start {
                    continue;
                }
                for h in 0..group {
                    let head = (g * group + h) * D;
                    let slot = &mut out[r * width + head..r * width + head + D];
                    let mut acc: [f32; D] = slot.try_into().expect("D floats");
                    let weights = &row_scores[h * row.seen..(h + 1) * row.seen];
                    for (run, first, count, at_overall) in run_parts(row.lens, start, end) {
                        for i in 0..count {
                            let v = at::<D>(row.values[run], first + i, stride, offset);
                            let w = weights[at_overall + i];
                            for l in 0..D {
                                acc[l] = w.mul_add(v[l], acc[l]);
                            }
                        }
                    }
                    slot.copy_from_slice(&acc);
                }
            }
        }
        for r in 0..rows.len() {
            for h in 0..group {
                let head = (g * group + h) * D;
                let inverse = 1.0 / totals[r * group + h];
                out[r * width + head..r * width + head + D]
                    .iter_mut()
                    .for_each(|o| *o *= inverse);
            }
        }
    }
}

/// Attention for any head size (the same arithmetic, without the fixed-size speed-ups).
fn attend_any(
    q: &[f32],
    d: usize,
    runs: HeadRuns<'_>,
    seen: usize,
    out: &mut [f32],
    scores: &mut Vec<f32>,
) {
    let heads = q.len() / d;
    let scale = 1.0 / (d as f32).sqrt();
    scores.clear();
    scores.resize(heads * seen, 0.0);
    for (p, k) in positions(runs.keys, &runs, seen, d).enumerate() {
        for h in 0..heads {
            scores[h * seen + p] = dot_f32(&q[h * d..(h + 1) * d], k) * scale;
        }
    }
    for h in 0..heads {
        let total = softmax_weights(&mut scores[h * seen..(h + 1) * seen]);
        let o = &mut out[h * d..(h + 1) * d];
        o.fill(0.0);
        for (p, v) in positions(runs.values, &runs, seen, d).enumerate() {
            let w = scores[h * seen + p];
            for (o, x) in o.iter_mut().zip(v) {
                *o = w.mul_add(*x, *o);
            }
        }
        let inverse = 1.0 / total;
        o.iter_mut().for_each(|v| *v *= inverse);
    }
}

#[cfg(test)]
mod tests;

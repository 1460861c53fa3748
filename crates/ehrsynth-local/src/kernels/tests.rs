use super::*;

fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn quantised_products_track_the_f32_products() {
    let (rows, cols, n) = (37, 96, 5);
    let w = pseudo_random(rows * cols, 1);
    let x = pseudo_random(n * cols, 2);
    let matrix = MatrixQ8::from_f32(&w, rows, cols).unwrap();
    let xq = quantize_rows(&x, n);
    let mut out = vec![0.0; n * rows];
    matrix.matmul(&xq, n, &mut out);
    for b in 0..n {
        for r in 0..rows {
            let exact = dot_f32(&w[r * cols..(r + 1) * cols], &x[b * cols..(b + 1) * cols]);
            let got = out[b * rows + r];
            assert!(
                (exact - got).abs() < 0.05,
                "row {r} batch {b}: {exact} vs {got}"
            );
        }
    }
}

#[test]
fn a_row_gives_the_same_bits_alone_in_a_batch_and_in_the_portable_kernel() {
    let (rows, cols) = (70, 64);
    let w = pseudo_random(rows * cols, 3);
    let x = pseudo_random(9 * cols, 4);
    let matrix = MatrixQ8::from_f32(&w, rows, cols).unwrap();
    let all = quantize_rows(&x, 9);
    let mut batch = vec![0.0; 9 * rows];
    matrix.matmul(&all, 9, &mut batch);
    let width = cols / BLOCK;
    for b in 0..9 {
        let mut alone = vec![0.0; rows];
        matrix.matmul(&all[b * width..(b + 1) * width], 1, &mut alone);
        assert_eq!(alone, batch[b * rows..(b + 1) * rows]);
        for (r, got) in alone.iter().enumerate() {
            let portable = scalar::dot(matrix.row(r), &all[b * width..(b + 1) * width]);
            assert_eq!(portable.to_bits(), got.to_bits(), "row {r}");
        }
    }
}

#[test]
fn attention_gives_the_portable_kernels_bits() {
    // Three key/value heads of 64, three query heads each; a shared prefix of 70 positions
    // and a sequence's own 29: rows that see 1, 7, 8, 70, 71 and 99 positions.
    let (kv_heads, group, d) = (3, 3, 64);
    let stride = kv_heads * d;
    let keys = [pseudo_random(70 * stride, 5), pseudo_random(29 * stride, 6)];
    let values = [pseudo_random(70 * stride, 7), pseudo_random(29 * stride, 8)];
    let seen = [1usize, 7, 8, 70, 71, 99];
    let queries = pseudo_random(seen.len() * kv_heads * group * d, 9);
    let width = kv_heads * group * d;
    let rows: Vec<QueryRow<'_>> = seen
        .iter()
        .enumerate()
        .map(|(r, &seen)| QueryRow {
            q: &queries[r * width..(r + 1) * width],
            keys: [&keys[0], &keys[1]],
            values: [&values[0], &values[1]],
            lens: [70, 29],
            seen,
        })
        .collect();
    let mut fast = vec![0.0f32; rows.len() * width];
    attend_rows(&rows, d, kv_heads, stride, &mut fast);
    let mut portable = vec![0.0f32; rows.len() * width];
    attend_rows_fixed::<64>(&rows, kv_heads, stride, &mut portable, key_scores::<64>);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fast), bits(&portable));
    assert!(fast.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
}

#[test]
fn softmax_exp_reads_the_exponent_as_the_saturating_cast_does() {
    // The cast-based form it replaced, for the same polynomial.
    fn with_cast(x: f32) -> f32 {
        let t = x.max(-87.0) * std::f32::consts::LOG2_E;
        let n = (t + 12_582_912.0) - 12_582_912.0;
        let f = t - n;
        let c = [
            1.0,
            std::f32::consts::LN_2,
            0.240_226_5,
            0.055_504_11,
            0.009_618_129,
            0.001_333_355_8,
            0.000_154_035_3,
        ];
        let mut p = c[6];
        for k in c[..6].iter().rev() {
            p = p.mul_add(f, *k);
        }
        p * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    for i in 0..200_000 {
        let x = -(i as f32) * 0.000_6;
        assert_eq!(exp_nonpositive(x).to_bits(), with_cast(x).to_bits(), "{x}");
        let error = (exp_nonpositive(x) - x.exp()).abs() / x.exp().max(1e-30);
        assert!(error < 1e-5 || x < -87.0, "{x}: relative error {error}");
    }
    assert_eq!(exp_nonpositive(-1e6), with_cast(-1e6));
}

#[test]
fn quantisation_round_trips_a_q8_0_block_exactly() {
    let q: Vec<i8> = (0..32)
        .map(|i| (i * 8 - 127).clamp(-127, 127) as i8)
        .collect();
    let scale = 0.015625f32;
    let values: Vec<f32> = q.iter().map(|&v| scale * f32::from(v)).collect();
    let mut block = [BlockQ8::default()];
    quantize_row(&values, &mut block);
    assert_eq!(block[0].q.to_vec(), q);
    assert_eq!(block[0].scale, scale);
}

//! Pearson correlations of many columns at once, with missing values, through matrix products.
//! Shared by the audit's pairwise-correlation metric and the copula's fit.

/// Pearson correlations of every pair of columns (NaN = missing) on pairwise-complete rows, as a
/// row-major p×p matrix (`None` with fewer than 3 complete rows or a constant side), all at once:
/// with X the centred values (0 where missing) and M the presence mask, the pair sums n, Σx, Σx²
/// and Σxy over rows where both are present are the matrix products MᵀM, XᵀM, (X∘X)ᵀM and XᵀX.
pub fn pairwise_pearson_matrix(columns: &[&[f64]]) -> Vec<Option<f64>> {
    let p = columns.len();
    let n = columns.first().map_or(0, |c| c.len());
    let mut x = vec![0.0f64; n * p];
    let mut xx = vec![0.0f64; n * p];
    let mut m = vec![0.0f64; n * p];
    for (j, col) in columns.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            if !v.is_nan() {
                x[i * p + j] = v;
                xx[i * p + j] = v * v;
                m[i * p + j] = 1.0;
            }
        }
    }
    // c = aᵀ b for n×p row-major a and b.
    let gram = |a: &[f64], b: &[f64]| {
        let mut c = vec![0.0f64; p * p];
        if n > 0 && p > 0 {
            // SAFETY: a and b are n×p row-major, read as p×n transposes (row stride 1, column
            // stride p); c is p×p row-major; all live for the call.
            unsafe {
                matrixmultiply::dgemm(
                    p,
                    n,
                    p,
                    1.0,
                    a.as_ptr(),
                    1,
                    p as isize,
                    b.as_ptr(),
                    p as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    p as isize,
                    1,
                );
            }
        }
        c
    };
    let (count, sum, sum_sq, cross) = (gram(&m, &m), gram(&x, &m), gram(&xx, &m), gram(&x, &x));
    (0..p * p)
        .map(|ij| {
            let (i, j) = (ij / p, ij % p);
            let k = count[ij];
            if k < 3.0 {
                return None;
            }
            // sum[i*p+j] = Σ x_i over rows where j is present (x_i is 0 where i is missing).
            let (sx, sy) = (sum[i * p + j], sum[j * p + i]);
            let (vx, vy) = (
                sum_sq[i * p + j] - sx * sx / k,
                sum_sq[j * p + i] - sy * sy / k,
            );
            let scale = sum_sq[i * p + j]
                .max(sum_sq[j * p + i])
                .max(f64::MIN_POSITIVE);
            if vx <= 1e-12 * scale || vy <= 1e-12 * scale {
                return None;
            }
            Some(((cross[ij] - sx * sy / k) / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0))
        })
        .collect()
}

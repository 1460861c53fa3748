//! The little dense linear algebra the copula needs: repairing a correlation matrix to positive
//! definite (eigenvalue clipping via cyclic Jacobi) and its Cholesky factor. Matrices are
//! row-major `n × n` `Vec<f64>`.

/// Eigenvalues and eigenvectors (columns of the returned matrix) of a symmetric matrix.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The nearest-in-spirit positive definite correlation matrix: eigenvalues below `floor` are
/// raised to it, then the matrix is rescaled to a unit diagonal.
pub fn repair_correlation(matrix: &[f64], n: usize, floor: f64) -> Vec<f64> {
    let (values, vectors) = symmetric_eigen(matrix, n);
    let clipped: Vec<f64> = values.iter().map(|&l| l.max(floor)).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n)
                .map(|k| vectors[i * n + k] * clipped[k] * vectors[j * n + k])
                .sum();
        }
    }
    let diag: Vec<f64> = (0..n).map(|i| out[i * n + i].sqrt()).collect();
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] /= diag[i] * diag[j];
        }
    }
    out
}

/// Lower-triangular Cholesky factor, or `None` if the matrix is not positive definite.
pub fn cholesky(matrix: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            let value = matrix[i * n + j] - dot;
            if i == j {
                if value <= 0.0 {
                    return None;
                }
                l[i * n + i] = value.sqrt();
            } else {
                l[i * n + j] = value / l[j * n + j];
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indefinite_correlation_matrix_is_repaired() {
        // Pairwise estimates can be inconsistent: this "correlation" matrix is not PSD.
        let m = [1.0, 0.9, -0.9, 0.9, 1.0, 0.9, -0.9, 0.9, 1.0];
        assert!(cholesky(&m, 3).is_none());
        let fixed = repair_correlation(&m, 3, 1e-6);
        assert!(cholesky(&fixed, 3).is_some());
        for i in 0..3 {
            assert!((fixed[i * 3 + i] - 1.0).abs() < 1e-12);
        }
        let (values, _) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut values = values;
        values.sort_by(f64::total_cmp);
        assert!((values[0] - 1.0).abs() < 1e-12 && (values[1] - 3.0).abs() < 1e-12);
    }
}

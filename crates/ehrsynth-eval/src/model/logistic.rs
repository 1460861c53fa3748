//! L2-regularised logistic regression fitted by Newton's method (IRLS) with a backtracking
//! line search.
//!
//! Preprocessing, all learned from the training data:
//! - a missing cell (`NaN` or `±inf`) is replaced by the feature's training median, and every
//!   feature with at least one missing training cell gets a 0/1 missing-indicator column;
//! - columns that are constant after that are dropped;
//! - the remaining columns are standardised to mean 0 and (population) standard deviation 1.
//!
//! The objective is `Σ logloss + l2/2 · ‖β‖²` on the standardised columns, with the intercept
//! unpenalised; `l2 = 1` matches scikit-learn's `LogisticRegression(C=1)` on standardised data.

use rayon::prelude::*;

use super::{ModelError, check_param, check_training_data, check_x, sigmoid};

/// Rows per parallel task when accumulating the gradient and hessian.
const CHUNK_ROWS: usize = 2048;

/// Hyper-parameters of [`Logistic`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    /// L2 penalty on the standardised coefficients (scikit-learn's `1/C`).
    pub l2: f64,
    /// Maximum number of Newton steps.
    pub max_iter: usize,
    /// Convergence tolerance on the largest coefficient change of a step.
    pub tol: f64,
}

impl Default for LogisticParams {
    /// `l2 = 1`, at most 100 Newton steps, tolerance 1e-8.
    fn default() -> Self {
        Self {
            l2: 1.0,
            max_iter: 100,
            tol: 1e-8,
        }
    }
}

/// One column of the design matrix.
#[derive(Debug, Clone)]
struct DesignColumn {
    /// Input feature it comes from.
    feature: usize,
    /// True for the missing indicator, false for the (imputed) value.
    indicator: bool,
    mean: f64,
    sd: f64,
}

/// A fitted logistic regression.
#[derive(Debug, Clone)]
pub struct Logistic {
    n_features: usize,
    medians: Vec<f64>,
    columns: Vec<DesignColumn>,
    /// Coefficients of the standardised columns.
    coef: Vec<f64>,
    /// Intercept on the standardised scale.
    intercept: f64,
    n_iter: usize,
    converged: bool,
}

impl Logistic {
    /// Fits the model; `x` is row-major `n_rows × n_cols` (`NaN` = missing), `y` is 0 or 1.
    pub fn fit(
        x: &[f32],
        n_rows: usize,
        n_cols: usize,
        y: &[f32],
        params: &LogisticParams,
    ) -> Result<Logistic, ModelError> {
        let positives = check_training_data(x, n_rows, n_cols, y)?;
        check_param(
            params.l2.is_finite() && params.l2 >= 0.0,
            "l2",
            params.l2,
            "must be finite and >= 0",
        )?;
        check_param(
            params.tol.is_finite() && params.tol >= 0.0,
            "tol",
            params.tol,
            "must be finite and >= 0",
        )?;

        let (medians, columns) = design_columns(x, n_rows, n_cols);
        let mut model = Logistic {
            n_features: n_cols,
            medians,
            columns,
            coef: Vec::new(),
            intercept: 0.0,
            n_iter: 0,
            converged: false,
        };
        let p = model.columns.len();
        let mut z = vec![0.0; n_rows * p];
        z.par_chunks_mut(p.max(1))
            .zip(x.par_chunks(n_cols))
            .for_each(|(zr, xr)| {
                if p > 0 {
                    model.design_row(xr, zr);
                }
            });
        let labels: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();

        let mean = positives as f64 / n_rows as f64;
        let mut beta = vec![0.0; p + 1];
        beta[0] = (mean / (1.0 - mean)).ln();
        let mut objective = objective_at(&z, &labels, &beta, params.l2);
        for iter in 0..params.max_iter {
            let (grad, hess) = grad_hess(&z, &labels, &beta, params.l2);
            let step = solve_spd(hess, &grad, p + 1);
            let slope: f64 = grad.iter().zip(&step).map(|(g, s)| g * s).sum();
            // Backtracking (Armijo) line search along −step.
            let mut t = 1.0;
            let mut accepted = None;
            for _ in 0..40 {
                let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
                let obj = objective_at(&z, &labels, &trial, params.l2);
                if obj <= objective - 1e-4 * t * slope.max(0.0) {
                    accepted = Some((trial, obj));
                    break;
                }
                t *= 0.5;
            }
            model.n_iter = iter + 1;
            let Some((trial, obj)) = accepted else {
                // No decrease possible at double precision: at the optimum.
                model.converged = true;
                break;
            };
            let change = step.iter().fold(0.0f64, |m, s| m.max((t * s).abs()));
            let scale = trial.iter().fold(1.0f64, |m, b| m.max(b.abs()));
            beta = trial;
            objective = obj;
            if change <= params.tol * scale {
                model.converged = true;
                break;
            }
        }
        model.intercept = beta[0];
        model.coef = beta[1..].to_vec();
        Ok(model)
    }

    /// Probability of class 1 for each row of the row-major `x` (`n_rows × n_features`);
    /// all `NaN` when `x` does not hold exactly that many values (see [`Logistic::try_predict_proba`]).
    pub fn predict_proba(&self, x: &[f32], n_rows: usize) -> Vec<f64> {
        self.try_predict_proba(x, n_rows)
            .unwrap_or_else(|_| vec![f64::NAN; n_rows])
    }

    /// Probability of class 1 for each row, or an error when `x` has the wrong length.
    pub fn try_predict_proba(&self, x: &[f32], n_rows: usize) -> Result<Vec<f64>, ModelError> {
        check_x(x, n_rows, self.n_features)?;
        if n_rows == 0 {
            return Ok(Vec::new());
        }
        Ok(x.par_chunks(self.n_features)
            .map_init(
                || vec![0.0; self.columns.len()],
                |zr, xr| {
                    self.design_row(xr, zr);
                    let eta: f64 =
                        self.intercept + zr.iter().zip(&self.coef).map(|(z, b)| z * b).sum::<f64>();
                    sigmoid(eta)
                },
            )
            .collect())
    }

    /// Coefficient of each input feature's value on its original scale (0 for dropped columns).
    pub fn coefficients(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.n_features];
        for (c, b) in self.columns.iter().zip(&self.coef) {
            if !c.indicator {
                out[c.feature] = b / c.sd;
            }
        }
        out
    }

    /// Intercept on the original scale, for a row with no missing values.
    pub fn intercept(&self) -> f64 {
        self.intercept
            - self
                .columns
                .iter()
                .zip(&self.coef)
                .map(|(c, b)| b * c.mean / c.sd)
                .sum::<f64>()
    }

    /// Number of feature columns the model was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of Newton steps taken.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the fit met the tolerance within `max_iter` steps.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Standardised design row of one input row.
    fn design_row(&self, xr: &[f32], out: &mut [f64]) {
        for (o, c) in out.iter_mut().zip(&self.columns) {
            let v = xr[c.feature];
            let raw = match (c.indicator, v.is_finite()) {
                (true, finite) => f64::from(u8::from(!finite)),
                (false, true) => f64::from(v),
                (false, false) => self.medians[c.feature],
            };
            *o = (raw - c.mean) / c.sd;
        }
    }
}

/// Training medians of each feature and the non-constant design columns.
fn design_columns(x: &[f32], n_rows: usize, n_cols: usize) -> (Vec<f64>, Vec<DesignColumn>) {
    let per_feature: Vec<(f64, Vec<DesignColumn>)> = (0..n_cols)
        .into_par_iter()
        .map(|f| {
            let mut values: Vec<f64> = x
                .iter()
                .skip(f)
                .step_by(n_cols)
                .filter(|v| v.is_finite())
                .map(|&v| f64::from(v))
                .collect();
            let n_missing = n_rows - values.len();
            values.sort_unstable_by(f64::total_cmp);
            let median = match values.len() {
                0 => 0.0,
                n if n % 2 == 1 => values[n / 2],
                n => 0.5 * (values[n / 2 - 1] + values[n / 2]),
            };
            let mut cols = Vec::new();
            // Imputed value column.
            let sum: f64 = values.iter().sum::<f64>() + median * n_missing as f64;
            let mean = sum / n_rows as f64;
            let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                + (median - mean).powi(2) * n_missing as f64;
            push_if_varying(&mut cols, f, false, mean, ss, n_rows);
            // Missing indicator.
            if n_missing > 0 {
                let mean = n_missing as f64 / n_rows as f64;
                let ss = n_missing as f64 * (1.0 - mean).powi(2)
                    + (n_rows - n_missing) as f64 * mean * mean;
                push_if_varying(&mut cols, f, true, mean, ss, n_rows);
            }
            (median, cols)
        })
        .collect();
    let medians = per_feature.iter().map(|(m, _)| *m).collect();
    let columns = per_feature.into_iter().flat_map(|(_, c)| c).collect();
    (medians, columns)
}

/// Adds a design column unless its standard deviation is zero (or not finite).
fn push_if_varying(
    cols: &mut Vec<DesignColumn>,
    feature: usize,
    indicator: bool,
    mean: f64,
    sum_sq: f64,
    n_rows: usize,
) {
    let sd = (sum_sq / n_rows as f64).sqrt();
    if sd > 0.0 && sd.is_finite() && mean.is_finite() {
        cols.push(DesignColumn {
            feature,
            indicator,
            mean,
            sd,
        });
    }
}

/// `ln(1 + e^η)` without overflow.
fn log1pexp(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

/// Linear predictor of one design row.
fn eta(zr: &[f64], beta: &[f64]) -> f64 {
    beta[0] + zr.iter().zip(&beta[1..]).map(|(z, b)| z * b).sum::<f64>()
}

/// Penalised negative log-likelihood.
fn objective_at(z: &[f64], y: &[f64], beta: &[f64], l2: f64) -> f64 {
    let p = beta.len() - 1;
    let nll: f64 = rows_of(z, p, y.len())
        .zip(y.par_chunks(CHUNK_ROWS))
        .map(|(zc, yc)| {
            yc.iter()
                .enumerate()
                .map(|(i, &yi)| {
                    let e = eta(&zc[i * p..(i + 1) * p], beta);
                    log1pexp(e) - yi * e
                })
                .sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .into_iter()
        .sum();
    nll + 0.5 * l2 * beta[1..].iter().map(|b| b * b).sum::<f64>()
}

/// Chunks of `CHUNK_ROWS` design rows (empty rows when there are no columns).
fn rows_of(z: &[f64], p: usize, n_rows: usize) -> impl IndexedParallelIterator<Item = &[f64]> {
    let n_chunks = n_rows.div_ceil(CHUNK_ROWS);
    (0..n_chunks).into_par_iter().map(move |c| {
        let start = c * CHUNK_ROWS * p;
        let end = ((c + 1) * CHUNK_ROWS).min(n_rows) * p;
        &z[start..end]
    })
}

/// Gradient and (dense, row-major) hessian of the objective.
fn grad_hess(z: &[f64], y: &[f64], beta: &[f64], l2: f64) -> (Vec<f64>, Vec<f64>) {
    let p = beta.len() - 1;
    let q = p + 1;
    let partials: Vec<(Vec<f64>, Vec<f64>)> = rows_of(z, p, y.len())
        .zip(y.par_chunks(CHUNK_ROWS))
        .map(|(zc, yc)| {
            let mut g = vec![0.0; q];
            let mut h = vec![0.0; q * q];
            // Rows scaled by sqrt(w): the chunk's hessian is then AᵀA, one matrix multiply.
            let mut a_rows = vec![0.0; yc.len() * q];
            for (i, &yi) in yc.iter().enumerate() {
                let zi = &zc[i * p..(i + 1) * p];
                let mu = sigmoid(eta(zi, beta));
                let (w, r) = (mu * (1.0 - mu), mu - yi);
                g[0] += r;
                let sw = w.sqrt();
                let a = &mut a_rows[i * q..(i + 1) * q];
                a[0] = sw;
                for ((gv, av), &zv) in g[1..].iter_mut().zip(&mut a[1..]).zip(zi) {
                    *gv += r * zv;
                    *av = sw * zv;
                }
            }
            let m = yc.len();
            if m > 0 {
                // SAFETY: a_rows is m×q row-major, read as its q×m transpose (row stride 1,
                // column stride q); h is q×q row-major; all live for the call.
                unsafe {
                    matrixmultiply::dgemm(
                        q,
                        m,
                        q,
                        1.0,
                        a_rows.as_ptr(),
                        1,
                        q as isize,
                        a_rows.as_ptr(),
                        q as isize,
                        1,
                        0.0,
                        h.as_mut_ptr(),
                        q as isize,
                        1,
                    );
                }
            }
            (g, h)
        })
        .collect();
    let mut g = vec![0.0; q];
    let mut h = vec![0.0; q * q];
    for (pg, ph) in partials {
        g.iter_mut().zip(&pg).for_each(|(a, b)| *a += b);
        h.iter_mut().zip(&ph).for_each(|(a, b)| *a += b);
    }
    for a in 1..q {
        g[a] += l2 * beta[a];
        h[a * q + a] += l2;
    }
    (g, h)
}

/// Solves `h · s = g` for a symmetric positive (semi-)definite `h` by Cholesky, adding a
/// growing ridge to the diagonal when `h` is singular.
fn solve_spd(h: Vec<f64>, g: &[f64], q: usize) -> Vec<f64> {
    let trace: f64 = (0..q).map(|a| h[a * q + a]).sum::<f64>().max(1e-300);
    let mut jitter = 0.0;
    for _ in 0..12 {
        let mut l = h.clone();
        for a in 0..q {
            l[a * q + a] += jitter;
        }
        if cholesky_in_place(&mut l, q) {
            // Forward then backward substitution.
            let mut s = g.to_vec();
            for a in 0..q {
                let v = s[a] - (0..a).map(|b| l[a * q + b] * s[b]).sum::<f64>();
                s[a] = v / l[a * q + a];
            }
            for a in (0..q).rev() {
                let v = s[a] - (a + 1..q).map(|b| l[b * q + a] * s[b]).sum::<f64>();
                s[a] = v / l[a * q + a];
            }
            return s;
        }
        jitter = if jitter == 0.0 {
            1e-12 * trace / q as f64
        } else {
            jitter * 100.0
        };
    }
    // Gradient step as a last resort (never reached for finite input).
    g.iter().map(|v| v / trace).collect()
}

/// Lower Cholesky factor in the lower triangle of `m`; false when `m` is not positive definite.
fn cholesky_in_place(m: &mut [f64], q: usize) -> bool {
    for j in 0..q {
        let d = m[j * q + j] - (0..j).map(|k| m[j * q + k].powi(2)).sum::<f64>();
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        m[j * q + j] = d;
        for i in j + 1..q {
            let v = m[i * q + j] - (0..j).map(|k| m[i * q + k] * m[j * q + k]).sum::<f64>();
            m[i * q + j] = v / d;
        }
    }
    true
}

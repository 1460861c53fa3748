#!/usr/bin/env python3
"""Reference values for the Rust statistics module (crates/ehrsynth-eval/src/stats/).

Builds a handful of small, seeded cases and writes
crates/ehrsynth-eval/fixtures/reference_metrics.json with the inputs and the values computed by
scipy, scikit-learn and sdmetrics. crates/ehrsynth-eval/tests/reference.rs compares the Rust
implementation against this file.

Usage (from the repository root; needs numpy, scipy, scikit-learn, pandas, sdmetrics):
    python scripts/reference_metrics.py [--out crates/ehrsynth-eval/fixtures/reference_metrics.json]

Inputs are rounded to 4 decimals so that the JSON text is short and parses to
exactly the same f64 in Python and in serde_json (whose default float parser
is exact on such short decimals), which matters for ties and bin edges.
"""

import argparse
import json
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import sdmetrics
import sklearn
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import association, crosstab
from sdmetrics.single_column import KSComplement, TVComplement
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

N_BINS = 20
ALPHA = 0.5


def fl(x):
    """Python float, with NaN/inf mapped to None (JSON has no such values)."""
    x = float(x)
    return x if math.isfinite(x) else None


def fl_list(xs):
    return [fl(x) for x in xs]


def kl_binned(real, synth, n_bins=N_BINS, alpha=ALPHA):
    """The binned KL estimator of src/stats/divergence.rs, with numpy/scipy.

    Edges are the real-data quantiles at i/n_bins ('linear' interpolation),
    duplicates removed; the outermost bins are open-ended, so a value x falls
    in bin searchsorted(interior_edges, x, side='right'). Each count gets
    +alpha, then KL(P_real || Q_synth) = scipy.stats.entropy(p, q) (which
    normalises both).
    """
    real = np.asarray(real, dtype=float)
    synth = np.asarray(synth, dtype=float)
    q = np.arange(n_bins + 1) / n_bins  # exactly i / n_bins, like the Rust code
    edges = np.unique(np.quantile(real, q, method="linear"))
    interior = edges[1:-1]
    k = len(interior) + 1
    rc = np.bincount(np.searchsorted(interior, real, side="right"), minlength=k)
    sc = np.bincount(np.searchsorted(interior, synth, side="right"), minlength=k)
    return float(stats.entropy(rc + alpha, sc + alpha)), len(interior) + 1


def two_sample_case(name, a, b):
    a = np.round(np.asarray(a, dtype=float), 4)
    b = np.round(np.asarray(b, dtype=float), 4)
    n1, n2 = len(a), len(b)
    d = stats.ks_2samp(a, b).statistic
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    kl, n_used_bins = kl_binned(a, b)
    return {
        "name": name,
        "a": fl_list(a),
        "b": fl_list(b),
        "ks_statistic": fl(d),
        "ks_pvalue_kstwobign": fl(stats.kstwobign.sf(math.sqrt(en) * d)),
        "ks_pvalue_scipy_asymp": fl(stats.ks_2samp(a, b, method="asymp").pvalue),
        "ks_pvalue_scipy_auto": fl(stats.ks_2samp(a, b).pvalue),
        "wasserstein": fl(stats.wasserstein_distance(a, b)),
        "ks_complement_sdmetrics": fl(KSComplement.compute(pd.Series(a), pd.Series(b))),
        "kl_binned": kl,
        "kl_binned_n_bins_used": n_used_bins,
    }


def classification_case(name, scores, labels):
    scores = np.round(np.asarray(scores, dtype=float), 4)
    labels = np.asarray(labels, dtype=bool)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    max_fpr = 0.1
    return {
        "name": name,
        "scores": fl_list(scores),
        "labels": [bool(x) for x in labels],
        "auroc": fl(roc_auc_score(labels, scores)),
        "average_precision": fl(average_precision_score(labels, scores)),
        "roc_fpr": fl_list(fpr),
        "roc_tpr": fl_list(tpr),
        "max_advantage": fl(np.max(tpr - fpr)),
        "tpr_at_fpr_max_fpr": max_fpr,
        "tpr_at_fpr": fl(np.max(tpr[fpr <= max_fpr])),
    }


def categorical_case(name, real, synth):
    cats = sorted(set(real) | set(synth))
    p = np.array([np.sum(np.asarray(real) == c) for c in cats], dtype=float)
    q = np.array([np.sum(np.asarray(synth) == c) for c in cats], dtype=float)
    pn, qn = p / p.sum(), q / q.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tvc = TVComplement.compute(pd.Series(real), pd.Series(synth))
    return {
        "name": name,
        "categories": cats,
        "p_counts": fl_list(p),
        "q_counts": fl_list(q),
        "tvd": fl(0.5 * np.sum(np.abs(pn - qn))),
        # sdmetrics regularises synthetic-only categories with 1e-6, so this
        # equals 1 - tvd only when synth's categories are a subset of real's.
        "tv_complement_sdmetrics": fl(tvc),
        "synth_subset_of_real": set(synth) <= set(real),
        "js_base2": fl(jensenshannon(p, q, base=2) ** 2),
        "kl": fl(stats.entropy(p, q)),  # None = +inf
        "kl_smoothed_alpha": ALPHA,
        "kl_smoothed": fl(stats.entropy(p + ALPHA, q + ALPHA)),
    }


def association_case(name, x, y):
    x = np.round(np.asarray(x, dtype=float), 4)
    y = np.round(np.asarray(y, dtype=float), 4)
    ok = ~(np.isnan(x) | np.isnan(y))
    return {
        "name": name,
        "x": fl_list(x),  # None = missing (NaN)
        "y": fl_list(y),
        "pearson": fl(stats.pearsonr(x[ok], y[ok]).statistic),
        "spearman": fl(stats.spearmanr(x[ok], y[ok]).statistic),
        "ranks_x_complete": fl_list(stats.rankdata(x[ok], method="average")),
    }


def cramers_case(name, a, b):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    table = crosstab(a, b).count
    return {
        "name": name,
        "a": [int(v) for v in a],
        "b": [int(v) for v in b],
        "cramers_v": fl(association(table, method="cramer", correction=False)),
    }


def eta_case(name, cats, values):
    cats = np.asarray(cats, dtype=np.int64)
    values = np.round(np.asarray(values, dtype=float), 4)
    mean = values.mean()
    ss_total = np.sum((values - mean) ** 2)
    ss_between = sum(
        np.sum(cats == c) * (values[cats == c].mean() - mean) ** 2 for c in np.unique(cats)
    )
    return {
        "name": name,
        "categories": [int(v) for v in cats],
        "values": fl_list(values),
        "eta": fl(math.sqrt(ss_between / ss_total)),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "crates" / "ehrsynth-eval" / "fixtures" / "reference_metrics.json"))
    args = ap.parse_args()

    rng = np.random.default_rng(20240601)

    two_sample = []
    two_sample.append(two_sample_case("normal_vs_shifted", rng.normal(0, 1, 200), rng.normal(0.3, 1, 150)))
    two_sample.append(
        two_sample_case("ties_discrete", rng.integers(0, 6, 120), rng.integers(1, 7, 90))
    )
    two_sample.append(
        two_sample_case("unequal_37_53", rng.normal(0, 1, 37), rng.normal(0.5, 1.5, 53))
    )
    same = rng.normal(5, 2, 64)
    two_sample.append(two_sample_case("identical", same, same.copy()))
    two_sample.append(two_sample_case("disjoint", rng.uniform(0, 1, 30), rng.uniform(2, 3, 40)))
    two_sample.append(
        two_sample_case("large_shift_2000_3000", rng.normal(0, 1, 2000), rng.normal(0.15, 1, 3000))
    )
    # Synthetic values outside the real range (end bins of the KL estimator).
    two_sample.append(
        two_sample_case("synth_out_of_range", rng.uniform(10, 20, 300), rng.uniform(5, 25, 250))
    )
    # Heavy point mass at 0 (duplicate quantile edges are removed).
    pm_real = np.where(rng.uniform(size=400) < 0.6, 0.0, rng.exponential(3, 400))
    pm_synth = np.where(rng.uniform(size=350) < 0.4, 0.0, rng.exponential(2, 350))
    two_sample.append(two_sample_case("point_mass_zero", pm_real, pm_synth))
    two_sample.append(two_sample_case("tiny_1_vs_2", [1.5], [0.5, 2.5]))

    kolmogorov = [
        {"x": x, "sf": fl(stats.kstwobign.sf(x))}
        for x in [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.82, 0.83, 0.9,
                  1.0, 1.2, 1.358, 1.5, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0]
    ]

    classification = []
    s = rng.uniform(size=200)
    classification.append(
        classification_case("ties_rounded_scores", np.round(s, 1), rng.uniform(size=200) < 0.2 + 0.6 * s)
    )
    s = rng.normal(size=300)
    classification.append(
        classification_case("continuous_noisy", s, rng.uniform(size=300) < 1 / (1 + np.exp(-1.5 * s)))
    )
    classification.append(
        classification_case("perfect", np.arange(20) / 20, np.arange(20) >= 12)
    )
    classification.append(
        classification_case("all_tied", np.full(15, 0.5), np.arange(15) % 3 == 0)
    )

    categorical = []
    cats = ["a", "b", "c", "d", "e"]
    categorical.append(
        categorical_case(
            "five_categories",
            list(rng.choice(cats, 500, p=[0.4, 0.25, 0.15, 0.15, 0.05])),
            list(rng.choice(cats, 400, p=[0.35, 0.3, 0.2, 0.1, 0.05])),
        )
    )
    categorical.append(
        categorical_case(
            "synth_missing_a_category",
            list(rng.choice(cats, 300, p=[0.3, 0.3, 0.2, 0.15, 0.05])),
            list(rng.choice(cats[:4], 200, p=[0.4, 0.3, 0.2, 0.1])),
        )
    )
    categorical = [{**c, "categories": [str(x) for x in c["categories"]]} for c in categorical]

    association_cases = []
    x = rng.normal(size=100)
    y = 0.6 * x + 0.8 * rng.normal(size=100)
    x[[3, 17, 40]] = np.nan
    y[[17, 55]] = np.nan
    association_cases.append(association_case("correlated_with_missing", x, y))
    xi = rng.integers(0, 5, 80).astype(float)
    yi = (xi + rng.integers(-2, 3, 80)).astype(float)
    association_cases.append(association_case("discrete_ties", xi, yi))
    association_cases.append(association_case("three_points", [1.0, 2.0, 4.0], [3.0, 1.0, 2.0]))

    cramers = []
    a = rng.integers(0, 4, 300)
    cramers.append(cramers_case("dependent_4x5", a, (a + rng.integers(0, 3, 300)) % 5))
    cramers.append(cramers_case("independent_3x3", rng.integers(0, 3, 500), rng.integers(0, 3, 500)))
    cramers.append(cramers_case("sparse_codes_2x3", rng.choice([7, 1000], 120), rng.choice([2, 50, 9], 120)))

    eta = []
    c = rng.integers(0, 4, 250)
    eta.append(eta_case("four_groups", c, rng.normal(size=250) + 0.5 * c))
    c = np.array([100, 5, 5, 100, 7, 7, 7, 100])
    eta.append(eta_case("sparse_codes", c, [1.0, 2.0, 2.5, 1.5, 4.0, 3.0, 5.0, 0.5]))

    out = {
        "generator": "scripts/reference_metrics.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "sdmetrics": sdmetrics.__version__,
        },
        "kl_n_bins": N_BINS,
        "kl_alpha": ALPHA,
        "two_sample": two_sample,
        "kolmogorov_sf": kolmogorov,
        "classification": classification,
        "categorical": categorical,
        "association": association_cases,
        "cramers_v": cramers,
        "correlation_ratio": eta,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

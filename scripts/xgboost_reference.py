#!/usr/bin/env python3
"""XGBoost (default settings) and scikit-learn logistic-regression holdout AUROC on the
built-in reference cohort, the yardstick for the Rust models in crates/ehrsynth-eval/src/model/. Needs pandas, xgboost, scikit-learn.

Make the CSV first:
    ehrsynth cohort reference --rows 20000 --hospitals 20 --seed 7 --out /tmp/ref7.csv
then:
    python scripts/xgboost_reference.py /tmp/ref7.csv crates/ehrsynth-eval/fixtures/xgboost_reference.json

Split: holdout = rows with patientunitstayid % 5 == 0, train = the rest.
Features: every column except patientunitstayid, hospitalid and death, in table order.
Label: death.
"""

import json
import sys

import numpy as np
import pandas as pd
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ROWS = 20000
SEED = 7
DROP = ["patientunitstayid", "hospitalid", "death"]


def logistic_design(train: np.ndarray, other: np.ndarray):
    """Median imputation + a missing indicator per column with any missing value in train,
    constant columns dropped, standardised with the train mean and standard deviation."""
    med = np.nanmedian(train, axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    has_missing = np.isnan(train).any(axis=0)

    def build(a):
        filled = np.where(np.isnan(a), med, a)
        ind = np.isnan(a[:, has_missing]).astype(float)
        return np.hstack([filled, ind])

    tr, ot = build(train), build(other)
    sd = tr.std(axis=0)
    keep = sd > 0
    mu = tr.mean(axis=0)
    return (tr[:, keep] - mu[keep]) / sd[keep], (ot[:, keep] - mu[keep]) / sd[keep]


def main() -> None:
    csv_path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ref7.csv"
    out_path = sys.argv[2] if len(sys.argv) > 2 else "fixtures/xgboost_reference.json"
    df = pd.read_csv(csv_path)
    assert len(df) == ROWS, f"expected {ROWS} rows, got {len(df)}"
    features = [c for c in df.columns if c not in DROP]
    holdout = (df["patientunitstayid"] % 5 == 0).to_numpy()
    x = df[features].to_numpy(dtype=np.float64)
    y = df["death"].to_numpy(dtype=np.int64)
    x_tr, y_tr, x_ho, y_ho = x[~holdout], y[~holdout], x[holdout], y[holdout]

    xgb = xgboost.XGBClassifier()  # defaults: 100 trees, depth 6, eta 0.3, hist
    xgb.fit(x_tr, y_tr)
    xgb_auc = roc_auc_score(y_ho, xgb.predict_proba(x_ho)[:, 1])

    lr_tr, lr_ho = logistic_design(x_tr, x_ho)
    lr = LogisticRegression(max_iter=1000)
    lr.fit(lr_tr, y_tr)
    lr_auc = roc_auc_score(y_ho, lr.predict_proba(lr_ho)[:, 1])

    result = {
        "xgboost_version": xgboost.__version__,
        "rows": ROWS,
        "seed": SEED,
        "n_features": len(features),
        "train_rows": int((~holdout).sum()),
        "holdout_rows": int(holdout.sum()),
        "holdout_auroc": round(float(xgb_auc), 6),
        "logistic_auroc_sklearn": round(float(lr_auc), 6),
    }
    print(json.dumps(result, indent=2))
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()

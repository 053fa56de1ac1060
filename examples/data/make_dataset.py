#!/usr/bin/python3
"""Generates the small demo dataset shipped with the examples (numpy only).

Run once from anywhere:  /usr/bin/python3 examples/data/make_dataset.py
The output is deterministic (fixed seed), so re-running rewrites identical files.

Files (SageMaker built-in XGBoost CSV convention: the label is the FIRST
column, no header row; an empty field is a missing value):
  train.csv       4000 rows: label,f0,...,f19
  validation.csv  1000 rows: label,f0,...,f19
  train.libsvm    the train rows in LibSVM format, 0-based feature indices
                  (feature fK is index K, XGBoost's default); a missing value
                  is an absent index, zeros are written explicitly.

Features: f0..f9 are continuous (2 decimals), f10..f14 small counts, f15..f19
binary flags. f2, f7 and f12 have about 3% missing values. The label is a
noisy logistic function of a few features with an interaction, tuned so a
gradient-boosted model reaches a validation AUC around 0.9.
"""
import os

import numpy as np

SEED = 20240611
N_TRAIN = 4000
N_VALID = 1000
N_FEATURES = 20
MISSING_FEATURES = (2, 7, 12)
MISSING_RATE = 0.03


def make(rng, n):
    x = np.empty((n, N_FEATURES))
    x[:, 0:10] = np.round(rng.normal(0.0, 1.0, size=(n, 10)), 2)
    x[:, 10:15] = rng.poisson(lam=[0.5, 1.0, 2.0, 3.0, 1.5], size=(n, 5))
    x[:, 15:20] = rng.binomial(1, [0.1, 0.3, 0.5, 0.7, 0.2], size=(n, 5))
    logit = (1.6 * x[:, 0] - 1.2 * x[:, 1] + 0.8 * x[:, 2] * x[:, 3]
             + 0.9 * np.sin(2.0 * x[:, 4]) + 0.5 * (x[:, 5] > 0.5)
             + 0.35 * x[:, 11] - 0.3 * x[:, 13] + 1.1 * x[:, 15]
             - 0.7 * x[:, 17] + 0.6 * x[:, 7] ** 2 - 0.6)
    logit = 1.6 * logit + rng.normal(0.0, 0.3, size=n)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    for j in MISSING_FEATURES:
        x[rng.uniform(size=n) < MISSING_RATE, j] = np.nan
    return x, y


def fmt(v, j):
    if np.isnan(v):
        return ""
    if j >= 10:
        return str(int(v))
    s = "%.2f" % v
    return "0.00" if s == "-0.00" else s


def write_csv(path, x, y):
    with open(path, "w") as f:
        for row, label in zip(x, y):
            f.write(",".join([str(label)] + [fmt(v, j) for j, v in enumerate(row)]) + "\n")


def write_libsvm(path, x, y):
    with open(path, "w") as f:
        for row, label in zip(x, y):
            items = ["%d:%s" % (j, fmt(v, j)) for j, v in enumerate(row) if not np.isnan(v)]
            f.write(" ".join([str(label)] + items) + "\n")


def main():
    out = os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(SEED)
    x, y = make(rng, N_TRAIN + N_VALID)
    write_csv(os.path.join(out, "train.csv"), x[:N_TRAIN], y[:N_TRAIN])
    write_csv(os.path.join(out, "validation.csv"), x[N_TRAIN:], y[N_TRAIN:])
    write_libsvm(os.path.join(out, "train.libsvm"), x[:N_TRAIN], y[:N_TRAIN])
    print("train: %d rows (%.1f%% positive), validation: %d rows (%.1f%% positive)"
          % (N_TRAIN, 100 * y[:N_TRAIN].mean(), N_VALID, 100 * y[N_TRAIN:].mean()))


if __name__ == "__main__":
    main()

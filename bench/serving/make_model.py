#!/usr/bin/python3
"""Writes the benchmark model: XGBoost binary:logistic, 100 trees, depth 6,
20 features, trained on synthetic data -> OUT_DIR/model.json.
Usage: make_model.py OUT_DIR [SEED (default 7)]"""
import os
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
rng = np.random.default_rng(seed)
X = rng.normal(size=(20000, 20)).astype(np.float32)
y = ((X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - X[:, 3] + rng.normal(scale=0.5, size=20000)) > 0)
d = xgb.DMatrix(X, label=y.astype(np.float32))
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1,
                     "nthread": 2, "seed": seed}, d, num_boost_round=100)
booster.save_model(os.path.join(out, "model.json"))

"""Generates the benchmark's data and model (not timed).

DIR/model/model.json: XGBoost binary:logistic, 100 rounds, depth 6, trained on
20,000 rows; DIR/in.csv: ROWS rows x 20 features (no label, no header)."""
import sys

import numpy as np
import xgboost as xgb

out, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
w = rng.normal(size=20)


def make(n):
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = (x @ w + 0.5 * np.sin(3 * x[:, 0]) + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return x, y


x, y = make(20000)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "nthread": 2},
                    xgb.DMatrix(x, label=y), num_boost_round=100)
booster.save_model(out + "/model/model.json")
x, _ = make(rows)
np.savetxt(out + "/in.csv", x, fmt="%.6g", delimiter=",")

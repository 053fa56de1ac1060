"""The baseline: python3-xgboost reading the CSV (numpy.loadtxt), predicting
(inplace_predict, 2 threads) and writing the scores (numpy.savetxt).
   python_score.py MODEL.json IN.csv OUT.csv"""
import sys

import numpy as np
import xgboost as xgb

model, src, dst = sys.argv[1:4]
booster = xgb.Booster(model_file=model)
booster.set_param({"nthread": 2})
x = np.loadtxt(src, delimiter=",", dtype=np.float32, ndmin=2)
scores = booster.inplace_predict(x)
np.savetxt(dst, scores, fmt="%.9g")

"""The baseline: python3-xgboost with pandas' C reader and writer -- read the
CSV (pandas.read_csv, engine="c", float32), predict (Booster.inplace_predict,
2 threads), write the scores (DataFrame.to_csv). With `numpy` as a fourth
argument, numpy.loadtxt and numpy.savetxt instead (the earlier baseline).
   python_score.py MODEL.json IN.csv OUT.csv [numpy]"""
import sys

import xgboost as xgb

model, src, dst = sys.argv[1:4]
use_numpy = len(sys.argv) > 4 and sys.argv[4] == "numpy"
booster = xgb.Booster(model_file=model)
booster.set_param({"nthread": 2})
if use_numpy:
    import numpy as np

    x = np.loadtxt(src, delimiter=",", dtype=np.float32, ndmin=2)
    np.savetxt(dst, booster.inplace_predict(x), fmt="%.9g")
else:
    import pandas as pd

    x = pd.read_csv(src, header=None, engine="c", dtype="float32").to_numpy()
    pd.DataFrame(booster.inplace_predict(x)).to_csv(dst, header=False, index=False)

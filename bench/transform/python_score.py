"""The baseline: python3-xgboost with pandas' C reader and writer -- read the
CSV (pandas.read_csv, engine="c", float32), predict (Booster.inplace_predict,
2 threads), write the scores (DataFrame.to_csv).
   python_score.py MODEL.json IN.csv OUT.csv"""
import sys

import pandas as pd
import xgboost as xgb

model, src, dst = sys.argv[1:4]
booster = xgb.Booster(model_file=model)
booster.set_param({"nthread": 2})
x = pd.read_csv(src, header=None, engine="c", dtype="float32").to_numpy()
scores = booster.inplace_predict(x)
pd.DataFrame(scores).to_csv(dst, header=False, index=False)

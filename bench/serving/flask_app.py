"""The baseline: Flask + gunicorn serving the same XGBoost model with
inplace_predict behind POST /infer ({"model": ..., "features": [20 floats]}).
Run: OMP_NUM_THREADS=1 MODEL=/path/model.json gunicorn -w 2 -b 127.0.0.1:PORT flask_app:app"""
import os

import numpy as np
import xgboost as xgb
from flask import Flask, jsonify, request

booster = xgb.Booster()
booster.load_model(os.environ["MODEL"])
booster.set_param({"nthread": 1})
app = Flask(__name__)


@app.route("/infer", methods=["POST"])
def infer():
    body = request.get_json(force=True)
    x = np.asarray(body["features"], dtype=np.float32).reshape(1, -1)
    score = booster.inplace_predict(x)
    return jsonify({"model": body.get("model"), "scores": score.tolist()})


@app.route("/health")
def health():
    return "ok"

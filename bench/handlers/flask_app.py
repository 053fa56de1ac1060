"""The baseline: Flask + gunicorn serving a model through the SAME handler.py
that tandem's Python handler pool runs (load(model_dir) once per worker,
predict(model, features) per request), behind POST /infer
({"model": ..., "features": [20 floats or null]}).
Run: OMP_NUM_THREADS=1 MODEL_DIR=/path/model gunicorn -w N -b 127.0.0.1:PORT flask_app:app"""
import importlib.util
import os

import numpy as np
from flask import Flask, jsonify, request

MODEL_DIR = os.environ["MODEL_DIR"]
_spec = importlib.util.spec_from_file_location("handler", os.path.join(MODEL_DIR, "handler.py"))
handler = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handler)
model = handler.load(MODEL_DIR)
app = Flask(__name__)


@app.route("/infer", methods=["POST"])
def infer():
    body = request.get_json(force=True)
    x = np.asarray(body["features"], dtype=np.float32).reshape(1, -1)
    scores = handler.predict(model, x)
    return jsonify({"model": body.get("model"), "scores": np.asarray(scores).ravel().tolist()})


@app.route("/health")
def health():
    return "ok"

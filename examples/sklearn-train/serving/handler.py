"""Serving handler for the model ../train.py writes (model.joblib).

The interface of a production serving library: load(model_dir) once per
worker, predict(model, features) per request batch (features: float32 numpy
array, rows x 20, NaN = missing). tandem runs it in supervised worker
processes (flavor: python); the same file runs under Flask + gunicorn in
bench/handlers. Nothing in train.py changes: this folder is copied next to
model.joblib when the job's model is packaged (see ../../README.md).
"""
import os

import joblib


def load(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict(model, features):
    # Probability of the positive class, one score per row.
    return model.predict_proba(features)[:, 1]

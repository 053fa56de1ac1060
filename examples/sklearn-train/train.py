"""Gradient-boosted trees with scikit-learn, written as a SageMaker training script.

Nothing here knows about tandem: hyperparameters arrive as `--key value`
arguments, data and model locations come from the SM_* environment variables
of the SageMaker training-container contract. The same file runs unchanged as
a SageMaker script-mode job, as a tandem job, or by hand (see ../README.md).

Data: CSV files, label in the first column, no header, empty field = missing.
HistGradientBoostingClassifier handles missing values natively.
"""
import argparse
import glob
import json
import os
import sys
import time
import traceback

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score


def parse_args():
    parser = argparse.ArgumentParser()
    # Hyperparameters (SageMaker passes them as --key value).
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-leaf-nodes", type=int, default=31)
    parser.add_argument("--min-samples-leaf", type=int, default=20)
    parser.add_argument("--l2-regularization", type=float, default=0.0)
    parser.add_argument("--random-state", type=int, default=0)
    # Where things are (SageMaker's environment variables).
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--validation", type=str,
                        default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--output-data-dir", type=str,
                        default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    args, _ = parser.parse_known_args()
    return args


def load_csv(channel):
    """Reads every .csv file of a channel (a directory, or a single file)."""
    if os.path.isdir(channel):
        files = sorted(glob.glob(os.path.join(channel, "*.csv")))
    else:
        files = [channel]
    if not files:
        raise ValueError("no .csv files in channel %s" % channel)
    parts = [np.genfromtxt(f, delimiter=",", filling_values=np.nan, ndmin=2) for f in files]
    data = np.vstack(parts)
    return data[:, 1:], data[:, 0].astype(int)


def main():
    args = parse_args()
    x_train, y_train = load_csv(args.train)
    print("train: %d rows, %d features" % x_train.shape, flush=True)
    x_valid = y_valid = None
    if args.validation:
        x_valid, y_valid = load_csv(args.validation)
        print("validation: %d rows" % len(y_valid), flush=True)

    model = HistGradientBoostingClassifier(
        max_iter=args.n_estimators, max_depth=args.max_depth,
        learning_rate=args.learning_rate, max_leaf_nodes=args.max_leaf_nodes,
        min_samples_leaf=args.min_samples_leaf,
        l2_regularization=args.l2_regularization, early_stopping=False,
        random_state=args.random_state)
    start = time.time()
    model.fit(x_train, y_train)
    print("fit: %.2fs" % (time.time() - start), flush=True)

    # One metric line per boosting stage, picked up by the job's metric definitions.
    metrics = {}
    train_stages = model.staged_predict_proba(x_train)
    valid_stages = model.staged_predict_proba(x_valid) if x_valid is not None else None
    for stage, p_train in enumerate(train_stages):
        metrics = {"train:logloss": log_loss(y_train, p_train[:, 1])}
        if valid_stages is not None:
            p_valid = next(valid_stages)[:, 1]
            metrics["validation:logloss"] = log_loss(y_valid, p_valid)
            metrics["validation:auc"] = roc_auc_score(y_valid, p_valid)
        print("stage=%d;" % stage + "".join("%s=%.6f;" % kv for kv in metrics.items()),
              flush=True)

    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    if args.output_data_dir:
        os.makedirs(args.output_data_dir, exist_ok=True)
        with open(os.path.join(args.output_data_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
    print("saved %s" % os.path.join(args.model_dir, "model.joblib"), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        # SageMaker convention: the failure reason is the text of output/failure.
        output_dir = os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")
        try:
            with open(os.path.join(output_dir, "failure"), "w") as f:
                f.write("%s: %s\n" % (type(e).__name__, e))
        except OSError:
            pass
        traceback.print_exc()
        sys.exit(1)

"""XGBoost training, written as a SageMaker training script.

Nothing here knows about tandem: hyperparameters arrive as `--key value`
arguments (the names of SageMaker's built-in XGBoost algorithm), data and
model locations come from the SM_* environment variables of the SageMaker
training-container contract. The same file runs unchanged as a SageMaker
script-mode job, as a tandem job, or by hand (see ../README.md).

Checkpoints (SageMaker's CheckpointConfig): when /opt/ml/checkpoints exists
(or --checkpoint-dir / $TANDEM_CHECKPOINT_DIR names a directory), the booster
is saved there as xgboost-checkpoint.json every --checkpoint_interval rounds
and at the end, and a run that finds one continues from it (xgb_model) and
trains only the remaining rounds.

Data: CSV files, label in the first column, no header, empty field = missing.
Writes to SM_MODEL_DIR:
  model.json          the booster (Booster.save_model)
  self_test.jsonl     20 sample rows with the model's outputs, checked by serving on load
  tandem-model.yaml   how serving loads the model (flavor, signature, self test)
"""
import argparse
import glob
import json
import os
import sys
import traceback

import numpy as np
import xgboost as xgb

SELF_TEST_ROWS = 20
CHECKPOINT_FILE = "xgboost-checkpoint.json"


def parse_args():
    parser = argparse.ArgumentParser()
    # Hyperparameters (SageMaker passes them as --key value).
    parser.add_argument("--num_round", type=int, default=100)
    parser.add_argument("--early_stopping_rounds", type=int, default=None)
    parser.add_argument("--objective", type=str, default="binary:logistic")
    parser.add_argument("--eval_metric", type=str, default="logloss,auc")
    parser.add_argument("--max_depth", type=int, default=6)
    parser.add_argument("--eta", type=float, default=0.3)
    parser.add_argument("--subsample", type=float, default=1.0)
    parser.add_argument("--min_child_weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nthread", type=int,
                        default=int(os.environ.get("SM_NUM_CPUS", "1")))
    parser.add_argument("--checkpoint_interval", type=int, default=10)
    # Where things are (SageMaker's environment variables).
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--validation", type=str,
                        default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--checkpoint-dir", type=str,
                        default=os.environ.get("TANDEM_CHECKPOINT_DIR", "/opt/ml/checkpoints"))
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
    data = np.vstack([np.genfromtxt(f, delimiter=",", filling_values=np.nan, ndmin=2)
                      for f in files])
    return data[:, 1:].astype(np.float32), data[:, 0]


def write_self_test(booster, x, path):
    idx = np.linspace(0, len(x) - 1, num=min(SELF_TEST_ROWS, len(x))).astype(int)
    rows = x[idx]
    out = booster.predict(xgb.DMatrix(rows, missing=np.nan)).reshape(len(rows), -1)
    with open(path, "w") as f:
        for row, pred in zip(rows, out):
            f.write(json.dumps({
                # Shortest repr of each float32, so the file reads like the CSV.
                "input": [None if np.isnan(v) else float(str(v)) for v in row],
                "output": [float(p) for p in pred],
                "tolerance": 1e-6}) + "\n")
    return out.shape[1]


def save_checkpoint(booster, directory):
    """Writes the booster beside the checkpoint and renames it into place."""
    tmp = os.path.join(directory, "xgboost-checkpoint.tmp.json")  # .json: the format
    booster.save_model(tmp)
    os.replace(tmp, os.path.join(directory, CHECKPOINT_FILE))


class Checkpoint(xgb.callback.TrainingCallback):
    """Saves the booster every `interval` rounds and when training ends."""

    def __init__(self, directory, interval):
        super().__init__()
        self.directory = directory
        self.interval = max(interval, 1)

    def after_iteration(self, model, epoch, evals_log):
        if (epoch + 1) % self.interval == 0:
            save_checkpoint(model, self.directory)
        return False

    def after_training(self, model):
        save_checkpoint(model, self.directory)
        return model


def main():
    args = parse_args()
    x_train, y_train = load_csv(args.train)
    dtrain = xgb.DMatrix(x_train, label=y_train, missing=np.nan)
    evals = [(dtrain, "train")]
    x_valid = None
    if args.validation:
        x_valid, y_valid = load_csv(args.validation)
        evals.append((xgb.DMatrix(x_valid, label=y_valid, missing=np.nan), "validation"))
    print("train: %d rows, %d features" % x_train.shape, flush=True)

    params = {
        "objective": args.objective, "max_depth": args.max_depth, "eta": args.eta,
        "subsample": args.subsample, "min_child_weight": args.min_child_weight,
        "seed": args.seed, "nthread": args.nthread,
        "eval_metric": args.eval_metric.split(","),
    }
    # Resume from the last checkpoint (xgb_model): train the remaining rounds.
    ckpt_dir = args.checkpoint_dir if args.checkpoint_dir and os.path.isdir(args.checkpoint_dir) \
        else None
    resumed, done = None, 0
    if ckpt_dir and os.path.exists(os.path.join(ckpt_dir, CHECKPOINT_FILE)):
        resumed = xgb.Booster(model_file=os.path.join(ckpt_dir, CHECKPOINT_FILE))
        done = resumed.num_boosted_rounds()
        print("resuming from %s at round %d" % (os.path.join(ckpt_dir, CHECKPOINT_FILE), done),
              flush=True)
    if resumed is not None and done >= args.num_round:
        # Nothing left to train: the restored model (cut back if it has more
        # rounds) and its metrics.
        booster = resumed[: args.num_round] if done > args.num_round else resumed
        for metric in params["eval_metric"]:
            booster.set_param("eval_metric", metric)
        print(booster.eval_set(evals, args.num_round - 1), flush=True)
    else:
        callbacks = [Checkpoint(ckpt_dir, args.checkpoint_interval)] if ckpt_dir else []
        # Prints "[i]\ttrain-logloss:...\tvalidation-auc:..." every round.
        booster = xgb.train(params, dtrain, num_boost_round=args.num_round - done, evals=evals,
                            early_stopping_rounds=args.early_stopping_rounds,
                            verbose_eval=True, xgb_model=resumed, callbacks=callbacks)
    sys.stdout.flush()
    if args.early_stopping_rounds:
        booster = booster[: booster.best_iteration + 1]

    os.makedirs(args.model_dir, exist_ok=True)
    booster.save_model(os.path.join(args.model_dir, "model.json"))
    sample = x_valid if x_valid is not None else x_train
    num_outputs = write_self_test(booster, sample,
                                  os.path.join(args.model_dir, "self_test.jsonl"))
    n = x_train.shape[1]
    with open(os.path.join(args.model_dir, "tandem-model.yaml"), "w") as f:
        f.write("flavor: xgboost\n"
                "model_file: model.json\n"
                "objective: %s\n"
                "num_features: %d\n"
                "signature:\n"
                "  inputs: [{name: input, datatype: FP32, shape: [-1, %d]}]\n"
                "  outputs: [{name: output, datatype: FP32, shape: [-1, %d]}]\n"
                "self_test: self_test.jsonl\n" % (args.objective, n, n, num_outputs))
    print("saved %s" % os.path.join(args.model_dir, "model.json"), flush=True)


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

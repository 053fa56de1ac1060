#!/usr/bin/python3
"""Optuna's TPE sampler on the same objective as hpo_bench: the native XGBoost
trainer (tools/train_xgboost) on examples/data, validation logloss after
--max-rounds boosting rounds, same search space, same trial budget. Prints one
JSON line per seed: best value and the trials' total CPU-seconds (children's
user + system time from getrusage), and the anytime curve (after each trial,
the CPU-seconds so far and the best value so far)."""
import argparse, json, os, re, resource, shutil, subprocess, sys

import optuna

LOSS = re.compile(r"validation-logloss:([-+0-9.eE]+)")


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_trial(args, params, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work + "/model")
    os.makedirs(work + "/output")
    env = dict(os.environ, SM_CHANNEL_TRAIN=args.data + "/train.csv",
               SM_CHANNEL_VALIDATION=args.data + "/validation.csv",
               SM_MODEL_DIR=work + "/model", SM_OUTPUT_DIR=work + "/output",
               SM_INPUT_CONFIG_DIR=work)
    cmd = [args.trainer, "--num_round", str(args.max_rounds), "--eval_metric", "logloss",
           "--nthread", "1", "--self_test_rows", "0"]
    for k, v in params.items():
        cmd += ["--" + k, "%.10g" % v if isinstance(v, float) else str(v)]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    values = LOSS.findall(out)
    return float(values[-1]) if values else float("inf")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainer", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--budget", type=int, default=24)
    p.add_argument("--max-rounds", type=int, default=81)
    p.add_argument("--work", default="/tmp/hpo-bench-optuna")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for seed in [int(s) for s in args.seeds.split(",")]:
        work = "%s/%d" % (args.work, seed)
        start = child_cpu()
        trajectory = []  # after each trial: (CPU-seconds so far, best so far)

        def objective(trial):
            params = {
                "eta": trial.suggest_float("eta", 0.01, 0.5, log=True),
                "max_depth": trial.suggest_int("max_depth", 2, 10),
                "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 20, log=True),
                "subsample": trial.suggest_float("subsample", 0.5, 1.0),
                "lambda": trial.suggest_float("lambda", 0.001, 10, log=True),
            }
            loss = run_trial(args, params, work)
            best = min([loss] + [b for _, b in trajectory[-1:]])
            trajectory.append([child_cpu() - start, best])
            return loss

        study = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=args.budget)
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"tool": "optuna", "strategy": "tpe", "seed": seed,
                          "trials": args.budget, "best": study.best_value,
                          "cpu_seconds": child_cpu() - start,
                          "boosting_rounds": args.budget * args.max_rounds,
                          "trajectory": trajectory}), flush=True)


if __name__ == "__main__":
    sys.exit(main())

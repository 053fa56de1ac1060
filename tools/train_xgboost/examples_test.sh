#!/bin/bash
# Runs every example as an unchanged SageMaker script outside tandem
# (examples/run_standalone.sh) for a few rounds and checks its model files.
# usage: examples_test.sh <repo root> <tandem-train-xgboost>
set -euo pipefail
ROOT=$1
export TANDEM_TRAIN_XGBOOST=$2
T=$(mktemp -d /tmp/train_xgboost_examples.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
MISSING=$(/usr/bin/python3 -c "import sklearn, xgboost, joblib, numpy" 2>&1) ||
  fail "/usr/bin/python3 cannot import what the examples need (scripts/bootstrap installs python3-sklearn, python3-xgboost, python3-numpy): $MISSING"
run() {  # <example> <expected files...> -- <hyperparameters...>
  local ex=$1; shift
  local files=()
  while [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  ML_ROOT=$T/$ex "$ROOT/examples/run_standalone.sh" "$ROOT/examples/$ex" "$@" \
    > "$T/$ex.log" 2>&1 || { cat "$T/$ex.log"; fail "$ex exited non-zero"; }
  for f in "${files[@]}"; do [ -s "$T/$ex/model/$f" ] || fail "$ex: no $f"; done
  [ ! -e "$T/$ex/output/failure" ] || fail "$ex wrote a failure file"
}
run sklearn-train model.joblib -- --n-estimators 5 --max-depth 3
grep -qE '^stage=4;train:logloss=[0-9.]+;validation:logloss=[0-9.]+;validation:auc=[0-9.]+;$' \
  "$T/sklearn-train.log" || fail "sklearn metric lines"
run xgboost-train model.json self_test.jsonl tandem-model.yaml -- --num_round 5 --max_depth 3
grep -qP '^\[4\]\ttrain-logloss:\d\.\d{5}\ttrain-auc:' "$T/xgboost-train.log" || fail "xgboost metric lines"
# Checkpoints: a second run with the same checkpoint directory resumes
# (xgb_model) and trains only the remaining rounds.
mkdir -p "$T/ckpt"
run xgboost-train model.json -- --num_round 3 --max_depth 3 --checkpoint-dir "$T/ckpt"
[ -s "$T/ckpt/xgboost-checkpoint.json" ] || fail "xgboost-train wrote no checkpoint"
run xgboost-train model.json -- --num_round 5 --max_depth 3 --checkpoint-dir "$T/ckpt"
grep -q "resuming from .* at round 3" "$T/xgboost-train.log" || fail "xgboost-train did not resume"
[ "$(grep -cP '^\[\d+\]\ttrain-logloss' "$T/xgboost-train.log")" = 2 ] ||
  fail "xgboost-train resumed but did not train exactly the 2 remaining rounds"
run xgboost-native model.json self_test.jsonl tandem-model.yaml -- --num_round 5 --max_depth 3
grep -qP '^\[4\]\ttrain-logloss:\d\.\d{5}\tvalidation-logloss:' "$T/xgboost-native.log" \
  || fail "native metric lines"
# A bad hyperparameter: the script fails and says why in output/failure.
ML_ROOT=$T/bad "$ROOT/examples/run_standalone.sh" "$ROOT/examples/xgboost-train" \
  --num_round 2 --objective binary:nonsense > "$T/bad.log" 2>&1 && fail "bad objective exited 0"
grep -q "binary:nonsense" "$T/bad/output/failure" || fail "no failure reason for the bad objective"
echo PASS

#!/bin/bash
# Runs an example outside tandem, as a SageMaker container would: builds an
# /opt/ml-shaped tree in a temp dir, sets the SM_* variables by hand, writes
# hyperparameters.json and passes the same hyperparameters as --key value.
#
#   examples/run_standalone.sh examples/xgboost-train --num_round 20 --max_depth 4
#   examples/run_standalone.sh examples/sklearn-train --n-estimators 20
#   TANDEM_TRAIN_XGBOOST=build/bin/tandem-train-xgboost \
#     examples/run_standalone.sh examples/xgboost-native --num_round 20
#
# The tree is kept (its path is printed last); set ML_ROOT to choose it.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <example dir> [--key value ...]" >&2; exit 2; }
EXAMPLE=$(cd "$1" && pwd)
shift
DATA=$(cd "$(dirname "$0")/data" && pwd)
ML=${ML_ROOT:-$(mktemp -d /tmp/tandem-standalone.XXXXXX)}
mkdir -p "$ML/input/config" "$ML/input/data/train" "$ML/input/data/validation" \
         "$ML/model" "$ML/output/data" "$ML/code"
cp "$DATA/train.csv" "$ML/input/data/train/"
cp "$DATA/validation.csv" "$ML/input/data/validation/"
cp -r "$EXAMPLE/." "$ML/code/"
# hyperparameters.json: the --key value pairs as a flat string map.
/usr/bin/python3 - "$ML/input/config/hyperparameters.json" "$@" <<'PY'
import json, sys
args = sys.argv[2:]
hps = {args[i].lstrip("-"): args[i + 1] for i in range(0, len(args) - 1, 2)}
json.dump(hps, open(sys.argv[1], "w"), sort_keys=True)
PY
export SM_MODEL_DIR=$ML/model SM_OUTPUT_DIR=$ML/output SM_OUTPUT_DATA_DIR=$ML/output/data \
       SM_INPUT_DIR=$ML/input SM_INPUT_CONFIG_DIR=$ML/input/config \
       SM_CHANNELS='["train","validation"]' \
       SM_CHANNEL_TRAIN=$ML/input/data/train SM_CHANNEL_VALIDATION=$ML/input/data/validation \
       SM_HPS=$(cat "$ML/input/config/hyperparameters.json") SM_NUM_CPUS=1 SM_NUM_GPUS=0 \
       SM_CURRENT_HOST=algo-1 SM_HOSTS='["algo-1"]' SM_MODULE_DIR=$ML/code \
       TRAINING_JOB_NAME=standalone-$(basename "$EXAMPLE") OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cd "$ML/code"
rc=0
if [ -f train.py ]; then
  /usr/bin/python3 train.py "$@" || rc=$?
else
  ./train.sh "$@" || rc=$?
fi
[ -f "$ML/output/failure" ] && { echo "failure: $(cat "$ML/output/failure")" >&2; }
echo "exit $rc; model dir: $ML/model" >&2
exit $rc

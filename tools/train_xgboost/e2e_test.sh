#!/bin/bash
# End-to-end test of tandem-train-xgboost under a fake SageMaker contract tree.
# usage: e2e_test.sh <tandem-train-xgboost> <examples/data dir>
set -euo pipefail
BIN=$1
DATA=$2
PY=/usr/bin/python3
T=$(mktemp -d /tmp/train_xgboost_e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- happy path: CSV channels as directories, hyperparameters from the file + args.
mkdir -p "$T/ml/input/config" "$T/ml/input/data/train" "$T/ml/input/data/validation" \
         "$T/ml/model" "$T/ml/output/data"
cp "$DATA/train.csv" "$T/ml/input/data/train/"
cp "$DATA/validation.csv" "$T/ml/input/data/validation/"
echo '{"num_round":"50","max_depth":"4","eta":"0.3","eval_metric":"logloss,auc","seed":"7"}' \
  > "$T/ml/input/config/hyperparameters.json"
export SM_INPUT_DIR=$T/ml/input SM_INPUT_CONFIG_DIR=$T/ml/input/config \
       SM_CHANNEL_TRAIN=$T/ml/input/data/train SM_CHANNEL_VALIDATION=$T/ml/input/data/validation \
       SM_MODEL_DIR=$T/ml/model SM_OUTPUT_DIR=$T/ml/output SM_OUTPUT_DATA_DIR=$T/ml/output/data \
       SM_NUM_CPUS=1
"$BIN" --num_round 10 > "$T/stdout" 2> "$T/stderr" || { cat "$T/stderr"; fail "exit status $?"; }
[ ! -e "$T/ml/output/failure" ] || fail "failure file written on success"
for f in model.json self_test.jsonl tandem-model.yaml; do
  [ -s "$T/ml/model/$f" ] || fail "missing $f"
done
# Metric lines in XGBoost's format, one per round; args (10) beat the file (50).
[ "$(grep -cP '^\[\d+\]\ttrain-logloss:\d\.\d{5}\ttrain-auc:\d\.\d{5}\tvalidation-logloss:\d\.\d{5}\tvalidation-auc:\d\.\d{5}$' "$T/stdout")" = 10 ] \
  || { cat "$T/stdout"; fail "expected 10 metric lines"; }
grep -q '^\[9\]' "$T/stdout" || fail "no round 9"
grep -q '^flavor: xgboost' "$T/ml/model/tandem-model.yaml" || fail "tandem-model.yaml flavor"

# The saved model loads in Python XGBoost and reproduces the self-test outputs.
"$PY" - "$T/ml/model" "$DATA/validation.csv" <<'PYEOF'
import json, sys
import numpy as np
import xgboost as xgb
model_dir, validation = sys.argv[1], sys.argv[2]
b = xgb.Booster()
b.load_model(model_dir + "/model.json")
assert b.num_boosted_rounds() == 10, b.num_boosted_rounds()
assert b.num_features() == 20, b.num_features()
rows = [json.loads(l) for l in open(model_dir + "/self_test.jsonl")]
assert len(rows) == 20, len(rows)
x = np.array([[np.nan if v is None else v for v in r["input"]] for r in rows], dtype=np.float32)
assert np.isnan(x).any(), "expected some missing values among the self-test rows"
# Every self-test row is a validation row, exactly (NaN compared as equal).
full = np.genfromtxt(validation, delimiter=",", filling_values=np.nan)[:, 1:].astype(np.float32)
def key(r): return tuple(np.nan_to_num(r, nan=-9999.0).tolist())
known = {key(r) for r in full}
assert all(key(r) in known for r in x), "a self-test row is not in the validation data"
want = b.predict(xgb.DMatrix(x, missing=np.nan))
got = np.array([r["output"][0] for r in rows])
err = np.abs(want - got).max()
assert err <= 1e-6, "max abs diff %g" % err
assert all(r["tolerance"] == 1e-6 for r in rows)
print("python check ok: max abs diff %g" % err)
PYEOF

# --- LibSVM channel given as a file, no validation channel.
rm -rf "$T/ml/model"/*
SM_CHANNEL_VALIDATION= SM_INPUT_DIR=$T/nowhere SM_CHANNEL_TRAIN=$DATA/train.libsvm \
  "$BIN" --num_round 3 --eval_metric auc > "$T/stdout2" 2>&1 || { cat "$T/stdout2"; fail "libsvm run"; }
[ "$(grep -cP '^\[\d+\]\ttrain-auc:\d\.\d{5}$' "$T/stdout2")" = 3 ] || { cat "$T/stdout2"; fail "libsvm metric lines"; }
[ -s "$T/ml/model/model.json" ] || fail "libsvm model.json"
# The LibSVM copy of the train set reads to the same matrix as the CSV: the same
# model, so the same self-test file (rows from train, as there is no validation).
cp "$T/ml/model/self_test.jsonl" "$T/self_test.libsvm.jsonl"
SM_CHANNEL_VALIDATION= SM_INPUT_DIR=$T/nowhere SM_CHANNEL_TRAIN=$DATA/train.csv \
  "$BIN" --num_round 3 --eval_metric auc > "$T/stdout3" 2>&1 || { cat "$T/stdout3"; fail "csv run"; }
cmp -s "$T/ml/model/self_test.jsonl" "$T/self_test.libsvm.jsonl" || fail "CSV and LibSVM models differ"
diff <(grep -P '^\[' "$T/stdout2") <(grep -P '^\[' "$T/stdout3") || fail "CSV and LibSVM metrics differ"

# --- bad input: a missing channel writes the failure file and exits non-zero.
rm -f "$T/ml/output/failure"
set +e
SM_CHANNEL_TRAIN=$T/does-not-exist "$BIN" --num_round 3 > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "missing channel exited 0"
grep -q "ClientError: train channel: channel path $T/does-not-exist does not exist" \
  "$T/ml/output/failure" || { cat "$T/ml/output/failure"; fail "failure text (missing channel)"; }

# --- bad input: a hyperparameter value XGBoost rejects.
rm -f "$T/ml/output/failure"
set +e
"$BIN" --num_round 3 --max_depth deep > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "bad max_depth exited $rc"
grep -q "ClientError: .*max_depth" "$T/ml/output/failure" || { cat "$T/ml/output/failure"; fail "failure text (max_depth)"; }

# --- bad input: a CSV with a header row; the failure dir is unwritable -> still non-zero.
mkdir -p "$T/hdr"
printf 'label,f0\n1,2\n' > "$T/hdr/a.csv"
set +e
SM_OUTPUT_DIR=/proc/nope SM_CHANNEL_TRAIN=$T/hdr SM_CHANNEL_VALIDATION= SM_INPUT_DIR=$T/nowhere \
  "$BIN" > /dev/null 2> "$T/stderr4"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "header csv exited $rc"
grep -q "looks like a header" "$T/stderr4" || fail "header message"
grep -q "could not write /proc/nope/failure" "$T/stderr4" || fail "unwritable failure dir not reported"
# --- data cache: the second run reads both channels from TANDEM_DATA_CACHE_DIR
# and trains the same model; a changed channel is parsed again.
cache=$T/data-cache
rm -f "$T/ml/output/failure"
TANDEM_DATA_CACHE_DIR=$cache "$BIN" --num_round 5 > "$T/c1" 2>&1 || { cat "$T/c1"; fail "cache run 1"; }
cp "$T/ml/model/model.json" "$T/model-uncached.json"
! grep -q '(cached)' "$T/c1" || fail "first run claims a cache hit"
[ "$(ls "$cache" | wc -l)" = 2 ] || fail "expected 2 cache files, got: $(ls "$cache")"
TANDEM_DATA_CACHE_DIR=$cache "$BIN" --num_round 5 > "$T/c2" 2>&1 || { cat "$T/c2"; fail "cache run 2"; }
grep -q '^train: 4000 rows, 20 features from .* (cached)$' "$T/c2" || { cat "$T/c2"; fail "train not cached"; }
grep -q '^validation: 1000 rows from .* (cached)$' "$T/c2" || { cat "$T/c2"; fail "validation not cached"; }
cmp -s "$T/model-uncached.json" "$T/ml/model/model.json" || fail "cached data trained another model"
head -n 100 "$DATA/validation.csv" > "$T/ml/input/data/validation/validation.csv"
TANDEM_DATA_CACHE_DIR=$cache "$BIN" --num_round 5 > "$T/c3" 2>&1 || { cat "$T/c3"; fail "cache run 3"; }
grep -q '^validation: 100 rows from .*validation$' "$T/c3" || { cat "$T/c3"; fail "changed channel not reparsed"; }
echo "PASS"

#!/usr/bin/env bash
# Batch transform against a real `tandem up`: an XGBoost model (trained with
# Debian's python3-xgboost) registered from a directory with an alias, two
# input objects uploaded under a store prefix, one with a malformed row ->
# the job ends Failed naming that object and line, the good object's
# <name>.out exists under output.prefix and the bad one's does not; then a
# transform of the good object alone Completes, with join_source Input.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=$(mktemp -d /tmp/tandem-transform-e2e.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

mkdir -p "$WORK/model"
/usr/bin/python3 - "$WORK/model/model.json" <<'PY' || { echo "training failed"; exit 1; }
import sys
import numpy as np
import xgboost as xgb
rng = np.random.default_rng(3)
x = rng.normal(size=(500, 4)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(int)
xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=y), 10).save_model(sys.argv[1])
PY
expect_rc 0 "$TANDEM" models register scorer "$WORK/model" --alias champion
printf '0.1,0.2,0.3,0.4\n1,2,3,4\n-1,-2,,-4\n' > "$WORK/good.csv"
printf '0.1,0.2,0.3,0.4\n1,two,3,4\n' > "$WORK/bad.csv"
expect_rc 0 "$TANDEM" artifacts put batch/in/good.csv "$WORK/good.csv"
expect_rc 0 "$TANDEM" artifacts put batch/in/bad.csv "$WORK/bad.csv"

cat > "$WORK/transform.yaml" <<'YAML'
name: score-batch
team: e2e
model: scorer@champion
input: {uri: batch/in, content_type: text/csv}
batch_strategy: MultiRecord
max_concurrent_transforms: 2
output: {prefix: batch/out}
max_runtime_seconds: 300
YAML
expect_rc 0 "$TANDEM" transform --help
expect_contains "$OUT" "Examples" "help has examples"
expect_rc 1 "$TANDEM" transform run -f "$WORK/transform.yaml" --wait
expect_contains "$OUT" "Failed" "a bad object fails the transform"
expect_contains "$OUT" "bad.csv: line 2: column 2: 'two' is not a number" "failure names object and line"
expect_rc 0 "$TANDEM" artifacts get batch/out/good.csv.out "$WORK/good.out"
LINES=$(wc -l < "$WORK/good.out" 2>/dev/null || echo 0)
[ "$LINES" -eq 3 ] && pass || fail "good.csv.out has $LINES lines, want 3"
expect_rc 1 "$TANDEM" artifacts get batch/out/bad.csv.out "$WORK/bad.out"
[ ! -s "$WORK/bad.out" ] && pass || fail "bad.csv.out must not exist"

expect_rc 0 "$TANDEM" transform list -o json
expect_contains "$OUT" '"score-batch"' "transform list shows the job"
ID=$(echo "$OUT" | grep -o '"id": "[0-9a-z]*"' | head -1 | cut -d'"' -f4)
expect_rc 0 "$TANDEM" transform get "$ID" -o yaml
expect_contains "$OUT" "state: Failed" "transform get"
expect_contains "$OUT" "output_prefix: batch/out" "transform summary"
expect_rc 0 "$TANDEM" jobs logs "$ID"
expect_contains "$OUT" "object good.csv: 3 records" "the job's log"

# A local input path (relative to the spec), join_source Input: Completed.
mkdir -p "$WORK/local"
cp "$WORK/good.csv" "$WORK/local/"
cat > "$WORK/local.yaml" <<'YAML'
model: scorer/1
input: {uri: local}
join_source: Input
output: {prefix: batch/joined}
YAML
expect_rc 0 "$TANDEM" transform run -f "$WORK/local.yaml" --wait
expect_contains "$OUT" "Completed" "local input transform completes"
expect_rc 0 "$TANDEM" artifacts get batch/joined/good.csv.out "$WORK/joined.out"
expect_contains "$(head -1 "$WORK/joined.out")" "0.1,0.2,0.3,0.4," "join_source Input keeps the input line"

# Bad specs are refused with the field named.
printf 'model: scorer@champion\ninput: {uri: batch/in}\noutput: {prefix: o}\nbatch: 3\n' > "$WORK/bad.yaml"
expect_rc 1 "$TANDEM" transform run -f "$WORK/bad.yaml"
expect_contains "$OUT" "unknown field 'batch'" "unknown field named"
printf 'model: nosuch@champion\ninput: {uri: batch/in}\noutput: {prefix: o}\n' > "$WORK/nomodel.yaml"
expect_rc 1 "$TANDEM" transform run -f "$WORK/nomodel.yaml"
expect_contains "$OUT" "nosuch@champion" "unknown model named"
expect_rc 1 "$TANDEM" transform get 01jf3q9v6k8m2n4p6r8t0v2x4z
finish

#!/usr/bin/env bash
# Tuning jobs against a real `tandem up`: a Grid search with the median rule
# over a tiny trainer reading examples/data (trials ran, best recorded,
# worse trials StoppedEarly), a Hyperband run, get/list/trials/stop, -o
# json|yaml, bad specs, --help.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
TRAINER=${3:-}  # tandem-train-xgboost: Hyperband promotions resume from checkpoints
require_built "$TANDEM" "$TRAINER"
WORK=$(mktemp -d /tmp/tandem-tuning-e2e.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# The trainer: loss at step i = level + rows/4000 + 1/(i+1), `steps` steps.
mkdir -p "$WORK/code"
cat > "$WORK/code/train.sh" <<'SH'
#!/bin/sh
set -e
level=0; steps=3; pause=0
while [ $# -gt 0 ]; do
  case "$1" in --level) level=$2; shift;; --steps) steps=$2; shift;; --pause) pause=$2; shift;; esac
  shift
done
rows=$(wc -l < "$SM_CHANNEL_TRAIN/train.csv")
i=0
while [ "$i" -lt "$steps" ]; do
  awk -v l="$level" -v r="$rows" -v i="$i" 'BEGIN { printf "step %d loss=%.6f\n", i, l + r / 4000 + 1 / (i + 1) }'
  i=$((i + 1))
  [ "$pause" = 0 ] || sleep "$pause"
done
echo "level=$level" > "$SM_MODEL_DIR/model.txt"
SH
chmod +x "$WORK/code/train.sh"
cp "$REPO/examples/data/train.csv" "$WORK/train.csv"
cat > "$WORK/median.yaml" <<YAML
name: e2e-median
objective: {metric: loss, type: Minimize}
strategy: Grid
parameter_ranges: [{name: level, type: Integer, min: 0, max: 4}]
max_jobs: 5
max_parallel_jobs: 1
early_stopping: Auto
register: {model: e2e-tuned, alias: champion}
training_job:
  team: e2e
  entry_point: train.sh
  source_dir: code
  hyperparameters: {steps: 15, pause: 0.15}
  inputs: {train: train.csv}
  metric_definitions: [{name: loss, regex: 'loss=([-0-9.]+)'}]
  resources: {cpus: 1}
YAML

expect_rc 0 "$TANDEM" tune run --help
expect_contains "$OUT" "Examples" "help has examples"
expect_rc 0 "$TANDEM" tune run -f "$WORK/median.yaml" --wait
expect_contains "$OUT" "Completed" "run --wait reports Completed"
expect_contains "$OUT" "stopped early" "progress shows early stops"
expect_contains "$OUT" "registered e2e-tuned/1" "best trial registered"
expect_rc 0 "$TANDEM" tune get e2e-median -o json
expect_contains "$OUT" '"completed": 3' "three trials completed"
expect_contains "$OUT" '"stopped_early": 2' "two trials stopped early"
expect_contains "$OUT" '"failed": 0' "none failed"
expect_contains "$OUT" '"level": 0' "best trial is level 0"
expect_rc 0 "$TANDEM" tune trials e2e-median
expect_contains "$OUT" "StoppedEarly" "trials table marks early stops"
expect_rc 0 "$TANDEM" tune trials e2e-median -o yaml
expect_contains "$OUT" "state: Completed" "yaml output"
expect_rc 0 "$TANDEM" models get e2e-tuned@champion -o json
expect_contains "$OUT" "e2e-median" "registered version tagged with the tuning job"
expect_rc 0 "$TANDEM" tune list
expect_contains "$OUT" "e2e-median" "list"

# Hyperband: the resource is a hyperparameter (steps), promotions rerun a config.
sed -e 's/^name: e2e-median/name: e2e-hb/' -e 's/^strategy: Grid/strategy: Hyperband/' \
    -e 's/^early_stopping: Auto/early_stopping: "Off"/' -e '/^register:/d' \
    -e 's/{steps: 15, pause: 0.15}/{pause: 0}/' \
    -e 's/^max_jobs: 5/max_jobs: 8\nhyperband: {min_resource: 1, max_resource: 9, resource_param: steps}/' \
    "$WORK/median.yaml" > "$WORK/hb.yaml"
expect_rc 0 "$TANDEM" tune run -f "$WORK/hb.yaml" --wait -o json
expect_contains "$OUT" '"state": "Completed"' "hyperband completed"
expect_rc 0 "$TANDEM" tune trials e2e-hb -o json
expect_contains "$OUT" '"rung": 1' "a promotion ran at rung 1"

# Hyperband with the native trainer: every trial of a configuration shares
# its checkpoint prefix, so a promotion loads the booster the configuration
# already trained and adds only the missing rounds.
if [ -n "$TRAINER" ] && [ -x "$TRAINER" ]; then
  mkdir -p "$WORK/xgb"
  cp "$REPO/examples/xgboost-native/train.sh" "$TRAINER" "$WORK/xgb/"
  cat > "$WORK/hbx.yaml" <<YAML
name: e2e-hbx
objective: {metric: "validation:logloss", type: Minimize}
strategy: Hyperband
parameter_ranges:
  - {name: eta, type: Continuous, min: 0.05, max: 0.5, scaling: Logarithmic}
  - {name: max_depth, type: Integer, min: 2, max: 6}
hyperband: {min_resource: 1, max_resource: 9, reduction_factor: 3, resource_param: num_round}
max_jobs: 8
max_parallel_jobs: 1
seed: 3
training_job:
  team: e2e
  entry_point: train.sh
  source_dir: xgb
  hyperparameters: {eval_metric: logloss, nthread: 1}
  inputs: {train: $REPO/examples/data/train.csv, validation: $REPO/examples/data/validation.csv}
  metric_definitions: [{name: "validation:logloss", regex: 'validation-logloss:([-+0-9.eE]+)'}]
  resources: {cpus: 1}
YAML
  expect_rc 0 "$TANDEM" tune run -f "$WORK/hbx.yaml" --wait -o json
  expect_contains "$OUT" '"state": "Completed"' "hyperband with the native trainer completed"
  expect_rc 0 "$TANDEM" tune trials e2e-hbx -o json
  PROMOTED=$(echo "$OUT" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
trials = doc["trials"] if isinstance(doc, dict) else doc
for t in trials:
    if t.get("rung", 0) == 1 and t["state"] == "Completed":
        print(t["job_id"]); break')
  [ -n "$PROMOTED" ] && pass || fail "no completed rung-1 trial in e2e-hbx"
  expect_rc 0 "$TANDEM" jobs logs "$PROMOTED"
  expect_contains "$OUT" "at round 1" "the promoted trial resumes from its rung-0 checkpoint"
  if echo "$OUT" | grep -q "^\[0\]"; then fail "the promoted trial retrained round 0"; else pass; fi
  expect_rc 0 "$TANDEM" artifacts ls teams/e2e/tuning/e2e-hbx/
  expect_contains "$OUT" "xgboost-checkpoint.json" "the configurations' checkpoints are in the store"
else
  fail "the Hyperband resume check needs tandem-train-xgboost (got '$TRAINER')"
fi

# Stop.
sed -e 's/^name: e2e-median/name: e2e-stop/' -e 's/{steps: 15, pause: 0.15}/{steps: 1000, pause: 0.1}/' \
    -e '/^register:/d' "$WORK/median.yaml" > "$WORK/stop.yaml"
expect_rc 0 "$TANDEM" tune run -f "$WORK/stop.yaml"
expect_rc 0 "$TANDEM" tune stop e2e-stop
expect_contains "$OUT" "Stopping" "stop answers Stopping"
for _ in $(seq 1 200); do
  "$TANDEM" tune get e2e-stop -o json | grep -q '"state": "Stopped"' && break
  sleep 0.1
done
expect_rc 0 "$TANDEM" tune get e2e-stop -o json
expect_contains "$OUT" '"state": "Stopped"' "stopped"
expect_rc 1 "$TANDEM" tune stop e2e-stop

# Bad specs name the field; unknown names are NotFound.
sed -e 's/^max_jobs: 5/max_jobs: 5\ncolour: red/' "$WORK/median.yaml" > "$WORK/bad.yaml"
expect_rc 1 "$TANDEM" tune run -f "$WORK/bad.yaml"
expect_contains "$OUT" "unknown field 'colour'" "bad spec names the field"
expect_rc 1 "$TANDEM" tune get no-such-tuning
expect_contains "$OUT" "not found" "unknown tuning job"

finish

#!/usr/bin/env bash
# Training jobs against a real `tandem up`: run --wait, registration, logs,
# metrics, list, a failing job, bad specs, and restart safety (kill -9 the
# control plane mid-job, start it again, the job still ends Completed).
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
TRAINER=${3:-}  # tandem-train-xgboost, for the native example
require_built "$TANDEM" "$TRAINER"
WORK=$(mktemp -d /tmp/tandem-jobs-e2e.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# A tiny job: no Python needed. Relative paths are relative to the spec file.
mkdir -p "$WORK/tiny/code" "$WORK/tiny/data"
cat > "$WORK/tiny/code/train.sh" <<'SH'
#!/bin/sh
set -e
echo "rows=$(wc -l < "$SM_CHANNEL_TRAIN/train.csv")"
echo "epoch 1 loss=0.50"
echo "epoch 2 loss=0.125"
echo "lr is $SM_HP_LR"
cp "$SM_CHANNEL_TRAIN/train.csv" "$SM_MODEL_DIR/model.txt"
SH
chmod +x "$WORK/tiny/code/train.sh"
printf '1,2\n3,4\n5,6\n' > "$WORK/tiny/data/train.csv"
cat > "$WORK/tiny/job.yaml" <<'YAML'
name: tiny
team: e2e
entry_point: train.sh
source_dir: code
hyperparameters: {lr: 0.1}
inputs: {train: data/train.csv}
metric_definitions:
  - {name: loss, regex: 'loss=([0-9.]+)'}
resources: {cpus: 1}
register: {model: tiny, alias: champion}
YAML

expect_rc 0 "$TANDEM" jobs run --help
expect_contains "$OUT" "Examples" "help has examples"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/tiny/job.yaml" --wait
expect_contains "$OUT" "Completed" "run --wait reports Completed"
expect_contains "$OUT" "loss=0.125" "run --wait streams the log"
expect_contains "$OUT" "rows=3" "channel staged"
expect_contains "$OUT" "lr is 0.1" "hyperparameters in the environment"
expect_contains "$OUT" "registered tiny/1" "run --wait prints the registration"
JOB=$("$TANDEM" jobs list --name tiny -o json | grep -o '"id": "[0-9a-z]*"' | head -1 | cut -d'"' -f4)
[ -n "$JOB" ] && pass || fail "job id from jobs list"

expect_rc 0 "$TANDEM" models get tiny@champion -o json
expect_contains "$OUT" '"version": "1"' "registered version"
expect_contains "$OUT" "$JOB" "lineage names the job"
expect_rc 0 "$TANDEM" jobs logs "$JOB"
expect_contains "$OUT" "epoch 2 loss=0.125" "logs of a finished job"
expect_rc 0 "$TANDEM" jobs logs "$JOB" -f
expect_contains "$OUT" "epoch 2 loss=0.125" "follow of a finished job ends"
expect_rc 0 "$TANDEM" jobs metrics "$JOB"
expect_contains "$OUT" "0.125" "metrics table"
expect_rc 0 "$TANDEM" jobs metrics "$JOB" -o json
expect_contains "$OUT" '"loss"' "metrics json"
expect_rc 0 "$TANDEM" jobs list
expect_contains "$OUT" "tiny" "jobs list"
expect_contains "$OUT" "Completed" "jobs list state"
expect_rc 0 "$TANDEM" jobs get "$JOB" -o yaml
expect_contains "$OUT" "state: Completed" "jobs get"
expect_rc 0 "$TANDEM" jobs spend
expect_contains "$OUT" "e2e" "spend per team"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/tiny/job.yaml"
SECOND=$(echo "$OUT" | tail -1)
[[ "$SECOND" =~ ^[0-9a-z]{26}$ ]] && pass || fail "run prints the job id, got '$SECOND'"

# A failing job: exit 1 with the reason.
mkdir -p "$WORK/bad/code"
printf '#!/bin/sh\necho "cannot train" >&2\nexit 3\n' > "$WORK/bad/code/train.sh"
chmod +x "$WORK/bad/code/train.sh"
printf 'name: bad\nentry_point: train.sh\nsource_dir: code\n' > "$WORK/bad/job.yaml"
expect_rc 1 "$TANDEM" jobs run -f "$WORK/bad/job.yaml" --wait
expect_contains "$OUT" "exit status 3" "failure reason"
expect_contains "$OUT" "cannot train" "failed job's log"

# Bad specs and unknown jobs: exit 1 naming the problem.
printf 'name: bad\nentry_point: train.sh\nsource_dir: code\nbogus_field: 1\n' > "$WORK/bad/unknown.yaml"
expect_rc 1 "$TANDEM" jobs run -f "$WORK/bad/unknown.yaml"
expect_contains "$OUT" "bogus_field" "unknown field named"
printf 'name: bad\nentry_point: train.sh\nsource_dir: code\ninputs: {train: nowhere/x.csv}\n' > "$WORK/bad/input.yaml"
expect_rc 1 "$TANDEM" jobs run -f "$WORK/bad/input.yaml"
expect_contains "$OUT" "nowhere/x.csv" "unknown channel path named"
expect_rc 1 "$TANDEM" jobs run -f "$WORK/nosuch.yaml"
expect_rc 1 "$TANDEM" jobs get nosuchjob
expect_contains "$OUT" "nosuchjob" "unknown job named"
expect_rc 2 "$TANDEM" jobs get
# The REST edge: 404 naming the job, 400 naming the field, 201 on submit.
CODE=$(curl -s -o "$WORK/body" -w "%{http_code}" "$TANDEM_SERVER/api/v1/jobs/nosuchjob")
[ "$CODE" = 404 ] && pass || fail "GET unknown job: HTTP $CODE"
expect_contains "$(cat "$WORK/body")" "nosuchjob" "404 body names the job"
CODE=$(curl -s -o "$WORK/body" -w "%{http_code}" -X POST -d '{"name":"x","entry_point":"/bin/true","resources":{"cpus":"two"}}' "$TANDEM_SERVER/api/v1/jobs")
[ "$CODE" = 400 ] && pass || fail "POST ill-typed spec: HTTP $CODE"
expect_contains "$(cat "$WORK/body")" "resources.cpus" "400 body names the field"
CODE=$(curl -s -o "$WORK/body" -w "%{http_code}" -X POST -d '{"name":"rest","entry_point":"/bin/true"}' "$TANDEM_SERVER/api/v1/jobs")
[ "$CODE" = 201 ] && pass || fail "POST a spec: HTTP $CODE $(cat "$WORK/body")"
CODE=$(curl -s -o "$WORK/body" -w "%{http_code}" "$TANDEM_SERVER/api/v1/metering/teams")
[ "$CODE" = 200 ] && pass || fail "GET metering/teams: HTTP $CODE"

# The SageMaker-style XGBoost example. Jobs run Python entry points with
# /usr/bin/python3 (src/compute/jobs/contract.cc), so that interpreter, not the
# first python3 on PATH, must have what the example imports; scripts/bootstrap
# installs python3-xgboost and python3-sklearn, so a missing one is a failure.
JOB_PYTHON=/usr/bin/python3
if ! MISSING=$("$JOB_PYTHON" -c "import xgboost, sklearn" 2>&1); then
  fail "$JOB_PYTHON cannot import xgboost and sklearn (run scripts/bootstrap): $MISSING"
fi
[ -f "$REPO/examples/xgboost-train/job.yaml" ] && pass || fail "examples/xgboost-train/job.yaml missing"
expect_rc 0 "$TANDEM" jobs run -f "$REPO/examples/xgboost-train/job.yaml" --wait
expect_contains "$OUT" "Completed" "xgboost example completes"
expect_rc 0 "$TANDEM" models get xgboost-demo@champion -o json
expect_contains "$OUT" '"validation:auc"' "xgboost lineage metrics"

# A large log (more than one 4 MiB read) comes back whole from the store.
mkdir -p "$WORK/big/code"
printf '#!/bin/sh\nhead -c 6000000 /dev/zero | tr "\\0" x\necho\necho done\n' > "$WORK/big/code/train.sh"
chmod +x "$WORK/big/code/train.sh"
printf 'name: big\nentry_point: train.sh\nsource_dir: code\n' > "$WORK/big/job.yaml"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/big/job.yaml" --wait
BIG=$("$TANDEM" jobs list --name big -o json | grep -o '"id": "[0-9a-z]*"' | head -1 | cut -d'"' -f4)
SIZE=$("$TANDEM" jobs logs "$BIG" | wc -c)
[ "$SIZE" = 6000006 ] && pass || fail "large log size $SIZE, want 6000006"

# The native XGBoost example (tools/train_xgboost), no Python needed.
if [ -n "$TRAINER" ] && [ -x "$TRAINER" ] && [ -f "$REPO/examples/xgboost-native/job.yaml" ]; then
  # The trainer ships with the code (the sandbox's /tmp is private, so a
  # build tree under /tmp would not be visible to the job by its host path).
  mkdir -p "$WORK/native/src"
  cp "$REPO/examples/xgboost-native/train.sh" "$TRAINER" "$WORK/native/src/"
  sed -e "s|^source_dir: .*|source_dir: $WORK/native/src|" \
      -e "s|\.\./data/|$REPO/examples/data/|" \
      "$REPO/examples/xgboost-native/job.yaml" > "$WORK/native/job.yaml"
  expect_rc 0 "$TANDEM" jobs run -f "$WORK/native/job.yaml" --wait
  expect_contains "$OUT" "Completed" "native xgboost example completes"
  expect_contains "$OUT" "validation:auc" "native xgboost metrics"
  expect_rc 0 "$TANDEM" models get xgboost-native-demo@champion -o json
  expect_contains "$OUT" '"validation:auc"' "native xgboost lineage metrics"
else
  fail "the native xgboost example needs tandem-train-xgboost (got '$TRAINER') and examples/xgboost-native"
fi

# Restart safety: kill -9 the control plane mid-job; the next one re-attaches.
mkdir -p "$WORK/slow/code"
printf '#!/bin/sh\necho "loss=1"\nsleep 6\necho "loss=0.5"\necho w > "$SM_MODEL_DIR/w"\n' > "$WORK/slow/code/train.sh"
chmod +x "$WORK/slow/code/train.sh"
printf 'name: slow\nentry_point: train.sh\nsource_dir: code\nmetric_definitions: [{name: loss, regex: "loss=([0-9.]+)"}]\n' > "$WORK/slow/job.yaml"
SLOW=$("$TANDEM" jobs run -f "$WORK/slow/job.yaml" | tail -1)
# The premise: the job is Running (its user code has started) when the
# control plane dies; otherwise this would test a restart before the launch.
STATE=""
for _ in $(seq 1 300); do
  STATE=$("$TANDEM" jobs get "$SLOW" -o yaml 2>/dev/null | grep "^state:" | cut -d" " -f2)
  [ "$STATE" = Running ] && break
  sleep 0.1
done
[ "$STATE" = Running ] && pass || fail "job $SLOW is '$STATE' before the kill -9, want Running"
STARTED=no
for _ in $(seq 1 300); do
  "$TANDEM" jobs logs "$SLOW" 2>/dev/null | grep -q "loss=1" && { STARTED=yes; break; }
  sleep 0.1
done
[ "$STARTED" = yes ] && pass || fail "job $SLOW had not started its code before the kill -9"
STATE=$("$TANDEM" jobs get "$SLOW" -o yaml 2>/dev/null | grep "^state:" | cut -d" " -f2)
[ "$STATE" = Running ] && pass || fail "job $SLOW is '$STATE' at the kill -9, want Running"
kill -9 "$CP_PID"; wait "$CP_PID" 2>/dev/null; CP_PID=""
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not restart"; exit 1; }
# Following the log of the re-attached job ends when the job does.
expect_rc 0 timeout 60 "$TANDEM" jobs logs "$SLOW" -f
expect_contains "$OUT" "loss=0.5" "follow streams until the job ends"
STATE=$(wait_job_end "$TANDEM" "$SLOW")
[ "$STATE" = Completed ] && pass || fail "job after kill -9 restart ended '$STATE', want Completed"
expect_rc 0 "$TANDEM" jobs logs "$SLOW"
expect_contains "$OUT" "loss=0.5" "log of the re-attached job"
expect_rc 0 "$TANDEM" jobs metrics "$SLOW" -o json
expect_contains "$OUT" "0.5" "metrics survive the restart"

finish

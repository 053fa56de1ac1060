#!/usr/bin/env bash
# Checkpoints (SageMaker's CheckpointConfig) against a real `tandem up`: a job
# writes to /opt/ml/checkpoints, the control plane uploads it under the
# spec's checkpoint.key_prefix while the job runs, the job is stopped (the
# final sync uploads what it wrote on SIGTERM), and a second job with the
# same prefix finds it restored before its code starts. Then the native
# XGBoost trainer resumes from its checkpoint, and a prefix the caller's team
# does not own is refused (403) without creating a job.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
TRAINER=${2:-}
REPO=${3:-$(cd "$(dirname "$0")/../.." && pwd)}
require_built "$TANDEM" "$TRAINER"
WORK=$(mktemp -d /tmp/tandem-ckpt-e2e.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

# A bad sync interval is refused at start, naming the key.
mkdir -p "$WORK/badhome" "$WORK/home"
echo "compute: {checkpoint_sync_seconds: 0}" > "$WORK/badhome/tandem.yaml"
if BAD=$(timeout 20 "$TANDEM" up --home "$WORK/badhome" --port 0 2>&1); then
  fail "tandem up accepted checkpoint_sync_seconds: 0"
else
  expect_contains "$BAD" "compute.checkpoint_sync_seconds" "the bad interval is named"
fi
echo "compute: {checkpoint_sync_seconds: 1}" > "$WORK/home/tandem.yaml"
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

mkdir -p "$WORK/writer" "$WORK/reader"
cat > "$WORK/writer/train.sh" <<'SH'
#!/bin/sh
ck=/opt/ml/checkpoints
[ -n "${TANDEM_CHECKPOINT_DIR:-}" ] && ck=$TANDEM_CHECKPOINT_DIR
trap 'echo "saved on stop" > "$ck/last-words"; exit 143' TERM
echo "epoch 7" > "$ck/state"
echo "checkpoint written"
sleep 600 &
wait $!
SH
cat > "$WORK/reader/train.sh" <<'SH'
#!/bin/sh
set -e
echo "restored: $(cat "$TANDEM_CHECKPOINT_DIR/state") / $(cat "$TANDEM_CHECKPOINT_DIR/last-words")"
touch "$SM_MODEL_DIR/m"
SH
chmod +x "$WORK/writer/train.sh" "$WORK/reader/train.sh"
for j in writer reader; do
  cat > "$WORK/$j/job.yaml" <<YAML
name: ckpt-$j
team: e2e
entry_point: train.sh
source_dir: .
checkpoint: {key_prefix: teams/e2e/checkpoints/demo, local_path: /opt/ml/checkpoints}
YAML
done

WRITER=$("$TANDEM" jobs run -f "$WORK/writer/job.yaml" | tail -1)
[[ "$WRITER" =~ ^[0-9a-z]{26}$ ]] && pass || fail "run prints the job id, got '$WRITER'"
# Uploaded while the job runs (the control plane polls every second here).
SEEN=no
for _ in $(seq 1 300); do
  "$TANDEM" artifacts ls teams/e2e/checkpoints/demo/ 2>/dev/null | grep -q "demo/state" && {
    SEEN=yes
    break
  }
  sleep 0.1
done
[ "$SEEN" = yes ] && pass || fail "checkpoint not uploaded while the job runs"
STATE=$("$TANDEM" jobs get "$WRITER" -o yaml | grep "^state:" | cut -d" " -f2)
[ "$STATE" = Running ] && pass || fail "writer is '$STATE' after the upload, want Running"
expect_rc 0 "$TANDEM" jobs stop "$WRITER"
STATE=$(wait_job_end "$TANDEM" "$WRITER")
[ "$STATE" = Stopped ] && pass || fail "writer ended '$STATE', want Stopped"
expect_rc 0 "$TANDEM" artifacts get teams/e2e/checkpoints/demo/last-words -
expect_contains "$OUT" "saved on stop" "the final sync uploads what the job wrote on stop"

expect_rc 0 "$TANDEM" jobs run -f "$WORK/reader/job.yaml" --wait
expect_contains "$OUT" "Completed" "reader completes"
expect_contains "$OUT" "restored: epoch 7 / saved on stop" "the second job sees the checkpoint"

# The native trainer resumes: 3 rounds, then 6 with the same prefix.
if [ -n "$TRAINER" ] && [ -x "$TRAINER" ]; then
  mkdir -p "$WORK/xgb"
  cp "$REPO/examples/xgboost-native/train.sh" "$TRAINER" "$WORK/xgb/"
  for rounds in 3 6; do
    cat > "$WORK/xgb/job-$rounds.yaml" <<YAML
name: ckpt-xgb-$rounds
team: e2e
entry_point: train.sh
source_dir: .
hyperparameters: {num_round: $rounds, max_depth: 3, eval_metric: logloss, nthread: 1}
inputs: {train: $REPO/examples/data/train.csv, validation: $REPO/examples/data/validation.csv}
checkpoint: {key_prefix: teams/e2e/checkpoints/xgb}
YAML
  done
  expect_rc 0 "$TANDEM" jobs run -f "$WORK/xgb/job-3.yaml" --wait
  expect_contains "$OUT" "Completed" "3-round xgboost job completes"
  expect_rc 0 "$TANDEM" artifacts ls teams/e2e/checkpoints/xgb/
  expect_contains "$OUT" "xgboost-checkpoint.json" "the trainer's checkpoint is stored"
  expect_rc 0 "$TANDEM" jobs run -f "$WORK/xgb/job-6.yaml" --wait
  expect_contains "$OUT" "Completed" "6-round xgboost job completes"
  expect_contains "$OUT" "at round 3" "the 6-round job resumes from round 3"
  if echo "$OUT" | grep -q "^\[0\]"; then fail "the resumed job trained round 0 again"; else pass; fi
else
  fail "the trainer resume check needs tandem-train-xgboost (got '$TRAINER')"
fi

# A prefix the team does not own: 403 for a member of another team, no job.
"$TANDEM" teams create alpha >/dev/null && "$TANDEM" teams create beta >/dev/null
"$TANDEM" auth principals create mallory >/dev/null
"$TANDEM" teams add-member alpha mallory --role member >/dev/null
MTOKEN=$("$TANDEM" auth tokens create --principal mallory -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
[ -n "$MTOKEN" ] && pass || fail "token for mallory"
SPEC='{"name":"steal","team":"alpha","entry_point":"/bin/true","checkpoint":{"key_prefix":"teams/beta/checkpoints/x"}}'
CODE=$(command curl -s -o "$WORK/body" -w "%{http_code}" -H "Authorization: Bearer $MTOKEN" \
  -X POST -d "$SPEC" "$TANDEM_SERVER/api/v1/jobs")
[ "$CODE" = 403 ] && pass || fail "checkpoint prefix of another team: HTTP $CODE $(cat "$WORK/body")"
expect_contains "$(cat "$WORK/body")" "beta" "403 names the owning team"
SPEC='{"name":"own","team":"alpha","entry_point":"/bin/true","checkpoint":{"key_prefix":"teams/alpha/checkpoints/x"}}'
CODE=$(command curl -s -o "$WORK/body" -w "%{http_code}" -H "Authorization: Bearer $MTOKEN" \
  -X POST -d "$SPEC" "$TANDEM_SERVER/api/v1/jobs")
[ "$CODE" = 201 ] && pass || fail "checkpoint prefix of the own team: HTTP $CODE $(cat "$WORK/body")"
SPEC='{"name":"bad","entry_point":"/bin/true","checkpoint":{"key_prefix":"teams/alpha/../x"}}'
CODE=$(curl -s -o "$WORK/body" -w "%{http_code}" -X POST -d "$SPEC" "$TANDEM_SERVER/api/v1/jobs")
[ "$CODE" = 400 ] && pass || fail "bad checkpoint prefix: HTTP $CODE"
expect_contains "$(cat "$WORK/body")" "checkpoint.key_prefix" "400 names the field"
expect_rc 0 "$TANDEM" jobs list --name steal -o json
if echo "$OUT" | grep -q '"steal"'; then fail "the refused spec created a job"; else pass; fi

finish

#!/usr/bin/env bash
# `tandem up` on Slurm with `compute.shared_fs: false`, end to end through the
# CLI on the single-node cluster the ctest fixture starts: the node stages the
# job from the object store into its own directory (a different root from the
# control plane's home), runs it, returns model, output, failure file and log
# through the store; the control plane registers the model. A crashing job
# keeps its failure reason.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
if [ -z "${TANDEM_TEST_SLURM_DIR:-}" ] || [ ! -s "$TANDEM_TEST_SLURM_DIR/uri" ]; then
  echo "FAIL: no Slurm cluster: run through ctest (fixture server_slurm_start)" >&2
  exit 1
fi
URI=$(cat "$TANDEM_TEST_SLURM_DIR/uri")
CONF=${URI#*conf=}
WORK=$(dirname "$(dirname "$CONF")")/slurm-noshare-e2e-$$
mkdir -p "$WORK/home" "$WORK/node"
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
cat >"$WORK/home/tandem.yaml" <<YAML
compute: {substrate: slurm, conf: $CONF, grace_seconds: 2, shared_fs: false, node_dir: $WORK/node}
YAML
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start on Slurm"; exit 1; }

mkdir -p "$WORK/job/code"
printf '1,2\n3,4\n' >"$WORK/job/train.csv"
cat >"$WORK/job/code/train.sh" <<'SH'
#!/bin/sh
set -e
echo "model dir seen by the job: $SM_MODEL_DIR"
echo "loss=0.3"
cp "$SM_CHANNEL_TRAIN/train.csv" "$SM_MODEL_DIR/seen.csv"
SH
chmod 755 "$WORK/job/code/train.sh"
printf 'name: noshare\nentry_point: train.sh\nsource_dir: code\ninputs: {train: train.csv}\nmetric_definitions: [{name: loss, regex: "loss=([0-9.]+)"}]\nregister: {model: noshare-model, alias: champion}\n' \
  >"$WORK/job/job.yaml"
expect_rc 0 timeout 300 "$TANDEM" jobs run -f "$WORK/job/job.yaml" --wait
expect_contains "$OUT" "Completed" "a node-local job on Slurm completes"
ID=$("$TANDEM" jobs list --name noshare -o json | grep -o '"id": "[0-9a-z]*"' | head -1 | cut -d'"' -f4)
expect_rc 0 "$TANDEM" jobs get "$ID" -o json
expect_contains "$OUT" '"substrate": "slurm"' "ran on the Slurm substrate"
expect_contains "$OUT" '"name": "noshare-model",' "the control plane registered the node's model"
expect_rc 0 "$TANDEM" jobs logs "$ID"
expect_contains "$OUT" "loss=0.3" "the node's log came back"
expect_rc 0 "$TANDEM" jobs metrics "$ID" -o json
expect_contains "$OUT" "0.3" "metrics parsed from the returned log"
expect_rc 0 "$TANDEM" models get noshare-model@champion
expect_contains "$OUT" "noshare-model" "the version is there"
# The node cleaned its directory; nothing of it is under the control plane's home.
LEFT=$(find "$WORK/node" -mindepth 1 -maxdepth 1 -name "$ID-*" | wc -l)
expect_eq "$LEFT" 0 "the node removed its job directory"

# A crashing job keeps its failure reason (the failure file comes back).
cat >"$WORK/job/code/train.sh" <<'SH'
#!/bin/sh
echo "ValueError: depth must be positive" > "$SM_OUTPUT_DIR/failure"
exit 3
SH
printf 'name: crash\nentry_point: train.sh\nsource_dir: code\n' >"$WORK/job/crash.yaml"
CRASH=$("$TANDEM" jobs run -f "$WORK/job/crash.yaml" | tail -1)
STATE=$(wait_job_end "$TANDEM" "$CRASH")
expect_eq "$STATE" Failed "the crashing job fails"
expect_rc 0 "$TANDEM" jobs get "$CRASH" -o json
expect_contains "$OUT" "depth must be positive" "its failure reason is the job's failure file"
finish

#!/usr/bin/env bash
# `tandem up` with `compute.substrate: slurm` end to end, on the single-node
# Slurm cluster the ctest fixture starts (scripts/test-servers/slurm): a job
# runs through the CLI on Slurm, then the control plane is killed with -9
# while a Slurm job runs; the next control plane re-attaches to it (the Slurm
# job id is in the database), follows it to the end and keeps its log and
# metrics.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
if [ -z "${TANDEM_TEST_SLURM_DIR:-}" ] || [ ! -s "$TANDEM_TEST_SLURM_DIR/uri" ]; then
  echo "FAIL: no Slurm cluster: run through ctest (fixture server_slurm_start)" >&2
  exit 1
fi
URI=$(cat "$TANDEM_TEST_SLURM_DIR/uri")            # slurm://localhost?conf=<cluster>/slurm.conf
CONF=${URI#*conf=}
# The home must be on a filesystem the node sees: next to the cluster.
WORK=$(dirname "$(dirname "$CONF")")/slurm-e2e-$$
mkdir -p "$WORK/home"
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
cat >"$WORK/home/tandem.yaml" <<YAML
compute: {substrate: slurm, conf: $CONF, grace_seconds: 2}
YAML
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start on Slurm"; exit 1; }

# A job through the CLI runs on Slurm.
mkdir -p "$WORK/quick/code"
printf '#!/bin/sh\necho "on $SM_CURRENT_HOST loss=0.7"\necho w > "$SM_MODEL_DIR/w"\n' >"$WORK/quick/code/train.sh"
chmod 755 "$WORK/quick/code/train.sh"
printf 'name: quick\nentry_point: train.sh\nsource_dir: code\nmetric_definitions: [{name: loss, regex: "loss=([0-9.]+)"}]\n' \
  >"$WORK/quick/job.yaml"
expect_rc 0 timeout 300 "$TANDEM" jobs run -f "$WORK/quick/job.yaml" --wait
expect_contains "$OUT" "Completed" "job on Slurm completes"
QUICK=$("$TANDEM" jobs list --name quick -o json | grep -o '"id": "[0-9a-z]*"' | head -1 | cut -d'"' -f4)
expect_rc 0 "$TANDEM" jobs get "$QUICK" -o json
expect_contains "$OUT" '"substrate": "slurm"' "ran on the Slurm substrate"

# kill -9 of the control plane while a Slurm job runs.
mkdir -p "$WORK/slow/code"
printf '#!/bin/sh\necho "loss=1"\nsleep 8\necho "loss=0.5"\necho w > "$SM_MODEL_DIR/w"\n' >"$WORK/slow/code/train.sh"
chmod 755 "$WORK/slow/code/train.sh"
printf 'name: slow\nentry_point: train.sh\nsource_dir: code\nmetric_definitions: [{name: loss, regex: "loss=([0-9.]+)"}]\n' \
  >"$WORK/slow/job.yaml"
SLOW=$("$TANDEM" jobs run -f "$WORK/slow/job.yaml" | tail -1)
STATE=""; STARTED=no
for _ in $(seq 1 600); do
  STATE=$("$TANDEM" jobs get "$SLOW" -o yaml 2>/dev/null | grep "^state:" | cut -d" " -f2)
  if [ "$STATE" = Running ] && "$TANDEM" jobs logs "$SLOW" 2>/dev/null | grep -q "loss=1"; then
    STARTED=yes; break
  fi
  sleep 0.1
done
[ "$STARTED" = yes ] && pass || fail "job $SLOW never ran its code on Slurm (state '$STATE')"
expect_eq "$STATE" Running "job state at the kill -9"
kill -9 "$CP_PID"; wait "$CP_PID" 2>/dev/null; CP_PID=""
start_control_plane "$TANDEM" "$WORK/home" || { fail "control plane did not restart"; finish; exit 1; }
expect_rc 0 timeout 120 "$TANDEM" jobs logs "$SLOW" -f
expect_contains "$OUT" "loss=0.5" "the re-attached Slurm job's log is followed to its end"
STATE=$(wait_job_end "$TANDEM" "$SLOW")
expect_eq "$STATE" Completed "Slurm job after the control plane's kill -9"
expect_rc 0 "$TANDEM" jobs metrics "$SLOW" -o json
expect_contains "$OUT" "0.5" "metrics survive the restart"
finish

#!/usr/bin/env bash
# Issue 16 goal 1: POST /api/v1/jobs -> first line of user code, sandboxed,
# through the REST API of a running `tandem up`, idle and while trivial jobs
# are also submitted through REST at LOAD-RATE per second; this build side by
# side with a baseline build, alternated (baseline, this build) ROUNDS times
# in one run. Each run starts a fresh `tandem up --port 0` in a temp home and
# drives it with this build's jobs_rest_bench --cold-start (the client is the
# same for both: only the control plane differs).
#
# BASE is a copy of another build's control plane, not under /tmp (a
# sandboxed job has its own /tmp), e.g. main's:
#   mkdir -p /var/tmp/cold-base/bin /var/tmp/cold-base/libexec/tandem
#   cp ../main/build/bin/tandem /var/tmp/cold-base/bin/
#   cp ../main/build/libexec/tandem/* /var/tmp/cold-base/libexec/tandem/
# Prints the load average and the CPU-seconds each run used.
#
# Usage: bench/compute/rest_cold.sh BASE [build] [rounds=2] [runs=40] [load-rate=50]
#   BASE "-": this build only.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cli/lib.sh
BASE=${1:?usage: rest_cold.sh BASE [build] [rounds] [runs] [load-rate]}
BUILD=${2:-build}
ROUNDS=${3:-2}
RUNS=${4:-40}
RATE=${5:-50}

REST=$BUILD/bench/compute/jobs_rest_bench
FIRST=$BUILD/bench/compute/compute_bench_first_line
BASE_BIN=$BASE/bin/tandem
[ "$BASE" = - ] && BASE_BIN=$BUILD/bin/tandem
for b in "$REST" "$FIRST" "$BUILD/bin/tandem" "$BASE_BIN"; do
  [ -x "$b" ] || { echo "rest_cold.sh: $b not built (ninja -C $BUILD jobs_rest_bench compute_bench_first_line tandem tandem-job-runner)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rest-cold.XXXXXX")
CP_PID=""
trap '[ -n "$CP_PID" ] && kill -TERM "$CP_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/cold" "$WORK/load"
cp "$FIRST" "$WORK/cold/first_line"
printf '#!/bin/sh\nexec ./first_line\n' > "$WORK/cold/train.sh"
printf '#!/bin/sh\necho done\n' > "$WORK/load/train.sh"
chmod +x "$WORK/cold/train.sh" "$WORK/load/train.sh"

# run LABEL TANDEM_BIN: one cold-start run on a fresh control plane.
run() {
  local label=$1 bin=$2 home
  home=$(mktemp -d "$WORK/home.XXXXXX")
  printf 'security:\n  allowed_local_paths: [%s, %s]\n' "$WORK/cold" "$WORK/load" > "$home/tandem.yaml"
  start_control_plane "$bin" "$home" || exit 1  # tests/cli/lib.sh: CP_PID, TANDEM_SERVER, TANDEM_TOKEN
  "$REST" --server "$TANDEM_SERVER" --token "$TANDEM_TOKEN" --cold-start "$RUNS" \
    --first-line-dir "$WORK/cold" --source-dir "$WORK/load" --load-rate "$RATE" \
    --pid "$CP_PID" --label "$label" || echo "| $label | FAILED (see above) | | | |"
  kill -TERM "$CP_PID"; wait "$CP_PID" 2>/dev/null || true; CP_PID=""
  [ -n "${REST_COLD_KEEP_LOGS:-}" ] && cp "$home.log" "${REST_COLD_KEEP_LOGS}.$(basename "$home").log"
  rm -rf "$home" "$home.log"
}

echo "rest_cold.sh: $RUNS cold jobs idle and $RUNS under $RATE jobs/s, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| control plane | when | path | p50 ms | p95 ms |"
echo "|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  [ "$BASE" != - ] && run "baseline (round $round)" "$BASE/bin/tandem"
  run "this build (round $round)" "$BUILD/bin/tandem"
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Trivial-job throughput through the REST API of a running `tandem up`, side by
# side with the in-process job service, for this build and (optionally) a
# baseline build, alternated ROUNDS times in one run.
#
# Usage: bench/compute/rest_run.sh [build-dir] [jobs=200] [rounds=2] [baseline-prefix]
#   baseline-prefix: a directory holding bin/tandem, libexec/tandem/tandem-job-runner
#   and bin/compute_bench of the build to compare with (e.g. main's); omitted: this build only.
# Each round and build starts a fresh `tandem up --port 0` in a temp home,
# submits the jobs with jobs_rest_bench (8 client threads, resources.cpus 0.1:
# 20 at a time on 2 CPUs), stops it, then runs `compute_bench --only throughput`
# (the same JobService in-process; its first row is the comparable one).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cli/lib.sh
BUILD=${1:-build}
JOBS=${2:-200}
ROUNDS=${3:-2}
BASELINE=${4:-}

REST=$BUILD/bench/compute/jobs_rest_bench
[ -x "$REST" ] || { echo "rest_run.sh: $REST not built (ninja -C $BUILD jobs_rest_bench compute_bench tandem tandem-job-runner)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jobs-rest-bench.XXXXXX")
CP_PID=""
trap '[ -n "$CP_PID" ] && kill -TERM "$CP_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src"
printf '#!/bin/sh\necho done\n' > "$WORK/src/train.sh"
chmod +x "$WORK/src/train.sh"

# rest LABEL TANDEM_BIN: one REST run on a fresh control plane.
rest() {
  local label=$1 bin=$2 home
  home=$(mktemp -d "$WORK/home.XXXXXX")
  # The specs name the source directory by its path, as the in-process bench
  # does (the CLI would upload it to the store instead).
  printf 'security:\n  allowed_local_paths: [%s]\n' "$WORK/src" > "$home/tandem.yaml"
  start_control_plane "$bin" "$home" || exit 1  # tests/cli/lib.sh: CP_PID, TANDEM_SERVER, TANDEM_TOKEN
  "$REST" --server "$TANDEM_SERVER" --token "$TANDEM_TOKEN" --source-dir "$WORK/src" \
    --jobs "$JOBS" --pid "$CP_PID" --label "$label" || true
  kill -TERM "$CP_PID"; wait "$CP_PID" 2>/dev/null || true; CP_PID=""
  rm -rf "$home" "$home.log"
}

# inproc LABEL COMPUTE_BENCH: the in-process row (resources.cpus 0.1) only.
inproc() {
  "$2" --only throughput --jobs "$JOBS" --dir "$WORK" 2>/dev/null |
    grep "resources.cpus 0.1" | sed "s/^| tandem job service/| $1: in-process JobService/"
}

# How fast this machine is right now: seconds for a fixed pure-CPU loop. On a
# shared VM the host's load changes it by a third over minutes, and the jobs/s
# and control-plane CPU/job rows move with it (more than it: their work is
# syscalls, page faults and fsync, not one core's arithmetic).
cpu_loop() {
  python3 -c 'import time
t = time.process_time(); s = 0
for i in range(5000000): s += i
print("%.2f" % (time.process_time() - t))'
}

echo "jobs_rest_bench: $JOBS trivial jobs at once, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | jobs | submit s | total s | jobs/s | not Completed in attempt 1 | control-plane CPU/job | load average |"
echo "|---|---|---|---|---|---|---|---|"
SPEED=()
for round in $(seq 1 "$ROUNDS"); do
  SPEED+=("$(cpu_loop)")
  rest "this build (round $round)" "$BUILD/bin/tandem"
  [ -n "$BASELINE" ] && rest "baseline (round $round)" "$BASELINE/bin/tandem"
done
echo
echo "| system | concurrency | seconds | jobs/s | failed |"
echo "|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  inproc "this build (round $round)" "$BUILD/bench/compute/compute_bench"
  [ -n "$BASELINE" ] && inproc "baseline (round $round)" "$BASELINE/bin/compute_bench"
done
echo
echo "fixed CPU loop before each round, CPU s (about 0.5 on this VM's quiet host): ${SPEED[*]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

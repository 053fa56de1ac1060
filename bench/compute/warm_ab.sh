#!/usr/bin/env bash
# Warm sandboxes (issue 16, goals 1 and 3) side by side with a baseline build
# in one run: compute_bench's cold start (with --load-rate background jobs/s)
# and the 1-second-job overhead, alternated baseline, this build, baseline,
# this build (`rounds` times each). The baseline is a copy of another build's binaries under
# BASE (BASE/bin/{compute_bench,compute_bench_first_line,tandem-train-xgboost},
# not under /tmp: a sandboxed job has its own /tmp and could not run the trainer;
# BASE/libexec/tandem/*), e.g. main's:
#   mkdir -p /var/tmp/cs-base/bin /var/tmp/cs-base/libexec/tandem
#   cp ../main/build/bench/compute/compute_bench{,_first_line} ../main/build/bin/tandem-train-xgboost /var/tmp/cs-base/bin/
#   cp ../main/build/libexec/tandem/* /var/tmp/cs-base/libexec/tandem/
# Prints the load average and the CPU-seconds each run used (its own and its
# reaped children's).
#
# Usage: bench/compute/warm_ab.sh BASE [build] [rounds=2] [runs=20] [load-rate=50] [overhead-rounds=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:?usage: warm_ab.sh BASE [build] [rounds] [runs] [load-rate] [overhead-rounds]}
BUILD=${2:-build}
ROUNDS=${3:-2}
RUNS=${4:-20}
RATE=${5:-50}
OVERHEAD_ROUNDS=${6:-5}
ONLY=${WARM_AB_ONLY:-}  # cold-start or overhead: just that part

run() {  # label bench first_line trainer args...
  local label=$1 bench=$2 first=$3 trainer=$4
  shift 4
  echo "=== $label: $(cat /proc/loadavg | cut -d' ' -f1-3) (load before)"
  /usr/bin/time -f "=== $label: %U s user + %S s system CPU (bench and reaped children), %e s wall" \
    "$bench" --first-line "$first" --trainer "$trainer" --examples examples "$@"
  echo "=== $label: $(cat /proc/loadavg | cut -d' ' -f1-3) (load after)"
}

for ((r = 1; r <= ROUNDS; r++)); do
  if [ -z "$ONLY" ] || [ "$ONLY" = cold-start ]; then
    run "baseline cold start, round $r" "$BASE/bin/compute_bench" "$BASE/bin/compute_bench_first_line" \
      "$BASE/bin/tandem-train-xgboost" --only cold-start --runs "$RUNS" --load-rate "$RATE"
    run "this build cold start, round $r" "$BUILD/bench/compute/compute_bench" \
      "$BUILD/bench/compute/compute_bench_first_line" "$BUILD/bin/tandem-train-xgboost" \
      --only cold-start --runs "$RUNS" --load-rate "$RATE"
  fi
  # The 1-second job's overhead, alternated the same way (each run its own
  # direct runs and jobs, interleaved, medians).
  if [ -z "$ONLY" ] || [ "$ONLY" = overhead ]; then
    run "baseline overhead, round $r" "$BASE/bin/compute_bench" \
      "$BASE/bin/compute_bench_first_line" "$BASE/bin/tandem-train-xgboost" \
      --only overhead --rounds "$OVERHEAD_ROUNDS"
    run "this build overhead, round $r" "$BUILD/bench/compute/compute_bench" \
      "$BUILD/bench/compute/compute_bench_first_line" "$BUILD/bin/tandem-train-xgboost" \
      --only overhead --rounds "$OVERHEAD_ROUNDS"
  fi
done

#!/usr/bin/env bash
# The compute tier's benchmarks side by side with Slurm, in one run: starts a
# single-node Slurm cluster under a temp dir (scripts/slurm-local), runs
# compute_bench (cold start, overhead, throughput) and stops the cluster.
#
# Usage: bench/compute/run.sh [build-dir] [runs] [rounds] [jobs]
#   defaults: build, 50 cold-start runs, 5 overhead rounds, 200 jobs.
# Without slurmctld on PATH (apt-get install slurm-wlm munge) the Slurm rows are
# skipped. Set COMPUTE_BENCH_ONLY=cold-start|overhead|throughput for one part.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RUNS=${2:-50}
ROUNDS=${3:-5}
JOBS=${4:-200}

BENCH=$BUILD/bench/compute/compute_bench
TRAINER=$BUILD/bin/tandem-train-xgboost
[ -x "$BENCH" ] || { echo "run.sh: $BENCH not built (ninja -C $BUILD compute_bench compute_bench_first_line tandem-train-xgboost)" >&2; exit 1; }

ARGS=(--runs "$RUNS" --rounds "$ROUNDS" --jobs "$JOBS" --trainer "$TRAINER" --examples examples)
[ -n "${COMPUTE_BENCH_ONLY:-}" ] && ARGS+=(--only "$COMPUTE_BENCH_ONLY")

if command -v slurmctld >/dev/null && [ "$(id -u)" -eq 0 ]; then
  SLURM_DIR=$(mktemp -d /tmp/compute-bench-slurm.XXXXXX)
  trap 'scripts/slurm-local stop "$SLURM_DIR" 2>/dev/null; rm -rf "$SLURM_DIR"' EXIT
  eval "$(scripts/slurm-local start "$SLURM_DIR")"
  ARGS+=(--slurm-conf "$SLURM_CONF")
  echo "Slurm $(sinfo --version | awk '{print $2}'): single node on loopback ($SLURM_DIR)"
else
  echo "run.sh: slurmctld not found or not root: Slurm rows skipped" >&2
fi
"$BENCH" "${ARGS[@]}"

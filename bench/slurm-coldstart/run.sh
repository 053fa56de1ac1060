#!/usr/bin/env bash
# Job cold start and end-to-end time on the Slurm substrate vs the local
# substrate, side by side in one run: starts a single-node Slurm cluster under
# a temp dir (scripts/slurm-local), runs slurm_coldstart_bench, stops it.
#
# Usage: bench/slurm-coldstart/run.sh [build-dir] [runs]   (defaults: build, 20)
# Needs root and slurm-wlm + munge (scripts/bootstrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RUNS=${2:-20}
BENCH=$BUILD/bench/slurm-coldstart/slurm_coldstart_bench
[ -x "$BENCH" ] || { echo "run.sh: $BENCH not built (ninja -C $BUILD slurm_coldstart_bench)" >&2; exit 1; }
SLURM_DIR=$(mktemp -d /tmp/slurm-coldstart.XXXXXX)
trap 'scripts/slurm-local stop "$SLURM_DIR" 2>/dev/null; rm -rf "$SLURM_DIR"' EXIT
eval "$(scripts/slurm-local start "$SLURM_DIR")"
echo "Slurm $(sinfo --version | awk '{print $2}'), single node on loopback; $(nproc) CPUs; $(date -u +%FT%TZ)"
"$BENCH" --slurm-conf "$SLURM_CONF" --runs "$RUNS" --dir /var/tmp

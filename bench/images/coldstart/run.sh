#!/usr/bin/env bash
# Job cold start from a cached image vs the host environment (both sandboxed).
# Usage: bench/images/coldstart/run.sh BUILD_DIR [RUNS]
# Runs the tiny shell image and the Python base image of
# examples/images/python-base.sh (built once, cached in BUILD_DIR/image-cache).
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-30}
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
ninja -C "$BUILD" images_coldstart_bench tandem tandem-job-runner >/dev/null
BENCH="$BUILD/bench/images/coldstart/images_coldstart_bench"
echo "## tiny image (dash + libc, 1 layer)"
"$BENCH" --runs "$RUNS"
PY=$("$REPO/examples/images/python-base.sh" "$BUILD/bin/tandem" "$BUILD/image-cache" minimal)
echo "## Python base image ($PY)"
"$BENCH" --runs "$RUNS" --layout "$PY"

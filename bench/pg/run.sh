#!/usr/bin/env bash
# Builds pg_bench, starts a throwaway PostgreSQL on loopback
# (scripts/test-servers/postgres), runs the side-by-side comparison with
# SQLite, and stops the server.
#
#   bench/pg/run.sh [BUILD_DIR] [pg_bench flags...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
shift || true
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" pg_bench >/dev/null
DIR=$(mktemp -d /tmp/tandem-pg-bench-XXXXXX)
trap '"$ROOT/scripts/test-servers/postgres" stop "$DIR" >/dev/null; rm -rf "$DIR"' EXIT
"$ROOT/scripts/test-servers/postgres" start "$DIR" >/dev/null
"$BUILD/bench/pg/pg_bench" --pg "$(cat "$DIR/uri")" "$@"

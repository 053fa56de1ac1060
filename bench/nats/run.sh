#!/usr/bin/env bash
# Starts a throwaway nats-server (JetStream, loopback), runs bus_bench
# against it and the embedded SQLite bus side by side, stops the server.
#   bench/nats/run.sh [BUILD_DIR] [bus_bench flags...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
shift || true
DIR=$(mktemp -d /tmp/tandem-nats-bench-XXXXXX)
trap '"$ROOT/scripts/test-servers/nats" stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
"$ROOT/scripts/test-servers/nats" start "$DIR" >/dev/null
# A build tree from before bus_bench took --nats (a baseline) has nats_bench.
BENCH=$BUILD/bench/bus/bus_bench
grep -qa -- '--nats' "$BENCH" 2>/dev/null || BENCH=$BUILD/bench/nats/nats_bench
"$BENCH" --nats "$(cat "$DIR/uri")" --server-pid "$(cat "$DIR/pid")" "$@"

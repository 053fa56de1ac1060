#!/usr/bin/env bash
# Builds pg_bench, starts a throwaway PostgreSQL on loopback
# (scripts/test-servers/postgres), runs the side-by-side comparison with
# SQLite, then PostgreSQL's own client (pgbench) sending the statements of a
# version creation (pgbench_create_version.sql) with the same client counts,
# and stops the server.
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
URI=$(cat "$DIR/uri")
"$BUILD/bench/pg/pg_bench" --pg "$URI" "$@"

echo
echo "## pgbench: the statements of a version creation, one round trip each (pgbench_create_version.sql, as before) and in three pipelined round trips (pgbench_create_version_pipelined.sql, as now)"
echo
echo "| clients | models | 8 round trips, tps | 3 round trips, tps |"
echo "|---:|---|---:|---:|"
pgbench_tps() {  # clients models script
  psql -q "$URI" -f "$ROOT/bench/pg/pgbench_setup.sql" 2>/dev/null
  pgbench -n -M prepared -c "$1" -j 2 -t $((2000 / $1)) -D models="$2" \
    -f "$ROOT/bench/pg/$3" "$URI" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
for clients in 4 16; do
  for models in 1 100; do
    before=$(pgbench_tps "$clients" "$models" pgbench_create_version.sql)
    now=$(pgbench_tps "$clients" "$models" pgbench_create_version_pipelined.sql)
    printf '| %d | %s | %.0f | %.0f |\n' "$clients" "$([ "$models" = 1 ] && echo "one shared" || echo "one per client")" "$before" "$now"
  done
done

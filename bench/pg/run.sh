#!/usr/bin/env bash
# Builds pg_bench, starts a throwaway PostgreSQL on loopback
# (scripts/test-servers/postgres), runs the side-by-side comparison with
# SQLite, then PostgreSQL's own client (pgbench) sending the statements of a
# version creation (pgbench_create_version.sql) with the same client counts,
# and stops the server.
#
#   bench/pg/run.sh [BUILD_DIR] [pg_bench flags...]
#
# BASELINE_BIN=/path/to/other/pg_bench also runs that binary (main's build,
# say) first against the same server; PG_SYNCHRONOUS_COMMIT=off restores the
# server's former setting; ROUNDS=N alternates the two N times; PGBENCH=0
# skips pgbench. `--only rest4one,lib4one` (pg_bench's flag) runs only those
# cells.
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
# Durability as SQLite's (WAL, synchronous=NORMAL): a commit is written to
# the OS before it is acknowledged, neither side fsyncs (the server runs with
# fsync=off). synchronous_commit=off would acknowledge before the write.
# A role setting: the server's command line (synchronous_commit=off) would
# override ALTER SYSTEM; every session of the role gets this one.
psql -q "$URI" -c "ALTER ROLE CURRENT_USER SET synchronous_commit = ${PG_SYNCHRONOUS_COMMIT:-on}" >/dev/null
SERVER_PID=$(head -1 "$(cat "$DIR/datadir")/db/postmaster.pid" 2>/dev/null || echo 0)
echo "PostgreSQL: synchronous_commit=$(psql -qtA "$URI" -c 'SHOW synchronous_commit'), fsync=$(psql -qtA "$URI" -c 'SHOW fsync'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
ORIG_ARGS=("$@")
base_args=()
if [ -n "${BASELINE_BIN:-}" ]; then
  # Older builds know no --repeat (nor --only, --server-pid): left out for
  # those (the usage message names the flags a build knows).
  usage=$("$BASELINE_BIN" 2>&1 || true)
  knows() { grep -c -- "$1" <<<"$usage" || true; }
  while [ $# -gt 0 ]; do
    if [ "$(knows "$1")" = 0 ] && [[ "$1" =~ ^--(repeat|only)$ ]]; then shift 2; continue; fi
    base_args+=("$1"); shift
  done
  set -- "${ORIG_ARGS[@]}"
  [ "$(knows --server-pid)" = 0 ] || base_args+=(--server-pid "$SERVER_PID")
fi
# ROUNDS=N alternates the baseline and this build N times (default 1).
for round in $(seq "${ROUNDS:-1}"); do
  if [ -n "${BASELINE_BIN:-}" ]; then
    # Another build's pg_bench (main's, say) first, on the same server.
    echo "# round $round, baseline: $BASELINE_BIN"
    echo
    "$BASELINE_BIN" --pg "$URI" "${base_args[@]}" || true
    echo
  fi
  echo "# round $round, this build: $BUILD/bench/pg/pg_bench"
  echo
  "$BUILD/bench/pg/pg_bench" --pg "$URI" --server-pid "$SERVER_PID" "$@"
  echo
done
# PGBENCH=0 skips PostgreSQL's own client (below).
[ "${PGBENCH:-1}" = 0 ] && exit 0

echo
echo "## pgbench: the statements of a version creation, one round trip each (pgbench_create_version.sql, as before), in three pipelined round trips (pgbench_create_version_pipelined.sql; tandem sends two when it reads the counter and the rules) and in one (pgbench_create_version_one_trip.sql: what tandem sends when it knows the model's last version and the rules)"
echo
echo "| clients | models | 8 round trips, tps | 3 round trips, tps | 1 round trip, tps |"
echo "|---:|---|---:|---:|---:|"
pgbench_tps() {  # clients models script
  psql -q "$URI" -f "$ROOT/bench/pg/pgbench_setup.sql" 2>/dev/null
  pgbench -n -M prepared -c "$1" -j 2 -t $((2000 / $1)) -D models="$2" \
    -f "$ROOT/bench/pg/$3" "$URI" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
for clients in 4 16; do
  for models in 1 100; do
    before=$(pgbench_tps "$clients" "$models" pgbench_create_version.sql)
    now=$(pgbench_tps "$clients" "$models" pgbench_create_version_pipelined.sql)
    one=$(pgbench_tps "$clients" "$models" pgbench_create_version_one_trip.sql)
    printf '| %d | %s | %.0f | %.0f | %.0f |\n' "$clients" "$([ "$models" = 1 ] && echo "one shared" || echo "one per client")" "$before" "$now" "$one"
  done
done

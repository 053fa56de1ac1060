# Shared helpers for shell end-to-end tests: a control plane per test run on
# a free port with a fresh home, assertions that name what failed.
set -uo pipefail

FAILURES=0
PASSES=0

fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { PASSES=$((PASSES + 1)); }

# expect_rc WANT CMD...: runs CMD, checks its exit code, keeps its output in $OUT.
expect_rc() {
  local want=$1; shift
  OUT=$("$@" 2>&1); local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "'$*' exited $rc, want $want: $OUT"; else pass; fi
}

# expect_contains TEXT NEEDLE DESCRIPTION
expect_contains() {
  if [[ "$1" == *"$2"* ]]; then pass; else fail "$3: '$2' not in: $1"; fi
}

# expect_eq GOT WANT DESCRIPTION: exact comparison (a value, not a substring).
expect_eq() {
  if [ "$1" = "$2" ]; then pass; else fail "$3: got '$1', want '$2'"; fi
}

# require_built FILE...: ends the test (exit 1) unless every FILE, a program
# or plugin the test was handed ($<TARGET_FILE:...> in its CMakeLists), is
# built. ctest does not build what a test runs: after `ninja <some targets>`
# the rest are missing, and the test would fail later on "No such file".
# Names the ninja target to build (the file's name without lib/.so) in the
# build tree that holds it. Empty arguments (optional programs) are skipped.
require_built() {
  local f missing=0 dir target
  for f in "$@"; do
    [ -n "$f" ] || continue
    [ -e "$f" ] && continue
    dir=$(dirname "$f")
    while [ "$dir" != / ] && [ ! -f "$dir/build.ninja" ]; do dir=$(dirname "$dir"); done
    [ -f "$dir/build.ninja" ] || dir="<build directory>"
    target=$(basename "$f")
    target=${target%.so}
    [[ "$f" == *.so ]] && target=${target#lib}
    echo "NOT BUILT: $f does not exist; build it first: ninja -C $dir $target" \
         "(or build everything: ninja -C $dir)" >&2
    missing=1
  done
  [ "$missing" -eq 0 ] || exit 1
}

# metric_value TEXT SERIES: the value of one Prometheus sample (SERIES is the
# name with its labels exactly as exposed, e.g. 'x_total{model="m"}'); "" if absent.
metric_value() {
  awk -v series="$2" '$1 == series { print $2; exit }' <<<"$1"
}

# kill_replicas HOME: SIGKILLs the fleet replicas a test's control plane
# started (their pids are in HOME/deployments/*/replica-*.state).
kill_replicas() {
  local f
  for f in "$1"/deployments/*/replica-*.state; do
    [ -f "$f" ] && kill -KILL "$(grep -o '"pid":[0-9]*' "$f" | cut -d: -f2)" 2>/dev/null
  done
}

# start_with_churn_model TANDEM_BIN MAKE_MODEL WORK: writes a small XGBoost
# model to WORK/m1, starts a control plane on WORK/home and registers the
# model as churn@champion (the fleet tests' starting point); exits on failure.
start_with_churn_model() {
  "$2" "$3/m1" 1 10 || { echo "cannot write the model"; exit 1; }
  start_control_plane "$1" "$3/home" || { echo "control plane did not start"; exit 1; }
  expect_rc 0 "$1" models register churn "$3/m1" --alias champion
}

# wait_job_end TANDEM_BIN JOB_ID: polls (up to 60 s) until the job is
# Completed, Failed or Stopped; prints the last state seen.
wait_job_end() {
  local state=""
  for _ in $(seq 1 600); do
    state=$("$1" jobs get "$2" -o yaml 2>/dev/null | grep "^state:" | cut -d" " -f2)
    [[ "$state" == Completed || "$state" == Failed || "$state" == Stopped ]] && break
    sleep 0.1
  done
  echo "$state"
}

# start_control_plane TANDEM_BIN HOME: starts `tandem up --port 0`, sets
# TANDEM_SERVER and CP_PID once it prints its address, and TANDEM_TOKEN to the
# admin token `tandem up` wrote in HOME (every API call is authenticated: the
# CLI reads TANDEM_TOKEN, and curl below sends it).
start_control_plane() {
  local bin=$1 home=$2
  require_built "$bin"
  local log="$home.log"
  # A restart must not read the previous run's address: the background
  # shell truncates the file only when it gets to run.
  rm -f "$log"
  "$bin" up --home "$home" --port 0 >"$log" 2>&1 &
  CP_PID=$!
  for _ in $(seq 1 200); do
    if grep -q "control plane on http://" "$log" 2>/dev/null; then
      # The address line itself: earlier lines may carry other URLs (an S3 endpoint).
      TANDEM_SERVER=$(grep -o "control plane on http://[0-9.:]*" "$log" | head -1 | grep -o "http://.*")
      # Only the first control plane on a database writes one.
      TANDEM_TOKEN=$(cat "$home/admin-token" 2>/dev/null)
      export TANDEM_SERVER TANDEM_TOKEN
      return 0
    fi
    if ! kill -0 "$CP_PID" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.05
  done
  cat "$log" >&2
  return 1
}

# curl with the admin token (tests that must go without one: `command curl`).
curl() {
  if [ -n "${TANDEM_TOKEN:-}" ]; then
    command curl -H "Authorization: Bearer $TANDEM_TOKEN" "$@"
  else
    command curl "$@"
  fi
}

stop_control_plane() {
  [ -n "${CP_PID:-}" ] && kill -TERM "$CP_PID" 2>/dev/null && wait "$CP_PID" 2>/dev/null
  CP_PID=""
}

finish() {
  echo "$PASSES passed, $FAILURES failed"
  [ "$FAILURES" -eq 0 ]
}

# A tandem-loadgen report (JSON file $1) with at least 500 responses and no
# non-2xx, connection or I/O errors passes; otherwise fails with "$2: report".
expect_clean_load() {
  local report
  report=$(cat "$1")
  echo "load: $report"
  python3 - "$report" <<'PY' && pass || fail "$2: $report"
import json, sys
r = json.loads(sys.argv[1])
problems = []
if r["responses"] < 500: problems.append(f"only {r['responses']} responses: the load did not run")
for k in ("non_2xx", "connect_errors", "io_errors"):
    if r[k] != 0: problems.append(f"{k} = {r[k]}")
if r["ok"] != r["requests"]: problems.append(f"{r['ok']} ok of {r['requests']} requests")
print("; ".join(problems) or "no client-visible errors")
sys.exit(1 if problems else 0)
PY
}

#!/usr/bin/env bash
# The launch-intent gap, on the real local substrate: control plane A dies
# (kill -9, injected with TANDEM_FAULT=after-submit) right after the
# substrate's Submit started a job's runner and before the Running
# transition recorded it. Control plane B, on the same SQLite database and
# host, adopts the job at once (A's liveness lock is free) and re-attaches to
# that runner: the job's code starts exactly once and the job Completes with
# one attempt. Without the launch intent, B would launch the attempt again.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
LEASE=30  # long on purpose: the takeover must not wait for the lease

WORK=$(mktemp -d /tmp/tandem-launch-fault.XXXXXX)
A_PID="" B_PID=""
cleanup() {
  for p in $A_PID $B_PID; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  touch "$WORK/release"
  sleep 0.3
  rm -rf "$WORK"
}
trap cleanup EXIT

for cp in a b; do
  mkdir -p "$WORK/$cp"
  cat >"$WORK/$cp/tandem.yaml" <<YAML
database: sqlite://$WORK/shared.db
store: file://$WORK/store
compute: {lease_seconds: $LEASE, cpus: 4, sandbox: "off"}
YAML
done
mkdir -p "$WORK/code" "$WORK/out"
cat >"$WORK/code/train.sh" <<SH
#!/bin/sh
echo "start \$\$" >> "$WORK/out/runs"
while [ ! -f "$WORK/release" ] && [ -d "$WORK/out" ]; do sleep 0.1; done
echo "done" >> "$WORK/out/runs"
SH
chmod +x "$WORK/code/train.sh"
printf 'name: half-launched\nteam: ha\nentry_point: train.sh\nsource_dir: code\nresources: {cpus: 1}\n' \
  >"$WORK/job.yaml"

# A, with the fault armed: its first launch kills it after Submit.
TANDEM_FAULT=after-submit start_control_plane "$TANDEM" "$WORK/a" ||
  { echo "FAIL: A did not start"; exit 1; }
A_PID=$CP_PID
cd "$WORK"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/job.yaml" -o json
JOB=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$OUT")
for _ in $(seq 1 300); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$A_PID" 2>/dev/null; then fail "A did not hit the fault point"; finish; exit 1; fi
wait "$A_PID" 2>/dev/null
expect_eq "$?" "137" "A's exit status (SIGKILL at the fault point)"
A_PID=""
# What A left: the job Starting (claimed) with no handle recorded.
LEFT=$(python3 -c 'import sqlite3,sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT state, handle FROM compute_jobs WHERE id = ?", (sys.argv[2],)).fetchone()
print(r[0], r[1] or "-")' "$WORK/shared.db" "$JOB")
expect_eq "$LEFT" "Starting -" "the job as A left it"
# The runner A started is alive and ran the code once.
for _ in $(seq 1 100); do [ -s "$WORK/out/runs" ] && break; sleep 0.05; done
expect_eq "$(grep -c '^start' "$WORK/out/runs" 2>/dev/null)" "1" "starts after A died"

# B starts: it finds A dead (liveness lock free) and the launch A left.
B_STARTED=$(date +%s.%N)
start_control_plane "$TANDEM" "$WORK/b" || { fail "B did not start"; exit 1; }
B_PID=$CP_PID
export TANDEM_TOKEN=$(cat "$WORK/a/admin-token")
job_field() { "$TANDEM" jobs get "$JOB" -o json | python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('$1', ''))"; }
for _ in $(seq 1 200); do [ "$(job_field state)" = Running ] && break; sleep 0.05; done
ADOPTED=$(python3 -c "import time; print(round(time.time() - $B_STARTED, 2))")
expect_eq "$(job_field state)" "Running" "state after B's takeover"
echo "B re-attached to the half-launched job ${ADOPTED}s after starting (lease ${LEASE}s)"
python3 -c "import sys; sys.exit(0 if $ADOPTED < $LEASE else 1)" && pass ||
  fail "took ${ADOPTED}s: waited for the lease instead of the liveness lock"

touch "$WORK/release"
for _ in $(seq 1 200); do [ "$(job_field state)" = Completed ] && break; sleep 0.05; done
expect_eq "$(job_field state)" "Completed" "final state"
expect_eq "$(job_field attempt)" "1" "attempt"
expect_eq "$(grep -c '^start' "$WORK/out/runs")" "1" "times the code started"
expect_eq "$(grep -c '^done' "$WORK/out/runs")" "1" "times the code ended"
finish

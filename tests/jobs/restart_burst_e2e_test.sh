#!/usr/bin/env bash
# Restart safety at the job service's full rate: N short jobs submitted at once
# through POST /api/v1/jobs of a real `tandem up`; once a quarter of them have
# ended (the others Pending, being claimed and staged, Running, being
# finalized) the control plane is killed with SIGKILL and started again on the
# same home. Every job must end Completed in its first attempt (nothing lost),
# and every job's user code must have run exactly once (nothing run twice): a
# job reports its name to a TCP listener of this test as its first line.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
JOBS=${2:-200}
WORK=$(mktemp -d /tmp/tandem-restart-burst.XXXXXX)
LISTENER_PID=""
trap 'stop_control_plane; [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# The listener: one line per connection, appended to $WORK/ran.
python3 - "$WORK" <<'PY' &
import socket, sys, threading
work = sys.argv[1]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(512)
open(work + "/port.tmp", "w").write(str(srv.getsockname()[1]))
import os
os.rename(work + "/port.tmp", work + "/port")
lock = threading.Lock()
def serve(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(256)
        if not chunk:
            break
        data += chunk
    conn.close()
    with lock, open(work + "/ran", "a") as f:
        f.write(data.decode(errors="replace").strip() + "\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
LISTENER_PID=$!
for _ in $(seq 1 100); do [ -f "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "listener did not start"; exit 1; }

# The job: reports its name, stays a little, ends. bash for /dev/tcp.
mkdir -p "$WORK/src" "$WORK/home"
cat > "$WORK/src/train.sh" <<SH
#!/bin/bash
# A connection refused under load is tried again (no line was sent then).
for i in \$(seq 1 50); do
  echo "\$TRAINING_JOB_NAME" 2>/dev/null >/dev/tcp/127.0.0.1/$PORT && break
  [ "\$i" = 50 ] && { echo "cannot report to the test's listener" >&2; exit 1; }
  sleep 0.1
done
sleep 0.3
echo done
SH
chmod +x "$WORK/src/train.sh"
# The specs name the source directory by its path (the CLI would upload it).
printf 'security:\n  allowed_local_paths: [%s]\n' "$WORK/src" > "$WORK/home/tandem.yaml"

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
TEAM=burst

# Submits JOBS specs with 8 concurrent connections; prints how many were refused.
python3 - "$TANDEM_SERVER" "$TANDEM_TOKEN" "$WORK/src" "$JOBS" "$TEAM" <<'PY' || fail "submitting $JOBS jobs"
import http.client, json, sys, threading, urllib.parse
server, token, src, n, team = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(server)
nxt = iter(range(n))
lock = threading.Lock()
errors = []
def client():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    while True:
        with lock:
            i = next(nxt, None)
        if i is None:
            return
        body = json.dumps({"name": f"burst-{i}", "team": team, "entry_point": "train.sh",
                           "source_dir": src, "network": True, "max_runtime_seconds": 120,
                           "resources": {"cpus": 0.1}})
        conn.request("POST", "/api/v1/jobs", body, {"Authorization": "Bearer " + token,
                                                     "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 201:
            errors.append(f"burst-{i}: HTTP {r.status} {data[:200]!r}")
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for e in errors[:5]: print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# ended: jobs of the team that ended (Completed, Failed or Stopped); "" on error.
ended() {
  curl -s "$TANDEM_SERVER/api/v1/status" | python3 -c '
import json, sys
team = sys.argv[1]
by = json.load(sys.stdin)["jobs"]["by_team"].get(team, {})
print(sum(by.get(s, 0) for s in ("Completed", "Failed", "Stopped")))' "$TEAM" 2>/dev/null
}

# Kill the control plane with many jobs in flight.
ENDED=0
for _ in $(seq 1 600); do
  ENDED=$(ended); ENDED=${ENDED:-0}
  [ "$ENDED" -ge $((JOBS / 4)) ] && break
  sleep 0.05
done
[ "$ENDED" -ge $((JOBS / 4)) ] && [ "$ENDED" -lt "$JOBS" ] && pass ||
  fail "want the kill between a quarter and all of the $JOBS jobs ended, $ENDED had"
BEFORE=$(curl -s "$TANDEM_SERVER/api/v1/status" | python3 -c '
import json, sys; print(json.load(sys.stdin)["jobs"]["by_team"].get(sys.argv[1], {}))' "$TEAM")
kill -9 "$CP_PID"; wait "$CP_PID" 2>/dev/null; CP_PID=""
echo "killed the control plane with $ENDED of $JOBS jobs ended: $BEFORE"

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not restart"; exit 1; }
for _ in $(seq 1 1200); do
  ENDED=$(ended); ENDED=${ENDED:-0}
  [ "$ENDED" -ge "$JOBS" ] && break
  sleep 0.1
done
expect_eq "$ENDED" "$JOBS" "jobs ended after the restart"

# Nothing lost: every job Completed, in its first attempt.
curl -s "$TANDEM_SERVER/api/v1/jobs?team=$TEAM&max_results=1000" > "$WORK/listed.json"
BAD=$(python3 -c '
import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
bad = [j["name"] + " " + j["state"] + " attempt " + str(j["attempt"]) + " " + j.get("failure_reason", "")
       for j in jobs if j["state"] != "Completed" or j["attempt"] != 1]
print(len(jobs), len(bad))
for b in bad[:10]: print(b)' "$WORK/listed.json")
expect_eq "$(head -1 <<<"$BAD")" "$JOBS 0" "jobs listed / not Completed in attempt 1 ($(tail -n +2 <<<"$BAD" | tr '\n' ';'))"
for id in $(python3 -c '
import json, sys
print(" ".join(j["id"] for j in json.load(open(sys.argv[1]))["jobs"] if j["state"] != "Completed")[:200])' "$WORK/listed.json"); do
  echo "log of $id:"; curl -s "$TANDEM_SERVER/api/v1/jobs/$id/logs" | head -20
done

# Nothing run twice (and each job's code ran): one report per job name.
sleep 0.5  # the listener's last writes
RAN=$(sort "$WORK/ran" 2>/dev/null | uniq -c | awk '$1 != 1 {print $2 " ran " $1 " times"}' | head -10)
expect_eq "$RAN" "" "a job's user code ran more than once"
expect_eq "$(sort -u "$WORK/ran" 2>/dev/null | wc -l)" "$JOBS" "distinct jobs whose user code ran"

finish

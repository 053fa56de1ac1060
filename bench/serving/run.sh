#!/usr/bin/env bash
# Serving benchmark: the same XGBoost model (binary:logistic, 100 trees,
# depth 6, 20 features) served by tandem (1 and 2 replicas) and by Flask +
# gunicorn (2 workers, OMP_NUM_THREADS=1, xgboost inplace_predict), driven by
# the same open-loop load generator (bench/loadgen). For each server: the
# highest offered rate it sustains (no errors, >= 95% of the offered rate
# answered, p99 < P99_LIMIT_MS), then p99 of both at one rate Flask sustains.
#   bench/serving/run.sh [BUILD_DIR]     (default: build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
TANDEM=$BUILD/bin/tandem
LOADGEN=$BUILD/bench/loadgen/tandem-loadgen
DURATION=${DURATION:-5}
P99_LIMIT_MS=${P99_LIMIT_MS:-50}
TANDEM_RATES=${TANDEM_RATES:-"2000 5000 10000 15000 20000 30000 40000 50000 60000"}
FLASK_RATES=${FLASK_RATES:-"100 200 400 600 800 1000 1300 1600 2000 2500 3000 4000 5000"}
WRK_CONNS=${WRK_CONNS:-16}
WORK=$(mktemp -d /tmp/tandem-serving-bench.XXXXXX)
CP_PID=""; FLASK_PID=""
cleanup() {
  [ -n "$CP_PID" ] && "$TANDEM" deployments delete bench >/dev/null 2>&1 || true
  [ -n "$CP_PID" ] && kill -TERM "$CP_PID" 2>/dev/null && wait "$CP_PID" 2>/dev/null || true
  [ -n "$FLASK_PID" ] && kill -TERM "$FLASK_PID" 2>/dev/null && wait "$FLASK_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

/usr/bin/python3 "$HERE/make_model.py" "$WORK/model"
/usr/bin/python3 -c 'import json; print(json.dumps({"model": "bench", "features": [0.5, -1, 0.25, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}))' >"$WORK/body.json"

# run URL RATE CONNS -> one JSON report line
run() { "$LOADGEN" --url "$1" --rate "$2" -c "$3" --duration "$DURATION" --warmup 1 \
          --body-file "$WORK/body.json" --json; }
ok() {  # ok REPORT -> exit 0 if sustained
  /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[1]); lim=float(sys.argv[2])
sys.exit(0 if r["errors"]==0 and r["ok_rps"]>=0.95*r["offered_rps"] and r["p99_ms"]<lim else 1)' "$1" "$P99_LIMIT_MS"
}
show() { /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[2])
print("%-16s offered %6d  ok %8.0f req/s  p50 %7.3f  p99 %8.3f  p99.9 %8.3f ms  errors %d" % (sys.argv[1], r["offered_rps"], r["ok_rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["errors"]))' "$1" "$2"; }
# max_rate LABEL URL CONNS RATES... -> prints each step; sets MAX
max_rate() {
  local label=$1 url=$2 conns=$3; shift 3
  MAX=0
  for rate in "$@"; do
    local r; r=$(run "$url" "$rate" "$conns")
    show "$label" "$r"
    if ok "$r"; then MAX=$rate; else break; fi
  done
  echo "$label max sustainable rate: $MAX req/s"
}

# tandem
"$TANDEM" up --home "$WORK/home" --port 0 >"$WORK/up.log" 2>&1 &
CP_PID=$!
for _ in $(seq 1 200); do grep -q "control plane on http://" "$WORK/up.log" && break; sleep 0.05; done
export TANDEM_SERVER=$(grep -o "http://[0-9.:]*" "$WORK/up.log" | head -1)
export TANDEM_TOKEN=$(cat "$WORK/home/admin-token")  # every API call is authenticated
"$TANDEM" models register bench "$WORK/model/model.json" --alias champion >/dev/null
# The documented defaults: no batching section (automatic: the native forest runs unbatched).
printf 'name: bench\nmodel: bench@champion\nreplicas: {min: 1, max: 2}\n' >"$WORK/deploy.yaml"
"$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait >/dev/null
URL=$("$TANDEM" deployments get bench -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')/infer
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$(cat "$WORK/body.json")]]
LUA
wrk_rps() {  # wrk_rps LABEL URL -> prints the line, sets RPS (closed loop, WRK_CONNS connections)
  local out; out=$(wrk -t2 -c"$WRK_CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$2" 2>&1)
  RPS=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  local p99; p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "wrk $1 ($WRK_CONNS connections): ${RPS} req/s, p99 ${p99}, non-2xx ${non2xx:-0}"
}
echo "== tandem, 1 replica ($URL)"
wrk_rps "tandem x1" "$URL"; W1=$RPS
max_rate "tandem x1" "$URL" 32 $TANDEM_RATES; T1=$MAX
"$TANDEM" deployments scale bench 2 >/dev/null
"$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait >/dev/null
echo "== tandem, 2 replicas"
wrk_rps "tandem x2" "$URL"; W2=$RPS
max_rate "tandem x2" "$URL" 32 $TANDEM_RATES; T2=$MAX

# Flask + gunicorn
FPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$HERE" && OMP_NUM_THREADS=1 MODEL="$WORK/model/model.json" exec /usr/bin/python3 -m gunicorn \
   -w 2 -b "127.0.0.1:$FPORT" --log-level warning flask_app:app) >"$WORK/flask.log" 2>&1 &
FLASK_PID=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$FPORT/health" >/dev/null && break; sleep 0.1; done
echo "== Flask + gunicorn (2 workers)"
wrk_rps "flask" "http://127.0.0.1:$FPORT/infer"; WF=$RPS
max_rate "flask" "http://127.0.0.1:$FPORT/infer" 8 $FLASK_RATES; F=$MAX

RATE=$(( F > 0 ? F : 100 ))  # a loaded machine may leave Flask no sustained rate
echo "== equal offered rate: $RATE req/s (Flask's max sustainable, else 100)"
RF=$(run "http://127.0.0.1:$FPORT/infer" "$RATE" 8); show "flask" "$RF"
RT=$(run "$URL" "$RATE" 8); show "tandem x2" "$RT"
/usr/bin/python3 - "$T1" "$T2" "$F" "$RF" "$RT" "$W1" "$W2" "$WF" <<'PY'
import json, sys
t1, t2, f = (float(x) for x in sys.argv[1:4])
rf, rt = json.loads(sys.argv[4]), json.loads(sys.argv[5])
w1, w2, wf = (float(x) for x in sys.argv[6:9])
print(f"closed loop (wrk): tandem x1 {w1:.0f}, x2 {w2:.0f}, flask {wf:.0f} req/s -> "
      f"{(max(w1, w2) / wf if wf else float('inf')):.1f}x (goal >= 25x)")
print(f"max req/s: tandem x1 {t1:.0f}, tandem x2 {t2:.0f}, flask {f:.0f} -> "
      f"{(max(t1, t2) / f if f else float('inf')):.1f}x (goal >= 25x)")
print(f"p99 at {rf['offered_rps']:.0f} req/s: tandem {rt['p99_ms']:.3f} ms vs flask {rf['p99_ms']:.3f} ms -> "
      f"{(rf['p99_ms'] / rt['p99_ms'] if rt['p99_ms'] else float('inf')):.1f}x lower (goal >= 10x)")
PY

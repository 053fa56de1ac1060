#!/usr/bin/env bash
# Hot swap under load: a 2-replica tandem deployment of bench@champion under a
# 30 s open-loop run at RATE req/s while the alias moves 20 times between two
# versions. Reports non-2xx responses (goal: 0) and the time from each alias
# change to the first response from the new version (p50, max).
#   bench/serving/hot_swap.sh [BUILD_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
TANDEM=$BUILD/bin/tandem
LOADGEN=$BUILD/bench/loadgen/tandem-loadgen
RATE=${RATE:-2000}
WORK=$(mktemp -d /tmp/tandem-hotswap-bench.XXXXXX)
CP_PID=""
cleanup() {
  [ -n "$CP_PID" ] && "$TANDEM" deployments delete bench >/dev/null 2>&1 || true
  [ -n "$CP_PID" ] && kill -TERM "$CP_PID" 2>/dev/null && wait "$CP_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
/usr/bin/python3 "$HERE/make_model.py" "$WORK/m1" 7
/usr/bin/python3 "$HERE/make_model.py" "$WORK/m2" 8
/usr/bin/python3 -c 'import json; print(json.dumps({"model": "bench", "features": [0.5, -1, 0.25, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}))' >"$WORK/body.json"
"$TANDEM" up --home "$WORK/home" --port 0 >"$WORK/up.log" 2>&1 &
CP_PID=$!
for _ in $(seq 1 200); do grep -q "control plane on http://" "$WORK/up.log" && break; sleep 0.05; done
export TANDEM_SERVER=$(grep -o "http://[0-9.:]*" "$WORK/up.log" | head -1)
export TANDEM_TOKEN=$(cat "$WORK/home/admin-token")  # every API call is authenticated
"$TANDEM" models register bench "$WORK/m1/model.json" --alias champion >/dev/null
"$TANDEM" models register bench "$WORK/m2/model.json" >/dev/null
printf 'name: bench\nmodel: bench@champion\nreplicas: {min: 2, max: 2}\nbatching: {max_batch_size: 1}\n' >"$WORK/deploy.yaml"
"$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait >/dev/null
URL=$("$TANDEM" deployments get bench -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')/infer
"$LOADGEN" --url "$URL" --rate "$RATE" -c 16 --duration 30 --warmup 0 --body-file "$WORK/body.json" \
  --json >"$WORK/load.json" &
LOAD_PID=$!
SWAP=$(/usr/bin/python3 "$HERE/hot_swap.py" "$TANDEM" "$URL" "$WORK/body.json" 20 1.2)
wait "$LOAD_PID"
/usr/bin/python3 - "$(cat "$WORK/load.json")" "$SWAP" <<'PY'
import json, sys
load, swap = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"load: {load['offered_rps']:.0f} req/s for 30 s, {load['responses']} responses, "
      f"non-2xx {load['non_2xx']}, connection errors {load['connect_errors'] + load['io_errors']}, "
      f"p99 {load['p99_ms']:.3f} ms, by status {load['by_status']}")
print(f"{swap['moves']} alias moves: alias change -> first response from the new version "
      f"p50 {swap['p50_ms']:.1f} ms, max {swap['max_ms']:.1f} ms")
PY

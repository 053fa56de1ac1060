#!/usr/bin/env bash
# Handler benchmark: the same scikit-learn model (examples/sklearn-train,
# HistGradientBoostingClassifier, 100 iterations, depth 6, 20 features) and the
# same handler.py (examples/sklearn-train/serving) served
#   1. by Flask + gunicorn (WORKERS sync workers, the handler imported in each),
#   2. by `tandem serve` with the Python handler pool (WORKERS worker processes),
# and, because scikit-learn has no native flavor, an XGBoost model of the same
# size trained by examples/xgboost-train on the same data
#   3. by `tandem serve` with the native xgboost flavor (compiled forest).
# tandem runs with the documented defaults (no batching flags: batching is
# automatic), except 2b which turns batching off. All driven by the same
# open-loop load generator (bench/loadgen) with the same connections. For
# each: the highest offered rate it sustains (no errors, >= 95% answered,
# p99 < P99_LIMIT_MS), then p99 of 1 and 2 at one rate Flask sustains; then a
# closed-loop run of each with wrk (CONNS connections, 2 threads).
#   bench/handlers/run.sh [BUILD_DIR]     (default: build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$ROOT/build}
TANDEM=$BUILD/bin/tandem
LOADGEN=${LOADGEN:-$BUILD/bench/loadgen/tandem-loadgen}
PY=/usr/bin/python3
WORKERS=${WORKERS:-2}
CONNS=${CONNS:-16}
DURATION=${DURATION:-5}
P99_LIMIT_MS=${P99_LIMIT_MS:-50}
FLASK_RATES=${FLASK_RATES:-"100 200 300 400 500 600 800 1000 1300 1600 2000 2500 3000 4000"}
PY_RATES=${PY_RATES:-"250 500 1000 1500 2000 3000 4000 5000 6000 8000 10000 12000 15000"}
NATIVE_RATES=${NATIVE_RATES:-"2000 5000 10000 15000 20000 30000 40000 50000 60000"}
WORK=$(mktemp -d /tmp/tandem-handlers-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== training (examples/sklearn-train and examples/xgboost-train, unchanged)"
mkdir -p "$WORK/sk" "$WORK/xgb" "$WORK/out"
(cd "$ROOT/examples/sklearn-train" && SM_MODEL_DIR="$WORK/sk" SM_OUTPUT_DIR="$WORK/out" \
   SM_CHANNEL_TRAIN=../data/train.csv OMP_NUM_THREADS=1 \
   $PY train.py --n-estimators 100 --max-depth 6 --learning-rate 0.1 >"$WORK/sk.log" 2>&1)
# What job finalization does: the code's serving/ folder joins the model package.
cp "$ROOT/examples/sklearn-train/serving/"* "$WORK/sk/"
(cd "$ROOT/examples/xgboost-train" && SM_MODEL_DIR="$WORK/xgb" SM_OUTPUT_DIR="$WORK/out" \
   SM_CHANNEL_TRAIN=../data/train.csv OMP_NUM_THREADS=1 \
   $PY train.py --num_round 100 --max_depth 6 >"$WORK/xgb.log" 2>&1)
$PY -c 'import json; print(json.dumps({"model": "bench", "features": [0.5, -1, None, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}))' >"$WORK/body.json"

run() { "$LOADGEN" --url "$1" --rate "$2" -c "$CONNS" --duration "$DURATION" --warmup 1 \
          --body-file "$WORK/body.json" --json; }
ok() {
  $PY -c 'import json,sys; r=json.loads(sys.argv[1]); lim=float(sys.argv[2])
sys.exit(0 if r["errors"]==0 and r["ok_rps"]>=0.95*r["offered_rps"] and r["p99_ms"]<lim else 1)' "$1" "$P99_LIMIT_MS"
}
show() { $PY -c 'import json,sys; r=json.loads(sys.argv[2])
print("%-14s offered %6d  ok %8.0f req/s  p50 %7.3f  p99 %8.3f  p99.9 %8.3f ms  errors %d" % (sys.argv[1], r["offered_rps"], r["ok_rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["errors"]))' "$1" "$2"; }
max_rate() {
  local label=$1 url=$2; shift 2
  MAX=0
  for rate in "$@"; do
    local r; r=$(run "$url" "$rate")
    show "$label" "$r"
    if ok "$r"; then MAX=$rate; else break; fi
  done
  echo "$label max sustainable rate: $MAX req/s"
}
wait_port() {  # wait_port STATE_FILE -> prints port
  for _ in $(seq 1 600); do
    [ -s "$1" ] && $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$1" && return
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
serve() {  # serve MODEL_DIR STATE_FILE LOG "EXTRA FLAGS" [env...]
  local dir=$1 state=$2 log=$3 flags=$4; shift 4
  # shellcheck disable=SC2086
  env "$@" "$TANDEM" serve --model-dir "$dir" --name bench --port 0 --state-file "$state" \
    $flags >"$log" 2>&1 &
  PIDS+=($!)
}
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$(cat "$WORK/body.json")]]
LUA
wrk_rps() {  # wrk_rps LABEL URL -> prints the line, sets RPS
  local out; out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$2" 2>&1)
  RPS=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  local p99; p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "wrk $1: ${RPS} req/s, p99 ${p99}, non-2xx ${non2xx:-0}"
}

# 1. Flask + gunicorn
FPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$HERE" && OMP_NUM_THREADS=1 MODEL_DIR="$WORK/sk" exec $PY -m gunicorn -w "$WORKERS" \
   -b "127.0.0.1:$FPORT" --log-level warning flask_app:app) >"$WORK/flask.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$FPORT/health" >/dev/null && break; sleep 0.1; done
FURL="http://127.0.0.1:$FPORT/infer"
echo "== Flask + gunicorn, $WORKERS workers, same handler.py"
max_rate "flask" "$FURL" $FLASK_RATES; F=$MAX

# 2. tandem, Python handler pool
serve "$WORK/sk" "$WORK/py.state" "$WORK/py.log" "" TANDEM_PYTHON_WORKERS="$WORKERS"
PURL="http://127.0.0.1:$(wait_port "$WORK/py.state")/infer"
for _ in $(seq 1 600); do curl -sf -X POST -d @"$WORK/body.json" "$PURL" >/dev/null && break; sleep 0.1; done
echo "== tandem serve, Python handler pool, $WORKERS workers, default spec (automatic batching)"
echo "flask: $(curl -s -X POST -d @"$WORK/body.json" "$FURL")  tandem: $(curl -s -X POST -d @"$WORK/body.json" "$PURL")"
max_rate "tandem python" "$PURL" $PY_RATES; P=$MAX

# 2b. the same without batching: one request per handler call, like Flask
serve "$WORK/sk" "$WORK/py1.state" "$WORK/py1.log" "--max-batch-size 1" \
  TANDEM_PYTHON_WORKERS="$WORKERS"
P1URL="http://127.0.0.1:$(wait_port "$WORK/py1.state")/infer"
for _ in $(seq 1 600); do curl -sf -X POST -d @"$WORK/body.json" "$P1URL" >/dev/null && break; sleep 0.1; done
echo "== tandem serve, Python handler pool, $WORKERS workers, no batching (max-batch-size 1)"
max_rate "tandem py nobatch" "$P1URL" $FLASK_RATES; P1=$MAX
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 3. tandem, native XGBoost flavor
serve "$WORK/xgb" "$WORK/xgb.state" "$WORK/xgb-serve.log" ""
NURL="http://127.0.0.1:$(wait_port "$WORK/xgb.state")/infer"
for _ in $(seq 1 600); do curl -sf -X POST -d @"$WORK/body.json" "$NURL" >/dev/null && break; sleep 0.1; done
echo "== tandem serve, native xgboost flavor (XGBoost model, same data)"
max_rate "tandem native" "$NURL" $NATIVE_RATES; N=$MAX

RATE=$(( F > 0 ? F : 100 ))
echo "== equal offered rate: $RATE req/s (Flask's max sustainable)"
RF=$(run "$FURL" "$RATE"); show "flask" "$RF"
RP=$(run "$PURL" "$RATE"); show "tandem python" "$RP"
echo "== closed loop: wrk, $CONNS connections, ${DURATION} s each"
wrk_rps "flask" "$FURL"; WF=$RPS
wrk_rps "tandem python" "$PURL"; WP=$RPS
wrk_rps "tandem native" "$NURL"; WN=$RPS
echo "closed loop: tandem python / flask = $($PY -c "print(round($WP / max($WF, 1), 1))")x (goal >= 3x);" \
     "tandem native (XGBoost model) / flask = $($PY -c "print(round($WN / max($WF, 1), 1))")x"
$PY - "$F" "$P" "$N" "$RF" "$RP" "$WORKERS" "$P1" <<'PYEOF'
import json, sys
f, p, n = (float(x) for x in sys.argv[1:4])
rf, rp = json.loads(sys.argv[4]), json.loads(sys.argv[5])
w, p1 = sys.argv[6], float(sys.argv[7])
print(f"max req/s at {w} workers: flask {f:.0f}, tandem python {p:.0f} "
      f"(unbatched {p1:.0f}), tandem native {n:.0f} -> "
      f"python/flask {(p / f if f else float('inf')):.1f}x (goal >= 3x)")
print(f"p99 at {f:.0f} req/s: tandem python {rp['p99_ms']:.3f} ms vs flask {rf['p99_ms']:.3f} ms "
      f"(goal: lower)")
PYEOF

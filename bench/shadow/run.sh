#!/usr/bin/env bash
# Shadow-overhead benchmark: the primary path's latency with and without a
# shadow model, at the same offered load, in one run. Two `tandem serve`
# replicas serve the same XGBoost model (bench/serving/make_model.py: 100
# trees, depth 6, 20 features): A alone, B with a second model (seed 8) as
# --shadow-dir (sample 1.0: every request is copied). The open-loop load
# generator (bench/loadgen) drives A and B alternately (ROUNDS x each), and
# we compare the median p99 (and p50) of B to A.
#   bench/shadow/run.sh [BUILD_DIR]     (default: build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
TANDEM=$BUILD/bin/tandem
LOADGEN=$BUILD/bench/loadgen/tandem-loadgen
DURATION=${DURATION:-10}
RATE=${RATE:-2000}
CONNS=${CONNS:-16}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/tandem-shadow-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

/usr/bin/python3 "$HERE/../serving/make_model.py" "$WORK/bench" 7
/usr/bin/python3 "$HERE/../serving/make_model.py" "$WORK/challenger" 8
/usr/bin/python3 -c 'import json; print(json.dumps({"model": "bench", "features": [0.5, -1, 0.25, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}))' >"$WORK/body.json"

# serve NAME ARGS... -> sets URL to the replica's base URL
serve() {
  local name=$1; shift
  "$TANDEM" serve --model-dir "$WORK/bench" --port 0 --max-batch-size 1 "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  URL=""
  for _ in $(seq 1 400); do
    URL=$(grep -o "http://[0-9.:]*" "$WORK/$name.log" | head -1 || true)
    [ -n "$URL" ] && return 0
    sleep 0.05
  done
  echo "replica $name did not start: $(cat "$WORK/$name.log")" >&2; exit 1
}
serve plain; A=$URL
serve shadow --shadow-dir "$WORK/challenger" --shadow-sample 1.0; B=$URL
echo "== primary alone: $A; primary + shadow: $B; $RATE req/s, $CONNS connections, ${DURATION}s x $ROUNDS rounds each"

run() { "$LOADGEN" --url "$1/infer" --rate "$RATE" -c "$CONNS" --duration "$DURATION" --warmup 1 \
          --body-file "$WORK/body.json" --json; }
RESULTS=()
for i in $(seq 1 "$ROUNDS"); do
  for v in A B; do
    url=$A; [ "$v" = B ] && url=$B
    r=$(run "$url")
    RESULTS+=("$v $r")
    /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[2])
print("%-14s offered %6d  ok %8.0f req/s  p50 %7.3f  p99 %8.3f  p99.9 %8.3f ms  errors %d" % (sys.argv[1], r["offered_rps"], r["ok_rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["errors"]))' \
      "$([ "$v" = A ] && echo "primary" || echo "primary+shadow")" "$r"
  done
done
curl -s "$B/v2/models/bench/traffic" >"$WORK/traffic.json"
printf '%s\n' "${RESULTS[@]}" >"$WORK/results.txt"
/usr/bin/python3 - "$WORK/results.txt" "$WORK/traffic.json" <<'PY'
import json, statistics, sys
rows = [l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines()]
res = {"A": [], "B": []}
for v, r in rows:
    res[v].append(json.loads(r))
med = lambda v, k: statistics.median(r[k] for r in res[v])
a99, b99 = med("A", "p99_ms"), med("B", "p99_ms")
a50, b50 = med("A", "p50_ms"), med("B", "p50_ms")
t = json.load(open(sys.argv[2]))["shadow"]
print(f"median p99: primary {a99:.3f} ms, primary+shadow {b99:.3f} ms -> {100 * (b99 / a99 - 1):+.1f}% (goal < +5%)")
print(f"median p50: primary {a50:.3f} ms, primary+shadow {b50:.3f} ms -> {100 * (b50 / a50 - 1):+.1f}%")
print(f"shadow: mirrored {t['mirrored']}, dropped {t['dropped']}, errors {t['errors']}, "
      f"label agreement {t['label_agreement']}, shadow p99 <= {t['latency_seconds']['p99']} s")
PY

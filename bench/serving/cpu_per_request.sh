#!/usr/bin/env bash
# Server CPU per request under wrk (16 connections, single-row /infer), side by
# side for several `tandem` binaries, alternated ROUNDS times in one run:
#   bench/serving/cpu_per_request.sh TANDEM_A [TANDEM_B ...]
# For each run: wrk req/s, the server's CPU (utime+stime from /proc/PID/stat)
# over the wrk run divided by the requests wrk completed (us/request), the
# load average; then the median us/request and req/s per binary and the ratio
# to the first binary. `tandem serve --model-dir` with the benchmark model
# (make_model.py), native forest, 2 I/O threads (the defaults).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
[ $# -ge 1 ] || { echo "usage: $0 TANDEM_A [TANDEM_B ...]" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tandem-cpu-per-request.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
T0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
/usr/bin/python3 "$HERE/make_model.py" "$WORK/model" >/dev/null
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": "bench", "features": [0.5, -1, 0.25, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}'
LUA
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A US RPS
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 1 $#); do
    bin=${!i}
    rm -f "$WORK/state"
    "$bin" serve --model-dir "$WORK/model" --name bench --port 0 --state-file "$WORK/state" \
      --home "$WORK/home" >"$WORK/serve.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do [ -s "$WORK/state" ] && break; sleep 0.1; done
    port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/state")
    url="http://127.0.0.1:$port/infer"
    curl -sf -X POST -H 'Content-Type: application/json' \
      -d '{"model": "bench", "features": [0.5, -1, 0.25, 0, 1, 2, 0, 0.1, 0, 0, 0.3, 0, 0, 0, 1.5, 0, 0, 0, 0.5, -0.5]}' \
      "$url" >/dev/null || { echo "server $bin did not answer" >&2; cat "$WORK/serve.log" >&2; exit 1; }
    wrk -t2 -c"$CONNS" -d1s -s "$WORK/post.lua" "$url" >/dev/null 2>&1  # warm-up
    c0=$(cpu_ticks "$PID")
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/post.lua" "$url" 2>&1)
    c1=$(cpu_ticks "$PID")
    load=$(cut -d' ' -f1 /proc/loadavg)
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    us=$(awk -v c=$((c1 - c0)) -v t="$TICK" -v n="$reqs" 'BEGIN {printf "%.2f", c / t * 1e6 / n}')
    printf 'round %d  %-40s %8s req/s  %6s us CPU/request  non-2xx %s  load %s\n' \
      "$round" "$bin" "$rps" "$us" "${non2xx:-0}" "$load"
    US[$i]="${US[$i]:-} $us"; RPS[$i]="${RPS[$i]:-} $rps"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base_us=$(echo "${US[1]}" | median)
for i in $(seq 1 $#); do
  mu=$(echo "${US[$i]}" | median); mr=$(echo "${RPS[$i]}" | median)
  printf 'median %-40s %8s req/s  %6s us CPU/request  (%.2fx of the first)\n' "${!i}" "$mr" "$mu" \
    "$(awk -v a="$mu" -v b="$base_us" 'BEGIN {print a / b}')"
done
T1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
echo "benchmark script CPU (children incl. wrk): $(awk -v t=$((T1 - T0)) -v k="$TICK" 'BEGIN {printf "%.1f", t / k}') s; load $(cut -d' ' -f1-3 /proc/loadavg)"

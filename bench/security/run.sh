#!/usr/bin/env bash
# Data-plane cost of per-deployment tokens and of TLS (docs/security.md
# "Serving endpoint tokens", "TLS"): the same model served by `tandem serve`
# plain (open), with --token-sha256 (token) and over HTTPS with
# --tls-cert/--tls-key (tls, a P-256 certificate made here), side by side in
# one run, ROUNDS rounds interleaved (open, token, tls, open, ...). Each round:
# a closed loop (wrk, WRK_CONNS keep-alive connections, POST /infer; req/s and
# p99) and an open loop at RATE req/s (tandem-loadgen; p50/p99). Prints each
# run (with the server's CPU per request over the closed loop and the load
# average) and the medians with ratios against open, and the CPU-seconds the
# run used (servers, wrk and loadgen).
#   bench/security/run.sh [BUILD_DIR]     (default: build; ROUNDS=5)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
TANDEM=$BUILD/bin/tandem
LOADGEN=$BUILD/bench/loadgen/tandem-loadgen
MAKE_MODEL=$BUILD/src/serving/testing/serving_test_model
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-5000}
WRK_CONNS=${WRK_CONNS:-16}
WORK=$(mktemp -d /tmp/tandem-security-bench.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
run_ticks() { awk '{print $14+$15+$16+$17}' /proc/$$/stat; }  # this shell and its waited children
TICK=$(getconf CLK_TCK)
T0=$(run_ticks)
SERVER_TICKS=0

"$MAKE_MODEL" "$WORK/m" 1 10 >/dev/null
ROW='[0.5,-1,0.25,0,1,2,0,0.1,0,0,0.3,0,0,0,1.5,0,0,0,0.5,-0.5]'
printf '{"model":"m","features":%s}' "$ROW" >"$WORK/body.json"
TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
DIGEST=$(printf %s "$TOKEN" | sha256sum | cut -c1-64)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$WORK/tls.key" -out "$WORK/tls.pem" -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1

start() {  # start open|token|tls -> sets PID, URL
  local extra=() scheme=http
  [ "$1" = token ] && extra=(--token-sha256 "$DIGEST")
  [ "$1" = tls ] && extra=(--tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key") && scheme=https
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$TANDEM" serve --model-dir "$WORK/m" --port "$port" --max-batch-size 1 "${extra[@]}" \
    >"$WORK/serve.log" 2>&1 &
  PID=$!
  URL="$scheme://127.0.0.1:$port"
  for _ in $(seq 1 200); do curl -sf --cacert "$WORK/tls.pem" "$URL/v2/health/ready" >/dev/null && return 0; sleep 0.05; done
  cat "$WORK/serve.log" >&2
  return 1
}
stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; }

RESULTS=$WORK/results.txt
for round in $(seq 1 "$ROUNDS"); do
  for mode in open token tls; do
    start "$mode"
    headers=()
    lua_auth=""
    if [ "$mode" = token ]; then
      headers=(-H "Authorization: Bearer $TOKEN")
      lua_auth="wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    fi
    # A wrong token must be refused, the right one served (the benchmark measures the real check).
    code=$(curl -s --cacert "$WORK/tls.pem" -o /dev/null -w '%{http_code}' -d @"$WORK/body.json" "${headers[@]}" "$URL/infer")
    [ "$code" = 200 ] || { echo "$mode: /infer answered $code" >&2; exit 1; }
    if [ "$mode" = token ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -d @"$WORK/body.json" -H "Authorization: Bearer x" "$URL/infer")
      [ "$code" = 401 ] || { echo "token: a wrong token answered $code" >&2; exit 1; }
    fi
    if [ "$mode" = tls ]; then  # really TLS: plain HTTP on that port is refused
      code=$(curl -s -o /dev/null -w '%{http_code}' -d @"$WORK/body.json" "${URL/https:/http:}/infer")
      [ "$code" = 400 ] || { echo "tls: plain HTTP answered $code" >&2; exit 1; }
    fi
    cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$lua_auth
wrk.body = [[$(cat "$WORK/body.json")]]
LUA
    c0=$(cpu_ticks "$PID")
    out=$(wrk -t2 -c"$WRK_CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$URL/infer" 2>&1)
    c1=$(cpu_ticks "$PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    us_req=$(awk -v t=$((c1 - c0)) -v n="$reqs" -v hz="$TICK" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
    load=$(cut -d' ' -f1 /proc/loadavg)
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    open_loop=$("$LOADGEN" --url "$URL/infer" --rate "$RATE" -c 8 --duration "$DURATION" --warmup 1 \
      --body-file "$WORK/body.json" "${headers[@]}" --json)
    echo "$mode $rps $p99 ${non2xx:-0} $us_req $open_loop" >>"$RESULTS"
    /usr/bin/python3 - "$round" "$mode" "$rps" "$p99" "${non2xx:-0}" "$open_loop" "$us_req" "$load" <<'PY'
import json, sys
r = json.loads(sys.argv[6])
print(f"round {sys.argv[1]} {sys.argv[2]:5s} closed loop {int(sys.argv[3]):7d} req/s p99 {sys.argv[4]:>8s} "
      f"non-2xx {sys.argv[5]} server {sys.argv[7]} us/req | open loop {r['offered_rps']:.0f}/s: "
      f"ok {r['ok_rps']:.0f}/s p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms errors {r['errors']} "
      f"| load {sys.argv[8]}")
PY
    SERVER_TICKS=$((SERVER_TICKS + $(cpu_ticks "$PID")))
    stop
  done
done

T1=$(run_ticks)
/usr/bin/python3 - "$RESULTS" "$SERVER_TICKS" "$((T1 - T0))" "$TICK" <<'PY'
import json, statistics, sys
def ms(s):  # wrk latency "1.23ms" / "850.00us" / "1.02s"
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float(s)
rows = {"open": [], "token": [], "tls": []}
for line in open(sys.argv[1]):
    mode, rps, p99, non2xx, us, rest = line.split(" ", 5)
    rows[mode].append((float(rps), ms(p99), int(non2xx), json.loads(rest), float(us)))
med = {m: {"rps": statistics.median(r[0] for r in v), "p99": statistics.median(r[1] for r in v),
           "us": statistics.median(r[4] for r in v),
           "ol_p50": statistics.median(r[3]["p50_ms"] for r in v),
           "ol_p99": statistics.median(r[3]["p99_ms"] for r in v)} for m, v in rows.items()}
o = med["open"]
print(f"medians over {len(rows['open'])} rounds:")
for name in ("token", "tls"):
    t = med[name]
    print(f"  closed loop: open {o['rps']:.0f} req/s p99 {o['p99']:.3f} ms | {name} {t['rps']:.0f} req/s "
          f"p99 {t['p99']:.3f} ms -> req/s ratio {t['rps'] / o['rps']:.3f}, p99 ratio {t['p99'] / o['p99']:.3f}")
    print(f"  open loop:   open p50 {o['ol_p50']:.3f} p99 {o['ol_p99']:.3f} ms | {name} p50 {t['ol_p50']:.3f} "
          f"p99 {t['ol_p99']:.3f} ms -> p99 ratio {t['ol_p99'] / o['ol_p99']:.3f}")
    print(f"  server CPU:  open {o['us']:.2f} us/req | {name} {t['us']:.2f} us/req -> ratio {t['us'] / o['us']:.3f}")
hz = int(sys.argv[4])
print(f"CPU-seconds: servers {int(sys.argv[2]) / hz:.1f}, whole run (servers, wrk, loadgen, curl) {int(sys.argv[3]) / hz:.1f}")
PY

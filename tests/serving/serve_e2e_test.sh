#!/usr/bin/env bash
# `tandem serve` against a real control plane: register two model versions,
# serve NAME@champion, move the alias and see the served version follow (also
# after the control plane was down), then SIGTERM -> drain -> exit 0.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1  # the tandem binary; $2: serving_test_model
WORK=$(mktemp -d /tmp/tandem-serve-e2e.XXXXXX)
SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  stop_control_plane
  rm -rf "$WORK"
}
trap cleanup EXIT

# Two small XGBoost models (20 features, binary:logistic), different seeds.
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
"$MAKE_MODEL" "$WORK/m1" 1 10 && "$MAKE_MODEL" "$WORK/m2" 2 5 || { echo "cannot write models"; exit 1; }

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
expect_rc 0 "$TANDEM" models register churn "$WORK/m1" --alias champion   # a packed directory
expect_rc 0 "$TANDEM" models register churn "$WORK/m2/model.json"         # a single file

# Usage errors.
expect_rc 2 "$TANDEM" serve
expect_contains "$OUT" "exactly one of" "serve without a model"
expect_rc 0 "$TANDEM" serve --help
expect_contains "$OUT" "--max-batch-size" "serve help"

"$TANDEM" serve --home "$WORK/home" --model churn@champion --port 0 --max-batch-size 8 \
  --max-queue-delay-us 200 >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
URL=""
for _ in $(seq 1 400); do
  if grep -q "^serving churn version 1 on http://" "$WORK/serve.log"; then
    URL=$(grep -o "http://[0-9.:]*" "$WORK/serve.log" | head -1); break
  fi
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.05
done
[ -n "$URL" ] && pass || { fail "serve did not become ready: $(cat "$WORK/serve.log")"; exit 1; }

ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
infer() {
  curl -s -X POST "$URL/v2/models/churn/infer" -H 'content-type: application/json' \
    -d "{\"id\":\"e2e\",\"inputs\":[{\"name\":\"input\",\"shape\":[1,20],\"datatype\":\"FP32\",\"data\":$ROW}]}"
}
# wait_version V: polls until the replica answers with model_version V.
wait_version() {
  for _ in $(seq 1 400); do
    if infer | grep -q "\"model_version\":\"$1\""; then pass; return 0; fi
    sleep 0.05
  done
  fail "replica never served version $1: $(infer)"
}

expect_contains "$(curl -s "$URL/v2/health/ready")" '"ready":true' "ready"
OUT=$(infer)
expect_contains "$OUT" '"model_version":"1"' "serves v1"
expect_contains "$OUT" '"id":"e2e"' "id echoed"
expect_contains "$(curl -s -X POST "$URL/infer" -d "{\"model\":\"churn\",\"features\":$ROW}")" \
  '"scores":[' "simple /infer"
expect_contains "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v2/models/nope/infer" -d '{}')" \
  "404" "unknown model 404"

# Move the alias: the replica follows through the bus.
expect_rc 0 "$TANDEM" models alias churn champion 2
wait_version 2

# The data plane outlives the control plane. Alias moves are made through a
# control plane, so with the only one down there is none to follow; the
# replica follows the move made through the next one (README says exactly
# this; it used to claim the replica follows moves while the control plane
# is down).
stop_control_plane
expect_contains "$(infer)" '"model_version":"2"' "serves with the control plane down"
start_control_plane "$TANDEM" "$WORK/home" || { fail "control plane did not restart"; exit 1; }
expect_rc 0 "$TANDEM" models alias churn champion 1
wait_version 1

METRICS=$(curl -s "$URL/metrics")
expect_contains "$METRICS" 'tandem_model_swaps_total{model="churn"} 2' "swap counter"
# promtool comes with scripts/bootstrap (Debian prometheus): missing is a failure.
if command -v promtool >/dev/null; then
  OUT=$(echo "$METRICS" | promtool check metrics 2>&1)
  [ -z "$OUT" ] && pass || fail "promtool: $OUT"
else
  fail "promtool is missing (scripts/bootstrap installs prometheus)"
fi
expect_rc 0 timeout 20 "$TANDEM" events tail --from-start --count 1 \
  --pattern '{"source":["tandem.serving"],"detail-type":["Model Swapped"]}'
expect_contains "$OUT" "Model Swapped" "swap events on the bus"
expect_rc 0 "$TANDEM" events queues list
expect_contains "$OUT" "serve-churn-" "the replica's queue"

# SIGTERM: drain and exit 0; the port is released.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"; RC=$?
SERVE_PID=""
[ "$RC" -eq 0 ] && pass || fail "serve exited $RC after SIGTERM: $(tail -5 "$WORK/serve.log")"
expect_contains "$(cat "$WORK/serve.log")" "replica draining" "drain logged"
curl -s -m 2 "$URL/v2/health/live" >/dev/null && fail "still accepting after exit" || pass
expect_rc 0 "$TANDEM" events queues list
[[ "$OUT" == *"serve-churn-"* ]] && fail "queue left behind: $OUT" || pass


# --model-dir (no registry) applies the configuration's `server:` limits like
# the other sources (it used to read no configuration at all): a second
# connection from one address is refused under max_connections_per_client 1,
# from --config and from the home's tandem.yaml; with no configuration there
# is no cap and no home is created.
printf 'server:\n  max_connections_per_client: 1\n' >"$WORK/limits.yaml"
mkdir -p "$WORK/limits-home" "$WORK/cwd"
cp "$WORK/limits.yaml" "$WORK/limits-home/tandem.yaml"
# second_request ARGS...: `tandem serve --model-dir m1 --port 0 ARGS` (run in
# $WORK/cwd without TANDEM_HOME); holds one kept-alive connection open and
# prints the held request's status line and a second request's status code
# and body; then stops the replica. Called with its output in a file (not
# $(...)) so that cleanup knows SERVE_PID.
second_request() {
  local state=$WORK/dir.state port="" line code
  rm -f "$state"
  (cd "$WORK/cwd" && exec env -u TANDEM_HOME "$TANDEM" serve --model-dir "$WORK/m1" --port 0 \
    --state-file "$state" "$@") >"$WORK/dir.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 400); do
    [ -s "$state" ] && port=$(grep -o '"port":[0-9]*' "$state" | cut -d: -f2) && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "serve did not start: $(cat "$WORK/dir.log")"
  else
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n' >&3
    IFS= read -r -t 10 line <&3  # the held connection is registered (answered)
    code=$(command curl -s -m 10 -o "$WORK/second.body" -w '%{http_code}' \
      "http://127.0.0.1:$port/v2/health/live")
    exec 3<&-
    echo "held: ${line%$'\r'}; second: $code $(cat "$WORK/second.body")"
  fi
  kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  SERVE_PID=""
}
second_request --config "$WORK/limits.yaml" >"$WORK/second.out"; OUT=$(cat "$WORK/second.out")
expect_contains "$OUT" "held: HTTP/1.1 200" "--model-dir --config: the first connection is served"
expect_contains "$OUT" "second: 503" "--model-dir --config: max_connections_per_client applies"
expect_contains "$OUT" "max_connections_per_client 1" "--model-dir --config: the 503 names the limit"
second_request --home "$WORK/limits-home" >"$WORK/second.out"; OUT=$(cat "$WORK/second.out")
expect_contains "$OUT" "second: 503" "--model-dir --home: the home's tandem.yaml applies"
rm -rf "$WORK/cwd/.tandem"  # --config without --home made ./.tandem its home, as for --model
second_request >"$WORK/second.out"; OUT=$(cat "$WORK/second.out")
expect_contains "$OUT" "held: HTTP/1.1 200" "--model-dir without a configuration serves"
expect_contains "$OUT" "second: 200" "--model-dir without a configuration: no per-client cap"
[ ! -e "$WORK/cwd/.tandem" ] && pass || fail "--model-dir without a configuration created ./.tandem"
printf 'server:\n  max_connections_per_client: many\n' >"$WORK/bad.yaml"
expect_rc 1 timeout 20 "$TANDEM" serve --model-dir "$WORK/m1" --port 0 --config "$WORK/bad.yaml"
expect_contains "$OUT" "max_connections_per_client" "--model-dir with a bad configuration names the key"

finish

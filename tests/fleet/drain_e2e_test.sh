#!/usr/bin/env bash
# Planned changes cost clients nothing: three replicas under a steady
# keep-alive load (8 connections), then scale 3 -> 2 -> 3 and a rolling
# restart; every request must get a 2xx (no non-2xx, no connection reset, no
# read error). A draining replica stops accepting, answers what it already
# read, marks the next response of each kept-alive connection
# `Connection: close`, and only then closes it.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
LOADGEN=$3
require_built "$TANDEM" "$MAKE_MODEL" "$LOADGEN"
WORK=$(mktemp -d /tmp/tandem-drain-e2e.XXXXXX)
cleanup() {
  [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null
  stop_control_plane
  kill_replicas "$WORK/home"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"
cat >"$WORK/deploy.yaml" <<YAML
name: churn-api
model: churn@champion
replicas: {min: 3, max: 4}
disruption_budget: {min_available: 2}
batching: {max_batch_size: 1}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 120
URL=$("$TANDEM" deployments get churn-api -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')

# settled N [GEN]: exactly N replicas, all ready (and of generation GEN), none stopping.
settled() {
  "$TANDEM" deployments get churn-api -o json | python3 -c '
import json, sys
d = json.load(sys.stdin); n = int(sys.argv[1]); gen = int(sys.argv[2]) if len(sys.argv) > 2 else None
r = d["replicas"]
ok = len(r) == n and all(x["state"] == "ready" and (gen is None or x["generation"] == gen) for x in r)
sys.exit(0 if ok else 1)' "$@"
}
wait_settled() {
  for _ in $(seq 1 1200); do settled "$@" && return 0; sleep 0.1; done
  return 1
}
ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
printf '{"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32","data":%s}]}' "$ROW" >"$WORK/body.json"
wait_settled 3 || fail "3 replicas not ready"

"$LOADGEN" --url "$URL/v2/models/churn/infer" --rate 400 --connections 8 --warmup 0 \
  --duration 900 --body-file "$WORK/body.json" --stop-file "$WORK/stop" --json >"$WORK/load.json" 2>&1 &
LOAD_PID=$!
# Load is flowing before anything changes.
for _ in $(seq 1 200); do
  n=$(curl -s "$URL/metrics" | awk '/^tandem_inference_requests_total/ {s += $2} END {print s + 0}')
  [ "${n%.*}" -ge 50 ] && break
  sleep 0.05
done

expect_rc 0 "$TANDEM" deployments scale churn-api 2
wait_settled 2 && pass || fail "scale to 2 did not settle"
expect_rc 0 "$TANDEM" deployments scale churn-api 3
wait_settled 3 && pass || fail "scale to 3 did not settle"
sed 's/max_batch_size: 1/max_batch_size: 2/' "$WORK/deploy.yaml" >"$WORK/deploy2.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy2.yaml"
wait_settled 3 2 && pass || fail "rolling restart did not finish"

touch "$WORK/stop"
wait "$LOAD_PID"; LOAD_PID=""
expect_clean_load "$WORK/load.json" "clients saw errors during planned changes"
finish
